/* bench/micro_argon2.c - the Argon2id verifier pool (auth/verifier.h):
 * verifications per second with 1 and 2 verifier threads, and the cache.
 *
 * TOKEN_HASH's cost per derivation bounds how many token-authenticated
 * requests a host can admit before the cache warms, and how much CPU a
 * client guessing tokens can burn. The token is hashed with the defaults of
 * `lookout hash-token` (m=19456 KiB, t=2, p=1). One submitting worker keeps
 * the pool full (max_inflight = 2 per verifier thread) and collects
 * verdicts the way a worker does: poll on lk_verifier_eventfd, read it,
 * lk_verifier_drain.
 *
 * The submitted token is a wrong one: after the first success the right
 * token answers from the cache, while a wrong token always runs the full
 * derivation (verifier.h), which costs the same as a right one. A last
 * measurement submits the right token over and over after one derivation
 * and reports the rate of that path and its cache-hit rate. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/argon2.h"
#include "auth/verifier.h"
#include "bench/micro.h"
#include "core/dbg.h"
#include "core/timer.h"

#define INFLIGHT_PER_THREAD 2
#define DRAIN_MAX 16
#define POLL_MS 60000

static const char usage[] =
	"Measures the Argon2id verifier pool (auth/verifier.h) with a token hashed\n"
	"like `lookout hash-token` (m=19456 KiB, t=2, p=1): full derivations per\n"
	"second with 1 and 2 verifier threads (a wrong token, so the cache never\n"
	"answers), then the repeated right token's rate and cache-hit rate.\n"
	"-n bounds verifications per measurement; default 1.5 s each.";

static const char token[] = "lk-bench-7f3c9a0e5d2b4c6a8e1f3b5d7c9a0e2f";
static const char wrong[] = "lk-bench-7f3c9a0e5d2b4c6a8e1f3b5d7c9a0e2X";

static void die(const char *what)
{
	fprintf(stderr, "micro_argon2: %s\n", what);
	exit(1);
}

static uint64_t now_s(void)
{
	return lk_time_ms() / 1000;
}

/* wait_verdicts blocks until the worker's eventfd fires and drains it;
 * returns how many verdicts arrived and counts those that accepted. */
static size_t wait_verdicts(struct lk_verifier *v, uint64_t *n_ok)
{
	struct pollfd p = { .fd = lk_verifier_eventfd(v, 0), .events = POLLIN };
	struct lk_verify_result res[DRAIN_MAX];
	uint64_t cnt;
	size_t n, total = 0;
	int rc;

	do {
		rc = poll(&p, 1, POLL_MS);
	} while (rc == -1 && errno == EINTR);
	if (rc != 1)
		die("no verdict within a minute");
	if (read(p.fd, &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
		die("eventfd read");
	while ((n = lk_verifier_drain(v, 0, res, DRAIN_MAX)) > 0) {
		for (size_t i = 0; i < n; i++)
			*n_ok += res[i].ok;
		total += n;
	}
	return total;
}

static void run_derivations(const struct lk_phc *phc, unsigned n_threads,
			    const struct lk_micro_bound *b)
{
	unsigned max_inflight = INFLIGHT_PER_THREAD * n_threads;
	char err[256], name[64], extra[96];
	uint64_t submitted = 0, done = 0, n_ok = 0, busy = 0, t0;
	struct lk_verifier *v = lk_verifier_new(phc, n_threads, max_inflight, 1, err, sizeof(err));
	struct lk_verifier_stats st;

	if (v == NULL)
		die(err);
	t0 = lk_micro_now_ns();
	for (;;) {
		bool stop = lk_micro_done(b, t0, submitted);

		while (!stop && submitted - done < max_inflight) {
			enum lk_verify_status s = lk_verifier_submit(v, 0, wrong, sizeof(wrong) - 1,
								     submitted, now_s());
			if (s == LK_VERIFY_BUSY) {
				busy++;
				break;
			}
			if (s != LK_VERIFY_PENDING)
				die("a wrong token was not queued");
			submitted++;
			stop = lk_micro_done(b, t0, submitted);
		}
		if (done == submitted)
			break;
		done += wait_verdicts(v, &n_ok);
	}
	lk_verifier_stats(v, &st);
	if (n_ok != 0 || st.derivations != done)
		die("verdicts do not add up");
	snprintf(name, sizeof(name), "argon2_verify_t%u", n_threads);
	snprintf(extra, sizeof(extra), "verifier_threads=%u, max_inflight=%u, busy=%" PRIu64,
		 n_threads, max_inflight, busy);
	lk_micro_report(name, done, lk_micro_now_ns() - t0, extra);
	lk_verifier_free(v);
}

static void run_cache(const struct lk_phc *phc, const struct lk_micro_bound *b)
{
	char err[256], extra[96];
	uint64_t n = 0, hits = 0, n_ok = 0, t0;
	struct lk_verifier *v = lk_verifier_new(phc, 1, 1, 1, err, sizeof(err));
	struct lk_verifier_stats st;

	if (v == NULL)
		die(err);
	/* The first presentation derives and fills the cache (untimed). */
	if (lk_verifier_submit(v, 0, token, sizeof(token) - 1, 0, now_s()) != LK_VERIFY_PENDING)
		die("the right token was not queued");
	while (wait_verdicts(v, &n_ok) == 0)
		;
	if (n_ok != 1)
		die("the right token was refused");
	t0 = lk_micro_now_ns();
	do {
		enum lk_verify_status s =
			lk_verifier_submit(v, 0, token, sizeof(token) - 1, n + 1, now_s());

		n++;
		if (s == LK_VERIFY_OK) {
			hits++;
		} else if (s == LK_VERIFY_PENDING) {
			while (wait_verdicts(v, &n_ok) == 0)
				;
		} else {
			die("the right token was refused");
		}
	} while (!lk_micro_done(b, t0, n));
	uint64_t ns = lk_micro_now_ns() - t0;
	lk_verifier_stats(v, &st);
	snprintf(extra, sizeof(extra), "cache_hit=%.2f%%, derivations=%" PRIu64,
		 100.0 * (double)hits / (double)n, st.derivations - 1);
	lk_micro_report("argon2_verify_cached", n, ns, extra);
	lk_verifier_free(v);
}

int main(int argc, char **argv)
{
	struct lk_micro_bound b = lk_micro_args(argc, argv, usage, 1.5);
	char phc_str[LK_PHC_STR_MAX], err[256];
	struct lk_phc phc;

	if (lk_argon2_hash_token(token, sizeof(token) - 1, phc_str, sizeof(phc_str)) != 0)
		die("hashing the token");
	if (lk_phc_parse(phc_str, &phc, err, sizeof(err)) != 0)
		die(err);
	run_derivations(&phc, 1, &b);
	run_derivations(&phc, 2, &b);
	run_cache(&phc, &b);
	return 0;
}
