/* tests/helpers/fake_ring.h - a core/ring.h implementation for unit tests.
 *
 * Records every queued operation and lets the test inject completions with
 * chosen res and flags; submit never blocks. Splices are synchronous
 * (lk_ring_splice_now): recorded, with results the test scripts. lk_fake_ring_fail_after makes
 * the Nth queued operation fail with -EBUSY (failure injection). */
#ifndef LK_TESTS_FAKE_RING_H
#define LK_TESTS_FAKE_RING_H

#include <stdint.h>

#include "core/ring.h"

enum lk_fake_op {
	LK_FAKE_ACCEPT,
	LK_FAKE_RECV_PBUF,
	LK_FAKE_RECV,
	LK_FAKE_READ,
	LK_FAKE_SEND,
	LK_FAKE_CONNECT,
	LK_FAKE_SHUTDOWN,
	LK_FAKE_CANCEL_FD,
	LK_FAKE_POLL,
	LK_FAKE_SPLICE,
	LK_FAKE_CANCEL_UD,
	LK_FAKE_SEND_ZC
};

struct lk_fake_sqe {
	enum lk_fake_op op;
	int fd;
	uint64_t ud;
	const void *buf;
	unsigned len;
	int fd_out;      /* splice */
	uint64_t target; /* cancel_ud */
};

#define LK_FAKE_MAX 1024

struct lk_fake_pbufs {
	char *mem;
	unsigned size;
	unsigned count;
	unsigned free; /* buffers the "kernel" holds */
	unsigned next; /* rotation of the buffers taken */
};

struct lk_fake_ring {
	struct lk_fake_sqe sqes[LK_FAKE_MAX];
	unsigned n_sqes;
	struct lk_cqe cqes[LK_FAKE_MAX];
	unsigned n_cqes;
	long fail_after; /* -1: never */
	struct lk_fake_pbufs pb[2]; /* provided-buffer groups 0 and 1 */
	int splice_res[64]; /* scripted results of lk_ring_splice_now, in order */
	unsigned n_splice_res;
	unsigned splice_next;
};

/* lk_fake_ring_of returns the fake behind an lk_ring pointer. */
struct lk_fake_ring *lk_fake_ring_of(struct lk_ring *r);
/* lk_fake_ring_cqe queues a completion for the next reap. */
void lk_fake_ring_cqe(struct lk_ring *r, uint64_t ud, int res, uint32_t flags);
/* lk_fake_ring_find returns the last recorded op of kind op on fd, or NULL. */
struct lk_fake_sqe *lk_fake_ring_find(struct lk_ring *r, enum lk_fake_op op, int fd);
/* lk_fake_ring_take_pbuf simulates the kernel picking a provided buffer and
 * filling it with data; returns the CQE flags to report. */
uint32_t lk_fake_ring_take_pbuf(struct lk_ring *r, const void *data, unsigned len);
void lk_fake_ring_fail_after(struct lk_ring *r, long n);
/* lk_fake_ring_take_group_pbuf is lk_fake_ring_take_pbuf for group bgid
 * (1: the worker's large buffers for Docker's bytes). A RECV_PBUF's len is
 * its buffer group. */
uint32_t lk_fake_ring_take_group_pbuf(struct lk_ring *r, uint16_t bgid, const void *data,
				      unsigned len);
/* lk_fake_ring_splice_res scripts the result of the next unscripted
 * lk_ring_splice_now (recorded as LK_FAKE_SPLICE, ud 0); once the script
 * runs out every splice returns -EAGAIN. */
void lk_fake_ring_splice_res(struct lk_ring *r, int res);

#endif /* LK_TESTS_FAKE_RING_H */
