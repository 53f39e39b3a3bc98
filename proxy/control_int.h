/* proxy/control_int.h - what the control thread's handlers
 * (proxy/ctl_handlers.c) share with the thread itself (proxy/control.c). */
#ifndef LK_PROXY_CONTROL_INT_H
#define LK_PROXY_CONTROL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "adapters/docker.h"
#include "proxy/control.h"

struct lk_host;

/* struct lk_ctl_env is the control thread's own state: only it touches it. */
struct lk_ctl_env {
	struct lk_server *srv;
	struct lk_docker docker;
	struct lk_host *host;   /* /proc collector (adapters/host.h) */
	char hostname[256];
};

struct lk_ctl_req {
	enum lk_ctl_kind kind;
	const char *method; /* NUL-terminated */
	const char *target; /* NUL-terminated, as the client sent it */
	const char *body;   /* may be NULL */
	size_t len;
};

int lk__ctl_env_init(struct lk_ctl_env *env, struct lk_server *srv, char *err, size_t err_len);
void lk__ctl_env_done(struct lk_ctl_env *env);
/* lk__ctl_handle answers rq into res (status, ctype, malloc'd body). */
void lk__ctl_handle(struct lk_ctl_env *env, const struct lk_ctl_req *rq, struct lk_ctl_result *res);

#endif /* LK_PROXY_CONTROL_INT_H */
