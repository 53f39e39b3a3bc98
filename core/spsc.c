/* core/spsc.c - single-producer single-consumer queue (see spsc.h). */
#include "core/spsc.h"

_Static_assert((LK_SPSC_CAP & (LK_SPSC_CAP - 1)) == 0, "LK_SPSC_CAP must be a power of two");

void lk_spsc_init(struct lk_spsc *q)
{
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
}

bool lk_spsc_push(struct lk_spsc *q, void *p)
{
	uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);

	if (head - tail == LK_SPSC_CAP)
		return false;
	q->slot[head % LK_SPSC_CAP] = p;
	atomic_store_explicit(&q->head, head + 1, memory_order_release);
	return true;
}

void *lk_spsc_pop(struct lk_spsc *q)
{
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);

	if (tail == head)
		return NULL;
	void *p = q->slot[tail % LK_SPSC_CAP];
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	return p;
}
