/* bench/micro_shtab.c - the nonce table and the failed-auth limiter under
 * contention: 1, 2 and 4 threads hammering one shared table.
 *
 * They are the only mutable state every worker shares (auth/shtab.h), so
 * their scaling with the worker count is what a lock-free design has to
 * show. Each thread does, back to back:
 *  - nonce: lk_nonce_insert of fresh random 16-byte nonces (the per-request
 *    cost of a signed request once its signature verified);
 *  - limiter: lk_limiter_is_limited then lk_limiter_fail on an IP drawn from
 *    a set of 1024 shared by all threads (a failing client: every operation
 *    writes a slot other threads also write).
 * Time is injected, not read. The nonce table has the production default
 * size (NONCE_LRU_SIZE unset: 1000/s * a 120 s TTL = 120000 nonces, 262144
 * slots, 8 MiB) and the clock advances one second per 32768 inserts over all
 * threads with a 2 s TTL, so about 65-98k entries are live: a table at the
 * rate it was sized for. It is warmed first (4 inserts per slot, untimed)
 * because a fresh table ends probes at never-used slots and is faster than
 * one that has run for a while. The limiter has the production shape (10000
 * IPs, 10 failures per 60 s) and its clock advances 1 ms per 16 operations
 * over all threads, so windows roll and counters keep changing; the 1024 IPs are
 * mostly limited, as under a credential-stuffing client. ops/s is the total
 * over all threads and ns/op the wall time per operation of that total.
 * threads. With fewer cores than threads the extra threads time-share. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/shtab.h"
#include "bench/micro.h"
#include "core/dbg.h"

#define BATCH 256		/* operations between clock reads */
#define THREADS_MAX 4
#define NONCE_CAPACITY 120000 /* proxy/server.c default: 1000/s * 2 * MAX_CLOCK_SKEW 60 s */
#define NONCE_SLOTS 262144    /* what lk_nonce_table_new makes of it */
#define NONCE_TTL_S 2
#define NONCE_PER_S 32768     /* inserts per injected second, all threads together */
#define NONCE_WARM (4ull * NONCE_SLOTS)
#define T0_S 1749600000ull
#define LIM_IPS 1024      /* the shared set of client addresses */
#define LIM_CAPACITY 10000 /* proxy/server.h LK_AUTH_LIMITER_IPS */
#define LIM_FAILURES 10    /* LK_AUTH_FAILURES_MAX */
#define LIM_WINDOW_S 60    /* LK_AUTH_FAILURE_WINDOW_S */
#define LIM_OPS_PER_MS 16
#define T0_MS 5000000000ull

static const char usage[] =
	"Measures the shared tables of auth/shtab.h under contention, with 1, 2 and 4\n"
	"threads: lk_nonce_insert of fresh random nonces, and lk_limiter_is_limited +\n"
	"lk_limiter_fail on 1024 shared IPs. -n is the total per measurement, split\n"
	"over the threads; default 1 s each.";

enum kind { K_NONCE, K_LIMITER };

/* operations begun by all threads of the current measurement: the clock */
static _Atomic uint64_t shared_ops;

struct job {
	pthread_t tid;
	enum kind kind;
	unsigned idx;
	uint64_t n_max;
	const struct lk_micro_bound *b;
	pthread_barrier_t *start;
	struct lk_nonce_table *nonces;
	struct lk_limiter *lim;
	const struct lk_ip_key *ips;
	uint64_t n;
	uint64_t odd; /* nonce: FULL; limiter: fail returned -ENOSPC */
	uint64_t replay;
	uint64_t limited;
};

static void *thread_main(void *arg)
{
	struct job *j = arg;
	uint64_t rng = 0x5eed0000ull + j->idx * 0x1000000ull, n = 0, t0;

	pthread_barrier_wait(j->start);
	t0 = lk_micro_now_ns();
	do {
		uint64_t k = LK_MIN((uint64_t)BATCH, j->n_max - n);
		/* One clock for all threads, ticked per batch: per-thread
		 * clocks drift apart and a lagging thread then sees the others'
		 * nonces as live, overfilling the table. */
		uint64_t done = atomic_fetch_add_explicit(&shared_ops, k, memory_order_relaxed);
		uint64_t now_s = T0_S + (NONCE_WARM + done) / NONCE_PER_S;
		uint64_t now_ms = T0_MS + done / LIM_OPS_PER_MS;

		for (uint64_t i = 0; i < k; i++) {
			if (j->kind == K_NONCE) {
				uint64_t w[2] = { lk_micro_rng(&rng), lk_micro_rng(&rng) };
				uint8_t nonce[16];

				memcpy(nonce, w, sizeof(nonce));
				enum lk_nonce_verdict v = lk_nonce_insert(j->nonces, nonce, now_s);

				j->odd += v == LK_NONCE_FULL;
				j->replay += v == LK_NONCE_REPLAY;
			} else {
				const struct lk_ip_key *ip = &j->ips[lk_micro_rng(&rng) % LIM_IPS];

				if (lk_limiter_is_limited(j->lim, ip, now_ms))
					j->limited++;
				if (lk_limiter_fail(j->lim, ip, now_ms) != 0)
					j->odd++;
			}
		}
		n += k;
	} while (!lk_micro_done(j->b, t0, n) && n < j->n_max);
	j->n = n;
	return NULL;
}

/* warm fills t (may be NULL) to its steady state, untimed: every slot used
 * at least once, as in an agent that has been up a while. */
static void warm(struct lk_nonce_table *t)
{
	uint64_t rng = 0xa11ce;

	for (uint64_t i = 0; t != NULL && i < NONCE_WARM; i++) {
		uint64_t w[2] = { lk_micro_rng(&rng), lk_micro_rng(&rng) };
		uint8_t nonce[16];

		memcpy(nonce, w, sizeof(nonce));
		if (lk_nonce_insert(t, nonce, T0_S + i / NONCE_PER_S) != LK_NONCE_FRESH)
			abort();
	}
}

static void run(enum kind kind, unsigned n_threads, const struct lk_micro_bound *b,
		const struct lk_ip_key *ips)
{
	struct job jobs[THREADS_MAX];
	pthread_barrier_t start;
	uint64_t total = 0, odd = 0, replay = 0, limited = 0, t0, ns;
	char name[64], extra[128];

	struct lk_nonce_table *nonces = NULL;
	struct lk_limiter *lim = NULL;
	if (kind == K_NONCE)
		nonces = lk_nonce_table_new(NONCE_CAPACITY, NONCE_TTL_S);
	else
		lim = lk_limiter_new(LIM_CAPACITY, LIM_FAILURES, LIM_WINDOW_S);
	if (nonces == NULL && lim == NULL) {
		fprintf(stderr, "micro_shtab: cannot allocate the table\n");
		exit(1);
	}
	warm(nonces);
	atomic_store(&shared_ops, 0);
	if (pthread_barrier_init(&start, NULL, n_threads + 1) != 0)
		abort();
	for (unsigned i = 0; i < n_threads; i++) {
		jobs[i] = (struct job){
			.kind = kind,
			.idx = i,
			.n_max = b->n_max == UINT64_MAX ? UINT64_MAX
							: LK_MAX(1, b->n_max / n_threads),
			.b = b,
			.start = &start,
			.nonces = nonces,
			.lim = lim,
			.ips = ips,
		};
		if (pthread_create(&jobs[i].tid, NULL, thread_main, &jobs[i]) != 0)
			abort();
	}
	pthread_barrier_wait(&start);
	t0 = lk_micro_now_ns();
	for (unsigned i = 0; i < n_threads; i++) {
		pthread_join(jobs[i].tid, NULL);
		total += jobs[i].n;
		odd += jobs[i].odd;
		replay += jobs[i].replay;
		limited += jobs[i].limited;
	}
	ns = lk_micro_now_ns() - t0;
	pthread_barrier_destroy(&start);

	if (kind == K_NONCE) {
		snprintf(name, sizeof(name), "shtab_nonce_insert_t%u", n_threads);
		struct lk_shtab_stats st;

		lk_nonce_table_stats(nonces, T0_S + (NONCE_WARM + total) / NONCE_PER_S, &st);
		snprintf(extra, sizeof(extra), "threads=%u, slots=%u, live=%u, full=%llu, replay=%llu",
			 n_threads, st.slots, st.live, (unsigned long long)odd,
			 (unsigned long long)replay);
	} else {
		snprintf(name, sizeof(name), "shtab_limiter_check_fail_t%u", n_threads);
		snprintf(extra, sizeof(extra), "threads=%u, limited=%.0f%%, enospc=%llu",
			 n_threads, total > 0 ? 100.0 * (double)limited / (double)total : 0.0,
			 (unsigned long long)odd);
	}
	lk_micro_report(name, total, ns, extra);
	lk_nonce_table_free(nonces);
	lk_limiter_free(lim);
}

int main(int argc, char **argv)
{
	struct lk_micro_bound b = lk_micro_args(argc, argv, usage, 1.0);
	static const unsigned threads[] = { 1, 2, 4 };
	static struct lk_ip_key ips[LIM_IPS];

	/* ::ffff:10.0.x.y, as the proxy keys IPv4 clients */
	for (unsigned i = 0; i < LIM_IPS; i++) {
		ips[i].b[10] = 0xff;
		ips[i].b[11] = 0xff;
		ips[i].b[12] = 10;
		ips[i].b[14] = (uint8_t)(i >> 8);
		ips[i].b[15] = (uint8_t)i;
	}
	for (size_t i = 0; i < LK_ARRAY_SIZE(threads); i++)
		run(K_NONCE, threads[i], &b, ips);
	for (size_t i = 0; i < LK_ARRAY_SIZE(threads); i++)
		run(K_LIMITER, threads[i], &b, ips);
	return 0;
}
