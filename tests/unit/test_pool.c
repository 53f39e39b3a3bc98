/* tests/unit/test_pool.c - core/pool.c: LIFO reuse, lazy free stack,
 * exhaustion, and trimming after a burst. */
#include <sys/mman.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/pool.h"

#define OBJ (3 * 4096 + 100) /* spans whole pages and partial ones */

static void test_get_put_lifo_and_exhaustion(void **state)
{
	struct lk_pool p;
	void *a, *b, *c;

	(void)state;
	assert_int_equal(lk_pool_init(&p, "t", 100, 2), 0);
	a = lk_pool_get(&p);
	b = lk_pool_get(&p);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	/* Never-used objects come in address order. */
	assert_ptr_equal(a, lk_pool_base(&p));
	assert_null(lk_pool_get(&p));
	assert_int_equal(p.exhausted, 1);
	lk_pool_put(&p, a);
	c = lk_pool_get(&p);
	assert_ptr_equal(c, a); /* the last returned comes back first */
	lk_pool_put(&p, b);
	lk_pool_put(&p, c);
	assert_int_equal(p.in_use, 0);
	assert_int_equal(p.peak, 2);
	lk_pool_done(&p);
}

/* resident counts the resident pages of [p, p+len). */
static unsigned resident(const void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(page - 1);
	uintptr_t b = ((uintptr_t)p + len + page - 1) & ~(uintptr_t)(page - 1);
	unsigned char vec[64];
	unsigned n = 0;

	assert_true((b - a) / page <= sizeof(vec));
	assert_int_equal(mincore((void *)a, b - a, vec), 0);
	for (size_t i = 0; i < (b - a) / page; i++)
		n += vec[i] & 1;
	return n;
}

static void test_trim_after_burst(void **state)
{
	enum { N = 40, WARM = 8 };
	struct lk_pool p;
	char *objs[N];

	(void)state;
	assert_int_equal(lk_pool_init(&p, "t", OBJ, N), 0);
	lk_pool_set_trim(&p, WARM);
	for (int i = 0; i < N; i++) {
		objs[i] = lk_pool_get(&p);
		assert_non_null(objs[i]);
		memset(objs[i], 0xa5, OBJ);
	}
	for (int i = 0; i < N; i++)
		lk_pool_put(&p, objs[i]);
	/* All but WARM returned objects gave their whole pages back: the first
	 * ones returned are the coldest. */
	assert_int_equal(p.trims, N - WARM);
	for (int i = 0; i < N - WARM; i++) {
		/* At most the two pages shared with neighbours stay resident. */
		assert_true(resident(objs[i], OBJ) <= 2);
		/* A trimmed page reads as zero. */
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		uintptr_t inner = ((uintptr_t)objs[i] + page - 1) & ~(uintptr_t)(page - 1);
		assert_int_equal(*(volatile char *)inner, 0);
	}
	for (int i = N - WARM; i < N; i++)
		assert_int_equal((unsigned char)objs[i][OBJ / 2], 0xa5);
	/* They are still good objects: the burst comes back, and the warm ones
	 * are handed out first. */
	for (int i = 0; i < N; i++) {
		char *o = lk_pool_get(&p);
		assert_non_null(o);
		if (i < WARM)
			assert_int_equal((unsigned char)o[OBJ / 2], 0xa5);
		memset(o, 0x5a, OBJ);
		objs[i] = o;
	}
	assert_null(lk_pool_get(&p));
	for (int i = 0; i < N; i++)
		lk_pool_put(&p, objs[i]);
	assert_int_equal(p.trims, 2 * (N - WARM));
	lk_pool_done(&p);
}

static void test_no_trim_by_default(void **state)
{
	struct lk_pool p;
	char *objs[20];

	(void)state;
	assert_int_equal(lk_pool_init(&p, "t", OBJ, 20), 0);
	for (int i = 0; i < 20; i++) {
		objs[i] = lk_pool_get(&p);
		memset(objs[i], 0x11, OBJ);
	}
	for (int i = 0; i < 20; i++)
		lk_pool_put(&p, objs[i]);
	assert_int_equal(p.trims, 0);
	assert_int_equal((unsigned char)objs[0][OBJ / 2], 0x11);
	lk_pool_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put_lifo_and_exhaustion),
		cmocka_unit_test(test_trim_after_burst),
		cmocka_unit_test(test_no_trim_by_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
