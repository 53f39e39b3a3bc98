/* tests/unit/test_audit.c - the audit log: line format and field order (spec
 * lookout-core 11 and 17.1), what must never reach the file, the per-worker
 * rings under several producer threads (run this binary under TSan too), a
 * full ring and a stalled sink (producers never block), write errors,
 * reopen after rename, file mode and the stdout/stderr sinks.
 *
 * Every line read back is checked by a small strict JSON parser below, which
 * also returns the top-level keys in order. Tests that wait for the writer
 * poll its counters with a deadline, so a hang fails instead of sticking. */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/audit.h"
#include "core/dbg.h"

#define WAIT_MS 3000

static char g_dir[64];
static char g_path[128];

/* ---- a strict JSON checker ------------------------------------------------ */

#define KV_MAX 24

struct kv {
	char key[32];
	const char *val; /* raw JSON text of the value */
	size_t val_len;
};

struct obj {
	struct kv kv[KV_MAX];
	int n;
};

struct jp {
	const char *p, *end;
};

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t'))
		j->p++;
}

static bool lit(struct jp *j, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool digits(struct jp *j)
{
	const char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool number(struct jp *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!digits(j))
			return false;
	}
	return true;
}

static bool string(struct jp *j)
{
	if (j->p >= j->end || *j->p++ != '"')
		return false;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;

		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (j->p >= j->end)
			return false;
		c = (unsigned char)*j->p++;
		if (c == 'u') {
			for (int i = 0; i < 4; i++, j->p++) {
				if (j->p >= j->end || !isxdigit((unsigned char)*j->p))
					return false;
			}
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
			return false;
		}
	}
	return false;
}

static bool value(struct jp *j, int depth);

static bool members(struct jp *j, int depth, struct obj *o)
{
	skip_ws(j);
	if (lit(j, "}"))
		return true;
	for (;;) {
		const char *k;

		skip_ws(j);
		k = j->p;
		if (!string(j))
			return false;
		if (o != NULL) {
			size_t kl = (size_t)(j->p - k) - 2;

			if (o->n == KV_MAX || kl >= sizeof(o->kv[0].key))
				return false;
			memcpy(o->kv[o->n].key, k + 1, kl);
			o->kv[o->n].key[kl] = '\0';
		}
		skip_ws(j);
		if (!lit(j, ":"))
			return false;
		skip_ws(j);
		if (o != NULL)
			o->kv[o->n].val = j->p;
		if (!value(j, depth + 1))
			return false;
		if (o != NULL) {
			o->kv[o->n].val_len = (size_t)(j->p - o->kv[o->n].val);
			o->n++;
		}
		skip_ws(j);
		if (lit(j, "}"))
			return true;
		if (!lit(j, ","))
			return false;
	}
}

static bool value(struct jp *j, int depth)
{
	if (depth > 16 || j->p >= j->end)
		return false;
	switch (*j->p) {
	case '"':
		return string(j);
	case '{':
		j->p++;
		return members(j, depth, NULL);
	case '[':
		j->p++;
		skip_ws(j);
		if (lit(j, "]"))
			return true;
		for (;;) {
			skip_ws(j);
			if (!value(j, depth + 1))
				return false;
			skip_ws(j);
			if (lit(j, "]"))
				return true;
			if (!lit(j, ","))
				return false;
		}
	case 't':
		return lit(j, "true");
	case 'f':
		return lit(j, "false");
	case 'n':
		return lit(j, "null");
	default:
		return number(j);
	}
}

/* parse_obj checks that s[0..n) is exactly one JSON object and fills o with
 * its top-level members in order. */
static bool parse_obj(const char *s, size_t n, struct obj *o)
{
	struct jp j = { .p = s, .end = s + n };

	o->n = 0;
	skip_ws(&j);
	if (!lit(&j, "{") || !members(&j, 0, o))
		return false;
	skip_ws(&j);
	return j.p == j.end;
}

/* val returns member key's raw JSON text (static buffer) or NULL. */
static const char *val(const struct obj *o, const char *key)
{
	static char buf[8192];

	for (int i = 0; i < o->n; i++) {
		if (strcmp(o->kv[i].key, key) == 0) {
			LK_ASSERT(o->kv[i].val_len < sizeof(buf));
			memcpy(buf, o->kv[i].val, o->kv[i].val_len);
			buf[o->kv[i].val_len] = '\0';
			return buf;
		}
	}
	return NULL;
}

/* keys returns the member names joined with ',' (static buffer). */
static const char *keys(const struct obj *o)
{
	static char buf[1024];
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < o->n; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "," : "", o->kv[i].key);
	return buf;
}

static void test_json_checker(void **state)
{
	struct obj o;

	assert_true(parse_obj("{\"a\":1,\"b\":[true,null,\"x\\u00e9\"],\"c\":{\"d\":-1.5e+3}}",
			      51, &o));
	assert_string_equal(keys(&o), "a,b,c");
	assert_false(parse_obj("{\"a\":1}x", 8, &o));
	assert_false(parse_obj("{\"a\":01}", 8, &o));
	assert_false(parse_obj("{\"a\":\"\n\"}", 9, &o));
	assert_false(parse_obj("{\"a\":\"\\x\"}", 10, &o));
	assert_false(parse_obj("{\"a\" 1}", 7, &o));
}

/* ---- file helpers -------------------------------------------------------- */

static int setup(void **state)
{
	memcpy(g_dir, "/tmp/lk-audit-XXXXXX", 21);
	if (mkdtemp(g_dir) == NULL)
		return -1;
	snprintf(g_path, sizeof(g_path), "%s/audit.log", g_dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static size_t count_nl_in(const char *p, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += p[i] == '\n';
	return c;
}

struct lines {
	char *buf;
	size_t len;
	char **line; /* NUL-terminated, newline removed */
	size_t n;
};

/* read_lines reads path (or fd when path is NULL, until EOF) whole and
 * splits it into lines; the content must end with a newline. */
static void read_lines(const char *path, int fd, struct lines *l)
{
	size_t cap = 1 << 16;
	ssize_t n;
	bool own = path != NULL;

	*l = (struct lines){ .buf = malloc(cap) };
	LK_ASSERT(l->buf != NULL);
	if (own)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	LK_ASSERT(fd >= 0);
	while ((n = read(fd, l->buf + l->len, cap - l->len - 1)) > 0) {
		l->len += (size_t)n;
		if (cap - l->len < 2) {
			cap *= 2;
			l->buf = realloc(l->buf, cap);
			LK_ASSERT(l->buf != NULL);
		}
	}
	if (own)
		close(fd);
	l->buf[l->len] = '\0';
	if (l->len > 0)
		assert_int_equal(l->buf[l->len - 1], '\n');
	l->line = malloc((count_nl_in(l->buf, l->len) + 1) * sizeof(char *));
	LK_ASSERT(l->line != NULL);
	for (char *p = l->buf, *nl; (nl = memchr(p, '\n', l->len - (size_t)(p - l->buf))) != NULL;
	     p = nl + 1) {
		*nl = '\0';
		l->line[l->n++] = p;
	}
}

static void free_lines(struct lines *l)
{
	free(l->line);
	free(l->buf);
}

/* parsed returns line i of l parsed (static object); fails on bad JSON. */
static const struct obj *parsed(const struct lines *l, size_t i)
{
	static struct obj o;

	assert_true(i < l->n);
	if (!parse_obj(l->line[i], strlen(l->line[i]), &o))
		fail_msg("not one JSON object: %s", l->line[i]);
	return &o;
}

static struct lk_audit *open_log(const char *sink, unsigned n, size_t ring)
{
	char err[256];
	struct lk_audit *a = lk_audit_new(sink, n, ring, err, sizeof(err));

	if (a == NULL)
		fail_msg("lk_audit_new(%s): %s", sink, err);
	return a;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void nap(void)
{
	struct timespec ts = { .tv_nsec = 1000000 };

	nanosleep(&ts, NULL);
}

enum stat_field { S_WRITTEN, S_WRITE_ERRORS, S_REOPENS, S_REOPEN_ERRORS };

/* wait_stat waits until the field reaches at least want. */
static void wait_stat(struct lk_audit *a, enum stat_field f, uint64_t want)
{
	uint64_t until = ms_now() + WAIT_MS;
	struct lk_audit_stats s;

	for (;;) {
		uint64_t v;

		lk_audit_stats(a, &s);
		v = f == S_WRITTEN ? s.written
		    : f == S_WRITE_ERRORS ? s.write_errors
		    : f == S_REOPENS ? s.reopens
				     : s.reopen_errors;
		if (v >= want)
			return;
		if (ms_now() > until)
			fail_msg("stat %d stuck at %llu, want %llu", f, (unsigned long long)v,
				 (unsigned long long)want);
		nap();
	}
}

/* api emits the spec 17.1 audit call APIRequest("10.0.0.1", "GET",
 * "/_lookout/info", "allowed", 200, 3.14) as producer p. */
static int api(struct lk_audit *a, unsigned p)
{
	return lk_audit_emit(a, p,
			     &(struct lk_audit_rec){ .event = LK_AUDIT_EVENT_API_REQUEST,
						     .outcome = LK_AUDIT_OUTCOME_ALLOWED,
						     .actor = "10.0.0.1",
						     .method = "GET",
						     .path = "/_lookout/info",
						     .status = 200,
						     .duration_ms = 3.14 });
}

/* ---- time ------------------------------------------------------------------ */

static const char *tfmt(time_t s, long ns)
{
	static char out[48];
	struct timespec ts = { .tv_sec = s, .tv_nsec = ns };
	size_t n = lk__audit_format_time(out, &ts);

	out[n] = '\0';
	return out;
}

static void test_time_format(void **state)
{
	assert_string_equal(tfmt(1768472625, 123456789), "2026-01-15T10:23:45.123456789Z");
	assert_string_equal(tfmt(1768472625, 200000000), "2026-01-15T10:23:45.2Z");
	assert_string_equal(tfmt(1768472625, 0), "2026-01-15T10:23:45Z");
	assert_string_equal(tfmt(1768472625, 1), "2026-01-15T10:23:45.000000001Z");
	assert_string_equal(tfmt(0, 0), "1970-01-01T00:00:00Z");
	assert_string_equal(tfmt(951782400, 0), "2000-02-29T00:00:00Z");
	assert_string_equal(tfmt(1709251199, 0), "2024-02-29T23:59:59Z");
	assert_string_equal(tfmt(4107542400, 0), "2100-03-01T00:00:00Z");
	assert_string_equal(tfmt(253402300799, 999999999), "9999-12-31T23:59:59.999999999Z");
	assert_string_equal(tfmt(-1, 0), "1969-12-31T23:59:59Z");

	/* against gmtime_r over the whole four-digit range */
	uint64_t x = 88172645463325252u;
	for (int i = 0; i < 50000; i++) {
		struct tm tm;
		char want[80];
		time_t s;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		s = (time_t)(x % 253402300800u);
		LK_ASSERT(gmtime_r(&s, &tm) != NULL);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		assert_string_equal(tfmt(s, 0), want);
	}
}

/* check_time checks the shape of a time value and that it is close to now. */
static void check_time(const char *v)
{
	struct tm tm = { 0 };
	const char *rest;
	time_t now = time(NULL), t;

	assert_int_equal(v[0], '"');
	rest = strptime(v + 1, "%Y-%m-%dT%H:%M:%S", &tm);
	assert_non_null(rest);
	if (*rest == '.') {
		int d = 0;

		while (rest[1 + d] >= '0' && rest[1 + d] <= '9')
			d++;
		assert_true(d >= 1 && d <= 9);
		assert_true(rest[d] != '0'); /* trailing zeros trimmed */
		rest += 1 + d;
	}
	assert_string_equal(rest, "Z\"");
	t = timegm(&tm);
	assert_true(t >= now - 60 && t <= now + 1);
}

/* ---- line format ------------------------------------------------------------- */

static void test_api_request_line(void **state)
{
	struct lk_audit *a = open_log(g_path, 1, 0);
	struct lines l;
	const struct obj *o;
	const char *tail;

	assert_int_equal(lk_audit_start(a), 0);
	assert_int_equal(api(a, 0), 0);
	lk_audit_stop(a);
	lk_audit_free(a);
	read_lines(g_path, -1, &l);
	assert_int_equal(l.n, 1);
	o = parsed(&l, 0);
	assert_string_equal(keys(o),
			    "time,level,msg,event,actor,method,path,outcome,status,duration_ms");
	check_time(val(o, "time"));
	/* everything after time, byte for byte as spec 11's example */
	tail = strstr(l.line[0], "Z\",");
	assert_non_null(tail);
	assert_string_equal(tail + 3,
			    "\"level\":\"INFO\",\"msg\":\"\",\"event\":\"api_request\","
			    "\"actor\":\"10.0.0.1\",\"method\":\"GET\",\"path\":\"/_lookout/info\","
			    "\"outcome\":\"allowed\",\"status\":200,\"duration_ms\":3.14}");
	free_lines(&l);
}

static void test_event_shapes(void **state)
{
	struct lk_audit *a = open_log(g_path, 1, 0);
	static const struct {
		struct lk_audit_rec r;
		const char *keys, *tail;
	} rows[] = {
		{ { .event = LK_AUDIT_EVENT_AUTH_FAILURE, .outcome = LK_AUDIT_OUTCOME_DENIED,
		    .actor = "192.0.2.1", .method = "POST", .path = "/containers/create",
		    .cred = "token" },
		  "time,level,msg,event,actor,method,path,outcome,credential",
		  "\"event\":\"auth_failure\",\"actor\":\"192.0.2.1\",\"method\":\"POST\","
		  "\"path\":\"/containers/create\",\"outcome\":\"denied\","
		  "\"credential\":\"token\"}" },
		{ { .event = LK_AUDIT_EVENT_AUTH_FAILURE, .outcome = LK_AUDIT_OUTCOME_DENIED,
		    .actor = "192.0.2.1", .method = "GET", .path = "/info", .key_id =
		    "21fe31dfa154a261", .cred = "ed25519", .reason = "replay" },
		  "time,level,msg,event,actor,method,path,key_id,outcome,credential,reason",
		  "\"event\":\"auth_failure\",\"actor\":\"192.0.2.1\",\"method\":\"GET\","
		  "\"path\":\"/info\",\"key_id\":\"21fe31dfa154a261\",\"outcome\":\"denied\","
		  "\"credential\":\"ed25519\",\"reason\":\"replay\"}" },
		{ { .event = LK_AUDIT_EVENT_RATE_LIMITED, .outcome = LK_AUDIT_OUTCOME_DENIED,
		    .actor = "192.0.2.1", .method = "GET", .path = "/info" },
		  "time,level,msg,event,actor,method,path,outcome",
		  "\"event\":\"rate_limited\",\"actor\":\"192.0.2.1\",\"method\":\"GET\","
		  "\"path\":\"/info\",\"outcome\":\"denied\"}" },
		{ { .event = LK_AUDIT_EVENT_COMPOSE_OP, .outcome = LK_AUDIT_OUTCOME_ERROR,
		    .actor = "192.0.2.1", .operation = "up", .stack = "myapp" },
		  "time,level,msg,event,actor,operation,stack,outcome",
		  "\"event\":\"compose_op\",\"actor\":\"192.0.2.1\",\"operation\":\"up\","
		  "\"stack\":\"myapp\",\"outcome\":\"error\"}" },
		{ { .event = LK_AUDIT_EVENT_EXEC_START, .outcome = LK_AUDIT_OUTCOME_ALLOWED,
		    .actor = "192.0.2.1", .container = "web", .exec_id = "e1" },
		  "time,level,msg,event,actor,container,exec_id,outcome",
		  "\"event\":\"exec_start\",\"actor\":\"192.0.2.1\",\"container\":\"web\","
		  "\"exec_id\":\"e1\",\"outcome\":\"allowed\"}" },
		{ { .event = LK_AUDIT_EVENT_ENROLLMENT, .outcome = LK_AUDIT_OUTCOME_ALLOWED,
		    .actor = "192.0.2.9", .key_id = "21fe31dfa154a261" },
		  "time,level,msg,event,actor,key_id,outcome",
		  "\"event\":\"enrollment\",\"actor\":\"192.0.2.9\","
		  "\"key_id\":\"21fe31dfa154a261\",\"outcome\":\"allowed\"}" },
		{ { .event = LK_AUDIT_EVENT_ENROLLMENT, .outcome = LK_AUDIT_OUTCOME_DENIED,
		    .actor = "192.0.2.9", .key_id = "" },
		  "time,level,msg,event,actor,key_id,outcome",
		  "\"event\":\"enrollment\",\"actor\":\"192.0.2.9\",\"key_id\":\"\","
		  "\"outcome\":\"denied\"}" },
		/* authentication disabled: actor "" (NULL); edge: status 0 */
		{ { .event = LK_AUDIT_EVENT_API_REQUEST, .outcome = LK_AUDIT_OUTCOME_ERROR,
		    .method = "GET", .path = "/_ping", .status = 0, .duration_ms = 0.5 },
		  "time,level,msg,event,actor,method,path,outcome,status,duration_ms",
		  "\"event\":\"api_request\",\"actor\":\"\",\"method\":\"GET\",\"path\":\"/_ping\","
		  "\"outcome\":\"error\",\"status\":0,\"duration_ms\":0.5}" },
	};
	struct lines l;

	assert_int_equal(lk_audit_start(a), 0);
	for (size_t i = 0; i < LK_ARRAY_SIZE(rows); i++)
		assert_int_equal(lk_audit_emit(a, 0, &rows[i].r), 0);
	lk_audit_stop(a);
	lk_audit_free(a);
	read_lines(g_path, -1, &l);
	assert_int_equal(l.n, LK_ARRAY_SIZE(rows));
	for (size_t i = 0; i < LK_ARRAY_SIZE(rows); i++) {
		const struct obj *o = parsed(&l, i);
		const char *tail = strstr(l.line[i], ",\"event\":");

		assert_string_equal(keys(o), rows[i].keys);
		assert_string_equal(val(o, "level"), "\"INFO\"");
		assert_string_equal(val(o, "msg"), "\"\"");
		assert_non_null(tail);
		assert_string_equal(tail + 1, rows[i].tail);
	}
	free_lines(&l);
}

static void test_escaping(void **state)
{
	struct lk_audit *a = open_log(g_path, 1, 0);
	struct lines l;
	const struct obj *o;
	static const char path[] = "/a\r\nb\"c\\d\x01\x7f<\xff\xc3\xa9\0z";

	assert_int_equal(lk_audit_start(a), 0);
	assert_int_equal(
		lk_audit_emit(a, 0,
			      &(struct lk_audit_rec){ .event = LK_AUDIT_EVENT_RATE_LIMITED,
						      .outcome = LK_AUDIT_OUTCOME_DENIED,
						      .actor = "x\n{\"event\":\"forged\"}",
						      .method = "G\rET",
						      .path = path,
						      .path_len = sizeof(path) - 1 }),
		0);
	lk_audit_stop(a);
	lk_audit_free(a);
	read_lines(g_path, -1, &l);
	assert_int_equal(l.n, 1); /* no CR/LF can split a record */
	o = parsed(&l, 0);
	assert_string_equal(val(o, "actor"), "\"x\\n{\\\"event\\\":\\\"forged\\\"}\"");
	assert_string_equal(val(o, "method"), "\"G\\rET\"");
	assert_string_equal(val(o, "path"),
			    "\"/a\\r\\nb\\\"c\\\\d\\u0001\x7f\\u003c\\ufffd\xc3\xa9\\u0000z\"");
	assert_string_equal(val(o, "event"), "\"rate_limited\"");
	assert_null(strchr(l.line[0], '\r'));
	free_lines(&l);
}

static void test_truncation(void **state)
{
	struct lk_audit *a = open_log(g_path, 1, 0);
	static char big[10000], ctl[3000];
	struct lk_audit_rec r;
	struct lines l;
	const struct obj *o;

	memset(big, 'a', sizeof(big) - 1);
	memset(ctl, '\x01', sizeof(ctl) - 1); /* 6 bytes of JSON each */
	r = (struct lk_audit_rec){ .event = LK_AUDIT_EVENT_API_REQUEST,
				   .outcome = LK_AUDIT_OUTCOME_ALLOWED,
				   .actor = big, .method = big, .path = ctl,
				   .operation = big, .stack = big, .container = big,
				   .exec_id = big, .key_id = big, .cred = big, .reason = ctl,
				   .status = -2147483647 - 1,
				   .duration_ms = -1.2345678901234567e-300 };
	assert_int_equal(lk_audit_start(a), 0);
	assert_int_equal(lk_audit_emit(a, 0, &r), 0);
	r = (struct lk_audit_rec){ .event = LK_AUDIT_EVENT_API_REQUEST, .path = big };
	assert_int_equal(lk_audit_emit(a, 0, &r), 0);
	lk_audit_stop(a);
	lk_audit_free(a);
	read_lines(g_path, -1, &l);
	assert_int_equal(l.n, 2);
	for (size_t i = 0; i < 2; i++) {
		o = parsed(&l, i);
		assert_true(strlen(l.line[i]) + 1 <= LK_AUDIT_LINE_MAX);
		assert_string_equal(val(o, "truncated"), "true");
		assert_string_equal(o->kv[o->n - 1].key, "truncated");
	}
	o = parsed(&l, 0);
	assert_int_equal(strlen(val(o, "method")), 64);
	assert_int_equal(strlen(val(o, "actor")), 256);
	assert_string_equal(val(o, "status"), "-2147483648");
	o = parsed(&l, 1);
	assert_int_equal(strlen(val(o, "path")), 1536);
	free_lines(&l);
}

/* ---- secrets ---------------------------------------------------------------- */

#define SECRET "tok-9f8e7d6c5b4a-SECRET"

static void test_no_secrets(void **state)
{
	/* A request head as it sits in a connection buffer; the record takes
	 * views into it the way the middleware takes them from struct
	 * lk_http_req (method and the whole target), next to headers that
	 * carry the secret. */
	static const char head[] =
		"POST /v1.44/build?buildargs=%7B%22pw%22%3A%22" SECRET "%22%7D&t=x HTTP/1.1\r\n"
		"Host: h\r\nAuthorization: Bearer " SECRET "\r\n"
		"X-Lookout-Token: " SECRET "\r\nX-Dd-Agent-Secret: " SECRET "\r\n"
		"X-Registry-Auth: " SECRET "\r\nX-Lookout-Signature: " SECRET "\r\n"
		"Content-Length: 0\r\n\r\n";
	const char *target = head + 5;
	size_t target_len = (size_t)(strchr(target, ' ') - target);
	struct lk_audit *a = open_log(g_path, 1, 0);
	struct lines l;

	assert_int_equal(lk_audit_start(a), 0);
	/* what the auth middleware records, taken from the request as it is */
	for (int i = 0; i < 3; i++) {
		struct lk_audit_rec r = {
			.event = i == 0 ? LK_AUDIT_EVENT_AUTH_FAILURE
				 : i == 1 ? LK_AUDIT_EVENT_RATE_LIMITED
					  : LK_AUDIT_EVENT_API_REQUEST,
			.outcome = i == 2 ? LK_AUDIT_OUTCOME_ALLOWED : LK_AUDIT_OUTCOME_DENIED,
			.actor = "203.0.113.7",
			.method = head,
			.method_len = 4,
			.path = target,
			.path_len = target_len, /* the whole target: audit cuts the query */
			.cred = "token",
			.reason = "bad_token",
			.status = 200,
		};
		assert_int_equal(lk_audit_emit(a, 0, &r), 0);
	}
	/* edge mode: the actor is DRYDOCK_URL, which may embed credentials */
	static const char *const urls[] = {
		"https://drydock:" SECRET "@dd.example.com/api",
		"wss://" SECRET "@dd.example.com",
		"http://u:" SECRET "@dd.example.com?x=@y",
		"https://u:p@x@" SECRET "@dd.example.com:8443/",
	};
	for (size_t i = 0; i < LK_ARRAY_SIZE(urls); i++) {
		assert_int_equal(
			lk_audit_emit(a, 0,
				      &(struct lk_audit_rec){ .event = LK_AUDIT_EVENT_API_REQUEST,
							      .outcome = LK_AUDIT_OUTCOME_ALLOWED,
							      .actor = urls[i], .method = "GET",
							      .path = "/containers/json" }),
			0);
	}
	lk_audit_stop(a);
	lk_audit_free(a);
	read_lines(g_path, -1, &l);
	assert_int_equal(l.n, 3 + LK_ARRAY_SIZE(urls));
	assert_null(strstr(l.buf, "SECRET"));
	assert_null(strstr(l.buf, "buildargs"));
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(val(parsed(&l, i), "path"), "\"/v1.44/build\"");
	assert_string_equal(val(parsed(&l, 3), "actor"), "\"https://dd.example.com/api\"");
	assert_string_equal(val(parsed(&l, 4), "actor"), "\"wss://dd.example.com\"");
	assert_string_equal(val(parsed(&l, 5), "actor"), "\"http://dd.example.com?x=@y\"");
	assert_string_equal(val(parsed(&l, 6), "actor"), "\"https://dd.example.com:8443/\"");
	free_lines(&l);
}

/* ---- several producers --------------------------------------------------------- */

#define MP_THREADS 4
#define MP_RECORDS 3000

struct producer {
	struct lk_audit *a;
	unsigned id;
	uint64_t refused; /* -ENOBUFS results, each retried */
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	uint64_t until = ms_now() + 10000;

	for (unsigned i = 0; i < MP_RECORDS; i++) {
		char actor[16], exec_id[32];
		int rc;

		snprintf(actor, sizeof(actor), "p%u", p->id);
		snprintf(exec_id, sizeof(exec_id), "%u-%06u", p->id, i);
		while ((rc = lk_audit_emit(p->a, p->id,
					   &(struct lk_audit_rec){
						   .event = LK_AUDIT_EVENT_EXEC_START,
						   .outcome = LK_AUDIT_OUTCOME_ALLOWED,
						   .actor = actor, .container = "web",
						   .exec_id = exec_id })) == -ENOBUFS) {
			p->refused++;
			if (ms_now() > until)
				return NULL; /* the check below reports the shortfall */
			sched_yield();
		}
		LK_ASSERT(rc == 0);
	}
	return NULL;
}

static void test_multi_producer(void **state)
{
	struct lk_audit *a = open_log(g_path, MP_THREADS, 16 * 1024); /* small: wraps a lot */
	struct producer p[MP_THREADS];
	pthread_t t[MP_THREADS];
	unsigned next[MP_THREADS] = { 0 };
	uint64_t refused = 0;
	struct lk_audit_stats s;
	struct lines l;

	assert_int_equal(lk_audit_start(a), 0);
	for (unsigned i = 0; i < MP_THREADS; i++) {
		p[i] = (struct producer){ .a = a, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, produce, &p[i]), 0);
	}
	for (unsigned i = 0; i < MP_THREADS; i++) {
		pthread_join(t[i], NULL);
		refused += p[i].refused;
	}
	lk_audit_stop(a);
	lk_audit_stats(a, &s);
	lk_audit_free(a);
	assert_int_equal(s.written, MP_THREADS * MP_RECORDS);
	assert_int_equal(s.dropped, refused);
	assert_int_equal(s.write_errors, 0);

	read_lines(g_path, -1, &l);
	assert_int_equal(l.n, MP_THREADS * MP_RECORDS);
	for (size_t i = 0; i < l.n; i++) {
		const struct obj *o = parsed(&l, i);
		unsigned id, seq;

		assert_string_equal(keys(o),
				    "time,level,msg,event,actor,container,exec_id,outcome");
		assert_int_equal(sscanf(val(o, "exec_id"), "\"%u-%u\"", &id, &seq), 2);
		assert_true(id < MP_THREADS);
		/* each producer's records arrive complete and in order */
		assert_int_equal(seq, next[id]);
		next[id]++;
	}
	for (unsigned i = 0; i < MP_THREADS; i++)
		assert_int_equal(next[i], MP_RECORDS);
	printf("# %u producers x %u records, %llu refusals retried\n", MP_THREADS, MP_RECORDS,
	       (unsigned long long)refused);
	free_lines(&l);
}

/* test_wakeup checks the sleep/wake handshake: a record emitted while the
 * writer sleeps must wake it at once. A lost wake-up would only be repaired
 * by the writer's 1 s idle poll, so each round allows well under that. */
static void test_wakeup(void **state)
{
	struct lk_audit *a = open_log(g_path, 2, 0);
	struct timespec idle = { .tv_nsec = 20 * 1000000 };
	uint64_t worst = 0;

	assert_int_equal(lk_audit_start(a), 0);
	for (unsigned i = 0; i < 20; i++) {
		uint64_t t0;
		struct lk_audit_stats s;

		nanosleep(&idle, NULL); /* let the writer go to sleep */
		t0 = ms_now();
		assert_int_equal(api(a, i % 2), 0);
		do {
			lk_audit_stats(a, &s);
			if (s.written < i + 1)
				sched_yield();
		} while (s.written < i + 1 && ms_now() - t0 < 900);
		assert_int_equal(s.written, i + 1);
		worst = LK_MAX(worst, ms_now() - t0);
	}
	printf("# slowest wake-up: %llu ms\n", (unsigned long long)worst);
	lk_audit_free(a);
}

/* ---- a full ring never blocks --------------------------------------------------- */

static void test_full_ring_unstarted(void **state)
{
	struct lk_audit *a = open_log(g_path, 2, LK_AUDIT_RING_MIN);
	unsigned ok = 0, refused = 0, total = 20000;
	struct lk_audit_stats s;
	struct lines l;
	uint64_t t0 = ms_now();

	/* no writer at all: the ring fills, then every emit is refused at once */
	for (unsigned i = 0; i < total; i++) {
		if (api(a, 0) == 0)
			ok++;
		else
			refused++;
	}
	printf("# %u emits into a full ring took %llu ms\n", total,
	       (unsigned long long)(ms_now() - t0));
	assert_true(ok > 0 && ok < 100);
	assert_int_equal(ok + refused, total);
	/* producer 1's ring is its own */
	assert_int_equal(api(a, 1), 0);
	lk_audit_stats(a, &s);
	assert_int_equal(s.dropped, refused);
	assert_int_equal(s.written, 0);
	/* what fit is written once the writer runs */
	assert_int_equal(lk_audit_start(a), 0);
	wait_stat(a, S_WRITTEN, ok + 1);
	assert_int_equal(api(a, 0), 0); /* room again */
	lk_audit_stop(a);
	lk_audit_stats(a, &s);
	lk_audit_free(a);
	assert_int_equal(s.written, ok + 2);
	read_lines(g_path, -1, &l);
	assert_int_equal(l.n, ok + 2);
	for (size_t i = 0; i < l.n; i++)
		parsed(&l, i);
	free_lines(&l);
}

static void test_stalled_pipe(void **state)
{
	int fds[2];
	char sink[64];
	struct lk_audit *a;
	unsigned ok = 0, total = 10000;
	struct lk_audit_stats s;
	struct lines l;
	uint64_t t0;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_true(fcntl(fds[1], F_SETPIPE_SZ, 4096) >= 4096);
	/* the writer opens the pipe by path, as an operator's FIFO would be */
	snprintf(sink, sizeof(sink), "/proc/self/fd/%d", fds[1]);
	a = open_log(sink, 1, 0);
	assert_int_equal(lk_audit_start(a), 0);
	t0 = ms_now();
	for (unsigned i = 0; i < total; i++)
		ok += api(a, 0) == 0;
	printf("# %u emits against a stalled pipe took %llu ms, %u queued\n", total,
	       (unsigned long long)(ms_now() - t0), ok);
	/* nobody reads the pipe: the writer is stuck, the producer is not */
	assert_true(ok < total);
	t0 = ms_now();
	lk_audit_stop(a);
	printf("# stop took %llu ms\n", (unsigned long long)(ms_now() - t0));
	assert_true(ms_now() - t0 < 3000); /* bounded: LK_AUDIT_STOP_MS plus a poll */
	lk_audit_stats(a, &s);
	lk_audit_free(a);
	assert_true(s.written > 0);
	assert_int_equal(s.written + s.dropped, total);
	assert_int_equal(s.write_errors, 0);
	/* the pipe holds whole lines only */
	close(fds[1]);
	read_lines(NULL, fds[0], &l);
	close(fds[0]);
	assert_int_equal(l.n, s.written);
	for (size_t i = 0; i < l.n; i++)
		parsed(&l, i);
	free_lines(&l);
}

/* ---- write errors and reopen --------------------------------------------------- */

static void test_dev_full(void **state)
{
	struct lk_audit *a = open_log("/dev/full", 1, 0);
	struct lk_audit_stats s;

	assert_int_equal(lk_audit_start(a), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(api(a, 0), 0);
	wait_stat(a, S_WRITE_ERRORS, 3); /* retried, with a backoff */
	lk_audit_stop(a);
	lk_audit_stats(a, &s);
	lk_audit_free(a);
	assert_int_equal(s.written, 0);
	assert_int_equal(s.dropped, 10); /* still queued at stop */
	assert_true(s.write_errors >= 3);
}

static void test_error_then_recovery(void **state)
{
	char link[160], tmp[160], file[160];
	struct lk_audit *a;
	struct lk_audit_stats s;
	struct lines l;

	snprintf(link, sizeof(link), "%s/sink", g_dir);
	snprintf(tmp, sizeof(tmp), "%s/sink.new", g_dir);
	snprintf(file, sizeof(file), "%s/real.log", g_dir);
	assert_int_equal(symlink("/dev/full", link), 0);
	a = open_log(link, 1, 0);
	assert_int_equal(lk_audit_start(a), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(api(a, 0), 0);
	wait_stat(a, S_WRITE_ERRORS, 1);
	/* the disk "frees up": the path now leads to a real file */
	assert_int_equal(symlink(file, tmp), 0);
	assert_int_equal(rename(tmp, link), 0);
	lk_audit_reopen(a);
	wait_stat(a, S_WRITTEN, 5);
	lk_audit_stop(a);
	lk_audit_stats(a, &s);
	lk_audit_free(a);
	assert_int_equal(s.written, 5);
	assert_int_equal(s.dropped, 0); /* failed writes lost nothing */
	assert_int_equal(s.reopens, 1);
	read_lines(file, -1, &l);
	assert_int_equal(l.n, 5);
	free_lines(&l);
}

static void test_reopen_after_rename(void **state)
{
	char old[160];
	struct lk_audit *a = open_log(g_path, 2, 0);
	struct lk_audit_stats s;
	struct stat st;
	struct lines l;

	snprintf(old, sizeof(old), "%s.1", g_path);
	assert_int_equal(lk_audit_start(a), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(api(a, (unsigned)i % 2), 0);
	wait_stat(a, S_WRITTEN, 3);
	assert_int_equal(rename(g_path, old), 0); /* logrotate */
	lk_audit_reopen(a);
	wait_stat(a, S_REOPENS, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(api(a, (unsigned)i % 2), 0);
	lk_audit_stop(a);
	lk_audit_stats(a, &s);
	lk_audit_free(a);
	assert_int_equal(s.written, 7);
	assert_int_equal(s.reopen_errors, 0);
	read_lines(old, -1, &l);
	assert_int_equal(l.n, 3);
	free_lines(&l);
	read_lines(g_path, -1, &l);
	assert_int_equal(l.n, 4);
	free_lines(&l);
	assert_int_equal(stat(g_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_reopen_failure_keeps_file(void **state)
{
	char dir[160], path[192], moved[160], moved_path[192];
	struct lk_audit *a;
	struct lk_audit_stats s;
	struct lines l;

	snprintf(dir, sizeof(dir), "%s/logs", g_dir);
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	snprintf(moved, sizeof(moved), "%s/logs.old", g_dir);
	snprintf(moved_path, sizeof(moved_path), "%s/audit.log", moved);
	assert_int_equal(mkdir(dir, 0700), 0);
	a = open_log(path, 1, 0);
	assert_int_equal(lk_audit_start(a), 0);
	assert_int_equal(rename(dir, moved), 0); /* the path no longer resolves */
	lk_audit_reopen(a);
	wait_stat(a, S_REOPEN_ERRORS, 1);
	assert_int_equal(api(a, 0), 0);
	lk_audit_stop(a);
	lk_audit_stats(a, &s);
	lk_audit_free(a);
	assert_int_equal(s.reopens, 0);
	assert_int_equal(s.written, 1);
	read_lines(moved_path, -1, &l); /* still the old file */
	assert_int_equal(l.n, 1);
	free_lines(&l);
}

static void test_mode_0600(void **state)
{
	mode_t old = umask(0);
	struct lk_audit *a = open_log(g_path, 1, 0);
	struct stat st;

	umask(old);
	assert_int_equal(stat(g_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	lk_audit_free(a); /* never started: free stops nothing and closes the file */
	/* appends, never truncates */
	a = open_log(g_path, 1, 0);
	assert_int_equal(lk_audit_start(a), 0);
	assert_int_equal(api(a, 0), 0);
	lk_audit_free(a);
	a = open_log(g_path, 1, 0);
	assert_int_equal(lk_audit_start(a), 0);
	assert_int_equal(api(a, 0), 0);
	lk_audit_free(a);
	assert_int_equal(stat(g_path, &st), 0);
	struct lines l;
	read_lines(g_path, -1, &l);
	assert_int_equal(l.n, 2);
	free_lines(&l);
}

/* ---- stdout / stderr ------------------------------------------------------------- */

/* std_child runs in a forked child with fd target on a pipe: writes one
 * record through sink and exits 0 on success. */
static void std_child(const char *sink)
{
	char err[256];
	struct lk_audit *a = lk_audit_new(sink, 1, 0, err, sizeof(err));
	struct lk_audit_stats s;

	if (a == NULL || lk_audit_start(a) != 0 || api(a, 0) != 0)
		_exit(2);
	lk_audit_stop(a);
	lk_audit_stats(a, &s);
	lk_audit_free(a);
	_exit(s.written == 1 ? 0 : 3);
}

static void run_std(const char *sink, int target)
{
	int fds[2], status;
	pid_t pid;
	struct lines l;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], target) != target)
			_exit(4);
		close(fds[1]);
		std_child(sink);
	}
	close(fds[1]);
	read_lines(NULL, fds[0], &l);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(val(parsed(&l, 0), "event"), "\"api_request\"");
	free_lines(&l);
}

static void test_std_streams(void **state)
{
	run_std("-", STDOUT_FILENO);
	run_std("stdout", STDOUT_FILENO);
	run_std("stderr", STDERR_FILENO);
}

/* ---- construction ------------------------------------------------------------------ */

static void test_new_errors(void **state)
{
	char err[256] = "x";

	assert_null(lk_audit_new(NULL, 1, 0, err, sizeof(err)));
	assert_string_equal(err, ""); /* disabled, not an error */
	err[0] = 'x';
	assert_null(lk_audit_new("", 1, 0, err, sizeof(err)));
	assert_string_equal(err, "");
	assert_null(lk_audit_new("/nonexistent-lk-dir/audit.log", 1, 0, err, sizeof(err)));
	assert_string_equal(err, "AUDIT_LOG: cannot open /nonexistent-lk-dir/audit.log: "
				 "No such file or directory");
	assert_null(lk_audit_new(g_dir, 1, 0, err, sizeof(err)));
	assert_string_equal(strstr(err, ": Is a directory"), ": Is a directory");
	assert_null(lk_audit_new(g_path, 0, 0, err, sizeof(err)));
	assert_true(strncmp(err, "AUDIT_LOG: ", 11) == 0);
	assert_null(lk_audit_new(g_path, LK_AUDIT_PRODUCERS_MAX + 1, 0, err, sizeof(err)));
	assert_true(strncmp(err, "AUDIT_LOG: ", 11) == 0);
	assert_null(lk_audit_new(g_path, 1, LK_AUDIT_RING_MAX + 1, err, sizeof(err)));
	assert_true(strncmp(err, "AUDIT_LOG: ", 11) == 0);
	/* no err buffer at all */
	assert_null(lk_audit_new("/nonexistent-lk-dir/audit.log", 1, 0, NULL, 0));
}

static void test_null_and_idempotent(void **state)
{
	struct lk_audit *a;

	assert_int_equal(api(NULL, 0), 0); /* no audit log: nothing, no cost */
	lk_audit_reopen(NULL);
	lk_audit_stop(NULL);
	lk_audit_free(NULL);
	a = open_log(g_path, 1, 1); /* rounded up to the minimum */
	lk_audit_stop(a);           /* never started */
	assert_int_equal(lk_audit_start(a), 0);
	lk_audit_reopen(a);
	lk_audit_stop(a);
	lk_audit_stop(a);
	lk_audit_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_checker),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test_setup_teardown(test_api_request_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_producer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wakeup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_ring_unstarted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_pipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dev_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_then_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_failure_keeps_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_0600, setup, teardown),
		cmocka_unit_test_setup_teardown(test_std_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_and_idempotent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
