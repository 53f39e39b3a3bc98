/* core/spsc.h - a bounded single-producer single-consumer queue of
 * pointers (the event-stream inboxes, proxy/sse.c).
 *
 * One thread pushes, one other thread pops; nothing else touches it.
 * Memory orders: the producer writes the slot, then stores head with
 * release; the consumer loads head with acquire, reads the slot, then
 * stores tail with release; the producer loads tail with acquire before
 * reusing a slot. Indexes are free-running 32-bit counters, the capacity a
 * power of two. No locks, no allocation after init. */
#ifndef LK_CORE_SPSC_H
#define LK_CORE_SPSC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LK_SPSC_CAP 1024 /* slots; a power of two */

struct lk_spsc {
	_Atomic uint32_t head; /* written by the producer */
	_Atomic uint32_t tail; /* written by the consumer */
	void *slot[LK_SPSC_CAP];
};

/* lk_spsc_init empties q (before either thread uses it). */
void lk_spsc_init(struct lk_spsc *q);
/* lk_spsc_push appends p (producer only). Returns false when q is full. */
bool lk_spsc_push(struct lk_spsc *q, void *p);
/* lk_spsc_pop takes the oldest pointer (consumer only), or NULL if empty. */
void *lk_spsc_pop(struct lk_spsc *q);

#endif /* LK_CORE_SPSC_H */
