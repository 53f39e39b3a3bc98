/* cmd/healthcheck.c - `lookout healthcheck`, for a container HEALTHCHECK.
 *
 * Asks the agent on this host for GET /_lookout/health (which pings Docker)
 * and exits 0 on 200, 1 otherwise. It reads the same PORT, BIND_ADDRESS and
 * TLS_CERT variables as the agent, so the HEALTHCHECK line needs no
 * arguments. Plain blocking sockets: this is a one-shot client. With TLS it
 * does not verify the certificate: it talks to loopback only. */
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/err.h"
#include "core/http.h"
#include "core/tls.h"

static const char hc_usage[] =
	"Usage: lookout healthcheck\n"
	"\n"
	"Exits 0 if the agent listening on PORT (BIND_ADDRESS, TLS_CERT as for serve)\n"
	"answers GET /_lookout/health with 200, 1 otherwise.\n";

static const char hc_req[] =
	"GET /_lookout/health HTTP/1.1\r\nHost: localhost\r\nUser-Agent: lookout-healthcheck\r\n"
	"Connection: close\r\n\r\n";

static int dial(const char *bind, unsigned port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 5 };
	struct sockaddr *sa = (struct sockaddr *)&s4;
	socklen_t len = sizeof(s4);

	/* A wildcard bind is reached through loopback. */
	if (bind == NULL || *bind == '\0' || strcmp(bind, "0.0.0.0") == 0 ||
	    strcmp(bind, "localhost") == 0 || inet_pton(AF_INET, bind, &s4.sin_addr) != 1) {
		s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind != NULL && (strcmp(bind, "::") == 0 || strcmp(bind, "[::]") == 0 ||
				     inet_pton(AF_INET6, bind, &s6.sin6_addr) == 1)) {
			if (strcmp(bind, "::") == 0 || strcmp(bind, "[::]") == 0)
				s6.sin6_addr = in6addr_loopback;
			sa = (struct sockaddr *)&s6;
			len = sizeof(s6);
		}
	}
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, sa, len) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* tls_flush sends everything the engine has queued. */
static int tls_flush(struct lk_tls *t, int fd)
{
	const void *p;
	size_t n;

	while ((n = lk_tls_out_peek(t, &p)) > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k <= 0)
			return -EIO;
		lk_tls_out_consume(t, (size_t)k);
	}
	return 0;
}

/* tls_fill receives once and feeds the engine. */
static int tls_fill(struct lk_tls *t, int fd)
{
	char buf[16384];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	if (n <= 0)
		return -EIO;
	for (ssize_t off = 0; off < n;) {
		ssize_t k = lk_tls_feed(t, buf + off, (size_t)(n - off));
		if (k <= 0)
			return -EIO;
		off += k;
	}
	return 0;
}

/* fetch sends the request and reads the response into buf; returns bytes. */
static ssize_t fetch(int fd, struct lk_tls *t, char *buf, size_t cap)
{
	size_t len = 0;

	if (t == NULL) {
		if (send(fd, hc_req, sizeof(hc_req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(hc_req) - 1)
			return -EIO;
		for (ssize_t n; len < cap && (n = recv(fd, buf + len, cap - len, 0)) > 0;)
			len += (size_t)n;
		return (ssize_t)len;
	}
	int hs;
	while ((hs = lk_tls_handshake(t)) == LK_AGAIN)
		if (tls_flush(t, fd) < 0 || tls_fill(t, fd) < 0)
			return -EIO;
	if (hs < 0 || lk_tls_write(t, hc_req, sizeof(hc_req) - 1) != (ssize_t)sizeof(hc_req) - 1 ||
	    tls_flush(t, fd) < 0)
		return -EIO;
	while (len < cap) {
		ssize_t k = lk_tls_read(t, buf + len, cap - len);
		if (k > 0) {
			len += (size_t)k;
			continue;
		}
		if (k != LK_AGAIN || tls_fill(t, fd) < 0)
			break;
	}
	return (ssize_t)len;
}

int lk_cmd_healthcheck(int argc, char **argv)
{
	const char *port_s = getenv("PORT");
	const char *cert = getenv("TLS_CERT");
	unsigned long port = 3000;
	char buf[4096], err[256];
	struct lk_tls_ctx *ctx = NULL;
	struct lk_tls *t = NULL;
	int status = 1;

	if (argc > 1) {
		bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			    strcmp(argv[1], "-help") == 0;
		fputs(hc_usage, help ? stdout : stderr);
		return help ? 0 : 2;
	}
	if (port_s != NULL && *port_s != '\0') {
		char *end;
		errno = 0;
		port = strtoul(port_s, &end, 10);
		if (errno != 0 || *end != '\0' || port == 0 || port > 65535) {
			fprintf(stderr, "healthcheck: PORT: invalid port \"%s\"\n", port_s);
			return 1;
		}
	}
	int fd = dial(getenv("BIND_ADDRESS"), (unsigned)port);
	if (fd < 0) {
		fprintf(stderr, "healthcheck: cannot connect to port %lu: %s\n", port, strerror(-fd));
		return 1;
	}
	if (cert != NULL && *cert != '\0') {
		ctx = lk_tls_ctx_new_client(NULL, true, err, sizeof(err));
		t = ctx != NULL ? lk_tls_new(ctx, "localhost") : NULL;
		if (t == NULL) {
			fprintf(stderr, "healthcheck: TLS: %s\n", ctx == NULL ? err : "out of memory");
			goto out;
		}
	}
	ssize_t n = fetch(fd, t, buf, sizeof(buf));
	static struct lk_http_resp resp;
	struct lk_http_parser p;
	lk_http_parser_init(&p, 0);
	if (n > 0 && lk_http_parse_response(&p, buf, (size_t)n, &resp) > 0 && resp.status == 200) {
		status = 0;
	} else {
		fprintf(stderr, "healthcheck: unhealthy (%s)\n",
			n > 0 && resp.status != 0 ? "non-200 answer" : "no valid answer");
	}
out:
	lk_tls_free(t);
	lk_tls_ctx_free(ctx);
	close(fd);
	return status;
}
