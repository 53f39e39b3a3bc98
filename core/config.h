/* core/config.h - configuration from the environment (spec §3 and §16).
 *
 * Lookout reads its whole configuration once, at start-up, from an envp array
 * of "NAME=VALUE" strings, and is stricter than the reference agents: every
 * value that is set but invalid is an error naming its variable, never a
 * silent default (DESIGN decision 3: fail closed, exit before listening).
 *
 * Common rules:
 * - Unset and empty are the same for every variable: the default applies.
 *   (The reference keeps an empty PORT/BIND_ADDRESS/STACKS_DIR/LOG_LEVEL/
 *   ADAPTER as ""; Lookout never starts with an empty one.)
 * - Integers are plain base-10 digits, range-checked per variable.
 * - Booleans are 1/true/yes or 0/false/no, case-insensitive.
 * - *_FILE variables name a file that is read whole (at most 64 KiB) and
 *   trimmed of surrounding whitespace; a file that cannot be read, is too
 *   large, contains a NUL byte or is empty after trimming is an error (an
 *   empty secret file must not silently mean "no authentication").
 * - The first "NAME=" entry in envp wins, as with getenv(3).
 * - Unknown variables, and DOCKER_HOST, are ignored.
 * - Files named by AUTHORIZED_KEYS, TLS_CERT, TLS_KEY, PRIVATE_KEY_FILE,
 *   CA_CERT and AUDIT_LOG are only recorded here; their modules open them. */
#ifndef LK_CORE_CONFIG_H
#define LK_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

/* LK_CONFIG_FILE_MAX is the largest *_FILE content accepted, in bytes. */
#define LK_CONFIG_FILE_MAX (64 * 1024)
/* LK_CONFIG_PROXIES_MAX bounds the TRUSTED_PROXIES entries. */
#define LK_CONFIG_PROXIES_MAX 256
/* LK_CONFIG_WORKERS_MAX bounds WORKERS and its CPU-count default. */
#define LK_CONFIG_WORKERS_MAX 64

/* enum lk_mode is how the agent meets its controller. */
enum lk_mode {
	LK_MODE_STANDARD, /* inbound HTTP(S) server */
	LK_MODE_EDGE      /* outbound tunnel to DRYDOCK_URL */
};

/* enum lk_adapter is the controller-facing API flavour (ADAPTER). */
enum lk_adapter {
	LK_ADAPTER_DRYDOCK,
	LK_ADAPTER_GENERIC
};

/* struct lk_cidr is one trusted network; addr holds the network address with
 * the host bits cleared (4 bytes used for AF_INET). A bare IP is a /32 or
 * /128. Addresses are kept as written: matching code must map IPv4-mapped
 * IPv6 peers (::ffff:a.b.c.d) to AF_INET itself. */
struct lk_cidr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix; /* 0..32 or 0..128 */
	uint8_t addr[16];
};

/* struct lk_config is the loaded configuration. Strings are heap copies owned
 * by the struct, NULL when unset; lk_config_done frees them. */
/* ZERO_COPY: TLS stream and hijack bytes to the client leave from registered
 * buffers with SEND_ZC. auto: not to loopback clients (the kernel copies
 * there anyway and the completion waits for the reader); on: always (tests
 * use it on loopback); off: never. */
enum lk_zc_mode { LK_ZC_AUTO, LK_ZC_ON, LK_ZC_OFF };

struct lk_config {
	/* --- credentials (secrets are wiped by lk_config_done) --- */
	char *token;            /* TOKEN_FILE > DD_AGENT_SECRET_FILE > TOKEN > DD_AGENT_SECRET */
	char *token_hash;       /* TOKEN_HASH_FILE > TOKEN_HASH; PHC string, parsed by auth/ */
	char *authorized_keys;  /* path: AUTHORIZED_KEYS, else AUTHORIZED_KEYS_FILE */
	char *enrollment_token; /* ENROLLMENT_TOKEN, else ENROLLMENT_TOKEN_FILE contents */

	/* --- edge mode --- */
	char *private_key_file; /* PRIVATE_KEY_FILE: PKCS#8 PEM path, required in edge mode */
	char *drydock_url;      /* DRYDOCK_URL: http(s):// or ws(s):// controller URL (scheme
				 * checked case-insensitively; may embed credentials) */
	char *ca_cert;          /* CA_CERT: PEM bundle path */
	bool tls_skip_verify;   /* TLS_SKIP_VERIFY, default false */

	bool allow_unauthenticated;        /* ALLOW_UNAUTHENTICATED, default false */
	bool allow_unauthenticated_remote; /* ALLOW_UNAUTHENTICATED_REMOTE, default false */
	int max_clock_skew_s;              /* MAX_CLOCK_SKEW_SECONDS, default 60, 1..86400 */
	int nonce_lru_size;                /* NONCE_LRU_SIZE, 1..16777216; 0 (unset): sized from
					    * the skew window, at least 10000 (proxy/server.c) */

	/* --- listener --- */
	char *bind_address; /* BIND_ADDRESS: IP literal (brackets stripped) or "localhost";
			     * default 0.0.0.0, or 127.0.0.1 in edge mode */
	uint16_t port;      /* PORT, default 3000; 0 lets the kernel pick (tests) */
	char *tls_cert;     /* TLS_CERT: PEM chain path; set iff tls_key is */
	char *tls_key;      /* TLS_KEY: PEM key path */
	struct lk_cidr *trusted_proxies; /* TRUSTED_PROXIES (CSV of CIDRs / bare IPs) */
	size_t n_trusted_proxies;

	/* --- Docker and agent identity --- */
	char *docker_socket; /* DOCKER_SOCKET, else the first existing of /var/run/docker.sock,
			      * $HOME/.docker/run/docker.sock, $HOME/.orbstack/run/docker.sock,
			      * /run/docker.sock; else /var/run/docker.sock */
	char *stacks_dir;    /* STACKS_DIR, default /data/stacks */
	char *agent_id;      /* AGENT_ID, default a random UUID v4 */
	char *agent_name;    /* AGENT_NAME, default the host name, else "lookout" */

	/* --- timers, in seconds --- */
	int heartbeat_interval_s;  /* HEARTBEAT_INTERVAL, default 30, 1..3600 */
	int request_timeout_s;     /* REQUEST_TIMEOUT, default 30, 0 (none)..86400 */
	int reconnect_delay_s;     /* RECONNECT_DELAY, default 1, 1..3600 */
	int max_reconnect_delay_s; /* MAX_RECONNECT_DELAY, default 60, RECONNECT_DELAY..86400 */
	int welcome_timeout_s;     /* WELCOME_TIMEOUT, default 30, 1..3600 */

	/* --- features --- */
	enum lk_log_level log_level; /* LOG_LEVEL, default info */
	bool skip_df_collection;     /* SKIP_DF_COLLECTION, default false */
	enum lk_adapter adapter;     /* ADAPTER: drydock (default) or generic */
	int dd_poll_interval_s;      /* DD_POLL_INTERVAL, default 300, 1..86400 */
	char *audit_log;             /* AUDIT_LOG: stdout, stderr or a path; NULL = off */
	int audit_buffer_size;       /* AUDIT_BUFFER_SIZE, default 256, 0 (off)..1000000 */

	enum lk_mode mode; /* edge iff DRYDOCK_URL is set */

	/* --- Lookout's own runtime knobs (not in the reference) --- */
	unsigned workers;                 /* WORKERS: ring threads; default the CPUs this
					   * process may run on, capped at 64; 1..64 */
	unsigned max_connections;         /* MAX_CONNECTIONS: agent-wide client connections,
					   * default 16384, 1..1048576 */
	unsigned header_timeout_s;        /* HEADER_TIMEOUT: time to receive a complete
					   * request head, default 10, 1..3600 */
	unsigned idle_timeout_s;          /* IDLE_TIMEOUT: keep-alive idle, default 120,
					   * 1..86400 */
	unsigned tls_handshake_timeout_s; /* TLS_HANDSHAKE_TIMEOUT: default 10, 1..600 */
	unsigned shutdown_timeout_s;      /* SHUTDOWN_TIMEOUT: graceful drain, default 10,
					   * 1..600 */
	unsigned max_streams;             /* MAX_STREAMS: concurrent streaming responses,
					   * default 100, 1..100000 */
	unsigned max_hijacks;             /* MAX_HIJACKS: concurrent hijacked (attach/exec)
					   * connections, default 100, 1..100000 */
	bool relay_copy;                  /* RELAY_MODE: auto (default: splice Docker->client
					   * on plaintext) or copy (never splice; for tests
					   * and for kernels with splice trouble) */
	uint8_t zero_copy;                /* ZERO_COPY: enum lk_zc_mode (TLS streams) */
};

/* lk_config_load fills *cfg from envp (a NULL-terminated "NAME=VALUE" array,
 * borrowed; pass environ in production) and returns 0. On failure it returns
 * -EINVAL for an invalid configuration, -ENOMEM, or the -errno of a failed
 * getrandom(2), writes "<VARIABLE>: <reason>" to err (always NUL-terminated
 * when err_len > 0; secret values never appear in it), and leaves *cfg wiped
 * and zeroed, so lk_config_done on it is harmless. *cfg need not be
 * initialised before the call. Reads *_FILE files and stat(2)s Docker socket
 * candidates: call it at start-up, never on a ring thread. */
int lk_config_load(struct lk_config *cfg, char *const *envp, char *err, size_t err_len);

/* lk_config_done frees everything cfg owns, wiping the secrets (token, token
 * hash, enrollment token) with explicit_bzero first, and zeroes *cfg. Safe on
 * a zeroed, half-loaded or already done cfg. */
void lk_config_done(struct lk_config *cfg);

/* lk_config_is_loopback returns whether bind_address is "localhost"
 * (case-insensitive) or a loopback IP literal (127.0.0.0/8, ::1, or
 * ::ffff:127.x.y.z), with surrounding [brackets] allowed. NULL is not. */
bool lk_config_is_loopback(const char *bind_address);
/* lk_addr_is_loopback returns whether addr (network order: 4 bytes for
 * AF_INET, 16 for AF_INET6) is 127.0.0.0/8, ::1 or ::ffff:127.x.y.z. Other
 * families are not. */
bool lk_addr_is_loopback(int family, const uint8_t *addr);

#endif /* LK_CORE_CONFIG_H */
