/* proxy/relay.c - body and stream relay, splice and copy (see relay.h). */
#include <sys/socket.h>
#include <poll.h>
#include <string.h>

#include "core/dbg.h"
#include "core/err.h"
#include "core/tls.h"
#include "proxy/relay.h"

void lk_relay_init(struct lk_relay_dir *d, enum lk_relay_framing framing, uint64_t len,
		   bool splice)
{
	*d = (struct lk_relay_dir){ .framing = (uint8_t)framing, .splice = splice };
	if (framing == LK_RELAY_LENGTH) {
		d->remaining = len;
		d->eof = len == 0;
	}
	if (framing == LK_RELAY_CHUNKED)
		lk_http_chunked_init(&d->ch, 0);
}

ssize_t lk_relay_account(struct lk_relay_dir *d, const char *p, size_t n)
{
	size_t take = n;

	switch ((enum lk_relay_framing)d->framing) {
	case LK_RELAY_EOF:
		break;
	case LK_RELAY_LENGTH:
		take = (size_t)LK_MIN((uint64_t)n, d->remaining);
		d->remaining -= take;
		d->eof = d->remaining == 0;
		break;
	case LK_RELAY_CHUNKED: {
		bool done = false;
		ssize_t k = lk_http_chunked_scan(&d->ch, p, n, &done);
		if (k < 0)
			return k;
		take = (size_t)k;
		d->eof = done;
		break;
	}
	}
	d->excess = take < n;
	d->bytes += take;
	return (ssize_t)take;
}

ssize_t lk_relay_demux(struct lk_relay_dir *d, char *p, size_t n)
{
	size_t in = 0, out = 0;

	if (!d->demux)
		return (ssize_t)n;
	if (d->framing == LK_RELAY_CHUNKED) {
		ssize_t rc = lk_http_chunked_decode(&d->dech, p, &n);
		if (rc < 0 && rc != LK_AGAIN)
			return -EPROTO;
	}
	if (d->dm == 0 && n > 0) {
		/* A frame header starts with the stream (0, 1 or 2) and three
		 * zero bytes; TTY output (not framed) practically never does. */
		const unsigned char *b = (const unsigned char *)p;
		bool framed = b[0] <= 2 && (n < 2 || b[1] == 0) && (n < 3 || b[2] == 0) &&
			      (n < 4 || b[3] == 0);
		d->dm = framed ? 1 : 2;
	}
	if (d->dm != 1)
		return (ssize_t)n;
	while (in < n) {
		if (d->pay_left == 0) {
			size_t take = LK_MIN((size_t)(8 - d->hdr_have), n - in);

			memcpy(d->hdr + d->hdr_have, p + in, take);
			d->hdr_have += (uint8_t)take;
			in += take;
			if (d->hdr_have == 8) {
				d->pay_left = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
					      (uint32_t)d->hdr[6] << 8 | d->hdr[7];
				d->hdr_have = 0;
			}
			continue;
		}
		size_t take = LK_MIN((size_t)d->pay_left, n - in);
		memmove(p + out, p + in, take);
		out += take;
		in += take;
		d->pay_left -= (uint32_t)take;
	}
	return (ssize_t)out;
}

void lk_relay_release(struct lk_conn *c, struct lk_relay_dir *d)
{
	if (d->buf == NULL)
		return;
	lk_worker_pbuf_put(c->w, d->aux, d->cqe_flags);
	d->buf = NULL;
}

/* hold takes the provided buffer a receive filled, res bytes of which are
 * data, and frames it. */
static int hold(struct lk_conn *c, struct lk_relay_dir *d, uint8_t aux, int res, uint32_t flags)
{
	d->buf = lk_worker_pbuf(c->w, aux, flags);
	d->aux = aux;
	d->cqe_flags = flags;
	d->off = 0;
	ssize_t k = lk_relay_account(d, d->buf, (size_t)res);
	if (k < 0)
		return (int)k;
	k = lk_relay_demux(d, d->buf, (size_t)k);
	if (k < 0)
		return (int)k;
	d->len = (uint32_t)k;
	return 0;
}

static enum lk_relay_ev queued(struct lk_relay_dir *d, int rc)
{
	if (rc < 0)
		return LK_RELAY_FAIL;
	d->busy = true;
	return LK_RELAY_MORE;
}

/* ---- Docker -> client, copy ------------------------------------------- */

/* up_group picks the buffer group for Docker's bytes: the large buffers,
 * unless the worker has none or they ran out on the last receive (then
 * one receive takes a small buffer instead of retrying the empty group). */
static uint16_t up_group(const struct lk_conn *c, struct lk_relay_dir *d)
{
	bool small = c->w->pbuf_up_count == 0 || d->up_small;

	d->up_small = false;
	return (uint16_t)(small ? LK_PBUF_GROUP_CLI : LK_PBUF_GROUP_UP);
}

static enum lk_relay_ev u2c_copy_pump(struct lk_conn *c, struct lk_relay_dir *d)
{
	if (c->tls != NULL) {
		while (d->buf != NULL && d->off < d->len) {
			ssize_t k = lk_tls_write(c->tls, d->buf + d->off, d->len - d->off);
			if (k == LK_AGAIN)
				break;
			if (k < 0)
				return LK_RELAY_FAIL;
			d->off += (uint32_t)k;
		}
		if (d->buf != NULL && d->off == d->len)
			lk_relay_release(c, d);
		const void *p;
		size_t n = lk_tls_out_peek(c->tls, &p);
		if (n != 0)
			return queued(d, lk_conn_send(c, LK_AUX_CLI, p, (unsigned)LK_MIN(n, (size_t)1 << 30)));
	} else {
		if (d->buf != NULL && d->off < d->len)
			return queued(d, lk_conn_send(c, LK_AUX_CLI, d->buf + d->off, d->len - d->off));
		lk_relay_release(c, d);
	}
	if (d->eof)
		return LK_RELAY_DONE;
	return queued(d, lk_conn_recv_pbuf(c, LK_AUX_UP, up_group(c, d)));
}

static enum lk_relay_ev u2c_copy(struct lk_conn *c, struct lk_relay_dir *d, enum lk_op op,
				 uint8_t aux, int res, uint32_t flags)
{
	if (op == LK_OP_RECV) {
		if (res == -ENOBUFS) {
			d->up_small = LK_AUX_BGID(aux) == LK_PBUF_GROUP_UP;
			return u2c_copy_pump(c, d);
		}
		if (res < 0)
			return LK_RELAY_FAIL;
		if (res == 0) {
			/* Docker closed: the end of an EOF-delimited body, a
			 * truncation of a framed one. */
			if (d->framing != LK_RELAY_EOF)
				return LK_RELAY_FAIL;
			d->eof = true;
		} else if (hold(c, d, aux, res, flags) < 0) {
			lk_relay_release(c, d);
			return LK_RELAY_FAIL;
		}
	} else if (op == LK_OP_SEND) {
		if (res < 0)
			return LK_RELAY_FAIL;
		if (c->tls != NULL)
			lk_tls_out_consume(c->tls, (size_t)res);
		else
			d->off += (uint32_t)res;
	}
	return u2c_copy_pump(c, d);
}

/* ---- Docker -> client, splice ------------------------------------------ */

/* u2c_splice_pump moves what Docker has through the pipe with direct,
 * non-blocking splice(2) calls (never a splice on the ring: io_uring always
 * hands those to a kernel worker thread) and waits on the ring only for
 * readiness: POLLIN on Docker's socket, POLLOUT on a full client socket.
 * At most LK_RELAY_SPLICE_TURN pipefuls per call, then it polls (which
 * completes at once when more is waiting) so other connections get their
 * turn. */
static enum lk_relay_ev u2c_splice_pump(struct lk_conn *c, struct lk_relay_dir *d)
{
	unsigned turn = LK_RELAY_SPLICE_TURN;

	for (;;) {
		if (d->pipe_fill > 0) {
			/* A client that reads slowly fills its socket: wait for
			 * POLLOUT instead of trying again at once. */
			if (d->cli_full)
				return queued(d, lk_conn_poll(c, LK_AUX_CLI, POLLOUT, LK_TAG_U2C));
			int n = lk_conn_splice(c, LK_AUX_CLI, d->pipe_fill);
			if (n == -EAGAIN) {
				d->cli_full = true;
				continue;
			}
			if (n <= 0)
				return LK_RELAY_FAIL;
			d->pipe_fill -= (uint32_t)n;
			continue;
		}
		if (d->eof)
			return LK_RELAY_DONE;
		/* Splice only while Docker's socket is known to hold data (after
		 * POLLIN, or after a splice that filled a whole chunk), so an
		 * idle stream costs one armed poll and nothing else. */
		if (!d->readable || turn-- == 0)
			return queued(d, lk_conn_poll(c, LK_AUX_UP, POLLIN | POLLRDHUP, LK_TAG_U2C));
		/* The pipe comes with the first bytes; without one (out of
		 * fds) the copy relay serves the rest of the stream. */
		if (lk_conn_pipe(c) < 0) {
			d->splice = false;
			return u2c_copy_pump(c, d);
		}
		int n = lk_conn_splice(c, LK_AUX_UP, c->pipe_cap);
		if (n == -EAGAIN) {
			d->readable = false;
			continue;
		}
		if (n < 0)
			return LK_RELAY_FAIL;
		if (n == 0)
			d->eof = true;
		d->pipe_fill += (uint32_t)n;
		d->bytes += (uint32_t)n;
		d->readable = (unsigned)n == c->pipe_cap;
	}
}

static enum lk_relay_ev u2c_splice(struct lk_conn *c, struct lk_relay_dir *d, enum lk_op op,
				   uint8_t aux, int res)
{
	if (op == LK_OP_POLL) {
		if (res < 0)
			return LK_RELAY_FAIL;
		if (LK_AUX_SIDE(aux) == LK_AUX_CLI)
			d->cli_full = false; /* POLLOUT (or an error the splice will report) */
		else
			d->readable = true; /* POLLIN, or an EOF/error the splice will report */
	}
	return u2c_splice_pump(c, d);
}

enum lk_relay_ev lk_relay_u2c(struct lk_conn *c, struct lk_relay_dir *d, enum lk_op op,
			      uint8_t aux, int res, uint32_t flags)
{
	enum lk_relay_ev ev;

	if (op != LK_OP_NONE) {
		LK_ASSERT(d->busy);
		d->busy = false;
	}
	LK_ASSERT(!d->busy);
	c->op_tag = LK_TAG_U2C;
	if (d->splice)
		ev = u2c_splice(c, d, op, aux, res);
	else
		ev = u2c_copy(c, d, op, aux, res, flags);
	c->op_tag = LK_TAG_SESS;
	return ev;
}

/* ---- client -> Docker, copy ---------------------------------------------- */

/* c2u_decrypt reads plaintext from the TLS engine into the held buffer's
 * memory (its ciphertext was already fed). Returns 1 with data held, 0 when
 * the engine has nothing (buffer released), or a negative error. */
static int c2u_decrypt(struct lk_conn *c, struct lk_relay_dir *d)
{
	ssize_t k = lk_tls_read(c->tls, d->buf, c->w->pbuf_size);

	if (k == LK_AGAIN) {
		lk_relay_release(c, d);
		return 0;
	}
	if (k == 0) {
		lk_relay_release(c, d);
		return d->framing == LK_RELAY_EOF ? (d->eof = true, 0) : -EPIPE;
	}
	if (k < 0)
		return (int)k;
	d->off = 0;
	ssize_t n = lk_relay_account(d, d->buf, (size_t)k);
	if (n < 0)
		return (int)n;
	d->len = (uint32_t)n;
	return 1;
}

static enum lk_relay_ev c2u_pump(struct lk_conn *c, struct lk_relay_dir *d)
{
	for (;;) {
		if (d->buf != NULL && d->off < d->len)
			return queued(d, lk_conn_send(c, LK_AUX_UP, d->buf + d->off, d->len - d->off));
		if (d->buf == NULL)
			break;
		/* Sent everything held. With TLS the engine may hold more
		 * plaintext: decrypt it into the same buffer. */
		if (c->tls == NULL || d->eof) {
			lk_relay_release(c, d);
			break;
		}
		int rc = c2u_decrypt(c, d);
		if (rc < 0)
			return LK_RELAY_FAIL;
		if (rc == 0)
			break;
	}
	if (d->eof && d->framing == LK_RELAY_EOF && !d->shut) {
		d->shut = true;
		return queued(d, lk_conn_shutdown(c, LK_AUX_UP, SHUT_WR));
	}
	if (d->eof)
		return LK_RELAY_DONE;
	return queued(d, lk_conn_recv_pbuf(c, LK_AUX_CLI, LK_PBUF_GROUP_CLI));
}

/* c2u_received takes a client receive: plaintext is held as is; TLS
 * ciphertext is fed to the engine and decrypted into the same buffer. */
static int c2u_received(struct lk_conn *c, struct lk_relay_dir *d, uint8_t aux, int res,
			uint32_t flags)
{
	if (res == 0) {
		/* Client FIN: the end of a hijacked stdin, or an aborted body. */
		if (d->framing != LK_RELAY_EOF)
			return -EPIPE;
		d->eof = true;
		return 0;
	}
	if (c->tls == NULL)
		return hold(c, d, aux, res, flags);
	char *p = lk_worker_pbuf(c->w, aux, flags);
	ssize_t fed = lk_tls_feed(c->tls, p, (size_t)res);
	d->buf = p;
	d->aux = aux;
	d->cqe_flags = flags;
	/* Plaintext is drained before every receive, so the engine's input
	 * buffer (two records) always has room for one provided buffer. */
	if (fed != res)
		return fed < 0 ? (int)fed : -EPROTO;
	return c2u_decrypt(c, d) < 0 ? -EPROTO : 0;
}

enum lk_relay_ev lk_relay_c2u(struct lk_conn *c, struct lk_relay_dir *d, enum lk_op op,
			      uint8_t aux, int res, uint32_t flags)
{
	enum lk_relay_ev ev = LK_RELAY_FAIL;

	if (op != LK_OP_NONE) {
		LK_ASSERT(d->busy);
		d->busy = false;
	}
	LK_ASSERT(!d->busy);
	c->op_tag = LK_TAG_C2U;
	switch (op) {
	case LK_OP_RECV:
		if (res == -ENOBUFS || (res >= 0 && c2u_received(c, d, aux, res, flags) == 0))
			ev = c2u_pump(c, d);
		else
			lk_relay_release(c, d);
		break;
	case LK_OP_SEND:
		if (res >= 0) {
			d->off += (uint32_t)res;
			ev = c2u_pump(c, d);
		}
		break;
	case LK_OP_SHUTDOWN:
		/* Docker may already have closed its side: nothing to shut. */
		ev = LK_RELAY_DONE;
		break;
	default:
		ev = c2u_pump(c, d);
		break;
	}
	c->op_tag = LK_TAG_SESS;
	return ev;
}
