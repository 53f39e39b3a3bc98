/* proxy/session.c - HTTP/1.1 connections of standard mode (see session.h).
 *
 * Bytes arrive through provided-buffer receives (an idle connection holds no
 * buffer), are copied (plaintext) or decrypted (TLS) into the request
 * context's head buffer, and parsed incrementally. The request context comes
 * from a per-worker pool only while a request is in progress, so an idle
 * keep-alive connection costs its slot, its socket and, with TLS, its TLS
 * state. Control flow stays in the on_* dispatchers; leaves build bytes. */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/dbg.h"
#include "core/err.h"
#include "core/http.h"
#include "core/pool.h"
#include "core/timer.h"
#include "core/tls.h"
#include "core/version.h"
#include "core/worker.h"
#include "proxy/relay.h"
#include "proxy/routes.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/session_int.h"


static const char ping_req[] = "GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: lookout\r\n\r\n";

static const char *const state_names[LK_CS__COUNT] = {
	[LK_CS_FREE] = "free",		[LK_CS_TLS_HANDSHAKE] = "tls_handshake",
	[LK_CS_READ_HEAD] = "read_head", [LK_CS_AUTH] = "auth",
	[LK_CS_BODY] = "body",		[LK_CS_CONTROL] = "control",
	[LK_CS_SSE] = "sse",
	[LK_CS_UPSTREAM] = "upstream",
	[LK_CS_PROXY] = "proxy",	[LK_CS_RELAY] = "relay",
	[LK_CS_RESP] = "resp",		[LK_CS_CLOSING] = "closing",
};

const char *lk_conn_state_str(enum lk_conn_state s)
{
	return s < LK_CS__COUNT ? state_names[s] : "?";
}

static struct lk_sworker *sw_of(struct lk_worker *w)
{
	return w->data;
}

static struct lk_sess_ctx *ctx_of(struct lk_conn *c)
{
	return c->ctx;
}

/* conn_set_state is the only place c->state changes; the table is the state
 * machine's definition. */
void lk__sess_set_state(struct lk_conn *c, enum lk_conn_state to)
{
	static const uint32_t legal[LK_CS__COUNT] = {
		[LK_CS_FREE] = 1u << LK_CS_TLS_HANDSHAKE | 1u << LK_CS_READ_HEAD,
		[LK_CS_TLS_HANDSHAKE] = 1u << LK_CS_READ_HEAD | 1u << LK_CS_CLOSING,
		[LK_CS_READ_HEAD] = 1u << LK_CS_READ_HEAD | 1u << LK_CS_AUTH | 1u << LK_CS_BODY |
				    1u << LK_CS_CONTROL | 1u << LK_CS_SSE | 1u << LK_CS_UPSTREAM |
				    1u << LK_CS_PROXY | 1u << LK_CS_RESP | 1u << LK_CS_CLOSING,
		[LK_CS_AUTH] = 1u << LK_CS_PROXY | 1u << LK_CS_BODY | 1u << LK_CS_CONTROL |
			       1u << LK_CS_SSE | 1u << LK_CS_RESP | 1u << LK_CS_CLOSING,
		[LK_CS_BODY] = 1u << LK_CS_PROXY | 1u << LK_CS_CONTROL | 1u << LK_CS_SSE |
			       1u << LK_CS_RESP | 1u << LK_CS_CLOSING,
		[LK_CS_CONTROL] = 1u << LK_CS_RESP | 1u << LK_CS_SSE | 1u << LK_CS_CLOSING,
		[LK_CS_SSE] = 1u << LK_CS_CLOSING,
		[LK_CS_UPSTREAM] = 1u << LK_CS_RESP | 1u << LK_CS_CLOSING,
		[LK_CS_PROXY] = 1u << LK_CS_RELAY | 1u << LK_CS_RESP | 1u << LK_CS_CLOSING,
		[LK_CS_RELAY] = 1u << LK_CS_READ_HEAD | 1u << LK_CS_CLOSING,
		[LK_CS_RESP] = 1u << LK_CS_READ_HEAD | 1u << LK_CS_CLOSING,
		[LK_CS_CLOSING] = 0,
	};

	LK_ASSERT(c->state < LK_CS__COUNT && to < LK_CS__COUNT);
	LK_ASSERT(legal[c->state] & (1u << to));
	c->state = (uint8_t)to;
}

void lk__sess_close(struct lk_conn *c)
{
	if (lk_conn_is_closing(c))
		return;
	lk__sess_set_state(c, LK_CS_CLOSING);
	lk_conn_close(c);
}

static struct lk_sess_ctx *ctx_get(struct lk_conn *c)
{
	struct lk_sworker *sw = sw_of(c->w);
	struct lk_sess_ctx *x = c->ctx;

	if (x != NULL)
		return x;
	x = lk_pool_get(&sw->ctx_pool);
	if (x == NULL) {
		sw->stats.ctx_exhausted++;
		return NULL;
	}
	x->in_len = 0;
	x->out_len = x->out_off = 0;
	x->up_len = x->up_sent = 0;
	x->head_only = false;
	x->body_use = 0;
	x->body = NULL;
	x->big = NULL;
	x->t0_us = 0;
	x->audit_pending = false;
	lk_http_parser_init(&x->parser, 0);
	c->ctx = x;
	return x;
}

void lk__sess_ctx_put(struct lk_conn *c)
{
	if (c->ctx == NULL)
		return;
	/* An admitted mutating request still waiting for its status ends
	 * here without one (the client left or a relay failed before Docker
	 * answered): Docker may have acted on it, so it is audited with status
	 * 0, "no status seen" (auth/audit.h). */
	lk__admit_audit_status(c, 0);
	lk__admit_body_free(c);
	free(ctx_of(c)->big);
	ctx_of(c)->big = NULL;
	lk_pool_put(&sw_of(c->w)->ctx_pool, c->ctx);
	c->ctx = NULL;
}

void lk__sess_arm_recv(struct lk_conn *c)
{
	if (c->flags & (LK_SF_RECV | LK_SF_CLI_EOF))
		return;
	if (lk_conn_recv_pbuf(c, LK_AUX_CLI, LK_PBUF_GROUP_CLI) < 0) {
		lk__sess_close(c);
		return;
	}
	c->flags |= LK_SF_RECV;
}

static void on_timer(struct lk_timer *t);

void lk__sess_arm_timer(struct lk_conn *c, unsigned which)
{
	struct lk_sworker *sw = sw_of(c->w);

	if (sw->tq[which] == LK_TQ_NONE) {
		lk_timer_cancel(&c->timer);
		return;
	}
	lk_conn_timer_arm(c, sw->tq[which], on_timer);
}

/* flush_out queues the next send of pending output: TLS ciphertext, or the
 * rest of the plaintext response. One send in flight at a time. */
void lk__sess_flush(struct lk_conn *c)
{
	struct lk_sess_ctx *x = ctx_of(c);
	const void *p = NULL;
	size_t n = 0;

	if (c->flags & LK_SF_SEND)
		return;
	if (c->tls != NULL) {
		/* Feed the encryptor as much of the response as it takes. */
		while (x != NULL && x->out_off < x->out_len) {
			const char *base = x->big != NULL ? x->big : x->out;
			ssize_t k = lk_tls_write(c->tls, base + x->out_off, x->out_len - x->out_off);
			if (k == LK_AGAIN)
				break;
			if (k < 0) {
				lk__sess_close(c);
				return;
			}
			x->out_off += (uint32_t)k;
		}
		n = lk_tls_out_peek(c->tls, &p);
	} else if (x != NULL && x->out_off < x->out_len) {
		p = (x->big != NULL ? x->big : x->out) + x->out_off;
		n = x->out_len - x->out_off;
	}
	if (n == 0)
		return;
	if (lk_conn_send(c, LK_AUX_CLI, p, (unsigned)LK_MIN(n, (size_t)1 << 30)) < 0) {
		lk__sess_close(c);
		return;
	}
	c->flags |= LK_SF_SEND;
}

/* respond builds a complete response and starts sending it: in the
 * context's out buffer, or, for a body that does not fit there (the control
 * thread's answers), head and body copied into one heap buffer. body may be
 * NULL for an empty body; extra, if not NULL, is one or more complete header
 * lines. */
static void respond_x(struct lk_conn *c, int status, const char *ctype, const char *extra,
		      const char *body, size_t body_len)
{
	struct lk_sess_ctx *x = ctx_of(c);
	struct lk_obuf b;

	LK_ASSERT(x != NULL);
	free(x->big);
	x->big = NULL;
	lk_obuf_init(&b, x->out, sizeof(x->out));
	lk_http_write_status(&b, status);
	if (ctype != NULL)
		lk_http_write_header(&b, "Content-Type", ctype, strlen(ctype));
	if (extra != NULL)
		lk_obuf_puts(&b, extra);
	lk_http_write_header_u64(&b, "Content-Length", body_len);
	if (c->flags & LK_SF_CLOSE_AFTER)
		lk_http_write_header(&b, "Connection", "close", 5);
	lk_obuf_put(&b, "\r\n", 2);
	LK_ASSERT(!b.overflow); /* our own heads are small and fixed */
	size_t send_len = x->head_only || body == NULL ? 0 : body_len;
	if (send_len <= lk_obuf_room(&b)) {
		lk_obuf_put(&b, body, send_len);
		lk__sess_send_response(c, status, b.len);
		return;
	}
	size_t total = b.len + send_len;
	char *big = total <= UINT32_MAX ? malloc(total) : NULL;
	if (big == NULL) {
		/* The small answer always fits in out. */
		lk__sess_respond_json(c, 503, NULL, "{\"message\":\"out of memory\"}\n");
		return;
	}
	memcpy(big, x->out, b.len);
	memcpy(big + b.len, body, send_len);
	x->big = big;
	lk__sess_send_response(c, status, (uint32_t)total);
}

void lk__sess_respond(struct lk_conn *c, int status, const char *ctype, const char *body,
		      size_t body_len)
{
	respond_x(c, status, ctype, NULL, body, body_len);
}

void lk__sess_respond_json(struct lk_conn *c, int status, const char *extra, const char *json)
{
	/* A refused request's body was not read: the stream cannot be
	 * resynchronised unless the whole body is already in. */
	if (lk_http_req_body(&ctx_of(c)->req) != LK_HTTP_BODY_NONE &&
	    !(c->state == LK_CS_BODY && ctx_of(c)->body_use != 0 && ctx_of(c)->body_end))
		c->flags |= LK_SF_CLOSE_AFTER;
	respond_x(c, status, "application/json", extra, json, strlen(json));
}

void lk__sess_count(struct lk_conn *c, int status, enum lk_rclass cls)
{
	struct lk_sess_ctx *x = ctx_of(c);
	struct lk_server_stats *st = &sw_of(c->w)->stats;

	if (x == NULL || x->counted || x->t0_us == 0)
		return;
	x->counted = true;
	uint64_t us = lk_time_us() - x->t0_us;
	unsigned b = 0;

	while (b < LK_LAT_BUCKETS && us > lk_lat_bounds_us[b])
		b++;
	st->lat[cls][b]++;
	st->lat_sum_us[cls] += us;
	st->by_status[cls][status >= 100 && status < 600 ? status / 100 : 0]++;
}

void lk__sess_send_response(struct lk_conn *c, int status, uint32_t len)
{
	struct lk_sess_ctx *x = ctx_of(c);
	enum lk_route rt = (enum lk_route)x->route;
	lk__sess_count(c, status, lk_route_public(rt)	    ? LK_RC_HEALTH
				  : rt == LK_ROUTE_NOT_FOUND ? LK_RC_PROXY
							     : LK_RC_AGENT);

	x->out_len = len;
	x->out_off = 0;
	lk__sess_set_state(c, LK_CS_RESP);
	/* A client that stops reading cannot pin the connection: the response
	 * must drain within IDLE_TIMEOUT. */
	lk__sess_arm_timer(c, LK_TQ_IDLE);
	lk__sess_flush(c);
}

static void respond_json(struct lk_conn *c, int status, const char *json)
{
	lk__sess_respond(c, status, "application/json", json, strlen(json));
}

/* respond_error answers a request we refuse and closes afterwards: after a
 * framing error the rest of the stream cannot be trusted. */
static void respond_error(struct lk_conn *c, int status, const char *reason)
{
	struct lk_sess_ctx *x = ctx_of(c);
	char body[160];
	struct lk_obuf b;

	lk_obuf_init(&b, body, sizeof(body));
	lk_obuf_puts(&b, "{\"error\":\"");
	lk_obuf_puts(&b, reason); /* static ASCII from the codec */
	lk_obuf_puts(&b, "\"}\n");
	LK_ASSERT(!b.overflow);
	c->flags |= LK_SF_CLOSE_AFTER;
	x->head_only = false;
	lk__sess_respond(c, status, "application/json", body, b.len);
}

void lk__sess_finish_close(struct lk_conn *c)
{
	if (c->tls == NULL || (c->flags & LK_SF_CLI_EOF)) {
		lk__sess_close(c);
		return;
	}
	/* Say goodbye with close_notify so the client can tell a complete
	 * response from a truncated one; bounded by the handshake timer. */
	c->flags |= LK_SF_TLS_BYE;
	int rc = lk_tls_shutdown(c->tls);

	if (rc < 0 && rc != LK_AGAIN) {
		lk__sess_close(c);
		return;
	}
	lk__sess_arm_timer(c, LK_TQ_HANDSHAKE);
	lk__sess_flush(c);
	if (!(c->flags & LK_SF_SEND))
		lk__sess_close(c);
}

static void try_parse(struct lk_conn *c);

/* tls_read_some decrypts what the engine holds into buf: > 0 bytes, 0 when
 * nothing is ready or the client sent close_notify (LK_SF_CLI_EOF then set),
 * or -errno for a TLS error. */
static ssize_t tls_read_some(struct lk_conn *c, void *buf, size_t cap)
{
	ssize_t k = lk_tls_read(c->tls, buf, cap);

	if (k == LK_AGAIN)
		return 0;
	if (k == 0)
		c->flags |= LK_SF_CLI_EOF;
	return k;
}

/* tls_pull decrypts what the TLS engine holds into the head buffer.
 * Returns 0, or -errno for a TLS error. Sets LK_SF_CLI_EOF on close_notify. */
static int tls_pull(struct lk_conn *c)
{
	struct lk_sess_ctx *x = ctx_get(c);

	if (x == NULL)
		return -ENOMEM;
	while (x->in_len < sizeof(x->in)) {
		ssize_t k = tls_read_some(c, x->in + x->in_len, sizeof(x->in) - x->in_len);

		if (k <= 0)
			return (int)k;
		x->in_len += (uint32_t)k;
	}
	return 0;
}

/* tls_pull_body decrypts a buffered body (LK_CS_BODY) into the body buffer
 * until it is complete; what follows it stays in the engine for the next
 * request. Returns 0, or -errno for a TLS error. */
static int tls_pull_body(struct lk_conn *c)
{
	char buf[4096];

	while (c->state == LK_CS_BODY && !ctx_of(c)->body_end) {
		ssize_t k = tls_read_some(c, buf, sizeof(buf));

		if (k <= 0)
			return (int)k;
		lk__admit_body(c, buf, (size_t)k);
	}
	return 0;
}

static void handshake_done(struct lk_conn *c)
{
	lk__sess_set_state(c, LK_CS_READ_HEAD);
	lk__sess_arm_timer(c, LK_TQ_HEADER);
}

/* tls_ingest hands received ciphertext to the engine, advancing the
 * handshake or decrypting into the head buffer as it goes, until all of it
 * was taken. Returns 0 or -errno. */
static int tls_ingest(struct lk_conn *c, const char *p, size_t n)
{
	unsigned stalls = 0;

	while (n > 0) {
		ssize_t k = lk_tls_feed(c->tls, p, n);

		if (k < 0)
			return (int)k;
		/* feed takes nothing only while its input buffer is full; the
		 * handshake or read below drains it. Twice in a row means the
		 * engine cannot make progress: a peer error. */
		if (k == 0 && ++stalls > 2)
			return -EPROTO;
		if (k > 0)
			stalls = 0;
		p += k;
		n -= (size_t)k;
		if (c->state == LK_CS_TLS_HANDSHAKE) {
			int hs = lk_tls_handshake(c->tls);

			if (hs < 0 && hs != LK_AGAIN)
				return hs;
			if (hs == 0)
				handshake_done(c);
		}
		if (c->state == LK_CS_BODY) {
			int rc = tls_pull_body(c);
			if (rc < 0)
				return rc;
		} else if (c->state == LK_CS_READ_HEAD) {
			int rc = tls_pull(c);
			if (rc < 0)
				return rc;
			/* A full head buffer with ciphertext left over: the
			 * parser reports 431 on what we have. */
			if (ctx_of(c)->in_len == sizeof(ctx_of(c)->in))
				return 0;
		}
	}
	return 0;
}

static int plain_ingest(struct lk_conn *c, const char *p, size_t n)
{
	struct lk_sess_ctx *x = ctx_get(c);

	if (x == NULL)
		return -ENOMEM;
	if (c->state == LK_CS_BODY) {
		lk__admit_body(c, p, n);
		return 0;
	}
	/* Bytes beyond the head buffer are dropped only when the head is
	 * already too large, which the parser answers with 431. */
	size_t take = LK_MIN(n, sizeof(x->in) - x->in_len);
	memcpy(x->in + x->in_len, p, take);
	x->in_len += (uint32_t)take;
	return 0;
}

static void on_cli_recv(struct lk_conn *c, uint8_t aux, int res, uint32_t flags)
{
	struct lk_worker *w = c->w;

	c->flags &= ~LK_SF_RECV;
	if (res == -ENOBUFS) {
		lk__sess_arm_recv(c);
		return;
	}
	if (res <= 0) {
		lk__sess_close(c);
		return;
	}
	const char *p = lk_worker_pbuf(w, aux, flags);
	int rc = c->tls != NULL ? tls_ingest(c, p, (size_t)res) : plain_ingest(c, p, (size_t)res);

	lk_worker_pbuf_put(w, aux, flags);
	if (rc == -ENOMEM) {
		/* No request context free: tell the client, without one. */
		sw_of(w)->stats.ctx_exhausted++;
		lk__sess_close(c);
		return;
	}
	if (rc < 0) {
		sw_of(w)->stats.tls_errors++;
		/* Send the alert the engine queued (protocol_version, handshake
		 * failure) so the client sees why, then close. */
		if (c->tls != NULL) {
			c->flags |= LK_SF_TLS_BYE | LK_SF_CLI_EOF;
			lk__sess_flush(c);
		}
		if (!(c->flags & LK_SF_SEND))
			lk__sess_close(c);
		return;
	}
	/* Whatever the engine produced (handshake flights, session tickets,
	 * alerts) goes out now, also when the handshake just completed. */
	if (c->tls != NULL)
		lk__sess_flush(c);
	if (c->state == LK_CS_TLS_HANDSHAKE)
		lk__sess_arm_recv(c);
	else if (c->state == LK_CS_READ_HEAD)
		try_parse(c);
	else if (c->state == LK_CS_BODY)
		lk__admit_body_more(c);
}

static void start_ping(struct lk_conn *c);

/* is_enroll tells whether r is an enrollment (spec 6.6: POST only; other
 * methods fall through to the proxy), when enrollment is configured. */
static bool is_enroll(const struct lk_server *srv, const struct lk_http_req *r)
{
	static const char a[] = "/api/lookout/enroll", b[] = "/api/portwing/enroll";

	if (srv->enroll == NULL || r->meth != LK_HTTP_POST)
		return false;
	return (r->path_len == sizeof(a) - 1 && memcmp(r->target, a, sizeof(a) - 1) == 0) ||
	       (r->path_len == sizeof(b) - 1 && memcmp(r->target, b, sizeof(b) - 1) == 0);
}

static void handle_request(struct lk_conn *c)
{
	struct lk_sworker *sw = sw_of(c->w);
	struct lk_sess_ctx *x = ctx_of(c);
	const struct lk_http_req *r = &x->req;

	lk_timer_cancel(&c->timer);
	sw->stats.requests++;
	x->head_only = r->meth == LK_HTTP_HEAD;
	enum lk_route route = lk_route_match(r, sw->srv->cfg->adapter == LK_ADAPTER_GENERIC);

	x->route = (uint8_t)route;
	x->counted = false;
	x->t0_us = lk_time_us();
	/* The public routes read no body, so a request carrying one is
	 * answered and the connection closed rather than resynchronised; the
	 * protected ones read or relay bodies and keep the connection. */
	if ((r->flags & LK_HTTP_F_CLOSE) || c->w->stopping ||
	    (lk_route_public(route) && lk_http_req_body(r) != LK_HTTP_BODY_NONE))
		c->flags |= LK_SF_CLOSE_AFTER;
	switch (route) {
	case LK_ROUTE_HEALTH:
		respond_json(c, 200, "{\"status\":\"ok\"}\n");
		break;
	case LK_ROUTE_DOCKER_HEALTH:
	case LK_ROUTE_READY:
		start_ping(c);
		break;
	default:
		/* Enrollment, the agent's protected routes, and everything else:
		 * Docker, behind the credential check (proxy/admit.c). */
		lk__admit_request(c, route == LK_ROUTE_NOT_FOUND && is_enroll(sw->srv, r));
		break;
	}
}

static void try_parse(struct lk_conn *c)
{
	struct lk_sess_ctx *x = ctx_of(c);

	if (x == NULL || x->in_len == 0) {
		if (c->flags & LK_SF_CLI_EOF)
			lk__sess_close(c);
		else
			lk__sess_arm_recv(c);
		return;
	}
	if (c->flags & LK_SF_IDLE) {
		/* First byte of the next request: from now on the head must
		 * arrive within HEADER_TIMEOUT. */
		c->flags &= ~LK_SF_IDLE;
		lk__sess_arm_timer(c, LK_TQ_HEADER);
	}
	ssize_t rc = lk_http_parse_request(&x->parser, x->in, x->in_len, &x->req);

	if (rc == LK_AGAIN) {
		if (x->in_len == sizeof(x->in)) {
			sw_of(c->w)->stats.bad_requests++;
			respond_error(c, 431, "request header fields too large");
		} else if (c->flags & LK_SF_CLI_EOF) {
			lk__sess_close(c);
		} else {
			lk__sess_arm_recv(c);
		}
		return;
	}
	if (rc < 0) {
		sw_of(c->w)->stats.bad_requests++;
		respond_error(c, x->parser.status, x->parser.reason);
		return;
	}
	x->consumed = x->req.head_len;
	handle_request(c);
}

/* next_idle waits for the next request with nothing buffered. */
static void next_idle(struct lk_conn *c)
{
	if (c->tls != NULL && tls_pull(c) == 0 && ctx_of(c) != NULL && ctx_of(c)->in_len > 0) {
		lk__sess_arm_timer(c, LK_TQ_HEADER);
		try_parse(c);
		return;
	}
	lk__sess_ctx_put(c);
	c->flags |= LK_SF_IDLE;
	lk__sess_arm_timer(c, LK_TQ_IDLE);
	if (c->flags & LK_SF_CLI_EOF)
		lk__sess_close(c);
	else
		lk__sess_arm_recv(c);
}

void lk__sess_next_request(struct lk_conn *c)
{
	struct lk_sess_ctx *x = ctx_of(c);

	lk__sess_set_state(c, LK_CS_READ_HEAD);
	if (x == NULL) {
		/* A stream released its context: nothing is pipelined. */
		next_idle(c);
		return;
	}
	uint32_t used = x->consumed;
	/* Pipelined bytes after this request's head start the next one. */
	lk__admit_body_free(c);
	free(x->big);
	x->big = NULL;
	if (x->in_len > used) {
		memmove(x->in, x->in + used, x->in_len - used);
		x->in_len -= used;
		lk_http_parser_init(&x->parser, 0);
		x->out_len = x->out_off = 0;
		lk__sess_arm_timer(c, LK_TQ_HEADER);
		try_parse(c);
		return;
	}
	lk__sess_ctx_put(c);
	next_idle(c);
}

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

void lk__sess_send_continue(struct lk_conn *c)
{
	if (c->tls != NULL) {
		/* Queued ahead of any response in the TLS output. */
		if (lk_tls_write(c->tls, continue_100, sizeof(continue_100) - 1) ==
		    (ssize_t)sizeof(continue_100) - 1)
			lk__sess_flush(c);
		return;
	}
	if (c->flags & LK_SF_SEND)
		return;
	ctx_of(c)->cont_sent = 0;
	if (lk_conn_send(c, LK_AUX_CLI, continue_100, sizeof(continue_100) - 1) == 0)
		c->flags |= LK_SF_SEND | LK_SF_CONTINUE;
}

static void on_cli_sent(struct lk_conn *c, int res)
{
	struct lk_sess_ctx *x = ctx_of(c);

	c->flags &= ~LK_SF_SEND;
	if (res < 0) {
		lk__sess_close(c);
		return;
	}
	if (c->flags & LK_SF_CONTINUE) {
		x->cont_sent += (uint8_t)res;
		if (x->cont_sent < sizeof(continue_100) - 1) {
			if (lk_conn_send(c, LK_AUX_CLI, continue_100 + x->cont_sent,
					 (unsigned)(sizeof(continue_100) - 1 - x->cont_sent)) < 0)
				lk__sess_close(c);
			else
				c->flags |= LK_SF_SEND;
			return;
		}
		c->flags &= ~LK_SF_CONTINUE;
		lk__sess_flush(c);
		return;
	}
	if (c->tls != NULL) {
		lk_tls_out_consume(c->tls, (size_t)res);
	} else {
		LK_ASSERT(x != NULL);
		x->out_off += (uint32_t)res;
	}
	lk__sess_flush(c);
	if (c->flags & LK_SF_SEND)
		return;
	if (c->flags & LK_SF_TLS_BYE) {
		lk__sess_close(c);
		return;
	}
	if (c->state != LK_CS_RESP)
		return; /* handshake flights */
	if (c->flags & LK_SF_CLOSE_AFTER)
		lk__sess_finish_close(c);
	else
		lk__sess_next_request(c);
}

/* ---- the Docker health ping ------------------------------------------ */

static void ping_done(struct lk_conn *c, bool ok)
{
	lk_timer_cancel(&c->timer);
	if (c->up_inflight == 0) {
		close(c->up_fd);
		c->up_fd = -1;
	} else if (lk_conn_cancel_up(c) < 0) {
		/* Cannot cancel: the up fd closes with the connection. */
		c->flags |= LK_SF_CLOSE_AFTER;
	}
	if (ctx_of(c)->route == LK_ROUTE_READY) {
		/* Readiness with the fields of the reference at HEAD (spec 16). */
		char body[256];
		uint64_t up_ms = c->w->now_ms - sw_of(c->w)->srv->started_ms;

		snprintf(body, sizeof(body),
			 "{\"status\":\"%s\",\"live\":true,\"ready\":%s,\"mode\":\"standard\","
			 "\"version\":\"%s\",\"uptimeSeconds\":%llu.%03llu,\"docker\":\"%s\","
			 "\"controller\":\"not_applicable\"}\n",
			 ok ? "healthy" : "unhealthy", ok ? "true" : "false", lk_version(),
			 (unsigned long long)(up_ms / 1000), (unsigned long long)(up_ms % 1000),
			 ok ? "connected" : "disconnected");
		respond_json(c, ok ? 200 : 503, body);
		return;
	}
	if (ok)
		respond_json(c, 200, "{\"docker\":\"connected\",\"status\":\"healthy\"}\n");
	else
		respond_json(c, 503, "{\"docker\":\"disconnected\",\"status\":\"unhealthy\"}\n");
}

static void start_ping(struct lk_conn *c)
{
	struct lk_server *srv = sw_of(c->w)->srv;
	struct lk_sess_ctx *x = ctx_of(c);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	lk__sess_set_state(c, LK_CS_UPSTREAM);
	if (fd < 0) {
		ping_done(c, false);
		return;
	}
	LK_ASSERT(c->up_fd < 0);
	c->up_fd = fd;
	x->up_len = x->up_sent = 0;
	lk_http_parser_init(&x->up_parser, 0);
	lk__sess_arm_timer(c, LK_TQ_REQUEST);
	if (lk_conn_connect(c, (const struct sockaddr *)&srv->docker_sa, srv->docker_sa_len) < 0)
		ping_done(c, false);
}

static void on_up_cqe(struct lk_conn *c, enum lk_op op, int res)
{
	struct lk_sess_ctx *x = ctx_of(c);

	if (c->state != LK_CS_UPSTREAM) {
		/* Answered already (timeout): drop the leftovers. */
		if (c->up_inflight == 0 && c->up_fd >= 0) {
			close(c->up_fd);
			c->up_fd = -1;
		}
		return;
	}
	if (res < 0 || (op == LK_OP_RECV && res == 0)) {
		ping_done(c, false);
		return;
	}
	int rc = 0;
	switch (op) {
	case LK_OP_CONNECT:
		rc = lk_conn_send(c, LK_AUX_UP, ping_req, sizeof(ping_req) - 1);
		break;
	case LK_OP_SEND:
		x->up_sent += (uint32_t)res;
		if (x->up_sent < sizeof(ping_req) - 1)
			rc = lk_conn_send(c, LK_AUX_UP, ping_req + x->up_sent,
					  (unsigned)(sizeof(ping_req) - 1 - x->up_sent));
		else
			rc = lk_conn_recv(c, LK_AUX_UP, x->up, sizeof(x->up));
		break;
	case LK_OP_RECV: {
		x->up_len += (uint32_t)res;
		ssize_t pr = lk_http_parse_response(&x->up_parser, x->up, x->up_len, &x->resp);
		if (pr == LK_AGAIN && x->up_len < sizeof(x->up)) {
			rc = lk_conn_recv(c, LK_AUX_UP, x->up + x->up_len,
					  (unsigned)(sizeof(x->up) - x->up_len));
			break;
		}
		ping_done(c, pr > 0 && x->resp.status == 200);
		return;
	}
	default:
		return;
	}
	if (rc < 0)
		ping_done(c, false);
}

/* ---- loop callbacks ---------------------------------------------------- */

static void on_timer(struct lk_timer *t)
{
	struct lk_conn *c = lk_conn_from_timer(t);
	struct lk_sworker *sw = sw_of(c->w);

	switch ((enum lk_conn_state)c->state) {
	case LK_CS_TLS_HANDSHAKE:
		sw->stats.handshake_timeouts++;
		lk__sess_close(c);
		break;
	case LK_CS_READ_HEAD:
		if (ctx_of(c) == NULL || ctx_of(c)->in_len == 0 || (c->flags & LK_SF_IDLE)) {
			lk__sess_close(c);
			break;
		}
		/* A head that trickles in (slowloris) is cut here. */
		sw->stats.header_timeouts++;
		respond_error(c, 408, "request header timeout");
		lk__sess_arm_timer(c, LK_TQ_HANDSHAKE); /* bounds the 408's own delivery */
		break;
	case LK_CS_UPSTREAM:
		ping_done(c, false);
		break;
	case LK_CS_AUTH:
	case LK_CS_BODY:
	case LK_CS_CONTROL:
		lk__admit_on_timer(c);
		break;
	case LK_CS_SSE:
		lk__sse_on_timer(c);
		break;
	case LK_CS_PROXY:
	case LK_CS_RELAY:
		lk__fwd_on_timer(c);
		break;
	default:
		/* A response or close_notify the client does not read. */
		lk__sess_close(c);
		break;
	}
}

static void on_cqe(struct lk_worker *w, struct lk_conn *c, enum lk_op op, uint8_t aux, int res,
		   uint32_t flags)
{
	if (c->state == LK_CS_SSE) {
		lk__sse_on_cqe(c, op, res, flags, aux);
		return;
	}
	/* While an exchange runs (and for relay ops that outlive it), the
	 * proxy owns the connection's completions. */
	if (c->xfer != NULL || LK_AUX_TAG(aux) != LK_TAG_SESS) {
		lk__fwd_on_cqe(c, op, aux, res, flags);
		return;
	}
	if (LK_AUX_SIDE(aux) == LK_AUX_UP) {
		on_up_cqe(c, op, res);
		return;
	}
	switch (op) {
	case LK_OP_RECV:
		on_cli_recv(c, aux, res, flags);
		break;
	case LK_OP_SEND:
		on_cli_sent(c, res);
		break;
	default:
		break;
	}
}

static void on_accept(struct lk_worker *w, int fd)
{
	struct lk_sworker *sw = sw_of(w);
	struct lk_conn *c = lk_conn_new(w, fd);
	int one = 1;

	if (c == NULL) {
		w->stats.accept_refused++;
		close(fd);
		return;
	}
	c->state = LK_CS_FREE;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (sw->srv->tls != NULL) {
		c->tls = lk_tls_new(sw->srv->tls, NULL);
		if (c->tls == NULL) {
			lk__sess_set_state(c, LK_CS_TLS_HANDSHAKE);
			lk__sess_close(c);
			return;
		}
		lk_tls_set_pools(c->tls, &sw->tls_in_pool, &sw->tls_out_pool);
		lk__sess_set_state(c, LK_CS_TLS_HANDSHAKE);
		lk__sess_arm_timer(c, LK_TQ_HANDSHAKE);
	} else {
		lk__sess_set_state(c, LK_CS_READ_HEAD);
		lk__sess_arm_timer(c, LK_TQ_HEADER);
	}
	lk__sess_arm_recv(c);
}

static void on_stop(struct lk_worker *w)
{
	lk__fwd_on_stop(w);
	/* Idle connections and unfinished handshakes close now; requests in
	 * progress finish with Connection: close. */
	for (uint32_t i = 0; i < w->n_conns; i++) {
		struct lk_conn *c = &w->conns[i];

		if (!(c->flags & LK_CONN_F_LIVE) || lk_conn_is_closing(c))
			continue;
		bool idle = c->state == LK_CS_READ_HEAD && (c->ctx == NULL || ctx_of(c)->in_len == 0);
		/* An event stream has no end of its own. */
		if (c->state == LK_CS_TLS_HANDSHAKE || idle || c->state == LK_CS_SSE)
			lk__sess_close(c);
		else
			c->flags |= LK_SF_CLOSE_AFTER;
	}
}

static void on_free(struct lk_worker *w, struct lk_conn *c)
{
	lk__sse_unsubscribe(c);
	lk__fwd_on_free(c);
	lk__sess_ctx_put(c);
	lk_tls_free(c->tls);
	c->tls = NULL;
	c->state = LK_CS_FREE;
}

const struct lk_worker_ops lk_session_ops = {
	.on_accept = on_accept,
	.on_cqe = on_cqe,
	.on_stop = on_stop,
	.on_wake = lk__admit_on_wake,
	.on_free = on_free,
};
