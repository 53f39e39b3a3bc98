/* core/pool.h - fixed-size typed object pool, per worker.
 *
 * All objects are reserved at start-up in one mapping that is not touched
 * until an object is first used, so RSS follows peak concurrency, not the
 * configured maximum. Get/put are O(1) LIFO (hot objects stay in cache and
 * resident). Running out is an operating error for the caller (503 or
 * refusing the accept), never an abort. The in-use count is checked by every
 * test teardown. Not thread-safe: a pool belongs to one worker. */
#ifndef LK_CORE_POOL_H
#define LK_CORE_POOL_H

#include <stddef.h>
#include <stdint.h>

struct lk_pool {
	char *_mem;
	uint32_t *_free; /* stack of returned indexes (LIFO reuse) */
	uint32_t _n_free;
	uint32_t _fresh; /* objects [_fresh, capacity) were never handed out */
	uint32_t _trimmed; /* _free[0, _trimmed) had their pages given back */
	uint32_t trim_warm; /* 0: never trim; else returned objects kept resident */
	uint64_t trims;    /* objects whose pages were given back */
	uint32_t capacity;
	uint32_t in_use;
	uint32_t peak;
	uint64_t exhausted; /* gets that found the pool empty */
	size_t obj_size;
	const char *name;
};

/* lk_pool_init reserves capacity objects of obj_size bytes (rounded up to 64).
 * Returns 0 or -ENOMEM. */
int lk_pool_init(struct lk_pool *p, const char *name, size_t obj_size, uint32_t capacity);
/* lk_pool_done releases the memory; the pool must be empty. NULL-safe fields. */
void lk_pool_done(struct lk_pool *p);
/* lk_pool_get returns an object (contents unspecified) or NULL when empty. */
void *lk_pool_get(struct lk_pool *p);
/* lk_pool_base returns the start of the pool's memory (capacity objects of
 * obj_size bytes), for registering it with the kernel. */
void *lk_pool_base(const struct lk_pool *p);
/* lk_pool_put returns obj, which must come from p. With trimming on, once
 * more than trim_warm returned objects wait, the coldest one (the bottom of
 * the free stack) gives its whole pages back to the kernel (MADV_DONTNEED):
 * a burst of concurrent requests does not keep its RSS for ever. */
void lk_pool_put(struct lk_pool *p, void *obj);
/* lk_pool_set_trim turns trimming on, keeping warm returned objects
 * resident. Never for memory registered with the kernel (fixed buffers
 * would keep pointing at the old pages). */
void lk_pool_set_trim(struct lk_pool *p, uint32_t warm);

#endif /* LK_CORE_POOL_H */
