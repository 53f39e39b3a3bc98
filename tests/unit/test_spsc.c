/* tests/unit/test_spsc.c - the single-producer single-consumer queue
 * (core/spsc.h): order, bounds, and, under ThreadSanitizer (make tsan), that
 * what the producer wrote before a push is what the consumer reads after
 * the pop, with both threads running flat out through wrap-around. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/spsc.h"

static struct lk_spsc q;

static void test_order_and_bounds(void **state)
{
	static int v[LK_SPSC_CAP + 1];

	(void)state;
	lk_spsc_init(&q);
	assert_null(lk_spsc_pop(&q));
	for (int i = 0; i < LK_SPSC_CAP; i++)
		assert_true(lk_spsc_push(&q, &v[i]));
	assert_false(lk_spsc_push(&q, &v[LK_SPSC_CAP])); /* full */
	for (int i = 0; i < LK_SPSC_CAP / 2; i++)
		assert_ptr_equal(lk_spsc_pop(&q), &v[i]);
	for (int i = 0; i < LK_SPSC_CAP / 2; i++)
		assert_true(lk_spsc_push(&q, &v[i]));
	for (int i = LK_SPSC_CAP / 2; i < LK_SPSC_CAP; i++)
		assert_ptr_equal(lk_spsc_pop(&q), &v[i]);
	for (int i = 0; i < LK_SPSC_CAP / 2; i++)
		assert_ptr_equal(lk_spsc_pop(&q), &v[i]);
	assert_null(lk_spsc_pop(&q));
}

#define N_MSGS 200000

struct msg {
	uint64_t seq;
	uint64_t check;
};

static void *producer(void *arg)
{
	(void)arg;
	for (uint64_t i = 0; i < N_MSGS; i++) {
		struct msg *m = malloc(sizeof(*m));

		m->seq = i;
		m->check = i * 2654435761u;
		while (!lk_spsc_push(&q, m))
			; /* full: the consumer catches up */
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	pthread_t t;
	uint64_t next = 0;

	(void)state;
	lk_spsc_init(&q);
	assert_int_equal(pthread_create(&t, NULL, producer, NULL), 0);
	while (next < N_MSGS) {
		struct msg *m = lk_spsc_pop(&q);

		if (m == NULL)
			continue;
		assert_int_equal(m->seq, next);
		assert_int_equal(m->check, next * 2654435761u);
		free(m);
		next++;
	}
	pthread_join(t, NULL);
	assert_null(lk_spsc_pop(&q));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_bounds),
		cmocka_unit_test(test_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
