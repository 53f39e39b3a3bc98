/* tests/unit/test_worker.c - the worker loop and the session state machine,
 * driven through the fake ring: completions are injected with chosen
 * results, and the queued operations are inspected. */
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/worker.h"
#include "proxy/relay.h"
#include "proxy/session.h"
#include "proxy/session_int.h"
#include "tests/helpers/fake_ring.h"

struct fixture {
	struct lk_config cfg;
	struct lk_server srv;
	struct lk_sworker sw;
	struct lk_fake_ring *f;
	int listen_fd;
	int peer[8]; /* our ends of the client socketpairs */
	unsigned n_peer;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fx->cfg.request_timeout_s = 30;
	fx->cfg.max_streams = 4;
	fx->cfg.max_hijacks = 4;
	fx->cfg.docker_socket = (char *)"/nonexistent/docker.sock";
	fx->srv.cfg = &fx->cfg;
	fx->srv.docker_sa.sun_family = AF_UNIX;
	strcpy(fx->srv.docker_sa.sun_path, "/nonexistent/docker.sock"); /* test code: poison not included */
	fx->srv.docker_sa_len = sizeof(fx->srv.docker_sa);
	fx->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(lk_worker_init(&fx->sw.w, 0, 16, fx->listen_fd, &lk_session_ops, &fx->sw), 0);
	assert_int_equal(lk_pool_init(&fx->sw.ctx_pool, "request", sizeof(struct lk_sess_ctx), 4), 0);
	assert_int_equal(lk_pool_init(&fx->sw.xfer_pool, "xfer", lk__fwd_xfer_size(), 4), 0);
	fx->sw.srv = &fx->srv;
	fx->sw.w.pbuf_count = 8;
	fx->sw.w.pbuf_up_count = 2;
	fx->sw.w.pbuf_up_size = 4096;
	fx->sw.tq[LK_TQ_HANDSHAKE] = lk_worker_timerq(&fx->sw.w, 1000);
	fx->sw.tq[LK_TQ_HEADER] = lk_worker_timerq(&fx->sw.w, 2000);
	fx->sw.tq[LK_TQ_IDLE] = lk_worker_timerq(&fx->sw.w, 5000);
	fx->sw.tq[LK_TQ_REQUEST] = lk_worker_timerq(&fx->sw.w, 3000);
	assert_int_equal(lk_worker_setup(&fx->sw.w), 0);
	fx->f = lk_fake_ring_of(fx->sw.w.ring);
	assert_non_null(lk_fake_ring_find(fx->sw.w.ring, LK_FAKE_ACCEPT, fx->listen_fd));
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;

	/* Close whatever is left and let the loop reap it: pools must empty. */
	for (uint32_t i = 0; i < w->n_conns; i++)
		if ((w->conns[i].flags & LK_CONN_F_LIVE) && !lk_conn_is_closing(&w->conns[i]))
			lk_conn_close(&w->conns[i]);
	for (unsigned i = 0; i < fx->f->n_sqes; i++) {
		struct lk_fake_sqe *s = &fx->f->sqes[i];
		if (s->op == LK_FAKE_CANCEL_FD) {
			/* complete every op still pending on that fd, then the cancel */
			for (unsigned j = 0; j < fx->f->n_sqes; j++)
				if (fx->f->sqes[j].fd == s->fd && fx->f->sqes[j].op != LK_FAKE_CANCEL_FD &&
				    fx->f->sqes[j].ud != 0)
					lk_fake_ring_cqe(w->ring, fx->f->sqes[j].ud, -ECANCELED, 0);
			lk_fake_ring_cqe(w->ring, s->ud, 0, 0);
		}
	}
	lk_worker_turn(w, 0);
	assert_int_equal(w->live, 0);
	assert_int_equal(fx->sw.ctx_pool.in_use, 0);
	assert_int_equal(fx->f->pb[0].free, fx->f->pb[0].count);
	lk_pool_done(&fx->sw.ctx_pool);
	assert_int_equal(fx->sw.xfer_pool.in_use, 0);
	lk_pool_done(&fx->sw.xfer_pool);
	lk_ring_free(w->ring);
	w->ring = NULL;
	lk_worker_done(w);
	if (w->listen_fd >= 0)
		close(fx->listen_fd);
	for (unsigned i = 0; i < fx->n_peer; i++)
		close(fx->peer[i]);
	free(fx);
	return 0;
}

/* closed tells whether c was closed: still draining, or already reaped. */
static bool closed(const struct lk_conn *c)
{
	return !(c->flags & LK_CONN_F_LIVE) || lk_conn_is_closing(c);
}

/* accept_client injects an accepted socket and returns the conn. */
static struct lk_conn *accept_client(struct fixture *fx)
{
	int sv[2];
	struct lk_fake_sqe *acc = lk_fake_ring_find(fx->sw.w.ring, LK_FAKE_ACCEPT, fx->listen_fd);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx->peer[fx->n_peer++] = sv[1];
	lk_fake_ring_cqe(fx->sw.w.ring, acc->ud, sv[0], LK_CQE_F_MORE);
	lk_worker_turn(&fx->sw.w, 0);
	for (uint32_t i = 0; i < fx->sw.w.n_conns; i++)
		if ((fx->sw.w.conns[i].flags & LK_CONN_F_LIVE) && fx->sw.w.conns[i].fd == sv[0])
			return &fx->sw.w.conns[i];
	fail_msg("accepted conn not found");
	return NULL;
}

/* feed delivers bytes to c's pending provided-buffer receive. */
static void feed(struct fixture *fx, struct lk_conn *c, const char *data)
{
	struct lk_fake_sqe *rv = lk_fake_ring_find(fx->sw.w.ring, LK_FAKE_RECV_PBUF, c->fd);

	assert_non_null(rv);
	uint64_t ud = rv->ud;
	rv->ud = 0; /* consumed */
	uint32_t fl = lk_fake_ring_take_pbuf(fx->sw.w.ring, data, (unsigned)strlen(data));
	lk_fake_ring_cqe(fx->sw.w.ring, ud, (int)strlen(data), fl);
	lk_worker_turn(&fx->sw.w, 0);
}

/* complete_send finishes the last send queued on fd and returns its bytes. */
static const char *complete_send(struct fixture *fx, int fd, unsigned *len)
{
	struct lk_fake_sqe *s = lk_fake_ring_find(fx->sw.w.ring, LK_FAKE_SEND, fd);

	assert_non_null(s);
	assert_int_not_equal(s->ud, 0);
	uint64_t ud = s->ud;
	s->ud = 0;
	*len = s->len;
	lk_fake_ring_cqe(fx->sw.w.ring, ud, (int)s->len, 0);
	lk_worker_turn(&fx->sw.w, 0);
	return s->buf;
}

static void test_health_keepalive(void **state)
{
	struct fixture *fx = *state;
	struct lk_conn *c = accept_client(fx);
	unsigned len;

	assert_int_equal(c->state, LK_CS_READ_HEAD);
	feed(fx, c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(c->state, LK_CS_RESP);
	const char *out = complete_send(fx, c->fd, &len);
	assert_true(len > 20);
	assert_memory_equal(out, "HTTP/1.1 200 OK\r\n", 17);
	assert_non_null(memmem(out, len, "{\"status\":\"ok\"}\n", 16));
	/* Keep-alive: back to reading, holding no request context. */
	assert_int_equal(c->state, LK_CS_READ_HEAD);
	assert_null(c->ctx);
	assert_int_equal(fx->sw.ctx_pool.in_use, 0);
	assert_true(c->flags & LK_SF_IDLE);
	/* A second request on the same connection, split in two reads. */
	feed(fx, c, "GET /nope HTTP/1.1\r\n");
	assert_int_equal(c->state, LK_CS_READ_HEAD);
	feed(fx, c, "Host: x\r\n\r\n");
	/* Not an agent route: proxied. Docker's socket is missing: 502 JSON in
	 * Docker's error shape, and the connection is not reused. */
	assert_int_equal(c->state, LK_CS_PROXY);
	struct lk_fake_sqe *con = lk_fake_ring_find(fx->sw.w.ring, LK_FAKE_CONNECT, c->up_fd);
	assert_non_null(con);
	lk_fake_ring_cqe(fx->sw.w.ring, con->ud, -ENOENT, 0);
	lk_worker_turn(&fx->sw.w, 0);
	out = complete_send(fx, c->fd, &len);
	assert_memory_equal(out, "HTTP/1.1 502 ", 13);
	assert_non_null(memmem(out, len, "{\"message\":\"docker unreachable: No such file or directory\"}", 59));
	assert_int_equal(fx->sw.xfer_pool.in_use, 0);
}

static void test_bad_request_closes(void **state)
{
	struct fixture *fx = *state;
	struct lk_conn *c = accept_client(fx);
	unsigned len;

	feed(fx, c, "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
	const char *out = complete_send(fx, c->fd, &len);
	assert_memory_equal(out, "HTTP/1.1 400 ", 13);
	assert_non_null(memmem(out, len, "Connection: close", 17));
	assert_true(closed(c));
}

static void test_stale_generation_dropped(void **state)
{
	struct fixture *fx = *state;
	struct lk_conn *c = accept_client(fx);
	struct lk_fake_sqe *rv = lk_fake_ring_find(fx->sw.w.ring, LK_FAKE_RECV_PBUF, c->fd);
	uint64_t ud = rv->ud;
	uint32_t gen = c->_gen;

	/* Forge a completion for the previous generation of the slot: it must
	 * be dropped and its buffer given back. */
	uint64_t stale = (ud & ~((uint64_t)LK_UD_GEN_MASK << 32)) |
			 ((uint64_t)((gen - 1) & LK_UD_GEN_MASK) << 32);
	uint32_t fl = lk_fake_ring_take_pbuf(fx->sw.w.ring, "GET", 3);
	lk_fake_ring_cqe(fx->sw.w.ring, stale, 3, fl);
	lk_worker_turn(&fx->sw.w, 0);
	assert_int_equal(fx->sw.w.stats.stale_cqes, 1);
	assert_int_equal(fx->f->pb[0].free, fx->f->pb[0].count);
	assert_int_equal(c->state, LK_CS_READ_HEAD);
	assert_null(c->ctx);
}

static void test_close_waits_for_inflight(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *c = accept_client(fx);
	int fd = c->fd;
	uint32_t gen = c->_gen;
	uint64_t recv_ud = lk_fake_ring_find(w->ring, LK_FAKE_RECV_PBUF, fd)->ud;

	lk_conn_close(c);
	struct lk_fake_sqe *cancel = lk_fake_ring_find(w->ring, LK_FAKE_CANCEL_FD, fd);
	assert_non_null(cancel);
	uint64_t cancel_ud = cancel->ud;
	lk_worker_turn(w, 0);
	/* The recv and the cancel are still in flight: slot and fd stay. */
	assert_true(c->flags & LK_CONN_F_LIVE);
	assert_int_not_equal(fcntl(fd, F_GETFD), -1);
	lk_fake_ring_cqe(w->ring, recv_ud, -ECANCELED, 0);
	lk_worker_turn(w, 0);
	assert_true(c->flags & LK_CONN_F_LIVE);
	lk_fake_ring_cqe(w->ring, cancel_ud, 0, 0);
	lk_worker_turn(w, 0);
	assert_false(c->flags & LK_CONN_F_LIVE);
	assert_int_equal(c->_gen, (gen + 1) & LK_UD_GEN_MASK);
	assert_int_equal(w->live, 0);
	/* Completions for the dead generation are stale. */
	lk_fake_ring_cqe(w->ring, recv_ud, 0, 0);
	lk_worker_turn(w, 0);
	assert_int_equal(w->stats.stale_cqes, 1);
}

static void test_header_timeout(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *c = accept_client(fx);
	unsigned len;

	feed(fx, c, "GET /health HT");
	assert_int_equal(c->state, LK_CS_READ_HEAD);
	/* Jump the clock past HEADER_TIMEOUT (2 s here) and run the timers. */
	lk_timerq_run(&w->timerqs[fx->sw.tq[LK_TQ_HEADER]], w->now_ms + 2001, 16);
	const char *out = complete_send(fx, c->fd, &len);
	assert_memory_equal(out, "HTTP/1.1 408 ", 13);
	assert_true(closed(c));
}

static void test_idle_timeout_closes_silently(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *c = accept_client(fx);
	unsigned len;

	feed(fx, c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
	complete_send(fx, c->fd, &len);
	unsigned sends = fx->f->n_sqes;
	lk_timerq_run(&w->timerqs[fx->sw.tq[LK_TQ_IDLE]], w->now_ms + 5001, 16);
	assert_true(closed(c));
	for (unsigned i = sends; i < fx->f->n_sqes; i++)
		assert_int_not_equal(fx->f->sqes[i].op, LK_FAKE_SEND);
}

static void test_docker_health_ping(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *c = accept_client(fx);
	unsigned len;

	feed(fx, c, "GET /_lookout/health HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(c->state, LK_CS_UPSTREAM);
	int up = c->up_fd;
	struct lk_fake_sqe *con = lk_fake_ring_find(w->ring, LK_FAKE_CONNECT, up);
	assert_non_null(con);
	lk_fake_ring_cqe(w->ring, con->ud, 0, 0);
	lk_worker_turn(w, 0);
	const char *ping = complete_send(fx, up, &len);
	assert_memory_equal(ping, "GET /_ping HTTP/1.1\r\n", 21);
	struct lk_fake_sqe *rv = lk_fake_ring_find(w->ring, LK_FAKE_RECV, up);
	assert_non_null(rv);
	static const char pong[] = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK";
	memcpy((void *)rv->buf, pong, sizeof(pong) - 1);
	lk_fake_ring_cqe(w->ring, rv->ud, sizeof(pong) - 1, 0);
	lk_worker_turn(w, 0);
	assert_int_equal(c->up_fd, -1);
	const char *out = complete_send(fx, c->fd, &len);
	assert_memory_equal(out, "HTTP/1.1 200 OK\r\n", 17);
	assert_non_null(memmem(out, len, "\"status\":\"healthy\"", 18));
}

static void test_docker_down_is_503(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *c = accept_client(fx);
	unsigned len;

	feed(fx, c, "HEAD /_portwing/health HTTP/1.1\r\nHost: x\r\n\r\n");
	struct lk_fake_sqe *con = lk_fake_ring_find(w->ring, LK_FAKE_CONNECT, c->up_fd);
	lk_fake_ring_cqe(w->ring, con->ud, -ENOENT, 0);
	lk_worker_turn(w, 0);
	const char *out = complete_send(fx, c->fd, &len);
	assert_memory_equal(out, "HTTP/1.1 503 ", 13);
	/* HEAD: headers only, but the Content-Length of the GET body. */
	assert_null(memmem(out, len, "unhealthy", 9));
	assert_non_null(memmem(out, len, "Content-Length: 47", 18));
}

static void test_sq_full_closes_conn(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *c = accept_client(fx);

	/* The next queued op (the receive re-armed after a partial head)
	 * fails: the connection closes instead of hanging. */
	lk_fake_ring_fail_after(w->ring, 0);
	feed(fx, c, "GET /");
	lk_fake_ring_fail_after(w->ring, -1);
	assert_true(closed(c));
}

static void test_stop_closes_idle(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *idle = accept_client(fx);
	struct lk_conn *busy = accept_client(fx);

	feed(fx, busy, "GET /_lookout/health HTTP/1.1\r\nHost: x\r\n\r\n");
	lk_worker_request_stop(w);
	struct lk_fake_sqe *wake = NULL;
	for (unsigned i = 0; i < fx->f->n_sqes; i++)
		if (fx->f->sqes[i].op == LK_FAKE_READ)
			wake = &fx->f->sqes[i];
	assert_non_null(wake);
	lk_fake_ring_cqe(w->ring, wake->ud, 8, 0);
	lk_worker_turn(w, 0);
	assert_true(w->stopping);
	assert_true(lk_conn_is_closing(idle));
	assert_false(lk_conn_is_closing(busy));
	assert_true(busy->flags & LK_SF_CLOSE_AFTER);
	assert_non_null(lk_fake_ring_find(w->ring, LK_FAKE_CANCEL_FD, fx->listen_fd));
}

/* op_after returns the first recorded op of kind op on fd at or after
 * index from, or NULL. */
static struct lk_fake_sqe *op_after(struct fixture *fx, unsigned from, enum lk_fake_op op, int fd)
{
	for (unsigned i = from; i < fx->f->n_sqes; i++)
		if (fx->f->sqes[i].op == op && fx->f->sqes[i].fd == fd)
			return &fx->f->sqes[i];
	return NULL;
}

/* complete injects res for sqe and runs one loop turn. */
static void complete(struct fixture *fx, struct lk_fake_sqe *sqe, int res, uint32_t flags)
{
	assert_non_null(sqe);
	lk_fake_ring_cqe(fx->sw.w.ring, sqe->ud, res, flags);
	lk_worker_turn(&fx->sw.w, 0);
}

static void test_stream_splice_relay(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *c = accept_client(fx);
	unsigned len;

	feed(fx, c, "GET /v1.41/containers/x/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(c->state, LK_CS_PROXY);
	int up = c->up_fd;
	complete(fx, lk_fake_ring_find(w->ring, LK_FAKE_CONNECT, up), 0, 0);
	/* Streams ask Docker to close after the body: its EOF ends it. */
	const char *head = complete_send(fx, up, &len);
	assert_non_null(memmem(head, len, "Connection: close\r\n", 19));
	struct lk_fake_sqe *rv = lk_fake_ring_find(w->ring, LK_FAKE_RECV, up);
	static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	memcpy((void *)rv->buf, resp, sizeof(resp) - 1);
	complete(fx, rv, sizeof(resp) - 1, 0);
	const char *out = complete_send(fx, c->fd, &len);
	assert_memory_equal(out, "HTTP/1.1 200 OK\r\n", 17);
	assert_int_equal(c->state, LK_CS_RELAY);
	/* A stream keeps no request context, and watches for a hang-up. */
	assert_null(c->ctx);
	assert_int_equal(fx->sw.ctx_pool.in_use, 0);
	unsigned mark = fx->f->n_sqes;
	struct lk_fake_sqe *hup = NULL;
	for (unsigned i = 0; i < mark; i++)
		if (fx->f->sqes[i].op == LK_FAKE_POLL && fx->f->sqes[i].fd == c->fd)
			hup = &fx->f->sqes[i];
	assert_non_null(hup);
	/* Docker -> client: POLLIN first, never a splice on an idle socket. */
	struct lk_fake_sqe *pin = lk_fake_ring_find(w->ring, LK_FAKE_POLL, up);
	assert_non_null(pin);
	assert_null(lk_fake_ring_find(w->ring, LK_FAKE_SPLICE, up));
	/* Readable: splice Docker -> pipe (100 bytes, less than a chunk, so
	 * Docker has nothing more), then pipe -> client, which is full. */
	lk_fake_ring_splice_res(w->ring, 100);
	lk_fake_ring_splice_res(w->ring, -EAGAIN);
	complete(fx, pin, POLLIN, 0);
	struct lk_fake_sqe *sp_in = op_after(fx, mark, LK_FAKE_SPLICE, up);
	assert_non_null(sp_in);
	assert_int_equal(sp_in->fd_out, c->pipe_w);
	assert_int_equal(sp_in->len, c->pipe_cap);
	assert_true(c->pipe_cap >= 65536);
	struct lk_fake_sqe *sp_out = op_after(fx, mark, LK_FAKE_SPLICE, c->pipe_r);
	assert_non_null(sp_out);
	assert_int_equal(sp_out->fd_out, c->fd);
	assert_int_equal(sp_out->len, 100);
	/* The client's socket is full: one splice, then wait for POLLOUT. */
	assert_null(op_after(fx, (unsigned)(sp_out - fx->f->sqes) + 1, LK_FAKE_SPLICE, c->pipe_r));
	struct lk_fake_sqe *pout = op_after(fx, mark, LK_FAKE_POLL, c->fd);
	assert_non_null(pout);
	assert_int_equal(pout->len, POLLOUT);
	/* Room again: the 100 bytes go out in two pieces; the last splice in
	 * was short, so the relay polls before splicing in again. */
	mark = fx->f->n_sqes;
	lk_fake_ring_splice_res(w->ring, 60);
	lk_fake_ring_splice_res(w->ring, 40);
	complete(fx, pout, POLLOUT, 0);
	sp_out = op_after(fx, mark, LK_FAKE_SPLICE, c->pipe_r);
	assert_non_null(sp_out);
	assert_int_equal(sp_out->len, 100);
	sp_out = op_after(fx, (unsigned)(sp_out - fx->f->sqes) + 1, LK_FAKE_SPLICE, c->pipe_r);
	assert_non_null(sp_out);
	assert_int_equal(sp_out->len, 40);
	assert_null(op_after(fx, mark, LK_FAKE_SPLICE, up));
	pin = op_after(fx, mark, LK_FAKE_POLL, up);
	assert_non_null(pin);
	/* A busy Docker socket: full chunks are spliced back to back, at most
	 * LK_RELAY_SPLICE_TURN of them per readiness, then the relay polls
	 * again so other connections get their turn. */
	mark = fx->f->n_sqes;
	for (unsigned i = 0; i < LK_RELAY_SPLICE_TURN; i++) {
		lk_fake_ring_splice_res(w->ring, (int)c->pipe_cap);
		lk_fake_ring_splice_res(w->ring, (int)c->pipe_cap);
	}
	complete(fx, pin, POLLIN, 0);
	unsigned n_in = 0, n_out = 0;
	for (unsigned i = mark; i < fx->f->n_sqes; i++) {
		n_in += fx->f->sqes[i].op == LK_FAKE_SPLICE && fx->f->sqes[i].fd == up;
		n_out += fx->f->sqes[i].op == LK_FAKE_SPLICE && fx->f->sqes[i].fd == c->pipe_r;
	}
	assert_int_equal(n_in, LK_RELAY_SPLICE_TURN);
	assert_int_equal(n_out, LK_RELAY_SPLICE_TURN);
	pin = op_after(fx, mark, LK_FAKE_POLL, up);
	assert_non_null(pin);
	mark = fx->f->n_sqes;
	lk_fake_ring_splice_res(w->ring, 0);
	complete(fx, pin, POLLIN, 0);
	/* Docker's EOF ends the stream; the connection goes back to waiting for
	 * the next request and the hang-up watch is cancelled. */
	assert_non_null(op_after(fx, mark, LK_FAKE_SPLICE, up));
	assert_int_equal(c->state, LK_CS_READ_HEAD);
	assert_null(c->xfer);
	assert_int_equal(fx->sw.xfer_pool.in_use, 0);
	assert_int_equal(c->up_fd, -1);
	bool cancelled = false;
	for (unsigned i = mark; i < fx->f->n_sqes; i++)
		cancelled |= fx->f->sqes[i].op == LK_FAKE_CANCEL_UD && fx->f->sqes[i].target == hup->ud;
	assert_true(cancelled);
}

/* Docker's answer goes into the large buffer group; when that group is
 * empty (ENOBUFS) one receive takes a small buffer, then the large group is
 * tried again. Bytes from either reach the client in order. */
static void test_copy_relay_large_group_fallback(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *c = accept_client(fx);
	unsigned len;

	assert_int_equal(w->pbuf_up_count, 2);
	feed(fx, c, "GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(c->state, LK_CS_PROXY);
	int up = c->up_fd;
	complete(fx, lk_fake_ring_find(w->ring, LK_FAKE_CONNECT, up), 0, 0);
	complete_send(fx, up, &len);
	struct lk_fake_sqe *rv = lk_fake_ring_find(w->ring, LK_FAKE_RECV, up);
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
	memcpy((void *)rv->buf, resp, sizeof(resp) - 1);
	complete(fx, rv, sizeof(resp) - 1, 0);
	const char *out = complete_send(fx, c->fd, &len);
	assert_memory_equal(out, "HTTP/1.1 200 OK\r\n", 17);
	/* The body: a receive from the large group. */
	unsigned mark = fx->f->n_sqes;
	struct lk_fake_sqe *r1 = lk_fake_ring_find(w->ring, LK_FAKE_RECV_PBUF, up);
	assert_non_null(r1);
	assert_int_equal(r1->len, LK_PBUF_GROUP_UP);
	/* Empty: the next receive takes a small buffer. */
	complete(fx, r1, -ENOBUFS, 0);
	struct lk_fake_sqe *r2 = op_after(fx, mark, LK_FAKE_RECV_PBUF, up);
	assert_non_null(r2);
	assert_int_equal(r2->len, LK_PBUF_GROUP_CLI);
	unsigned free0 = fx->f->pb[0].free;
	uint32_t fl = lk_fake_ring_take_pbuf(w->ring, "01234", 5);
	mark = fx->f->n_sqes;
	complete(fx, r2, 5, fl);
	const char *b1 = complete_send(fx, c->fd, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(b1, "01234", 5);
	assert_int_equal(fx->f->pb[0].free, free0); /* given back once sent */
	/* The large group again for the rest. */
	struct lk_fake_sqe *r3 = op_after(fx, mark, LK_FAKE_RECV_PBUF, up);
	assert_non_null(r3);
	assert_int_equal(r3->len, LK_PBUF_GROUP_UP);
	fl = lk_fake_ring_take_group_pbuf(w->ring, LK_PBUF_GROUP_UP, "56789", 5);
	complete(fx, r3, 5, fl);
	const char *b2 = complete_send(fx, c->fd, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(b2, "56789", 5);
	assert_int_equal(fx->f->pb[1].free, fx->f->pb[1].count);
	/* The answer is complete: the connection waits for the next request. */
	assert_int_equal(c->state, LK_CS_READ_HEAD);
}

/* count_ops counts recorded ops of kind op on fd. */
static unsigned count_ops(struct fixture *fx, enum lk_fake_op op, int fd)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fx->f->n_sqes; i++)
		n += fx->f->sqes[i].op == op && fx->f->sqes[i].fd == fd;
	return n;
}

/* A receive that finds the small buffers all taken (ENOBUFS) is not retried
 * at once, which would fail again at once in a loop: the completion is held
 * until a buffer is returned (or the connection closes). */
static void test_enobufs_waits_for_a_buffer(void **state)
{
	struct fixture *fx = *state;
	struct lk_worker *w = &fx->sw.w;
	struct lk_conn *c = accept_client(fx);
	struct lk_conn *d = accept_client(fx);

	struct lk_fake_sqe *rv = lk_fake_ring_find(w->ring, LK_FAKE_RECV_PBUF, c->fd);
	assert_non_null(rv);
	unsigned before = count_ops(fx, LK_FAKE_RECV_PBUF, c->fd);
	uint16_t inflight = c->_inflight;
	/* A buffer held elsewhere (d's receive), the pool otherwise empty. */
	uint32_t held = lk_fake_ring_take_pbuf(w->ring, "x", 1);
	uint64_t ud = rv->ud;
	rv->ud = 0; /* consumed: teardown must not complete it again */
	lk_fake_ring_cqe(w->ring, ud, -ENOBUFS, 0);
	lk_worker_turn(w, 0);
	assert_int_equal(w->stats.enobufs, 1);
	assert_int_equal(count_ops(fx, LK_FAKE_RECV_PBUF, c->fd), before); /* not retried */
	assert_int_equal(c->_inflight, inflight); /* still pending */
	lk_worker_turn(w, 0);
	assert_int_equal(count_ops(fx, LK_FAKE_RECV_PBUF, c->fd), before);
	/* The buffer comes back: the receive is tried again. */
	lk_worker_pbuf_put(w, LK_AUX(LK_AUX_CLI, LK_PBUF_GROUP_CLI), held);
	lk_worker_turn(w, 0);
	assert_int_equal(count_ops(fx, LK_FAKE_RECV_PBUF, c->fd), before + 1);
	assert_int_equal(w->_n_parked, 0);
	/* Held again, then the client closes: the connection goes at once. */
	rv = lk_fake_ring_find(w->ring, LK_FAKE_RECV_PBUF, d->fd);
	ud = rv->ud;
	rv->ud = 0;
	lk_fake_ring_cqe(w->ring, ud, -ENOBUFS, 0);
	lk_worker_turn(w, 0);
	assert_int_equal(w->_n_parked, 1);
	uint32_t live = w->live;
	int dfd = d->fd;
	lk_conn_close(d);
	lk_worker_turn(w, 0);
	assert_int_equal(w->_n_parked, 0); /* delivered at once: it is closing */
	/* Its cancel completes; nothing else is pending on it: it is freed. */
	struct lk_fake_sqe *cn = lk_fake_ring_find(w->ring, LK_FAKE_CANCEL_FD, dfd);
	assert_non_null(cn);
	ud = cn->ud;
	cn->ud = 0;
	cn->op = LK_FAKE_CANCEL_UD; /* done: keep teardown from replaying it */
	lk_fake_ring_cqe(w->ring, ud, 0, 0);
	lk_worker_turn(w, 0);
	assert_int_equal(w->live, live - 1);
}

/* A bare worker with recording ops, for core behaviour below the session. */
static struct {
	unsigned calls;
	enum lk_op op;
	int res;
} rec;

static void rec_accept(struct lk_worker *w, int fd)
{
	close(fd);
}

static void rec_cqe(struct lk_worker *w, struct lk_conn *c, enum lk_op op, uint8_t aux, int res,
		    uint32_t flags)
{
	rec.calls++;
	rec.op = op;
	rec.res = res;
}

static void rec_stop(struct lk_worker *w)
{
}

static void rec_free(struct lk_worker *w, struct lk_conn *c)
{
}

static const struct lk_worker_ops rec_ops = {
	.on_accept = rec_accept, .on_cqe = rec_cqe, .on_stop = rec_stop, .on_free = rec_free,
};

static void test_zero_copy_send_completes_once_at_notification(void **state)
{
	struct lk_worker w;
	static char region[4][16384];
	int sv[2];

	rec.calls = 0;
	assert_int_equal(lk_worker_init(&w, 0, 4, -1, &rec_ops, NULL), 0);
	assert_int_equal(lk_worker_fixed_region(&w, region, sizeof(region[0]), 4), 0);
	assert_int_equal(lk_worker_setup(&w), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct lk_conn *c = lk_conn_new(&w, sv[0]);

	/* Small sends, and sends from outside the region, copy. */
	assert_int_equal(lk_conn_send(c, LK_AUX_CLI, region[1], 100), 0);
	assert_non_null(lk_fake_ring_find(w.ring, LK_FAKE_SEND, sv[0]));
	char heap[9000];
	assert_int_equal(lk_conn_send(c, LK_AUX_CLI, heap, sizeof(heap)), 0);
	/* So does a large one while the protocol has not allowed zero-copy
	 * (finite answers: the last send would wait for a delayed ACK). */
	assert_int_equal(lk_conn_send(c, LK_AUX_CLI, region[2] + 100, 12000), 0);
	assert_int_equal(w.stats.zc_sends, 0);
	assert_null(lk_fake_ring_find(w.ring, LK_FAKE_SEND_ZC, sv[0]));
	/* Allowed (a stream), a large send from the region goes zero-copy. */
	c->flags |= LK_CONN_F_ZC;
	assert_int_equal(lk_conn_send(c, LK_AUX_CLI, region[2] + 100, 12000), 0);
	struct lk_fake_sqe *zc = lk_fake_ring_find(w.ring, LK_FAKE_SEND_ZC, sv[0]);
	assert_non_null(zc);
	assert_int_equal(w.stats.zc_sends, 1);
	uint16_t before = c->_inflight;
	/* The result arrives first, with MORE: nothing for the protocol yet,
	 * the buffer is still the kernel's. */
	lk_fake_ring_cqe(w.ring, zc->ud, 12000, LK_CQE_F_MORE);
	lk_worker_turn(&w, 0);
	assert_int_equal(rec.calls, 0);
	assert_int_equal(c->_inflight, before);
	/* The notification completes the send, with the result. */
	lk_fake_ring_cqe(w.ring, zc->ud, 0, LK_CQE_F_NOTIF);
	lk_worker_turn(&w, 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.op, LK_OP_SEND);
	assert_int_equal(rec.res, 12000);
	assert_int_equal(c->_inflight, before - 1);
	lk_ring_free(w.ring);
	w.ring = NULL;
	lk_worker_done(&w);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_health_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_request_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_generation_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_waits_for_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout_closes_silently, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_health_ping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_down_is_503, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sq_full_closes_conn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_closes_idle, setup, teardown),
		cmocka_unit_test(test_zero_copy_send_completes_once_at_notification),
		cmocka_unit_test_setup_teardown(test_stream_splice_relay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_relay_large_group_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enobufs_waits_for_a_buffer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
