/* tests/unit/test_log.c - operational log: line shape, escaping, filtering,
 * truncation that keeps the line valid JSON, drops, and lines from several
 * threads never interleaving on a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
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

#include "core/log.h"

static int pipe_r = -1, pipe_w = -1;
static char rbuf[1 << 17];

/* --- a small strict JSON object checker --------------------------------- */

struct kv {
	const char *k, *v; /* raw slices: k without quotes, v as written */
	size_t k_len, v_len;
};

static const char *skip_string(const char *p, const char *end)
{
	if (p >= end || *p++ != '"')
		return NULL;
	while (p < end && *p != '"') {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			if (++p >= end)
				return NULL;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++) {
					if (p + i >= end || strchr("0123456789abcdefABCDEF", p[i]) == NULL)
						return NULL;
				}
				p += 4;
			} else if (strchr("\"\\/bfnrt", *p) == NULL) {
				return NULL;
			}
		}
		p++;
	}
	return p < end ? p + 1 : NULL;
}

static const char *skip_digits(const char *p, const char *end, bool need)
{
	const char *s = p;

	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return need && p == s ? NULL : p;
}

static const char *skip_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if ((p = skip_digits(p, end, true)) == NULL)
		return NULL;
	if (p < end && *p == '.' && (p = skip_digits(p + 1, end, true)) == NULL)
		return NULL;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		p = skip_digits(p, end, true);
	}
	return p;
}

static const char *skip_value(const char *p, const char *end)
{
	static const char *const words[] = { "true", "false", "null" };

	if (p >= end)
		return NULL;
	if (*p == '"')
		return skip_string(p, end);
	for (size_t i = 0; i < 3; i++) {
		size_t l = strlen(words[i]);

		if ((size_t)(end - p) >= l && memcmp(p, words[i], l) == 0)
			return p + l;
	}
	return skip_number(p, end);
}

/* parse_line checks that s[0..n) is exactly one flat JSON object followed by
 * '\n', and returns its fields (or -1). */
static int parse_line(const char *s, size_t n, struct kv *out, int max)
{
	const char *p = s, *end = s + n - 1;
	int cnt = 0;

	if (n < 3 || s[n - 1] != '\n' || *p++ != '{')
		return -1;
	while (p < end && *p != '}') {
		const char *q;

		if (cnt > 0 && *p++ != ',')
			return -1;
		if ((q = skip_string(p, end)) == NULL || q >= end || *q != ':')
			return -1;
		if (cnt < max)
			out[cnt] = (struct kv){ .k = p + 1, .k_len = (size_t)(q - p - 2) };
		p = q + 1;
		if ((q = skip_value(p, end)) == NULL)
			return -1;
		if (cnt < max) {
			out[cnt].v = p;
			out[cnt].v_len = (size_t)(q - p);
		}
		cnt++;
		p = q;
	}
	if (p != end - 1 || *p != '}')
		return -1;
	return cnt;
}

static const struct kv *find(const struct kv *kv, int n, const char *key)
{
	for (int i = 0; i < n; i++) {
		if (kv[i].k_len == strlen(key) && memcmp(kv[i].k, key, kv[i].k_len) == 0)
			return &kv[i];
	}
	return NULL;
}

/* --- pipe helpers -------------------------------------------------------- */

/* read_avail returns everything currently in the pipe (NUL-terminated). */
static size_t read_avail(void)
{
	size_t len = 0;

	for (;;) {
		ssize_t r = read(pipe_r, rbuf + len, sizeof(rbuf) - 1 - len);

		if (r <= 0) {
			assert_true(r == -1 && errno == EAGAIN);
			break;
		}
		len += (size_t)r;
	}
	rbuf[len] = '\0';
	return len;
}

/* read_one returns the single line the last call wrote. */
static size_t read_one(void)
{
	size_t len = read_avail();

	assert_true(len > 0);
	assert_ptr_equal(memchr(rbuf, '\n', len), rbuf + len - 1);
	return len;
}

static int setup(void **state)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pipe_r = fds[0];
	pipe_w = fds[1];
	if (fcntl(pipe_r, F_SETFL, O_NONBLOCK) != 0)
		return -1;
	lk_log_init(LK_LOG_DEBUG, pipe_w);
	return 0;
}

static int teardown(void **state)
{
	lk_log_init(LK_LOG_INFO, STDERR_FILENO);
	close(pipe_r);
	close(pipe_w);
	return 0;
}

static int reset(void **state)
{
	lk_log_init(LK_LOG_DEBUG, pipe_w);
	read_avail();
	return 0;
}

/* check_time checks RFC 3339 UTC with 0-9 fraction digits, none trailing
 * zero, and that it is within a minute of now. */
static void check_time(const char *t, size_t len)
{
	struct tm tm = { 0 };
	const char *p = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
	size_t frac;

	assert_non_null(p);
	assert_int_equal(p - t, 19);
	assert_true(llabs((long long)(timegm(&tm) - time(NULL))) < 60);
	if (*p == '.') {
		frac = strspn(p + 1, "0123456789");
		assert_true(frac >= 1 && frac <= 9);
		assert_true(p[frac] != '0');
		p += 1 + frac;
	}
	assert_int_equal(p - t + 1, len);
	assert_int_equal(*p, 'Z');
}

/* --- tests ---------------------------------------------------------------- */

static void test_shape(void **state)
{
	static const char tail[] = "\",\"level\":\"INFO\",\"msg\":\"hello\",\"k\":\"v\",\"n\":-5,"
				   "\"u\":18446744073709551615,\"b\":true,\"f\":0.5,\"s\":\"abc\","
				   "\"nul\":null}\n";
	size_t len;
	const char *t, *q;

	LK_LOG(LK_LOG_INFO, "hello", LK_LOG_STR("k", "v"), LK_LOG_INT("n", -5),
	       LK_LOG_UINT("u", UINT64_MAX), LK_LOG_BOOL("b", true), LK_LOG_F64("f", 0.5),
	       LK_LOG_STRN("s", "abcdef", 3), LK_LOG_STR("nul", NULL));
	len = read_one();
	assert_true(len < LK_LOG_LINE_MAX);
	assert_memory_equal(rbuf, "{\"time\":\"", 9);
	t = rbuf + 9;
	q = strchr(t, '"');
	assert_non_null(q);
	check_time(t, (size_t)(q - t));
	assert_string_equal(q, tail);
}

static void test_no_fields_and_levels(void **state)
{
	static const char *const names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
	char want[64];

	for (int lvl = LK_LOG_DEBUG; lvl <= LK_LOG_ERROR; lvl++) {
		LK_LOG((enum lk_log_level)lvl, "x");
		read_one();
		snprintf(want, sizeof(want), "\",\"level\":\"%s\",\"msg\":\"x\"}\n", names[lvl]);
		assert_string_equal(strstr(rbuf, "\",\"level\""), want);
		assert_string_equal(lk_log_level_str((enum lk_log_level)lvl), names[lvl]);
	}
}

static void test_f64_special(void **state)
{
	LK_LOG(LK_LOG_INFO, "f", LK_LOG_F64("nan", NAN), LK_LOG_F64("inf", INFINITY),
	       LK_LOG_F64("ninf", -INFINITY), LK_LOG_F64("third", 1.0 / 3.0));
	read_one();
	assert_non_null(strstr(rbuf, "\"nan\":\"NaN\",\"inf\":\"+Inf\",\"ninf\":\"-Inf\","
				     "\"third\":0.3333333333333333}\n"));
}

static void test_escaping(void **state)
{
	struct kv kv[8];
	int n;

	LK_LOG(LK_LOG_WARN, "say \"hi\"\n<b>", LK_LOG_STR("k\"ey", "a\\b\r\x01\xff&"),
	       LK_LOG_STRN("bin", "x\0y", 3));
	n = parse_line(rbuf, read_one(), kv, 8);
	assert_int_equal(n, 5);
	assert_non_null(strstr(rbuf, "\"msg\":\"say \\\"hi\\\"\\n\\u003cb\\u003e\","
				     "\"k\\\"ey\":\"a\\\\b\\r\\u0001\\ufffd\\u0026\","
				     "\"bin\":\"x\\u0000y\"}\n"));
}

static void test_filtering(void **state)
{
	lk_log_init(LK_LOG_WARN, pipe_w);
	assert_false(lk_log_enabled(LK_LOG_DEBUG));
	assert_false(lk_log_enabled(LK_LOG_INFO));
	assert_true(lk_log_enabled(LK_LOG_WARN));
	assert_true(lk_log_enabled(LK_LOG_ERROR));
	LK_LOG(LK_LOG_DEBUG, "no");
	LK_LOG(LK_LOG_INFO, "no", LK_LOG_INT("i", 1));
	assert_int_equal(read_avail(), 0);
	LK_LOG(LK_LOG_ERROR, "yes");
	read_one();
	assert_non_null(strstr(rbuf, "\"level\":\"ERROR\""));

	lk_log_init(LK_LOG_ERROR, pipe_w);
	LK_LOG(LK_LOG_WARN, "no");
	assert_int_equal(read_avail(), 0);
	lk_log_init(LK_LOG_DEBUG, pipe_w);
	assert_true(lk_log_enabled(LK_LOG_DEBUG));
	LK_LOG(LK_LOG_DEBUG, "yes");
	read_one();
}

static void test_level_parse(void **state)
{
	static const struct {
		const char *s;
		int want;
	} cases[] = {
		{ "debug", LK_LOG_DEBUG }, { "DEBUG", LK_LOG_DEBUG }, { "Info", LK_LOG_INFO },
		{ "warn", LK_LOG_WARN },   { "WARNING", LK_LOG_WARN }, { "error", LK_LOG_ERROR },
		{ "ErRoR", LK_LOG_ERROR }, { "", -1 },                 { "verbose", -1 },
		{ "info ", -1 },           { " info", -1 },            { "err", -1 },
		{ "fatal", -1 },           { NULL, -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum lk_log_level lvl = (enum lk_log_level)99;
		int rc = lk_log_level_parse(cases[i].s, &lvl);

		if (cases[i].want < 0) {
			assert_int_equal(rc, -EINVAL);
			assert_int_equal(lvl, 99);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(lvl, cases[i].want);
		}
	}
}

/* check_truncated parses the line just written, checks it is valid, within
 * the limit and marked, and returns its fields. */
static int check_truncated(struct kv *kv, int max)
{
	size_t len = read_one();
	int n = parse_line(rbuf, len, kv, max);
	const struct kv *t;

	assert_true(n > 0);
	assert_true(len <= LK_LOG_LINE_MAX);
	t = find(kv, n, "truncated");
	assert_non_null(t);
	assert_int_equal(t->v_len, 4);
	assert_memory_equal(t->v, "true", 4);
	return n;
}

static void test_truncate_one_big(void **state)
{
	static char big[10000];
	struct kv kv[16];
	const struct kv *v;
	int n;

	memset(big, 'x', sizeof(big));
	LK_LOG(LK_LOG_INFO, "m", LK_LOG_STR("a", "small"), LK_LOG_STRN("big", big, sizeof(big)),
	       LK_LOG_INT("i", 42));
	n = check_truncated(kv, 16);
	assert_int_equal(n, 7);
	assert_memory_equal(find(kv, n, "msg")->v, "\"m\"", 3);
	assert_memory_equal(find(kv, n, "a")->v, "\"small\"", 7);
	assert_memory_equal(find(kv, n, "i")->v, "42", 2);
	v = find(kv, n, "big");
	/* The big value gets everything that is left. */
	assert_true(v->v_len > LK_LOG_LINE_MAX - 200);
	for (size_t i = 1; i + 1 < v->v_len; i++)
		assert_int_equal(v->v[i], 'x');
}

static void test_truncate_fair_share(void **state)
{
	static char big1[6000], big2[9000];
	struct kv kv[16];
	const struct kv *a, *c;
	int n;

	memset(big1, 'a', sizeof(big1));
	memset(big2, 'c', sizeof(big2));
	LK_LOG(LK_LOG_INFO, "m", LK_LOG_STRN("a", big1, sizeof(big1)), LK_LOG_STR("b", "keep me"),
	       LK_LOG_STRN("c", big2, sizeof(big2)));
	n = check_truncated(kv, 16);
	a = find(kv, n, "a");
	c = find(kv, n, "c");
	assert_memory_equal(find(kv, n, "b")->v, "\"keep me\"", 9);
	assert_true(a->v_len > LK_LOG_LINE_MAX / 2 - 100);
	assert_true(a->v_len == c->v_len);
}

static void test_truncate_escapes_and_utf8(void **state)
{
	static char lt[3000], euro[3 * 2000];
	struct kv kv[16];
	const struct kv *e;
	int n;

	memset(lt, '<', sizeof(lt));
	for (size_t i = 0; i < sizeof(euro); i += 3)
		memcpy(euro + i, "\xe2\x82\xac", 3);
	LK_LOG(LK_LOG_INFO, "m", LK_LOG_STRN("lt", lt, sizeof(lt)),
	       LK_LOG_STRN("euro", euro, sizeof(euro)));
	n = check_truncated(kv, 16);
	e = find(kv, n, "euro");
	/* Whole characters only: the value is a run of complete euro signs. */
	assert_int_equal((e->v_len - 2) % 3, 0);
	for (size_t i = 1; i + 1 < e->v_len; i += 3)
		assert_memory_equal(e->v + i, "\xe2\x82\xac", 3);
	e = find(kv, n, "lt");
	assert_int_equal((e->v_len - 2) % 6, 0);
}

static void test_truncate_many_fields(void **state)
{
	struct lk_log_field f[300];
	struct kv kv[400];
	int n;

	for (size_t i = 0; i < 300; i++)
		f[i] = LK_LOG_INT("some_long_field_name", (int64_t)i);
	lk_log_write(LK_LOG_INFO, "many", f, 300);
	n = check_truncated(kv, 400);
	/* time, level, msg, the first LK_LOG_FIELDS_MAX fields, truncated. */
	assert_int_equal(n, 3 + LK_LOG_FIELDS_MAX + 1);
	assert_memory_equal(kv[3 + LK_LOG_FIELDS_MAX - 1].v, "31", 2);

	/* Fewer fields that fit are all kept. */
	lk_log_write(LK_LOG_INFO, "many", f, 100);
	n = parse_line(rbuf, read_one(), kv, 400);
	assert_int_equal(n, 103);
	assert_null(find(kv, n, "truncated"));
}

static void test_truncate_huge_key_and_msg(void **state)
{
	static char key[6000], msg[6000];
	struct kv kv[16];
	const struct kv *m;
	int n;

	memset(key, 'k', sizeof(key) - 1);
	memset(msg, 'm', sizeof(msg) - 1);
	/* Keys are never cut, so a key that cannot fit drops the fields. */
	LK_LOG(LK_LOG_INFO, "short", LK_LOG_STR(key, "v"));
	n = check_truncated(kv, 16);
	assert_int_equal(n, 4);
	assert_memory_equal(find(kv, n, "msg")->v, "\"short\"", 7);

	LK_LOG(LK_LOG_INFO, msg, LK_LOG_STR("k", "v"));
	n = check_truncated(kv, 16);
	assert_int_equal(n, 5);
	m = find(kv, n, "msg");
	assert_true(m->v_len > LK_LOG_LINE_MAX - 200);
	assert_memory_equal(find(kv, n, "k")->v, "\"v\"", 3);
}

/* Around the limit every line is valid and within bounds, and a line that is
 * not marked truncated holds the whole value. */
static void test_truncate_boundary(void **state)
{
	static char val[LK_LOG_LINE_MAX + 100];
	struct kv kv[8];

	memset(val, 'v', sizeof(val));
	for (size_t len = LK_LOG_LINE_MAX - 150; len < sizeof(val); len++) {
		size_t line_len;
		const struct kv *v;
		int n;

		LK_LOG(LK_LOG_INFO, "b", LK_LOG_STRN("v", val, len));
		line_len = read_one();
		assert_true(line_len <= LK_LOG_LINE_MAX);
		n = parse_line(rbuf, line_len, kv, 8);
		assert_true(n == 4 || n == 5);
		v = find(kv, n, "v");
		if (find(kv, n, "truncated") == NULL) {
			assert_int_equal(v->v_len, len + 2);
		} else {
			assert_true(v->v_len < len + 2);
			/* Truncation fills the line up to its last bytes. */
			assert_true(line_len > LK_LOG_LINE_MAX - 8);
		}
	}
}

static void test_dropped(void **state)
{
	int fds[2];
	uint64_t before = lk_log_dropped();
	char fill[4096];

	assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
	memset(fill, 'f', sizeof(fill));
	while (write(fds[1], fill, sizeof(fill)) > 0)
		;
	lk_log_init(LK_LOG_DEBUG, fds[1]);
	errno = 1234;
	LK_LOG(LK_LOG_INFO, "full pipe");
	assert_int_equal(errno, 1234);
	assert_int_equal(lk_log_dropped(), before + 1);
	close(fds[0]);
	close(fds[1]);

	/* A bad fd drops too, and never touches errno. */
	lk_log_init(LK_LOG_DEBUG, fds[1]);
	LK_LOG(LK_LOG_ERROR, "closed fd");
	assert_int_equal(errno, 1234);
	assert_int_equal(lk_log_dropped(), before + 2);

	/* A filtered line is not a drop. */
	lk_log_init(LK_LOG_ERROR, fds[1]);
	LK_LOG(LK_LOG_INFO, "filtered");
	assert_int_equal(lk_log_dropped(), before + 2);
	lk_log_init(LK_LOG_DEBUG, pipe_w);
}

/* --- several threads on one pipe ----------------------------------------- */

#define N_THREADS 4
#define N_LINES 3000

static void *writer(void *arg)
{
	int tid = (int)(intptr_t)arg;
	char pad[LK_LOG_LINE_MAX];

	memset(pad, 'a' + tid, sizeof(pad));
	for (int i = 0; i < N_LINES; i++) {
		size_t len = (size_t)(i * 37 + tid * 11) % sizeof(pad);

		LK_LOG(LK_LOG_INFO, "t", LK_LOG_INT("tid", tid), LK_LOG_INT("seq", i),
		       LK_LOG_STRN("pad", pad, len));
	}
	return NULL;
}

/* check_mt_line checks one line from writer(): valid, and its pad is made
 * of its own thread's letter only, in sequence order. */
static void check_mt_line(const char *s, size_t len, int *next_seq)
{
	struct kv kv[8];
	int n = parse_line(s, len, kv, 8);
	long tid, seq;
	const struct kv *pad;

	assert_true(n == 6 || n == 7);
	tid = strtol(find(kv, n, "tid")->v, NULL, 10);
	seq = strtol(find(kv, n, "seq")->v, NULL, 10);
	assert_true(tid >= 0 && tid < N_THREADS);
	assert_int_equal(seq, next_seq[tid]);
	next_seq[tid]++;
	pad = find(kv, n, "pad");
	for (size_t i = 1; i + 1 < pad->v_len; i++)
		assert_int_equal(pad->v[i], 'a' + tid);
}

static void test_threads_no_interleave(void **state)
{
	pthread_t th[N_THREADS];
	int fds[2], next_seq[N_THREADS] = { 0 }, lines = 0;
	static char buf[1 << 17];
	size_t have = 0;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	lk_log_init(LK_LOG_DEBUG, fds[1]);
	for (int t = 0; t < N_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, writer, (void *)(intptr_t)t), 0);
	while (lines < N_THREADS * N_LINES) {
		ssize_t r = read(fds[0], buf + have, sizeof(buf) - have);
		char *start = buf, *nl;

		assert_true(r > 0);
		have += (size_t)r;
		while ((nl = memchr(start, '\n', have - (size_t)(start - buf))) != NULL) {
			check_mt_line(start, (size_t)(nl - start + 1), next_seq);
			lines++;
			start = nl + 1;
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
	}
	for (int t = 0; t < N_THREADS; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(have, 0);
	for (int t = 0; t < N_THREADS; t++)
		assert_int_equal(next_seq[t], N_LINES);
	lk_log_init(LK_LOG_DEBUG, pipe_w);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_shape, reset),
		cmocka_unit_test_setup(test_no_fields_and_levels, reset),
		cmocka_unit_test_setup(test_f64_special, reset),
		cmocka_unit_test_setup(test_escaping, reset),
		cmocka_unit_test_setup(test_filtering, reset),
		cmocka_unit_test_setup(test_level_parse, reset),
		cmocka_unit_test_setup(test_truncate_one_big, reset),
		cmocka_unit_test_setup(test_truncate_fair_share, reset),
		cmocka_unit_test_setup(test_truncate_escapes_and_utf8, reset),
		cmocka_unit_test_setup(test_truncate_many_fields, reset),
		cmocka_unit_test_setup(test_truncate_huge_key_and_msg, reset),
		cmocka_unit_test_setup(test_truncate_boundary, reset),
		cmocka_unit_test_setup(test_dropped, reset),
		cmocka_unit_test_setup(test_threads_no_interleave, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
