/* tests/unit/test_json.c - JSON output helpers: escaping, UTF-8 validation
 * (checked exhaustively against an independent decoder), bounded strings;
 * the object scanner: shapes accepted and refused, escapes, duplicates,
 * trailing data, depth, callback errors; and the tree reader: shapes, paths,
 * numbers at the edges of int64/uint64/double, escapes round-tripped through
 * lk_json_put_val, depth, trailing and truncated input, and documents that
 * end at the last byte of a page so a read past them faults under ASan. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/dbg.h"
#include "core/json.h"

static char mem[1 << 16];
static struct lk_obuf b;

/* str_json returns the JSON form of s[0..n) as a NUL-terminated string. */
static const char *str_json(const char *s, size_t n)
{
	lk_obuf_init(&b, mem, sizeof(mem) - 1);
	lk_json_put_str(&b, s, n);
	assert_false(b.overflow);
	mem[b.len] = '\0';
	return mem;
}

#define EXPECT_STR(in, out) assert_string_equal(str_json((in), sizeof(in) - 1), (out))

static void test_plain(void **state)
{
	EXPECT_STR("", "\"\"");
	EXPECT_STR("hello world", "\"hello world\"");
	EXPECT_STR("a/b'c~\x7f", "\"a/b'c~\x7f\"");
	assert_string_equal(str_json(NULL, 0), "\"\"");
}

static void test_escapes(void **state)
{
	EXPECT_STR("\"", "\"\\\"\"");
	EXPECT_STR("\\", "\"\\\\\"");
	EXPECT_STR("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
	EXPECT_STR("\x01\x1f\b\f", "\"\\u0001\\u001f\\u0008\\u000c\"");
	EXPECT_STR("x\0y", "\"x\\u0000y\"");
	EXPECT_STR("<script>&amp;</script>", "\"\\u003cscript\\u003e\\u0026amp;\\u003c/script\\u003e\"");
}

static void test_utf8_valid(void **state)
{
	EXPECT_STR("\xc3\xa9", "\"\xc3\xa9\"");                 /* U+00E9 */
	EXPECT_STR("\xc2\x80", "\"\xc2\x80\"");                 /* U+0080, smallest 2-byte */
	EXPECT_STR("\xe2\x82\xac", "\"\xe2\x82\xac\"");         /* U+20AC */
	EXPECT_STR("\xe0\xa0\x80", "\"\xe0\xa0\x80\"");         /* U+0800 */
	EXPECT_STR("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");         /* U+D7FF */
	EXPECT_STR("\xee\x80\x80", "\"\xee\x80\x80\"");         /* U+E000 */
	EXPECT_STR("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");         /* U+FFFF */
	EXPECT_STR("\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\""); /* U+10000 */
	EXPECT_STR("\xf0\x9d\x84\x9e", "\"\xf0\x9d\x84\x9e\""); /* U+1D11E */
	EXPECT_STR("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
	/* U+2028/2029 end JavaScript strings: escaped like Go does. */
	EXPECT_STR("a\xe2\x80\xa8" "b\xe2\x80\xa9", "\"a\\u2028b\\u2029\"");
}

#define FFFD "\\ufffd"

static void test_utf8_invalid(void **state)
{
	EXPECT_STR("\x80", "\"" FFFD "\"");                          /* lone continuation */
	EXPECT_STR("\xbf", "\"" FFFD "\"");
	EXPECT_STR("\xc0\x80", "\"" FFFD FFFD "\"");                 /* overlong NUL */
	EXPECT_STR("\xc1\xbf", "\"" FFFD FFFD "\"");                 /* overlong 2-byte */
	EXPECT_STR("\xe0\x80\x80", "\"" FFFD FFFD FFFD "\"");        /* overlong 3-byte */
	EXPECT_STR("\xe0\x9f\xbf", "\"" FFFD FFFD FFFD "\"");
	EXPECT_STR("\xf0\x8f\xbf\xbf", "\"" FFFD FFFD FFFD FFFD "\""); /* overlong 4-byte */
	EXPECT_STR("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"");        /* U+D800 surrogate */
	EXPECT_STR("\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\"");        /* U+DFFF */
	EXPECT_STR("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* U+110000 */
	EXPECT_STR("\xf5\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
	EXPECT_STR("\xfe\xff", "\"" FFFD FFFD "\"");
	EXPECT_STR("\xe2\x82", "\"" FFFD FFFD "\"");                 /* truncated at end */
	EXPECT_STR("\xe2\x82x", "\"" FFFD FFFD "x\"");               /* truncated mid-string */
	EXPECT_STR("\xc3", "\"" FFFD "\"");
	EXPECT_STR("a\xc3\xa9\xff\xc3\xa9", "\"a\xc3\xa9" FFFD "\xc3\xa9\"");
}

/* ref_char is an independent decoder (arithmetic on the code point instead of
 * byte ranges): it returns the length of the valid UTF-8 character at s, or 0. */
static size_t ref_char(const uint8_t *s, size_t n)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* ref_json builds the expected JSON for s[0..n) from ref_char. */
static size_t ref_json(char *out, const uint8_t *s, size_t n)
{
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; i < n;) {
		size_t len = ref_char(s + i, n - i);

		if (len == 0) {
			memcpy(out + o, FFFD, 6);
			o += 6;
			i++;
			continue;
		}
		if (len == 1 && (s[i] < 0x20 || strchr("\"\\<>&", s[i]) != NULL)) {
			if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t' || s[i] == '"' ||
			    s[i] == '\\') {
				out[o++] = '\\';
				out[o++] = s[i] == '\n' ? 'n' : s[i] == '\r' ? 'r' : s[i] == '\t' ? 't' : (char)s[i];
			} else {
				o += (size_t)snprintf(out + o, 7, "\\u%04x", s[i]);
			}
		} else if (len == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
			   (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
			o += (size_t)snprintf(out + o, 7, "\\u%04x", s[i + 2] == 0xa8 ? 0x2028 : 0x2029);
		} else {
			memcpy(out + o, s + i, len);
			o += len;
		}
		i += len;
	}
	out[o++] = '"';
	out[o] = '\0';
	return o;
}

static void check_ref(const uint8_t *s, size_t n)
{
	char want[64];
	size_t want_len = ref_json(want, s, n);

	lk_obuf_init(&b, mem, sizeof(mem));
	lk_json_put_str(&b, (const char *)s, n);
	if (b.len != want_len || memcmp(mem, want, want_len) != 0)
		fail_msg("mismatch for %zu bytes %02x %02x %02x %02x", n, s[0], n > 1 ? s[1] : 0,
			 n > 2 ? s[2] : 0, n > 3 ? s[3] : 0);
	assert_int_equal(lk_json_str_len((const char *)s, n, 1000), want_len);
}

/* Every 1- and 2-byte input, every 3-byte input led by E0..F4, and a
 * deterministic pseudo-random sample of 4- and 5-byte inputs. */
static void test_utf8_exhaustive(void **state)
{
	uint8_t s[5];
	uint64_t x = 0x9e3779b97f4a7c15u;

	for (unsigned a = 0; a < 256; a++) {
		s[0] = (uint8_t)a;
		check_ref(s, 1);
		for (unsigned c = 0; c < 256; c++) {
			s[1] = (uint8_t)c;
			check_ref(s, 2);
		}
	}
	for (unsigned a = 0xe0; a <= 0xf4; a++) {
		for (unsigned c = 0; c < 256; c++) {
			for (unsigned d = 0; d < 256; d++) {
				s[0] = (uint8_t)a;
				s[1] = (uint8_t)c;
				s[2] = (uint8_t)d;
				check_ref(s, 3);
			}
		}
	}
	for (int i = 0; i < 400000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(s, &x, 5);
		s[0] |= 0xe0; /* bias towards multi-byte leads */
		check_ref(s, 4 + (size_t)(i & 1));
	}
}

static void test_key_and_scalars(void **state)
{
	lk_obuf_init(&b, mem, sizeof(mem));
	lk_obuf_put(&b, "{", 1);
	lk_json_put_key(&b, "a\"b");
	lk_json_put_bool(&b, true);
	lk_obuf_put(&b, ",", 1);
	lk_json_put_key(&b, "f");
	lk_json_put_bool(&b, false);
	lk_obuf_put(&b, ",", 1);
	lk_json_put_key(&b, "n");
	lk_json_put_null(&b);
	lk_obuf_put(&b, "}", 1);
	mem[b.len] = '\0';
	assert_string_equal(mem, "{\"a\\\"b\":true,\"f\":false,\"n\":null}");
}

static void test_put_chars(void **state)
{
	/* pieces escape as the whole would, when split at character boundaries */
	lk_obuf_init(&b, mem, sizeof(mem) - 1);
	lk_obuf_put(&b, "\"", 1);
	lk_json_put_chars(&b, "stderr: ", 8);
	lk_json_put_chars(&b, "a\"<\xc3\xa9\n", 6);
	lk_json_put_chars(&b, NULL, 0);
	lk_obuf_put(&b, "\"", 1);
	mem[b.len] = '\0';
	assert_string_equal(mem, "\"stderr: a\\\"\\u003c\xc3\xa9\\n\"");
	assert_string_equal(mem, str_json("stderr: a\"<\xc3\xa9\n", 14));
	/* a sequence split across pieces is not reassembled */
	lk_obuf_init(&b, mem, sizeof(mem) - 1);
	lk_json_put_chars(&b, "\xc3", 1);
	lk_json_put_chars(&b, "\xa9", 1);
	mem[b.len] = '\0';
	assert_string_equal(mem, FFFD FFFD);
}

static const char *f64_json(double v)
{
	lk_obuf_init(&b, mem, sizeof(mem) - 1);
	lk_json_put_f64(&b, v);
	assert_false(b.overflow);
	mem[b.len] = '\0';
	return mem;
}

static void test_f64(void **state)
{
	uint64_t x = 88172645463325252u;

	assert_string_equal(f64_json(0.1), "0.1");
	assert_string_equal(f64_json(0.5), "0.5");
	assert_string_equal(f64_json(3.0), "3");
	assert_string_equal(f64_json(-0.0), "-0");
	assert_string_equal(f64_json(1e21), "1e+21");
	assert_string_equal(f64_json(1.0 / 3.0), "0.3333333333333333");
	assert_string_equal(f64_json(NAN), "\"NaN\"");
	assert_string_equal(f64_json(INFINITY), "\"+Inf\"");
	assert_string_equal(f64_json(-INFINITY), "\"-Inf\"");
	/* Any finite double reads back exactly. */
	for (int i = 0; i < 100000; i++) {
		double d;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&d, &x, sizeof(d));
		if (!isfinite(d))
			continue;
		assert_true(strtod(f64_json(d), NULL) == d);
	}
}

static void test_put_str_max(void **state)
{
	char small[64];
	size_t used;

	/* Fits: whole string. */
	lk_obuf_init(&b, small, sizeof(small));
	used = lk_json_put_str_max(&b, "abc", 3, 5);
	assert_int_equal(used, 3);
	assert_int_equal(b.len, 5);
	assert_memory_equal(small, "\"abc\"", 5);

	/* Cut before an escape that would not fit whole. */
	lk_obuf_init(&b, small, sizeof(small));
	used = lk_json_put_str_max(&b, "ab<", 3, 8);
	assert_int_equal(used, 2);
	assert_int_equal(b.len, 4);
	assert_memory_equal(small, "\"ab\"", 4);

	/* Never split a UTF-8 sequence. */
	lk_obuf_init(&b, small, sizeof(small));
	used = lk_json_put_str_max(&b, "a\xe2\x82\xac", 4, 5);
	assert_int_equal(used, 1);
	assert_memory_equal(small, "\"a\"", 3);
	lk_obuf_init(&b, small, sizeof(small));
	used = lk_json_put_str_max(&b, "a\xe2\x82\xac", 4, 6);
	assert_int_equal(used, 4);
	assert_memory_equal(small, "\"a\xe2\x82\xac\"", 6);

	/* Room for the quotes only. */
	lk_obuf_init(&b, small, sizeof(small));
	assert_int_equal(lk_json_put_str_max(&b, "abc", 3, 2), 0);
	assert_memory_equal(small, "\"\"", 2);
	assert_false(b.overflow);

	/* No room for the quotes: nothing written, overflow flagged. */
	lk_obuf_init(&b, small, sizeof(small));
	assert_int_equal(lk_json_put_str_max(&b, "abc", 3, 1), 0);
	assert_int_equal(b.len, 0);
	assert_true(b.overflow);
}

static void test_str_len(void **state)
{
	assert_int_equal(lk_json_str_len("", 0, 100), 2);
	assert_int_equal(lk_json_str_len("a<\n\xff", 4, 100), 2 + 1 + 6 + 2 + 6);
	assert_int_equal(lk_json_str_len("abcdef", 6, 8), 8);
	assert_int_equal(lk_json_str_len("abcdefg", 7, 8), 9);
	assert_int_equal(lk_json_str_len("abc", 3, 1), 2);
	assert_int_equal(lk_json_str_len(NULL, 0, 0), 1);
}

/* A string that does not fit sets overflow and leaves the buffer usable. */
static void test_overflow(void **state)
{
	char small[8];

	lk_obuf_init(&b, small, sizeof(small));
	lk_json_put_str(&b, "0123456789", 10);
	assert_true(b.overflow);
	assert_true(b.len <= sizeof(small));
	lk_obuf_init(&b, small, sizeof(small));
	lk_json_put_f64(&b, 0.12345678901234567);
	assert_true(b.overflow);
}

/* ---- lk_json_scan_object ------------------------------------------------ */

static const char *const scan_names[] = { "token", "key" };

/* got collects what the scanner reported: the last value and a count per
 * name, and the order of the calls. */
static struct {
	char val[2][256];
	size_t len[2];
	unsigned calls[2];
	char order[16];
	int fail_with; /* returned by the callback when non-zero */
} got;

static int collect(void *arg, size_t idx, const char *s, size_t n)
{
	size_t k = strlen(got.order);

	assert_ptr_equal(arg, &got);
	assert_true(idx < 2);
	assert_true(n < sizeof(got.val[0]));
	memcpy(got.val[idx], s, n);
	got.val[idx][n] = '\0';
	got.len[idx] = n;
	got.calls[idx]++;
	if (k + 1 < sizeof(got.order))
		got.order[k] = (char)('0' + idx);
	return got.fail_with;
}

static int scan(const char *doc)
{
	memset(&got, 0, sizeof(got));
	return lk_json_scan_object(doc, strlen(doc), scan_names, 2, collect, &got);
}

static void test_scan_object(void **state)
{
	assert_int_equal(scan("{\"token\": \"abc\", \"key\": \"K\"}"), 0);
	assert_string_equal(got.val[0], "abc");
	assert_string_equal(got.val[1], "K");
	assert_string_equal(got.order, "01");
	/* unknown members of any type are skipped, nested names do not count */
	assert_int_equal(scan(" {\"x\": [1, {\"token\": \"no\"}], \"n\": 1e999, "
			      "\"big\": 123456789012345678901234567890, \"b\": true, "
			      "\"o\": {\"key\": \"no\"}, \"key\": \"yes\"}\r\n\t "),
			 0);
	assert_int_equal(got.calls[0], 0);
	assert_int_equal(got.calls[1], 1);
	assert_string_equal(got.val[1], "yes");
	/* names match exactly */
	assert_int_equal(scan("{\"Token\": \"a\", \"token \": \"b\", \"tok\": \"c\"}"), 0);
	assert_int_equal(got.calls[0], 0);
	/* empty object, empty string, null member, null document */
	assert_int_equal(scan("{}"), 0);
	assert_int_equal(scan("{\"token\": \"\"}"), 0);
	assert_int_equal(got.calls[0], 1);
	assert_int_equal(got.len[0], 0);
	assert_int_equal(scan("{\"token\": null, \"key\": \"k\"}"), 0);
	assert_int_equal(got.calls[0], 0);
	assert_int_equal(got.calls[1], 1);
	assert_int_equal(scan("null"), 0);
	assert_int_equal(scan(" null "), 0);
	/* duplicates are reported in order, so the caller keeps the last */
	assert_int_equal(scan("{\"token\": \"a\", \"key\": \"k\", \"token\": \"b\"}"), 0);
	assert_int_equal(got.calls[0], 2);
	assert_string_equal(got.val[0], "b");
	assert_string_equal(got.order, "010");
}

static void test_scan_escapes(void **state)
{
	static const char want[] = "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";

	assert_int_equal(scan("{\"token\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t"
			      "\\u00e9\\u20AC\\ud83d\\ude00\"}"),
			 0);
	assert_int_equal(got.len[0], sizeof(want) - 1);
	assert_memory_equal(got.val[0], want, sizeof(want) - 1);
	/* an escaped NUL is a byte of the value, not its end */
	assert_int_equal(scan("{\"token\": \"a\\u0000b\"}"), 0);
	assert_int_equal(got.len[0], 3);
	assert_memory_equal(got.val[0], "a\0b", 3);
	/* an escaped member name matches the decoded name */
	assert_int_equal(scan("{\"t\\u006fken\": \"x\"}"), 0);
	assert_string_equal(got.val[0], "x");
	/* invalid UTF-8 passes through as bytes */
	assert_int_equal(scan("{\"token\": \"\xff\xfe\"}"), 0);
	assert_string_equal(got.val[0], "\xff\xfe");
}

static void test_scan_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"{",
		"{\"token\": \"a\"",
		"{\"token\": \"a\"} x", /* trailing data */
		"{\"token\": \"a\"}{}", /* a second value */
		"{\"token\": \"a\",}",	/* trailing comma */
		"{'token': 'a'}",
		"{\"token\": \"a\nb\"}",  /* raw control character */
		"{\"token\": \"\\x41\"}", /* unknown escape */
		"{\"token\": \"\\u12\"}", /* short u-escape */
		"{\"token\": 1}",	  /* named member of the wrong type */
		"{\"key\": true}",
		"{\"key\": [\"a\"]}",
		"{\"token\": {}}",
		"[]", /* not an object */
		"\"token\"",
		"12",
		"true",
		"{\"x\": 01}", /* bad number in an ignored member */
		"{\"x\": nul}",
		"/* c */ {}",	  /* no comments */
		"\xef\xbb\xbf{}", /* no byte order mark */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (scan(bad[i]) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
	assert_int_equal(lk_json_scan_object(NULL, 0, scan_names, 2, collect, &got), -EINVAL);
}

/* nested writes {"x": followed by levels - 1 arrays, so that the document
 * is levels deep in all, into doc and returns it. */
static const char *nested(char *doc, size_t cap, int levels)
{
	size_t n = (size_t)snprintf(doc, cap, "{\"x\":");

	assert_true(n + 2 * (size_t)levels + 1 <= cap);
	for (int i = 1; i < levels; i++)
		doc[n++] = '[';
	for (int i = 1; i < levels; i++)
		doc[n++] = ']';
	doc[n++] = '}';
	doc[n] = '\0';
	return doc;
}

static void test_scan_depth_and_cb_error(void **state)
{
	static char doc[2 * LK_JSON_DEPTH_MAX + 64];

	assert_int_equal(scan(nested(doc, sizeof(doc), LK_JSON_DEPTH_MAX)), 0);
	assert_int_equal(scan(nested(doc, sizeof(doc), LK_JSON_DEPTH_MAX + 1)), -EINVAL);
	/* a callback's error stops the scan at once and is returned as is */
	static const char two[] = "{\"token\": \"a\", \"token\": \"b\"}";

	memset(&got, 0, sizeof(got));
	got.fail_with = -E2BIG;
	assert_int_equal(lk_json_scan_object(two, sizeof(two) - 1, scan_names, 2, collect, &got),
			 -E2BIG);
	assert_int_equal(got.calls[0], 1);
}

/* ---- the tree reader ---------------------------------------------------- */

static char perr[128];

/* parse parses the NUL-terminated doc, failing the test when it does not. */
static struct lk_jval *parse(const char *doc)
{
	struct lk_jval *v = lk_json_parse(doc, strlen(doc), perr, sizeof(perr));

	if (v == NULL)
		fail_msg("refused (%s): %s", perr, doc);
	return v;
}

/* refused returns the error message for doc, failing the test if it parses. */
static const char *refused(const char *doc, size_t len)
{
	struct lk_jval *v;

	perr[0] = '\0';
	v = lk_json_parse(doc, len, perr, sizeof(perr));
	if (v != NULL) {
		lk_json_free(v);
		fail_msg("accepted: %.*s", (int)LK_MIN(len, 200), doc);
	}
	assert_true(perr[0] != '\0');
	assert_null(strchr(perr, '\n'));
	return perr;
}

/* compact returns lk_json_put_val's output for v, NUL-terminated. */
static const char *compact(const struct lk_jval *v)
{
	lk_obuf_init(&b, mem, sizeof(mem) - 1);
	lk_json_put_val(&b, v);
	assert_false(b.overflow);
	mem[b.len] = '\0';
	return mem;
}

static void test_tree_shapes(void **state)
{
	struct lk_jval *v =
	    parse(" {\"s\": \"x\", \"n\": 12, \"t\": true, \"f\": false, \"z\": null,"
		  " \"a\": [1, \"two\", [], {}], \"o\": {\"k\": \"v\"}, \"e\": \"\"} \n\t\r");
	const struct lk_jval *a;

	assert_int_equal(lk_json_type(v), LK_J_OBJ);
	assert_int_equal(lk_json_len(v), 8);
	assert_int_equal(lk_json_type(lk_json_get(v, "s")), LK_J_STR);
	assert_int_equal(lk_json_type(lk_json_get(v, "n")), LK_J_NUM);
	assert_int_equal(lk_json_type(lk_json_get(v, "t")), LK_J_BOOL);
	assert_int_equal(lk_json_type(lk_json_get(v, "f")), LK_J_BOOL);
	assert_int_equal(lk_json_type(lk_json_get(v, "z")), LK_J_NULL);
	assert_non_null(lk_json_get(v, "z")); /* explicit null is a value */
	assert_int_equal(lk_json_type(lk_json_get(v, "o")), LK_J_OBJ);
	assert_true(lk_json_is_true(lk_json_get(v, "t")));
	assert_false(lk_json_is_true(lk_json_get(v, "f")));
	assert_false(lk_json_is_true(lk_json_get(v, "s")));
	assert_string_equal(lk_json_str(lk_json_get(v, "s")), "x");
	assert_string_equal(lk_json_str(lk_json_get(v, "e")), "");
	assert_null(lk_json_str(lk_json_get(v, "n")));
	/* members by position, in document order */
	assert_string_equal(lk_json_key_at(v, 0), "s");
	assert_string_equal(lk_json_key_at(v, 7), "e");
	assert_null(lk_json_key_at(v, 8));
	assert_string_equal(lk_json_str(lk_json_at(v, 7)), "");
	assert_null(lk_json_at(v, 8));
	/* arrays */
	a = lk_json_get(v, "a");
	assert_int_equal(lk_json_type(a), LK_J_ARR);
	assert_int_equal(lk_json_len(a), 4);
	assert_string_equal(lk_json_str(lk_json_at(a, 1)), "two");
	assert_int_equal(lk_json_type(lk_json_at(a, 2)), LK_J_ARR);
	assert_int_equal(lk_json_len(lk_json_at(a, 2)), 0);
	assert_int_equal(lk_json_type(lk_json_at(a, 3)), LK_J_OBJ);
	assert_int_equal(lk_json_len(lk_json_at(a, 3)), 0);
	assert_null(lk_json_at(a, 4));
	assert_null(lk_json_key_at(a, 0)); /* not an object */
	assert_null(lk_json_get(a, "0"));
	/* missing and wrong-type lookups, NULL everywhere */
	assert_null(lk_json_get(v, "missing"));
	assert_null(lk_json_get(v, "S"));
	assert_int_equal(lk_json_len(lk_json_get(v, "s")), 0);
	assert_null(lk_json_at(lk_json_get(v, "s"), 0));
	assert_int_equal(lk_json_type(NULL), LK_J_NULL);
	assert_null(lk_json_get(NULL, "x"));
	assert_int_equal(lk_json_len(NULL), 0);
	assert_null(lk_json_at(NULL, 0));
	assert_null(lk_json_key_at(NULL, 0));
	assert_null(lk_json_str(NULL));
	assert_false(lk_json_is_true(NULL));
	assert_string_equal(compact(NULL), "null");
	lk_json_free(v);
	lk_json_free(NULL);

	/* scalars and empty containers as whole documents */
	static const struct {
		const char *doc;
		enum lk_jtype type;
	} top[] = {
		{ "null", LK_J_NULL }, { " true ", LK_J_BOOL }, { "false", LK_J_BOOL },
		{ "-0.5", LK_J_NUM },  { "\"s\"", LK_J_STR },	{ "[]", LK_J_ARR },
		{ "{}", LK_J_OBJ },
	};
	for (size_t i = 0; i < LK_ARRAY_SIZE(top); i++) {
		v = parse(top[i].doc);
		assert_int_equal(lk_json_type(v), top[i].type);
		lk_json_free(v);
	}
}

static void test_tree_paths_and_duplicates(void **state)
{
	struct lk_jval *v = parse("{\"State\": {\"Status\": \"running\", \"Health\": {\"Status\": "
				  "\"healthy\"}}, \"Names\": [\"/a\"], \"k\": 1, \"k\": 2}");
	int64_t i;

	assert_string_equal(lk_json_str(lk_json_path(v, "State", "Health", "Status", NULL)),
			    "healthy");
	assert_string_equal(lk_json_str(lk_json_path(v, "State", "Status", NULL)), "running");
	assert_ptr_equal(lk_json_path(v, NULL), v);
	assert_null(lk_json_path(v, "State", "Nope", "Status", NULL));
	assert_null(lk_json_path(v, "State", "Status", "x", NULL)); /* through a string */
	assert_null(lk_json_path(v, "Names", "0", NULL));	    /* through an array */
	assert_null(lk_json_path(NULL, "State", NULL));
	/* a repeated name: lookups see the last (Go keeps the last), the
	 * members and the re-serialisation keep both */
	assert_true(lk_json_i64(lk_json_get(v, "k"), &i));
	assert_int_equal(i, 2);
	assert_int_equal(lk_json_len(v), 4);
	assert_string_equal(compact(v), "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":"
					"\"healthy\"}},\"Names\":[\"/a\"],\"k\":1,\"k\":2}");
	lk_json_free(v);
}

static void test_tree_numbers(void **state)
{
	struct lk_jval *v =
	    parse("[18446744073709551615, 18446744073709551616, 9223372036854775807,"
		  " -9223372036854775808, 9223372036854775808, -1, -0, 0, 1.0, 1e3,"
		  " 1.5, -2.5e-3, 1E+2, 1e999, -1e999, 1e-400, 0.1, 1.50]");
	uint64_t u;
	int64_t i;
	double d;

	/* UINT64_MAX: only lk_json_u64 reads it exactly */
	assert_true(lk_json_u64(lk_json_at(v, 0), &u));
	assert_true(u == UINT64_MAX);
	assert_false(lk_json_i64(lk_json_at(v, 0), &i));
	assert_true(lk_json_f64(lk_json_at(v, 0), &d));
	assert_true(d == 18446744073709551615.0);
	/* one past */
	u = 7;
	assert_false(lk_json_u64(lk_json_at(v, 1), &u));
	assert_int_equal(u, 7);
	/* int64 edges */
	assert_true(lk_json_i64(lk_json_at(v, 2), &i));
	assert_true(i == INT64_MAX);
	assert_true(lk_json_u64(lk_json_at(v, 2), &u));
	assert_true(u == INT64_MAX);
	assert_true(lk_json_i64(lk_json_at(v, 3), &i));
	assert_true(i == INT64_MIN);
	assert_false(lk_json_u64(lk_json_at(v, 3), &u));
	assert_false(lk_json_i64(lk_json_at(v, 4), &i));
	assert_true(lk_json_u64(lk_json_at(v, 4), &u));
	assert_true(u == (uint64_t)INT64_MAX + 1);
	/* negatives and zeros */
	assert_true(lk_json_i64(lk_json_at(v, 5), &i));
	assert_int_equal(i, -1);
	assert_false(lk_json_u64(lk_json_at(v, 5), &u));
	assert_true(lk_json_i64(lk_json_at(v, 6), &i));
	assert_int_equal(i, 0);
	assert_false(lk_json_u64(lk_json_at(v, 6), &u)); /* -0 has a sign */
	assert_true(lk_json_u64(lk_json_at(v, 7), &u));
	assert_int_equal(u, 0);
	/* integral values not written as integers are not integers */
	for (size_t k = 8; k <= 12; k++) {
		assert_false(lk_json_i64(lk_json_at(v, k), &i));
		assert_false(lk_json_u64(lk_json_at(v, k), &u));
	}
	/* doubles */
	assert_true(lk_json_f64(lk_json_at(v, 8), &d));
	assert_true(d == 1.0);
	assert_true(lk_json_f64(lk_json_at(v, 9), &d));
	assert_true(d == 1000.0);
	assert_true(lk_json_f64(lk_json_at(v, 10), &d));
	assert_true(d == 1.5);
	assert_true(lk_json_f64(lk_json_at(v, 11), &d));
	assert_true(d == -2.5e-3);
	assert_true(lk_json_f64(lk_json_at(v, 12), &d));
	assert_true(d == 100.0);
	assert_true(lk_json_f64(lk_json_at(v, 5), &d));
	assert_true(d == -1.0);
	d = 42;
	assert_false(lk_json_f64(lk_json_at(v, 13), &d)); /* overflow, as Go refuses */
	assert_false(lk_json_f64(lk_json_at(v, 14), &d));
	assert_true(d == 42);
	assert_true(lk_json_f64(lk_json_at(v, 15), &d)); /* underflow reads as 0 */
	assert_true(d == 0.0);
	assert_true(lk_json_f64(lk_json_at(v, 16), &d));
	assert_true(d == 0.1);
	/* not numbers */
	assert_false(lk_json_i64(NULL, &i));
	assert_false(lk_json_u64(NULL, &u));
	assert_false(lk_json_f64(NULL, &d));
	/* the text is kept as written */
	assert_string_equal(compact(v),
			    "[18446744073709551615,18446744073709551616,9223372036854775807,"
			    "-9223372036854775808,9223372036854775808,-1,-0,0,1.0,1e3,1.5,-2.5e-3,"
			    "1E+2,1e999,-1e999,1e-400,0.1,1.50]");
	lk_json_free(v);

	v = parse("{\"s\": \"12\", \"b\": true}");
	assert_false(lk_json_i64(lk_json_get(v, "s"), &i));
	assert_false(lk_json_u64(lk_json_get(v, "s"), &u));
	assert_false(lk_json_f64(lk_json_get(v, "b"), &d));
	lk_json_free(v);
}

static void test_tree_strings(void **state)
{
	static const char want[] = "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80<\0x";
	struct lk_jval *v =
	    parse("{\"t\\u006f\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t"
		  "\\u00e9\\u20AC\\ud83d\\ude00<\\u0000x\", \"raw\": \"\xc3\xa9\xe2\x82\xac\","
		  " \"bad\": \"\xff"
		  "a\xc3\"}");
	const char *s;
	size_t n = 0;

	/* escapes decode, an escaped name matches its decoded form */
	s = lk_json_strn(lk_json_get(v, "to"), &n);
	assert_non_null(s);
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(s, want, sizeof(want) - 1);
	assert_int_equal(s[n], '\0');
	assert_string_equal(lk_json_str(lk_json_get(v, "to")),
			    "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac"
			    "\xf0\x9f\x98\x80<");
	assert_null(lk_json_strn(lk_json_get(v, "nope"), &n));
	/* UTF-8 passes through as bytes, invalid bytes too */
	assert_string_equal(lk_json_str(lk_json_get(v, "raw")), "\xc3\xa9\xe2\x82\xac");
	assert_string_equal(lk_json_str(lk_json_get(v, "bad")), "\xff"
								"a\xc3");
	/* and come back out through lk_json_put_str: the NUL kept, `<` and
	 * control bytes escaped Go's way, bad bytes as U+FFFD */
	assert_string_equal(compact(v),
			    "{\"to\":\"a\\\"b\\\\c/d\\u0008\\u000c\\n\\r\\t\xc3\xa9\xe2\x82\xac"
			    "\xf0\x9f\x98\x80\\u003c\\u0000x\",\"raw\":\"\xc3\xa9\xe2\x82\xac\","
			    "\"bad\":\"\\ufffda\\ufffd\"}");
	lk_json_free(v);
	/* a re-serialised document parses back to the same text */
	v = parse("[\"\\u2028\", \"&\", {\"<k>\": [null, {}]}]");
	char again[256];
	const char *once = compact(v);

	assert_true(strlen(once) < sizeof(again));
	memcpy(again, once, strlen(once) + 1);
	lk_json_free(v);
	v = parse(again);
	assert_string_equal(compact(v), again);
	assert_string_equal(again, "[\"\\u2028\",\"\\u0026\",{\"\\u003ck\\u003e\":[null,{}]}]");
	lk_json_free(v);
	/* a member name with a NUL in it is refused, not cut short */
	assert_string_equal(refused("{\"a\\u0000b\": 1, \"a\": 2}", 23),
			    "member name holds U+0000");
}

static void test_tree_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"\n",
		"{",
		"[1,",
		"{\"a\": 1} x", /* trailing data */
		"{}{}",
		"1 2",
		"[] ]",
		"{\"a\": 1,}",
		"[1,]",
		"{'a': 1}",
		"{a: 1}",
		"\"a\nb\"",
		"\"\\x41\"",
		"\"\\u12\"",
		"01",
		"1.",
		"-",
		"+1",
		".5",
		"nul",
		"True",
		"NaN",
		"/* c */ {}",
		"{} // c",
		"\xef\xbb\xbf{}",
	};

	for (size_t i = 0; i < LK_ARRAY_SIZE(bad); i++)
		refused(bad[i], strlen(bad[i]));
	assert_null(lk_json_parse(NULL, 0, perr, sizeof(perr)));
	assert_null(lk_json_parse("", 0, NULL, 0)); /* err is optional */
	/* a few messages: yajl's words, on one line */
	assert_non_null(strstr(refused("", 0), "premature EOF"));
	assert_non_null(strstr(refused("{} x", 4), "trailing garbage"));
	/* every proper prefix of a document is truncated, never a shorter one */
	static const char whole[] = "{\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9y\", "
				    "{\"b\": {}}, []], \"c\": \"\"}";

	for (size_t len = 0; len < sizeof(whole) - 1; len++)
		refused(whole, len);
	lk_json_free(parse(whole));
	/* an embedded NUL byte is not whitespace */
	refused("{}\0", 3);
	refused("[1\0]", 4);
}

/* nested_arr writes levels nested arrays ("[[...]]") into doc. */
static size_t nested_arr(char *doc, int levels)
{
	size_t n = 0;

	for (int i = 0; i < levels; i++)
		doc[n++] = '[';
	for (int i = 0; i < levels; i++)
		doc[n++] = ']';
	return n;
}

static void test_tree_depth(void **state)
{
	static char doc[2 * LK_JSON_DEPTH_MAX + 64];
	static char out[2 * LK_JSON_DEPTH_MAX + 64];
	struct lk_obuf ob;
	size_t n = nested_arr(doc, LK_JSON_DEPTH_MAX);
	struct lk_jval *v = lk_json_parse(doc, n, perr, sizeof(perr));

	/* the deepest allowed tree parses, re-serialises and frees (each
	 * recursive, bounded by the depth) */
	assert_non_null(v);
	lk_obuf_init(&ob, out, sizeof(out));
	lk_json_put_val(&ob, v);
	assert_false(ob.overflow);
	assert_int_equal(ob.len, n);
	assert_memory_equal(out, doc, n);
	/* an obuf too small stops the walk with overflow set */
	lk_obuf_init(&ob, out, 100);
	lk_json_put_val(&ob, v);
	assert_true(ob.overflow);
	lk_json_free(v);
	/* one more level, in arrays or objects, or never closed */
	n = nested_arr(doc, LK_JSON_DEPTH_MAX + 1);
	assert_string_equal(refused(doc, n), "nesting too deep");
	assert_string_equal(refused(doc, LK_JSON_DEPTH_MAX + 1), "nesting too deep");
	assert_string_equal(refused(nested(doc, sizeof(doc), LK_JSON_DEPTH_MAX + 1), strlen(doc)),
			    "nesting too deep");
	v = parse(nested(doc, sizeof(doc), LK_JSON_DEPTH_MAX));
	lk_json_free(v);
	/* unclosed within the limit: truncated, and the pending names freed */
	refused("{\"a\": {\"b\": {\"c\": [{\"d\": ", 25);
}

/* at_page_end copies doc[0..len) to the end of a page-sized allocation, so
 * that the first byte past it is outside the allocation (ASan reports any
 * read there), and parses it from there. */
static struct lk_jval *at_page_end(const char *doc, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *buf = malloc(page);
	struct lk_jval *v;

	assert_non_null(buf);
	assert_true(len <= page);
	memcpy(buf + page - len, doc, len);
	v = lk_json_parse(buf + page - len, len, perr, sizeof(perr));
	free(buf);
	return v;
}

static void test_tree_not_terminated(void **state)
{
	static const char *const good[] = {
		"12345", "-0.5e-7", "true", "null", "\"str\\u00e9\"", "{\"a\":1}", "[1,2]", " 7 ",
	};
	static const char *const bad[] = {
		"[1,2", "\"abc", "12e", "tru", "{\"a\":", "\"\\u00", "{\"a\":1}x", "-",
	};

	for (size_t i = 0; i < LK_ARRAY_SIZE(good); i++) {
		struct lk_jval *v = at_page_end(good[i], strlen(good[i]));

		if (v == NULL)
			fail_msg("refused (%s): %s", perr, good[i]);
		lk_json_free(v);
	}
	for (size_t i = 0; i < LK_ARRAY_SIZE(bad); i++) {
		struct lk_jval *v = at_page_end(bad[i], strlen(bad[i]));

		if (v != NULL)
			fail_msg("accepted: %s", bad[i]);
	}
	/* the number that ends the buffer is read whole */
	struct lk_jval *v = at_page_end("18446744073709551615", 20);
	uint64_t u;

	assert_true(lk_json_u64(v, &u));
	assert_true(u == UINT64_MAX);
	lk_json_free(v);
	assert_null(at_page_end("", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_utf8_exhaustive),
		cmocka_unit_test(test_key_and_scalars),
		cmocka_unit_test(test_put_chars),
		cmocka_unit_test(test_f64),
		cmocka_unit_test(test_put_str_max),
		cmocka_unit_test(test_str_len),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_scan_object),
		cmocka_unit_test(test_scan_escapes),
		cmocka_unit_test(test_scan_invalid),
		cmocka_unit_test(test_scan_depth_and_cb_error),
		cmocka_unit_test(test_tree_shapes),
		cmocka_unit_test(test_tree_paths_and_duplicates),
		cmocka_unit_test(test_tree_numbers),
		cmocka_unit_test(test_tree_strings),
		cmocka_unit_test(test_tree_refused),
		cmocka_unit_test(test_tree_depth),
		cmocka_unit_test(test_tree_not_terminated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
