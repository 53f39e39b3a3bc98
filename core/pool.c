/* core/pool.c - fixed-size object pool (see pool.h). */
#include <sys/mman.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/dbg.h"
#include "core/err.h"
#include "core/pool.h"

int lk_pool_init(struct lk_pool *p, const char *name, size_t obj_size, uint32_t capacity)
{
	LK_ASSERT(capacity > 0 && obj_size > 0);
	size_t sz = (obj_size + 63) & ~(size_t)63;

	*p = (struct lk_pool){ .capacity = capacity, .obj_size = sz, .name = name };
	p->_mem = mmap(NULL, sz * capacity, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->_mem == MAP_FAILED) {
		p->_mem = NULL;
		return -ENOMEM;
	}
	p->_free = calloc(capacity, sizeof(*p->_free));
	if (p->_free == NULL) {
		munmap(p->_mem, sz * capacity);
		p->_mem = NULL;
		return -ENOMEM;
	}
	/* Returned objects are reused first (LIFO keeps the same pages hot),
	 * then never-used ones in address order; the free stack is written only
	 * as objects come back, so an idle pool touches none of it. */
	return 0;
}

void lk_pool_done(struct lk_pool *p)
{
	if (p->_mem == NULL)
		return;
	LK_ASSERT(p->in_use == 0);
	munmap(p->_mem, p->obj_size * p->capacity);
	free(p->_free);
	p->_mem = NULL;
	p->_free = NULL;
}

/* trim_one gives back the pages lying wholly inside object i (objects are
 * 64-byte aligned, not page-aligned: a page shared with a neighbour stays). */
static void trim_one(struct lk_pool *p, uint32_t i)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)p->_mem + (uintptr_t)i * p->obj_size;
	uintptr_t end = start + p->obj_size;
	uintptr_t a = (start + page - 1) & ~(uintptr_t)(page - 1);
	uintptr_t b = end & ~(uintptr_t)(page - 1);

	if (b > a && madvise((void *)a, b - a, MADV_DONTNEED) == 0)
		p->trims++;
}

void *lk_pool_get(struct lk_pool *p)
{
	uint32_t i;

	if (p->_n_free != 0) {
		i = p->_free[--p->_n_free];
		if (p->_trimmed > p->_n_free)
			p->_trimmed = p->_n_free; /* took a trimmed one: zero pages, fine */
	} else if (p->_fresh < p->capacity) {
		i = p->_fresh++;
	} else {
		p->exhausted++;
		return NULL;
	}

	p->in_use++;
	if (p->in_use > p->peak)
		p->peak = p->in_use;
	return p->_mem + (size_t)i * p->obj_size;
}

void *lk_pool_base(const struct lk_pool *p)
{
	return p->_mem;
}

void lk_pool_put(struct lk_pool *p, void *obj)
{
	char *o = obj;

	LK_ASSERT(o >= p->_mem && o < p->_mem + p->obj_size * p->capacity);
	LK_ASSERT((size_t)(o - p->_mem) % p->obj_size == 0);
	LK_ASSERT(p->in_use > 0);
	p->_free[p->_n_free++] = (uint32_t)((size_t)(o - p->_mem) / p->obj_size);
	p->in_use--;
	if (p->trim_warm != 0 && p->_n_free - p->_trimmed > p->trim_warm) {
		trim_one(p, p->_free[p->_trimmed]);
		p->_trimmed++;
	}
}

void lk_pool_set_trim(struct lk_pool *p, uint32_t warm)
{
	LK_ASSERT(warm > 0);
	p->trim_warm = warm;
}
