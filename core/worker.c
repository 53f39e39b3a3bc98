/* core/worker.c - the per-core loop (see worker.h).
 *
 * One turn, in this order, each phase bounded:
 *   1. submit queued SQEs and wait for a completion or the next deadline;
 *   2. drain at most LK_WORKER_BATCH CQEs: decode, generation check, release
 *      the in-flight count, hand to the protocol layer;
 *   3. fire expired timers (bounded per queue);
 *   4. shutdown bookkeeping;
 *   5. reap: free closed conns whose in-flight count reached zero.
 * Handlers never free a slot, so a conn pointer stays valid for the whole
 * turn in which it was looked up. */
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dbg.h"
#include "core/err.h"
#include "core/worker.h"

#define LK_WORKER_BATCH 256
#define LK_WORKER_TIMER_MAX 1024 /* timers fired per queue per turn */

LK_STATIC_ASSERT(LK_OP__COUNT <= 256, "op fits 8 bits");

static uint64_t ud_make(enum lk_op op, uint32_t idx, uint32_t gen, uint8_t aux)
{
	return (uint64_t)op | ((uint64_t)(idx & LK_UD_GEN_MASK) << 8) |
	       ((uint64_t)(gen & LK_UD_GEN_MASK) << 32) | ((uint64_t)aux << 56);
}

static enum lk_op ud_op(uint64_t ud)
{
	return (enum lk_op)(ud & 0xff);
}

static uint32_t ud_idx(uint64_t ud)
{
	return (uint32_t)(ud >> 8) & LK_UD_GEN_MASK;
}

static uint32_t ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 32) & LK_UD_GEN_MASK;
}

static uint8_t ud_aux(uint64_t ud)
{
	return (uint8_t)(ud >> 56);
}

int lk_worker_init(struct lk_worker *w, unsigned id, uint32_t n_conns, int listen_fd,
		   const struct lk_worker_ops *ops, void *data)
{
	LK_ASSERT(n_conns > 0 && n_conns < LK_UD_NO_CONN);
	*w = (struct lk_worker){
		.id = id,
		.ops = ops,
		.data = data,
		.n_conns = n_conns,
		.listen_fd = listen_fd,
		.wake_fd = -1,
		.shutdown_timeout_ms = 10000,
		.ring_entries = 1024,
		.pbuf_count = 256,
		.pbuf_size = 16384,
		.pbuf_up_count = 64,
		.pbuf_up_size = 65536,
	};
	atomic_init(&w->stop_requested, false);
	/* The wake-up eventfd exists before the thread does, so other threads
	 * (verifiers, the reloader) can be handed it at start-up. */
	w->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -errno;
	/* calloc of a large slab is an untouched mapping: idle slots cost no
	 * RSS. The free stack is written only as slots are freed. */
	w->conns = calloc(n_conns, sizeof(*w->conns));
	w->_free = calloc(n_conns, sizeof(*w->_free));
	if (w->conns == NULL || w->_free == NULL) {
		free(w->conns);
		free(w->_free);
		w->conns = NULL;
		w->_free = NULL;
		close(w->wake_fd);
		w->wake_fd = -1;
		return -ENOMEM;
	}
	return 0;
}

int lk_worker_fixed_region(struct lk_worker *w, void *base, size_t obj_size, uint32_t count)
{
	/* io_uring allows at most 16384 registered buffers per ring. */
	count = LK_MIN(count, (uint32_t)16384);
	w->_fixed_reg = calloc(count, 1);
	if (w->_fixed_reg == NULL)
		return -ENOMEM;
	w->fixed_base = base;
	w->fixed_obj = obj_size;
	w->fixed_count = count;
	return 0;
}

void lk_worker_done(struct lk_worker *w)
{
	lk_ring_free(w->ring);
	w->ring = NULL;
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->wake_fd = -1;
	free(w->conns);
	free(w->_free);
	free(w->_fixed_reg);
	free(w->_parked);
	w->_parked = NULL;
	w->_n_parked = 0;
	w->conns = NULL;
	w->_free = NULL;
	w->_fixed_reg = NULL;
}

unsigned lk_worker_timerq(struct lk_worker *w, uint64_t duration_ms)
{
	LK_ASSERT(w->n_timerqs < LK_WORKER_TIMERQS);
	lk_timerq_init(&w->timerqs[w->n_timerqs], duration_ms);
	return w->n_timerqs++;
}

/* Held ENOBUFS completions (park_enobufs): at most this many per worker,
 * each at most this long. */
#define LK_PARK_MAX 4096
#define LK_PARK_MS 50

/* How long accepting pauses after the kernel refused an accept for lack of
 * descriptors or memory (sooner when a connection is freed). */
#define LK_ACCEPT_RETRY_MS 100

static int arm_accept(struct lk_worker *w)
{
	int rc = lk_ring_accept_multishot(w->ring, w->listen_fd,
					  ud_make(LK_OP_ACCEPT, LK_UD_NO_CONN, 0, 0));
	w->_accept_armed = rc == 0;
	return rc;
}

static int arm_wake(struct lk_worker *w)
{
	return lk_ring_read(w->ring, w->wake_fd, &w->_wake_buf, sizeof(w->_wake_buf),
			    ud_make(LK_OP_WAKE, LK_UD_NO_CONN, 0, 0));
}

int lk_worker_setup(struct lk_worker *w)
{
	int rc;

	w->ring = lk_ring_new(w->ring_entries, w->init_err, sizeof(w->init_err));
	if (w->ring == NULL)
		return -ENOMEM;
	w->ring_flags = lk_ring_flags_str(w->ring);
	rc = lk_ring_pbuf_setup(w->ring, LK_PBUF_GROUP_CLI, w->pbuf_count, w->pbuf_size);
	if (rc < 0) {
		snprintf(w->init_err, sizeof(w->init_err), "provided buffers: %s", strerror(-rc));
		return rc;
	}
	/* Without the large group, Docker's bytes use the small one: not
	 * fatal. */
	if (w->pbuf_up_count != 0 &&
	    lk_ring_pbuf_setup(w->ring, LK_PBUF_GROUP_UP, w->pbuf_up_count, w->pbuf_up_size) < 0)
		w->pbuf_up_count = 0;
	/* Without registered buffers the copying send serves: not fatal. */
	if (w->fixed_count != 0 && lk_ring_fixed_sparse(w->ring, w->fixed_count) < 0)
		w->fixed_count = 0;
	rc = arm_wake(w);
	if (rc == 0 && w->listen_fd >= 0)
		rc = arm_accept(w);
	if (rc < 0)
		snprintf(w->init_err, sizeof(w->init_err), "arming accept: %s", strerror(-rc));
	w->now_ms = lk_time_ms();
	return rc;
}

static void *worker_main(void *arg)
{
	struct lk_worker *w = arg;

	w->init_rc = lk_worker_setup(w);
	sem_post(w->ready);
	if (w->init_rc == 0)
		lk_worker_run(w);
	/* The ring is SINGLE_ISSUER: unregistering its buffers must happen on
	 * this thread. */
	if (w->ring != NULL)
		w->stats.cq_overflows = lk_ring_overflows(w->ring);
	lk_ring_free(w->ring);
	w->ring = NULL;
	return NULL;
}

int lk_worker_spawn(struct lk_worker *w, sem_t *ready)
{
	w->ready = ready;
	return -pthread_create(&w->thread, NULL, worker_main, w);
}

void lk_worker_request_stop(struct lk_worker *w)
{
	uint64_t one = 1;

	atomic_store_explicit(&w->stop_requested, true, memory_order_release);
	/* A failed write only delays the stop until the next completion. */
	(void)!write(w->wake_fd, &one, sizeof(one));
}

struct lk_conn *lk_conn_new(struct lk_worker *w, int fd)
{
	uint32_t idx;

	if (w->_n_free != 0)
		idx = w->_free[--w->_n_free];
	else if (w->_fresh < w->n_conns)
		idx = w->_fresh++;
	else
		return NULL;
	struct lk_conn *c = &w->conns[idx];

	LK_ASSERT(!(c->flags & LK_CONN_F_LIVE));
	*c = (struct lk_conn){
		._gen = c->_gen,
		._idx = idx,
		.flags = LK_CONN_F_LIVE,
		.fd = fd,
		.up_fd = -1,
		.pipe_r = -1,
		.pipe_w = -1,
		.w = w,
	};
	w->live++;
	return c;
}

bool lk_conn_is_closing(const struct lk_conn *c)
{
	return (c->flags & LK_CONN_F_CLOSING) != 0;
}

static void reap_push(struct lk_worker *w, struct lk_conn *c)
{
	LK_ASSERT(c->_inflight == 0);
	c->_next_reap = w->_reap;
	w->_reap = c;
}

void lk_conn_close(struct lk_conn *c)
{
	struct lk_worker *w = c->w;

	LK_ASSERT(c->flags & LK_CONN_F_LIVE);
	if (c->flags & LK_CONN_F_CLOSING)
		return;
	c->flags |= LK_CONN_F_CLOSING;
	lk_timer_cancel(&c->timer);
	if (c->_inflight == 0) {
		reap_push(w, c);
		return;
	}
	/* The fds stay open until the reap phase, so the cancel cannot hit a
	 * reused descriptor number. Cancels are counted like any other op. */
	int fds[2] = { c->fd, c->up_fd };
	for (unsigned i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		if (lk_ring_cancel_fd(w->ring, fds[i], ud_make(LK_OP_CANCEL, c->_idx, c->_gen, 0)) == 0)
			c->_inflight++;
		else
			w->stats.sq_full++;
	}
}

/* conn_aux builds the aux byte of a conn op: side, buffer group and the
 * protocol's current tag (c->op_tag). */
static uint8_t conn_aux(const struct lk_conn *c, unsigned side, unsigned bgid)
{
	LK_DASSERT(c->op_tag < 8);
	return (uint8_t)(LK_AUX(side, bgid) | (c->op_tag << 3));
}

/* conn_queued pairs with the in-flight release in lk_worker_dispatch. */
static int conn_queued(struct lk_conn *c, unsigned side, int rc)
{
	if (rc == 0) {
		c->_inflight++;
		if (side == LK_AUX_UP)
			c->up_inflight++;
	} else {
		c->w->stats.sq_full++;
	}
	return rc;
}

static int side_fd(const struct lk_conn *c, unsigned side)
{
	int fd = side == LK_AUX_UP ? c->up_fd : c->fd;

	LK_ASSERT(fd >= 0);
	LK_ASSERT(!(c->flags & LK_CONN_F_CLOSING));
	return fd;
}

int lk_conn_recv_pbuf(struct lk_conn *c, unsigned side, uint16_t bgid)
{
	uint64_t ud = ud_make(LK_OP_RECV, c->_idx, c->_gen, conn_aux(c, side, bgid));

	return conn_queued(c, side, lk_ring_recv_pbuf(c->w->ring, side_fd(c, side), bgid, ud));
}

int lk_conn_recv(struct lk_conn *c, unsigned side, void *buf, unsigned len)
{
	uint64_t ud = ud_make(LK_OP_RECV, c->_idx, c->_gen, conn_aux(c, side, 0));

	return conn_queued(c, side, lk_ring_recv(c->w->ring, side_fd(c, side), buf, len, ud));
}

/* fixed_index returns the registered-buffer slot holding [buf, buf+len),
 * registering it on first use, or -1 when the send should copy. */
static int fixed_index(struct lk_worker *w, const void *buf, unsigned len)
{
	const char *p = buf;

	if (w->fixed_count == 0 || len < LK_ZC_MIN || p < w->fixed_base ||
	    p >= w->fixed_base + w->fixed_obj * w->fixed_count)
		return -1;
	size_t i = (size_t)(p - w->fixed_base) / w->fixed_obj;
	if (p + len > w->fixed_base + (i + 1) * w->fixed_obj)
		return -1;
	if (!w->_fixed_reg[i]) {
		if (lk_ring_fixed_set(w->ring, (unsigned)i, w->fixed_base + i * w->fixed_obj,
				      w->fixed_obj) < 0)
			return -1;
		w->_fixed_reg[i] = 1;
	}
	return (int)i;
}

int lk_conn_send(struct lk_conn *c, unsigned side, const void *buf, unsigned len)
{
	uint64_t ud = ud_make(LK_OP_SEND, c->_idx, c->_gen, conn_aux(c, side, 0));
	struct lk_worker *w = c->w;
	int idx = side == LK_AUX_CLI && (c->flags & LK_CONN_F_ZC) ? fixed_index(w, buf, len) : -1;

	if (idx >= 0) {
		w->stats.zc_sends++;
		return conn_queued(c, side, lk_ring_send_zc_fixed(w->ring, side_fd(c, side), buf, len,
								   (unsigned)idx, ud));
	}
	return conn_queued(c, side, lk_ring_send(w->ring, side_fd(c, side), buf, len, ud));
}

int lk_conn_connect(struct lk_conn *c, const struct sockaddr *sa, socklen_t len)
{
	uint64_t ud = ud_make(LK_OP_CONNECT, c->_idx, c->_gen, conn_aux(c, LK_AUX_UP, 0));

	return conn_queued(c, LK_AUX_UP,
			   lk_ring_connect(c->w->ring, side_fd(c, LK_AUX_UP), sa, len, ud));
}

int lk_conn_shutdown(struct lk_conn *c, unsigned side, int how)
{
	uint64_t ud = ud_make(LK_OP_SHUTDOWN, c->_idx, c->_gen, conn_aux(c, side, 0));

	return conn_queued(c, side, lk_ring_shutdown(c->w->ring, side_fd(c, side), how, ud));
}

int lk_conn_poll(struct lk_conn *c, unsigned side, unsigned mask, unsigned tag)
{
	uint64_t ud = ud_make(LK_OP_POLL, c->_idx, c->_gen, LK_AUX_T(side, tag));

	return conn_queued(c, side, lk_ring_poll(c->w->ring, side_fd(c, side), mask, ud));
}

int lk_conn_pipe(struct lk_conn *c)
{
	int p[2];

	if (c->pipe_r >= 0)
		return 0;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	c->pipe_r = p[0];
	c->pipe_w = p[1];
	/* A larger pipe moves a busy stream in fewer, larger splices; it
	 * costs nothing while empty (pages are the socket's, lent). The
	 * per-user pipe budget may refuse it: the default size serves. */
	int cap = fcntl(p[1], F_SETPIPE_SZ, (int)LK_PIPE_SIZE);
	if (cap < 0)
		cap = fcntl(p[1], F_GETPIPE_SZ);
	c->pipe_cap = cap > 0 ? (uint32_t)cap : 65536u;
	return 0;
}

int lk_conn_splice(struct lk_conn *c, unsigned side, unsigned len)
{
	int in = side == LK_AUX_UP ? side_fd(c, LK_AUX_UP) : c->pipe_r;
	int out = side == LK_AUX_UP ? c->pipe_w : side_fd(c, LK_AUX_CLI);

	LK_ASSERT(c->pipe_r >= 0 && c->pipe_w >= 0);
	return lk_ring_splice_now(c->w->ring, in, out, len);
}

int lk_conn_cancel_op(struct lk_conn *c, enum lk_op op, uint8_t aux)
{
	uint64_t target = ud_make(op, c->_idx, c->_gen, aux);
	uint64_t ud = ud_make(LK_OP_CANCEL, c->_idx, c->_gen, LK_AUX(LK_AUX_SIDE(aux), 0));

	LK_ASSERT(!(c->flags & LK_CONN_F_CLOSING));
	return conn_queued(c, LK_AUX_SIDE(aux), lk_ring_cancel_ud(c->w->ring, target, ud));
}

int lk_conn_cancel_up(struct lk_conn *c)
{
	uint64_t ud = ud_make(LK_OP_CANCEL, c->_idx, c->_gen, LK_AUX(LK_AUX_UP, 0));

	return conn_queued(c, LK_AUX_UP,
			   lk_ring_cancel_fd(c->w->ring, side_fd(c, LK_AUX_UP), ud));
}

void *lk_worker_pbuf(struct lk_worker *w, uint8_t aux, uint32_t cqe_flags)
{
	LK_ASSERT(cqe_flags & LK_CQE_F_BUFFER);
	return lk_ring_pbuf_addr(w->ring, (uint16_t)LK_AUX_BGID(aux),
				 (uint16_t)(cqe_flags >> LK_CQE_BUFFER_SHIFT));
}

void lk_worker_pbuf_put(struct lk_worker *w, uint8_t aux, uint32_t cqe_flags)
{
	LK_ASSERT(cqe_flags & LK_CQE_F_BUFFER);
	lk_ring_pbuf_recycle(w->ring, (uint16_t)LK_AUX_BGID(aux),
			     (uint16_t)(cqe_flags >> LK_CQE_BUFFER_SHIFT));
	w->_pbuf_returned = true;
}

/* park_enobufs holds back a receive's ENOBUFS completion. The protocol's
 * answer to ENOBUFS is to receive again, which with every buffer held (by
 * relays waiting on slow peers) fails again at once: a busy loop. Held,
 * it is delivered once some buffer has gone back, after LK_PARK_MS at the
 * latest, or at once if its connection is closing. The op stays counted
 * in flight until then. Returns false when the list is full (delivered
 * now, as before). */
static bool park_enobufs(struct lk_worker *w, const struct lk_cqe *cqe)
{
	if (w->_parked == NULL) {
		w->_parked = calloc(LK_PARK_MAX, sizeof(*w->_parked));
		if (w->_parked == NULL)
			return false;
	}
	if (w->_n_parked == LK_PARK_MAX)
		return false;
	if (w->_n_parked == 0) {
		w->_park_deadline_ms = w->now_ms + LK_PARK_MS;
		w->_pbuf_returned = false;
	}
	w->_parked[w->_n_parked++] = *cqe;
	return true;
}

/* unpark delivers the held completions when a buffer came back, the
 * deadline passed or one of their connections is closing. Delivered, a
 * receive that fails again is held again at its next completion. */
static void unpark(struct lk_worker *w)
{
	if (w->_n_parked == 0)
		return;
	bool go = w->_pbuf_returned || w->now_ms >= w->_park_deadline_ms || w->stopping;
	for (unsigned i = 0; i < w->_n_parked && !go; i++) {
		const struct lk_conn *c = &w->conns[ud_idx(w->_parked[i].user_data)];
		go = (c->flags & LK_CONN_F_CLOSING) != 0;
	}
	if (!go)
		return;
	unsigned n = w->_n_parked;
	w->_n_parked = 0;
	w->_redelivering = true;
	for (unsigned i = 0; i < n; i++)
		lk_worker_dispatch(w, &w->_parked[i]);
	w->_redelivering = false;
}

void lk_conn_timer_arm(struct lk_conn *c, unsigned q, lk_timer_cb cb)
{
	LK_ASSERT(q < c->w->n_timerqs);
	c->timer.cb = cb;
	lk_timer_arm(&c->timer, &c->w->timerqs[q], c->w->now_ms);
}

struct lk_conn *lk_conn_from_timer(struct lk_timer *t)
{
	return (struct lk_conn *)((char *)t - offsetof(struct lk_conn, timer));
}

static void on_listener_cqe(struct lk_worker *w, const struct lk_cqe *cqe)
{
	if (!(cqe->flags & LK_CQE_F_MORE))
		w->_accept_armed = false;
	if (cqe->res >= 0) {
		w->stats.accepted++;
		if (w->stopping)
			close(cqe->res);
		else
			w->ops->on_accept(w, cqe->res);
	} else if (cqe->res != -ECANCELED) {
		w->stats.accept_errors++;
		/* EMFILE/ENFILE/ENOMEM end the multishot accept. Re-arming at
		 * once would fail again at once, in a loop, for as long as a
		 * connection waits in the backlog: accepting pauses until a
		 * connection is freed or LK_ACCEPT_RETRY_MS pass. */
		if (!w->_accept_armed && !w->stopping) {
			w->_accept_retry_ms = w->now_ms + LK_ACCEPT_RETRY_MS;
			return;
		}
	}
	if (!w->_accept_armed && !w->stopping && arm_accept(w) < 0) {
		w->stats.sq_full++;
		w->_accept_retry_ms = w->now_ms + LK_ACCEPT_RETRY_MS;
	}
	if (!w->_accept_armed && w->stopping && w->listen_fd >= 0) {
		close(w->listen_fd);
		w->listen_fd = -1;
	}
}

static void begin_stop(struct lk_worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	w->stop_deadline_ms = w->now_ms + w->shutdown_timeout_ms;
	/* Stop accepting first; the listener closes when the multishot accept
	 * reports its end. */
	if (w->_accept_armed)
		(void)lk_ring_cancel_fd(w->ring, w->listen_fd, ud_make(LK_OP_CANCEL, LK_UD_NO_CONN, 0, 0));
	else if (w->listen_fd >= 0) {
		close(w->listen_fd);
		w->listen_fd = -1;
	}
	w->ops->on_stop(w);
}

static void on_worker_cqe(struct lk_worker *w, const struct lk_cqe *cqe)
{
	switch (ud_op(cqe->user_data)) {
	case LK_OP_ACCEPT:
		on_listener_cqe(w, cqe);
		break;
	case LK_OP_WAKE:
		/* Messages first: a verdict may finish a request before a stop
		 * drains the rest. */
		if (w->ops->on_wake != NULL)
			w->ops->on_wake(w);
		if (atomic_load_explicit(&w->stop_requested, memory_order_acquire))
			begin_stop(w);
		if (arm_wake(w) < 0)
			w->stats.sq_full++;
		break;
	case LK_OP_CANCEL:
		break;
	default:
		LK_UNREACHABLE();
	}
}

void lk_worker_dispatch(struct lk_worker *w, const struct lk_cqe *cqe)
{
	uint32_t idx = ud_idx(cqe->user_data);
	uint8_t aux = ud_aux(cqe->user_data);

	if (idx == LK_UD_NO_CONN) {
		on_worker_cqe(w, cqe);
		return;
	}
	LK_ASSERT(idx < w->n_conns);
	struct lk_conn *c = &w->conns[idx];

	/* Every SQE of a slot completes before the slot is freed, so a
	 * generation mismatch would mean broken accounting: count it, give the
	 * buffer back, drop it. */
	if (!(c->flags & LK_CONN_F_LIVE) || (c->_gen & LK_UD_GEN_MASK) != ud_gen(cqe->user_data)) {
		w->stats.stale_cqes++;
		if (cqe->flags & LK_CQE_F_BUFFER)
			lk_worker_pbuf_put(w, aux, cqe->flags);
		return;
	}
	if (cqe->res == -ENOBUFS && !w->_redelivering) {
		w->stats.enobufs++;
		/* The large group's protocol falls back to a small buffer:
		 * not held. */
		if (LK_AUX_BGID(aux) != LK_PBUF_GROUP_UP && !(c->flags & LK_CONN_F_CLOSING) &&
		    park_enobufs(w, cqe))
			return;
	}
	/* A zero-copy send completes twice: the result (with MORE), then the
	 * notification that the buffer is free. The protocol sees one send
	 * completion, at the notification, carrying the result. */
	struct lk_cqe zc;
	if (ud_op(cqe->user_data) == LK_OP_SEND && (cqe->flags & (LK_CQE_F_MORE | LK_CQE_F_NOTIF))) {
		if (cqe->flags & LK_CQE_F_MORE) {
			c->_zc_res = cqe->res;
			return;
		}
		zc = (struct lk_cqe){ .user_data = cqe->user_data, .res = c->_zc_res, .flags = 0 };
		cqe = &zc;
	}
	if (!(cqe->flags & LK_CQE_F_MORE)) {
		LK_ASSERT(c->_inflight > 0);
		c->_inflight--;
		if (LK_AUX_SIDE(aux) == LK_AUX_UP) {
			LK_ASSERT(c->up_inflight > 0);
			c->up_inflight--;
		}
	}
	if (c->flags & LK_CONN_F_CLOSING) {
		if (cqe->flags & LK_CQE_F_BUFFER)
			lk_worker_pbuf_put(w, aux, cqe->flags);
		if (c->_inflight == 0)
			reap_push(w, c);
		return;
	}
	w->ops->on_cqe(w, c, ud_op(cqe->user_data), aux, cqe->res, cqe->flags);
}

static void reap_closed(struct lk_worker *w)
{
	while (w->_reap != NULL) {
		struct lk_conn *c = w->_reap;

		w->_reap = c->_next_reap;
		LK_ASSERT(c->_inflight == 0 && (c->flags & LK_CONN_F_CLOSING));
		w->ops->on_free(w, c);
		if (c->fd >= 0)
			close(c->fd);
		if (c->up_fd >= 0)
			close(c->up_fd);
		if (c->pipe_r >= 0)
			close(c->pipe_r);
		if (c->pipe_w >= 0)
			close(c->pipe_w);
		c->fd = c->up_fd = c->pipe_r = c->pipe_w = -1;
		c->flags = 0;
		c->_gen = (c->_gen + 1) & LK_UD_GEN_MASK;
		w->_free[w->_n_free++] = c->_idx;
		LK_ASSERT(w->live > 0);
		w->live--;
		/* Descriptors were given back: a paused accept may resume. */
		if (w->_accept_retry_ms != 0)
			w->_accept_retry_ms = w->now_ms;
	}
}

/* resume_accept re-arms a paused accept once its time has come. */
static void resume_accept(struct lk_worker *w)
{
	if (w->_accept_retry_ms == 0 || w->now_ms < w->_accept_retry_ms)
		return;
	w->_accept_retry_ms = 0;
	if (w->_accept_armed || w->stopping || w->listen_fd < 0)
		return;
	if (arm_accept(w) < 0) {
		w->stats.sq_full++;
		w->_accept_retry_ms = w->now_ms + LK_ACCEPT_RETRY_MS;
	}
}

static int next_timeout_ms(const struct lk_worker *w)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < w->n_timerqs; i++)
		next = LK_MIN(next, lk_timerq_next(&w->timerqs[i]));
	if (w->stopping)
		next = LK_MIN(next, w->stop_deadline_ms);
	if (w->_accept_retry_ms != 0)
		next = LK_MIN(next, w->_accept_retry_ms);
	if (w->_n_parked != 0)
		next = LK_MIN(next, w->_pbuf_returned ? w->now_ms : w->_park_deadline_ms);
	if (next == UINT64_MAX)
		return -1;
	if (next <= w->now_ms)
		return 0;
	return (int)LK_MIN(next - w->now_ms, (uint64_t)60000);
}

static void force_close_all(struct lk_worker *w)
{
	for (uint32_t i = 0; i < w->n_conns; i++) {
		struct lk_conn *c = &w->conns[i];

		if ((c->flags & LK_CONN_F_LIVE) && !(c->flags & LK_CONN_F_CLOSING)) {
			w->stats.forced_closes++;
			lk_conn_close(c);
		}
	}
}

void lk_worker_turn(struct lk_worker *w, int timeout_ms)
{
	struct lk_cqe cqes[LK_WORKER_BATCH];
	int rc = lk_ring_submit_and_wait(w->ring, timeout_ms);

	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
		w->stats.sq_full++;
	unsigned n = lk_ring_reap(w->ring, cqes, LK_WORKER_BATCH);
	w->now_ms = lk_time_ms();
	for (unsigned i = 0; i < n; i++)
		lk_worker_dispatch(w, &cqes[i]);
	for (unsigned i = 0; i < w->n_timerqs; i++)
		lk_timerq_run(&w->timerqs[i], w->now_ms, LK_WORKER_TIMER_MAX);
	if (w->stopping && w->now_ms >= w->stop_deadline_ms)
		force_close_all(w);
	unpark(w);
	reap_closed(w);
	resume_accept(w);
}

int lk_worker_run(struct lk_worker *w)
{
	for (;;) {
		if (w->stopping && w->live == 0 && w->listen_fd < 0)
			break;
		/* Cancelled operations complete promptly; this bound only guards
		 * against a kernel that never reports them. */
		if (w->stopping && w->now_ms >= w->stop_deadline_ms + 2000)
			break;
		lk_worker_turn(w, next_timeout_ms(w));
	}
	return 0;
}
