/* proxy/control.c - the control thread (see control.h). */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/docker.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/dbg.h"
#include "core/json.h"
#include "core/timer.h"
#include "core/worker.h"
#include "proxy/control.h"
#include "proxy/control_int.h"
#include "proxy/server.h"
#include "proxy/session_int.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

struct slot {
	_Atomic uint32_t state;
	_Atomic unsigned worker; /* read by every worker's drain: atomic (relaxed) */
	uint64_t cookie;
	enum lk_ctl_kind kind;
	char method[16];
	char target[LK_CTL_TARGET_MAX + 1];
	char *body;
	size_t len;
	struct lk_ctl_result res;
};

struct lk_ctl {
	struct lk_server *srv;
	struct lk_ctl_env env;
	struct slot slots[LK_CTL_SLOTS];
	sem_t sem;
	bool sem_init;
	atomic_bool stop;
	pthread_t thread;
	bool started;
};

/* ---- jobs ------------------------------------------------------------------- */

static void run_job(struct lk_ctl *ctl, struct slot *s)
{
	struct lk_ctl_req rq = {
		.kind = s->kind, .method = s->method, .target = s->target, .body = s->body,
		.len = s->len,
	};

	s->res = (struct lk_ctl_result){ .cookie = s->cookie };
	lk__ctl_handle(&ctl->env, &rq, &s->res);
	free(s->body);
	s->body = NULL;
	unsigned w = atomic_load_explicit(&s->worker, memory_order_relaxed);
	atomic_store_explicit(&s->state, SLOT_DONE, memory_order_release);
	uint64_t one = 1;
	/* A failed write only delays the answer to the worker's next wake. */
	(void)!write(lk_server_wake_fd(ctl->srv, w), &one, sizeof(one));
}

static void *ctl_main(void *arg)
{
	struct lk_ctl *ctl = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		if (sem_wait(&ctl->sem) != 0)
			continue; /* EINTR */
		if (atomic_load_explicit(&ctl->stop, memory_order_acquire))
			break;
		/* One post per queued job: take the oldest-indexed one. */
		for (unsigned i = 0; i < LK_CTL_SLOTS; i++) {
			uint32_t want = SLOT_QUEUED;
			if (atomic_compare_exchange_strong_explicit(&ctl->slots[i].state, &want,
								    SLOT_RUNNING, memory_order_acquire,
								    memory_order_relaxed)) {
				run_job(ctl, &ctl->slots[i]);
				break;
			}
		}
	}
	return NULL;
}

struct lk_ctl *lk_ctl_new(struct lk_server *srv, char *err, size_t err_len)
{
	struct lk_ctl *ctl = calloc(1, sizeof(*ctl));

	if (ctl == NULL) {
		snprintf(err, err_len, "control thread: out of memory");
		return NULL;
	}
	ctl->srv = srv;
	if (lk__ctl_env_init(&ctl->env, srv, err, err_len) < 0) {
		free(ctl);
		return NULL;
	}
	if (sem_init(&ctl->sem, 0, 0) != 0) {
		snprintf(err, err_len, "control thread: semaphore: %s", strerror(errno));
		lk_ctl_free(ctl);
		return NULL;
	}
	ctl->sem_init = true;
	int rc = pthread_create(&ctl->thread, NULL, ctl_main, ctl);
	if (rc != 0) {
		snprintf(err, err_len, "control thread: %s", strerror(rc));
		lk_ctl_free(ctl);
		return NULL;
	}
	ctl->started = true;
	return ctl;
}

void lk_ctl_free(struct lk_ctl *ctl)
{
	if (ctl == NULL)
		return;
	if (ctl->started) {
		atomic_store_explicit(&ctl->stop, true, memory_order_release);
		sem_post(&ctl->sem);
		pthread_join(ctl->thread, NULL);
	}
	for (unsigned i = 0; i < LK_CTL_SLOTS; i++) {
		free(ctl->slots[i].body);
		free(ctl->slots[i].res.body);
	}
	if (ctl->sem_init)
		sem_destroy(&ctl->sem);
	lk__ctl_env_done(&ctl->env);
	free(ctl);
}

int lk_ctl_submit(struct lk_ctl *ctl, unsigned worker, enum lk_ctl_kind kind, const char *method,
		  size_t method_len, const char *target, size_t target_len, const char *body,
		  size_t len, uint64_t cookie)
{
	LK_ASSERT(len <= LK_CTL_BODY_MAX);
	if (target_len > LK_CTL_TARGET_MAX)
		return -E2BIG;
	for (unsigned i = 0; i < LK_CTL_SLOTS; i++) {
		struct slot *s = &ctl->slots[i];
		uint32_t want = SLOT_FREE;

		if (!atomic_compare_exchange_strong_explicit(&s->state, &want, SLOT_FILLING,
							     memory_order_acquire, memory_order_relaxed))
			continue;
		char *copy = NULL;
		if (len != 0) {
			copy = malloc(len);
			if (copy == NULL) {
				atomic_store_explicit(&s->state, SLOT_FREE, memory_order_release);
				return -ENOMEM;
			}
			memcpy(copy, body, len);
		}
		atomic_store_explicit(&s->worker, worker, memory_order_relaxed);
		s->cookie = cookie;
		s->kind = kind;
		snprintf(s->method, sizeof(s->method), "%.*s", (int)LK_MIN(method_len, sizeof(s->method) - 1),
			 method);
		memcpy(s->target, target, target_len);
		s->target[target_len] = '\0';
		s->body = copy;
		s->len = len;
		s->res = (struct lk_ctl_result){ 0 };
		atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_release);
		sem_post(&ctl->sem);
		return 0;
	}
	return -EBUSY;
}

size_t lk_ctl_drain(struct lk_ctl *ctl, unsigned worker, struct lk_ctl_result *out, size_t max)
{
	size_t n = 0;

	for (unsigned i = 0; i < LK_CTL_SLOTS && n < max; i++) {
		struct slot *s = &ctl->slots[i];

		if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_DONE ||
		    atomic_load_explicit(&s->worker, memory_order_relaxed) != worker)
			continue;
		out[n++] = s->res;
		s->res = (struct lk_ctl_result){ 0 };
		atomic_store_explicit(&s->state, SLOT_FREE, memory_order_release);
	}
	return n;
}
