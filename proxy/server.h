/* proxy/server.h - standard-mode server: listeners, workers, the HTTP
 * connection state machine and the agent's own endpoints.
 *
 * Start-up order (cmd/serve.c): lk_server_init binds one SO_REUSEPORT
 * listener per worker (so PORT=0 resolves to one port for all) and loads TLS;
 * lk_server_start spawns the workers and waits until each has its ring;
 * lk_server_stop asks them to drain; lk_server_join waits. */
#ifndef LK_PROXY_SERVER_H
#define LK_PROXY_SERVER_H

#include <sys/un.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/fwd.h"

/* Failed-authentication limits (spec section 7). */
#define LK_AUTH_FAILURES_MAX 10
#define LK_AUTH_FAILURE_WINDOW_S 60
#define LK_AUTH_LIMITER_IPS 10000

/* Request classes for the request counters and latency histograms. */
enum lk_rclass {
	LK_RC_HEALTH, /* /health, /ready, /_lookout/health */
	LK_RC_AGENT,  /* the agent's authenticated routes and enrollment */
	LK_RC_PROXY,  /* finite Docker calls, and the proxy's own refusals */
	LK_RC_STREAM, /* streams and hijacks: latency to the response head */
	LK_RC__COUNT
};
/* Latency buckets (upper bounds, microseconds); the last count is +Inf. */
#define LK_LAT_BUCKETS 14
extern const uint32_t lk_lat_bounds_us[LK_LAT_BUCKETS];

/* struct lk_server_stats are agent-wide counters summed from the workers on
 * demand (each worker writes only its own). */
struct lk_server_stats {
	uint64_t requests;
	uint64_t bad_requests;
	uint64_t header_timeouts;
	uint64_t handshake_timeouts;
	uint64_t tls_errors;
	uint64_t ctx_exhausted;
	uint64_t proxied;
	uint64_t upstream_errors;
	uint64_t limited;         /* 429 for MAX_STREAMS / MAX_HIJACKS */
	uint64_t auth_failures;   /* 401 on a protected route */
	uint64_t auth_limited;    /* 429: too many failed attempts from that client */
	uint64_t pool_reused;
	uint64_t bytes_u2c;
	uint64_t bytes_c2u;
	uint64_t zc_sends; /* TLS output sent zero-copy from registered buffers */
	uint64_t auth_by_reason[5]; /* 401s by enum lk_sig_reason slot: [0] token/none */
	uint64_t nonce_full;      /* signed requests refused: nonce table full (503) */
	uint64_t verify_busy;     /* Argon2id verifier pool saturated (429) */
	uint64_t body_refused;    /* signed/enrollment bodies over a limit (413) or budget (503) */
	uint64_t signed_ok;       /* requests admitted by an Ed25519 signature */
	uint64_t audit_dropped;   /* audit records the per-worker buffer could not take */
	uint64_t sse_dropped;     /* event-stream clients dropped for falling behind */
	uint64_t by_status[LK_RC__COUNT][6]; /* responses by class and status class: [1] 1xx .. [5] 5xx */
	uint64_t lat[LK_RC__COUNT][LK_LAT_BUCKETS + 1]; /* head-to-response-head latency, per bucket */
	uint64_t lat_sum_us[LK_RC__COUNT];
	uint64_t cq_overflows;
};

/* struct lk_sse_hub is the event-stream producer's state (inventory
 * thread only, proxy/sse.c). */
struct lk_sse_hub {
	struct lk_sse_msg **pend; /* messages of the refresh in progress */
	size_t n, cap;
	uint64_t last_gen;
	uint64_t lost;		  /* messages a worker's full inbox refused */
	struct lk_sse_msg *keepalive; /* shared comment frames, never freed while running */
	struct lk_sse_msg *heartbeat;
};

struct lk_server {
	const struct lk_config *cfg;
	struct lk_tls_ctx *tls;
	struct sockaddr_un docker_sa;
	uint32_t docker_sa_len;
	uint16_t port;        /* the bound port (resolved when PORT=0) */
	unsigned n_workers;
	struct lk_worker *workers;
	void *sworkers;       /* per-worker protocol state (session.c) */
	int *listen_fds;
	uint64_t started_ms;
	bool has_token;
	uint8_t token_digest[32]; /* SHA-256 of TOKEN: the token itself is not kept */
	bool relay_copy;          /* RELAY_MODE=copy: no splice even on plaintext */
	uint8_t zero_copy;        /* ZERO_COPY: enum lk_zc_mode */
	/* Failed-authentication limiter shared by all workers (lock-free, see
	 * auth/shtab.h); NULL when no credential is configured. */
	struct lk_limiter *limiter;
	/* Credentials beyond TOKEN (NULL when not configured). */
	struct lk_verifier *verifier;   /* TOKEN_HASH: Argon2id off the rings */
	struct lk_registry_cell *keys;  /* AUTHORIZED_KEYS: reader i = worker i */
	struct lk_nonce_table *nonces;  /* shared by every worker */
	struct lk_enroll *enroll;       /* ENROLLMENT_TOKEN with AUTHORIZED_KEYS */
	struct lk_audit *audit;         /* AUDIT_LOG: producer i = worker i */
	struct lk_ctl *ctl;             /* the control thread (proxy/control.h) */
	struct lk_inventory *inventory; /* container inventory thread (adapters/inventory.h) */
	struct lk_sse_hub sse;
	pthread_mutex_t reload_mu;      /* one registry reloader at a time (SIGHUP, enrollment) */
	bool reload_mu_init;
	/* Bytes of buffered signed/enrollment bodies, agent-wide. */
	atomic_uint_fast64_t body_bytes;
	/* Agent-wide admission counters, the only state the workers share on
	 * the request path: plain atomic add/sub, relaxed order (they bound
	 * resources, they order nothing). */
	atomic_uint n_streams;
	atomic_uint n_hijacks;
};

/* lk_server_init loads TLS and binds the listeners. Returns 0, or -errno with
 * a message in err naming the variable or address at fault. */
int lk_server_init(struct lk_server *s, const struct lk_config *cfg, char *err, size_t err_len);
/* lk_server_start spawns the workers and waits for their rings. */
int lk_server_start(struct lk_server *s, char *err, size_t err_len);
/* lk_server_stop asks every worker to drain and stop (any thread). */
void lk_server_stop(struct lk_server *s);
/* lk_server_join waits for the workers to exit. */
void lk_server_join(struct lk_server *s);
/* lk_server_done frees everything; NULL-safe on a half-initialised server. */
void lk_server_done(struct lk_server *s);
/* lk_server_reload_keys re-reads AUTHORIZED_KEYS and publishes it to the
 * workers (SIGHUP, enrollment); a file that does not load keeps the old
 * keys. why names the trigger for the log. Blocking: not on a ring thread
 * except for the one-shot enrollment. Returns 0 or -errno. */
int lk_server_reload_keys(struct lk_server *s, const char *why);
/* lk_server_reopen_audit asks the audit writer to reopen its file. */
void lk_server_reopen_audit(struct lk_server *s);
/* lk_server_ring_flags returns the io_uring setup flags the workers got
 * (after lk_server_start), for the start-up log. */
const char *lk_server_ring_flags(const struct lk_server *s);
/* lk_server_wake_fd returns worker i's wake eventfd (any thread). */
int lk_server_wake_fd(const struct lk_server *s, unsigned i);
/* lk_server_worker_live returns worker i's open connections (racy read). */
uint64_t lk_server_worker_live(const struct lk_server *s, unsigned i);
/* lk_server_worker_accepted returns how many connections worker i took. */
uint64_t lk_server_worker_accepted(const struct lk_server *s, unsigned i);
/* lk_server_worker_enobufs returns how many receives of worker i found their
 * provided-buffer group empty. */
uint64_t lk_server_worker_enobufs(const struct lk_server *s, unsigned i);
/* lk_server_stats_sum adds up the workers' counters (racy reads, for
 * reporting only). */
void lk_server_stats_sum(const struct lk_server *s, struct lk_server_stats *out);

#endif /* LK_PROXY_SERVER_H */
