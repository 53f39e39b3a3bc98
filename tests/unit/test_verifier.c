/* tests/unit/test_verifier.c - the Argon2id verifier pool: verdicts come back
 * to the submitting worker, the cache only ever short-cuts the right token,
 * the in-flight bound answers BUSY, and concurrent workers never see each
 * other's verdicts (also run under TSan). */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/argon2.h"
#include "auth/verifier.h"

static struct lk_phc phc;

/* A cheap hash (8 MiB would be the real one's cost) keeps the test fast. */
static int setup(void **state)
{
	char out[LK_PHC_STR_MAX];

	phc = (struct lk_phc){ .m_kib = 64, .t = 1, .p = 1, .salt_len = 16, .hash_len = 32 };
	memcpy(phc.salt, "0123456789abcdef", 16);
	return lk__argon2_hash_phc(&phc, "supersecret", 11, out, sizeof(out));
}

/* Verdicts drained but not yet consumed, per worker (each worker index is
 * used by one thread only): a drain may return several at once. */
static struct lk_verify_result pending[4][8];
static size_t n_pending[4];

/* wait_one returns worker w's next verdict, waiting on its eventfd. */
static struct lk_verify_result wait_one(struct lk_verifier *v, unsigned w)
{
	struct pollfd p = { .fd = lk_verifier_eventfd(v, w), .events = POLLIN };
	uint64_t n;

	while (n_pending[w] == 0) {
		assert_int_equal(poll(&p, 1, 10000), 1);
		assert_int_equal(read(p.fd, &n, sizeof(n)), (ssize_t)sizeof(n));
		n_pending[w] = lk_verifier_drain(v, w, pending[w], 8);
	}
	struct lk_verify_result r = pending[w][0];
	memmove(pending[w], pending[w] + 1, --n_pending[w] * sizeof(r));
	return r;
}

static void test_right_then_cached_wrong_always_derives(void **state)
{
	char err[128];
	struct lk_verifier *v = lk_verifier_new(&phc, 2, 2, 1, err, sizeof(err));
	struct lk_verifier_stats st;

	assert_non_null(v);
	assert_int_equal(lk_verifier_submit(v, 0, "supersecret", 11, 7, 100), LK_VERIFY_PENDING);
	struct lk_verify_result r = wait_one(v, 0);
	assert_int_equal(r.cookie, 7);
	assert_true(r.ok);
	/* The right token now answers from the cache, without a derivation. */
	assert_int_equal(lk_verifier_submit(v, 0, "supersecret", 11, 8, 100), LK_VERIFY_OK);
	/* A wrong token, even a prefix of the right one, always derives. */
	assert_int_equal(lk_verifier_submit(v, 0, "supersecre", 10, 9, 100), LK_VERIFY_PENDING);
	r = wait_one(v, 0);
	assert_int_equal(r.cookie, 9);
	assert_false(r.ok);
	lk_verifier_stats(v, &st);
	assert_int_equal(st.derivations, 2);
	assert_int_equal(st.cache_hits, 1);
	lk_verifier_free(v);
}

static void test_cache_expires(void **state)
{
	char err[128];
	struct lk_verifier *v = lk_verifier_new(&phc, 1, 1, 1, err, sizeof(err));

	assert_int_equal(lk_verifier_submit(v, 0, "supersecret", 11, 1, 0), LK_VERIFY_PENDING);
	assert_true(wait_one(v, 0).ok);
	/* Far in the future (past the TTL) the cache no longer answers. */
	assert_int_equal(lk_verifier_submit(v, 0, "supersecret", 11, 2, UINT64_MAX / 2),
			 LK_VERIFY_PENDING);
	assert_true(wait_one(v, 0).ok);
	lk_verifier_free(v);
}

static void test_bounds(void **state)
{
	char err[128];
	char big[LK_VERIFY_TOKEN_MAX + 1];
	struct lk_verifier *v = lk_verifier_new(&phc, 1, 2, 1, err, sizeof(err));
	struct lk_verifier_stats st;

	memset(big, 'a', sizeof(big));
	assert_int_equal(lk_verifier_submit(v, 0, big, sizeof(big), 1, 0), LK_VERIFY_DENY);
	/* Two derivations may be queued or running; the third is refused. */
	assert_int_equal(lk_verifier_submit(v, 0, "w1", 2, 1, 0), LK_VERIFY_PENDING);
	assert_int_equal(lk_verifier_submit(v, 0, "w2", 2, 2, 0), LK_VERIFY_PENDING);
	assert_int_equal(lk_verifier_submit(v, 0, "w3", 2, 3, 0), LK_VERIFY_BUSY);
	assert_false(wait_one(v, 0).ok);
	assert_false(wait_one(v, 0).ok);
	/* Slots are free again. */
	assert_int_equal(lk_verifier_submit(v, 0, "w4", 2, 4, 0), LK_VERIFY_PENDING);
	assert_false(wait_one(v, 0).ok);
	lk_verifier_stats(v, &st);
	assert_int_equal(st.busy, 1);
	lk_verifier_free(v);
}

#define PER_WORKER 40

struct wctx {
	struct lk_verifier *v;
	unsigned w;
	unsigned ok, bad, mine;
};

static void *worker_thread(void *arg)
{
	struct wctx *x = arg;

	for (unsigned i = 0; i < PER_WORKER; i++) {
		bool right = (i % 3) == 0;
		uint64_t cookie = ((uint64_t)x->w << 32) | i;
		enum lk_verify_status st;

		while ((st = lk_verifier_submit(x->v, x->w, right ? "supersecret" : "nope",
						right ? 11 : 4, cookie, 0)) == LK_VERIFY_BUSY)
			sched_yield();
		if (st == LK_VERIFY_OK) {
			x->ok++;
			x->mine++;
			continue;
		}
		struct lk_verify_result r = wait_one(x->v, x->w);
		x->mine += (r.cookie >> 32) == x->w && (uint32_t)r.cookie == i;
		if (r.ok != right)
			x->bad++;
	}
	return NULL;
}

static void test_workers_get_their_own_verdicts(void **state)
{
	char err[128];
	struct lk_verifier *v = lk_verifier_new(&phc, 2, 3, 4, err, sizeof(err));
	struct wctx x[4];
	pthread_t t[4];

	for (unsigned i = 0; i < 4; i++) {
		x[i] = (struct wctx){ .v = v, .w = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_thread, &x[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(x[i].bad, 0);
		assert_int_equal(x[i].mine, PER_WORKER);
	}
	lk_verifier_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_right_then_cached_wrong_always_derives),
		cmocka_unit_test(test_cache_expires),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_workers_get_their_own_verdicts),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
