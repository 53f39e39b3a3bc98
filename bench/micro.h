/* bench/micro.h - the little every micro benchmark shares: the command line
 * (-n, -seconds, --help), a monotonic clock, the run bound and the one
 * grep-able result line.
 *
 * Every benchmark prints each measurement as exactly one line
 *
 *	bench: <name> ops/s=<int> ns/op=<int> (n=<ops>[, <extra>])
 *
 * so bench/run-micro and CI can grep "^bench: " and compare runs without
 * parsing prose. Nothing here is part of the agent. */
#ifndef LK_BENCH_MICRO_H
#define LK_BENCH_MICRO_H

#include <stdbool.h>
#include <stdint.h>

/* struct lk_micro_bound is how long one measurement runs: at most n_max
 * operations and at most ns_max nanoseconds, whichever comes first
 * (UINT64_MAX: unbounded). */
struct lk_micro_bound {
	uint64_t n_max;
	uint64_t ns_max;
};

/* lk_micro_args parses argv: `-n N` bounds each measurement to N operations,
 * `-seconds S` (decimal, may be fractional) to S seconds; given only one,
 * the other is unbounded; given neither, each measurement runs
 * default_seconds. `-h`/`--help` prints usage (borrowed: what the benchmark
 * measures) and exits 0; anything else prints it to stderr and exits 2. */
struct lk_micro_bound lk_micro_args(int argc, char **argv, const char *usage,
				    double default_seconds);

/* lk_micro_now_ns returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t lk_micro_now_ns(void);

/* lk_micro_done tells whether a measurement that started at t0_ns and has
 * done n operations has reached bound b. It reads the clock, so loops of
 * cheap operations call it once per batch. */
bool lk_micro_done(const struct lk_micro_bound *b, uint64_t t0_ns, uint64_t n);

/* lk_micro_report prints the result line for n operations in ns
 * nanoseconds; extra (may be NULL) is appended inside the parentheses.
 * Returns ops/s (0 when nothing ran). */
double lk_micro_report(const char *name, uint64_t n, uint64_t ns, const char *extra);

/* lk_micro_rng is a splitmix64 step over *state: a fast, per-thread source
 * of distinct keys (not a CSPRNG; libc's rand() is banned anyway). */
uint64_t lk_micro_rng(uint64_t *state);

#endif /* LK_BENCH_MICRO_H */
