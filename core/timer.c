/* core/timer.c - constant-duration timer queues (see timer.h). */
#include <time.h>

#include "core/dbg.h"
#include "core/timer.h"

uint64_t lk_time_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t lk_time_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void lk_timerq_init(struct lk_timerq *q, uint64_t duration_ms)
{
	*q = (struct lk_timerq){ ._head = NULL, ._tail = NULL, .duration_ms = duration_ms };
}

void lk_timer_cancel(struct lk_timer *t)
{
	struct lk_timerq *q = t->_q;

	if (q == NULL)
		return;
	if (t->_prev != NULL)
		t->_prev->_next = t->_next;
	else
		q->_head = t->_next;
	if (t->_next != NULL)
		t->_next->_prev = t->_prev;
	else
		q->_tail = t->_prev;
	t->_prev = t->_next = NULL;
	t->_q = NULL;
}

void lk_timer_arm(struct lk_timer *t, struct lk_timerq *q, uint64_t now_ms)
{
	LK_ASSERT(t->cb != NULL);
	lk_timer_cancel(t);
	t->_deadline_ms = now_ms + q->duration_ms;
	/* Appending keeps the queue sorted only if time never goes backwards,
	 * which CLOCK_MONOTONIC guarantees. */
	LK_DASSERT(q->_tail == NULL || q->_tail->_deadline_ms <= t->_deadline_ms);
	t->_prev = q->_tail;
	t->_next = NULL;
	if (q->_tail != NULL)
		q->_tail->_next = t;
	else
		q->_head = t;
	q->_tail = t;
	t->_q = q;
}

uint64_t lk_timerq_next(const struct lk_timerq *q)
{
	return q->_head != NULL ? q->_head->_deadline_ms : UINT64_MAX;
}

unsigned lk_timerq_run(struct lk_timerq *q, uint64_t now_ms, unsigned max)
{
	unsigned n = 0;

	while (n < max && q->_head != NULL && q->_head->_deadline_ms <= now_ms) {
		struct lk_timer *t = q->_head;

		lk_timer_cancel(t);
		n++;
		t->cb(t);
	}
	return n;
}
