/* adapters/docker.h - a small blocking Docker Engine client for the control
 * thread (MCP tools, metrics, agent info).
 *
 * The data path never uses it: proxied requests go through the rings
 * (proxy/fwd.c). Each call opens its own unix-socket connection, sends one
 * request with Connection: close, and reads the whole response within the
 * timeout, so a call costs a connect and nothing is pooled; the control
 * thread makes a handful of them per request it serves. Bodies are bounded
 * (LK_DOCKER_BODY_MAX): a larger one is an error, never truncated. */
#ifndef LK_ADAPTERS_DOCKER_H
#define LK_ADAPTERS_DOCKER_H

#include <stddef.h>

#define LK_DOCKER_BODY_MAX (16u << 20)

struct lk_docker {
	char path[108];  /* DOCKER_SOCKET */
	int timeout_ms;  /* per call: connect, send and the whole response */
};

/* lk_docker_init points d at the socket path (borrowed, copied; at most 107
 * bytes) with a per-call timeout. Returns 0 or -ENAMETOOLONG. */
int lk_docker_init(struct lk_docker *d, const char *path, int timeout_ms);

/* lk_docker_get sends `GET target` (an origin-form target, borrowed) and
 * reads the response. Returns Docker's HTTP status with *body (malloc'd,
 * NUL-terminated for convenience, freed by the caller) and *len set, or
 * -errno: -ETIMEDOUT, -ECONNREFUSED/-ENOENT (no daemon), -EPROTO (a response
 * that does not parse), -E2BIG (body over LK_DOCKER_BODY_MAX). Blocking. */
int lk_docker_get(const struct lk_docker *d, const char *target, char **body, size_t *len);

#endif /* LK_ADAPTERS_DOCKER_H */
