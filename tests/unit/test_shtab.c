/* tests/unit/test_shtab.c - the nonce table and the failed-auth limiter.
 *
 * Time is injected (now_s, now_ms), so expiry and windows are exact. The
 * single-threaded tests pin the contracts; the multi-threaded ones race 8
 * threads on shared keys and check the one-entry-per-key invariant by
 * counting: every nonce FRESH exactly once, every limiter failure that
 * returned 0 counted exactly once in exactly one slot. In LK_DEBUG builds
 * they set lk__shtab_race_hook to yield the CPU inside the protocol's steps,
 * so twins, kills, withdrawals and reclaims under readers happen thousands
 * of times per run even on two cores (a release build runs them without
 * it, weaker but still valid). They run under TSan (STYLE.md 12) and take
 * well under a second each.
 *
 * cmocka's assert_* must not run on the worker threads (they longjmp to the
 * test's frame), so threads count violations in atomics and the test thread
 * asserts on the counts after joining. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/shtab.h"
#include "core/dbg.h"
#include "core/err.h"

#define TTL_S	  120		/* 2 * MAX_CLOCK_SKEW_SECONDS's default */
#define T0_S	  1749600000ull /* the spec's example timestamp */
#define W_MS	  60000ull	/* the limiter's window */
#define T0_MS	  5000000000ull /* an arbitrary monotonic time */
#define N_THREADS 8

/* nonce_of builds a nonce whose first and last 8 bytes are k0 and k1
 * little-endian: with the test hash, k0 is the hash (home = k0 & mask). */
static void nonce_of(uint8_t out[16], uint64_t k0, uint64_t k1)
{
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(k0 >> (8 * i));
		out[8 + i] = (uint8_t)(k1 >> (8 * i));
	}
}

/* ip_v4 builds the v4-mapped key ::ffff:10.a.b.c for n = a<<16 | b<<8 | c. */
static struct lk_ip_key ip_v4(uint32_t n)
{
	struct lk_ip_key k = { .b = { [10] = 0xff, [11] = 0xff, [12] = 10 } };

	k.b[13] = (uint8_t)(n >> 16);
	k.b[14] = (uint8_t)(n >> 8);
	k.b[15] = (uint8_t)n;
	return k;
}

/* splitmix64: a deterministic generator for test data. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* SipHash reference vectors (github.com/veorq/SipHash, as quoted by the
 * Linux kernel's lib/siphash_kunit.c): key 00..0f, message 00..0f. The
 * kernel's 64-bit hsiphash is SipHash-1-3 truncated to 32 bits. */
static void test_siphash_vectors(void **state)
{
	const uint64_t key[2] = { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull };
	uint8_t in[16];

	for (int i = 0; i < 16; i++)
		in[i] = (uint8_t)i;
	assert_true(lk__shtab_siphash(key, in, 2, 4) == 0x3f2acc7f57c29bdbull);
	assert_true((uint32_t)lk__shtab_siphash(key, in, 1, 3) == 0x7d908b66u);
}

static void test_nonce_fresh_replay(void **state)
{
	struct lk_nonce_table *t = lk_nonce_table_new(100, TTL_S);
	struct lk_shtab_stats st;
	uint8_t a[16], b[16];

	assert_non_null(t);
	nonce_of(a, 0x0011223344556677ull, 0x8899aabbccddeeffull);
	nonce_of(b, 0x0011223344556677ull, 0x8899aabbccddeefeull); /* one bit apart */
	assert_false(lk_nonce_seen(t, a, T0_S));
	assert_int_equal(lk_nonce_insert(t, a, T0_S), LK_NONCE_FRESH);
	assert_true(lk_nonce_seen(t, a, T0_S));
	assert_false(lk_nonce_seen(t, b, T0_S));
	assert_false(lk_nonce_seen(t, a, T0_S + TTL_S)); /* expired */
	assert_int_equal(lk_nonce_insert(t, a, T0_S), LK_NONCE_REPLAY);
	assert_int_equal(lk_nonce_insert(t, b, T0_S), LK_NONCE_FRESH);
	assert_int_equal(lk_nonce_insert(t, a, T0_S + 1), LK_NONCE_REPLAY);
	assert_int_equal(lk_nonce_insert(t, b, T0_S + 1), LK_NONCE_REPLAY);
	assert_int_equal(lk__nonce_table_count(t, a, T0_S), 1);
	assert_int_equal(lk__nonce_table_count(t, b, T0_S), 1);
	lk_nonce_table_stats(t, T0_S, &st);
	assert_int_equal(st.slots, 256);
	assert_int_equal(st.live, 2);
	assert_int_equal(st.full, 0);
	lk_nonce_table_free(t);
	lk_nonce_table_free(NULL);
}

/* An entry lives ttl_s seconds: expiry <= now frees it. */
static void test_nonce_expiry(void **state)
{
	struct lk_nonce_table *t = lk_nonce_table_new(100, TTL_S);
	struct lk_shtab_stats st;
	uint8_t a[16];

	assert_non_null(t);
	nonce_of(a, 42, 43);
	assert_int_equal(lk_nonce_insert(t, a, T0_S), LK_NONCE_FRESH);
	assert_int_equal(lk_nonce_insert(t, a, T0_S + TTL_S - 1), LK_NONCE_REPLAY);
	lk_nonce_table_stats(t, T0_S + TTL_S, &st);
	assert_int_equal(st.live, 0);
	assert_int_equal(lk_nonce_insert(t, a, T0_S + TTL_S), LK_NONCE_FRESH);
	assert_int_equal(lk_nonce_insert(t, a, T0_S + TTL_S + 1), LK_NONCE_REPLAY);
	assert_int_equal(lk_nonce_insert(t, a, T0_S + 2 * TTL_S - 1), LK_NONCE_REPLAY);
	assert_int_equal(lk_nonce_insert(t, a, T0_S + 2 * TTL_S), LK_NONCE_FRESH);
	/* A worker whose clock lags still sees the entry. */
	assert_int_equal(lk_nonce_insert(t, a, T0_S), LK_NONCE_REPLAY);
	assert_int_equal(lk__nonce_table_count(t, a, T0_S + 2 * TTL_S), 1);
	lk_nonce_table_free(t);
}

/* A full table refuses every new nonce, still recognises recorded ones, and
 * takes new ones again once entries expire (reused in place). */
static void test_nonce_full_and_reuse(void **state)
{
	struct lk_nonce_table *t = lk_nonce_table_new(8, TTL_S); /* 16 slots, one window */
	struct lk_shtab_stats st;
	uint64_t seed = 1;
	uint8_t n[16];

	assert_non_null(t);
	for (uint64_t i = 0; i < 16; i++) {
		nonce_of(n, next_rand(&seed), i);
		assert_int_equal(lk_nonce_insert(t, n, T0_S), LK_NONCE_FRESH);
	}
	for (uint64_t i = 100; i < 200; i++) {
		nonce_of(n, next_rand(&seed), i);
		assert_int_equal(lk_nonce_insert(t, n, T0_S + 1), LK_NONCE_FULL);
		assert_int_equal(lk_nonce_insert(t, n, T0_S + 1), LK_NONCE_FULL);
	}
	seed = 1;
	for (uint64_t i = 0; i < 16; i++) {
		nonce_of(n, next_rand(&seed), i);
		assert_int_equal(lk_nonce_insert(t, n, T0_S + 1), LK_NONCE_REPLAY);
	}
	lk_nonce_table_stats(t, T0_S + 1, &st);
	assert_int_equal(st.slots, 16);
	assert_int_equal(st.live, 16);
	assert_int_equal(st.full, 200);

	/* Everything expired: 16 new nonces reuse the slots, then it is full
	 * again, and an old nonce is refused, not taken for fresh. */
	for (uint64_t i = 1000; i < 1016; i++) {
		nonce_of(n, i * 7919, i);
		assert_int_equal(lk_nonce_insert(t, n, T0_S + TTL_S), LK_NONCE_FRESH);
	}
	seed = 1;
	nonce_of(n, next_rand(&seed), 0);
	assert_int_equal(lk_nonce_insert(t, n, T0_S + TTL_S), LK_NONCE_FULL);
	lk_nonce_table_stats(t, T0_S + TTL_S, &st);
	assert_int_equal(st.live, 16);
	assert_int_equal(st.full, 201);
	lk_nonce_table_free(t);
}

/* The probe bound: 64 nonces with one hash fill their window; the 65th is
 * FULL although the table is nearly empty, and so is a nonce homed one slot
 * further, whose window overlaps; one homed 64 slots on is not affected. */
static void test_nonce_probe_bound(void **state)
{
	struct lk_nonce_table *t = lk_nonce_table_new(1024, TTL_S); /* 2048 slots */
	const uint64_t home = 100;
	uint8_t n[16];

	assert_non_null(t);
	lk__nonce_table_set_test_hash(t);
	for (uint64_t i = 0; i < LK_SHTAB_PROBE_MAX; i++) {
		nonce_of(n, home, i);
		assert_int_equal(lk_nonce_insert(t, n, T0_S), LK_NONCE_FRESH);
	}
	nonce_of(n, home, LK_SHTAB_PROBE_MAX);
	assert_int_equal(lk_nonce_insert(t, n, T0_S), LK_NONCE_FULL);
	nonce_of(n, home + LK_SHTAB_PROBE_MAX, 0);
	assert_int_equal(lk_nonce_insert(t, n, T0_S), LK_NONCE_FRESH);
	nonce_of(n, home + 1, 0);
	assert_int_equal(lk_nonce_insert(t, n, T0_S), LK_NONCE_FULL);
	for (uint64_t i = 0; i < LK_SHTAB_PROBE_MAX; i++) {
		nonce_of(n, home, i);
		assert_int_equal(lk_nonce_insert(t, n, T0_S + 1), LK_NONCE_REPLAY);
	}
	/* Once they expire, the refused nonce gets a slot. */
	nonce_of(n, home, LK_SHTAB_PROBE_MAX);
	assert_int_equal(lk_nonce_insert(t, n, T0_S + TTL_S), LK_NONCE_FRESH);
	assert_int_equal(lk_nonce_insert(t, n, T0_S + TTL_S), LK_NONCE_REPLAY);
	lk_nonce_table_free(t);
}

/* Distinct nonces with equal hashes (equal home and tag), equal homes and
 * different tags, and nonces differing only in their last byte are all
 * distinct entries: the full key decides, never the hash. */
static void test_nonce_colliding_hashes(void **state)
{
	struct lk_nonce_table *t = lk_nonce_table_new(1024, TTL_S);
	uint8_t n[16];

	assert_non_null(t);
	lk__nonce_table_set_test_hash(t);
	for (uint64_t i = 0; i < 8; i++) {
		nonce_of(n, 7, 0xabcdef0000000000ull | i); /* same hash, k1 differs */
		assert_int_equal(lk_nonce_insert(t, n, T0_S), LK_NONCE_FRESH);
		nonce_of(n, 7 | i << 40, 0xabcdef0000000000ull); /* same home, tag differs */
		assert_int_equal(lk_nonce_insert(t, n, T0_S),
				 i == 0 ? LK_NONCE_REPLAY : LK_NONCE_FRESH);
	}
	for (uint64_t i = 0; i < 8; i++) {
		nonce_of(n, 7, 0xabcdef0000000000ull | i);
		assert_int_equal(lk_nonce_insert(t, n, T0_S), LK_NONCE_REPLAY);
		assert_int_equal(lk__nonce_table_count(t, n, T0_S), 1);
		nonce_of(n, 7 | i << 40, 0xabcdef0000000000ull);
		assert_int_equal(lk_nonce_insert(t, n, T0_S), LK_NONCE_REPLAY);
		assert_int_equal(lk__nonce_table_count(t, n, T0_S), 1);
	}
	lk_nonce_table_free(t);
}

static struct lk_limiter *limiter(uint32_t capacity)
{
	struct lk_limiter *l = lk_limiter_new(capacity, 10, 60);

	assert_non_null(l);
	return l;
}

static void fail_n(struct lk_limiter *l, const struct lk_ip_key *ip, int n, uint64_t now_ms)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(lk_limiter_fail(l, ip, now_ms), 0);
}

/* 10 failures limit the IP; the 11th request is refused too; other IPs are
 * not affected; an unknown IP is not limited. */
static void test_limiter_ten_failures(void **state)
{
	struct lk_limiter *l = limiter(100);
	struct lk_ip_key a = ip_v4(1), b = ip_v4(2);
	uint32_t curr = 0, prev = 0;

	assert_false(lk_limiter_is_limited(l, &a, T0_MS));
	fail_n(l, &a, 9, T0_MS);
	assert_false(lk_limiter_is_limited(l, &a, T0_MS));
	fail_n(l, &b, 1, T0_MS);
	fail_n(l, &a, 1, T0_MS + 10);
	assert_true(lk_limiter_is_limited(l, &a, T0_MS + 10));
	assert_true(lk_limiter_is_limited(l, &a, T0_MS + 11));
	fail_n(l, &a, 1, T0_MS + 11); /* a caller may still record one */
	assert_true(lk_limiter_is_limited(l, &a, T0_MS + 12));
	assert_false(lk_limiter_is_limited(l, &b, T0_MS + 12));
	assert_int_equal(lk__limiter_peek(l, &a, T0_MS + 12, &curr, &prev), 1);
	assert_int_equal(curr, 11);
	assert_int_equal(prev, 0);
	lk_limiter_free(l);
	lk_limiter_free(NULL);
}

/* The window starts at the IP's first failure: a burst of 10 limits it until
 * one window later, to the millisecond. */
static void test_limiter_window_passes(void **state)
{
	struct lk_limiter *l = limiter(100);
	struct lk_ip_key a = ip_v4(1);
	struct lk_shtab_stats st;

	fail_n(l, &a, 10, T0_MS);
	assert_true(lk_limiter_is_limited(l, &a, T0_MS + W_MS - 1));
	assert_true(lk_limiter_is_limited(l, &a, T0_MS + W_MS));
	assert_false(lk_limiter_is_limited(l, &a, T0_MS + W_MS + 1));
	assert_false(lk_limiter_is_limited(l, &a, T0_MS + 2 * W_MS));
	lk_limiter_stats(l, T0_MS + 2 * W_MS - 1, &st);
	assert_int_equal(st.live, 1);
	lk_limiter_stats(l, T0_MS + 2 * W_MS, &st);
	assert_int_equal(st.live, 0);
	lk_limiter_free(l);
}

/* The sliding estimate curr + prev * (W - elapsed) / W at and after the
 * period boundary. */
static void test_limiter_sliding_estimate(void **state)
{
	struct lk_limiter *l = limiter(100);
	struct lk_ip_key a = ip_v4(1), b = ip_v4(2);
	const uint64_t p1 = T0_MS + W_MS; /* a's second period starts here */

	fail_n(l, &a, 10, T0_MS);
	/* 6 s into the next period the 10 count 9: one more failure is
	 * allowed and makes the estimate 10 exactly... */
	assert_false(lk_limiter_is_limited(l, &a, p1 + 6000));
	fail_n(l, &a, 1, p1 + 6000);
	assert_true(lk_limiter_is_limited(l, &a, p1 + 6000));
	/* ...which decays below 10 one millisecond later. */
	assert_false(lk_limiter_is_limited(l, &a, p1 + 6001));
	/* A steady attacker gets about one try per W/10. */
	fail_n(l, &a, 1, p1 + 6001);
	assert_true(lk_limiter_is_limited(l, &a, p1 + 12000));
	assert_false(lk_limiter_is_limited(l, &a, p1 + 12001));

	/* Failures at both ends of one period all count in it. */
	fail_n(l, &b, 5, T0_MS);
	fail_n(l, &b, 5, T0_MS + W_MS - 1);
	assert_true(lk_limiter_is_limited(l, &b, T0_MS + W_MS - 1));
	/* Half way through the next period they count 5; 5 more limit. */
	assert_false(lk_limiter_is_limited(l, &b, T0_MS + W_MS + W_MS / 2));
	fail_n(l, &b, 4, T0_MS + W_MS + W_MS / 2);
	assert_false(lk_limiter_is_limited(l, &b, T0_MS + W_MS + W_MS / 2));
	fail_n(l, &b, 1, T0_MS + W_MS + W_MS / 2);
	assert_true(lk_limiter_is_limited(l, &b, T0_MS + W_MS + W_MS / 2));
	lk_limiter_free(l);
}

/* A full table: unknown IPs are limited (fail closed) and cannot be
 * recorded, known IPs keep working; once entries expire, slots are reused. */
static void test_limiter_full_table(void **state)
{
	struct lk_limiter *l = limiter(8); /* 16 slots, one window */
	struct lk_ip_key stranger = ip_v4(999);
	struct lk_shtab_stats st;

	for (uint32_t i = 0; i < 16; i++) {
		struct lk_ip_key ip = ip_v4(i);

		fail_n(l, &ip, 1, T0_MS);
	}
	assert_true(lk_limiter_is_limited(l, &stranger, T0_MS));
	assert_int_equal(lk_limiter_fail(l, &stranger, T0_MS), -ENOSPC);
	for (uint32_t i = 0; i < 16; i++) {
		struct lk_ip_key ip = ip_v4(i);

		assert_false(lk_limiter_is_limited(l, &ip, T0_MS + 1));
		fail_n(l, &ip, i < 8 ? 9 : 1, T0_MS + 1);
		assert_int_equal(lk_limiter_is_limited(l, &ip, T0_MS + 1), i < 8);
	}
	lk_limiter_stats(l, T0_MS + 1, &st);
	assert_int_equal(st.slots, 16);
	assert_int_equal(st.live, 16);
	assert_int_equal(st.full, 1);

	/* Still full one window later (the entries still count)... */
	assert_true(lk_limiter_is_limited(l, &stranger, T0_MS + W_MS + 1));
	/* ...free two windows after the last failures: reused in place. */
	assert_false(lk_limiter_is_limited(l, &stranger, T0_MS + 2 * W_MS + 1));
	fail_n(l, &stranger, 1, T0_MS + 2 * W_MS + 1);
	lk_limiter_stats(l, T0_MS + 2 * W_MS + 1, &st);
	assert_int_equal(st.live, 1);
	lk_limiter_free(l);
}

/* Expired slots are reused by new IPs, and an IP that comes back after two
 * windows restarts in its own slot. */
static void test_limiter_reuse_expired(void **state)
{
	struct lk_limiter *l = limiter(8);
	const uint64_t later = T0_MS + 2 * W_MS;
	uint32_t curr = 0, prev = 0;
	uint32_t kept = 0;

	for (uint32_t i = 0; i < 16; i++) {
		struct lk_ip_key ip = ip_v4(i);

		fail_n(l, &ip, 10, T0_MS);
	}
	for (uint32_t i = 100; i < 115; i++) {
		struct lk_ip_key ip = ip_v4(i);

		fail_n(l, &ip, 1, later);
		assert_int_equal(lk__limiter_peek(l, &ip, later, &curr, &prev), 1);
		assert_int_equal(curr, 1);
	}
	/* The one old IP that kept its (stale) slot restarts from zero in it;
	 * the others were overwritten. */
	for (uint32_t i = 0; i < 16; i++) {
		struct lk_ip_key ip = ip_v4(i);

		if (lk__limiter_peek(l, &ip, later, &curr, &prev) == 0)
			continue;
		kept++;
		assert_int_equal(curr, 0);
		assert_int_equal(prev, 0);
		assert_false(lk_limiter_is_limited(l, &ip, later));
		fail_n(l, &ip, 1, later);
		assert_int_equal(lk__limiter_peek(l, &ip, later, &curr, &prev), 1);
		assert_int_equal(curr, 1);
	}
	assert_int_equal(kept, 1);
	lk_limiter_free(l);
}

/* A worker whose cached clock lags the stored period start reads "no time
 * passed": the failure counts, nothing resets. */
static void test_limiter_clock_lag(void **state)
{
	struct lk_limiter *l = limiter(100);
	struct lk_ip_key a = ip_v4(1);
	uint32_t curr = 0, prev = 0;

	fail_n(l, &a, 5, T0_MS);
	fail_n(l, &a, 5, T0_MS - 3);
	assert_true(lk_limiter_is_limited(l, &a, T0_MS - 3));
	assert_true(lk_limiter_is_limited(l, &a, T0_MS));
	assert_int_equal(lk__limiter_peek(l, &a, T0_MS, &curr, &prev), 1);
	assert_int_equal(curr, 10);
	lk_limiter_free(l);
}

/* Multi-threaded */

static _Thread_local uint64_t tl_seed;

/* race_yield is the race hook (debug builds): at one protocol point in
 * four, give the CPU away, so that with 8 threads on 2 cores other threads
 * run inside this one's claim, settle and publish steps. */
static void race_yield(unsigned point)
{
	if ((next_rand(&tl_seed) & 3) == 0)
		sched_yield();
}

struct nonce_mt {
	struct lk_nonce_table *t;
	pthread_barrier_t barrier;
	uint32_t rounds;
	uint32_t per_round;
	bool colliding;		 /* k0 from 3 nearby homes: long shared probe windows */
	_Atomic uint32_t *fresh; /* [rounds * per_round] */
	_Atomic uint32_t n_full;
};

struct worker_arg {
	void *ctx;
	uint32_t id;
};

static void mt_nonce(const struct nonce_mt *m, uint32_t round, uint32_t i, uint8_t out[16])
{
	uint64_t seed = (uint64_t)round << 32 | i;
	uint64_t k0 = next_rand(&seed);

	if (m->colliding)
		k0 = 100 + 10 * (i % 3); /* same hash per home: every compare is a key compare */
	nonce_of(out, k0, (uint64_t)round << 32 | i);
}

/* Each thread inserts every nonce of the round, half of them forwards and
 * half backwards, so the same nonce is often inserted by several threads at
 * once. Round r runs at T0 + r * TTL, so the previous round's entries have
 * all expired and their slots are reclaimed under contention. */
static void *nonce_worker(void *p)
{
	struct worker_arg *a = p;
	struct nonce_mt *m = a->ctx;
	uint32_t n = m->per_round;

	tl_seed = a->id;
	for (uint32_t r = 0; r < m->rounds; r++) {
		pthread_barrier_wait(&m->barrier);
		for (uint32_t j = 0; j < n; j++) {
			uint32_t i = (a->id & 1) ? j : n - 1 - j;
			uint8_t nonce[16];

			mt_nonce(m, r, i, nonce);
			switch (lk_nonce_insert(m->t, nonce, T0_S + (uint64_t)r * TTL_S)) {
			case LK_NONCE_FRESH:
				atomic_fetch_add(&m->fresh[r * n + i], 1);
				break;
			case LK_NONCE_REPLAY:
				break;
			case LK_NONCE_FULL:
				atomic_fetch_add(&m->n_full, 1);
				break;
			}
		}
	}
	return NULL;
}

static void run_nonce_mt(uint32_t capacity, uint32_t rounds, uint32_t per_round, bool colliding)
{
	struct nonce_mt m = {
		.rounds = rounds,
		.per_round = per_round,
		.colliding = colliding,
	};
	struct worker_arg args[N_THREADS];
	pthread_t th[N_THREADS];
	uint32_t bad = 0;

	m.t = lk_nonce_table_new(capacity, TTL_S);
	assert_non_null(m.t);
	if (colliding)
		lk__nonce_table_set_test_hash(m.t);
	m.fresh = calloc((size_t)rounds * per_round, sizeof(*m.fresh));
	assert_non_null(m.fresh);
	assert_int_equal(pthread_barrier_init(&m.barrier, NULL, N_THREADS), 0);
	lk__shtab_race_hook = race_yield;
	for (uint32_t i = 0; i < N_THREADS; i++) {
		args[i] = (struct worker_arg){ .ctx = &m, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, nonce_worker, &args[i]), 0);
	}
	for (uint32_t i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	lk__shtab_race_hook = NULL;
	assert_int_equal(atomic_load(&m.n_full), 0);
	for (uint32_t i = 0; i < rounds * per_round; i++)
		if (atomic_load(&m.fresh[i]) != 1)
			bad++;
	assert_int_equal(bad, 0);
	/* The last round's nonces: exactly one live entry each. */
	for (uint32_t i = 0; i < per_round; i++) {
		uint8_t nonce[16];

		mt_nonce(&m, rounds - 1, i, nonce);
		assert_int_equal(lk__nonce_table_count(m.t, nonce, T0_S + (rounds - 1) * TTL_S), 1);
	}
	pthread_barrier_destroy(&m.barrier);
	free(m.fresh);
	lk_nonce_table_free(m.t);
}

/* Random nonces: every nonce is FRESH for exactly one of 8 threads. */
static void test_nonce_mt_exactly_once(void **state)
{
	run_nonce_mt(1024, 8, 512, false);
}

/* Nonces crowded into three overlapping windows with equal hashes, so
 * claims, kills and withdrawals happen on neighbouring slots. */
static void test_nonce_mt_colliding(void **state)
{
	run_nonce_mt(1024, 60, 30, true);
}

struct lim_mt {
	struct lk_limiter *l;
	pthread_barrier_t barrier;
	uint32_t phases;
	uint32_t n_ips;
	uint32_t per_ip;      /* failures per IP per thread per phase */
	_Atomic uint32_t *ok; /* [phases * n_ips] */
	_Atomic uint32_t n_enospc;
	_Atomic uint32_t n_bad; /* not limited after this thread alone recorded 10 */
};

/* Each thread records per_ip failures for every IP, interleaved, at the
 * phase's time (phases are two windows apart, so every entry of the last
 * phase is stale and gets reclaimed). Within a phase counts only grow, so
 * once a thread has itself recorded 10 failures for an IP, is_limited must
 * say so from then on: the limiter never fails open. */
static void *lim_worker(void *p)
{
	struct worker_arg *a = p;
	struct lim_mt *m = a->ctx;
	uint32_t mine[64];

	LK_ASSERT(m->n_ips <= LK_ARRAY_SIZE(mine));
	tl_seed = a->id;
	for (uint32_t ph = 0; ph < m->phases; ph++) {
		uint64_t now = T0_MS + ph * 2 * W_MS;

		memset(mine, 0, sizeof(mine));
		pthread_barrier_wait(&m->barrier);
		for (uint32_t k = 0; k < m->per_ip; k++) {
			for (uint32_t j = 0; j < m->n_ips; j++) {
				uint32_t i = (j + a->id * 7) % m->n_ips;
				struct lk_ip_key ip = ip_v4(i);

				if (mine[i] >= 10 && !lk_limiter_is_limited(m->l, &ip, now))
					atomic_fetch_add(&m->n_bad, 1);
				if (lk_limiter_fail(m->l, &ip, now) == 0) {
					mine[i]++;
					atomic_fetch_add(&m->ok[ph * m->n_ips + i], 1);
				} else {
					atomic_fetch_add(&m->n_enospc, 1);
				}
			}
		}
		pthread_barrier_wait(&m->barrier); /* the test thread checks */
		pthread_barrier_wait(&m->barrier);
	}
	return NULL;
}

/* lim_check runs on the test thread between phases: every IP with recorded
 * failures has exactly one entry, holding exactly that many. */
static void lim_check(struct lim_mt *m, uint32_t ph, uint32_t *out_entries)
{
	uint64_t now = T0_MS + ph * 2 * W_MS;

	*out_entries = 0;
	for (uint32_t i = 0; i < m->n_ips; i++) {
		struct lk_ip_key ip = ip_v4(i);
		uint32_t want = atomic_load(&m->ok[ph * m->n_ips + i]);
		uint32_t curr = 0, prev = 0;
		uint32_t n = lk__limiter_peek(m->l, &ip, now, &curr, &prev);

		assert_int_equal(n, want > 0 ? 1 : 0);
		if (n == 1) {
			assert_int_equal(curr, LK_MIN(want, (uint32_t)LK_LIMITER_FAILURES_MAX));
			assert_int_equal(prev, 0);
			assert_int_equal(lk_limiter_is_limited(m->l, &ip, now), want >= 10);
		}
		*out_entries += n;
	}
}

static uint32_t run_lim_mt(uint32_t capacity, uint32_t phases, uint32_t n_ips, uint32_t per_ip)
{
	struct lim_mt m = { .phases = phases, .n_ips = n_ips, .per_ip = per_ip };
	struct worker_arg args[N_THREADS];
	pthread_t th[N_THREADS];
	uint32_t enospc;

	m.l = lk_limiter_new(capacity, 10, 60);
	assert_non_null(m.l);
	m.ok = calloc((size_t)phases * n_ips, sizeof(*m.ok));
	assert_non_null(m.ok);
	assert_int_equal(pthread_barrier_init(&m.barrier, NULL, N_THREADS + 1), 0);
	lk__shtab_race_hook = race_yield;
	for (uint32_t i = 0; i < N_THREADS; i++) {
		args[i] = (struct worker_arg){ .ctx = &m, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, lim_worker, &args[i]), 0);
	}
	for (uint32_t ph = 0; ph < phases; ph++) {
		struct lk_shtab_stats st;
		uint32_t entries;

		pthread_barrier_wait(&m.barrier); /* start */
		pthread_barrier_wait(&m.barrier); /* done */
		lim_check(&m, ph, &entries);
		lk_limiter_stats(m.l, T0_MS + ph * 2 * W_MS, &st);
		assert_int_equal(st.live, entries);
		pthread_barrier_wait(&m.barrier);
	}
	for (uint32_t i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	lk__shtab_race_hook = NULL;
	assert_int_equal(atomic_load(&m.n_bad), 0);
	enospc = atomic_load(&m.n_enospc);
	pthread_barrier_destroy(&m.barrier);
	free(m.ok);
	lk_limiter_free(m.l);
	return enospc;
}

/* 8 threads on 4 IPs, 120 failures per IP per phase: every failure that
 * returned 0 is counted, in one entry per IP, and no thread ever sees an IP
 * unlimited after recording 10 failures for it itself. Some calls may be
 * refused (-ENOSPC, fail closed): a thread that finds an IP's first failure
 * still settling waits within its retry budget, and the race hook (or a
 * loaded machine) can keep the settling thread descheduled for longer. */
static void test_limiter_mt_hot(void **state)
{
	print_message("refused: %u of %u\n", run_lim_mt(100, 3, 4, 15), 3 * 4 * 15 * N_THREADS);
}

/* 8 threads, 48 IPs, 32 slots: first failures race for slots, reclaim the
 * previous phase's stale entries, and run out (-ENOSPC); whatever was
 * recorded is in exactly one entry per IP. */
static void test_limiter_mt_churn(void **state)
{
	assert_true(run_lim_mt(16, 20, 48, 2) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_nonce_fresh_replay),
		cmocka_unit_test(test_nonce_expiry),
		cmocka_unit_test(test_nonce_full_and_reuse),
		cmocka_unit_test(test_nonce_probe_bound),
		cmocka_unit_test(test_nonce_colliding_hashes),
		cmocka_unit_test(test_limiter_ten_failures),
		cmocka_unit_test(test_limiter_window_passes),
		cmocka_unit_test(test_limiter_sliding_estimate),
		cmocka_unit_test(test_limiter_full_table),
		cmocka_unit_test(test_limiter_reuse_expired),
		cmocka_unit_test(test_limiter_clock_lag),
		cmocka_unit_test(test_nonce_mt_exactly_once),
		cmocka_unit_test(test_nonce_mt_colliding),
		cmocka_unit_test(test_limiter_mt_hot),
		cmocka_unit_test(test_limiter_mt_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
