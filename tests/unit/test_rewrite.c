/* tests/unit/test_rewrite.c - proxy classification and forwarded heads.
 *
 * Heads are built by parsing real request and response bytes with
 * core/http.c, so the views the writers copy are exactly the ones the proxy
 * will hand them. Expected outputs are whole heads, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/dbg.h"
#include "core/http.h"
#include "proxy/rewrite.h"

/* ---- helpers --------------------------------------------------------------- */

static char g_in[LK_HTTP_HEAD_MAX + 64];
static struct lk_http_req g_req;
static struct lk_http_resp g_resp;
static char g_out[8192];

/* req parses s (a complete head, maybe followed by body bytes) into g_req. */
static const struct lk_http_req *req(const char *s)
{
	struct lk_http_parser p;
	size_t n = strlen(s);
	ssize_t rc;

	LK_ASSERT(n < sizeof(g_in));
	memcpy(g_in, s, n);
	lk_http_parser_init(&p, 0);
	rc = lk_http_parse_request(&p, g_in, n, &g_req);
	if (rc <= 0)
		fail_msg("request did not parse (%zd %s): %s", rc, p.reason ? p.reason : "", s);
	return &g_req;
}

static const struct lk_http_resp *resp(const char *s)
{
	struct lk_http_parser p;
	size_t n = strlen(s);
	ssize_t rc;

	LK_ASSERT(n < sizeof(g_in));
	memcpy(g_in, s, n);
	lk_http_parser_init(&p, 0);
	rc = lk_http_parse_response(&p, g_in, n, &g_resp);
	if (rc <= 0)
		fail_msg("response did not parse (%zd %s): %s", rc, p.reason ? p.reason : "", s);
	return &g_resp;
}

/* out_str returns b's bytes as a string (g_out must have a spare byte). */
static const char *out_str(const struct lk_obuf *b)
{
	LK_ASSERT(b->len < sizeof(g_out));
	g_out[b->len] = '\0';
	return g_out;
}

static const char *write_req(const struct lk_http_req *r, const struct lk_proxy_req_opts *o)
{
	struct lk_obuf b;

	lk_obuf_init(&b, g_out, sizeof(g_out) - 1);
	assert_int_equal(lk_proxy_write_req_head(&b, r, o), 0);
	assert_false(b.overflow);
	return out_str(&b);
}

static const char *write_resp(const struct lk_http_resp *r, const struct lk_proxy_resp_opts *o)
{
	struct lk_obuf b;

	lk_obuf_init(&b, g_out, sizeof(g_out) - 1);
	assert_int_equal(lk_proxy_write_resp_head(&b, r, o), 0);
	assert_false(b.overflow);
	return out_str(&b);
}

static bool streaming(const char *t)
{
	return lk_proxy_is_streaming(t, strlen(t));
}

static bool drydock(const char *t)
{
	return lk_proxy_drydock_expects_stream(t, strlen(t));
}

static bool attach_or_exec(const char *t)
{
	return lk_proxy_is_attach_or_exec_start(t, strlen(t));
}

/* ---- streaming classification ---------------------------------------------- */

struct svec {
	const char *target;
	bool drydock;   /* the reference rule (spec 1.6) */
	bool streaming; /* Lookout's classification */
};

static const struct svec svecs[] = {
	/* spec docker-drydock-edge 1.6 table */
	{ "/v1.44/containers/abc/logs", true, true },
	{ "/v1.44/containers/abc/logs?follow=1", true, true },
	{ "/v1.44/containers/abc/attach", true, true },
	{ "/v1.44/events", true, true },
	{ "/v1.44/build", true, true },
	{ "/v1.44/images/create?fromImage=nginx", true, true },
	{ "/v1.44/images/push?name=nginx", true, true },
	{ "/v1.44/exec/abc/start", true, true },
	{ "/v1.44/containers/json", false, false },
	{ "/v1.44/exec/abc/json", false, false },
	/* the same, unversioned and with another version */
	{ "/containers/abc/logs", true, true },
	{ "/containers/abc/logs?follow=1&stdout=1", true, true },
	{ "/v1.41/containers/abc/attach?stream=1&stdin=1", true, true },
	{ "/containers/abc/attach", true, true },
	{ "/events?filters=%7B%7D", true, true },
	{ "/build?t=x", true, true },
	{ "/images/create?fromImage=busybox&tag=latest", true, true },
	{ "/images/push", true, true },
	{ "/exec/abc/start", true, true },
	{ "/containers/json?all=1", false, false },
	{ "/exec/abc/json", false, false },
	{ "/_ping", false, false },
	{ "/", false, false },
	/* "contains <suffix>?": with the query starting there, same answer */
	{ "/containers/abc/logs?", true, true },
	{ "/v1.44/events?since=1", true, true },
	/* a query naming a streaming suffix does not change the route */
	{ "/containers/json?x=/logs", false, false },
	{ "/containers/json?x=/logs?y=1", false, false },
	{ "/containers/json?x=/exec/a/start", false, false },
	{ "/v1.44/containers/abc/logsx", false, false },
	{ "/v1.44/containers/abc/logs/", false, false },
	/* Lookout's additions: streaming for us, not for Drydock */
	{ "/v1.41/containers/abc/wait", false, true },
	{ "/containers/abc/wait?condition=not-running", false, true },
	{ "/containers/abc/archive?path=/etc", false, true },
	{ "/v1.41/containers/abc/archive?path=%2F", false, true },
	{ "/containers/abc/export", false, true },
	{ "/v1.41/containers/abc/export", false, true },
	{ "/images/load?quiet=0", false, true },
	{ "/v1.41/images/load", false, true },
	{ "/images/get?names=busybox", false, true },
	{ "/v1.41/images/get", false, true },
	{ "/images/busybox/get", false, true },
	{ "/v1.41/images/registry.local:5000/team/app/get", false, true },
	{ "/images/nginx/push?tag=1", false, true },
	{ "/v1.41/images/registry.local/team/app/push", false, true },
	{ "/containers/abc/stats", false, true },
	{ "/v1.41/containers/abc/stats?stream=1", false, true },
	/* additions are routes, not loose suffixes */
	{ "/containers/wait", false, false },
	{ "/containers//export", false, false },
	{ "/images//get", false, false },
	{ "/volumes/abc/wait", false, false },
	{ "/v1.41/containers/abc/wait/x", false, false },
	{ "/vx/containers/abc/wait", false, false },
	{ "/v/containers/abc/wait", false, false },
	{ "/v1.41", false, false },
	{ "/images/load/x", false, false },
	{ "/containers/json?x=/containers/a/wait", false, false },
};

static void test_streaming_table(void **state)
{
	for (size_t i = 0; i < LK_ARRAY_SIZE(svecs); i++) {
		const struct svec *v = &svecs[i];

		if (drydock(v->target) != v->drydock)
			fail_msg("drydock_expects_stream(%s) != %d", v->target, v->drydock);
		if (streaming(v->target) != v->streaming)
			fail_msg("is_streaming(%s) != %d", v->target, v->streaming);
	}
}

/* Stats streams unless ?stream= reads as false to dockerd's BoolValue. */
static void test_streaming_stats(void **state)
{
	static const struct {
		const char *query;
		bool streaming;
	} v[] = {
		{ "", true },
		{ "?", true },
		{ "?one-shot=1", true },
		{ "?stream=false", false },
		{ "?stream=0", false },
		{ "?stream=False", false },
		{ "?stream=FALSE", false },
		{ "?stream=no", false },
		{ "?stream=NONE", false },
		{ "?stream=", false },
		{ "?stream", false },
		{ "?stream=+0+", false },
		{ "?stream=%20false%09", false },
		{ "?stream=%30", false },
		{ "?str%65am=0", false },
		{ "?one-shot=1&stream=0", false },
		{ "?stream=0&stream=1", false },
		{ "?stream=1&stream=0", true },
		{ "?stream=1", true },
		{ "?stream=true", true },
		{ "?stream=t", true },
		{ "?stream=f", true },  /* dockerd's BoolValue is not strconv.ParseBool */
		{ "?stream=off", true },
		{ "?stream=0x", true },
		{ "?stream=falsefalse", true },
		{ "?Stream=0", true },  /* keys are case-sensitive */
		{ "?stream =0", true }, /* and not trimmed */
		{ "?xstream=0", true },
		{ "?stream=0;x=1", true }, /* Go skips pairs with ';' */
		{ "?stream=%zz", true },   /* and pairs with a bad escape */
		{ "?stream=%zz&stream=0", false },
		{ "?&&stream=0&&", false },
	};
	char t[128];

	for (size_t i = 0; i < LK_ARRAY_SIZE(v); i++) {
		snprintf(t, sizeof(t), "/v1.41/containers/abc/stats%s", v[i].query);
		if (streaming(t) != v[i].streaming)
			fail_msg("is_streaming(%s) != %d", t, v[i].streaming);
		snprintf(t, sizeof(t), "/containers/abc/stats%s", v[i].query);
		if (streaming(t) != v[i].streaming)
			fail_msg("is_streaming(%s) != %d", t, v[i].streaming);
		assert_false(drydock(t));
	}
}

static void test_attach_or_exec_start(void **state)
{
	assert_true(attach_or_exec("/containers/abc/attach"));
	assert_true(attach_or_exec("/v1.41/containers/abc/attach?stream=1&stdin=1"));
	assert_true(attach_or_exec("/exec/abc/start"));
	assert_true(attach_or_exec("/v1.44/exec/abc/start"));
	assert_false(attach_or_exec("/containers/abc/start"));
	assert_false(attach_or_exec("/containers/abc/attach/ws"));
	assert_false(attach_or_exec("/exec/abc/json"));
	assert_false(attach_or_exec("/exec//start"));
	assert_false(attach_or_exec("/images/abc/attach"));
	assert_false(attach_or_exec("/containers/json?x=/exec/a/start"));
}

/* ---- hijack ------------------------------------------------------------------ */

static enum lk_proxy_hijack hijack(const char *head)
{
	return lk_proxy_hijack_kind(req(head));
}

static void test_hijack(void **state)
{
	assert_int_equal(hijack("POST /v1.41/exec/abc/start HTTP/1.1\r\nHost: x\r\n"
				"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
			 LK_HIJACK_UPGRADE);
	assert_int_equal(hijack("POST /exec/abc/start HTTP/1.1\r\nHost: x\r\n"
				"connection: keep-alive, upgrade\r\nupgrade: TCP\r\n\r\n"),
			 LK_HIJACK_UPGRADE);
	assert_int_equal(hijack("POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\n"
				"Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
			 LK_HIJACK_UPGRADE);
	/* a list that includes tcp */
	assert_int_equal(hijack("POST /exec/abc/start HTTP/1.1\r\nHost: x\r\n"
				"Connection: Upgrade\r\nUpgrade: websocket, tcp\r\n\r\n"),
			 LK_HIJACK_UPGRADE);
	/* Upgrade without Connection: upgrade */
	assert_int_equal(hijack("POST /exec/abc/start HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\n\r\n"),
			 LK_HIJACK_NONE);
	/* Connection: upgrade without Upgrade */
	assert_int_equal(hijack("POST /exec/abc/start HTTP/1.1\r\nHost: x\r\n"
				"Connection: Upgrade\r\n\r\n"),
			 LK_HIJACK_NONE);
	/* wrong method */
	assert_int_equal(hijack("GET /exec/abc/start HTTP/1.1\r\nHost: x\r\n"
				"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
			 LK_HIJACK_NONE);
	/* WebSocket is not claimed */
	assert_int_equal(hijack("POST /exec/abc/start HTTP/1.1\r\nHost: x\r\n"
				"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
			 LK_HIJACK_NONE);
	/* not a hijackable route */
	assert_int_equal(hijack("POST /containers/abc/start HTTP/1.1\r\nHost: x\r\n"
				"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
			 LK_HIJACK_NONE);
	assert_int_equal(hijack("POST /containers/json?x=/exec/a/start HTTP/1.1\r\nHost: x\r\n"
				"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
			 LK_HIJACK_NONE);
	/* HTTP/1.0 ignores Upgrade (RFC 9110 7.8) */
	assert_int_equal(hijack("POST /exec/abc/start HTTP/1.0\r\n"
				"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"),
			 LK_HIJACK_NONE);
}

/* ---- request heads ------------------------------------------------------------ */

static const struct lk_proxy_req_opts plain_req;

/* A docker-CLI-like request carrying every kind of field the agent drops. */
static void test_req_cli(void **state)
{
	const struct lk_http_req *r =
		req("POST /v1.41/containers/create?name=web HTTP/1.1\r\n"
		    "Host: api.moby.localhost\r\n"
		    "User-Agent: Docker-Client/20.10.24+dfsg1 (linux)\r\n"
		    "Content-Length: 2\r\n"
		    "Authorization: Bearer s3cret\r\n"
		    "X-Lookout-Token: s3cret\r\n"
		    "X-Portwing-Signature: c2ln\r\n"
		    "X-Portwing-Key-ID: 0123456789abcdef\r\n"
		    "x-lookout-timestamp: 1700000000\r\n"
		    "X-Dd-Agent-Secret: s3cret\r\n"
		    "Connection: keep-alive\r\n"
		    "Keep-Alive: timeout=5\r\n"
		    "Proxy-Authorization: Basic eDp5\r\n"
		    "Proxy-Connection: keep-alive\r\n"
		    "TE: trailers\r\n"
		    "Trailer: X-Checksum\r\n"
		    "Content-Type: application/json\r\n"
		    "X-Registry-Auth: e30=\r\n"
		    "x-Custom-CASE: kept as is\r\n"
		    "X-Empty:\r\n"
		    "\r\n{}");

	assert_string_equal(write_req(r, &plain_req),
			    "POST /v1.41/containers/create?name=web HTTP/1.1\r\n"
			    "Host: docker\r\n"
			    "User-Agent: Docker-Client/20.10.24+dfsg1 (linux)\r\n"
			    "Content-Type: application/json\r\n"
			    "X-Registry-Auth: e30=\r\n"
			    "x-Custom-CASE: kept as is\r\n"
			    "X-Empty: \r\n"
			    "Content-Length: 2\r\n"
			    "\r\n");
}

/* Connection names more fields to drop: every list, every element. */
static void test_req_connection_named(void **state)
{
	const struct lk_http_req *r = req("GET /containers/json?all=1 HTTP/1.1\r\n"
					  "X-Foo: 1\r\n"
					  "Host: h\r\n"
					  "Connection: close, X-Foo\r\n"
					  "x-bar: 2\r\n"
					  "connection: ,  X-BAR ,\r\n"
					  "X-Foobar: kept\r\n"
					  "Accept: */*\r\n"
					  "\r\n");

	assert_string_equal(write_req(r, &plain_req),
			    "GET /containers/json?all=1 HTTP/1.1\r\n"
			    "Host: docker\r\n"
			    "X-Foobar: kept\r\n"
			    "Accept: */*\r\n"
			    "\r\n");
}

static void test_req_framing(void **state)
{
	const struct lk_proxy_req_opts buffered = { .has_body_len = true, .body_len = 7 };
	const char *chunked = "POST /build?t=x HTTP/1.1\r\nHost: h\r\n"
			      "transfer-encoding: Chunked\r\nContent-Type: application/x-tar\r\n"
			      "\r\n";

	assert_string_equal(write_req(req(chunked), &plain_req),
			    "POST /build?t=x HTTP/1.1\r\nHost: docker\r\n"
			    "Content-Type: application/x-tar\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n");
	/* a caller that de-chunked the body frames it by length */
	assert_string_equal(write_req(req(chunked), &buffered),
			    "POST /build?t=x HTTP/1.1\r\nHost: docker\r\n"
			    "Content-Type: application/x-tar\r\n"
			    "Content-Length: 7\r\n\r\n");
	/* Content-Length: 0 is kept; a repeated equal value is written once */
	assert_string_equal(write_req(req("POST /containers/abc/start HTTP/1.1\r\nHost: h\r\n"
					  "Content-Length: 0\r\n\r\n"),
				      &plain_req),
			    "POST /containers/abc/start HTTP/1.1\r\nHost: docker\r\n"
			    "Content-Length: 0\r\n\r\n");
	assert_string_equal(write_req(req("PUT /x HTTP/1.1\r\nContent-Length: 3, 3\r\nHost: h\r\n"
					  "content-length: 3\r\n\r\nabc"),
				      &plain_req),
			    "PUT /x HTTP/1.1\r\nHost: docker\r\nContent-Length: 3\r\n\r\n");
	/* no body, no framing; HTTP/1.0 goes out as 1.1; the target is verbatim */
	assert_string_equal(write_req(req("GET /v1.41/containers/a%2Fb/json?x=%20+y HTTP/1.0\r\n"
					  "\r\n"),
				      &plain_req),
			    "GET /v1.41/containers/a%2Fb/json?x=%20+y HTTP/1.1\r\n"
			    "Host: docker\r\n\r\n");
}

static void test_req_hijack(void **state)
{
	const struct lk_proxy_req_opts hj = { .hijack = true };
	const struct lk_http_req *r = req("POST /v1.41/exec/abc/start HTTP/1.1\r\n"
					  "Host: /var/run/docker.sock\r\n"
					  "User-Agent: Docker-Client/20.10.24+dfsg1 (linux)\r\n"
					  "Content-Length: 27\r\n"
					  "Connection: Upgrade\r\n"
					  "Content-Type: application/json\r\n"
					  "Upgrade: tcp\r\n"
					  "X-Lookout-Token: s3cret\r\n"
					  "\r\n{\"Detach\":false,\"Tty\":true}");

	assert_int_equal(lk_proxy_hijack_kind(r), LK_HIJACK_UPGRADE);
	assert_string_equal(write_req(r, &hj),
			    "POST /v1.41/exec/abc/start HTTP/1.1\r\n"
			    "Host: docker\r\n"
			    "User-Agent: Docker-Client/20.10.24+dfsg1 (linux)\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: 27\r\n"
			    "Connection: Upgrade\r\n"
			    "Upgrade: tcp\r\n"
			    "\r\n");
	/* not hijacked: Upgrade and Connection go, nothing replaces them */
	assert_string_equal(write_req(r, &plain_req),
			    "POST /v1.41/exec/abc/start HTTP/1.1\r\n"
			    "Host: docker\r\n"
			    "User-Agent: Docker-Client/20.10.24+dfsg1 (linux)\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: 27\r\n"
			    "\r\n");
}

/* ---- response heads ------------------------------------------------------------ */

static const struct lk_proxy_resp_opts keep;

static void test_resp_length(void **state)
{
	const struct lk_http_resp *r = resp("HTTP/1.1 200 OK\r\n"
					    "Api-Version: 1.41\r\n"
					    "Content-Type: application/json\r\n"
					    "Docker-Experimental: false\r\n"
					    "Ostype: linux\r\n"
					    "Server: Docker/20.10.24+dfsg1 (linux)\r\n"
					    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
					    "Content-Length: 2\r\n"
					    "\r\n[]");

	assert_string_equal(write_resp(r, &keep),
			    "HTTP/1.1 200 OK\r\n"
			    "Api-Version: 1.41\r\n"
			    "Content-Type: application/json\r\n"
			    "Docker-Experimental: false\r\n"
			    "Ostype: linux\r\n"
			    "Server: Docker/20.10.24+dfsg1 (linux)\r\n"
			    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
			    "Content-Length: 2\r\n"
			    "\r\n");
}

static void test_resp_chunked(void **state)
{
	const struct lk_proxy_resp_opts dechunk = { .dechunked = true };
	const char *head = "HTTP/1.1 200 OK\r\n"
			   "Content-Type: application/json\r\n"
			   "Transfer-Encoding: chunked\r\n"
			   "Api-Version: 1.41\r\n"
			   "\r\n";

	assert_string_equal(write_resp(resp(head), &keep),
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: application/json\r\n"
			    "Api-Version: 1.41\r\n"
			    "Transfer-Encoding: chunked\r\n"
			    "\r\n");
	assert_string_equal(write_resp(resp(head), &dechunk),
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: application/json\r\n"
			    "Api-Version: 1.41\r\n"
			    "Connection: close\r\n"
			    "\r\n");
	/* codings other than chunked stay: the body is relayed unchanged */
	assert_string_equal(write_resp(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
					    "transfer-encoding: chunked\r\n\r\n"),
				       &keep),
			    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
			    "transfer-encoding: chunked\r\n\r\n");
}

static void test_resp_upgrade(void **state)
{
	const struct lk_proxy_resp_opts close = { .close_after = true };
	const char *head = "HTTP/1.1 101 UPGRADED\r\n"
			   "Content-Type: application/vnd.docker.raw-stream\r\n"
			   "Connection: Upgrade\r\n"
			   "Upgrade: tcp\r\n"
			   "\r\n";

	assert_string_equal(write_resp(resp(head), &keep),
			    "HTTP/1.1 101 UPGRADED\r\n"
			    "Content-Type: application/vnd.docker.raw-stream\r\n"
			    "Connection: Upgrade\r\n"
			    "Upgrade: tcp\r\n"
			    "\r\n");
	/* close_after means nothing for a 101: the pipe ends when both sides do */
	assert_string_equal(write_resp(resp(head), &close),
			    "HTTP/1.1 101 UPGRADED\r\n"
			    "Content-Type: application/vnd.docker.raw-stream\r\n"
			    "Connection: Upgrade\r\n"
			    "Upgrade: tcp\r\n"
			    "\r\n");
	/* other 1xx: no framing, no Connection */
	assert_string_equal(write_resp(resp("HTTP/1.1 100 Continue\r\n\r\n"), &close),
			    "HTTP/1.1 100 Continue\r\n\r\n");
}

static void test_resp_eof_and_hop_by_hop(void **state)
{
	const struct lk_proxy_resp_opts close = { .close_after = true };
	const struct lk_proxy_resp_opts ka10 = { .keep_alive_10 = true };
	const struct lk_http_resp *r = resp("HTTP/1.1 200 OK\r\n"
					    "Content-Type: application/vnd.docker.raw-stream\r\n"
					    "Connection: close, X-Hop\r\n"
					    "Keep-Alive: timeout=5\r\n"
					    "X-Hop: 1\r\n"
					    "Proxy-Authenticate: Basic\r\n"
					    "X-Lookout-Reason: spoofed\r\n"
					    "Trailer: X-T\r\n"
					    "Upgrade: h2c\r\n"
					    "Api-Version: 1.41\r\n"
					    "\r\n");

	assert_string_equal(write_resp(r, &close),
			    "HTTP/1.1 200 OK\r\n"
			    "Content-Type: application/vnd.docker.raw-stream\r\n"
			    "Api-Version: 1.41\r\n"
			    "Connection: close\r\n"
			    "\r\n");
	assert_string_equal(write_resp(resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
				       &ka10),
			    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
			    "Connection: keep-alive\r\n\r\n");
	assert_string_equal(write_resp(resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
				       &(struct lk_proxy_resp_opts){ .keep_alive_10 = true,
								     .close_after = true }),
			    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
			    "Connection: close\r\n\r\n");
	/* 204: no Content-Length even if Docker sent one; 304 keeps it */
	assert_string_equal(write_resp(resp("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n"
					    "Api-Version: 1.41\r\n\r\n"),
				       &keep),
			    "HTTP/1.1 204 No Content\r\nApi-Version: 1.41\r\n\r\n");
	assert_string_equal(write_resp(resp("HTTP/1.1 304 Not Modified\r\n"
					    "Content-Length: 5\r\n\r\n"),
				       &keep),
			    "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n");
	/* the reason phrase is relayed as received, even empty (the SP stays) */
	assert_string_equal(write_resp(resp("HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n"), &keep),
			    "HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n");
	assert_string_equal(write_resp(resp("HTTP/1.0 409 Conflict here\r\n\r\n"), &close),
			    "HTTP/1.1 409 Conflict here\r\nConnection: close\r\n\r\n");
}

/* ---- errors and overflow -------------------------------------------------------- */

static void test_error_json(void **state)
{
	struct lk_obuf b;

	lk_obuf_init(&b, g_out, sizeof(g_out) - 1);
	assert_int_equal(lk_proxy_write_error(&b, 502, "dial unix /var/run/docker.sock: "
						       "connect: no such file or directory",
					      false),
			 0);
	assert_string_equal(out_str(&b),
			    "HTTP/1.1 502 Bad Gateway\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: 81\r\n"
			    "\r\n"
			    "{\"message\":\"dial unix /var/run/docker.sock: connect: no such file "
			    "or directory\"}\n");
	lk_obuf_init(&b, g_out, sizeof(g_out) - 1);
	assert_int_equal(lk_proxy_write_error(&b, 400, "a \"q\" \\ <x>\n\x01\xff", true), 0);
	assert_string_equal(out_str(&b),
			    "HTTP/1.1 400 Bad Request\r\n"
			    "Content-Type: application/json\r\n"
			    "Content-Length: 53\r\n"
			    "Connection: close\r\n"
			    "\r\n"
			    "{\"message\":\"a \\\"q\\\" \\\\ \\u003cx\\u003e"
			    "\\n\\u0001\\ufffd\"}\n");
	lk_obuf_init(&b, g_out, sizeof(g_out) - 1);
	assert_int_equal(lk_proxy_write_error(&b, 503, "", false), 0);
	assert_string_equal(out_str(&b), "HTTP/1.1 503 Service Unavailable\r\n"
					 "Content-Type: application/json\r\n"
					 "Content-Length: 15\r\n\r\n{\"message\":\"\"}\n");
}

/* check_body_len: Content-Length must count exactly the bytes after the head. */
static void check_body_len(const char *s)
{
	const char *body = strstr(s, "\r\n\r\n") + 4;
	const char *cl = strstr(s, "Content-Length: ");
	char want[64];

	assert_non_null(cl);
	snprintf(want, sizeof(want), "Content-Length: %zu\r\n", strlen(body));
	assert_memory_equal(cl, want, strlen(want));
}

static void test_error_length_matches(void **state)
{
	static const char *const msgs[] = { "x", "é ü \u2028", "tab\there", "\"\"\"" };
	struct lk_obuf b;

	for (size_t i = 0; i < LK_ARRAY_SIZE(msgs); i++) {
		lk_obuf_init(&b, g_out, sizeof(g_out) - 1);
		assert_int_equal(lk_proxy_write_error(&b, 500, msgs[i], i % 2 == 0), 0);
		check_body_len(out_str(&b));
	}
}

static const struct lk_proxy_req_opts ovf_hijack = { .hijack = true };
static const struct lk_proxy_resp_opts ovf_close = { .close_after = true };

/* write_kind writes output k (0 request head, 1 response head, 2 error)
 * into b. */
static int write_kind(struct lk_obuf *b, int k)
{
	if (k == 0)
		return lk_proxy_write_req_head(b, req("POST /exec/a/start HTTP/1.1\r\nHost: h\r\n"
						      "X-A: 1\r\nContent-Length: 2\r\n\r\n"),
					       &ovf_hijack);
	if (k == 1)
		return lk_proxy_write_resp_head(b, resp("HTTP/1.1 200 OK\r\nX-B: 2\r\n\r\n"),
						&ovf_close);
	return lk_proxy_write_error(b, 500, "boom \"x\"", true);
}

/* Every capacity short of the full output reports -ENOSPC; the full one
 * succeeds. Also a buffer that overflowed before the call. */
static void test_overflow(void **state)
{
	char mem[1024];
	struct lk_obuf b;

	for (int k = 0; k < 3; k++) {
		uint32_t full;

		lk_obuf_init(&b, mem, sizeof(mem));
		assert_int_equal(write_kind(&b, k), 0);
		full = b.len;
		for (uint32_t cap = 0; cap <= full; cap++) {
			lk_obuf_init(&b, mem, cap);
			assert_int_equal(write_kind(&b, k), cap == full ? 0 : -ENOSPC);
			assert_int_equal(b.overflow, cap != full);
		}
		lk_obuf_init(&b, mem, sizeof(mem));
		b.overflow = true;
		assert_int_equal(write_kind(&b, k), -ENOSPC);
	}
}

/* The largest head the parser accepts is rewritten within LK_HTTP_HEAD_MAX
 * plus our own few lines: what we drop is never replaced by more. */
static void test_many_headers(void **state)
{
	char head[LK_HTTP_HEAD_MAX];
	struct lk_obuf b;
	size_t n = 0;
	char mem[LK_HTTP_HEAD_MAX + 128];

	n += (size_t)snprintf(head + n, sizeof(head) - n, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < LK_HTTP_HEADERS_MAX - 2; i++)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "X-%d: v\r\n", i);
	n += (size_t)snprintf(head + n, sizeof(head) - n, "Connection: x-97, x-0\r\n\r\n");
	lk_obuf_init(&b, mem, sizeof(mem));
	assert_int_equal(lk_proxy_write_req_head(&b, req(head), &plain_req), 0);
	assert_null(memmem(b.data, b.len, "X-0:", 4));
	assert_null(memmem(b.data, b.len, "X-97:", 5));
	assert_non_null(memmem(b.data, b.len, "X-96: v\r\n", 9));
	assert_true(b.len < n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_streaming_table),
		cmocka_unit_test(test_streaming_stats),
		cmocka_unit_test(test_attach_or_exec_start),
		cmocka_unit_test(test_hijack),
		cmocka_unit_test(test_req_cli),
		cmocka_unit_test(test_req_connection_named),
		cmocka_unit_test(test_req_framing),
		cmocka_unit_test(test_req_hijack),
		cmocka_unit_test(test_resp_length),
		cmocka_unit_test(test_resp_chunked),
		cmocka_unit_test(test_resp_upgrade),
		cmocka_unit_test(test_resp_eof_and_hop_by_hop),
		cmocka_unit_test(test_error_json),
		cmocka_unit_test(test_error_length_matches),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_many_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
