/* bench/micro.c - shared plumbing of the micro benchmarks (see micro.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/micro.h"

static void usage_exit(const char *argv0, const char *usage, int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f,
		"Usage: %s [-n N] [-seconds S]\n\n%s\n\n"
		"  -n N        at most N operations per measurement\n"
		"  -seconds S  at most S seconds per measurement\n"
		"Given one bound the other is lifted; given none, the default time applies.\n"
		"Each measurement prints one line: bench: <name> ops/s=... ns/op=... (n=...)\n",
		argv0, usage);
	exit(status);
}

struct lk_micro_bound lk_micro_args(int argc, char **argv, const char *usage,
				    double default_seconds)
{
	struct lk_micro_bound b = { .n_max = UINT64_MAX, .ns_max = UINT64_MAX };
	bool have_n = false, have_s = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *end;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-help") == 0)
			usage_exit(argv[0], usage, 0);
		if (i + 1 >= argc)
			usage_exit(argv[0], usage, 2);
		errno = 0;
		if (strcmp(a, "-n") == 0 || strcmp(a, "--n") == 0) {
			unsigned long long n = strtoull(argv[++i], &end, 10);

			if (errno != 0 || *end != '\0' || n == 0 || argv[i][0] == '-')
				usage_exit(argv[0], usage, 2);
			b.n_max = n;
			have_n = true;
		} else if (strcmp(a, "-seconds") == 0 || strcmp(a, "--seconds") == 0) {
			double s = strtod(argv[++i], &end);

			if (errno != 0 || *end != '\0' || !(s > 0) || s > 86400)
				usage_exit(argv[0], usage, 2);
			b.ns_max = (uint64_t)(s * 1e9);
			have_s = true;
		} else {
			usage_exit(argv[0], usage, 2);
		}
	}
	if (!have_n && !have_s)
		b.ns_max = (uint64_t)(default_seconds * 1e9);
	return b;
}

uint64_t lk_micro_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool lk_micro_done(const struct lk_micro_bound *b, uint64_t t0_ns, uint64_t n)
{
	if (n >= b->n_max)
		return true;
	return b->ns_max != UINT64_MAX && lk_micro_now_ns() - t0_ns >= b->ns_max;
}

double lk_micro_report(const char *name, uint64_t n, uint64_t ns, const char *extra)
{
	double ops = ns > 0 ? (double)n * 1e9 / (double)ns : 0;
	double ns_op = n > 0 ? (double)ns / (double)n : 0;

	printf("bench: %s ops/s=%.0f ns/op=%.0f (n=%" PRIu64 "%s%s)\n", name, ops, ns_op, n,
	       extra != NULL ? ", " : "", extra != NULL ? extra : "");
	fflush(stdout);
	return ops;
}

uint64_t lk_micro_rng(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
