/* core/worker.h - one thread, one io_uring ring, one connection slab.
 *
 * A worker owns everything a connection touches: ring, slab, timers, pools.
 * Connections never migrate, so nothing here is locked. The protocol on top
 * (proxy/session.c) plugs in through struct lk_worker_ops; core/ knows
 * nothing about HTTP routes or Docker.
 *
 * Connection lifetime = in-flight count + CLOSING flag (STYLE 8): every
 * queued SQE holds one count, released by its final CQE; lk_conn_close
 * cancels what is queued, and the slot is freed (fds closed, generation
 * bumped) only in the loop's reap phase once the count reaches zero, never
 * inside a handler. A CQE whose generation does not match its slot is stale
 * and is dropped with a counter. */
#ifndef LK_CORE_WORKER_H
#define LK_CORE_WORKER_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/fwd.h"
#include "core/ring.h"
#include "core/timer.h"

/* enum lk_op is the operation a CQE completes (user_data bits 0-7). */
enum lk_op {
	LK_OP_NONE,
	LK_OP_ACCEPT,   /* listener multishot accept; not a conn op */
	LK_OP_WAKE,     /* eventfd read: another thread asked us to look at flags */
	LK_OP_RECV,
	LK_OP_SEND,
	LK_OP_CONNECT,
	LK_OP_SHUTDOWN,
	LK_OP_CANCEL,
	LK_OP_POLL,
	LK_OP__COUNT
};

/* user_data layout: op 0-7 | slot index 8-31 | generation 32-55 | aux 56-63. */
#define LK_UD_IDX_BITS 24
#define LK_UD_GEN_MASK 0xffffffu
#define LK_UD_NO_CONN 0xffffffu /* idx of non-connection ops */

/* aux byte: which socket of the connection (bit 0), for provided-buffer
 * receives the buffer group (bits 1-2), so even a stale CQE can give its
 * buffer back, and a protocol tag (bits 3-5) telling apart ops of the same
 * kind on the same side (e.g. the two legs of a splice). */
#define LK_AUX_CLI 0u
#define LK_AUX_UP 1u
#define LK_AUX_SIDE(aux) ((aux) & 1u)
#define LK_AUX_BGID(aux) (((aux) >> 1) & 3u)
#define LK_AUX_TAG(aux) (((aux) >> 3) & 7u)
#define LK_AUX(side, bgid) ((uint8_t)((side) | ((bgid) << 1)))
#define LK_AUX_T(side, tag) ((uint8_t)((side) | ((tag) << 3)))

/* Provided-buffer groups of every worker: small buffers for what clients
 * send (request heads and bodies; with TLS one buffer must fit the
 * engine's input room), large ones for what Docker answers, so a 44 KB
 * container list is one receive and one send instead of three of each. */
#define LK_PBUF_GROUP_CLI 0u /* pbuf_count x pbuf_size */
#define LK_PBUF_GROUP_UP 1u  /* pbuf_up_count x pbuf_up_size */

/* Connection flags owned by core. Protocol layers use bits 8 and up. */
#define LK_CONN_F_CLOSING (1u << 0) /* lk_conn_close ran; waiting for in-flight ops */
#define LK_CONN_F_LIVE (1u << 1)    /* slot is allocated */
/* Client sends of LK_ZC_MIN+ bytes from the registered region may go
 * zero-copy. The protocol sets it for long streams only: a zero-copy send
 * completes when the peer has ACKed the bytes, and a client waiting for the
 * rest of an answer delays its ACK (40 ms on Linux), which made every TLS
 * answer over 16 KiB take 40 ms more. */
#define LK_CONN_F_ZC (1u << 2)

#define LK_WORKER_TIMERQS 8

/* struct lk_conn is one client connection and, while it talks to Docker on
 * the client's behalf, its upstream socket. Fields without a leading
 * underscore belong to the protocol layer. */
struct lk_conn {
	uint32_t _gen;       /* bumped when the slot is freed */
	uint32_t _idx;       /* slot index, constant */
	uint16_t _inflight;  /* queued SQEs not yet finally completed */
	uint16_t up_inflight; /* of those, the ones on up_fd */
	int32_t _zc_res;     /* result of a zero-copy send awaiting its notification */
	uint32_t flags;
	uint8_t state;       /* enum lk_conn_state of the protocol layer */
	uint8_t op_tag;      /* tag (0-7) put in the aux of the ops queued next */
	uint8_t peer_family; /* AF_INET/AF_INET6 once the protocol looked the peer up, else 0 */
	uint8_t peer_addr[16]; /* client address (IPv4 in the first 4 bytes), cached per conn */
	int fd;              /* client socket, -1 once closed */
	int up_fd;           /* upstream socket or -1 */
	int pipe_r;          /* splice relay pipe, or -1 */
	int pipe_w;
	uint32_t pipe_cap;   /* its capacity in bytes, once made */
	struct lk_worker *w;
	struct lk_tls *tls;  /* NULL on plaintext listeners */
	void *ctx;           /* protocol per-request state, or NULL when idle */
	void *xfer;          /* protocol per-exchange relay state, or NULL */
	void *ext;           /* protocol long-lived state (an event-stream subscriber), or NULL */
	struct lk_timer timer;
	struct lk_conn *_next_reap;
};

/* struct lk_worker_ops is how core hands events to the protocol layer. */
struct lk_worker_ops {
	/* on_accept gets a new client fd (nonblocking, cloexec) and owns it. */
	void (*on_accept)(struct lk_worker *w, int fd);
	/* on_cqe gets every final or multishot completion of a live,
	 * non-closing conn, after the in-flight count was released, including
	 * the completions of lk_conn_cancel_up (op LK_OP_CANCEL). */
	void (*on_cqe)(struct lk_worker *w, struct lk_conn *c, enum lk_op op, uint8_t aux, int res,
		       uint32_t flags);
	/* on_stop runs once on the worker thread when shutdown starts. */
	void (*on_stop)(struct lk_worker *w);
	/* on_wake (optional) runs on the worker thread each time its wake_fd
	 * fired: another thread (a verifier) left it messages. */
	void (*on_wake)(struct lk_worker *w);
	/* on_free releases protocol state (ctx, tls) just before the slot's fds
	 * close and it is reused. */
	void (*on_free)(struct lk_worker *w, struct lk_conn *c);
};

struct lk_worker_stats {
	uint64_t accepted;
	uint64_t accept_refused; /* slab full or on_accept refused */
	uint64_t accept_errors;
	uint64_t stale_cqes;
	uint64_t enobufs;
	uint64_t sq_full;
	uint64_t forced_closes; /* conns still open at the shutdown deadline */
	uint64_t zc_sends;      /* sends from registered buffers, zero-copy */
	uint64_t cq_overflows;  /* episodes of a full completion queue (ring teardown) */
};

struct lk_worker {
	unsigned id;
	struct lk_ring *ring;
	const struct lk_worker_ops *ops;
	void *data;                 /* protocol layer's per-worker state */
	struct lk_conn *conns;
	uint32_t *_free;            /* stack of freed slot indexes (LIFO reuse) */
	uint32_t _n_free;
	uint32_t _fresh;            /* slots [_fresh, n_conns) were never used */
	uint32_t n_conns;
	uint32_t live;
	struct lk_conn *_reap;      /* closed conns whose in-flight count is 0 */
	int listen_fd;
	bool _accept_armed;
	uint64_t _accept_retry_ms;  /* accept paused (out of fds): re-arm at this time, or when
				     * a connection is freed; 0 when not paused */
	int wake_fd;
	uint64_t _wake_buf;
	/* Receives that found their buffer group empty (ENOBUFS), held back
	 * from the protocol until a buffer is returned (see park_enobufs). */
	struct lk_cqe *_parked;
	unsigned _n_parked;
	bool _redelivering;
	bool _pbuf_returned;
	uint64_t _park_deadline_ms;
	uint64_t now_ms;
	struct lk_timerq timerqs[LK_WORKER_TIMERQS];
	unsigned n_timerqs;
	atomic_bool stop_requested; /* written by another thread, then wake_fd */
	bool stopping;
	uint64_t stop_deadline_ms;
	uint64_t shutdown_timeout_ms;
	/* Registered-buffer region (the TLS output pool): count objects of
	 * obj_size bytes from base, each registered on first send from it. */
	char *fixed_base;
	size_t fixed_obj;
	uint32_t fixed_count;
	uint8_t *_fixed_reg;        /* one byte per object: registered */
	unsigned ring_entries;
	unsigned pbuf_count;        /* group LK_PBUF_GROUP_CLI */
	unsigned pbuf_size;
	unsigned pbuf_up_count;     /* group LK_PBUF_GROUP_UP; 0 when it could not be set up */
	unsigned pbuf_up_size;
	const char *ring_flags;     /* setup flags the ring got (static string) */
	int init_rc;
	char init_err[256];
	sem_t *ready;               /* posted once init succeeded or failed */
	pthread_t thread;
	struct lk_worker_stats stats;
};

/* lk_worker_init prepares w (slab of n_conns, listener fd borrowed until the
 * worker closes it at shutdown) without creating the ring: the ring must be
 * created by the thread that uses it. Returns 0 or -errno. */
int lk_worker_init(struct lk_worker *w, unsigned id, uint32_t n_conns, int listen_fd,
		   const struct lk_worker_ops *ops, void *data);
/* lk_worker_done frees what lk_worker_init allocated; the thread is joined. */
void lk_worker_done(struct lk_worker *w);
/* lk_worker_spawn starts the thread, which sets up its ring and provided
 * buffers, arms accept, then posts *ready with w->init_rc set. Returns 0 or
 * -errno if the thread could not be created. */
int lk_worker_spawn(struct lk_worker *w, sem_t *ready);
/* lk_worker_setup creates the ring, buffers, eventfd and arms accept on the
 * calling thread (used by lk_worker_spawn, and directly by tests). */
int lk_worker_setup(struct lk_worker *w);
/* lk_worker_run loops until shutdown completes; returns 0. */
int lk_worker_run(struct lk_worker *w);
/* lk_worker_turn runs one loop turn: wait (at most timeout_ms), dispatch,
 * timers, reap. Exposed for tests driving a fake ring. */
void lk_worker_turn(struct lk_worker *w, int timeout_ms);
/* lk_worker_request_stop asks w to shut down gracefully; any thread. */
void lk_worker_request_stop(struct lk_worker *w);
/* lk_worker_dispatch handles one completion (decode, generation check,
 * in-flight release, routing). Exposed for tests. */
void lk_worker_dispatch(struct lk_worker *w, const struct lk_cqe *cqe);

/* lk_conn_new takes a free slot for client fd; NULL when the slab is full
 * (the caller still owns fd then). */
struct lk_conn *lk_conn_new(struct lk_worker *w, int fd);
/* lk_conn_close starts closing c: cancels its timer and queued operations;
 * the slot is released in the reap phase. Idempotent. */
void lk_conn_close(struct lk_conn *c);
/* lk_conn_is_closing tells whether lk_conn_close ran on c. */
bool lk_conn_is_closing(const struct lk_conn *c);

/* The operations below queue one SQE for c and count it in flight; they
 * return 0 or -EBUSY (submission queue full). Buffers are borrowed until the
 * completion. side is LK_AUX_CLI or LK_AUX_UP and picks c->fd or c->up_fd.
 * A send from the worker's fixed region goes out zero-copy; the protocol
 * still sees one completion, delivered when the kernel released the buffer. */
int lk_conn_recv_pbuf(struct lk_conn *c, unsigned side, uint16_t bgid);
int lk_conn_recv(struct lk_conn *c, unsigned side, void *buf, unsigned len);
int lk_conn_send(struct lk_conn *c, unsigned side, const void *buf, unsigned len);
int lk_conn_connect(struct lk_conn *c, const struct sockaddr *sa, socklen_t len);
int lk_conn_shutdown(struct lk_conn *c, unsigned side, int how);
/* lk_conn_cancel_up cancels every queued operation on c->up_fd. */
int lk_conn_cancel_up(struct lk_conn *c);
/* lk_conn_poll waits once for mask on the side's socket; tag goes to aux. */
int lk_conn_poll(struct lk_conn *c, unsigned side, unsigned mask, unsigned tag);
/* lk_conn_pipe gives c its splice pipe (made once, kept until the slot is
 * freed), asking for LK_PIPE_SIZE (the default 64 KiB if refused); its
 * capacity is in c->pipe_cap. Returns 0 or -errno (-EMFILE...). */
#define LK_PIPE_SIZE (256u * 1024)
int lk_conn_pipe(struct lk_conn *c);
/* lk_conn_splice moves up to len bytes now (lk_ring_splice_now): side
 * LK_AUX_UP splices up_fd into the pipe, LK_AUX_CLI splices the pipe into
 * the client socket. Returns bytes, 0 at up_fd's EOF, or -errno (-EAGAIN:
 * nothing to read, or the client's socket is full). Queues nothing. */
int lk_conn_splice(struct lk_conn *c, unsigned side, unsigned len);
/* lk_conn_cancel_op cancels c's queued operation (op, aux); its own
 * completion arrives as LK_OP_CANCEL on the same side. */
int lk_conn_cancel_op(struct lk_conn *c, enum lk_op op, uint8_t aux);

/* lk_worker_pbuf returns the provided buffer a CQE picked (borrowed until
 * lk_worker_pbuf_put). */
void *lk_worker_pbuf(struct lk_worker *w, uint8_t aux, uint32_t cqe_flags);
void lk_worker_pbuf_put(struct lk_worker *w, uint8_t aux, uint32_t cqe_flags);

/* lk_worker_fixed_region makes sends of at least LK_ZC_MIN bytes from
 * inside [base, base + count * obj_size) to a client socket go out as
 * zero-copy sends from registered buffers; call before the worker runs.
 * Each object is registered (pinned) the first time it is sent from. */
int lk_worker_fixed_region(struct lk_worker *w, void *base, size_t obj_size, uint32_t count);
#define LK_ZC_MIN 8192 /* below this, the notification costs more than the copy */

/* lk_worker_timerq registers a timer queue of duration_ms and returns its
 * index (call before the worker runs). */
unsigned lk_worker_timerq(struct lk_worker *w, uint64_t duration_ms);
/* lk_conn_timer_arm arms c's single timer on queue q; cb gets the timer. */
void lk_conn_timer_arm(struct lk_conn *c, unsigned q, lk_timer_cb cb);
/* lk_conn_from_timer returns the conn owning timer t. */
struct lk_conn *lk_conn_from_timer(struct lk_timer *t);

#endif /* LK_CORE_WORKER_H */
