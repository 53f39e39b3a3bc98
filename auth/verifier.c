/* auth/verifier.c - Argon2id verifier pool (see verifier.h for the
 * concurrency contract). */
#include <sys/eventfd.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/verifier.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/err.h"

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

#define CACHE_READ_TRIES 4

struct slot {
	_Atomic uint32_t state;
	/* Atomic (relaxed) because drain on another worker may read it while
	 * the slot is being recycled; a stale value only fails the match. */
	_Atomic uint32_t worker;
	uint64_t cookie;
	bool ok;         /* written in RUNNING, read after DONE */
	uint32_t len;
	char tok[LK_VERIFY_TOKEN_MAX];
};

struct lk_verifier {
	struct lk_phc hash;
	unsigned n_threads;
	unsigned n_slots;
	unsigned n_workers;
	pthread_t *threads;
	unsigned n_started;
	int *efds;
	bool *borrowed; /* efds[i] belongs to the worker (lk_verifier_set_notify) */
	struct slot *slots;
	sem_t sem;
	atomic_bool stop;
	/* success cache: sequence counter (odd while written) + digest + expiry */
	_Atomic uint64_t cache_seq;
	_Atomic uint64_t cache_dig[LK_SHA256_LEN / 8];
	_Atomic uint64_t cache_until_s;
	_Atomic uint64_t derivations;
	_Atomic uint64_t cache_hits;
	_Atomic uint64_t busy;
};

static uint64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* cache_read copies the cached digest if it is valid at now_s. A reader that
 * keeps meeting a writer gives up: the caller then derives, which is always
 * correct, only slower. */
static bool cache_read(struct lk_verifier *v, uint64_t out[LK_SHA256_LEN / 8], uint64_t now_s)
{
	for (unsigned tries = 0; tries < CACHE_READ_TRIES; tries++) {
		uint64_t s1 = atomic_load_explicit(&v->cache_seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		for (unsigned i = 0; i < LK_SHA256_LEN / 8; i++)
			out[i] = atomic_load_explicit(&v->cache_dig[i], memory_order_relaxed);
		uint64_t until = atomic_load_explicit(&v->cache_until_s, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&v->cache_seq, memory_order_relaxed) == s1)
			return until > now_s;
	}
	return false;
}

/* cache_write publishes digest; a writer that finds another one mid-write
 * skips (both cache the one token that verifies). */
static void cache_write(struct lk_verifier *v, const uint8_t digest[LK_SHA256_LEN])
{
	uint64_t s = atomic_load_explicit(&v->cache_seq, memory_order_relaxed);
	uint64_t words[LK_SHA256_LEN / 8];

	if ((s & 1) || !atomic_compare_exchange_strong_explicit(&v->cache_seq, &s, s + 1,
								memory_order_acquire,
								memory_order_relaxed))
		return;
	atomic_thread_fence(memory_order_release);
	memcpy(words, digest, sizeof(words));
	for (unsigned i = 0; i < LK_SHA256_LEN / 8; i++)
		atomic_store_explicit(&v->cache_dig[i], words[i], memory_order_relaxed);
	atomic_store_explicit(&v->cache_until_s, mono_s() + LK_VERIFY_CACHE_TTL_S,
			      memory_order_relaxed);
	atomic_store_explicit(&v->cache_seq, s + 2, memory_order_release);
	lk_crypto_cleanse(words, sizeof(words));
}

static bool cache_hit(struct lk_verifier *v, const char *tok, size_t len, uint64_t now_s)
{
	uint64_t cached[LK_SHA256_LEN / 8];
	uint8_t d[LK_SHA256_LEN];
	bool hit = false;

	if (cache_read(v, cached, now_s)) {
		lk_crypto_sha256(tok, len, d);
		hit = lk_crypto_ct_eq(d, cached, sizeof(d));
		lk_crypto_cleanse(d, sizeof(d));
	}
	lk_crypto_cleanse(cached, sizeof(cached));
	return hit;
}

static void run_job(struct lk_verifier *v, struct slot *s)
{
	uint64_t one = 1;
	uint8_t d[LK_SHA256_LEN];

	atomic_fetch_add_explicit(&v->derivations, 1, memory_order_relaxed);
	s->ok = lk_argon2_verify(&v->hash, s->tok, s->len) == 0;
	if (s->ok) {
		lk_crypto_sha256(s->tok, s->len, d);
		cache_write(v, d);
		lk_crypto_cleanse(d, sizeof(d));
	}
	lk_crypto_cleanse(s->tok, sizeof(s->tok));
	unsigned w = atomic_load_explicit(&s->worker, memory_order_relaxed);
	atomic_store_explicit(&s->state, SLOT_DONE, memory_order_release);
	/* A failed write (counter overflow, impossible in practice) only delays
	 * the verdict until the worker's next wake-up. */
	(void)!write(v->efds[w], &one, sizeof(one));
}

static void *verifier_main(void *arg)
{
	struct lk_verifier *v = arg;

	for (;;) {
		if (sem_wait(&v->sem) != 0)
			continue; /* EINTR */
		if (atomic_load_explicit(&v->stop, memory_order_acquire))
			break;
		for (unsigned i = 0; i < v->n_slots; i++) {
			uint32_t want = SLOT_QUEUED;
			if (atomic_compare_exchange_strong_explicit(&v->slots[i].state, &want,
								    SLOT_RUNNING, memory_order_acquire,
								    memory_order_relaxed)) {
				run_job(v, &v->slots[i]);
				break;
			}
		}
	}
	return NULL;
}

struct lk_verifier *lk_verifier_new(const struct lk_phc *hash, unsigned n_threads,
				    unsigned max_inflight, unsigned n_workers, char *err,
				    size_t err_len)
{
	LK_ASSERT(n_threads > 0 && max_inflight > 0 && n_workers > 0);
	struct lk_verifier *v = calloc(1, sizeof(*v));

	if (v == NULL)
		goto out_oom;
	v->hash = *hash;
	v->n_threads = n_threads;
	v->n_slots = max_inflight;
	v->n_workers = n_workers;
	v->slots = calloc(max_inflight, sizeof(*v->slots));
	v->efds = calloc(n_workers, sizeof(int));
	v->borrowed = calloc(n_workers, sizeof(bool));
	v->threads = calloc(n_threads, sizeof(pthread_t));
	if (v->slots == NULL || v->efds == NULL || v->borrowed == NULL || v->threads == NULL || sem_init(&v->sem, 0, 0) != 0)
		goto out_free;
	for (unsigned i = 0; i < n_workers; i++)
		v->efds[i] = -1;
	for (unsigned i = 0; i < n_workers; i++) {
		v->efds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->efds[i] < 0) {
			snprintf(err, err_len, "TOKEN_HASH: verifier eventfd: %s", strerror(errno));
			goto out_free;
		}
	}
	for (; v->n_started < n_threads; v->n_started++) {
		int rc = pthread_create(&v->threads[v->n_started], NULL, verifier_main, v);
		if (rc != 0) {
			snprintf(err, err_len, "TOKEN_HASH: cannot start verifier thread: %s",
				 strerror(rc));
			goto out_free;
		}
	}
	return v;

out_free:
	lk_verifier_free(v);
	return NULL;
out_oom:
	snprintf(err, err_len, "TOKEN_HASH: out of memory");
	return NULL;
}

void lk_verifier_free(struct lk_verifier *v)
{
	if (v == NULL)
		return;
	atomic_store_explicit(&v->stop, true, memory_order_release);
	for (unsigned i = 0; i < v->n_started; i++)
		sem_post(&v->sem);
	for (unsigned i = 0; i < v->n_started; i++)
		pthread_join(v->threads[i], NULL);
	for (unsigned i = 0; v->efds != NULL && i < v->n_workers; i++)
		if (v->efds[i] >= 0 && !v->borrowed[i])
			close(v->efds[i]);
	if (v->slots != NULL) {
		lk_crypto_cleanse(v->slots, v->n_slots * sizeof(*v->slots));
		sem_destroy(&v->sem);
	}
	lk_crypto_cleanse(&v->hash, sizeof(v->hash));
	free(v->slots);
	free(v->efds);
	free(v->borrowed);
	free(v->threads);
	free(v);
}

int lk_verifier_eventfd(const struct lk_verifier *v, unsigned worker)
{
	LK_ASSERT(worker < v->n_workers);
	return v->efds[worker];
}

enum lk_verify_status lk_verifier_submit(struct lk_verifier *v, unsigned worker, const char *tok,
					 size_t len, uint64_t cookie, uint64_t now_s)
{
	LK_ASSERT(worker < v->n_workers);
	if (len > LK_VERIFY_TOKEN_MAX)
		return LK_VERIFY_DENY;
	if (cache_hit(v, tok, len, now_s)) {
		atomic_fetch_add_explicit(&v->cache_hits, 1, memory_order_relaxed);
		return LK_VERIFY_OK;
	}
	for (unsigned i = 0; i < v->n_slots; i++) {
		struct slot *s = &v->slots[i];
		uint32_t want = SLOT_FREE;

		if (!atomic_compare_exchange_strong_explicit(&s->state, &want, SLOT_FILLING,
							     memory_order_acquire, memory_order_relaxed))
			continue;
		atomic_store_explicit(&s->worker, worker, memory_order_relaxed);
		s->cookie = cookie;
		s->len = (uint32_t)len;
		memcpy(s->tok, tok, len);
		atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_release);
		sem_post(&v->sem);
		return LK_VERIFY_PENDING;
	}
	atomic_fetch_add_explicit(&v->busy, 1, memory_order_relaxed);
	return LK_VERIFY_BUSY;
}

size_t lk_verifier_drain(struct lk_verifier *v, unsigned worker, struct lk_verify_result *out,
			 size_t max)
{
	size_t n = 0;

	for (unsigned i = 0; i < v->n_slots && n < max; i++) {
		struct slot *s = &v->slots[i];

		if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_DONE ||
		    atomic_load_explicit(&s->worker, memory_order_relaxed) != worker)
			continue;
		out[n++] = (struct lk_verify_result){ .cookie = s->cookie, .ok = s->ok };
		atomic_store_explicit(&s->state, SLOT_FREE, memory_order_release);
	}
	return n;
}

void lk_verifier_stats(const struct lk_verifier *v, struct lk_verifier_stats *out)
{
	struct lk_verifier *m = (struct lk_verifier *)v;

	out->derivations = atomic_load_explicit(&m->derivations, memory_order_relaxed);
	out->cache_hits = atomic_load_explicit(&m->cache_hits, memory_order_relaxed);
	out->busy = atomic_load_explicit(&m->busy, memory_order_relaxed);
}

void lk_verifier_set_notify(struct lk_verifier *v, unsigned worker, int fd)
{
	LK_ASSERT(worker < v->n_workers && fd >= 0);
	if (!v->borrowed[worker])
		close(v->efds[worker]);
	v->efds[worker] = fd;
	v->borrowed[worker] = true;
}
