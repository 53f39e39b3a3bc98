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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/fwd.h"

/* Failed-authentication limits (spec section 7). */
#define LK_AUTH_FAILURES_MAX 10
#define LK_AUTH_FAILURE_WINDOW_S 60
#define LK_AUTH_LIMITER_IPS 10000

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
	uint64_t cq_overflows;
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
	/* Failed-authentication limiter shared by all workers (lock-free, see
	 * auth/shtab.h); NULL when no credential is configured. */
	struct lk_limiter *limiter;
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
/* lk_server_ring_flags returns the io_uring setup flags the workers got
 * (after lk_server_start), for the start-up log. */
const char *lk_server_ring_flags(const struct lk_server *s);
/* lk_server_stats_sum adds up the workers' counters (racy reads, for
 * reporting only). */
void lk_server_stats_sum(const struct lk_server *s, struct lk_server_stats *out);

#endif /* LK_PROXY_SERVER_H */
