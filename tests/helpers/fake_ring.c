/* tests/helpers/fake_ring.c - fake io_uring for unit tests (see fake_ring.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dbg.h"
#include "core/err.h"
#include "tests/helpers/fake_ring.h"

struct lk_ring {
	struct lk_fake_ring f;
};

struct lk_fake_ring *lk_fake_ring_of(struct lk_ring *r)
{
	return &r->f;
}

struct lk_ring *lk_ring_new(unsigned sq_entries, char *err, size_t err_len)
{
	struct lk_ring *r = calloc(1, sizeof(*r));

	if (r == NULL)
		snprintf(err, err_len, "out of memory");
	else
		r->f.fail_after = -1;
	return r;
}

void lk_ring_free(struct lk_ring *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < LK_ARRAY_SIZE(r->f.pb); i++)
		free(r->f.pb[i].mem);
	free(r);
}

int lk_ring_probe(char *err, size_t err_len)
{
	return 0;
}

const char *lk_ring_flags_str(const struct lk_ring *r)
{
	return "fake";
}

static int record(struct lk_ring *r, enum lk_fake_op op, int fd, uint64_t ud, const void *buf,
		  unsigned len)
{
	struct lk_fake_ring *f = &r->f;

	if (f->fail_after == 0)
		return -EBUSY;
	if (f->fail_after > 0)
		f->fail_after--;
	LK_ASSERT(f->n_sqes < LK_FAKE_MAX);
	f->sqes[f->n_sqes++] = (struct lk_fake_sqe){ .op = op, .fd = fd, .ud = ud, .buf = buf, .len = len };
	return 0;
}

int lk_ring_accept_multishot(struct lk_ring *r, int fd, uint64_t ud)
{
	return record(r, LK_FAKE_ACCEPT, fd, ud, NULL, 0);
}

int lk_ring_recv_pbuf(struct lk_ring *r, int fd, uint16_t bgid, uint64_t ud)
{
	return record(r, LK_FAKE_RECV_PBUF, fd, ud, NULL, bgid); /* len: the group */
}

int lk_ring_recv(struct lk_ring *r, int fd, void *buf, unsigned len, uint64_t ud)
{
	return record(r, LK_FAKE_RECV, fd, ud, buf, len);
}

int lk_ring_read(struct lk_ring *r, int fd, void *buf, unsigned len, uint64_t ud)
{
	return record(r, LK_FAKE_READ, fd, ud, buf, len);
}

int lk_ring_send(struct lk_ring *r, int fd, const void *buf, unsigned len, uint64_t ud)
{
	return record(r, LK_FAKE_SEND, fd, ud, buf, len);
}

int lk_ring_send_zc_fixed(struct lk_ring *r, int fd, const void *buf, unsigned len,
			  unsigned index, uint64_t ud)
{
	return record(r, LK_FAKE_SEND_ZC, fd, ud, buf, len);
}

int lk_ring_fixed_sparse(struct lk_ring *r, unsigned n)
{
	return 0;
}

int lk_ring_fixed_set(struct lk_ring *r, unsigned index, void *addr, size_t len)
{
	return 0;
}

int lk_ring_connect(struct lk_ring *r, int fd, const struct sockaddr *sa, socklen_t len, uint64_t ud)
{
	return record(r, LK_FAKE_CONNECT, fd, ud, sa, len);
}

int lk_ring_shutdown(struct lk_ring *r, int fd, int how, uint64_t ud)
{
	return record(r, LK_FAKE_SHUTDOWN, fd, ud, NULL, (unsigned)how);
}

int lk_ring_poll(struct lk_ring *r, int fd, unsigned mask, uint64_t ud)
{
	return record(r, LK_FAKE_POLL, fd, ud, NULL, mask);
}

int lk_ring_splice_now(struct lk_ring *r, int fd_in, int fd_out, unsigned len)
{
	struct lk_fake_ring *f = &r->f;

	LK_ASSERT(f->n_sqes < LK_FAKE_MAX);
	f->sqes[f->n_sqes++] =
		(struct lk_fake_sqe){ .op = LK_FAKE_SPLICE, .fd = fd_in, .fd_out = fd_out, .len = len };
	if (f->splice_next == f->n_splice_res)
		return -EAGAIN;
	return f->splice_res[f->splice_next++];
}

void lk_fake_ring_splice_res(struct lk_ring *r, int res)
{
	struct lk_fake_ring *f = &r->f;

	LK_ASSERT(f->n_splice_res < LK_ARRAY_SIZE(f->splice_res));
	f->splice_res[f->n_splice_res++] = res;
}

int lk_ring_cancel_ud(struct lk_ring *r, uint64_t target, uint64_t ud)
{
	int rc = record(r, LK_FAKE_CANCEL_UD, -1, ud, NULL, 0);

	if (rc == 0)
		r->f.sqes[r->f.n_sqes - 1].target = target;
	return rc;
}

int lk_ring_cancel_fd(struct lk_ring *r, int fd, uint64_t ud)
{
	return record(r, LK_FAKE_CANCEL_FD, fd, ud, NULL, 0);
}

int lk_ring_submit_and_wait(struct lk_ring *r, int timeout_ms)
{
	return r->f.n_cqes > 0 ? 0 : -ETIME;
}

unsigned lk_ring_reap(struct lk_ring *r, struct lk_cqe *out, unsigned max)
{
	struct lk_fake_ring *f = &r->f;
	unsigned n = LK_MIN(max, f->n_cqes);

	memcpy(out, f->cqes, n * sizeof(*out));
	memmove(f->cqes, f->cqes + n, (f->n_cqes - n) * sizeof(*out));
	f->n_cqes -= n;
	return n;
}

uint64_t lk_ring_overflows(const struct lk_ring *r)
{
	return 0;
}

/* group returns provided-buffer group bgid (0: the worker's small buffers,
 * 1: its large ones for Docker's bytes); buffer ids of each start at 0. */
static struct lk_fake_pbufs *group(struct lk_ring *r, uint16_t bgid)
{
	LK_ASSERT(bgid < LK_ARRAY_SIZE(r->f.pb));
	return &r->f.pb[bgid];
}

int lk_ring_pbuf_setup(struct lk_ring *r, uint16_t bgid, unsigned nbufs, unsigned buf_size)
{
	if (bgid >= LK_ARRAY_SIZE(r->f.pb))
		return -EINVAL;
	struct lk_fake_pbufs *g = group(r, bgid);

	g->mem = calloc(nbufs, buf_size);
	if (g->mem == NULL)
		return -ENOMEM;
	g->size = buf_size;
	g->count = nbufs;
	g->free = nbufs;
	return 0;
}

void *lk_ring_pbuf_addr(struct lk_ring *r, uint16_t bgid, uint16_t bid)
{
	struct lk_fake_pbufs *g = group(r, bgid);

	LK_ASSERT(bid < g->count);
	return g->mem + (size_t)bid * g->size;
}

void lk_ring_pbuf_recycle(struct lk_ring *r, uint16_t bgid, uint16_t bid)
{
	struct lk_fake_pbufs *g = group(r, bgid);

	(void)bid;
	LK_ASSERT(g->free < g->count);
	g->free++;
}

uint32_t lk_fake_ring_take_group_pbuf(struct lk_ring *r, uint16_t bgid, const void *data,
				      unsigned len)
{
	struct lk_fake_pbufs *g = group(r, bgid);
	/* Buffers are handed out in a simple rotation; tests check the count. */
	unsigned bid = g->next++ % g->count;

	LK_ASSERT(g->free > 0 && len <= g->size);
	g->free--;
	memcpy(g->mem + (size_t)bid * g->size, data, len);
	return LK_CQE_F_BUFFER | (bid << LK_CQE_BUFFER_SHIFT);
}

uint32_t lk_fake_ring_take_pbuf(struct lk_ring *r, const void *data, unsigned len)
{
	return lk_fake_ring_take_group_pbuf(r, 0, data, len);
}

void lk_fake_ring_cqe(struct lk_ring *r, uint64_t ud, int res, uint32_t flags)
{
	struct lk_fake_ring *f = &r->f;

	LK_ASSERT(f->n_cqes < LK_FAKE_MAX);
	f->cqes[f->n_cqes++] = (struct lk_cqe){ .user_data = ud, .res = res, .flags = flags };
}

struct lk_fake_sqe *lk_fake_ring_find(struct lk_ring *r, enum lk_fake_op op, int fd)
{
	for (unsigned i = r->f.n_sqes; i-- > 0;)
		if (r->f.sqes[i].op == op && r->f.sqes[i].fd == fd)
			return &r->f.sqes[i];
	return NULL;
}

void lk_fake_ring_fail_after(struct lk_ring *r, long n)
{
	r->f.fail_after = n;
}
