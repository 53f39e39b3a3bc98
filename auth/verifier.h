/* auth/verifier.h - Argon2id token verification off the ring threads.
 *
 * TOKEN_HASH costs tens of milliseconds of CPU per derivation, which no ring
 * thread may spend. Workers submit the presented token; a small pool of
 * verifier threads runs the derivation; the verdict comes back to the
 * submitting worker through its eventfd, which the worker keeps a read on in
 * its ring.
 *
 * Bounds: at most `max_inflight` derivations are queued or running
 * agent-wide (a submit beyond that answers LK_VERIFY_BUSY: 429, not counted
 * as a failure); tokens longer than LK_VERIFY_TOKEN_MAX are refused without
 * work.
 *
 * Cache: after a successful derivation, SHA-256 of that token is cached for
 * LK_VERIFY_CACHE_TTL_S. A presented token whose digest matches the cache
 * (constant-time compare) is accepted at once. Anything else always runs the
 * full derivation, so a wrong token costs the same whether or not a right one
 * was seen before (the reference answered wrong tokens from the cache).
 *
 * Concurrency contract: job slots are the only shared state. A slot moves
 * FREE -> FILLING (worker, CAS) -> QUEUED (worker, release) -> RUNNING
 * (verifier, CAS) -> DONE (verifier, release) -> FREE (the owning worker,
 * release). Each transition has exactly one writer, so the payload written
 * before a release store is visible after the matching acquire load. The
 * cache is four atomic words plus an expiry, written only by verifier
 * threads under a sequence counter (odd while writing); readers retry a torn
 * read a bounded number of times, then fall back to a derivation. No locks;
 * verifier threads sleep on a semaphore. */
#ifndef LK_AUTH_VERIFIER_H
#define LK_AUTH_VERIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/argon2.h"

#define LK_VERIFY_TOKEN_MAX 256
#define LK_VERIFY_CACHE_TTL_S 300

struct lk_verifier;

enum lk_verify_status {
	LK_VERIFY_OK,      /* cache hit: accepted now */
	LK_VERIFY_PENDING, /* queued: the verdict arrives through the worker's eventfd */
	LK_VERIFY_BUSY,    /* max_inflight derivations already queued or running */
	LK_VERIFY_DENY,    /* refused without work (token too long) */
};

struct lk_verify_result {
	uint64_t cookie; /* as submitted */
	bool ok;
};

/* lk_verifier_new starts n_threads verifier threads for hash (copied), with
 * at most max_inflight derivations at once, for n_workers submitters. Returns
 * NULL with a message in err. */
struct lk_verifier *lk_verifier_new(const struct lk_phc *hash, unsigned n_threads,
				    unsigned max_inflight, unsigned n_workers, char *err,
				    size_t err_len);
/* lk_verifier_free stops and joins the threads (finishing running
 * derivations) and frees everything; NULL is fine. */
void lk_verifier_free(struct lk_verifier *v);
/* lk_verifier_eventfd returns worker's eventfd: readable (8-byte counter)
 * when verdicts for it are ready. */
int lk_verifier_eventfd(const struct lk_verifier *v, unsigned worker);
/* lk_verifier_set_notify makes worker's verdicts signal fd (an eventfd the
 * worker already reads, borrowed: never closed here) instead of the
 * verifier's own eventfd. Call before any submit for that worker. */
void lk_verifier_set_notify(struct lk_verifier *v, unsigned worker, int fd);
/* lk_verifier_submit checks the presented token (borrowed, copied into the
 * job and wiped after use) for worker; cookie identifies the request; now_s
 * is CLOCK_MONOTONIC seconds (lk_time_ms() / 1000), the cache's clock. Never
 * blocks. */
enum lk_verify_status lk_verifier_submit(struct lk_verifier *v, unsigned worker, const char *tok,
					 size_t len, uint64_t cookie, uint64_t now_s);
/* lk_verifier_drain moves up to max ready verdicts of worker into out and
 * returns how many. Call after the eventfd fired (and read it). */
size_t lk_verifier_drain(struct lk_verifier *v, unsigned worker, struct lk_verify_result *out,
			 size_t max);

struct lk_verifier_stats {
	uint64_t derivations;
	uint64_t cache_hits;
	uint64_t busy;
};
void lk_verifier_stats(const struct lk_verifier *v, struct lk_verifier_stats *out);

#endif /* LK_AUTH_VERIFIER_H */
