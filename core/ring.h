/* core/ring.h - our boundary around io_uring.
 *
 * <liburing.h> is included only by core/ring.c. Everything above talks to the
 * kernel through these functions, which lets unit tests link
 * tests/helpers/fake_ring.c in place of core/ring.c: liburing's prep helpers
 * are static inline in 2.3, so they cannot be intercepted any other way.
 *
 * Every lk_ring_<op> queues exactly one SQE tagged with `ud` and returns 0, or
 * -EBUSY when the submission queue is full even after one submit (callers
 * treat that as an operating error for the connection). One queued SQE = one
 * in-flight count held by the caller, released by the CQE without
 * LK_CQE_F_MORE.
 *
 * Threading: a ring belongs to the thread that created it
 * (IORING_SETUP_SINGLE_ISSUER); nothing here is thread-safe. */
#ifndef LK_CORE_RING_H
#define LK_CORE_RING_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fwd.h"

/* CQE flags we look at, mirrored from the uapi so callers need no kernel
 * headers; core/ring.c checks they match. */
#define LK_CQE_F_BUFFER (1u << 0)      /* a provided buffer was picked; id in flags >> 16 */
#define LK_CQE_F_MORE (1u << 1)        /* multishot: more CQEs will follow for this SQE */
#define LK_CQE_F_SOCK_NONEMPTY (1u << 2) /* more data is readable right now */
#define LK_CQE_F_NOTIF (1u << 3)       /* zero-copy send: the buffer is ours again */
#define LK_CQE_BUFFER_SHIFT 16

/* struct lk_cqe is a copy of one completion, taken off the CQ in a batch. */
struct lk_cqe {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

/* lk_ring_new creates a ring with sq_entries submission slots (the CQ is four
 * times larger), preferring SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN,
 * then plain. Must run on the thread that will use it. Returns NULL with a
 * message in err on failure. */
struct lk_ring *lk_ring_new(unsigned sq_entries, char *err, size_t err_len);
/* lk_ring_free tears the ring and its provided buffers down; NULL is fine. */
void lk_ring_free(struct lk_ring *r);
/* lk_ring_probe checks, once at start-up on any thread, that the kernel has
 * every opcode and feature Lookout uses. Returns 0, or -EOPNOTSUPP with err
 * naming the missing piece and the running kernel. */
int lk_ring_probe(char *err, size_t err_len);
/* lk_ring_flags_str returns the setup flags the ring got, for the start log. */
const char *lk_ring_flags_str(const struct lk_ring *r);

int lk_ring_accept_multishot(struct lk_ring *r, int fd, uint64_t ud);
/* lk_ring_recv_pbuf receives into a buffer the kernel picks from group bgid
 * at completion time: an idle socket holds no buffer. */
int lk_ring_recv_pbuf(struct lk_ring *r, int fd, uint16_t bgid, uint64_t ud);
int lk_ring_recv(struct lk_ring *r, int fd, void *buf, unsigned len, uint64_t ud);
int lk_ring_read(struct lk_ring *r, int fd, void *buf, unsigned len, uint64_t ud);
/* lk_ring_send borrows buf until the CQE arrives. MSG_NOSIGNAL is implied. */
int lk_ring_send(struct lk_ring *r, int fd, const void *buf, unsigned len, uint64_t ud);
/* lk_ring_send_zc_fixed sends from registered buffer index (buf lies inside
 * it) without copying: the kernel posts the result with LK_CQE_F_MORE, then a
 * LK_CQE_F_NOTIF completion once it no longer reads buf. TCP only. */
int lk_ring_send_zc_fixed(struct lk_ring *r, int fd, const void *buf, unsigned len,
			  unsigned index, uint64_t ud);
/* lk_ring_fixed_sparse reserves n registered-buffer slots, all empty. */
int lk_ring_fixed_sparse(struct lk_ring *r, unsigned n);
/* lk_ring_fixed_set registers [addr, addr+len) in slot index (pins it). */
int lk_ring_fixed_set(struct lk_ring *r, unsigned index, void *addr, size_t len);
/* lk_ring_connect borrows sa until the CQE arrives. */
int lk_ring_connect(struct lk_ring *r, int fd, const struct sockaddr *sa, socklen_t len,
		    uint64_t ud);
int lk_ring_shutdown(struct lk_ring *r, int fd, int how, uint64_t ud);
/* lk_ring_poll waits (one shot) for events in mask (POLLIN, POLLRDHUP...) on
 * fd; the CQE's res is the revents mask. */
int lk_ring_poll(struct lk_ring *r, int fd, unsigned mask, uint64_t ud);
/* lk_ring_splice_now moves up to len bytes from fd_in to fd_out (one of them
 * a pipe) in the kernel, now, without blocking: it returns the bytes moved,
 * 0 at fd_in's EOF, or -errno (-EAGAIN: nothing to take, or no room).
 * It is a plain splice(2), not a ring operation: io_uring always hands a
 * splice to a kernel worker thread, a context switch each way (35% of the
 * agent's CPU on one log stream). It lives here so the test ring can
 * script its results. */
int lk_ring_splice_now(struct lk_ring *r, int fd_in, int fd_out, unsigned len);
/* lk_ring_cancel_ud cancels the request tagged target. */
int lk_ring_cancel_ud(struct lk_ring *r, uint64_t target, uint64_t ud);
/* lk_ring_cancel_fd cancels every pending request on fd. */
int lk_ring_cancel_fd(struct lk_ring *r, int fd, uint64_t ud);

/* lk_ring_submit_and_wait submits everything queued and waits for at least
 * one completion or timeout_ms (< 0: no timeout, 0: do not wait). Returns 0,
 * -ETIME on timeout, -EINTR, or -errno. */
int lk_ring_submit_and_wait(struct lk_ring *r, int timeout_ms);
/* lk_ring_reap copies up to max completions into out and consumes them.
 * Returns the number copied. Also counts CQ overflows (lk_ring_overflows). */
unsigned lk_ring_reap(struct lk_ring *r, struct lk_cqe *out, unsigned max);
/* lk_ring_overflows returns how many times the kernel reported a dropped or
 * overflowed CQ. */
uint64_t lk_ring_overflows(const struct lk_ring *r);

/* lk_ring_pbuf_setup registers group bgid of nbufs buffers of buf_size bytes
 * each (nbufs a power of two). Returns 0 or -errno. */
int lk_ring_pbuf_setup(struct lk_ring *r, uint16_t bgid, unsigned nbufs, unsigned buf_size);
/* lk_ring_pbuf_addr returns buffer bid of group bgid (borrowed until it is
 * recycled). */
void *lk_ring_pbuf_addr(struct lk_ring *r, uint16_t bgid, uint16_t bid);
/* lk_ring_pbuf_recycle gives buffer bid back to the kernel. */
void lk_ring_pbuf_recycle(struct lk_ring *r, uint16_t bgid, uint16_t bid);

#endif /* LK_CORE_RING_H */
