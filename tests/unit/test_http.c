/* tests/unit/test_http.c - HTTP/1.1 codec: head parsers, chunked framing, writer.
 *
 * Every input is parsed the ways a connection can deliver it: in one piece,
 * one byte at a time on a resumed parser, split in two at every offset, and
 * with a fresh parser per prefix; all must agree. Inputs are copied flush
 * against a PROT_NONE page so any read past len faults (picohttpparser's
 * test.c does the same). Table rows become one cmocka test each. */
#include <sys/mman.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/dbg.h"
#include "core/http.h"

/* ---- guard page ---------------------------------------------------------- */

#define GUARD_DATA (64 * 1024)

static char *g_region;
static size_t g_page;

static int group_setup(void **state)
{
	g_page = (size_t)sysconf(_SC_PAGESIZE);
	g_region = mmap(NULL, GUARD_DATA + g_page, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_region == MAP_FAILED)
		return -1;
	return mprotect(g_region + GUARD_DATA, g_page, PROT_NONE);
}

static int group_teardown(void **state)
{
	return munmap(g_region, GUARD_DATA + g_page);
}

/* place copies n bytes of s so that they end right before the guard page. The
 * returned copy is overwritten by the next place(). */
static char *place(const void *s, size_t n)
{
	char *d = g_region + GUARD_DATA - n;

	LK_ASSERT(n <= GUARD_DATA);
	if (n != 0)
		memmove(d, s, n);
	return d;
}

/* ---- head snapshots ------------------------------------------------------- */

/* struct snap is a parse result with views turned into offsets, so results
 * from differently placed copies of one input compare with memcmp. */
struct snap {
	long rc;
	long status;
	const char *why;
	long f[10];
	long n;
	long h[LK_HTTP_HEADERS_MAX][4];
};

static long off_of(const char *p, const char *base)
{
	return p == NULL ? -1 : (long)(p - base);
}

static void snap_take(struct snap *s, ssize_t rc, const struct lk_http_parser *p, const void *out,
		      bool resp, const char *base)
{
	const struct lk_http_header *h;

	memset(s, 0, sizeof(*s));
	s->rc = rc;
	if (rc == LK_HTTP_EPARSE) {
		s->status = p->status;
		s->why = p->reason;
	}
	if (rc <= 0)
		return;
	if (resp) {
		const struct lk_http_resp *r = out;
		long f[] = { r->status, r->minor, off_of(r->reason, base), r->reason_len,
			     r->flags,	r->content_length, r->head_len };

		memcpy(s->f, f, sizeof(f));
		s->n = r->n_headers;
		h = r->headers;
	} else {
		const struct lk_http_req *r = out;
		long f[] = { off_of(r->method, base), r->method_len, off_of(r->target, base),
			     r->target_len, r->path_len, r->meth, r->minor, r->flags,
			     r->content_length, r->head_len };

		memcpy(s->f, f, sizeof(f));
		s->n = r->n_headers;
		h = r->headers;
	}
	for (long i = 0; i < s->n; i++) {
		s->h[i][0] = off_of(h[i].name, base);
		s->h[i][1] = h[i].name_len;
		s->h[i][2] = off_of(h[i].value, base);
		s->h[i][3] = h[i].value_len;
	}
}

/* g_req/g_resp hold the last resumed (or explicit) parse; fresh_snap uses its
 * own pair, since a resumed parse keeps its progress in its out struct. */
static struct lk_http_req g_req, g_fresh_req;
static struct lk_http_resp g_resp, g_fresh_resp;

static ssize_t parse_into(struct lk_http_parser *p, const char *b, size_t k, bool resp,
			  void *out)
{
	if (resp)
		return lk_http_parse_response(p, b, k, out);
	return lk_http_parse_request(p, b, k, out);
}

static void *out_of(bool resp)
{
	return resp ? (void *)&g_resp : (void *)&g_req;
}

static ssize_t parse(struct lk_http_parser *p, const char *b, size_t k, bool resp)
{
	return parse_into(p, b, k, resp, out_of(resp));
}

/* fresh_snap parses the first k bytes of in with a new parser, flush against
 * the guard page. */
static void fresh_snap(const char *in, size_t k, bool resp, uint64_t body_max, struct snap *s)
{
	struct lk_http_parser p;
	const char *b = place(in, k);
	ssize_t rc;

	void *out = resp ? (void *)&g_fresh_resp : (void *)&g_fresh_req;

	lk_http_parser_init(&p, body_max);
	rc = parse_into(&p, b, k, resp, out);
	snap_take(s, rc, &p, out, resp, b);
}

static void assert_snap_eq(const struct snap *a, const struct snap *b)
{
	assert_int_equal(a->rc, b->rc);
	assert_int_equal(a->status, b->status);
	assert_ptr_equal(a->why, b->why);
	assert_memory_equal(a, b, sizeof(*a));
}

/* check_all_ways parses in[0..n) every way a socket can deliver it and checks
 * the results agree with a one-shot parse, which is stored in *whole. With
 * all_prefixes, every prefix is also parsed by a fresh parser (quadratic, so
 * only for short inputs). */
static void check_all_ways(const char *in, size_t n, bool resp, uint64_t body_max,
			   bool all_prefixes, struct snap *whole)
{
	static struct snap s, f;
	struct lk_http_parser p;
	const char *b;

	fresh_snap(in, n, resp, body_max, whole);

	/* one parser, len growing a byte at a time: the resumed result at every
	 * k must equal a fresh parse of the k-byte prefix */
	b = place(in, n);
	lk_http_parser_init(&p, body_max);
	for (size_t k = 0; k <= n; k++) {
		ssize_t rc = parse(&p, b, k, resp);

		snap_take(&s, rc, &p, out_of(resp), resp, b);
		if (k < n && whole->rc > 0)
			assert_int_equal(rc, LK_AGAIN);
		if (all_prefixes) {
			fresh_snap(in, k, resp, body_max, &f);
			b = place(in, n);
			assert_snap_eq(&s, &f);
		}
	}
	assert_snap_eq(&s, whole);

	/* two calls, split at every offset */
	for (size_t cut = 0; cut <= n; cut += all_prefixes ? 1 : 97) {
		lk_http_parser_init(&p, body_max);
		(void)parse(&p, b, cut, resp);
		snap_take(&s, parse(&p, b, n, resp), &p, out_of(resp), resp, b);
		assert_snap_eq(&s, whole);
	}
}

/* ---- valid requests ------------------------------------------------------ */

#define UA "User-Agent: Docker-Client/24.0.7 (linux)\r\n"
#define HOST "Host: api.moby.localhost\r\n"

struct req_ok {
	const char *name;
	const char *in;
	const char *method;
	const char *target;
	uint32_t path_len;
	enum lk_http_method meth;
	uint8_t minor;
	uint32_t flags;
	int64_t cl;
	uint16_t n_headers;
	enum lk_http_body body;
};

static const struct req_ok req_ok_rows[] = {
	{ "req_ok/get_ping", "GET /_ping HTTP/1.1\r\n" HOST UA "\r\n", "GET", "/_ping", 6,
	  LK_HTTP_GET, 1, 0, -1, 2, LK_HTTP_BODY_NONE },
	{ "req_ok/head_ping", "HEAD /_ping HTTP/1.1\r\n" HOST UA "\r\n", "HEAD", "/_ping", 6,
	  LK_HTTP_HEAD, 1, 0, -1, 2, LK_HTTP_BODY_NONE },
	{ "req_ok/containers_json_query",
	  "GET /v1.43/containers/json?all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D "
	  "HTTP/1.1\r\n" HOST UA "\r\n",
	  "GET", "/v1.43/containers/json?all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D",
	  22, LK_HTTP_GET, 1, 0, -1, 2, LK_HTTP_BODY_NONE },
	{ "req_ok/post_create_cl",
	  "POST /v1.43/containers/create?name=web HTTP/1.1\r\n" HOST UA
	  "Content-Length: 1534\r\nContent-Type: application/json\r\n\r\n",
	  "POST", "/v1.43/containers/create?name=web", 24, LK_HTTP_POST, 1, LK_HTTP_F_HAS_CL, 1534,
	  4, LK_HTTP_BODY_LENGTH },
	{ "req_ok/post_build_chunked",
	  "POST /v1.43/build?t=app HTTP/1.1\r\n" HOST UA
	  "Transfer-Encoding: chunked\r\nContent-Type: application/x-tar\r\n\r\n",
	  "POST", "/v1.43/build?t=app", 12, LK_HTTP_POST, 1, LK_HTTP_F_TE | LK_HTTP_F_CHUNKED, -1,
	  4, LK_HTTP_BODY_CHUNKED },
	{ "req_ok/attach_upgrade",
	  "POST /v1.43/containers/4f1a/attach?stderr=1&stdin=1&stdout=1&stream=1 HTTP/1.1\r\n" HOST
	  UA "Content-Length: 0\r\nContent-Type: text/plain\r\nConnection: Upgrade\r\n"
	  "Upgrade: tcp\r\n\r\n",
	  "POST", "/v1.43/containers/4f1a/attach?stderr=1&stdin=1&stdout=1&stream=1", 29,
	  LK_HTTP_POST, 1, LK_HTTP_F_HAS_CL | LK_HTTP_F_UPGRADE | LK_HTTP_F_CONN_UPGRADE, 0, 6,
	  LK_HTTP_BODY_NONE },
	{ "req_ok/exec_start_upgrade",
	  "POST /v1.43/exec/9a2b/start HTTP/1.1\r\n" HOST UA
	  "Content-Length: 28\r\nContent-Type: application/json\r\nConnection: Upgrade\r\n"
	  "Upgrade: tcp\r\n\r\n",
	  "POST", "/v1.43/exec/9a2b/start", 22, LK_HTTP_POST, 1,
	  LK_HTTP_F_HAS_CL | LK_HTTP_F_UPGRADE | LK_HTTP_F_CONN_UPGRADE, 28, 6,
	  LK_HTTP_BODY_LENGTH },
	{ "req_ok/delete", "DELETE /v1.43/containers/web?force=1 HTTP/1.1\r\nHost: h\r\n\r\n",
	  "DELETE", "/v1.43/containers/web?force=1", 21, LK_HTTP_DELETE, 1, 0, -1, 1,
	  LK_HTTP_BODY_NONE },
	{ "req_ok/put", "PUT /v1.43/containers/web/archive?path=%2Ftmp HTTP/1.1\r\nHost: h\r\n"
	  "Content-Length: 10240\r\n\r\n",
	  "PUT", "/v1.43/containers/web/archive?path=%2Ftmp", 29, LK_HTTP_PUT, 1, LK_HTTP_F_HAS_CL,
	  10240, 2, LK_HTTP_BODY_LENGTH },
	{ "req_ok/patch", "PATCH /x HTTP/1.1\r\nHost: h\r\n\r\n", "PATCH", "/x", 2, LK_HTTP_PATCH,
	  1, 0, -1, 1, LK_HTTP_BODY_NONE },
	{ "req_ok/options_star", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "*", 1,
	  LK_HTTP_OPTIONS, 1, 0, -1, 1, LK_HTTP_BODY_NONE },
	{ "req_ok/options_path", "OPTIONS /x HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "/x", 2,
	  LK_HTTP_OPTIONS, 1, 0, -1, 1, LK_HTTP_BODY_NONE },
	{ "req_ok/other_method", "PROPFIND /dav HTTP/1.1\r\nHost: h\r\n\r\n", "PROPFIND", "/dav",
	  4, LK_HTTP_OTHER, 1, 0, -1, 1, LK_HTTP_BODY_NONE },
	{ "req_ok/lowercase_method_is_other", "get / HTTP/1.1\r\nHost: h\r\n\r\n", "get", "/", 1,
	  LK_HTTP_OTHER, 1, 0, -1, 1, LK_HTTP_BODY_NONE },
	{ "req_ok/http10_close", "GET /info HTTP/1.0\r\n\r\n", "GET", "/info", 5, LK_HTTP_GET, 0,
	  LK_HTTP_F_CLOSE, -1, 0, LK_HTTP_BODY_NONE },
	{ "req_ok/http10_keepalive", "GET /info HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET",
	  "/info", 5, LK_HTTP_GET, 0, LK_HTTP_F_KEEPALIVE_10, -1, 1, LK_HTTP_BODY_NONE },
	{ "req_ok/http10_keepalive_close",
	  "GET /info HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
	  "GET", "/info", 5, LK_HTTP_GET, 0, LK_HTTP_F_CLOSE, -1, 1, LK_HTTP_BODY_NONE },
	{ "req_ok/conn_close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "GET", "/",
	  1, LK_HTTP_GET, 1, LK_HTTP_F_CLOSE, -1, 2, LK_HTTP_BODY_NONE },
	{ "req_ok/conn_token_list",
	  "GET / HTTP/1.1\r\nHost: h\r\nConnection: ,, Keep-Alive ,\tUPGRADE,\r\nConnection: TE\r\n"
	  "\r\n",
	  "GET", "/", 1, LK_HTTP_GET, 1, LK_HTTP_F_CONN_UPGRADE, -1, 3, LK_HTTP_BODY_NONE },
	{ "req_ok/leading_crlf_x4", "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/",
	  1,
	  LK_HTTP_GET, 1, 0, -1, 1, LK_HTTP_BODY_NONE },
	{ "req_ok/ows_and_empty_values",
	  "GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\nX-Ows-Only: \t \r\nX-Trim: \t a  b \t\r\n\r\n",
	  "GET", "/", 1, LK_HTTP_GET, 1, 0, -1, 4, LK_HTTP_BODY_NONE },
	{ "req_ok/obs_text_value", "GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\n",
	  "GET", "/", 1, LK_HTTP_GET, 1, 0, -1, 2, LK_HTTP_BODY_NONE },
	{ "req_ok/expect_continue",
	  "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n", "PUT",
	  "/x", 2, LK_HTTP_PUT, 1, LK_HTTP_F_EXPECT_CONTINUE | LK_HTTP_F_HAS_CL, 5, 3,
	  LK_HTTP_BODY_LENGTH },
	{ "req_ok/cl_duplicate_same",
	  "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", "POST",
	  "/x", 2, LK_HTTP_POST, 1, LK_HTTP_F_HAS_CL, 5, 3, LK_HTTP_BODY_LENGTH },
	{ "req_ok/cl_list_same", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5 ,5\r\n\r\n",
	  "POST", "/x", 2, LK_HTTP_POST, 1, LK_HTTP_F_HAS_CL, 5, 2, LK_HTTP_BODY_LENGTH },
	{ "req_ok/cl_leading_zeros", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n",
	  "POST", "/x", 2, LK_HTTP_POST, 1, LK_HTTP_F_HAS_CL, 7, 2, LK_HTTP_BODY_LENGTH },
	{ "req_ok/cl_2pow62",
	  "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4611686018427387904\r\n\r\n", "POST",
	  "/x", 2, LK_HTTP_POST, 1, LK_HTTP_F_HAS_CL, 4611686018427387904ll, 2,
	  LK_HTTP_BODY_LENGTH },
	{ "req_ok/te_case_and_ows",
	  "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \tChunKed \r\n\r\n",
	  "POST", "/x", 2, LK_HTTP_POST, 1, LK_HTTP_F_TE | LK_HTTP_F_CHUNKED, -1, 2,
	  LK_HTTP_BODY_CHUNKED },
	{ "req_ok/target_chars", "GET /a/b;c?x=1&y=[2]?z~!$'()*+,=:@ HTTP/1.1\r\nHost: h\r\n\r\n",
	  "GET", "/a/b;c?x=1&y=[2]?z~!$'()*+,=:@", 6, LK_HTTP_GET, 1, 0, -1, 1,
	  LK_HTTP_BODY_NONE },
	{ "req_ok/header_name_case", "GET / HTTP/1.1\r\nhOsT: h\r\nCONNECTION: CLOSE\r\n\r\n",
	  "GET",
	  "/", 1, LK_HTTP_GET, 1, LK_HTTP_F_CLOSE, -1, 2, LK_HTTP_BODY_NONE },
	{ "req_ok/colon_in_value", "GET / HTTP/1.1\r\nHost: h:2375\r\nX:Y: z\r\n\r\n", "GET", "/",
	  1,
	  LK_HTTP_GET, 1, 0, -1, 2, LK_HTTP_BODY_NONE },
};

static void test_req_ok(void **state)
{
	const struct req_ok *row = *state;
	size_t n = strlen(row->in);
	static struct snap whole;
	const char *b;

	check_all_ways(row->in, n, false, 0, true, &whole);
	assert_int_equal(whole.rc, (long)n);

	/* the fields themselves, from a final one-shot parse */
	struct lk_http_parser p;

	b = place(row->in, n);
	lk_http_parser_init(&p, 0);
	assert_int_equal(lk_http_parse_request(&p, b, n, &g_req), (ssize_t)n);
	assert_int_equal(g_req.method_len, strlen(row->method));
	assert_memory_equal(g_req.method, row->method, g_req.method_len);
	assert_int_equal(g_req.target_len, strlen(row->target));
	assert_memory_equal(g_req.target, row->target, g_req.target_len);
	assert_int_equal(g_req.path_len, row->path_len);
	assert_int_equal(g_req.meth, row->meth);
	assert_int_equal(g_req.minor, row->minor);
	assert_int_equal(g_req.flags, row->flags);
	assert_int_equal(g_req.content_length, row->cl);
	assert_int_equal(g_req.head_len, n);
	assert_int_equal(g_req.n_headers, row->n_headers);
	assert_int_equal(lk_http_req_body(&g_req), row->body);
	for (unsigned i = 0; i < g_req.n_headers; i++) {
		const struct lk_http_header *h = &g_req.headers[i];

		assert_true(h->name >= b && h->name + h->name_len <= b + n);
		assert_true(h->value >= b && h->value + h->value_len <= b + n);
	}
}

/* ---- valid responses ---------------------------------------------------- */

#define DOCKER_HDRS                                                                                \
	"Api-Version: 1.43\r\nDocker-Experimental: false\r\nOstype: linux\r\n"                     \
	"Server: Docker/24.0.7 (linux)\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"

struct resp_ok {
	const char *name;
	const char *in;
	int status;
	const char *reason;
	uint8_t minor;
	uint32_t flags;
	int64_t cl;
	uint16_t n_headers;
	enum lk_http_body body;
	enum lk_http_body body_for_head;
};

static const struct resp_ok resp_ok_rows[] = {
	{ "resp_ok/json_cl",
	  "HTTP/1.1 200 OK\r\n" DOCKER_HDRS
	  "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n",
	  200, "OK", 1, LK_HTTP_F_HAS_CL, 2, 7, LK_HTTP_BODY_LENGTH, LK_HTTP_BODY_NONE },
	{ "resp_ok/upgrade_101",
	  "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
	  "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
	  101, "UPGRADED", 1, LK_HTTP_F_UPGRADE | LK_HTTP_F_CONN_UPGRADE, -1, 3, LK_HTTP_BODY_NONE,
	  LK_HTTP_BODY_NONE },
	{ "resp_ok/chunked",
	  "HTTP/1.1 200 OK\r\n" DOCKER_HDRS "Content-Type: application/json\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n",
	  200, "OK", 1, LK_HTTP_F_TE | LK_HTTP_F_CHUNKED, -1, 7, LK_HTTP_BODY_CHUNKED,
	  LK_HTTP_BODY_NONE },
	{ "resp_ok/gzip_then_chunked",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	  200, "OK", 1, LK_HTTP_F_TE | LK_HTTP_F_CHUNKED, -1, 1, LK_HTTP_BODY_CHUNKED,
	  LK_HTTP_BODY_NONE },
	{ "resp_ok/te_gzip_is_eof", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 200, "OK",
	  1, LK_HTTP_F_TE, -1, 1, LK_HTTP_BODY_EOF, LK_HTTP_BODY_NONE },
	{ "resp_ok/te_chunked_then_gzip_is_eof",
	  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 200,
	  "OK", 1, LK_HTTP_F_TE, -1, 2, LK_HTTP_BODY_EOF, LK_HTTP_BODY_NONE },
	{ "resp_ok/no_content_204", "HTTP/1.1 204 No Content\r\n" DOCKER_HDRS "\r\n", 204,
	  "No Content", 1, 0, -1, 5, LK_HTTP_BODY_NONE, LK_HTTP_BODY_NONE },
	{ "resp_ok/not_modified_304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	  304,
	  "Not Modified", 1, LK_HTTP_F_HAS_CL, 10, 1, LK_HTTP_BODY_NONE, LK_HTTP_BODY_NONE },
	{ "resp_ok/http10_eof", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", 200, "OK", 0,
	  LK_HTTP_F_CLOSE, -1, 1, LK_HTTP_BODY_EOF, LK_HTTP_BODY_NONE },
	{ "resp_ok/http10_keepalive",
	  "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n", 200, "OK", 0,
	  LK_HTTP_F_KEEPALIVE_10 | LK_HTTP_F_HAS_CL, 3, 2, LK_HTTP_BODY_LENGTH, LK_HTTP_BODY_NONE },
	{ "resp_ok/no_reason_no_space", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 200, "", 1,
	  LK_HTTP_F_HAS_CL, 0, 1, LK_HTTP_BODY_NONE, LK_HTTP_BODY_NONE },
	{ "resp_ok/empty_reason", "HTTP/1.1 404 \r\nContent-Length: 29\r\n\r\n", 404, "", 1,
	  LK_HTTP_F_HAS_CL, 29, 1, LK_HTTP_BODY_LENGTH, LK_HTTP_BODY_NONE },
	{ "resp_ok/reason_obs_text_tab", "HTTP/1.1 500 Erreur \xe9\tinterne \r\n\r\n", 500,
	  "Erreur \xe9\tinterne ", 1, 0, -1, 0, LK_HTTP_BODY_EOF, LK_HTTP_BODY_NONE },
	{ "resp_ok/continue_100", "HTTP/1.1 100 Continue\r\n\r\n", 100, "Continue", 1, 0, -1, 0,
	  LK_HTTP_BODY_NONE, LK_HTTP_BODY_NONE },
	{ "resp_ok/close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 200, "OK", 1,
	  LK_HTTP_F_CLOSE, -1, 1, LK_HTTP_BODY_EOF, LK_HTTP_BODY_NONE },
	{ "resp_ok/dup_host_ignored", "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n", 200, "OK", 1,
	  0, -1, 2, LK_HTTP_BODY_EOF, LK_HTTP_BODY_NONE },
};

static void test_resp_ok(void **state)
{
	const struct resp_ok *row = *state;
	size_t n = strlen(row->in);
	static struct snap whole;
	struct lk_http_parser p;
	const char *b;

	check_all_ways(row->in, n, true, 0, true, &whole);
	assert_int_equal(whole.rc, (long)n);

	b = place(row->in, n);
	lk_http_parser_init(&p, 0);
	assert_int_equal(lk_http_parse_response(&p, b, n, &g_resp), (ssize_t)n);
	assert_int_equal(g_resp.status, row->status);
	assert_int_equal(g_resp.reason_len, strlen(row->reason));
	assert_memory_equal(g_resp.reason, row->reason, g_resp.reason_len);
	assert_true(g_resp.reason >= b && g_resp.reason + g_resp.reason_len <= b + n);
	assert_int_equal(g_resp.minor, row->minor);
	assert_int_equal(g_resp.flags, row->flags);
	assert_int_equal(g_resp.content_length, row->cl);
	assert_int_equal(g_resp.head_len, n);
	assert_int_equal(g_resp.n_headers, row->n_headers);
	assert_int_equal(lk_http_resp_body(&g_resp, false), row->body);
	assert_int_equal(lk_http_resp_body(&g_resp, true), row->body_for_head);
}

/* ---- malformed heads ------------------------------------------------------ */

struct head_err {
	const char *name;
	const char *in;
	size_t len;
	uint16_t status;
	const char *why;
	uint64_t body_max;
};

#define RQ "GET / HTTP/1.1\r\nHost: h\r\n"
#define PQ "POST / HTTP/1.1\r\nHost: h\r\n"
/* E: a malformed head (a literal, so sizeof counts embedded NULs); EM: with body_max */
#define E(name, in, status, why) { name, in, sizeof(in) - 1, status, why, 0 }
#define EM(name, in, status, why, max) { name, in, sizeof(in) - 1, status, why, max }

static const struct head_err req_err_rows[] = {
	/* request line */
	E("req_err/method_empty", " / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid method"),
	E("req_err/method_bad_char", "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid method"),
	E("req_err/method_tab", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid method"),
	E("req_err/method_crlf", "GET\r\n\r\n", 400, "invalid method"),
	E("req_err/double_sp_before_target", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "request target not in origin-form"),
	E("req_err/double_sp_before_version", "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "unsupported HTTP version"),
	E("req_err/sp_after_version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400,
	   "unsupported HTTP version"),
	E("req_err/absolute_form", "GET http://docker/_ping HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "request target not in origin-form"),
	E("req_err/authority_form", "GET docker:2375 HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "request target not in origin-form"),
	E("req_err/connect_501", "CONNECT docker:2375 HTTP/1.1\r\nHost: docker:2375\r\n\r\n", 501,
	   "CONNECT not supported"),
	E("req_err/connect_origin_501", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", 501,
	   "CONNECT not supported"),
	E("req_err/star_not_options", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "request target not in origin-form"),
	E("req_err/star_suffix", "OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "request target not in origin-form"),
	E("req_err/target_ctl", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "invalid byte in request target"),
	E("req_err/target_tab", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "invalid byte in request target"),
	E("req_err/target_del", "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "invalid byte in request target"),
	E("req_err/target_0x80", "GET /a\x80 HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "invalid byte in request target"),
	E("req_err/target_0xff", "GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "invalid byte in request target"),
	E("req_err/target_nul", "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "invalid byte in request target"),
	E("req_err/target_fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "invalid byte in request target"),
	E("req_err/no_version", "GET /\r\nHost: h\r\n\r\n", 400, "invalid byte in request target"),
	E("req_err/http_2_0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 400, "unsupported HTTP version"),
	E("req_err/http_1_2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 400, "unsupported HTTP version"),
	E("req_err/http_0_9", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", 400, "unsupported HTTP version"),
	E("req_err/http_lower", "GET / http/1.1\r\nHost: h\r\n\r\n", 400,
	   "unsupported HTTP version"),
	E("req_err/http_1_10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400,
	   "unsupported HTTP version"),
	E("req_err/http_1_dot", "GET / HTTP/1.\r\nHost: h\r\n\r\n", 400,
	   "unsupported HTTP version"),
	E("req_err/rl_bare_lf", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "bare LF"),
	E("req_err/rl_bare_cr", "GET / HTTP/1.1\rHost: h\r\n\r\n", 400, "bare CR"),
	E("req_err/empty_lines_x5", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400,
	   "too many empty lines"),
	E("req_err/leading_bare_lf", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid method"),
	E("req_err/leading_bare_cr", "\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bare CR"),
	/* field lines */
	E("req_err/hdr_bare_lf", "GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "bare LF"),
	E("req_err/hdr_bare_cr", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400, "bare CR"),
	E("req_err/hdr_name_bare_lf", "GET / HTTP/1.1\r\n\nHost: h\r\n\r\n", 400, "bare LF"),
	E("req_err/end_bare_lf", RQ "\n", 400, "bare LF"),
	E("req_err/end_bare_cr", RQ "\rX", 400, "bare CR"),
	E("req_err/hdr_sp_before_colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400,
	   "whitespace before colon"),
	E("req_err/hdr_tab_before_colon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400,
	   "whitespace before colon"),
	E("req_err/hdr_no_colon", RQ "X-Foo\r\n\r\n", 400, "invalid header name"),
	E("req_err/hdr_empty_name", RQ ": x\r\n\r\n", 400, "invalid header name"),
	E("req_err/hdr_bad_name", RQ "X@Y: x\r\n\r\n", 400, "invalid header name"),
	E("req_err/hdr_name_obs_text", RQ "X\xc3\xa9: x\r\n\r\n", 400, "invalid header name"),
	E("req_err/value_nul", RQ "X: a\0b\r\n\r\n", 400, "invalid header value"),
	E("req_err/value_ctl", RQ "X: a\x01" "b\r\n\r\n", 400, "invalid header value"),
	E("req_err/value_vt", RQ "X: a\x0b" "b\r\n\r\n", 400, "invalid header value"),
	E("req_err/value_del", RQ "X: a\x7f" "b\r\n\r\n", 400, "invalid header value"),
	E("req_err/value_lone_cr", RQ "X: a\rb\r\n\r\n", 400, "bare CR"),
	E("req_err/obs_fold_sp", RQ "X: a\r\n b\r\n\r\n", 400, "obs-fold"),
	E("req_err/obs_fold_tab", RQ "X: a\r\n\tb\r\n\r\n", 400, "obs-fold"),
	E("req_err/ws_before_first_header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, "obs-fold"),
	/* Content-Length */
	E("req_err/cl_plus", PQ "Content-Length: +5\r\n\r\n", 400, "invalid Content-Length"),
	E("req_err/cl_minus", PQ "Content-Length: -5\r\n\r\n", 400, "invalid Content-Length"),
	E("req_err/cl_hex", PQ "Content-Length: 0x5\r\n\r\n", 400, "invalid Content-Length"),
	E("req_err/cl_alpha", PQ "Content-Length: 5a\r\n\r\n", 400, "invalid Content-Length"),
	E("req_err/cl_decimal", PQ "Content-Length: 5.0\r\n\r\n", 400, "invalid Content-Length"),
	E("req_err/cl_empty", PQ "Content-Length:\r\n\r\n", 400, "invalid Content-Length"),
	E("req_err/cl_blank", PQ "Content-Length:  \r\n\r\n", 400, "invalid Content-Length"),
	E("req_err/cl_inner_space", PQ "Content-Length: 5 5\r\n\r\n", 400,
	   "invalid Content-Length"),
	E("req_err/cl_empty_element", PQ "Content-Length: 5,,5\r\n\r\n", 400,
	   "invalid Content-Length"),
	E("req_err/cl_trailing_comma", PQ "Content-Length: 5,\r\n\r\n", 400,
	   "invalid Content-Length"),
	E("req_err/cl_overflow", PQ "Content-Length: 99999999999999999999999\r\n\r\n", 400,
	   "invalid Content-Length"),
	E("req_err/cl_2pow62_plus1", PQ "Content-Length: 4611686018427387905\r\n\r\n", 400,
	   "invalid Content-Length"),
	E("req_err/cl_u64_max", PQ "Content-Length: 18446744073709551615\r\n\r\n", 400,
	   "invalid Content-Length"),
	E("req_err/cl_dup_diff", PQ "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
	   "conflicting Content-Length"),
	E("req_err/cl_list_diff", PQ "Content-Length: 5, 6\r\n\r\n", 400, "invalid Content-Length"),
	/* Transfer-Encoding */
	E("req_err/te_then_cl", PQ "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
	   "both Transfer-Encoding and Content-Length"),
	E("req_err/cl_then_te", PQ "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	   "both Transfer-Encoding and Content-Length"),
	E("req_err/te_gzip_chunked", PQ "Transfer-Encoding: gzip, chunked\r\n\r\n", 400,
	   "unsupported Transfer-Encoding"),
	E("req_err/te_chunked_chunked", PQ "Transfer-Encoding: chunked, chunked\r\n\r\n", 400,
	   "unsupported Transfer-Encoding"),
	E("req_err/te_two_headers",
	   PQ "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	   "duplicate Transfer-Encoding"),
	E("req_err/te_identity", PQ "Transfer-Encoding: identity\r\n\r\n", 400,
	   "unsupported Transfer-Encoding"),
	E("req_err/te_chunkedx", PQ "Transfer-Encoding: chunkedx\r\n\r\n", 400,
	   "unsupported Transfer-Encoding"),
	E("req_err/te_chunked_comma", PQ "Transfer-Encoding: chunked,\r\n\r\n", 400,
	   "unsupported Transfer-Encoding"),
	E("req_err/te_empty", PQ "Transfer-Encoding:\r\n\r\n", 400,
	   "unsupported Transfer-Encoding"),
	E("req_err/te_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	   "Transfer-Encoding in HTTP/1.0"),
	/* Host and Connection */
	E("req_err/host_missing", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400, "missing Host"),
	E("req_err/host_duplicate", RQ "Host: other\r\n\r\n", 400, "duplicate Host"),
	E("req_err/conn_bad_token", RQ "Connection: clo se\r\n\r\n", 400,
	   "invalid Connection token"),
	E("req_err/conn_semicolon", RQ "Connection: close;x\r\n\r\n", 400,
	   "invalid Connection token"),
	/* body_max */
	EM("req_err/cl_over_body_max", PQ "Content-Length: 101\r\n\r\n", 413, "body too large",
	    100),
};

static const struct head_err resp_err_rows[] = {
	E("resp_err/code_2_digits", "HTTP/1.1 20 OK\r\n\r\n", 502, "invalid status code"),
	E("resp_err/code_4_digits", "HTTP/1.1 2000 OK\r\n\r\n", 502, "invalid status line"),
	E("resp_err/code_099", "HTTP/1.1 099 X\r\n\r\n", 502, "invalid status code"),
	E("resp_err/code_600", "HTTP/1.1 600 X\r\n\r\n", 502, "invalid status code"),
	E("resp_err/code_alpha", "HTTP/1.1 2x0 OK\r\n\r\n", 502, "invalid status code"),
	E("resp_err/http_2", "HTTP/2 200 OK\r\n\r\n", 502, "unsupported HTTP version"),
	E("resp_err/http_lower", "http/1.1 200 OK\r\n\r\n", 502, "unsupported HTTP version"),
	E("resp_err/http_1_1_no_sp", "HTTP/1.1200 OK\r\n\r\n", 502, "invalid status line"),
	E("resp_err/double_sp", "HTTP/1.1  200 OK\r\n\r\n", 502, "invalid status code"),
	E("resp_err/tab_after_code", "HTTP/1.1 200\tOK\r\n\r\n", 502, "invalid status line"),
	E("resp_err/reason_ctl", "HTTP/1.1 200 O\x01K\r\n\r\n", 502, "invalid reason phrase"),
	E("resp_err/reason_del", "HTTP/1.1 200 O\x7fK\r\n\r\n", 502, "invalid reason phrase"),
	E("resp_err/sl_bare_lf", "HTTP/1.1 200 OK\n\r\n", 502, "bare LF"),
	E("resp_err/sl_bare_cr", "HTTP/1.1 200 OK\rX\r\n\r\n", 502, "bare CR"),
	E("resp_err/leading_crlf", "\r\nHTTP/1.1 200 OK\r\n\r\n", 502, "unsupported HTTP version"),
	E("resp_err/hdr_bare_lf", "HTTP/1.1 200 OK\r\nX: y\n\r\n", 502, "bare LF"),
	E("resp_err/obs_fold", "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", 502, "obs-fold"),
	E("resp_err/sp_before_colon", "HTTP/1.1 200 OK\r\nX : y\r\n\r\n", 502,
	   "whitespace before colon"),
	E("resp_err/te_and_cl",
	   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 502,
	   "both Transfer-Encoding and Content-Length"),
	E("resp_err/te_http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502,
	   "Transfer-Encoding in HTTP/1.0"),
	E("resp_err/cl_bad", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 502,
	   "invalid Content-Length"),
	E("resp_err/cl_dup_diff",
	   "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 502,
	   "conflicting Content-Length"),
	EM("resp_err/cl_over_body_max", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 502,
	    "body too large", 10),
};

static void run_head_err(const struct head_err *row, bool resp)
{
	size_t n = row->len;
	static struct snap whole;

	check_all_ways(row->in, n, resp, row->body_max, true, &whole);
	assert_int_equal(whole.rc, LK_HTTP_EPARSE);
	assert_int_equal(whole.status, row->status);
	assert_string_equal(whole.why, row->why);
}

static void test_req_err(void **state)
{
	run_head_err(*state, false);
}

static void test_resp_err(void **state)
{
	run_head_err(*state, true);
}

/* ---- limits -------------------------------------------------------------- */

static char g_big[GUARD_DATA];

/* error_at feeds in[0..n) byte by byte to a resumed parser and returns the
 * length at which it first failed (0 if it never did). */
static size_t error_at(const char *in, size_t n, bool resp, uint64_t body_max)
{
	struct lk_http_parser p;
	const char *b = place(in, n);

	lk_http_parser_init(&p, body_max);
	for (size_t k = 0; k <= n; k++) {
		ssize_t rc = parse(&p, b, k, resp);

		if (rc == LK_HTTP_EPARSE)
			return k;
		assert_int_equal(rc, LK_AGAIN);
	}
	return 0;
}

/* long_target_request builds a request whose request line, CRLF included, is
 * line_len bytes; with_rest appends the rest of a valid head. */
static size_t long_target_request(size_t line_len, bool with_rest)
{
	size_t k = line_len - strlen("GET / HTTP/1.1\r\n"), n = 0;

	memcpy(g_big, "GET /", 5);
	n = 5;
	memset(g_big + n, 'a', k);
	n += k;
	memcpy(g_big + n, " HTTP/1.1\r\n", 11);
	n += 11;
	if (with_rest) {
		memcpy(g_big + n, "Host: h\r\n\r\n", 11);
		n += 11;
	}
	return n;
}

static void test_limit_414(void **state)
{
	static struct snap whole;
	struct lk_http_parser p;
	size_t n;

	/* exactly LK_HTTP_LINE_MAX passes */
	n = long_target_request(LK_HTTP_LINE_MAX, true);
	check_all_ways(g_big, n, false, 0, false, &whole);
	assert_int_equal(whole.rc, (long)n);
	assert_int_equal(g_req.target_len, LK_HTTP_LINE_MAX - 15);

	n = long_target_request(LK_HTTP_LINE_MAX + 1, true);
	check_all_ways(g_big, n, false, 0, false, &whole);
	assert_int_equal(whole.rc, LK_HTTP_EPARSE);
	assert_int_equal(whole.status, 414);
	/* detected on the first byte past the limit, long before any CRLF */
	assert_int_equal(error_at(g_big, n, false, 0), LK_HTTP_LINE_MAX + 1);

	/* a line of LINE_MAX bytes without CRLF is still only incomplete */
	memset(g_big + 5, 'a', LK_HTTP_LINE_MAX);
	lk_http_parser_init(&p, 0);
	assert_int_equal(lk_http_parse_request(&p, place(g_big, LK_HTTP_LINE_MAX), LK_HTTP_LINE_MAX,
					       &g_req), LK_AGAIN);

	/* the limit counts from the request line, not from skipped CRLFs */
	n = long_target_request(LK_HTTP_LINE_MAX, true);
	memmove(g_big + 4, g_big, n);
	memcpy(g_big, "\r\n\r\n", 4);
	n += 4;
	fresh_snap(g_big, n, false, 0, &whole);
	assert_int_equal(whole.rc, (long)n);
}

/* sized_head builds a head of exactly total bytes (with terminator unless
 * !complete) by padding one header value. */
static size_t sized_head(size_t total, bool resp, bool complete)
{
	const char *start = resp ? "HTTP/1.1 200 OK\r\nX-Pad: "
				 : "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	size_t n = strlen(start), pad = total - n - 4;

	memcpy(g_big, start, n);
	memset(g_big + n, 'v', pad);
	n += pad;
	memcpy(g_big + n, complete ? "\r\n\r\n" : "vvvv", 4);
	return n + 4;
}

static void test_limit_431_size(void **state)
{
	static struct snap whole;

	for (int resp = 0; resp <= 1; resp++) {
		size_t n = sized_head(LK_HTTP_HEAD_MAX, resp, true);

		check_all_ways(g_big, n, resp, 0, false, &whole);
		assert_int_equal(whole.rc, LK_HTTP_HEAD_MAX);

		n = sized_head(LK_HTTP_HEAD_MAX + 1, resp, true);
		check_all_ways(g_big, n, resp, 0, false, &whole);
		assert_int_equal(whole.rc, LK_HTTP_EPARSE);
		assert_int_equal(whole.status, resp ? 502 : 431);
		assert_string_equal(whole.why, "head too large");

		/* no terminator: incomplete at the limit, failed one byte later */
		n = sized_head(LK_HTTP_HEAD_MAX + 1, resp, false);
		assert_int_equal(error_at(g_big, n, resp, 0), LK_HTTP_HEAD_MAX + 1);
	}
}

static size_t many_headers(unsigned count, bool resp)
{
	size_t n = 0;

	n = (size_t)snprintf(g_big, sizeof(g_big), "%s",
			     resp ? "HTTP/1.1 200 OK\r\n" : "GET / HTTP/1.1\r\nHost: h\r\n");
	for (unsigned i = resp ? 0 : 1; i < count; i++)
		n += (size_t)snprintf(g_big + n, sizeof(g_big) - n, "X-%u: v\r\n", i);
	memcpy(g_big + n, "\r\n", 2);
	return n + 2;
}

static void test_limit_431_count(void **state)
{
	static struct snap whole;

	for (int resp = 0; resp <= 1; resp++) {
		size_t n = many_headers(LK_HTTP_HEADERS_MAX, resp);

		check_all_ways(g_big, n, resp, 0, false, &whole);
		assert_int_equal(whole.rc, (long)n);
		assert_int_equal(whole.n, LK_HTTP_HEADERS_MAX);

		n = many_headers(LK_HTTP_HEADERS_MAX + 1, resp);
		check_all_ways(g_big, n, resp, 0, false, &whole);
		assert_int_equal(whole.rc, LK_HTTP_EPARSE);
		assert_int_equal(whole.status, resp ? 502 : 431);
		assert_string_equal(whole.why, "too many header fields");
		/* detected on the first byte of the 101st name */
		assert_int_equal(error_at(g_big, n, resp, 0), n - strlen("X-100: v\r\n\r\n") + 1);
	}
}

static void test_limit_413(void **state)
{
	static const char at[] = PQ "Content-Length: 100\r\n\r\n";
	static const char over[] = PQ "Content-Length: 101\r\n\r\n";
	static const char max[] = PQ "Content-Length: 4611686018427387904\r\n\r\n";
	static const char chunked[] = PQ "Transfer-Encoding: chunked\r\n\r\n";
	static struct snap whole;

	check_all_ways(at, strlen(at), false, 100, true, &whole);
	assert_int_equal(whole.rc, (long)strlen(at));
	check_all_ways(over, strlen(over), false, 100, true, &whole);
	assert_int_equal(whole.rc, LK_HTTP_EPARSE);
	assert_int_equal(whole.status, 413);
	/* 0 = unlimited */
	check_all_ways(max, strlen(max), false, 0, true, &whole);
	assert_int_equal(whole.rc, (long)strlen(max));
	/* chunked requests are bounded by the chunked decoder, not here */
	fresh_snap(chunked, sizeof(chunked) - 1, false, 1, &whole);
	assert_int_equal(whole.rc, sizeof(chunked) - 1);
}

static void test_status_line_limit(void **state)
{
	size_t n = strlen("HTTP/1.1 200 ");

	memcpy(g_big, "HTTP/1.1 200 ", n);
	memset(g_big + n, 'r', LK_HTTP_LINE_MAX);
	assert_int_equal(error_at(g_big, LK_HTTP_LINE_MAX + 1, true, 0), LK_HTTP_LINE_MAX + 1);
}

/* ---- parser behaviour ---------------------------------------------------- */

static void test_bytes_after_head(void **state)
{
	static const char in[] = RQ "\r\nPOST /next HTTP/1.1\r\n";
	struct lk_http_parser p;
	const char *b = place(in, sizeof(in) - 1);
	size_t head = strlen(RQ) + 2;

	lk_http_parser_init(&p, 0);
	assert_int_equal(lk_http_parse_request(&p, b, sizeof(in) - 1, &g_req), (ssize_t)head);
	assert_int_equal(g_req.head_len, head);
	/* a completed parse answers the same again */
	assert_int_equal(lk_http_parse_request(&p, b, sizeof(in) - 1, &g_req), (ssize_t)head);
}

static void test_error_is_sticky(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost : h\r\n\r\n";
	struct lk_http_parser p;
	const char *b = place(in, sizeof(in) - 1);

	lk_http_parser_init(&p, 0);
	assert_int_equal(lk_http_parse_request(&p, b, 21, &g_req), LK_HTTP_EPARSE);
	assert_int_equal(p.status, 400);
	p.status = 0;
	assert_int_equal(lk_http_parse_request(&p, b, sizeof(in) - 1, &g_req), LK_HTTP_EPARSE);
}

/* Already-validated lines are never read again: scribbling over a completed
 * request line and header line after a partial parse changes nothing. */
static void test_no_rescan(void **state)
{
	static const char in[] = "GET /x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n";
	size_t n = sizeof(in) - 1, cut = strlen("GET /x HTTP/1.1\r\nHost: h\r\nX-");
	struct lk_http_parser p;
	char *b = place(in, n);

	lk_http_parser_init(&p, 0);
	assert_int_equal(lk_http_parse_request(&p, b, cut, &g_req), LK_AGAIN);
	memset(b, '\0', strlen("GET /x HTTP/1.1\r\nHost: h\r\n"));
	assert_int_equal(lk_http_parse_request(&p, b, n, &g_req), (ssize_t)n);
	assert_int_equal(g_req.n_headers, 2);
	assert_int_equal(g_req.headers[1].value_len, 1);
	assert_memory_equal(g_req.headers[1].value, "1", 1);
}

static void assert_hdr(const struct lk_http_header *h, const char *name, const char *value)
{
	assert_int_equal(h->name_len, strlen(name));
	assert_memory_equal(h->name, name, h->name_len);
	assert_int_equal(h->value_len, strlen(value));
	assert_memory_equal(h->value, value, h->value_len);
}

static void test_header_views(void **state)
{
	static const char in[] =
		"GET / HTTP/1.1\r\nHost:h\r\nX-Empty:\r\nX-Ows-Only: \t \r\n"
		"X-Trim: \t a  b \t\r\n\r\n";
	struct lk_http_parser p;
	const char *b = place(in, sizeof(in) - 1);

	lk_http_parser_init(&p, 0);
	assert_true(lk_http_parse_request(&p, b, sizeof(in) - 1, &g_req) > 0);
	assert_int_equal(g_req.n_headers, 4);
	assert_hdr(&g_req.headers[0], "Host", "h");
	assert_hdr(&g_req.headers[1], "X-Empty", "");
	/* an empty value points at its line's CR */
	assert_ptr_equal(g_req.headers[1].value,
			 b + strlen("GET / HTTP/1.1\r\nHost:h\r\nX-Empty:"));
	assert_hdr(&g_req.headers[2], "X-Ows-Only", "");
	assert_hdr(&g_req.headers[3], "X-Trim", "a  b");
	assert_ptr_equal(lk_http_find(g_req.headers, g_req.n_headers, "x-trim"), &g_req.headers[3]);
	assert_ptr_equal(lk_http_find(g_req.headers, g_req.n_headers, "X-TRIM"), &g_req.headers[3]);
	assert_null(lk_http_find(g_req.headers, g_req.n_headers, "x-tri"));
	assert_null(lk_http_find(g_req.headers, 0, "host"));
}

/* is_tchar_ref is RFC 9110 5.6.2 written out, independent of the table. */
static bool is_tchar_ref(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_value_ref(int c)
{
	return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

/* byte_ok parses prefix, c, suffix as a whole head and reports success. */
static bool byte_ok(const char *prefix, int c, const char *suffix, bool resp)
{
	static struct snap s;
	char in[128];
	size_t n = (size_t)snprintf(in, sizeof(in), "%s", prefix);

	in[n++] = (char)c;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "%s", suffix);
	fresh_snap(in, n, resp, 0, &s);
	assert_true(s.rc == (long)n || s.rc == LK_HTTP_EPARSE);
	return s.rc > 0;
}

static void test_byte_classes(void **state)
{
	for (int c = 0; c < 256; c++) {
		bool vis = c >= 0x21 && c <= 0x7e;

		assert_int_equal(byte_ok("G", c, "T / HTTP/1.1\r\nHost: h\r\n\r\n", false),
				 is_tchar_ref(c));
		assert_int_equal(byte_ok("GET /a", c, "b HTTP/1.1\r\nHost: h\r\n\r\n", false),
				 vis && c != '#');
		assert_int_equal(byte_ok(RQ "X", c, "Y: v\r\n\r\n", false),
				 is_tchar_ref(c) || c == ':');
		assert_int_equal(byte_ok(RQ "X: a", c, "b\r\n\r\n", false), is_value_ref(c));
		assert_int_equal(byte_ok("HTTP/1.1 200 a", c, "b\r\n\r\n", true), is_value_ref(c));
		assert_int_equal(byte_ok("HTTP/1.1 200 OK\r\nX: a", c, "b\r\n\r\n", true),
				 is_value_ref(c));
	}
}

static void test_body_framing(void **state)
{
	struct lk_http_resp r = { .status = 200, .content_length = -1 };
	struct lk_http_req q = { .content_length = -1 };

	assert_int_equal(lk_http_resp_body(&r, false), LK_HTTP_BODY_EOF);
	r.flags = LK_HTTP_F_HAS_CL;
	r.content_length = 0;
	assert_int_equal(lk_http_resp_body(&r, false), LK_HTTP_BODY_NONE);
	r.content_length = 1;
	assert_int_equal(lk_http_resp_body(&r, false), LK_HTTP_BODY_LENGTH);
	assert_int_equal(lk_http_resp_body(&r, true), LK_HTTP_BODY_NONE);
	for (int s = 100; s < 200; s++) {
		r.status = s;
		assert_int_equal(lk_http_resp_body(&r, false), LK_HTTP_BODY_NONE);
	}
	r.status = 204;
	assert_int_equal(lk_http_resp_body(&r, false), LK_HTTP_BODY_NONE);
	r.status = 304;
	assert_int_equal(lk_http_resp_body(&r, false), LK_HTTP_BODY_NONE);
	r.status = 205;
	r.flags = LK_HTTP_F_TE | LK_HTTP_F_CHUNKED;
	assert_int_equal(lk_http_resp_body(&r, false), LK_HTTP_BODY_CHUNKED);

	assert_int_equal(lk_http_req_body(&q), LK_HTTP_BODY_NONE);
	q.flags = LK_HTTP_F_HAS_CL;
	q.content_length = 0;
	assert_int_equal(lk_http_req_body(&q), LK_HTTP_BODY_NONE);
	q.content_length = 7;
	assert_int_equal(lk_http_req_body(&q), LK_HTTP_BODY_LENGTH);
	q.flags = LK_HTTP_F_TE | LK_HTTP_F_CHUNKED;
	assert_int_equal(lk_http_req_body(&q), LK_HTTP_BODY_CHUNKED);
}

static void test_helpers(void **state)
{
	assert_true(lk_http_name_eq("Content-Length", 14, "content-length"));
	assert_true(lk_http_name_eq("", 0, ""));
	assert_false(lk_http_name_eq("Content-Length", 13, "content-length"));
	assert_false(lk_http_name_eq("Content-Lengthx", 15, "content-length"));
	assert_false(lk_http_name_eq("Content_Length", 14, "content-length"));
	/* only ASCII letters fold: 0xc0 is not 0xe0 */
	assert_false(lk_http_name_eq("\xc0", 1, "\xe0"));

	assert_true(lk_http_token_list_has("close", 5, "close"));
	assert_true(lk_http_token_list_has(" a ,\tClose\t, b", 14, "close"));
	assert_true(lk_http_token_list_has(",,upgrade,,", 11, "upgrade"));
	assert_false(lk_http_token_list_has("closed, xclose", 14, "close"));
	assert_false(lk_http_token_list_has("", 0, "close"));
	assert_false(lk_http_token_list_has("close", 4, "close"));
	assert_false(lk_http_token_list_has("clo se", 6, "close"));
}

/* ---- chunked ------------------------------------------------------------- */

struct chunk_ok {
	const char *name;
	const char *in;
	const char *decoded;
	size_t trailing; /* bytes of in after the body */
};

static const struct chunk_ok chunk_ok_rows[] = {
	{ "chunked_ok/simple", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0 },
	{ "chunked_ok/hex_case", "A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
	  "0123456789abcdefghij", 0 },
	{ "chunked_ok/extensions", "5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello", 0 },
	{ "chunked_ok/extension_bws_quoted", "5 ;a=\"q s\"\r\nhello\r\n0\t;x\r\n\r\n", "hello", 0 },
	{ "chunked_ok/trailers", "3\r\nabc\r\n0\r\nX-Checksum: 1234\r\nX-Other:\r\n\r\n", "abc",
	  0 },
	{ "chunked_ok/empty_body", "0\r\n\r\n", "", 0 },
	{ "chunked_ok/leading_zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", 0 },
	{ "chunked_ok/data_with_crlf", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", 0 },
	{ "chunked_ok/docker_json_stream",
	  "18\r\n{\"stream\":\"Step 1/2 :\"}\n\r\n16\r\n{\"stream\":\" ---> ok\"}\n\r\n0\r\n\r\n",
	  "{\"stream\":\"Step 1/2 :\"}\n{\"stream\":\" ---> ok\"}\n", 0 },
	{ "chunked_ok/trailing_bytes", "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "a", 16 },
	{ "chunked_ok/trailing_after_trailer", "1\r\na\r\n0\r\nT: v\r\n\r\nxyz", "a", 3 },
};

/* scan_pieces scans in[0..n) cut at the given offsets (ascending, ending with
 * n), each piece placed flush against the guard page. Returns the total bytes
 * consumed, or -1 on error (status in *out_status). */
static long scan_pieces(const char *in, size_t n, const size_t *cuts, size_t n_cuts,
			uint64_t body_max, bool *out_done, int *out_status)
{
	struct lk_http_chunked c;
	size_t at = 0;
	long total = 0;

	lk_http_chunked_init(&c, body_max);
	*out_done = false;
	for (size_t i = 0; i < n_cuts; i++) {
		size_t len = cuts[i] - at;
		ssize_t rc;
		bool done;

		rc = lk_http_chunked_scan(&c, place(in + at, len), len, &done);
		if (rc == LK_HTTP_EPARSE) {
			*out_status = c.status;
			return -1;
		}
		assert_true(rc >= 0 && (size_t)rc <= len);
		assert_false(*out_done && rc != 0);
		if (!done)
			assert_int_equal(rc, len);
		total += rc;
		*out_done = *out_done || done;
		at = cuts[i];
	}
	return total;
}

/* decode_pieces decodes in[0..n) delivered in pieces the phr_decode_chunked
 * way: each piece is decoded in place and its output appended to out. Returns
 * the bytes left after the body, LK_AGAIN, or LK_HTTP_EPARSE. */
static long decode_pieces(const char *in, size_t n, const size_t *cuts, size_t n_cuts,
			  uint64_t body_max, char *out, size_t *out_len, int *out_status)
{
	struct lk_http_chunked c;
	size_t at = 0;
	ssize_t rc = LK_AGAIN;

	lk_http_chunked_init(&c, body_max);
	*out_len = 0;
	for (size_t i = 0; i < n_cuts && rc == LK_AGAIN; i++) {
		size_t len = cuts[i] - at;
		char *b = place(in + at, len);

		rc = lk_http_chunked_decode(&c, b, &len);
		if (rc == LK_HTTP_EPARSE) {
			*out_status = c.status;
			return rc;
		}
		memcpy(out + *out_len, b, len);
		*out_len += len;
		if (rc >= 0) {
			/* the rest of this piece must sit right after the data */
			assert_memory_equal(b + len, in + cuts[i] - rc, (size_t)rc);
			return rc + (long)(n - cuts[i]);
		}
		at = cuts[i];
	}
	return rc;
}

static size_t g_cuts[GUARD_DATA];

/* next_cut steps through split points: all of them, or a sample of long
 * inputs that still ends with cut == n (the whole body in one call). */
static size_t next_cut(size_t cut, size_t n, bool every)
{
	if (every || cut == n)
		return cut + 1;
	return LK_MIN(cut + 131, n);
}

static void check_chunk_ok(const char *in, size_t n, const char *decoded, size_t dlen,
			   size_t trailing, uint64_t body_max, bool every_split)
{
	static char out[GUARD_DATA];
	size_t cuts[2], out_len;
	bool done;
	int st = 0;

	/* every two-way split (cut == n is the whole body in one call) */
	for (size_t cut = 0; cut <= n; cut = next_cut(cut, n, every_split)) {
		cuts[0] = cut;
		cuts[1] = n;
		assert_int_equal(scan_pieces(in, n, cuts, 2, body_max, &done, &st), n - trailing);
		assert_true(done);
		assert_int_equal(decode_pieces(in, n, cuts, 2, body_max, out, &out_len, &st),
				 trailing);
		assert_int_equal(out_len, dlen);
		assert_memory_equal(out, decoded, dlen);
	}
	/* byte by byte */
	for (size_t i = 0; i < n; i++)
		g_cuts[i] = i + 1;
	assert_int_equal(scan_pieces(in, n, g_cuts, n, body_max, &done, &st), n - trailing);
	assert_true(done);
	assert_int_equal(decode_pieces(in, n, g_cuts, n, body_max, out, &out_len, &st), trailing);
	assert_int_equal(out_len, dlen);
	assert_memory_equal(out, decoded, dlen);
}

static void test_chunk_ok(void **state)
{
	const struct chunk_ok *row = *state;

	check_chunk_ok(row->in, strlen(row->in), row->decoded, strlen(row->decoded), row->trailing,
		       0, true);
}

struct chunk_err {
	const char *name;
	const char *in;
	size_t len;
	int status;
	const char *why;
	uint64_t body_max;
};

/* C: a malformed chunked body; CM: with body_max */
#define C(name, in, status, why) { name, in, sizeof(in) - 1, status, why, 0 }
#define CM(name, in, status, why, max) { name, in, sizeof(in) - 1, status, why, max }

static const struct chunk_err chunk_err_rows[] = {
	C("chunked_err/empty_size", "\r\n", 400, "invalid chunk size line"),
	C("chunked_err/bad_digit", "g\r\n", 400, "invalid chunk size line"),
	C("chunked_err/negative", "-5\r\nhello\r\n0\r\n\r\n", 400, "invalid chunk size line"),
	C("chunked_err/leading_space", " 5\r\nhello\r\n0\r\n\r\n", 400, "invalid chunk size line"),
	C("chunked_err/prefix_0x", "0x5\r\nhello\r\n0\r\n\r\n", 400, "invalid chunk size line"),
	C("chunked_err/size_bare_lf", "5\nhello\r\n0\r\n\r\n", 400, "bare LF"),
	C("chunked_err/size_bare_cr", "5\rhello\r\n0\r\n\r\n", 400, "bare CR"),
	C("chunked_err/ws_without_ext", "5 \r\nhello\r\n0\r\n\r\n", 400, "invalid chunk size line"),
	C("chunked_err/ext_ctl", "5;a\x01\r\nhello\r\n0\r\n\r\n", 400, "invalid chunk size line"),
	C("chunked_err/ext_del", "5;a\x7f\r\nhello\r\n0\r\n\r\n", 400, "invalid chunk size line"),
	C("chunked_err/ext_bare_lf", "5;a\nhello\r\n0\r\n\r\n", 400, "bare LF"),
	C("chunked_err/data_too_long", "5\r\nhelloX\r\n0\r\n\r\n", 400,
	   "chunk data not followed by CRLF"),
	C("chunked_err/data_bare_lf", "5\r\nhello\n0\r\n\r\n", 400,
	   "chunk data not followed by CRLF"),
	C("chunked_err/data_cr_no_lf", "5\r\nhello\rX0\r\n\r\n", 400, "bare CR"),
	C("chunked_err/digits_17", "00000000000000001\r\na\r\n0\r\n\r\n", 400,
	   "chunk size too long"),
	C("chunked_err/size_u64_max", "ffffffffffffffff\r\n", 400, "chunk size too large"),
	C("chunked_err/size_2pow62_plus1", "4000000000000001\r\n", 400, "chunk size too large"),
	C("chunked_err/trailer_obs_fold", "0\r\nX: a\r\n b\r\n\r\n", 400, "obs-fold"),
	C("chunked_err/trailer_no_colon", "0\r\nX\r\n\r\n", 400, "invalid header name"),
	C("chunked_err/trailer_sp_before_colon", "0\r\nX : a\r\n\r\n", 400,
	   "whitespace before colon"),
	C("chunked_err/trailer_bad_value", "0\r\nX: \x01\r\n\r\n", 400, "invalid header value"),
	C("chunked_err/trailer_bare_lf", "0\r\nX: a\n\r\n", 400, "bare LF"),
	C("chunked_err/end_bare_lf", "0\r\n\n", 400, "bare LF"),
	C("chunked_err/end_bare_cr", "0\r\n\rX", 400, "bare CR"),
	CM("chunked_err/body_max_single", "b\r\n0123456789a\r\n0\r\n\r\n", 413, "body too large",
	    10),
	CM("chunked_err/body_max_sum", "5\r\n01234\r\n6\r\n56789a\r\n0\r\n\r\n", 413,
	    "body too large", 10),
	CM("chunked_err/body_max_huge_size", "10000000000\r\n", 413, "body too large", 10),
};

static void check_chunk_err(const char *in, size_t n, int status, const char *why,
			    uint64_t body_max, bool every_split)
{
	static char out[GUARD_DATA];
	size_t cuts[2], out_len;
	bool done;
	int st = 0;
	struct lk_http_chunked c;
	char *b;

	for (size_t cut = 0; cut <= n; cut = next_cut(cut, n, every_split)) {
		cuts[0] = cut;
		cuts[1] = n;
		st = 0;
		assert_int_equal(scan_pieces(in, n, cuts, 2, body_max, &done, &st), -1);
		assert_int_equal(st, status);
		st = 0;
		assert_int_equal(decode_pieces(in, n, cuts, 2, body_max, out, &out_len, &st),
				 LK_HTTP_EPARSE);
		assert_int_equal(st, status);
	}
	for (size_t i = 0; i < n; i++)
		g_cuts[i] = i + 1;
	assert_int_equal(scan_pieces(in, n, g_cuts, n, body_max, &done, &st), -1);
	assert_int_equal(st, status);

	/* the reason, and the error is sticky */
	lk_http_chunked_init(&c, body_max);
	b = place(in, n);
	assert_int_equal(lk_http_chunked_scan(&c, b, n, &done), LK_HTTP_EPARSE);
	assert_string_equal(c.reason, why);
	assert_int_equal(lk_http_chunked_scan(&c, b, n, &done), LK_HTTP_EPARSE);
	assert_false(done);
}

static void test_chunk_err(void **state)
{
	const struct chunk_err *row = *state;

	check_chunk_err(row->in, row->len, row->status, row->why, row->body_max, true);
}

static void test_chunk_body_max_boundary(void **state)
{
	static const char in[] = "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n";

	check_chunk_ok(in, sizeof(in) - 1, "0123456789", 10, 0, 10, true);
	check_chunk_err(in, sizeof(in) - 1, 413, "body too large", 9, true);
}

static void test_chunk_size_2pow62(void **state)
{
	static const char in[] = "4000000000000000\r\nabc";
	struct lk_http_chunked c;
	bool done;

	lk_http_chunked_init(&c, 0);
	assert_int_equal(lk_http_chunked_scan(&c, in, sizeof(in) - 1, &done), sizeof(in) - 1);
	assert_false(done);
}

static void test_chunk_line_limit(void **state)
{
	size_t n;

	/* "1;" + ext + CRLF == LK_HTTP_CHUNK_LINE_MAX passes */
	memcpy(g_big, "1;", 2);
	memset(g_big + 2, 'e', LK_HTTP_CHUNK_LINE_MAX - 4);
	n = LK_HTTP_CHUNK_LINE_MAX - 2;
	memcpy(g_big + n, "\r\nx\r\n0\r\n\r\n", 10);
	n += 10;
	check_chunk_ok(g_big, n, "x", 1, 0, 0, false);

	memcpy(g_big, "1;", 2);
	memset(g_big + 2, 'e', LK_HTTP_CHUNK_LINE_MAX - 3);
	n = LK_HTTP_CHUNK_LINE_MAX - 1;
	memcpy(g_big + n, "\r\nx\r\n0\r\n\r\n", 10);
	n += 10;
	check_chunk_err(g_big, n, 400, "chunk size line too long", 0, false);
}

static size_t trailer_body(size_t section_len)
{
	size_t n, pad = section_len - strlen("X: \r\n\r\n");

	memcpy(g_big, "0\r\nX: ", 6);
	memset(g_big + 6, 'v', pad);
	n = 6 + pad;
	memcpy(g_big + n, "\r\n\r\n", 4);
	return n + 4;
}

static void test_chunk_trailer_limits(void **state)
{
	size_t n = trailer_body(LK_HTTP_HEAD_MAX);

	check_chunk_ok(g_big, n, "", 0, 0, 0, false);
	n = trailer_body(LK_HTTP_HEAD_MAX + 1);
	check_chunk_err(g_big, n, 431, "trailer section too large", 0, false);

	n = 3;
	memcpy(g_big, "0\r\n", 3);
	for (unsigned i = 0; i < LK_HTTP_HEADERS_MAX; i++)
		n += (size_t)snprintf(g_big + n, sizeof(g_big) - n, "T%u: v\r\n", i);
	memcpy(g_big + n, "\r\n", 2);
	check_chunk_ok(g_big, n + 2, "", 0, 0, 0, false);
	n += (size_t)snprintf(g_big + n, sizeof(g_big) - n, "T: v\r\n\r\n");
	check_chunk_err(g_big, n, 431, "too many trailer fields", 0, false);
}

static void test_chunk_large(void **state)
{
	static char dec[3 * 4096];
	size_t n = 0, d = 0;

	/* three 4 KiB chunks: exercises the bulk data path across splits */
	for (int i = 0; i < 3; i++) {
		n += (size_t)snprintf(g_big + n, sizeof(g_big) - n, "1000\r\n");
		for (int j = 0; j < 4096; j++)
			g_big[n++] = dec[d++] = (char)('a' + (i * 7 + j) % 26);
		memcpy(g_big + n, "\r\n", 2);
		n += 2;
	}
	memcpy(g_big + n, "0\r\n\r\n", 5);
	n += 5;
	check_chunk_ok(g_big, n, dec, d, 0, 0, false);
}

static void test_chunk_after_done(void **state)
{
	static const char in[] = "0\r\n\r\nrest";
	struct lk_http_chunked c;
	char buf[16];
	size_t len = sizeof(in) - 1;
	bool done;

	lk_http_chunked_init(&c, 0);
	assert_int_equal(lk_http_chunked_scan(&c, in, len, &done), 5);
	assert_true(done);
	assert_int_equal(lk_http_chunked_scan(&c, in, len, &done), 0);
	assert_true(done);

	lk_http_chunked_init(&c, 0);
	memcpy(buf, in, len);
	assert_int_equal(lk_http_chunked_decode(&c, buf, &len), 4);
	assert_int_equal(len, 0);
	assert_memory_equal(buf, "rest", 4);
	len = 4;
	assert_int_equal(lk_http_chunked_decode(&c, buf, &len), 4);
	assert_int_equal(len, 0);
}

/* ---- writer -------------------------------------------------------------- */

static char g_wmem[256];

static void assert_obuf(const struct lk_obuf *b, const char *want)
{
	assert_false(b->overflow);
	assert_int_equal(b->len, strlen(want));
	assert_memory_equal(b->data, want, b->len);
}

static void test_writer(void **state)
{
	struct lk_obuf b;

	lk_obuf_init(&b, g_wmem, sizeof(g_wmem));
	lk_http_write_status(&b, 200);
	lk_http_write_header(&b, "Content-Type", "application/json", 16);
	lk_http_write_header(&b, "X-Empty", "", 0);
	lk_http_write_header(&b, "X-Obs", "caf\xc3\xa9\t!", 7);
	lk_http_write_header_u64(&b, "Content-Length", 0);
	lk_http_write_header_u64(&b, "X-Max", UINT64_MAX);
	assert_obuf(&b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Empty: \r\n"
			"X-Obs: caf\xc3\xa9\t!\r\nContent-Length: 0\r\n"
			"X-Max: 18446744073709551615\r\n");

	lk_obuf_init(&b, g_wmem, sizeof(g_wmem));
	lk_http_write_status(&b, 404);
	lk_http_write_status(&b, 431);
	lk_http_write_status(&b, 502);
	lk_http_write_status(&b, 599);
	assert_obuf(&b, "HTTP/1.1 404 Not Found\r\nHTTP/1.1 431 Request Header Fields Too Large\r\n"
			"HTTP/1.1 502 Bad Gateway\r\nHTTP/1.1 599 Unknown\r\n");

	lk_obuf_init(&b, g_wmem, sizeof(g_wmem));
	lk_http_write_chunk_head(&b, 1);
	lk_http_write_chunk_head(&b, 0); /* writes nothing */
	lk_http_write_chunk_head(&b, 0x1f40);
	lk_http_write_chunk_head(&b, SIZE_MAX);
	lk_http_write_last_chunk(&b);
	assert_obuf(&b, "1\r\n1f40\r\nffffffffffffffff\r\n0\r\n\r\n");

	assert_string_equal(lk_http_reason(101), "Switching Protocols");
	assert_string_equal(lk_http_reason(413), "Content Too Large");
	assert_string_equal(lk_http_reason(414), "URI Too Long");
	assert_string_equal(lk_http_reason(501), "Not Implemented");
	assert_string_equal(lk_http_reason(0), "Unknown");
	assert_string_equal(lk_http_reason(-1), "Unknown");
}

/* Values a peer could have supplied can never split the head. */
static void test_writer_refuses_injection(void **state)
{
	static const char *bad_values[] = { "a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x01", "a\x7f" };
	static const char *bad_names[] = { "", "X Y", "X:", "X\r\n", "\xc3\xa9" };
	struct lk_obuf b;

	for (size_t i = 0; i < LK_ARRAY_SIZE(bad_values); i++) {
		lk_obuf_init(&b, g_wmem, sizeof(g_wmem));
		lk_http_write_header(&b, "X", bad_values[i], strlen(bad_values[i]));
		assert_true(b.overflow);
		assert_int_equal(b.len, 0);
	}
	lk_obuf_init(&b, g_wmem, sizeof(g_wmem));
	lk_http_write_header(&b, "X", "a\0b", 3);
	assert_true(b.overflow);
	for (size_t i = 0; i < LK_ARRAY_SIZE(bad_names); i++) {
		lk_obuf_init(&b, g_wmem, sizeof(g_wmem));
		lk_http_write_header(&b, bad_names[i], "v", 1);
		assert_true(b.overflow);
		assert_int_equal(b.len, 0);
	}
}

/* Each writer is all-or-nothing per line, and overflow is sticky. */
static void test_writer_overflow(void **state)
{
	static const char status[] = "HTTP/1.1 200 OK\r\n";
	struct lk_obuf b;

	lk_obuf_init(&b, g_wmem, sizeof(status) - 1);
	lk_http_write_status(&b, 200);
	assert_obuf(&b, status);
	lk_http_write_last_chunk(&b);
	assert_true(b.overflow);
	assert_int_equal(b.len, sizeof(status) - 1);

	lk_obuf_init(&b, g_wmem, sizeof(status) - 2);
	lk_http_write_status(&b, 200);
	assert_true(b.overflow);
	assert_int_equal(b.len, 0);
	lk_http_write_chunk_head(&b, 1); /* would fit, but overflow is sticky */
	assert_int_equal(b.len, 0);

	lk_obuf_init(&b, g_wmem, 10);
	lk_http_write_header(&b, "Name", "value", 5); /* 13 bytes */
	assert_true(b.overflow);
	assert_int_equal(b.len, 0);

	lk_obuf_init(&b, g_wmem, 12);
	lk_http_write_header_u64(&b, "Length", 12345); /* 15 bytes */
	assert_true(b.overflow);
	assert_int_equal(b.len, 0);

	lk_obuf_init(&b, g_wmem, 4);
	lk_http_write_chunk_head(&b, 0x1000); /* 6 bytes */
	assert_true(b.overflow);
	assert_int_equal(b.len, 0);

	lk_obuf_init(&b, g_wmem, 6);
	lk_http_write_chunk_head(&b, 0x1000);
	assert_obuf(&b, "1000\r\n");
}

/* ---- main ---------------------------------------------------------------- */

#define MAX_TESTS 400

static struct CMUnitTest g_tests[MAX_TESTS];
static size_t g_n_tests;

static void add(const char *name, CMUnitTestFunction f, const void *row)
{
	LK_ASSERT(g_n_tests < MAX_TESTS);
	g_tests[g_n_tests++] = (struct CMUnitTest){ .name = name,
						    .test_func = f,
						    .initial_state = (void *)row };
}

#define ADD(f) add(#f, f, NULL)
#define ADD_ROWS(rows, f)                                                                          \
	do {                                                                                       \
		for (size_t i = 0; i < LK_ARRAY_SIZE(rows); i++)                                   \
			add(rows[i].name, f, &rows[i]);                                            \
	} while (0)

int main(void)
{
	ADD_ROWS(req_ok_rows, test_req_ok);
	ADD_ROWS(resp_ok_rows, test_resp_ok);
	ADD_ROWS(req_err_rows, test_req_err);
	ADD_ROWS(resp_err_rows, test_resp_err);
	ADD(test_limit_414);
	ADD(test_limit_431_size);
	ADD(test_limit_431_count);
	ADD(test_limit_413);
	ADD(test_status_line_limit);
	ADD(test_bytes_after_head);
	ADD(test_error_is_sticky);
	ADD(test_no_rescan);
	ADD(test_header_views);
	ADD(test_byte_classes);
	ADD(test_body_framing);
	ADD(test_helpers);
	ADD_ROWS(chunk_ok_rows, test_chunk_ok);
	ADD_ROWS(chunk_err_rows, test_chunk_err);
	ADD(test_chunk_body_max_boundary);
	ADD(test_chunk_size_2pow62);
	ADD(test_chunk_line_limit);
	ADD(test_chunk_trailer_limits);
	ADD(test_chunk_large);
	ADD(test_chunk_after_done);
	ADD(test_writer);
	ADD(test_writer_refuses_injection);
	ADD(test_writer_overflow);
	return _cmocka_run_group_tests("http", g_tests, g_n_tests, group_setup, group_teardown);
}
