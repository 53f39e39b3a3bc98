/* core/timer.h - per-worker timeouts.
 *
 * Every timeout Lookout arms has a duration fixed by configuration (header
 * read, idle keep-alive, TLS handshake, upstream request). A queue per
 * duration is therefore always sorted by deadline if entries are appended,
 * which makes add, cancel and expiry O(1) with no wheel and no tree: the
 * idea of nginx's timer rbtree and h2o's wheel, reduced to what constant
 * durations need. A timer is embedded in its owner (a connection) and is in
 * at most one queue at a time; cancelling is part of the owner's close path.
 *
 * Not thread-safe: a worker's queues belong to its thread. */
#ifndef LK_CORE_TIMER_H
#define LK_CORE_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct lk_timer;
/* lk_timer_cb is called from lk_timerq_run when t expires; t is already
 * unlinked and may be re-armed or its owner closed from the callback. */
typedef void (*lk_timer_cb)(struct lk_timer *t);

struct lk_timer {
	struct lk_timer *_prev;
	struct lk_timer *_next;
	struct lk_timerq *_q; /* NULL when not armed */
	uint64_t _deadline_ms;
	lk_timer_cb cb;
};

struct lk_timerq {
	struct lk_timer *_head;
	struct lk_timer *_tail;
	uint64_t duration_ms;
};

/* lk_time_ms returns CLOCK_MONOTONIC in milliseconds. */
uint64_t lk_time_ms(void);
/* lk_time_us returns CLOCK_MONOTONIC in microseconds. */
uint64_t lk_time_us(void);

/* lk_timerq_init makes an empty queue whose timers all last duration_ms. */
void lk_timerq_init(struct lk_timerq *q, uint64_t duration_ms);
/* lk_timer_arm (re)arms t on q to fire duration_ms after now_ms; a timer
 * armed elsewhere is moved. */
void lk_timer_arm(struct lk_timer *t, struct lk_timerq *q, uint64_t now_ms);
/* lk_timer_cancel disarms t; a disarmed timer is fine. */
void lk_timer_cancel(struct lk_timer *t);
/* lk_timerq_next returns the earliest deadline in q, or UINT64_MAX. */
uint64_t lk_timerq_next(const struct lk_timerq *q);
/* lk_timerq_run fires at most max timers whose deadline is <= now_ms and
 * returns how many fired; bounded so one turn of the loop stays short. */
unsigned lk_timerq_run(struct lk_timerq *q, uint64_t now_ms, unsigned max);

#endif /* LK_CORE_TIMER_H */
