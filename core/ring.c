/* core/ring.c - the only file that includes <liburing.h>.
 *
 * Feature #ifs for liburing versions live here and nowhere else. The
 * installed liburing is 2.3 (Debian 12); the kernel must be >= 6.0 for
 * SINGLE_ISSUER, DEFER_TASKRUN, multishot accept and ring-mapped provided
 * buffers, which lk_ring_probe verifies at start-up. */
#include <sys/mman.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "core/dbg.h"
#include "core/err.h"
#include "core/ring.h"

LK_STATIC_ASSERT(LK_CQE_F_BUFFER == IORING_CQE_F_BUFFER, "cqe flag mirror");
LK_STATIC_ASSERT(LK_CQE_F_MORE == IORING_CQE_F_MORE, "cqe flag mirror");
LK_STATIC_ASSERT(LK_CQE_F_SOCK_NONEMPTY == IORING_CQE_F_SOCK_NONEMPTY, "cqe flag mirror");
LK_STATIC_ASSERT(LK_CQE_BUFFER_SHIFT == IORING_CQE_BUFFER_SHIFT, "cqe flag mirror");
LK_STATIC_ASSERT(LK_CQE_F_NOTIF == IORING_CQE_F_NOTIF, "cqe flag mirror");

#define LK_RING_PBUF_GROUPS 4

struct pbuf_group {
	struct io_uring_buf_ring *br; /* shared with the kernel */
	char *mem;                    /* nbufs * size bytes */
	size_t br_bytes;
	unsigned nbufs;
	unsigned size;
};

struct lk_ring {
	struct io_uring ring;
	const char *flags_str;
	uint64_t overflows;
	bool overflow_seen;
	struct pbuf_group groups[LK_RING_PBUF_GROUPS];
};

/* Opcodes every worker issues. MSG_RING is used by the cross-core messages;
 * probing them here means a missing one is found at
 * start-up, never mid-request. */
static const struct {
	int op;
	const char *name;
} needed_ops[] = {
	{ IORING_OP_ACCEPT, "ACCEPT" },     { IORING_OP_RECV, "RECV" },
	{ IORING_OP_SEND, "SEND" },         { IORING_OP_READ, "READ" },
	{ IORING_OP_CONNECT, "CONNECT" },   { IORING_OP_SHUTDOWN, "SHUTDOWN" },
	{ IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL" },
	{ IORING_OP_MSG_RING, "MSG_RING" }, { IORING_OP_POLL_ADD, "POLL_ADD" },
	{ IORING_OP_SEND_ZC, "SEND_ZC" },
};

static void kernel_release(char *buf, size_t len)
{
	struct utsname u;

	if (uname(&u) == 0)
		snprintf(buf, len, "%s", u.release);
	else
		snprintf(buf, len, "unknown");
}

int lk_ring_probe(char *err, size_t err_len)
{
	char rel[128];
	struct io_uring_probe *p = io_uring_get_probe();

	kernel_release(rel, sizeof(rel));
	if (p == NULL) {
		snprintf(err, err_len, "io_uring is not available on kernel %s (need >= 6.0)", rel);
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < LK_ARRAY_SIZE(needed_ops); i++) {
		if (!io_uring_opcode_supported(p, needed_ops[i].op)) {
			snprintf(err, err_len, "io_uring opcode %s is not supported by kernel %s (need >= 6.0)",
				 needed_ops[i].name, rel);
			io_uring_free_probe(p);
			return -EOPNOTSUPP;
		}
	}
	io_uring_free_probe(p);

	/* Ring-mapped provided buffers (5.19) and multishot accept (5.19) have
	 * no opcode of their own: try the buffer ring on a scratch ring. */
	struct lk_ring *r = lk_ring_new(8, err, err_len);
	if (r == NULL)
		return -EOPNOTSUPP;
	int rc = lk_ring_pbuf_setup(r, 0, 8, 64);
	lk_ring_free(r);
	if (rc < 0) {
		snprintf(err, err_len, "io_uring provided buffer rings are not supported by kernel %s: %s",
			 rel, strerror(-rc));
		return -EOPNOTSUPP;
	}
	return 0;
}

struct lk_ring *lk_ring_new(unsigned sq_entries, char *err, size_t err_len)
{
	static const struct {
		unsigned flags;
		const char *name;
	} tries[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER|DEFER_TASKRUN" },
		{ IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
		{ 0, "none" },
	};
	struct lk_ring *r = calloc(1, sizeof(*r));
	int rc = -EINVAL;

	if (r == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < LK_ARRAY_SIZE(tries); i++) {
		struct io_uring_params p = {
			.flags = tries[i].flags | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL,
			.cq_entries = sq_entries * 4,
		};
		rc = io_uring_queue_init_params(sq_entries, &r->ring, &p);
		if (rc == 0) {
			r->flags_str = tries[i].name;
			return r;
		}
		if (rc != -EINVAL)
			break;
	}
	snprintf(err, err_len, "io_uring_setup failed: %s", strerror(-rc));
	free(r);
	return NULL;
}

void lk_ring_free(struct lk_ring *r)
{
	if (r == NULL)
		return;
	for (unsigned g = 0; g < LK_RING_PBUF_GROUPS; g++) {
		struct pbuf_group *pg = &r->groups[g];

		if (pg->br == NULL)
			continue;
		io_uring_unregister_buf_ring(&r->ring, (int)g);
		munmap(pg->br, pg->br_bytes);
		munmap(pg->mem, (size_t)pg->nbufs * pg->size);
	}
	io_uring_queue_exit(&r->ring);
	free(r);
}

const char *lk_ring_flags_str(const struct lk_ring *r)
{
	return r->flags_str;
}

/* get_sqe returns a free SQE, submitting once to make room if the SQ is
 * full. A second failure means the SQ is undersized for the load: the caller
 * fails that one operation rather than the whole worker. */
static struct io_uring_sqe *get_sqe(struct lk_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (sqe != NULL)
		return sqe;
	io_uring_submit(&r->ring);
	return io_uring_get_sqe(&r->ring);
}

#define PREP(r, ud, call)                                                                          \
	({                                                                                         \
		struct io_uring_sqe *sqe_ = get_sqe(r);                                            \
		int rc_ = -EBUSY;                                                                  \
		if (sqe_ != NULL) {                                                                \
			call;                                                                      \
			io_uring_sqe_set_data64(sqe_, (ud));                                       \
			rc_ = 0;                                                                   \
		}                                                                                  \
		rc_;                                                                               \
	})

int lk_ring_accept_multishot(struct lk_ring *r, int fd, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_multishot_accept(sqe_, fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
}

int lk_ring_recv_pbuf(struct lk_ring *r, int fd, uint16_t bgid, uint64_t ud)
{
	return PREP(r, ud, ({
			    io_uring_prep_recv(sqe_, fd, NULL, 0, 0);
			    sqe_->flags |= IOSQE_BUFFER_SELECT;
			    sqe_->buf_group = bgid;
		    }));
}

int lk_ring_recv(struct lk_ring *r, int fd, void *buf, unsigned len, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_recv(sqe_, fd, buf, len, 0));
}

int lk_ring_read(struct lk_ring *r, int fd, void *buf, unsigned len, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_read(sqe_, fd, buf, len, (uint64_t)-1));
}

int lk_ring_send(struct lk_ring *r, int fd, const void *buf, unsigned len, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_send(sqe_, fd, buf, len, MSG_NOSIGNAL));
}

int lk_ring_send_zc_fixed(struct lk_ring *r, int fd, const void *buf, unsigned len,
			  unsigned index, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_send_zc_fixed(sqe_, fd, buf, len, MSG_NOSIGNAL, 0, index));
}

int lk_ring_fixed_sparse(struct lk_ring *r, unsigned n)
{
	return io_uring_register_buffers_sparse(&r->ring, n);
}

int lk_ring_fixed_set(struct lk_ring *r, unsigned index, void *addr, size_t len)
{
	struct iovec iov = { .iov_base = addr, .iov_len = len };
	__u64 tag = 0;
	int rc = io_uring_register_buffers_update_tag(&r->ring, index, &iov, &tag, 1);

	return rc == 1 ? 0 : (rc < 0 ? rc : -EIO);
}

int lk_ring_connect(struct lk_ring *r, int fd, const struct sockaddr *sa, socklen_t len, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_connect(sqe_, fd, sa, len));
}

int lk_ring_shutdown(struct lk_ring *r, int fd, int how, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_shutdown(sqe_, fd, how));
}

int lk_ring_poll(struct lk_ring *r, int fd, unsigned mask, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_poll_add(sqe_, fd, mask));
}

int lk_ring_splice_now(struct lk_ring *r, int fd_in, int fd_out, unsigned len)
{
	(void)r;
	for (;;) {
		/* Both sockets are O_NONBLOCK and SPLICE_F_NONBLOCK covers the
		 * pipe, so this never sleeps. */
		ssize_t n = splice(fd_in, NULL, fd_out, NULL, len, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n >= 0)
			return (int)n;
		if (errno != EINTR)
			return -errno;
	}
}

int lk_ring_cancel_ud(struct lk_ring *r, uint64_t target, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_cancel64(sqe_, target, 0));
}

int lk_ring_cancel_fd(struct lk_ring *r, int fd, uint64_t ud)
{
	return PREP(r, ud, io_uring_prep_cancel_fd(sqe_, fd, IORING_ASYNC_CANCEL_ALL));
}

int lk_ring_submit_and_wait(struct lk_ring *r, int timeout_ms)
{
	struct io_uring_cqe *cqe = NULL;
	int rc;

	if (timeout_ms < 0) {
		rc = io_uring_submit_and_wait(&r->ring, 1);
		return rc < 0 ? rc : 0;
	}
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ms / 1000,
		.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
	};
	rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
	return rc < 0 ? rc : 0;
}

unsigned lk_ring_reap(struct lk_ring *r, struct lk_cqe *out, unsigned max)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	/* The kernel sets IORING_SQ_CQ_OVERFLOW while completions wait in its
	 * overflow list; count each episode once. */
	if (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW) {
		if (!r->overflow_seen)
			r->overflows++;
		r->overflow_seen = true;
	} else {
		r->overflow_seen = false;
	}
	io_uring_for_each_cqe(&r->ring, head, cqe)
	{
		if (n == max)
			break;
		out[n++] = (struct lk_cqe){ .user_data = cqe->user_data, .res = cqe->res, .flags = cqe->flags };
	}
	io_uring_cq_advance(&r->ring, n);
	return n;
}

uint64_t lk_ring_overflows(const struct lk_ring *r)
{
	return r->overflows;
}

int lk_ring_pbuf_setup(struct lk_ring *r, uint16_t bgid, unsigned nbufs, unsigned buf_size)
{
	LK_ASSERT(bgid < LK_RING_PBUF_GROUPS);
	LK_ASSERT(nbufs != 0 && (nbufs & (nbufs - 1)) == 0 && nbufs <= 32768);
	struct pbuf_group *pg = &r->groups[bgid];
	LK_ASSERT(pg->br == NULL);
	size_t br_bytes = (size_t)nbufs * sizeof(struct io_uring_buf);
	size_t mem_bytes = (size_t)nbufs * buf_size;
	int rc;

	pg->br = mmap(NULL, br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pg->br == MAP_FAILED) {
		pg->br = NULL;
		return -ENOMEM;
	}
	/* Buffer memory is reserved, not touched: pages become resident only
	 * when the kernel first fills a buffer, so an idle agent stays small. */
	pg->mem = mmap(NULL, mem_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	if (pg->mem == MAP_FAILED) {
		rc = -ENOMEM;
		goto out_unmap_br;
	}
	io_uring_buf_ring_init(pg->br);
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)pg->br,
		.ring_entries = nbufs,
		.bgid = bgid,
	};
	rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (rc < 0)
		goto out_unmap_mem;
	pg->br_bytes = br_bytes;
	pg->nbufs = nbufs;
	pg->size = buf_size;
	for (unsigned i = 0; i < nbufs; i++)
		io_uring_buf_ring_add(pg->br, pg->mem + (size_t)i * buf_size, buf_size, (unsigned short)i,
				      io_uring_buf_ring_mask(nbufs), (int)i);
	io_uring_buf_ring_advance(pg->br, (int)nbufs);
	return 0;

out_unmap_mem:
	munmap(pg->mem, mem_bytes);
	pg->mem = NULL;
out_unmap_br:
	munmap(pg->br, br_bytes);
	pg->br = NULL;
	return rc;
}

void *lk_ring_pbuf_addr(struct lk_ring *r, uint16_t bgid, uint16_t bid)
{
	struct pbuf_group *pg = &r->groups[bgid];

	LK_DASSERT(bgid < LK_RING_PBUF_GROUPS && bid < pg->nbufs);
	return pg->mem + (size_t)bid * pg->size;
}

void lk_ring_pbuf_recycle(struct lk_ring *r, uint16_t bgid, uint16_t bid)
{
	struct pbuf_group *pg = &r->groups[bgid];

	LK_DASSERT(bgid < LK_RING_PBUF_GROUPS && bid < pg->nbufs);
	io_uring_buf_ring_add(pg->br, pg->mem + (size_t)bid * pg->size, pg->size, bid,
			      io_uring_buf_ring_mask(pg->nbufs), 0);
	io_uring_buf_ring_advance(pg->br, 1);
}
