/* proxy/fwd.c - the transparent Docker API proxy.
 *
 * An exchange runs in phases on one connection (all ops tagged
 * LK_TAG_SESS until the relays start):
 *   CONNECT     a fresh unix-socket connection to Docker (skipped when an
 *               idle pooled one is alive);
 *   REQ_HEAD    the rewritten request head (ctx->out), then REQ_BODY0: the
 *               body bytes that arrived with the head (ctx->in);
 *   RESP_HEAD   Docker's response head into ctx->up, parsed incrementally;
 *               meanwhile the rest of the request body flows client -> Docker;
 *   CLI_HEAD    the rewritten response head and the body bytes that came with
 *               it go to the client;
 *   RELAY       proxy/relay.c moves the rest, both ways for a hijack.
 * Streams (and hijacks) ask Docker for Connection: close, so their end is
 * Docker's EOF and the relay may splice bytes it never sees; they have no
 * total timeout, release the request context (a quiet follow stream holds a
 * slot, an xfer and three descriptors), and watch for the client hanging up.
 * Finite requests keep REQUEST_TIMEOUT and return their Docker connection to
 * the worker's pool when the framing says the response is complete. */
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/dbg.h"
#include "core/err.h"
#include "core/http.h"
#include "core/pool.h"
#include "core/tls.h"
#include "proxy/logs.h"
#include "proxy/relay.h"
#include "proxy/routes.h"
#include "proxy/rewrite.h"
#include "proxy/session_int.h"

enum fwd_phase { PH_CONNECT, PH_REQ_HEAD, PH_REQ_BODY0, PH_RESP_HEAD, PH_CLI_HEAD, PH_RAW_EARLY, PH_RELAY };

#define XF_STREAM (1u << 0)     /* no total timeout, Connection: close to Docker */
#define XF_HIJACK (1u << 1)     /* the request asked for Upgrade: tcp */
#define XF_RAW (1u << 2)        /* the response made the connection a raw stream */
#define XF_POOLED (1u << 3)     /* up_fd came from the pool (may be stale) */
#define XF_RETRIED (1u << 4)    /* already reconnected once */
#define XF_C2U_ON (1u << 5)     /* the client -> Docker relay was started */
#define XF_C2U_DONE (1u << 6)
#define XF_U2C_DONE (1u << 7)
#define XF_HUP (1u << 8)        /* a POLLRDHUP watch is queued on the client */
#define XF_CNT_STREAM (1u << 9) /* holds one of srv->n_streams */
#define XF_CNT_HIJACK (1u << 10)
#define XF_RESP_SENT (1u << 11) /* a response head went to the client */
#define XF_CLI_CLOSE (1u << 12) /* the client connection ends with this response */
#define XF_DEMUX (1u << 13)     /* the adapters' follow logs: Docker's frames become text */

struct lk_xfer {
	uint32_t flags;
	uint8_t phase;
	uint32_t sent;      /* of the current head-phase send */
	uint32_t head_len;  /* forwarded request head, then response head, in ctx->out */
	const char *body0;  /* request body bytes sent with the head: those that came with it
			     * (ctx->in), or the whole verified body (ctx->body) */
	uint32_t body0_len;
	uint32_t extra_off; /* response body bytes that came with the head, in ctx->up */
	uint32_t extra_len;
	const char *cli_head; /* the response head as sent: ctx->out, or moved into
			       * ctx->up right before the body bytes (one send) */
	struct lk_relay_dir u2c;
	struct lk_relay_dir c2u;
};

size_t lk__fwd_xfer_size(void)
{
	return sizeof(struct lk_xfer);
}

static struct lk_sworker *sw_of(struct lk_conn *c)
{
	return c->w->data;
}

static struct lk_sess_ctx *ctx_of(struct lk_conn *c)
{
	return c->ctx;
}

static struct lk_xfer *xf_of(struct lk_conn *c)
{
	return c->xfer;
}

/* ---- the per-worker pool of idle Docker connections --------------------- */

static void pool_put(struct lk_sworker *sw, int fd)
{
	if (sw->n_up_pool < LK_UP_POOL_MAX) {
		sw->up_pool_ms[sw->n_up_pool] = sw->w.now_ms;
		sw->up_pool[sw->n_up_pool++] = fd;
	} else {
		close(fd);
	}
}

/* pool_take returns a pooled connection that Docker has not closed, or -1.
 * A restarted daemon leaves only dead ones (EOF on peek): they are dropped,
 * and the caller reconnects by path, which reaches the new socket. Only a
 * connection idle for LK_UP_PEEK_MS or more is peeked: under load the peek
 * was one more syscall per request, and a connection Docker closed a moment
 * ago fails its send (EPIPE), which up_failed retries on a fresh one. */
static int pool_take(struct lk_sworker *sw)
{
	while (sw->n_up_pool > 0) {
		int fd = sw->up_pool[--sw->n_up_pool];
		if (sw->w.now_ms - sw->up_pool_ms[sw->n_up_pool] < LK_UP_PEEK_MS)
			return fd;
		char b;
		ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return fd;
		close(fd);
	}
	return -1;
}

void lk__fwd_on_stop(struct lk_worker *w)
{
	struct lk_sworker *sw = w->data;

	while (sw->n_up_pool > 0)
		close(sw->up_pool[--sw->n_up_pool]);
}

/* ---- admission and the end of an exchange -------------------------------- */

static bool admit(atomic_uint *n, unsigned max)
{
	if (atomic_fetch_add_explicit(n, 1, memory_order_relaxed) < max)
		return true;
	atomic_fetch_sub_explicit(n, 1, memory_order_relaxed);
	return false;
}

static void xfer_release(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_server *srv = sw_of(c)->srv;

	if (xf == NULL)
		return;
	lk_relay_release(c, &xf->u2c);
	lk_relay_release(c, &xf->c2u);
	if (xf->flags & XF_CNT_STREAM)
		atomic_fetch_sub_explicit(&srv->n_streams, 1, memory_order_relaxed);
	if (xf->flags & XF_CNT_HIJACK)
		atomic_fetch_sub_explicit(&srv->n_hijacks, 1, memory_order_relaxed);
	sw_of(c)->stats.bytes_u2c += xf->u2c.bytes;
	sw_of(c)->stats.bytes_c2u += xf->c2u.bytes;
	c->flags &= ~LK_CONN_F_ZC;
	lk_pool_put(&sw_of(c)->xfer_pool, xf);
	c->xfer = NULL;
}

void lk__fwd_on_free(struct lk_conn *c)
{
	xfer_release(c);
}

/* release_up hands the Docker connection back to the pool when the exchange
 * left it clean, else closes it. With operations still queued on it the
 * connection's close path owns it; returns false then. */
static bool release_up(struct lk_conn *c, bool reusable)
{
	if (c->up_fd < 0)
		return true;
	if (c->up_inflight != 0)
		return false;
	if (reusable)
		pool_put(sw_of(c), c->up_fd);
	else
		close(c->up_fd);
	c->up_fd = -1;
	return true;
}

/* fail answers the client with a JSON error (Docker's shape) when no response
 * head was sent yet, else closes the connection. */
static void fail(struct lk_conn *c, int status, const char *msg)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);

	if (xf != NULL && (xf->flags & XF_RESP_SENT)) {
		lk__sess_close(c);
		return;
	}
	/* Docker's side of this exchange is in an unknown state and the
	 * client may still be sending a body: the connection ends here. */
	c->flags |= LK_SF_CLOSE_AFTER;
	lk__admit_audit_status(c, status);
	if (c->up_fd >= 0 && !release_up(c, false))
		(void)lk_conn_cancel_up(c);
	xfer_release(c);
	struct lk_obuf b;
	lk_obuf_init(&b, x->out, sizeof(x->out));
	lk_proxy_write_error(&b, status, msg, true);
	LK_ASSERT(!b.overflow);
	x->head_only = false;
	lk__sess_send_response(c, status, b.len);
}

static void upstream_failed(struct lk_conn *c, int err)
{
	char msg[160];

	sw_of(c)->stats.upstream_errors++;
	snprintf(msg, sizeof(msg), "docker unreachable: %s", strerror(-err));
	fail(c, 502, msg);
}

static void end_exchange(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);
	bool close_cli = (xf->flags & (XF_CLI_CLOSE | XF_RAW)) != 0 || xf->c2u.excess ||
			 !(xf->flags & XF_C2U_DONE);
	bool reusable = !(xf->flags & (XF_STREAM | XF_RAW)) && xf->u2c.framing != LK_RELAY_EOF &&
			!xf->u2c.excess;

	if (xf->flags & XF_HUP) {
		(void)lk_conn_cancel_op(c, LK_OP_POLL, LK_AUX_T(LK_AUX_CLI, LK_TAG_HUP));
		xf->flags &= ~XF_HUP;
	}
	/* A relay operation still queued would race the next request's reads. */
	if (xf->u2c.busy || xf->c2u.busy)
		close_cli = true;
	if (!release_up(c, reusable))
		close_cli = true;
	xfer_release(c);
	if (close_cli || (c->flags & LK_SF_CLOSE_AFTER) || c->w->stopping)
		lk__sess_finish_close(c);
	else
		lk__sess_next_request(c);
}

static void check_done(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);

	if (xf == NULL || xf->phase != PH_RELAY || !(xf->flags & XF_U2C_DONE))
		return;
	/* A raw stream ends with Docker's EOF; a finished response ends the
	 * exchange even if the client is still sending (it cannot be resynced,
	 * so end_exchange closes then). */
	end_exchange(c);
}

static void watch_hangup(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);

	/* A quiet follow stream never writes, so a client that went away would
	 * go unnoticed: watch for its FIN/RST and close Docker's side at once. */
	if (!(xf->flags & XF_STREAM) || (xf->flags & (XF_RAW | XF_HUP | XF_U2C_DONE)) ||
	    xf->phase != PH_RELAY)
		return;
	if (lk_conn_poll(c, LK_AUX_CLI, POLLRDHUP, LK_TAG_HUP) == 0)
		xf->flags |= XF_HUP;
}

static void relay_event(struct lk_conn *c, bool u2c, enum lk_relay_ev ev)
{
	struct lk_xfer *xf = xf_of(c);

	if (ev == LK_RELAY_FAIL) {
		lk__sess_close(c);
		return;
	}
	if (ev == LK_RELAY_MORE)
		return;
	xf->flags |= u2c ? XF_U2C_DONE : XF_C2U_DONE;
	if (!u2c)
		watch_hangup(c);
	check_done(c);
}

/* ---- phases --------------------------------------------------------------- */

static void start_c2u(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);

	if (xf->c2u.eof) {
		xf->flags |= XF_C2U_DONE;
		return;
	}
	xf->flags |= XF_C2U_ON;
	relay_event(c, false, lk_relay_c2u(c, &xf->c2u, LK_OP_NONE, 0, 0, 0));
}

static void send_up(struct lk_conn *c, enum fwd_phase ph, const char *p, uint32_t len)
{
	struct lk_xfer *xf = xf_of(c);

	xf->phase = (uint8_t)ph;
	xf->sent = 0;
	if (lk_conn_send(c, LK_AUX_UP, p, len) < 0)
		upstream_failed(c, -EBUSY);
}

/* up_cap is how much of ctx->up Docker's head (and the body bytes with it)
 * may fill: all of it in plaintext; over TLS the head-phase bytes must fit
 * the engine's output queue in one go (head <= 17 KiB, body bytes <= 16
 * KiB), so there the first receives stop at LK_HTTP_HEAD_MAX. */
static uint32_t up_cap(const struct lk_conn *c)
{
	LK_STATIC_ASSERT(LK_SESS_UP_MAX >= LK_HTTP_HEAD_MAX, "up holds a whole head");
	return c->tls != NULL ? (uint32_t)LK_HTTP_HEAD_MAX : (uint32_t)LK_SESS_UP_MAX;
}

static void wait_resp_head(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);

	xf->phase = PH_RESP_HEAD;
	x->up_len = 0;
	lk_http_parser_init(&x->up_parser, 0);
	if (lk_conn_recv(c, LK_AUX_UP, x->up, up_cap(c)) < 0) {
		upstream_failed(c, -EBUSY);
		return;
	}
	if (!(xf->flags & XF_C2U_ON))
		start_c2u(c);
}

static void connect_up(struct lk_conn *c)
{
	struct lk_sworker *sw = sw_of(c);
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);

	if (!(xf->flags & (XF_STREAM | XF_RETRIED))) {
		int fd = pool_take(sw);
		if (fd >= 0) {
			c->up_fd = fd;
			xf->flags |= XF_POOLED;
			sw->stats.pool_reused++;
			send_up(c, PH_REQ_HEAD, x->out, xf->head_len);
			return;
		}
	}
	xf->flags &= ~XF_POOLED;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		upstream_failed(c, -errno);
		return;
	}
	c->up_fd = fd;
	xf->phase = PH_CONNECT;
	if (lk_conn_connect(c, (const struct sockaddr *)&sw->srv->docker_sa, sw->srv->docker_sa_len) < 0)
		upstream_failed(c, -EBUSY);
}

/* up_failed handles a Docker-side error before the response head: a pooled
 * connection Docker had closed is retried once on a fresh one, as long as no
 * body byte beyond the buffered prefix was sent. */
static void up_failed(struct lk_conn *c, int err)
{
	struct lk_xfer *xf = xf_of(c);

	if ((xf->flags & XF_POOLED) && !(xf->flags & (XF_RETRIED | XF_C2U_ON)) &&
	    ctx_of(c)->up_len == 0 && c->up_inflight == 0) {
		close(c->up_fd);
		c->up_fd = -1;
		xf->flags |= XF_RETRIED;
		connect_up(c);
		return;
	}
	upstream_failed(c, err);
}

/* resp_framing picks how the relay finds the end of Docker's body. */
static void init_u2c(struct lk_conn *c, const struct lk_http_resp *resp, bool raw)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	bool splice = c->tls == NULL && !sw_of(c)->srv->relay_copy && (xf->flags & XF_STREAM) &&
		      !(xf->flags & XF_DEMUX);
	enum lk_http_body bb = raw ? LK_HTTP_BODY_EOF : lk_http_resp_body(resp, x->head_only);

	switch (bb) {
	case LK_HTTP_BODY_NONE:
		lk_relay_init(&xf->u2c, LK_RELAY_LENGTH, 0, false);
		break;
	case LK_HTTP_BODY_LENGTH:
		lk_relay_init(&xf->u2c, LK_RELAY_LENGTH, (uint64_t)resp->content_length, false);
		break;
	case LK_HTTP_BODY_CHUNKED:
		lk_relay_init(&xf->u2c, LK_RELAY_CHUNKED, 0, false);
		break;
	case LK_HTTP_BODY_EOF:
		lk_relay_init(&xf->u2c, LK_RELAY_EOF, 0, false);
		break;
	}
	/* The pipe is made by the relay when Docker first has bytes for the
	 * client (a quiet follow stream holds two sockets, not four fds). */
	/* Splicing hides the bytes, so only a body that ends with Docker's EOF
	 * (streams asked for Connection: close) can take that path. */
	if (splice && bb != LK_HTTP_BODY_NONE) {
		xf->u2c.framing = LK_RELAY_EOF;
		xf->u2c.splice = true;
	}
	if (bb == LK_HTTP_BODY_EOF && !raw)
		xf->flags |= XF_CLI_CLOSE;
}

static bool has_prefix(const char *v, size_t len, const char *prefix, size_t n)
{
	return len >= n && memcmp(v, prefix, n) == 0;
}

static bool is_raw_answer(struct lk_conn *c, const struct lk_http_resp *resp)
{
	const struct lk_http_req *r = &ctx_of(c)->req;

	if (resp->status == 101)
		return (xf_of(c)->flags & XF_HIJACK) != 0;
	/* Docker's legacy answer to attach/exec start without Upgrade: 200
	 * and then the raw stream on the same connection, both ways. */
	if (resp->status != 200 || !lk_proxy_is_attach_or_exec_start(r->target, r->path_len))
		return false;
	static const char raw[] = "application/vnd.docker.raw-stream";
	static const char mux[] = "application/vnd.docker.multiplexed-stream";
	const struct lk_http_header *h = lk_http_find(resp->headers, resp->n_headers, "content-type");

	return h != NULL && lk_http_resp_body(resp, false) == LK_HTTP_BODY_EOF &&
	       (has_prefix(h->value, h->value_len, raw, sizeof(raw) - 1) ||
		has_prefix(h->value, h->value_len, mux, sizeof(mux) - 1));
}

static void send_cli_head(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);

	xf->phase = PH_CLI_HEAD;
	xf->sent = 0;
	xf->flags |= XF_RESP_SENT;
	/* One send (and over TLS one record) for a small answer: the body
	 * bytes that came with Docker's head follow the rewritten head when
	 * they fit (most answers do). */
	xf->cli_head = x->out;
	if (xf->extra_len != 0 && xf->extra_len <= sizeof(x->out) - xf->head_len) {
		memcpy(x->out + xf->head_len, x->up + xf->extra_off, xf->extra_len);
		xf->head_len += xf->extra_len;
		xf->extra_len = 0;
	} else if (c->tls == NULL && xf->extra_len != 0 && xf->head_len <= xf->extra_off) {
		/* A large answer (a container list): the rewritten head goes
		 * right before the body bytes, over Docker's own head, which
		 * nothing reads any more; one send for both. */
		char *h = x->up + xf->extra_off - xf->head_len;
		memcpy(h, x->out, xf->head_len);
		xf->cli_head = h;
		xf->head_len += xf->extra_len;
		xf->extra_len = 0;
	}
	if (c->tls != NULL) {
		/* Both fit the TLS output queue (head <= 17 KiB, extra <= 16 KiB). */
		if (lk_tls_write(c->tls, x->out, xf->head_len) != (ssize_t)xf->head_len ||
		    (xf->extra_len != 0 && lk_tls_write(c->tls, x->up + xf->extra_off, xf->extra_len) !=
						   (ssize_t)xf->extra_len)) {
			lk__sess_close(c);
			return;
		}
		xf->head_len = 0;
		xf->extra_len = 0;
		const void *p;
		size_t n = lk_tls_out_peek(c->tls, &p);
		if (lk_conn_send(c, LK_AUX_CLI, p, (unsigned)n) < 0)
			lk__sess_close(c);
		return;
	}
	if (lk_conn_send(c, LK_AUX_CLI, xf->cli_head, xf->head_len) < 0)
		lk__sess_close(c);
}

static void got_resp_head(struct lk_conn *c, uint32_t head_len)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	const struct lk_http_resp *resp = &x->resp;
	bool raw = is_raw_answer(c, resp);

	if (resp->status == 101 && !raw) {
		upstream_failed(c, -EPROTO);
		return;
	}
	lk__admit_audit_status(c, resp->status);
	lk__sess_count(c, resp->status, (xf->flags & XF_STREAM) ? LK_RC_STREAM : LK_RC_PROXY);
	init_u2c(c, resp, raw);
	if (raw) {
		xf->flags |= XF_RAW;
		xf->flags &= ~XF_CLI_CLOSE;
	}
	if (c->flags & LK_SF_CLOSE_AFTER)
		xf->flags |= XF_CLI_CLOSE;
	bool demux = (xf->flags & XF_DEMUX) && resp->status == 200 && !raw;
	struct lk_proxy_resp_opts ro = {
		.close_after = (xf->flags & XF_CLI_CLOSE) != 0,
		.keep_alive_10 = (x->req.flags & LK_HTTP_F_KEEPALIVE_10) != 0,
	};
	struct lk_obuf b;
	lk_obuf_init(&b, x->out, sizeof(x->out));
	if (demux) {
		/* The adapters' logs are text, to the end of the stream. */
		xf->u2c.demux = true;
		lk_http_chunked_init(&xf->u2c.dech, 0);
		xf->flags |= XF_CLI_CLOSE;
		lk_obuf_puts(&b, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
				 "Cache-Control: no-cache\r\nConnection: close\r\n\r\n");
	} else if (lk_proxy_write_resp_head(&b, resp, &ro) < 0) {
		upstream_failed(c, -E2BIG);
		return;
	}
	xf->head_len = b.len;
	xf->extra_off = head_len;
	ssize_t k = lk_relay_account(&xf->u2c, x->up + head_len, x->up_len - head_len);
	if (k >= 0)
		k = lk_relay_demux(&xf->u2c, x->up + head_len, (size_t)k);
	if (k < 0) {
		upstream_failed(c, -EPROTO);
		return;
	}
	xf->extra_len = (uint32_t)k;
	if (xf->flags & (XF_STREAM | XF_RAW))
		lk_timer_cancel(&c->timer);
	send_cli_head(c);
}

static void on_resp_bytes(struct lk_conn *c, int res)
{
	struct lk_sess_ctx *x = ctx_of(c);

	if (res < 0 || (res == 0 && x->up_len == 0)) {
		up_failed(c, res < 0 ? res : -ECONNRESET);
		return;
	}
	if (res == 0) {
		upstream_failed(c, -ECONNRESET);
		return;
	}
	x->up_len += (uint32_t)res;
	for (;;) {
		ssize_t pr = lk_http_parse_response(&x->up_parser, x->up, x->up_len, &x->resp);

		if (pr == LK_AGAIN) {
			if (x->up_len >= up_cap(c) ||
			    lk_conn_recv(c, LK_AUX_UP, x->up + x->up_len, up_cap(c) - x->up_len) < 0)
				upstream_failed(c, -E2BIG);
			return;
		}
		if (pr < 0) {
			upstream_failed(c, -EPROTO);
			return;
		}
		/* Interim answers (100 Continue) are Docker's business with
		 * its reader: drop them and parse the final head. */
		if (x->resp.status < 200 && x->resp.status != 101) {
			memmove(x->up, x->up + pr, x->up_len - (uint32_t)pr);
			x->up_len -= (uint32_t)pr;
			lk_http_parser_init(&x->up_parser, 0);
			continue;
		}
		got_resp_head(c, (uint32_t)pr);
		return;
	}
}

static void start_relays(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);

	xf->phase = PH_RELAY;
	lk__sess_set_state(c, LK_CS_RELAY);
	/* Zero-copy sends only for streams (see LK_CONN_F_ZC): a finite
	 * answer would wait for the client's delayed ACK at its end. Not to
	 * a client on this host (as far as admission looked the peer up):
	 * there the kernel copies anyway and the completion waits for the
	 * reader (one TLS log stream: 0.72 -> 1.33 GB/s per core without). */
	uint8_t zc = sw_of(c)->srv->zero_copy;
	if ((xf->flags & (XF_STREAM | XF_RAW)) &&
	    (zc == LK_ZC_ON ||
	     (zc == LK_ZC_AUTO && !lk_addr_is_loopback(c->peer_family, c->peer_addr))))
		c->flags |= LK_CONN_F_ZC;
	if (xf->flags & XF_RAW) {
		/* Docker switches only after reading the request body, so the
		 * body relay is idle here; if not, the stream cannot be trusted. */
		if (xf->c2u.busy) {
			lk__sess_close(c);
			return;
		}
		/* After the switch both directions are raw, until EOF. */
		lk_relay_init(&xf->c2u, LK_RELAY_EOF, 0, false);
		xf->flags &= ~XF_C2U_DONE;
		start_c2u(c);
		if (lk_conn_is_closing(c))
			return;
	}
	/* A stream keeps no request context unless pipelined bytes wait in it. */
	if ((xf->flags & XF_STREAM) && x != NULL && x->in_len == x->consumed)
		lk__sess_ctx_put(c);
	if (xf->u2c.eof && xf->u2c.pipe_fill == 0 && !xf->u2c.splice) {
		relay_event(c, true, LK_RELAY_DONE);
		return;
	}
	if (xf->flags & XF_C2U_DONE)
		watch_hangup(c);
	if (!lk_conn_is_closing(c))
		relay_event(c, true, lk_relay_u2c(c, &xf->u2c, LK_OP_NONE, 0, 0, 0));
}

static void cli_head_sent(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);

	if ((xf->flags & XF_RAW) && x->in_len > x->consumed) {
		/* The client typed ahead of the 101: those bytes are stream. */
		send_up(c, PH_RAW_EARLY, x->in + x->consumed, x->in_len - x->consumed);
		return;
	}
	start_relays(c);
}

static void on_cli_head_sent(struct lk_conn *c, int res)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);

	if (res < 0) {
		lk__sess_close(c);
		return;
	}
	if (c->tls != NULL) {
		lk_tls_out_consume(c->tls, (size_t)res);
		const void *p;
		size_t n = lk_tls_out_peek(c->tls, &p);
		if (n != 0 && lk_conn_send(c, LK_AUX_CLI, p, (unsigned)n) < 0)
			lk__sess_close(c);
		if (n == 0)
			cli_head_sent(c);
		return;
	}
	/* Plaintext: the head (cli_head), then the body bytes from ctx->up. */
	xf->sent += (uint32_t)res;
	const char *p = xf->sent < xf->head_len ? xf->cli_head + xf->sent
						 : x->up + xf->extra_off + (xf->sent - xf->head_len);
	uint32_t left = xf->head_len + xf->extra_len - xf->sent;
	if (left == 0) {
		cli_head_sent(c);
		return;
	}
	if (xf->sent < xf->head_len)
		left = xf->head_len - xf->sent;
	if (lk_conn_send(c, LK_AUX_CLI, p, left) < 0)
		lk__sess_close(c);
}

static void on_up_sent(struct lk_conn *c, int res)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	const char *base;
	uint32_t len;

	if (res < 0) {
		if (xf->phase == PH_RAW_EARLY)
			lk__sess_close(c);
		else
			up_failed(c, res);
		return;
	}
	switch (xf->phase) {
	case PH_REQ_HEAD:
		base = x->out;
		len = xf->head_len;
		break;
	case PH_REQ_BODY0:
		base = xf->body0;
		len = xf->body0_len;
		break;
	case PH_RAW_EARLY:
		base = x->in + x->consumed;
		len = x->in_len - x->consumed;
		break;
	default:
		LK_UNREACHABLE();
	}
	xf->sent += (uint32_t)res;
	if (xf->sent < len) {
		if (lk_conn_send(c, LK_AUX_UP, base + xf->sent, len - xf->sent) < 0)
			lk__sess_close(c);
		return;
	}
	if (xf->phase == PH_REQ_HEAD && xf->body0_len != 0)
		send_up(c, PH_REQ_BODY0, xf->body0, xf->body0_len);
	else if (xf->phase == PH_RAW_EARLY) {
		x->consumed = x->in_len;
		start_relays(c);
	} else
		wait_resp_head(c);
}

/* ---- entry points --------------------------------------------------------- */

static void limited(struct lk_conn *c, const char *msg)
{
	struct lk_sess_ctx *x = ctx_of(c);
	struct lk_obuf b;

	sw_of(c)->stats.limited++;
	lk__admit_audit_status(c, 429);
	if (lk_http_req_body(&x->req) != LK_HTTP_BODY_NONE)
		c->flags |= LK_SF_CLOSE_AFTER;
	lk_obuf_init(&b, x->out, sizeof(x->out));
	lk_proxy_write_error(&b, 429, msg, (c->flags & LK_SF_CLOSE_AFTER) != 0);
	lk__sess_send_response(c, 429, b.len);
}

/* build_up_head writes the request head for Docker into ctx->out. */
static int build_up_head(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);
	struct lk_sess_ctx *x = ctx_of(c);
	struct lk_proxy_req_opts o = {
		.hijack = (xf->flags & XF_HIJACK) != 0,
		/* A verified chunked body was decoded: it goes as Content-Length. */
		.has_body_len = x->body_use != 0 && x->body_chunked,
		.body_len = x->body_len,
	};
	struct lk_obuf b;

	lk_obuf_init(&b, x->out, sizeof(x->out));
	if (xf->flags & XF_DEMUX) {
		/* The adapters' logs route, asked of Docker's logs endpoint
		 * (admission checked the target). */
		char t[LK_LOGS_TARGET_MAX], ref[LK_LOGS_REF_MAX + 1];
		bool follow;
		const char *why;

		if (lk__logs_target(x->req.target, x->req.target_len, t, sizeof(t), ref, &follow,
				    &why) < 0)
			return -EINVAL;
		lk_obuf_puts(&b, "GET ");
		lk_obuf_puts(&b, t);
		lk_obuf_puts(&b, " HTTP/1.1\r\nHost: docker\r\nUser-Agent: lookout\r\n"
				 "Connection: close\r\n\r\n");
		xf->head_len = b.len;
		return b.overflow ? -ENOSPC : 0;
	}
	if (lk_proxy_write_req_head(&b, &x->req, &o) < 0)
		return -ENOSPC;
	if ((xf->flags & XF_STREAM) && !(xf->flags & XF_HIJACK)) {
		/* Ask Docker to close after a stream: its EOF then marks the end
		 * even when the body is spliced unseen. */
		b.len -= 2;
		lk_obuf_puts(&b, "Connection: close\r\n\r\n");
		if (b.overflow)
			return -ENOSPC;
	}
	xf->head_len = b.len;
	return 0;
}

void lk__fwd_start(struct lk_conn *c)
{
	struct lk_sworker *sw = sw_of(c);
	struct lk_server *srv = sw->srv;
	struct lk_sess_ctx *x = ctx_of(c);
	const struct lk_http_req *r = &x->req;
	bool logs = x->route == LK_ROUTE_LOGS;
	bool hijack = !logs && lk_proxy_hijack_kind(r) == LK_HIJACK_UPGRADE;
	bool stream = logs || hijack || lk_proxy_is_streaming(r->target, r->target_len);
	uint32_t flags = (hijack ? XF_HIJACK | XF_CNT_HIJACK : 0) | (stream ? XF_STREAM : 0) |
			 (logs ? XF_DEMUX : 0);

	if (hijack && !admit(&srv->n_hijacks, srv->cfg->max_hijacks)) {
		limited(c, "too many concurrent hijacked sessions");
		return;
	}
	if (!hijack && stream) {
		if (!admit(&srv->n_streams, srv->cfg->max_streams)) {
			limited(c, "too many concurrent streams");
			return;
		}
		flags |= XF_CNT_STREAM;
	}
	struct lk_xfer *xf = lk_pool_get(&sw->xfer_pool);
	if (xf == NULL) {
		if (hijack)
			atomic_fetch_sub_explicit(&srv->n_hijacks, 1, memory_order_relaxed);
		if (flags & XF_CNT_STREAM)
			atomic_fetch_sub_explicit(&srv->n_streams, 1, memory_order_relaxed);
		limited(c, "agent connection capacity exhausted");
		return;
	}
	*xf = (struct lk_xfer){ .flags = flags };
	c->xfer = xf;
	sw->stats.proxied++;
	lk__sess_set_state(c, LK_CS_PROXY);

	if (x->body_use != 0) {
		/* The body was read and verified whole (signed request): it is
		 * sent from there, and nothing more comes from the client. */
		lk_relay_init(&xf->c2u, LK_RELAY_LENGTH, 0, false);
		xf->body0 = x->body;
		xf->body0_len = x->body_len;
	} else {
		enum lk_http_body rb = lk_http_req_body(r);
		lk_relay_init(&xf->c2u, rb == LK_HTTP_BODY_CHUNKED ? LK_RELAY_CHUNKED : LK_RELAY_LENGTH,
			      rb == LK_HTTP_BODY_LENGTH ? (uint64_t)r->content_length : 0, false);
		ssize_t k = lk_relay_account(&xf->c2u, x->in + r->head_len, x->in_len - r->head_len);
		if (k < 0) {
			fail(c, xf->c2u.ch.status != 0 ? xf->c2u.ch.status : 400,
			     "malformed chunked request body");
			return;
		}
		xf->body0 = x->in + r->head_len;
		xf->body0_len = (uint32_t)k;
		x->consumed = r->head_len + (uint32_t)k;
	}
	if (build_up_head(c) < 0) {
		fail(c, 431, "request header fields too large");
		return;
	}
	if (stream)
		lk_timer_cancel(&c->timer);
	else
		lk__sess_arm_timer(c, LK_TQ_REQUEST);
	connect_up(c);
}

void lk__fwd_on_timer(struct lk_conn *c)
{
	struct lk_xfer *xf = xf_of(c);

	if (xf != NULL && !(xf->flags & XF_RESP_SENT)) {
		fail(c, 504, "docker did not answer within REQUEST_TIMEOUT");
		return;
	}
	lk__sess_close(c);
}

/* orphan_cqe tidies completions that outlived their exchange (a cancelled
 * relay read, a Docker op after an early error answer). */
static void orphan_cqe(struct lk_conn *c, uint8_t aux, uint32_t flags)
{
	if (flags & LK_CQE_F_BUFFER)
		lk_worker_pbuf_put(c->w, aux, flags);
	if (LK_AUX_SIDE(aux) == LK_AUX_UP && c->up_inflight == 0 && c->up_fd >= 0 &&
	    c->state != LK_CS_PROXY && c->state != LK_CS_RELAY && c->state != LK_CS_UPSTREAM) {
		close(c->up_fd);
		c->up_fd = -1;
	}
}

void lk__fwd_on_cqe(struct lk_conn *c, enum lk_op op, uint8_t aux, int res, uint32_t flags)
{
	struct lk_xfer *xf = xf_of(c);
	unsigned tag = LK_AUX_TAG(aux);

	if (xf == NULL || op == LK_OP_CANCEL) {
		orphan_cqe(c, aux, flags);
		return;
	}
	switch (tag) {
	case LK_TAG_U2C:
		relay_event(c, true, lk_relay_u2c(c, &xf->u2c, op, aux, res, flags));
		return;
	case LK_TAG_C2U:
		relay_event(c, false, lk_relay_c2u(c, &xf->c2u, op, aux, res, flags));
		return;
	case LK_TAG_HUP:
		xf->flags &= ~XF_HUP;
		if (res >= 0 && (res & (POLLRDHUP | POLLHUP | POLLERR)))
			lk__sess_close(c); /* the client left: drop Docker's side now */
		return;
	default:
		break;
	}
	if (LK_AUX_SIDE(aux) == LK_AUX_CLI) {
		if (op == LK_OP_SEND && xf->phase == PH_CLI_HEAD)
			on_cli_head_sent(c, res);
		else
			orphan_cqe(c, aux, flags);
		return;
	}
	switch (op) {
	case LK_OP_CONNECT:
		if (res < 0)
			upstream_failed(c, res);
		else
			send_up(c, PH_REQ_HEAD, ctx_of(c)->out, xf->head_len);
		break;
	case LK_OP_SEND:
		on_up_sent(c, res);
		break;
	case LK_OP_RECV:
		on_resp_bytes(c, res);
		break;
	default:
		orphan_cqe(c, aux, flags);
		break;
	}
}
