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

#include <stdbool.h>
#include <stddef.h>

#include "core/http.h"

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
/* lk_docker_call is lk_docker_get with another method (no request body). */
int lk_docker_call(const struct lk_docker *d, const char *method, const char *target, char **body,
		   size_t *len);

/* struct lk_docker_stream is an open streaming response (GET /events):
 * read with lk_docker_stream_read, which undoes chunked framing. */
struct lk_docker_stream {
	int fd;
	int status;
	bool chunked;
	bool eof;
	struct lk_http_chunked ch;
	char *buf;     /* raw bytes not yet decoded (malloc'd) */
	size_t len;
	size_t cap;
};

/* lk_docker_stream_open sends `GET target` (keep-alive, so Docker streams)
 * and reads the response head within the client's timeout. Returns 0 with
 * s->status set (the caller checks it is 200), or -errno. */
int lk_docker_stream_open(const struct lk_docker *d, const char *target,
			  struct lk_docker_stream *s);
/* lk_docker_stream_read waits at most timeout_ms for body bytes and appends
 * the decoded ones to out (cap bytes from *out_len on). Returns 0 (maybe
 * with nothing new: timeout), -ECONNRESET at the end of the stream, or
 * -errno / -EPROTO (bad framing). */
int lk_docker_stream_read(struct lk_docker_stream *s, int timeout_ms, char *out, size_t cap,
			  size_t *out_len);
void lk_docker_stream_close(struct lk_docker_stream *s);

#endif /* LK_ADAPTERS_DOCKER_H */
