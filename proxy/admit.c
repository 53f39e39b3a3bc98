/* proxy/admit.c - who may use a protected route (spec lookout-core 6-8, 11;
 * DESIGN.md decisions 2-4).
 *
 * Per request, in this order:
 *   1. the client (TRUSTED_PROXIES-aware, auth/clientip.h) is looked up in
 *      the failed-auth limiter before any credential work: 429 when it has
 *      10 failures in its window, even with a valid credential;
 *   2. with AUTHORIZED_KEYS and a Signature header (either family), the
 *      Ed25519 path only: key, timestamp and a seen nonce are checked from
 *      the head alone, then the whole body is read into a buffer (64 MiB,
 *      413 above, never truncated), hashed, the canonical string verified,
 *      and the nonce recorded in the shared table (full -> 503, never
 *      accepted unrecorded). The forwarded body is the verified buffer;
 *   3. otherwise a token: TOKEN in constant time on the ring thread, or
 *      TOKEN_HASH on the verifier pool (LK_CS_AUTH waits for the verdict,
 *      which comes back through the worker's wake eventfd);
 *   4. a refusal counts one failure for the client and answers 401, with
 *      X-Lookout-Reason for signature failures; it is audited.
 * Admitted mutating requests are audited with their status once known (0
 * when the connection ends before Docker answers, proxy/session.c).
 *
 * Enrollment (POST /api/lookout/enroll, /api/portwing/enroll) shares the
 * limiter and the body buffer, then auth/enroll.c decides. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "adapters/shape.h"
#include "auth/audit.h"
#include "auth/clientip.h"
#include "auth/enroll.h"
#include "auth/registry.h"
#include "auth/shtab.h"
#include "auth/sigv.h"
#include "auth/token.h"
#include "auth/verifier.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/http.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timer.h"
#include "core/version.h"
#include "core/worker.h"
#include "proxy/control.h"
#include "proxy/logs.h"
#include "proxy/routes.h"
#include "proxy/server.h"
#include "proxy/sse.h"
#include "proxy/session_int.h"

/* Buffered bodies (signed requests, enrollment) agent-wide: a request that
 * would go beyond gets 503 and may retry; the per-request limit is the
 * route's (64 MiB signed, 64 KiB enrollment). */
#define LK_BODY_BUDGET	       (256ull << 20)
#define LK_BODY_FRAMING_SLACK  (1u << 20) /* chunk framing allowed beyond the body limit */
#define LK_BODY_INITIAL	       (16u * 1024)
#define LK_VERDICTS_PER_DRAIN  32

static struct lk_sworker *sw_of(struct lk_conn *c)
{
	return c->w->data;
}

static struct lk_sess_ctx *ctx_of(struct lk_conn *c)
{
	return c->ctx;
}

static struct lk_server *srv_of(struct lk_conn *c)
{
	return sw_of(c)->srv;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the client ------------------------------------------------------------ */

static void peer_of(struct lk_conn *c, struct lk_ip *peer)
{
	/* The peer is fixed for the connection: one getpeername, on its first
	 * protected request, not one per request. */
	if (c->peer_family == 0) {
		struct sockaddr_storage ss = { .ss_family = AF_UNSPEC };
		socklen_t len = sizeof(ss);

		(void)getpeername(c->fd, (struct sockaddr *)&ss, &len);
		if (ss.ss_family == AF_INET) {
			c->peer_family = AF_INET;
			memcpy(c->peer_addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		} else if (ss.ss_family == AF_INET6) {
			c->peer_family = AF_INET6;
			memcpy(c->peer_addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		}
	}
	*peer = (struct lk_ip){ .family = c->peer_family };
	memcpy(peer->addr, c->peer_addr, sizeof(peer->addr));
}

static void ip_key(const struct lk_ip *ip, struct lk_ip_key *out)
{
	*out = (struct lk_ip_key){ .b = { 0 } };
	if (ip->family == AF_INET) {
		out->b[10] = out->b[11] = 0xff;
		memcpy(out->b + 12, ip->addr, 4);
	} else if (ip->family == AF_INET6) {
		memcpy(out->b, ip->addr, 16);
	}
}

/* client finds the client of this request (behind TRUSTED_PROXIES, the
 * rightmost untrusted forwarded address): its limiter key and, as text, the
 * audit actor. raw_peer skips the forwarding headers (enrollment's actor is
 * the TCP peer, spec 6.6). A peer that cannot be read counts as the
 * unspecified address: limited together. */
static void client(struct lk_conn *c, bool raw_peer, struct lk_ip_key *key)
{
	const struct lk_config *cfg = srv_of(c)->cfg;
	struct lk_sess_ctx *x = ctx_of(c);
	struct lk_ip peer, ip;

	peer_of(c, &peer);
	if (raw_peer)
		ip = peer;
	else
		lk_client_ip(&x->req, &peer, cfg->trusted_proxies, cfg->n_trusted_proxies, &ip);
	ip_key(&ip, key);
	if (ip.family == 0 || lk_ip_format(&ip, x->actor, sizeof(x->actor)) == 0)
		snprintf(x->actor, sizeof(x->actor), "unknown");
}

/* ---- audit -------------------------------------------------------------- */

static const char *const cred_names[] = {
	[LK_CRED_NONE] = NULL, [LK_CRED_TOKEN] = "token",
	[LK_CRED_ARGON2] = "argon2id", [LK_CRED_ED25519] = "ed25519",
};

static void audit(struct lk_conn *c, enum lk_audit_event ev, enum lk_audit_outcome oc,
		  const char *reason, int status)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	const struct lk_http_req *r = &x->req;

	if (srv->audit == NULL)
		return;
	struct lk_audit_rec rec = {
		.event = ev,
		.outcome = oc,
		.actor = x->actor,
		.method = r->method,
		.method_len = r->method_len,
		.path = r->target,
		.path_len = r->path_len != 0 ? r->path_len : r->target_len,
		/* Optional fields are left out rather than written empty: a
		 * token request has no key ID, a request without credentials
		 * no credential kind. */
		.key_id = x->key_id[0] != '\0' ? x->key_id : NULL,
		.cred = cred_names[x->cred],
		.reason = reason,
		.status = status,
		.duration_ms = (double)(lk_time_ms() - x->t0_ms),
	};
	if (lk_audit_emit(srv->audit, c->w->id, &rec) < 0)
		sw_of(c)->stats.audit_dropped++;
}

void lk__admit_audit_status(struct lk_conn *c, int status)
{
	struct lk_sess_ctx *x = ctx_of(c);

	if (x == NULL || !x->audit_pending)
		return;
	x->audit_pending = false;
	audit(c, LK_AUDIT_EVENT_API_REQUEST, LK_AUDIT_OUTCOME_ALLOWED, NULL, status);
}

/* ---- verdicts ------------------------------------------------------------ */

static bool is_mutating(enum lk_http_method m)
{
	return m != LK_HTTP_GET && m != LK_HTTP_HEAD && m != LK_HTTP_OPTIONS;
}

static void control_submit(struct lk_conn *c);
static uint64_t new_cookie(struct lk_conn *c);
static void static_route(struct lk_conn *c);
static void too_large(struct lk_conn *c, uint32_t limit);
static void body_start(struct lk_conn *c, enum lk_body_use use, uint32_t max);

/* admitted hands an authenticated request to what serves its route: the
 * proxy (mutating requests are audited with Docker's status; reads are not:
 * a fleet polls them all day, and they change nothing), the control thread,
 * an event stream, or a fixed answer. */
static void admitted(struct lk_conn *c)
{
	struct lk_sess_ctx *x = ctx_of(c);

	switch ((enum lk_route)x->route) {
	case LK_ROUTE_NOT_FOUND:
		x->audit_pending = srv_of(c)->audit != NULL && is_mutating(x->req.meth);
		lk__fwd_start(c);
		return;
	case LK_ROUTE_MCP:
		/* MCP reads its JSON-RPC body whole (unless a signature already
		 * did); the agent's own routes change nothing, so they are not
		 * audited as operations. */
		if (x->body_use == 0 && lk_http_req_body(&x->req) != LK_HTTP_BODY_NONE) {
			body_start(c, LK_BODY_CONTROL, LK_CTL_BODY_MAX);
			return;
		}
		control_submit(c);
		return;
	case LK_ROUTE_WATCHERS:
	case LK_ROUTE_WATCHER:
	case LK_ROUTE_EMPTY_LIST:
	case LK_ROUTE_NOT_IMPL:
	case LK_ROUTE_GEN_VERSION:
		static_route(c);
		return;
	case LK_ROUTE_EVENTS:
		/* Registered before the snapshot is taken: no change falls
		 * between the two (proxy/sse.h). */
		if (lk__sse_subscribe(c, LK_SSE_DRYDOCK) < 0) {
			lk__sess_respond_json(c, 503, NULL, "{\"message\":\"out of memory\"}\n");
			return;
		}
		control_submit(c);
		return;
	case LK_ROUTE_LOGS: {
		/* With follow, Docker's stream is relayed (demultiplexed) by the
		 * proxy; without, the control thread answers. */
		char t[LK_LOGS_TARGET_MAX], ref[LK_LOGS_REF_MAX + 1];
		bool follow;
		const char *why;

		if (lk__logs_target(x->req.target, x->req.target_len, t, sizeof(t), ref, &follow,
				    &why) < 0) {
			char body[128];

			snprintf(body, sizeof(body), "{\"message\":\"%s\"}\n", why);
			lk__sess_respond_json(c, 400, NULL, body);
			return;
		}
		if (follow)
			lk__fwd_start(c);
		else
			control_submit(c);
		return;
	}
	case LK_ROUTE_GEN_EVENTS:
		/* Docker's events as they come: no initial frames. */
		if (lk__sse_subscribe(c, LK_SSE_GENERIC) < 0) {
			lk__sess_respond_json(c, 503, NULL, "{\"message\":\"out of memory\"}\n");
			return;
		}
		lk__sse_begin(c, 0, NULL, 0);
		return;
	default:
		control_submit(c);
		return;
	}
}

/* static_route answers the adapter routes whose answer never changes, on
 * the worker. */
static void static_route(struct lk_conn *c)
{
	struct lk_sess_ctx *x = ctx_of(c);
	const struct lk_http_req *r = &x->req;
	char buf[2048];
	struct lk_obuf b;

	lk_obuf_init(&b, buf, sizeof(buf) - 1);
	switch ((enum lk_route)x->route) {
	case LK_ROUTE_WATCHERS:
		lk_shape_watchers(&b);
		break;
	case LK_ROUTE_WATCHER: {
		/* /api/watchers/{type}/{name}, compared case-insensitively. */
		const char *p = r->target + 14;
		size_t n = r->path_len - 14;
		const char *slash = memchr(p, '/', n);
		size_t wl = strlen(LK_SHAPE_WATCHER);

		if (slash != NULL && (size_t)(slash - p) == wl && strncasecmp(p, LK_SHAPE_WATCHER, wl) == 0 &&
		    (size_t)(p + n - slash - 1) == wl &&
		    strncasecmp(slash + 1, LK_SHAPE_WATCHER, wl) == 0) {
			lk_shape_watcher(&b);
			break;
		}
		lk_obuf_puts(&b, "{\"message\":\"watcher ");
		lk_json_put_chars(&b, p, LK_MIN(n, (size_t)256));
		lk_obuf_puts(&b, " not found\"}\n");
		buf[b.len] = '\0';
		lk__sess_respond_json(c, 404, NULL, buf);
		return;
	}
	case LK_ROUTE_EMPTY_LIST:
		lk_obuf_puts(&b, "[]");
		break;
	case LK_ROUTE_NOT_IMPL:
		lk__sess_respond_json(c, 501, NULL,
				      "{\"error\":\"not implemented in v1.0\",\"message\":\"registry "
				      "checking is performed by the Drydock controller\"}\n");
		return;
	case LK_ROUTE_GEN_VERSION:
		lk_obuf_puts(&b, "{\"agentVersion\":");
		lk_json_put_str(&b, lk_version(), strlen(lk_version()));
		lk_obuf_puts(&b, ",\"protocolName\":\"lookout\",\"protocolVersion\":\"1.0\","
				 "\"adapter\":\"generic\"}");
		break;
	default:
		LK_UNREACHABLE();
	}
	lk_obuf_puts(&b, "\n");
	buf[b.len] = '\0';
	lk__sess_respond_json(c, 200, NULL, buf);
}

/* control_submit hands the request to the control thread and parks the
 * connection until the answer comes back through on_wake. */
static void control_submit(struct lk_conn *c)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	enum lk_ctl_kind kind;

	switch ((enum lk_route)x->route) {
	case LK_ROUTE_INFO:
		kind = LK_CTL_INFO;
		break;
	case LK_ROUTE_METRICS:
		kind = LK_CTL_METRICS;
		break;
	case LK_ROUTE_CONTAINERS:
		kind = LK_CTL_CONTAINERS;
		break;
	case LK_ROUTE_CONTAINER_DEL:
		kind = LK_CTL_CONTAINER_DELETE;
		break;
	case LK_ROUTE_LOGS:
		kind = LK_CTL_LOGS;
		break;
	case LK_ROUTE_EVENTS:
		kind = LK_CTL_SSE_START;
		break;
	default:
		kind = LK_CTL_MCP;
		break;
	}
	uint64_t cookie = new_cookie(c);

	/* A signed body was read under the 64 MiB signed-request limit: the
	 * control thread's own limit still applies. */
	if (x->body_len > LK_CTL_BODY_MAX) {
		lk__sse_unsubscribe(c);
		too_large(c, LK_CTL_BODY_MAX);
		return;
	}
	if (lk_ctl_submit(srv->ctl, c->w->id, kind, x->req.method, x->req.method_len,
			  x->req.target, x->req.target_len, x->body, x->body_len, cookie) < 0) {
		lk__sse_unsubscribe(c);
		lk__sess_respond_json(c, 503, "Retry-After: 1\r\n",
				      "{\"message\":\"control plane busy, retry\"}\n");
		return;
	}
	x->auth_cookie = cookie;
	lk__sess_set_state(c, LK_CS_CONTROL);
	lk__sess_arm_timer(c, LK_TQ_REQUEST);
}

static void respond_limited(struct lk_conn *c, const char *json)
{
	sw_of(c)->stats.auth_limited++;
	lk__sess_respond_json(c, 429, NULL, json);
}

/* deny refuses a request whose credential failed: one failure for the
 * client, 401 with the signature reason if there is one. */
static void deny(struct lk_conn *c, enum lk_sig_reason why)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	const char *reason = why != LK_SIG_OK ? lk_sig_reason_str(why) : NULL;
	char extra[64];

	sw_of(c)->stats.auth_failures++;
	sw_of(c)->stats.auth_by_reason[why < 5 ? why : 0]++;
	LK_LOG(LK_LOG_WARN, "authentication failed", LK_LOG_STR("ip", x->actor),
	       LK_LOG_STR("reason", reason != NULL ? reason : "no valid token"));
	audit(c, LK_AUDIT_EVENT_AUTH_FAILURE, LK_AUDIT_OUTCOME_DENIED,
	      reason != NULL ? reason : "no valid token", 401);
	/* A full limiter table cannot record the failure: fail closed. */
	if (srv->limiter != NULL && lk_limiter_fail(srv->limiter, &x->ipkey, c->w->now_ms) < 0) {
		respond_limited(c, "{\"message\":\"too many failed attempts\"}\n");
		return;
	}
	if (reason != NULL)
		snprintf(extra, sizeof(extra), "X-Lookout-Reason: %s\r\n", reason);
	lk__sess_respond_json(c, 401, reason != NULL ? extra : NULL, "{\"message\":\"unauthorized\"}\n");
}

static void too_large(struct lk_conn *c, uint32_t limit)
{
	char body[96];

	sw_of(c)->stats.body_refused++;
	c->flags |= LK_SF_CLOSE_AFTER;
	snprintf(body, sizeof(body), "{\"message\":\"request body larger than %u bytes\"}\n", limit);
	lk__sess_respond_json(c, 413, NULL, body);
}

/* ---- the body buffer ------------------------------------------------------ */

void lk__admit_body_free(struct lk_conn *c)
{
	struct lk_sess_ctx *x = ctx_of(c);

	if (x == NULL || x->body_use == 0)
		return;
	if (x->body != NULL) {
		atomic_fetch_sub_explicit(&srv_of(c)->body_bytes, x->body_cap, memory_order_relaxed);
		free(x->body);
	}
	x->body = NULL;
	x->body_len = x->body_cap = 0;
	x->body_use = 0;
}

/* body_reserve makes room for want bytes in all, within the agent-wide
 * budget. Returns 0, or -ENOMEM (budget or allocation). */
static int body_reserve(struct lk_conn *c, uint64_t want)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sess_ctx *x = ctx_of(c);

	if (want <= x->body_cap)
		return 0;
	uint64_t cap = LK_MAX((uint64_t)x->body_cap * 2, want);
	cap = LK_MIN(cap, (uint64_t)x->body_max);
	if (cap < want)
		cap = want;
	uint64_t grow = cap - x->body_cap;
	uint64_t was = atomic_fetch_add_explicit(&srv->body_bytes, grow, memory_order_relaxed);
	char *p = was + grow <= LK_BODY_BUDGET ? realloc(x->body, cap) : NULL;

	if (p == NULL) {
		atomic_fetch_sub_explicit(&srv->body_bytes, grow, memory_order_relaxed);
		return -ENOMEM;
	}
	x->body = p;
	x->body_cap = (uint32_t)cap;
	return 0;
}

static void body_budget_exhausted(struct lk_conn *c)
{
	sw_of(c)->stats.body_refused++;
	c->flags |= LK_SF_CLOSE_AFTER;
	lk__sess_respond_json(c, 503, "Retry-After: 1\r\n",
			      "{\"message\":\"request body buffer capacity exhausted, retry\"}\n");
}

static bool body_complete(const struct lk_sess_ctx *x)
{
	return x->body_end;
}

/* body_take appends the body bytes among p[0..n) to the buffer and returns
 * how many were body (the rest belongs to the next request), or -1 after it
 * answered an error. */
static ssize_t body_take(struct lk_conn *c, const char *p, size_t n)
{
	struct lk_sess_ctx *x = ctx_of(c);
	size_t take;

	if (x->body_chunked) {
		bool done = false;
		ssize_t k = lk_http_chunked_scan(&x->body_ch, p, n, &done);

		if (k < 0) {
			if (x->body_ch.status == 413) {
				too_large(c, x->body_max - LK_BODY_FRAMING_SLACK);
				return -1;
			}
			sw_of(c)->stats.bad_requests++;
			c->flags |= LK_SF_CLOSE_AFTER;
			lk__sess_respond_json(c, x->body_ch.status, NULL,
					      "{\"message\":\"malformed chunked request body\"}\n");
			return -1;
		}
		take = (size_t)k;
		x->body_end = done;
	} else {
		take = (size_t)LK_MIN((uint64_t)n, x->body_left);
		x->body_left -= take;
		x->body_end = x->body_left == 0;
	}
	if ((uint64_t)x->body_len + take > x->body_max) {
		too_large(c, x->body_chunked ? x->body_max - LK_BODY_FRAMING_SLACK : x->body_max);
		return -1;
	}
	if (body_reserve(c, (uint64_t)x->body_len + take) < 0) {
		body_budget_exhausted(c);
		return -1;
	}
	memcpy(x->body + x->body_len, p, take);
	x->body_len += (uint32_t)take;
	return (ssize_t)take;
}

void lk__admit_body(struct lk_conn *c, const char *p, size_t n)
{
	struct lk_sess_ctx *x = ctx_of(c);

	if (c->state != LK_CS_BODY || body_complete(x))
		goto rest;
	ssize_t k = body_take(c, p, n);
	if (k < 0)
		return;
	p += k;
	n -= (size_t)k;
rest:
	if (n == 0 || c->state != LK_CS_BODY)
		return;
	/* Pipelined bytes of the next request: keep them if they fit. */
	size_t room = sizeof(x->in) - x->in_len;
	if (n > room) {
		c->flags |= LK_SF_CLOSE_AFTER;
		n = room;
	}
	memcpy(x->in + x->in_len, p, n);
	x->in_len += (uint32_t)n;
}

static void signed_finish(struct lk_conn *c);
static void enroll_finish(struct lk_conn *c);

static void body_done(struct lk_conn *c)
{
	struct lk_sess_ctx *x = ctx_of(c);

	lk_timer_cancel(&c->timer);
	if (x->body_chunked && x->body_len != 0) {
		/* The verified bytes are the decoded body; they are forwarded with
		 * Content-Length (the framing is not signed). */
		struct lk_http_chunked ch;
		size_t len = x->body_len;

		lk_http_chunked_init(&ch, 0);
		ssize_t rc = lk_http_chunked_decode(&ch, x->body, &len);
		/* The scan accepted exactly these bytes; a decoder that still
		 * disagrees is answered, never asserted on (peer input). */
		if (rc < 0) {
			sw_of(c)->stats.bad_requests++;
			c->flags |= LK_SF_CLOSE_AFTER;
			lk__sess_respond_json(c, 400, NULL,
					      "{\"message\":\"malformed chunked request body\"}\n");
			return;
		}
		x->body_len = (uint32_t)len;
	}
	if (x->body_use == LK_BODY_SIGNED)
		signed_finish(c);
	else if (x->body_use == LK_BODY_ENROLL)
		enroll_finish(c);
	else
		control_submit(c);
}

void lk__admit_body_more(struct lk_conn *c)
{
	struct lk_sess_ctx *x = ctx_of(c);

	if (c->state != LK_CS_BODY)
		return;
	if (body_complete(x)) {
		body_done(c);
		return;
	}
	if (c->flags & LK_SF_CLI_EOF) {
		lk__sess_close(c);
		return;
	}
	/* Each piece of the body must come within IDLE_TIMEOUT of the last. */
	lk__sess_arm_timer(c, LK_TQ_IDLE);
	lk__sess_arm_recv(c);
}

static bool expects_continue(const struct lk_http_req *r)
{
	const struct lk_http_header *h = lk_http_find(r->headers, r->n_headers, "expect");

	return h != NULL && h->value_len == 12 && strncasecmp(h->value, "100-continue", 12) == 0;
}

/* body_start reads the request body into the buffer, at most max bytes,
 * then continues with body_done. */
static void body_start(struct lk_conn *c, enum lk_body_use use, uint32_t max)
{
	struct lk_sess_ctx *x = ctx_of(c);
	const struct lk_http_req *r = &x->req;
	enum lk_http_body bb = lk_http_req_body(r);

	x->body_use = (uint8_t)use;
	x->body = NULL;
	x->body_len = x->body_cap = 0;
	x->body_chunked = bb == LK_HTTP_BODY_CHUNKED;
	x->body_left = bb == LK_HTTP_BODY_LENGTH ? (uint64_t)r->content_length : 0;
	x->body_end = bb == LK_HTTP_BODY_NONE;
	x->body_max = max;
	if (bb == LK_HTTP_BODY_LENGTH && x->body_left > max) {
		too_large(c, max);
		return;
	}
	if (x->body_chunked) {
		lk_http_chunked_init(&x->body_ch, max);
		x->body_max = max + LK_BODY_FRAMING_SLACK;
	}
	/* The buffer grows with what arrives, never with what a head claims:
	 * a client announcing 64 MiB and sending nothing holds 16 KiB of the
	 * agent-wide budget. */
	uint64_t first = LK_MIN((uint64_t)LK_BODY_INITIAL,
				x->body_chunked ? (uint64_t)max : x->body_left);
	if (first != 0 && body_reserve(c, first) < 0) {
		body_budget_exhausted(c);
		return;
	}
	lk__sess_set_state(c, LK_CS_BODY);
	/* Body bytes that came with the head. */
	uint32_t have = x->in_len - x->req.head_len;
	if (have != 0 && !body_complete(x)) {
		ssize_t k = body_take(c, x->in + x->req.head_len, have);
		if (k < 0)
			return;
		x->consumed = x->req.head_len + (uint32_t)k;
	}
	/* A client waiting for 100 Continue (curl, above 1 MiB) gets it now,
	 * not after its own timeout. */
	if (!body_complete(x) && x->req.minor == 1 && expects_continue(&x->req))
		lk__sess_send_continue(c);
	lk__admit_body_more(c);
}

/* ---- Ed25519 signed requests ---------------------------------------------- */

static uint32_t max_skew(const struct lk_conn *c)
{
	int s = ((const struct lk_sworker *)c->w->data)->srv->cfg->max_clock_skew_s;

	return s > 0 ? (uint32_t)s : 60;
}

/* sig_check runs lk_sig_verify against the current key snapshot and copies
 * the signing key's ID on success. */
static enum lk_sig_reason sig_check(struct lk_conn *c, const char *canon, size_t len,
				    uint64_t now_ms)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	const struct lk_pubkey *k = NULL;
	const struct lk_registry *reg = lk_registry_enter(srv->keys, c->w->id);
	enum lk_sig_reason v = lk_sig_verify(&x->sig, canon, len, reg, now_ms, max_skew(c), &k);

	if (v == LK_SIG_OK)
		memcpy(x->key_id, k->id, sizeof(x->key_id));
	lk_registry_leave(srv->keys, c->w->id);
	return v;
}

static void signed_start(struct lk_conn *c, enum lk_sig_reason v)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	uint64_t now_ms = wall_ms();

	if (v != LK_SIG_OK) {
		deny(c, v);
		return;
	}
	/* Everything the head alone decides comes before the body is read:
	 * an unknown key, a stale timestamp or a replayed nonce costs no body
	 * buffer. With no canonical string, a key and timestamp that pass give
	 * LK_SIG_INVALID. */
	v = sig_check(c, NULL, 0, now_ms);
	if (v == LK_SIG_UNKNOWN_KEY || v == LK_SIG_SKEW) {
		deny(c, v);
		return;
	}
	if (lk_nonce_seen(srv->nonces, x->sig.nonce, now_ms / 1000)) {
		deny(c, LK_SIG_REPLAY);
		return;
	}
	x->key_id[0] = '\0';
	body_start(c, LK_BODY_SIGNED, LK_SIG_BODY_MAX);
}

static void signed_finish(struct lk_conn *c)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	uint8_t digest[LK_SHA256_LEN];
	char canon[LK_SIG_CANONICAL_MAX];
	size_t len = 0;
	uint64_t now_ms = wall_ms();

	lk_crypto_sha256(x->body != NULL ? x->body : "", x->body_len, digest);
	int rc = lk_sig_canonical(&x->req, &x->sig, digest, canon, sizeof(canon), &len);
	enum lk_sig_reason v = sig_check(c, rc == 0 ? canon : NULL, len, now_ms);

	/* The reference reports a seen nonce before the signature check. */
	if (v == LK_SIG_INVALID && lk_nonce_seen(srv->nonces, x->sig.nonce, now_ms / 1000))
		v = LK_SIG_REPLAY;
	if (v != LK_SIG_OK) {
		x->key_id[0] = '\0';
		deny(c, v);
		return;
	}
	switch (lk_nonce_insert(srv->nonces, x->sig.nonce, now_ms / 1000)) {
	case LK_NONCE_FRESH:
		break;
	case LK_NONCE_REPLAY:
		x->key_id[0] = '\0';
		deny(c, LK_SIG_REPLAY);
		return;
	case LK_NONCE_FULL:
		/* Never accepted unrecorded; not the client's failure either. */
		sw_of(c)->stats.nonce_full++;
		LK_LOG(LK_LOG_ERROR, "nonce table full: signed request refused",
		       LK_LOG_STR("key_id", x->key_id));
		lk__sess_respond_json(c, 503, "Retry-After: 1\r\n",
				      "{\"message\":\"replay protection capacity exhausted, retry\"}\n");
		return;
	}
	x->cred = LK_CRED_ED25519;
	sw_of(c)->stats.signed_ok++;
	admitted(c);
}

/* ---- tokens ----------------------------------------------------------------- */

static void token_hash_start(struct lk_conn *c)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sworker *sw = sw_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	const char *tok;
	size_t len;

	enum lk_auth_verdict v = lk_auth_find_token(&x->req, &tok, &len);

	if (v != LK_AUTH_NO_CREDENTIALS)
		x->cred = LK_CRED_ARGON2; /* what a refusal was for (audit) */
	if (v != LK_AUTH_OK) {
		deny(c, LK_SIG_OK);
		return;
	}
	uint64_t cookie = new_cookie(c);

	switch (lk_verifier_submit(srv->verifier, c->w->id, tok, len, cookie, c->w->now_ms / 1000)) {
	case LK_VERIFY_OK:
		x->cred = LK_CRED_ARGON2;
		admitted(c);
		break;
	case LK_VERIFY_PENDING:
		x->auth_cookie = cookie;
		lk__sess_set_state(c, LK_CS_AUTH);
		lk__sess_arm_timer(c, LK_TQ_REQUEST);
		break;
	case LK_VERIFY_BUSY:
		/* Not the client's failure: the pool is saturated. */
		sw->stats.verify_busy++;
		lk__sess_respond_json(c, 429, "Retry-After: 1\r\n",
				      "{\"message\":\"authentication verification capacity exceeded\"}\n");
		break;
	case LK_VERIFY_DENY:
		deny(c, LK_SIG_OK);
		break;
	}
}

/* new_cookie names the request c is about to park for an answer from
 * another thread (a verdict, a control-thread answer): the worker's sequence
 * number above the slot index, so parked() finds the slot and tells a late
 * answer for an earlier request apart. */
static uint64_t new_cookie(struct lk_conn *c)
{
	struct lk_sworker *sw = sw_of(c);

	return (++sw->cookie_seq << LK_UD_IDX_BITS) | (uint32_t)(c - c->w->conns);
}

/* parked returns the connection a cookie names if it still waits in state
 * for that very request, else NULL (timed out, closed, moved on). */
static struct lk_conn *parked(struct lk_worker *w, uint64_t cookie, enum lk_conn_state state)
{
	uint32_t idx = (uint32_t)(cookie & LK_UD_GEN_MASK);
	struct lk_conn *c;

	if (idx >= w->n_conns)
		return NULL;
	c = &w->conns[idx];
	if (!(c->flags & LK_CONN_F_LIVE) || lk_conn_is_closing(c) || c->state != state ||
	    c->ctx == NULL || ctx_of(c)->auth_cookie != cookie)
		return NULL;
	return c;
}

static void control_results(struct lk_worker *w)
{
	struct lk_sworker *sw = w->data;
	struct lk_ctl_result res[LK_VERDICTS_PER_DRAIN];
	size_t n;

	while ((n = lk_ctl_drain(sw->srv->ctl, w->id, res, LK_VERDICTS_PER_DRAIN)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct lk_conn *c = parked(w, res[i].cookie, LK_CS_CONTROL);

			if (c != NULL) {
				lk_timer_cancel(&c->timer);
				if (c->ext != NULL && res[i].status == 200) {
					lk__sse_begin(c, res[i].generation, res[i].body, res[i].len);
				} else {
					lk__sse_unsubscribe(c);
					lk__sess_respond(c, res[i].status, res[i].ctype, res[i].body,
							  res[i].body != NULL ? res[i].len : 0);
				}
			}
			free(res[i].body);
		}
	}
}

void lk__admit_on_wake(struct lk_worker *w)
{
	struct lk_sworker *sw = w->data;
	struct lk_verify_result res[LK_VERDICTS_PER_DRAIN];
	size_t n;

	if (sw->srv->ctl != NULL)
		control_results(w);
	lk__sse_on_wake(w);
	if (sw->srv->verifier == NULL)
		return;
	while ((n = lk_verifier_drain(sw->srv->verifier, w->id, res, LK_VERDICTS_PER_DRAIN)) > 0) {
		for (size_t i = 0; i < n; i++) {
			/* The connection may have timed out, closed, or moved on
			 * to another request since: the cookie says. */
			struct lk_conn *c = parked(w, res[i].cookie, LK_CS_AUTH);

			if (c == NULL)
				continue;
			lk_timer_cancel(&c->timer);
			if (res[i].ok) {
				ctx_of(c)->cred = LK_CRED_ARGON2;
				admitted(c);
			} else {
				deny(c, LK_SIG_OK);
			}
		}
	}
}

void lk__admit_on_timer(struct lk_conn *c)
{
	if (c->state == LK_CS_CONTROL) {
		lk__sse_unsubscribe(c);
		c->flags |= LK_SF_CLOSE_AFTER;
		lk__sess_respond_json(c, 503, NULL,
				      "{\"message\":\"the control plane did not answer in time\"}\n");
		return;
	}
	if (c->state == LK_CS_AUTH) {
		c->flags |= LK_SF_CLOSE_AFTER;
		lk__sess_respond_json(c, 503, NULL,
				      "{\"message\":\"authentication verification timed out\"}\n");
		return;
	}
	/* LK_CS_BODY: the client stopped sending its body. */
	sw_of(c)->stats.header_timeouts++;
	c->flags |= LK_SF_CLOSE_AFTER;
	lk__sess_respond_json(c, 408, NULL, "{\"message\":\"request body timeout\"}\n");
}

/* ---- enrollment ------------------------------------------------------------- */

/* enroll_finish decides an enrollment whose body is in (spec 6.6). The one
 * successful attempt writes and fsyncs two small files and reloads the keys
 * on this ring thread: it happens once per token, and wrong tokens do no I/O
 * at all, so no client can make a worker block twice. */
static void enroll_finish(struct lk_conn *c)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	struct lk_enroll_req rq;
	char msg[LK_ENROLL_MSG_MAX], kid[LK_KEYS_ID_LEN + 1] = "";
	char body[LK_ENROLL_MSG_MAX + 64];
	struct lk_ip_key peer_key;

	if (lk_enroll_parse(x->body != NULL ? x->body : "", x->body_len, &rq, msg, sizeof(msg)) < 0) {
		/* Not audited, not counted (spec 6.6 step 1). */
		lk__sess_respond_json(c, 400, NULL, "{\"message\":\"invalid JSON\"}\n");
		return;
	}
	enum lk_enroll_verdict v = lk_enroll_attempt(srv->enroll, &rq, kid, msg, sizeof(msg));
	lk_enroll_req_done(&rq);
	/* The limiter key stays the forwarded client; the audit actor of an
	 * enrollment is the TCP peer (spec 6.6 step 2). */
	client(c, true, &peer_key);
	switch (v) {
	case LK_ENROLL_OK:
		memcpy(x->key_id, kid, sizeof(x->key_id));
		LK_LOG(LK_LOG_INFO, "enrollment successful", LK_LOG_STR("key_id", kid),
		       LK_LOG_STR("actor", x->actor));
		if (msg[0] != '\0')
			LK_LOG(LK_LOG_ERROR, "enrollment: not durable", LK_LOG_STR("error", msg));
		if (lk_server_reload_keys(srv, "enrollment") < 0)
			LK_LOG(LK_LOG_ERROR, "enrollment: registry reload failed");
		audit(c, LK_AUDIT_EVENT_ENROLLMENT, LK_AUDIT_OUTCOME_ALLOWED, NULL, 200);
		snprintf(body, sizeof(body), "{\"key_id\":\"%s\",\"comment\":\"enrolled:%s\"}\n", kid, kid);
		lk__sess_respond_json(c, 200, NULL, body);
		return;
	case LK_ENROLL_BURNED:
	case LK_ENROLL_WRONG:
		LK_LOG(LK_LOG_WARN,
		       v == LK_ENROLL_BURNED ? "enrollment attempt after token burned"
					     : "enrollment failed: wrong token",
		       LK_LOG_STR("actor", x->actor));
		audit(c, LK_AUDIT_EVENT_ENROLLMENT, LK_AUDIT_OUTCOME_DENIED,
		      v == LK_ENROLL_BURNED ? "token already used" : "wrong token", 401);
		sw_of(c)->stats.auth_failures++;
		/* A 401 counts one failure for the client (spec 6.6). */
		if (srv->limiter != NULL)
			(void)lk_limiter_fail(srv->limiter, &x->ipkey, c->w->now_ms);
		break;
	case LK_ENROLL_IO:
		LK_LOG(LK_LOG_ERROR, "enrollment failed: cannot write authorized_keys",
		       LK_LOG_STR("error", msg));
		break;
	case LK_ENROLL_BAD_KEY:
	case LK_ENROLL_BUSY:
	case LK_ENROLL__COUNT:
		break;
	}
	struct lk_obuf b;
	lk_obuf_init(&b, body, sizeof(body));
	const char *m = lk_enroll_message(v, msg);
	lk_obuf_puts(&b, "{\"message\":");
	lk_json_put_str(&b, m, strlen(m));
	lk_obuf_puts(&b, "}\n");
	body[LK_MIN(b.len, sizeof(body) - 1)] = '\0';
	lk__sess_respond_json(c, lk_enroll_status(v), NULL, body);
}

/* ---- entry -------------------------------------------------------------------- */

void lk__admit_request(struct lk_conn *c, bool enroll)
{
	struct lk_server *srv = srv_of(c);
	struct lk_sess_ctx *x = ctx_of(c);

	x->t0_ms = c->w->now_ms;
	x->cred = LK_CRED_NONE;
	x->audit_pending = false;
	x->actor[0] = '\0';
	x->key_id[0] = '\0';
	if (srv->limiter == NULL) {
		/* ALLOW_UNAUTHENTICATED: nothing to check (the configuration
		 * allowed it on loopback only). */
		admitted(c);
		return;
	}
	client(c, false, &x->ipkey);
	if (lk_limiter_is_limited(srv->limiter, &x->ipkey, c->w->now_ms)) {
		if (enroll) {
			respond_limited(c, "{\"message\":\"too many requests\"}\n");
			return;
		}
		audit(c, LK_AUDIT_EVENT_RATE_LIMITED, LK_AUDIT_OUTCOME_DENIED, "rate limited", 429);
		respond_limited(c, "{\"message\":\"too many failed attempts\"}\n");
		return;
	}
	if (enroll) {
		body_start(c, LK_BODY_ENROLL, LK_ENROLL_BODY_MAX);
		return;
	}
	if (srv->keys != NULL) {
		enum lk_sig_reason v = lk_sig_parse(&x->req, &x->sig);

		if (x->sig.present) {
			x->cred = LK_CRED_ED25519; /* also what a refusal was for */
			signed_start(c, v);
			return;
		}
	}
	if (srv->has_token) {
		enum lk_auth_verdict tv = lk_auth_check_token(&x->req, srv->token_digest);

		if (tv != LK_AUTH_NO_CREDENTIALS)
			x->cred = LK_CRED_TOKEN;
		if (tv == LK_AUTH_OK)
			admitted(c);
		else
			deny(c, LK_SIG_OK);
		return;
	}
	if (srv->verifier != NULL) {
		token_hash_start(c);
		return;
	}
	/* Keys only, and no signature. */
	deny(c, LK_SIG_OK);
}
