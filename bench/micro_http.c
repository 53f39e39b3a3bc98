/* bench/micro_http.c - lk_http_parse_request on realistic request heads,
 * single thread.
 *
 * The parser is on every request's path before any policy runs, so its cost
 * per head is the floor of the proxy's per-request overhead. Three heads:
 * what the docker CLI sends for `docker ps -a`, a 2 KiB head (a build with
 * a registry-auth header, the size class of real CLI heads carrying
 * credentials) and a head with 40 fields (the many-headers worst case short
 * of the limit). Each operation is parser init plus one complete parse of
 * the whole head from one buffer, the common case of a head arriving in
 * one read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/micro.h"
#include "core/dbg.h"
#include "core/http.h"

#define BATCH 1024 /* parses between clock reads */

static const char usage[] =
	"Measures lk_http_parse_request (core/http.h) on three request heads:\n"
	"docker CLI `GET /v1.41/containers/json?all=1`, a 2 KiB head and a\n"
	"head with 40 header fields. Single thread; default 1 s each.";

static const char docker_ps[] =
	"GET /v1.41/containers/json?all=1 HTTP/1.1\r\n"
	"Host: api.moby.localhost\r\n"
	"User-Agent: Docker-Client/20.10.24+dfsg1 (linux)\r\n"
	"Accept-Encoding: gzip\r\n"
	"\r\n";

/* build_2k writes a `docker build` head padded to exactly 2048 bytes with
 * its X-Registry-Config value (base64 JSON in real life). */
static size_t build_2k(char *buf, size_t cap)
{
	static const char pre[] =
		"POST /v1.41/build?buildargs=%7B%7D&cachefrom=%5B%5D&cgroupparent=&cpuperiod=0"
		"&cpuquota=0&cpusetcpus=&cpusetmems=&cpushares=0&dockerfile=Dockerfile&labels=%7B%7D"
		"&memory=0&memswap=0&networkmode=default&rm=1&shmsize=0&t=app%3Alatest"
		"&target=&ulimits=null&version=1 HTTP/1.1\r\n"
		"Host: api.moby.localhost\r\n"
		"User-Agent: Docker-Client/20.10.24+dfsg1 (linux)\r\n"
		"Content-Type: application/x-tar\r\n"
		"Transfer-Encoding: chunked\r\n"
		"Accept-Encoding: gzip\r\n"
		"X-Registry-Config: ";
	static const char post[] = "\r\n\r\n";
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t len = 2048, pad = len - (sizeof(pre) - 1) - (sizeof(post) - 1);

	if (len > cap || sizeof(pre) + sizeof(post) > len)
		abort();
	memcpy(buf, pre, sizeof(pre) - 1);
	for (size_t i = 0; i < pad; i++)
		buf[sizeof(pre) - 1 + i] = b64[(i * 7) % 64];
	memcpy(buf + len - (sizeof(post) - 1), post, sizeof(post) - 1);
	return len;
}

/* build_40 writes a GET head with 40 header fields. */
static size_t build_40(char *buf, size_t cap)
{
	size_t len = 0;
	int n = snprintf(buf, cap, "GET /v1.41/containers/abc123/json HTTP/1.1\r\n"
				   "Host: api.moby.localhost\r\n");

	len = (size_t)n;
	for (int i = 1; i < 40; i++) {
		n = snprintf(buf + len, cap - len, "X-Bench-Field-%02d: value-%02d; q=0.%d\r\n", i,
			     i, i % 10);
		if (n < 0 || (size_t)n >= cap - len)
			abort();
		len += (size_t)n;
	}
	if (len + 2 >= cap)
		abort();
	memcpy(buf + len, "\r\n", 2);
	return len + 2;
}

static void run(const char *name, const char *head, size_t len, const struct lk_micro_bound *b,
		struct lk_http_req *req, unsigned want_headers)
{
	struct lk_http_parser p;
	char extra[64];
	uint64_t n = 0, t0;
	ssize_t rc;

	/* Check the head once, outside the clock: a parse error would measure
	 * the error path instead. */
	lk_http_parser_init(&p, 0);
	rc = lk_http_parse_request(&p, head, len, req);
	if (rc != (ssize_t)len || req->n_headers != want_headers) {
		fprintf(stderr, "micro_http: %s: parse returned %zd (%u: %s), %u headers\n", name,
			rc, p.status, p.reason != NULL ? p.reason : "-", req->n_headers);
		exit(1);
	}
	t0 = lk_micro_now_ns();
	do {
		uint64_t k = LK_MIN((uint64_t)BATCH, b->n_max - n);

		for (uint64_t i = 0; i < k; i++) {
			lk_http_parser_init(&p, 0);
			rc = lk_http_parse_request(&p, head, len, req);
			if (rc != (ssize_t)len)
				abort();
			__asm__ volatile("" : : "r"(req) : "memory");
		}
		n += k;
	} while (!lk_micro_done(b, t0, n));
	snprintf(extra, sizeof(extra), "head=%zu B, headers=%u", len, want_headers);
	lk_micro_report(name, n, lk_micro_now_ns() - t0, extra);
}

int main(int argc, char **argv)
{
	struct lk_micro_bound b = lk_micro_args(argc, argv, usage, 1.0);
	static struct lk_http_req req;
	static char big[4096], many[4096];
	size_t big_len = build_2k(big, sizeof(big)), many_len = build_40(many, sizeof(many));

	run("http_parse_docker_ps", docker_ps, sizeof(docker_ps) - 1, &b, &req, 3);
	run("http_parse_2k", big, big_len, &b, &req, 6);
	run("http_parse_40h", many, many_len, &b, &req, 40);
	return 0;
}
