/* proxy/server.c - listeners and workers of standard mode (see server.h). */
#include <sys/socket.h>
#include <sys/utsname.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/argon2.h"
#include "auth/audit.h"
#include "auth/enroll.h"
#include "auth/registry.h"
#include "auth/shtab.h"
#include "auth/token.h"
#include "auth/verifier.h"
#include "core/log.h"
#include "core/config.h"
#include "core/dbg.h"
#include "core/err.h"
#include "core/timer.h"
#include "core/tls.h"
#include "core/worker.h"
#include "adapters/inventory.h"
#include "proxy/control.h"
#include "proxy/sse.h"
#include "proxy/server.h"
#include "proxy/session_int.h"

#define LK_LISTEN_BACKLOG 4096

const uint32_t lk_lat_bounds_us[LK_LAT_BUCKETS] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000,
};
#define LK_CTX_PER_WORKER_MAX 4096
#define LK_POOL_WARM 64 /* returned request contexts kept resident per worker */

/* parse_bind turns BIND_ADDRESS (IPv4/IPv6 literal, brackets allowed, or
 * "localhost") and port into a socket address. */
static int parse_bind(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(addr);

	memset(ss, 0, sizeof(*ss));
	if (strcasecmp(addr, "localhost") == 0)
		addr = "127.0.0.1";
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, addr + 1, n - 2);
		buf[n - 2] = '\0';
		addr = buf;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

static int listen_one(const struct sockaddr_storage *ss, socklen_t len, int *out_fd)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	int rc;

	if (fd < 0)
		return -errno;
	/* One listener per worker on the same port: the kernel spreads new
	 * connections across them (SO_REUSEPORT), no accept lock. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, LK_LISTEN_BACKLOG) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	*out_fd = fd;
	return 0;
}

static int bind_listeners(struct lk_server *s, char *err, size_t err_len)
{
	const struct lk_config *cfg = s->cfg;
	struct sockaddr_storage ss;
	socklen_t len;

	if (parse_bind(cfg->bind_address, cfg->port, &ss, &len) < 0) {
		snprintf(err, err_len, "BIND_ADDRESS: %s is not an IP address", cfg->bind_address);
		return -EINVAL;
	}
	s->listen_fds = calloc(s->n_workers, sizeof(int));
	if (s->listen_fds == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < s->n_workers; i++)
		s->listen_fds[i] = -1;
	for (unsigned i = 0; i < s->n_workers; i++) {
		int rc = listen_one(&ss, len, &s->listen_fds[i]);

		if (rc < 0) {
			snprintf(err, err_len, "PORT: cannot listen on %s:%u: %s", cfg->bind_address,
				 (unsigned)(i == 0 ? cfg->port : s->port), strerror(-rc));
			return rc;
		}
		if (i == 0) {
			/* PORT=0: the first bind picks the port, the others join it. */
			if (getsockname(s->listen_fds[0], (struct sockaddr *)&ss, &len) < 0)
				return -errno;
			s->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
								: ((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	return 0;
}

static int init_workers(struct lk_server *s, char *err, size_t err_len)
{
	const struct lk_config *cfg = s->cfg;
	uint32_t per = (cfg->max_connections + s->n_workers - 1) / s->n_workers;
	struct lk_sworker *sws = calloc(s->n_workers, sizeof(*sws));

	if (sws == NULL)
		return -ENOMEM;
	s->sworkers = sws;
	const uint64_t durations[LK_TQ__COUNT] = {
		[LK_TQ_HANDSHAKE] = (uint64_t)cfg->tls_handshake_timeout_s * 1000,
		[LK_TQ_HEADER] = (uint64_t)cfg->header_timeout_s * 1000,
		[LK_TQ_IDLE] = (uint64_t)cfg->idle_timeout_s * 1000,
		[LK_TQ_REQUEST] = (uint64_t)cfg->request_timeout_s * 1000,
		[LK_TQ_SSE] = (uint64_t)LK_SSE_KEEPALIVE_S * 1000,
	};
	for (unsigned i = 0; i < s->n_workers; i++) {
		struct lk_sworker *sw = &sws[i];
		int rc = lk_worker_init(&sw->w, i, per, s->listen_fds[i], &lk_session_ops, sw);

		lk_spsc_init(&sw->sse_inbox);

		uint32_t n_ctx = LK_MIN(per, (uint32_t)LK_CTX_PER_WORKER_MAX);
		if (rc == 0)
			rc = lk_pool_init(&sw->ctx_pool, "request", sizeof(struct lk_sess_ctx), n_ctx);
		if (rc == 0)
			rc = lk_pool_init(&sw->xfer_pool, "xfer", lk__fwd_xfer_size(), per);
		if (rc == 0 && s->tls != NULL)
			rc = lk_pool_init(&sw->tls_in_pool, "tls-in", LK_TLS_IN_MAX, n_ctx);
		/* After a burst, request contexts and TLS input buffers beyond
		 * the warm ones give their pages back (tls-out is registered
		 * with the kernel: never trimmed). */
		if (rc == 0) {
			lk_pool_set_trim(&sw->ctx_pool, LK_POOL_WARM);
			if (s->tls != NULL)
				lk_pool_set_trim(&sw->tls_in_pool, LK_POOL_WARM);
		}
		if (rc == 0 && s->tls != NULL)
			rc = lk_pool_init(&sw->tls_out_pool, "tls-out", LK_TLS_OUT_BUF, n_ctx);
		/* TLS ciphertext leaves from registered buffers, without a copy. */
		if (rc == 0 && s->tls != NULL)
			rc = lk_worker_fixed_region(&sw->w, lk_pool_base(&sw->tls_out_pool), sw->tls_out_pool.obj_size,
						    sw->tls_out_pool.capacity);
		if (rc < 0) {
			snprintf(err, err_len, "MAX_CONNECTIONS: cannot reserve %u connections: %s", per,
				 strerror(-rc));
			return rc;
		}
		/* The worker owns (and closes) its listener from now on. */
		s->listen_fds[i] = -1;
		sw->srv = s;
		sw->w.shutdown_timeout_ms = (uint64_t)cfg->shutdown_timeout_s * 1000;
		for (unsigned q = 0; q < LK_TQ__COUNT; q++)
			sw->tq[q] = durations[q] != 0 ? lk_worker_timerq(&sw->w, durations[q]) : LK_TQ_NONE;
	}
	return 0;
}

/* Nonces live twice the skew window (a timestamp may be a window in the
 * future, DESIGN.md decision 4). The table holds NONCE_LRU_SIZE of them
 * when it is set; unset, it holds what LK_NONCE_RATE_MIN signed requests a
 * second leave unexpired (120 000 with the default window, ~4 MiB), since
 * the reference's 10 000 fill at 83 requests a second once the TTL is two
 * windows, and a full table refuses (503). */
#define LK_NONCE_RATE_MIN 1000u
#define LK_VERIFY_INFLIGHT 64u

static int init_credentials(struct lk_server *s, char *err, size_t err_len)
{
	const struct lk_config *cfg = s->cfg;
	uint32_t ttl = 2u * (uint32_t)(cfg->max_clock_skew_s > 0 ? cfg->max_clock_skew_s : 60);

	if (pthread_mutex_init(&s->reload_mu, NULL) != 0)
		return -ENOMEM;
	s->reload_mu_init = true;
	if (cfg->token_hash != NULL) {
		struct lk_phc phc;

		if (lk_phc_parse(cfg->token_hash, &phc, err, err_len) < 0)
			return -EINVAL;
		/* Half the cores derive; the other half keep serving. */
		unsigned n = s->n_workers > 1 ? s->n_workers / 2 : 1;
		s->verifier = lk_verifier_new(&phc, n, LK_VERIFY_INFLIGHT, s->n_workers, err, err_len);
		lk_crypto_cleanse(&phc, sizeof(phc));
		if (s->verifier == NULL)
			return -ENOMEM;
	}
	if (cfg->authorized_keys != NULL) {
		char why[LK_REGISTRY_ERR_MAX];
		struct lk_registry *r = lk_registry_load(cfg->authorized_keys, why, sizeof(why));

		if (r == NULL) {
			snprintf(err, err_len, "AUTHORIZED_KEYS: %s", why);
			return -EINVAL;
		}
		if (lk_registry_duplicates(r) != 0)
			LK_LOG(LK_LOG_WARN, "authorized_keys: duplicate key ID, keeping first occurrence",
			       LK_LOG_UINT("dropped", lk_registry_duplicates(r)));
		LK_LOG(LK_LOG_INFO, "authorized_keys loaded", LK_LOG_STR("file", cfg->authorized_keys),
		       LK_LOG_UINT("keys", lk_registry_count(r)));
		s->keys = lk_registry_cell_new(r, s->n_workers + 1);
		if (s->keys == NULL) {
			lk_registry_free(r);
			snprintf(err, err_len, "AUTHORIZED_KEYS: out of memory");
			return -ENOMEM;
		}
		uint64_t want = cfg->nonce_lru_size > 0 ? (uint64_t)cfg->nonce_lru_size
							 : LK_MAX(10000u, (uint64_t)LK_NONCE_RATE_MIN * ttl);
		s->nonces = lk_nonce_table_new((uint32_t)LK_MIN(want, (uint64_t)LK_SHTAB_CAPACITY_MAX), ttl);
		if (s->nonces == NULL) {
			snprintf(err, err_len, "NONCE_LRU_SIZE: cannot allocate the nonce table");
			return -ENOMEM;
		}
	}
	if (cfg->enrollment_token != NULL && cfg->authorized_keys != NULL) {
		char why[512];

		s->enroll = lk_enroll_new(cfg->enrollment_token, strlen(cfg->enrollment_token),
					  cfg->authorized_keys, why, sizeof(why));
		if (s->enroll == NULL) {
			snprintf(err, err_len, "ENROLLMENT_TOKEN: %s", why);
			return -EINVAL;
		}
		LK_LOG(LK_LOG_INFO, "enrollment enabled", LK_LOG_BOOL("burned", lk_enroll_burned(s->enroll)));
	}
	if (cfg->audit_log != NULL) {
		s->audit = lk_audit_new(cfg->audit_log, s->n_workers, 0, err, err_len);
		if (s->audit == NULL)
			return -EINVAL;
	}
	return 0;
}

static const char *go_arch(void)
{
	static struct utsname u;

	return uname(&u) == 0 ? lk_shape_go_arch(u.machine) : "amd64";
}

static int init_inventory(struct lk_server *s, char *err, size_t err_len)
{
	const struct lk_config *cfg = s->cfg;
	struct lk_inv_opts o = {
		.docker_socket = cfg->docker_socket,
		.timeout_ms = cfg->request_timeout_s > 0 ? cfg->request_timeout_s * 1000 : 30000,
		.poll_s = (unsigned)cfg->dd_poll_interval_s,
		.shape = { .agent_name = cfg->agent_name != NULL ? cfg->agent_name : "lookout",
			   .arch = go_arch(), .os = "linux" },
		.on_change = lk__sse_on_change,
		.on_refresh = lk__sse_on_refresh,
		.on_event = lk__sse_on_event,
		.arg = s,
	};

	/* The Drydock stream's keepalive and the generic stream's heartbeat
	 * (spec 5), in chunked framing. */
	static const char ka[] = "d\r\n: keepalive\n\n\r\n", hb[] = "d\r\n: heartbeat\n\n\r\n";
	s->sse.keepalive = malloc(sizeof(*s->sse.keepalive) + sizeof(ka));
	s->sse.heartbeat = malloc(sizeof(*s->sse.heartbeat) + sizeof(hb));
	if (s->sse.keepalive == NULL || s->sse.heartbeat == NULL)
		return -ENOMEM;
	atomic_init(&s->sse.keepalive->refs, 1u << 30);
	atomic_init(&s->sse.heartbeat->refs, 1u << 30);
	s->sse.keepalive->kind = LK_SSE_DRYDOCK;
	s->sse.heartbeat->kind = LK_SSE_GENERIC;
	s->sse.keepalive->gen = s->sse.heartbeat->gen = 0;
	s->sse.keepalive->len = sizeof(ka) - 1;
	s->sse.heartbeat->len = sizeof(hb) - 1;
	memcpy(s->sse.keepalive->data, ka, sizeof(ka));
	memcpy(s->sse.heartbeat->data, hb, sizeof(hb));
	s->inventory = lk_inventory_new(&o, err, err_len);
	return s->inventory != NULL ? 0 : -ENOMEM;
}

int lk_server_init(struct lk_server *s, const struct lk_config *cfg, char *err, size_t err_len)
{
	int rc;

	*s = (struct lk_server){ .cfg = cfg, .n_workers = cfg->workers, .started_ms = lk_time_ms() };
	size_t plen = strlen(cfg->docker_socket);
	if (plen >= sizeof(s->docker_sa.sun_path)) {
		snprintf(err, err_len, "DOCKER_SOCKET: path is longer than %zu bytes",
			 sizeof(s->docker_sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	s->docker_sa.sun_family = AF_UNIX;
	memcpy(s->docker_sa.sun_path, cfg->docker_socket, plen + 1);
	s->docker_sa_len = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
	atomic_init(&s->n_streams, 0);
	atomic_init(&s->n_hijacks, 0);
	s->relay_copy = cfg->relay_copy;
	s->zero_copy = cfg->zero_copy;
	if (cfg->token != NULL) {
		lk_auth_token_digest(cfg->token, strlen(cfg->token), s->token_digest);
		s->has_token = true;
	}
	/* Ten failures per client per minute, checked before any credential
	 * work; a full table refuses unknown clients (auth/shtab.h). */
	if (cfg->token != NULL || cfg->token_hash != NULL || cfg->authorized_keys != NULL) {
		s->limiter = lk_limiter_new(LK_AUTH_LIMITER_IPS, LK_AUTH_FAILURES_MAX,
					    LK_AUTH_FAILURE_WINDOW_S);
		if (s->limiter == NULL) {
			snprintf(err, err_len, "TOKEN: cannot allocate the failed-auth limiter");
			return -ENOMEM;
		}
	}
	rc = init_credentials(s, err, err_len);
	if (rc < 0)
		return rc;
	if (cfg->tls_cert != NULL) {
		s->tls = lk_tls_ctx_new_server(cfg->tls_cert, cfg->tls_key, err, err_len);
		if (s->tls == NULL)
			return -EINVAL;
	}
	rc = bind_listeners(s, err, err_len);
	if (rc == 0)
		rc = init_workers(s, err, err_len);
	/* Verdicts wake the submitting worker through its own eventfd. */
	for (unsigned i = 0; rc == 0 && s->verifier != NULL && i < s->n_workers; i++)
		lk_verifier_set_notify(s->verifier, i, ((struct lk_sworker *)s->sworkers)[i].w.wake_fd);
	if (rc == 0) {
		s->ctl = lk_ctl_new(s, err, err_len);
		if (s->ctl == NULL)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = init_inventory(s, err, err_len);
	if (rc == 0 && s->audit != NULL && lk_audit_start(s->audit) < 0) {
		snprintf(err, err_len, "AUDIT_LOG: cannot start the audit writer");
		rc = -EAGAIN;
	}
	return rc;
}

int lk_server_start(struct lk_server *s, char *err, size_t err_len)
{
	struct lk_sworker *sws = s->sworkers;
	sem_t ready;
	unsigned spawned = 0;
	int rc = 0;

	sem_init(&ready, 0, 0);
	for (; spawned < s->n_workers; spawned++) {
		rc = lk_worker_spawn(&sws[spawned].w, &ready);
		if (rc < 0) {
			snprintf(err, err_len, "WORKERS: cannot start worker %u: %s", spawned, strerror(-rc));
			break;
		}
	}
	for (unsigned i = 0; i < spawned; i++)
		sem_wait(&ready);
	for (unsigned i = 0; i < spawned && rc == 0; i++) {
		if (sws[i].w.init_rc < 0) {
			rc = sws[i].w.init_rc;
			snprintf(err, err_len, "worker %u: %s", i, sws[i].w.init_err);
		}
	}
	sem_destroy(&ready);
	if (rc == 0 && s->inventory != NULL && lk_inventory_start(s->inventory) < 0) {
		snprintf(err, err_len, "inventory: cannot start its thread");
		rc = -EAGAIN;
	}
	if (rc < 0) {
		/* Workers whose ring came up are told to stop; the caller joins. */
		for (unsigned i = 0; i < spawned; i++)
			if (sws[i].w.init_rc == 0)
				lk_worker_request_stop(&sws[i].w);
		for (unsigned i = spawned; i < s->n_workers; i++)
			sws[i].w.init_rc = -ECANCELED;
	}
	return rc;
}

void lk_server_stop(struct lk_server *s)
{
	struct lk_sworker *sws = s->sworkers;

	for (unsigned i = 0; sws != NULL && i < s->n_workers; i++)
		if (sws[i].w.thread != 0 && sws[i].w.init_rc == 0)
			lk_worker_request_stop(&sws[i].w);
}

void lk_server_join(struct lk_server *s)
{
	struct lk_sworker *sws = s->sworkers;

	for (unsigned i = 0; sws != NULL && i < s->n_workers; i++) {
		if (sws[i].w.thread != 0) {
			pthread_join(sws[i].w.thread, NULL);
			sws[i].w.thread = 0;
		}
	}
}

void lk_server_done(struct lk_server *s)
{
	struct lk_sworker *sws = s->sworkers;

	/* Verifier threads signal the workers' wake eventfds: join them before
	 * those close (a late write could reach a reused descriptor). */
	lk_verifier_free(s->verifier);
	s->verifier = NULL;
	lk_inventory_free(s->inventory);
	s->inventory = NULL;
	for (size_t i = 0; i < s->sse.n; i++)
		lk_sse_msg_put(s->sse.pend[i]);
	free(s->sse.pend);
	lk_ctl_free(s->ctl);
	s->ctl = NULL;

	for (unsigned i = 0; sws != NULL && i < s->n_workers; i++) {
		/* A worker that never ran still owns its listener. */
		if (sws[i].w.listen_fd >= 0)
			close(sws[i].w.listen_fd);
		while (sws[i].n_up_pool > 0)
			close(sws[i].up_pool[--sws[i].n_up_pool]);
		for (struct lk_sse_msg *m; (m = lk_spsc_pop(&sws[i].sse_inbox)) != NULL;)
			lk_sse_msg_put(m);
		lk_pool_done(&sws[i].ctx_pool);
		lk_pool_done(&sws[i].xfer_pool);
		lk_pool_done(&sws[i].tls_in_pool);
		lk_pool_done(&sws[i].tls_out_pool);
		lk_worker_done(&sws[i].w);
	}
	free(sws);
	for (unsigned i = 0; s->listen_fds != NULL && i < s->n_workers; i++)
		if (s->listen_fds[i] >= 0)
			close(s->listen_fds[i]);
	free(s->listen_fds);
	lk_tls_ctx_free(s->tls);
	lk_limiter_free(s->limiter);
	lk_verifier_free(s->verifier);
	lk_registry_cell_free(s->keys);
	lk_enroll_free(s->enroll);
	lk_nonce_table_free(s->nonces);
	lk_audit_free(s->audit);
	if (s->reload_mu_init)
		pthread_mutex_destroy(&s->reload_mu);
	free(s->sse.keepalive);
	free(s->sse.heartbeat);
	*s = (struct lk_server){ 0 };
}

struct diff_log {
	unsigned added, removed;
};

static void log_key_change(void *arg, bool added, const struct lk_pubkey *k)
{
	struct diff_log *d = arg;

	if (added)
		d->added++;
	else
		d->removed++;
	LK_LOG(LK_LOG_INFO, added ? "ed25519 key added" : "ed25519 key removed",
	       LK_LOG_STR("key_id", k->id), LK_LOG_STR("comment", k->comment));
}

int lk_server_reload_keys(struct lk_server *s, const char *why)
{
	char err[LK_REGISTRY_ERR_MAX];
	struct diff_log d = { 0 };

	if (s->keys == NULL)
		return -ENOENT;
	struct lk_registry *next = lk_registry_load(s->cfg->authorized_keys, err, sizeof(err));
	if (next == NULL) {
		LK_LOG(LK_LOG_ERROR, "authorized_keys reload failed, keeping the previous keys",
		       LK_LOG_STR("trigger", why), LK_LOG_STR("error", err));
		return -EINVAL;
	}
	pthread_mutex_lock(&s->reload_mu);
	/* Reader slot n_workers is the reloader's (under the mutex). Only a
	 * swap frees a snapshot, and swaps happen under the mutex, so old
	 * stays valid after leaving. */
	const struct lk_registry *old = lk_registry_enter(s->keys, s->n_workers);
	lk_registry_leave(s->keys, s->n_workers);
	lk_registry_diff(old, next, log_key_change, &d);
	size_t n = lk_registry_count(next);
	lk_registry_swap(s->keys, next);
	pthread_mutex_unlock(&s->reload_mu);
	LK_LOG(LK_LOG_INFO, "authorized_keys reloaded", LK_LOG_STR("trigger", why),
	       LK_LOG_UINT("keys", n), LK_LOG_UINT("added", d.added),
	       LK_LOG_UINT("removed", d.removed));
	return 0;
}

void lk_server_reopen_audit(struct lk_server *s)
{
	if (s->audit != NULL)
		lk_audit_reopen(s->audit);
}

const char *lk_server_ring_flags(const struct lk_server *s)
{
	const struct lk_sworker *sws = s->sworkers;

	return sws != NULL && sws[0].w.ring_flags != NULL ? sws[0].w.ring_flags : "unknown";
}

void lk_server_stats_sum(const struct lk_server *s, struct lk_server_stats *out)
{
	const struct lk_sworker *sws = s->sworkers;

	*out = (struct lk_server_stats){ 0 };
	for (unsigned i = 0; sws != NULL && i < s->n_workers; i++) {
		out->requests += sws[i].stats.requests;
		out->bad_requests += sws[i].stats.bad_requests;
		out->header_timeouts += sws[i].stats.header_timeouts;
		out->handshake_timeouts += sws[i].stats.handshake_timeouts;
		out->tls_errors += sws[i].stats.tls_errors;
		out->ctx_exhausted += sws[i].stats.ctx_exhausted;
		out->zc_sends += sws[i].w.stats.zc_sends;
		out->cq_overflows += sws[i].w.stats.cq_overflows;
		out->proxied += sws[i].stats.proxied;
		out->upstream_errors += sws[i].stats.upstream_errors;
		out->limited += sws[i].stats.limited;
		out->auth_failures += sws[i].stats.auth_failures;
		out->auth_limited += sws[i].stats.auth_limited;
		out->pool_reused += sws[i].stats.pool_reused;
		out->bytes_u2c += sws[i].stats.bytes_u2c;
		out->bytes_c2u += sws[i].stats.bytes_c2u;
		for (unsigned k = 0; k < 5; k++)
			out->auth_by_reason[k] += sws[i].stats.auth_by_reason[k];
		out->nonce_full += sws[i].stats.nonce_full;
		out->verify_busy += sws[i].stats.verify_busy;
		out->body_refused += sws[i].stats.body_refused;
		out->signed_ok += sws[i].stats.signed_ok;
		out->audit_dropped += sws[i].stats.audit_dropped;
		out->sse_dropped += sws[i].stats.sse_dropped;
		for (unsigned k = 0; k < LK_RC__COUNT; k++) {
			for (unsigned j = 0; j < 6; j++)
				out->by_status[k][j] += sws[i].stats.by_status[k][j];
			for (unsigned j = 0; j <= LK_LAT_BUCKETS; j++)
				out->lat[k][j] += sws[i].stats.lat[k][j];
			out->lat_sum_us[k] += sws[i].stats.lat_sum_us[k];
		}
	}
}

uint64_t lk_server_worker_accepted(const struct lk_server *s, unsigned i)
{
	const struct lk_sworker *sws = s->sworkers;

	return sws != NULL && i < s->n_workers ? sws[i].w.stats.accepted : 0;
}

uint64_t lk_server_worker_enobufs(const struct lk_server *s, unsigned i)
{
	const struct lk_sworker *sws = s->sworkers;

	return sws != NULL && i < s->n_workers ? sws[i].w.stats.enobufs : 0;
}

int lk_server_wake_fd(const struct lk_server *s, unsigned i)
{
	const struct lk_sworker *sws = s->sworkers;

	LK_ASSERT(sws != NULL && i < s->n_workers);
	return sws[i].w.wake_fd;
}

uint64_t lk_server_worker_live(const struct lk_server *s, unsigned i)
{
	const struct lk_sworker *sws = s->sworkers;

	return sws != NULL && i < s->n_workers
		       ? __atomic_load_n(&sws[i].w.live, __ATOMIC_RELAXED)
		       : 0;
}
