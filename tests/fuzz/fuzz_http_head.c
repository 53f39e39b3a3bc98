/* tests/fuzz/fuzz_http_head.c - request and response head parsers.
 *
 * max_len: 20000. That is above LK_HTTP_HEAD_MAX (16384) so the 431 paths are
 * reachable; the corpus holds one seed larger than the head limit, so
 * libFuzzer's default max_len (the largest seed) already covers it.
 *   fuzz_http_head -max_len=20000 -dict=tests/fuzz/http_head.dict \
 *       SCRATCH_DIR tests/fuzz/http_head_corpus
 *
 * Each input is parsed as a request and as a response, three ways: one shot;
 * resumed after a split at a point derived from the first byte; and resumed
 * one byte at a time. The results must be identical (LK_ASSERT: these are our
 * own invariants, not peer data), the head length must not exceed the input,
 * every view must lie inside the head, and errors must carry a status. The
 * input buffer is libFuzzer's exact-size copy, so ASan catches any over-read. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/dbg.h"
#include "core/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* struct result is a parse outcome with views as offsets, for memcmp. */
struct result {
	long rc;
	long status;
	const char *why;
	long f[10];
	long n;
	long h[LK_HTTP_HEADERS_MAX][4];
};

static struct lk_http_req g_req;
static struct lk_http_resp g_resp;

/* in_head checks that the view [p, p + n) lies inside buf[0..head_len). */
static long in_head(const char *p, size_t n, const char *buf, long head_len)
{
	LK_ASSERT(p >= buf);
	LK_ASSERT(p - buf + (long)n <= head_len);
	return p - buf;
}

static void record_headers(struct result *r, const struct lk_http_header *h, long n,
			   const char *buf)
{
	LK_ASSERT(n >= 0 && n <= LK_HTTP_HEADERS_MAX);
	r->n = n;
	for (long i = 0; i < n; i++) {
		LK_ASSERT(h[i].name_len > 0);
		r->h[i][0] = in_head(h[i].name, h[i].name_len, buf, r->rc);
		r->h[i][1] = h[i].name_len;
		r->h[i][2] = in_head(h[i].value, h[i].value_len, buf, r->rc);
		r->h[i][3] = h[i].value_len;
	}
}

static void record(struct result *r, ssize_t rc, const struct lk_http_parser *p, bool resp,
		   const char *buf, size_t size)
{
	memset(r, 0, sizeof(*r));
	r->rc = rc;
	LK_ASSERT(rc == LK_AGAIN || rc == LK_HTTP_EPARSE || (rc > 0 && (size_t)rc <= size));
	LK_ASSERT(rc <= LK_HTTP_HEAD_MAX);
	if (rc == LK_HTTP_EPARSE) {
		LK_ASSERT(p->reason != NULL);
		LK_ASSERT(resp ? p->status == 502 : p->status >= 400 && p->status <= 501);
		r->status = p->status;
		r->why = p->reason;
	}
	if (rc <= 0)
		return;
	if (resp) {
		const struct lk_http_resp *s = &g_resp;

		LK_ASSERT(s->status >= 100 && s->status <= 599);
		LK_ASSERT(s->head_len == rc);
		r->f[0] = s->status;
		r->f[1] = s->minor;
		r->f[2] = in_head(s->reason, s->reason_len, buf, rc);
		r->f[3] = s->reason_len;
		r->f[4] = s->flags;
		r->f[5] = s->content_length;
		record_headers(r, s->headers, s->n_headers, buf);
	} else {
		const struct lk_http_req *q = &g_req;

		LK_ASSERT(q->head_len == rc);
		LK_ASSERT(q->path_len <= q->target_len);
		r->f[0] = in_head(q->method, q->method_len, buf, rc);
		r->f[1] = q->method_len;
		r->f[2] = in_head(q->target, q->target_len, buf, rc);
		r->f[3] = q->target_len;
		r->f[4] = q->path_len;
		r->f[5] = q->meth;
		r->f[6] = q->minor;
		r->f[7] = q->flags;
		r->f[8] = q->content_length;
		record_headers(r, q->headers, q->n_headers, buf);
	}
}

static ssize_t parse(struct lk_http_parser *p, const char *buf, size_t len, bool resp)
{
	if (resp)
		return lk_http_parse_response(p, buf, len, &g_resp);
	return lk_http_parse_request(p, buf, len, &g_req);
}

static void check(const char *buf, size_t size, size_t cut, uint64_t body_max, bool resp)
{
	static struct result whole, split, bytewise;
	struct lk_http_parser p;
	ssize_t rc = LK_AGAIN;

	lk_http_parser_init(&p, body_max);
	record(&whole, parse(&p, buf, size, resp), &p, resp, buf, size);

	lk_http_parser_init(&p, body_max);
	rc = parse(&p, buf, cut, resp);
	/* a prefix can only be incomplete or fail the same way */
	LK_ASSERT(rc == LK_AGAIN || rc == whole.rc);
	record(&split, parse(&p, buf, size, resp), &p, resp, buf, size);
	LK_ASSERT(memcmp(&whole, &split, sizeof(whole)) == 0);

	lk_http_parser_init(&p, body_max);
	for (size_t k = 0; k <= size; k++) {
		rc = parse(&p, buf, k, resp);
		if (rc != LK_AGAIN)
			break;
	}
	record(&bytewise, rc, &p, resp, buf, size);
	LK_ASSERT(memcmp(&whole, &bytewise, sizeof(whole)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t cut = size == 0 ? 0 : size * data[0] / 256;
	/* odd first bytes also exercise the Content-Length bound */
	uint64_t body_max = size != 0 && (data[0] & 1) ? (uint64_t)data[0] * 100 : 0;

	check(buf, size, cut, body_max, false);
	check(buf, size, cut, body_max, true);
	return 0;
}
