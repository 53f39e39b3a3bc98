/* adapters/docker.c - blocking Docker client for the control thread (see
 * docker.h). The request asks for Connection: close, so the response is read
 * to EOF into one buffer and then parsed and de-framed in place. */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/docker.h"
#include "core/dbg.h"
#include "core/err.h"
#include "core/http.h"
#include "core/timer.h"

#define LK_DOCKER_READ_STEP (64u * 1024)

int lk_docker_init(struct lk_docker *d, const char *path, int timeout_ms)
{
	size_t n = strlen(path);

	if (n >= sizeof(d->path))
		return -ENAMETOOLONG;
	memcpy(d->path, path, n + 1);
	d->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	return 0;
}

/* wait_fd polls fd for events until deadline_ms (CLOCK_MONOTONIC). */
static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
	for (;;) {
		uint64_t now = lk_time_ms();
		struct pollfd p = { .fd = fd, .events = events };

		if (now >= deadline_ms)
			return -ETIMEDOUT;
		int rc = poll(&p, 1, (int)LK_MIN(deadline_ms - now, (uint64_t)60000));
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline_ms)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		int rc = wait_fd(fd, POLLOUT, deadline_ms);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* read_all reads until EOF into a growing buffer of at most head + body
 * limit bytes. */
static int read_all(int fd, char **out, size_t *out_len, uint64_t deadline_ms)
{
	size_t cap = LK_DOCKER_READ_STEP, len = 0;
	const size_t max = (size_t)LK_DOCKER_BODY_MAX + LK_HTTP_HEAD_MAX + 1024;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap >= max) {
				free(buf);
				return -E2BIG;
			}
			size_t ncap = LK_MIN(cap * 2, max);
			char *nb = realloc(buf, ncap + 1);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t k = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (k > 0) {
			len += (size_t)k;
			continue;
		}
		if (k == 0)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			int rc = -errno;
			free(buf);
			return rc;
		}
		int rc = wait_fd(fd, POLLIN, deadline_ms);
		if (rc < 0) {
			free(buf);
			return rc;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

/* unframe turns raw[0..len) (a whole response) into its body, in place at
 * the start of raw. Returns the status or -EPROTO. */
static int unframe(char *raw, size_t len, size_t *body_len)
{
	static __thread struct lk_http_resp resp; /* large: not on the stack */
	struct lk_http_parser p;

	lk_http_parser_init(&p, 0);
	ssize_t hl = lk_http_parse_response(&p, raw, len, &resp);
	if (hl <= 0)
		return -EPROTO;
	int status = resp.status;
	size_t n = len - (size_t)hl;

	memmove(raw, raw + hl, n);
	switch (lk_http_resp_body(&resp, false)) {
	case LK_HTTP_BODY_NONE:
		n = 0;
		break;
	case LK_HTTP_BODY_LENGTH:
		if ((uint64_t)resp.content_length > n)
			return -EPROTO; /* cut short */
		n = (size_t)resp.content_length;
		break;
	case LK_HTTP_BODY_CHUNKED: {
		struct lk_http_chunked ch;

		lk_http_chunked_init(&ch, LK_DOCKER_BODY_MAX);
		if (lk_http_chunked_decode(&ch, raw, &n) < 0)
			return -EPROTO; /* malformed, or it never ended */
		break;
	}
	case LK_HTTP_BODY_EOF:
		break;
	}
	if (n > LK_DOCKER_BODY_MAX)
		return -E2BIG;
	raw[n] = '\0';
	*body_len = n;
	return status;
}

/* dial connects to Docker and sends `method target`, asking Docker to close
 * after the answer when close_after. Returns the socket, or -errno. */
static int dial(const struct lk_docker *d, const char *method, const char *target,
		bool close_after, uint64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char req[LK_HTTP_LINE_MAX + 128];
	int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: lookout\r\n%s\r\n",
			 method, target, close_after ? "Connection: close\r\n" : "");

	if (n < 0 || (size_t)n >= sizeof(req))
		return -E2BIG;
	memcpy(sa.sun_path, d->path, sizeof(d->path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A unix-socket connect completes or fails at once. */
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	if (rc == 0)
		rc = send_all(fd, req, (size_t)n, deadline);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int lk_docker_get(const struct lk_docker *d, const char *target, char **body, size_t *len)
{
	return lk_docker_call(d, "GET", target, body, len);
}

int lk_docker_call(const struct lk_docker *d, const char *method, const char *target, char **body,
		   size_t *len)
{
	uint64_t deadline = lk_time_ms() + (uint64_t)d->timeout_ms;
	char *raw = NULL;
	size_t raw_len = 0;
	int fd = dial(d, method, target, true, deadline);

	if (fd < 0)
		return fd;
	int rc = read_all(fd, &raw, &raw_len, deadline);
	if (rc == 0) {
		size_t blen = 0;

		rc = unframe(raw, raw_len, &blen);
		if (rc >= 0) {
			*body = raw;
			*len = blen;
			raw = NULL;
		}
	}
	free(raw);
	close(fd);
	return rc;
}

int lk_docker_stream_open(const struct lk_docker *d, const char *target,
			  struct lk_docker_stream *s)
{
	static __thread struct lk_http_resp resp;
	uint64_t deadline = lk_time_ms() + (uint64_t)d->timeout_ms;
	struct lk_http_parser p;
	int rc;

	/* Keep-alive, so Docker streams the answer. */
	*s = (struct lk_docker_stream){ .fd = dial(d, "GET", target, false, deadline) };
	if (s->fd < 0) {
		rc = s->fd;
		s->fd = -1;
		return rc;
	}
	s->cap = LK_HTTP_HEAD_MAX;
	s->buf = malloc(s->cap);
	if (s->buf == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	lk_http_parser_init(&p, 0);
	for (;;) {
		ssize_t hl = lk_http_parse_response(&p, s->buf, s->len, &resp);

		if (hl > 0) {
			s->status = resp.status;
			s->chunked = lk_http_resp_body(&resp, false) == LK_HTTP_BODY_CHUNKED;
			s->len -= (size_t)hl;
			memmove(s->buf, s->buf + hl, s->len);
			lk_http_chunked_init(&s->ch, 0);
			return 0;
		}
		if (hl != LK_AGAIN || s->len == s->cap) {
			rc = -EPROTO;
			goto fail;
		}
		ssize_t k = recv(s->fd, s->buf + s->len, s->cap - s->len, MSG_DONTWAIT);
		if (k > 0) {
			s->len += (size_t)k;
			continue;
		}
		if (k == 0) {
			rc = -ECONNRESET;
			goto fail;
		}
		if (errno != EAGAIN && errno != EINTR) {
			rc = -errno;
			goto fail;
		}
		rc = wait_fd(s->fd, POLLIN, deadline);
		if (rc < 0)
			goto fail;
	}
fail:
	lk_docker_stream_close(s);
	return rc;
}

int lk_docker_stream_read(struct lk_docker_stream *s, int timeout_ms, char *out, size_t cap,
			  size_t *out_len)
{
	if (s->eof)
		return -ECONNRESET;
	if (s->len == 0) {
		struct pollfd pf = { .fd = s->fd, .events = POLLIN };
		int pr = poll(&pf, 1, timeout_ms);

		if (pr < 0)
			return errno == EINTR ? 0 : -errno;
		if (pr == 0)
			return 0;
		ssize_t k = recv(s->fd, s->buf, s->cap, MSG_DONTWAIT);
		if (k == 0) {
			s->eof = true;
			return -ECONNRESET;
		}
		if (k < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		s->len = (size_t)k;
	}
	/* Decode what we hold, at most what fits in out. */
	size_t take = LK_MIN(s->len, cap - *out_len);
	if (take == 0)
		return 0;
	if (!s->chunked) {
		memcpy(out + *out_len, s->buf, take);
		*out_len += take;
		s->len -= take;
		memmove(s->buf, s->buf + take, s->len);
		return 0;
	}
	/* In-place chunked decoding of the whole held piece: it only shrinks. */
	size_t dlen = s->len;
	ssize_t rc = lk_http_chunked_decode(&s->ch, s->buf, &dlen);
	if (rc < 0 && rc != LK_AGAIN)
		return -EPROTO;
	if (dlen > cap - *out_len)
		return -E2BIG; /* the caller's line buffer is too small for one event */
	memcpy(out + *out_len, s->buf, dlen);
	*out_len += dlen;
	s->len = 0;
	if (rc >= 0) /* the last chunk: the stream ended */
		s->eof = true;
	return 0;
}

void lk_docker_stream_close(struct lk_docker_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
	*s = (struct lk_docker_stream){ .fd = -1 };
}
