/* proxy/control.h - the control thread: agent endpoints that need several
 * Docker calls and JSON work (/_lookout/info, /metrics, /_lookout/mcp) are
 * answered off the rings (DESIGN.md "Control plane": a dedicated control
 * thread).
 *
 * A worker that admitted such a request submits a job (the method and a copy
 * of the body) and parks the connection in LK_CS_CONTROL; the control thread
 * takes jobs in order, calls Docker with the blocking client of
 * adapters/docker.h, builds the whole response body, and wakes the
 * submitting worker through its wake eventfd; the worker drains its results
 * (lk_ctl_drain) in on_wake and sends them.
 *
 * Concurrency contract: job slots are the only shared state, moved
 * FREE -> FILLING (worker, CAS) -> QUEUED (worker, release) -> RUNNING
 * (control thread) -> DONE (control thread, release) -> FREE (the owning
 * worker, release, after taking the result). Each transition has one
 * writer, so a payload written before a release store is seen after the
 * matching acquire load. The control thread sleeps on a semaphore. At most
 * LK_CTL_SLOTS jobs are queued or running; beyond that, submit says -EBUSY
 * (the worker answers 503). */
#ifndef LK_PROXY_CONTROL_H
#define LK_PROXY_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#define LK_CTL_SLOTS 64
#define LK_CTL_BODY_MAX (1u << 20) /* MCP request bodies (spec 13: 1 MiB) */

struct lk_server;
struct lk_ctl;

enum lk_ctl_kind {
	LK_CTL_INFO,
	LK_CTL_METRICS,
	LK_CTL_MCP,
	LK_CTL_CONTAINERS,	 /* GET /api/containers, /api/v1/containers: the inventory */
	LK_CTL_CONTAINER_DELETE, /* DELETE /api/containers/{id} */
	LK_CTL_LOGS,		 /* GET /api/containers/{id}/logs (without follow) */
	LK_CTL_SSE_START,	 /* the first frames of /api/events */
};

#define LK_CTL_TARGET_MAX 2048 /* request targets the control thread takes */

/* struct lk_ctl_result is one finished job, handed to its worker. */
struct lk_ctl_result {
	uint64_t cookie;
	uint64_t generation; /* LK_CTL_SSE_START: the inventory generation the frames show */
	int status;
	const char *ctype; /* static string, or NULL for an empty body */
	char *body;        /* malloc'd, owned by the receiver; may be NULL */
	size_t len;
};

/* lk_ctl_new starts the control thread for srv (borrowed; its config,
 * counters and workers' wake fds). Returns NULL with a message in err. */
struct lk_ctl *lk_ctl_new(struct lk_server *srv, char *err, size_t err_len);
/* lk_ctl_free stops and joins the thread (a running job finishes) and frees
 * every queued job and undelivered result. NULL is fine. */
void lk_ctl_free(struct lk_ctl *ctl);
/* lk_ctl_submit queues a job for worker: kind, the request method and
 * target (copied; the target at most LK_CTL_TARGET_MAX bytes) and body
 * (copied, at most LK_CTL_BODY_MAX bytes). Returns 0, -E2BIG, -ENOMEM or
 * -EBUSY. Never blocks. */
int lk_ctl_submit(struct lk_ctl *ctl, unsigned worker, enum lk_ctl_kind kind, const char *method,
		  size_t method_len, const char *target, size_t target_len, const char *body,
		  size_t len, uint64_t cookie);
/* lk_ctl_drain moves up to max finished results of worker into out. */
size_t lk_ctl_drain(struct lk_ctl *ctl, unsigned worker, struct lk_ctl_result *out, size_t max);

#endif /* LK_PROXY_CONTROL_H */
