/* core/json.c - JSON output helpers (see json.h for the escaping contract)
 * and the yajl-based reader: the only file that includes yajl (DESIGN.md). */
#include <sys/types.h>

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/json.h"

/* How each ASCII byte is written: 0 = as is, 'u' = \u00XX, anything else is
 * the letter of a two-character escape. `<`, `>` and `&` are escaped like Go
 * does so a JSON body can never close a <script> element it is embedded in. */
static const char ascii_esc[128] = {
	[0x00 ... 0x08] = 'u',
	['\t'] = 't',
	['\n'] = 'n',
	[0x0b ... 0x0c] = 'u',
	['\r'] = 'r',
	[0x0e ... 0x1f] = 'u',
	['"'] = '"',
	['\\'] = '\\',
	['<'] = 'u',
	['>'] = 'u',
	['&'] = 'u',
};

/* utf8_seq_len returns the length (2..4) of the well-formed UTF-8 sequence
 * starting at s, or 0 when s[0..n) does not start with one. The second byte's
 * range is narrowed for E0/ED/F0/F4, which is exactly what rejects overlong
 * forms, UTF-16 surrogates (U+D800..DFFF) and code points above U+10FFFF
 * (Unicode 15 table 3-7); C0, C1 and F5..FF can never start a sequence. */
static size_t utf8_seq_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	return len;
}

/* next_char classifies the character at s[0..n) (n >= 1): it returns how
 * many input bytes it spans and fills esc/esc_len with its escape, or sets
 * esc_len to 0 when the bytes are copied unchanged. */
static size_t next_char(const uint8_t *s, size_t n, char esc[6], size_t *esc_len)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t c = s[0];
	size_t len;

	*esc_len = 0;
	if (c < 0x80) {
		char e = ascii_esc[c];

		if (e == 'u') {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			*esc_len = 6;
		} else if (e != 0) {
			esc[0] = '\\';
			esc[1] = e;
			*esc_len = 2;
		}
		return 1;
	}
	len = utf8_seq_len(s, n);
	if (len == 0) {
		/* One replacement per bad byte, like Go's utf8.DecodeRune. */
		memcpy(esc, "\\ufffd", 6);
		*esc_len = 6;
		return 1;
	}
	if (len == 3 && c == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)) {
		/* U+2028/U+2029 end a JavaScript string literal. */
		memcpy(esc, "\\u202", 5);
		esc[5] = s[2] == 0xa8 ? '8' : '9';
		*esc_len = 6;
	}
	return len;
}

/* encode escapes s[0..n) into b (or only measures when b is NULL), stopping
 * before the first character whose output would push the total past max.
 * Runs of unchanged bytes are appended in one piece. Returns the input bytes
 * consumed and stores the output length in *out_len. */
static size_t encode(struct lk_obuf *b, const uint8_t *s, size_t n, size_t max, size_t *out_len)
{
	size_t i = 0, run = 0, out = 0;

	*out_len = 0;
	if (n == 0)
		return 0; /* s may be NULL: no pointer arithmetic on it */
	while (i < n) {
		char esc[6];
		size_t esc_len;
		size_t in_len = next_char(s + i, n - i, esc, &esc_len);
		size_t cost = esc_len != 0 ? esc_len : in_len;

		if (cost > max - out)
			break;
		if (esc_len != 0) {
			if (b != NULL) {
				lk_obuf_put(b, s + run, i - run);
				lk_obuf_put(b, esc, esc_len);
			}
			run = i + in_len;
		}
		out += cost;
		i += in_len;
	}
	if (b != NULL)
		lk_obuf_put(b, s + run, i - run);
	*out_len = out;
	return i;
}

void lk_json_put_str(struct lk_obuf *b, const char *s, size_t n)
{
	size_t out_len;

	LK_ASSERT(s != NULL || n == 0);
	lk_obuf_put(b, "\"", 1);
	encode(b, (const uint8_t *)s, n, SIZE_MAX, &out_len);
	lk_obuf_put(b, "\"", 1);
}

size_t lk_json_put_str_max(struct lk_obuf *b, const char *s, size_t n, size_t max)
{
	size_t out_len, used;

	LK_ASSERT(s != NULL || n == 0);
	if (max < 2) {
		b->overflow = true;
		return 0;
	}
	lk_obuf_put(b, "\"", 1);
	used = encode(b, (const uint8_t *)s, n, max - 2, &out_len);
	lk_obuf_put(b, "\"", 1);
	return used;
}

size_t lk_json_str_len(const char *s, size_t n, size_t limit)
{
	size_t out_len, used;

	LK_ASSERT(limit < SIZE_MAX);
	LK_ASSERT(s != NULL || n == 0);
	if (limit < 2)
		return limit + 1;
	used = encode(NULL, (const uint8_t *)s, n, limit - 2, &out_len);
	return used < n ? limit + 1 : out_len + 2;
}

void lk_json_put_key(struct lk_obuf *b, const char *key)
{
	lk_json_put_str(b, key, strlen(key));
	lk_obuf_put(b, ":", 1);
}

void lk_json_put_bool(struct lk_obuf *b, bool v)
{
	if (v)
		lk_obuf_put(b, "true", 4);
	else
		lk_obuf_put(b, "false", 5);
}

void lk_json_put_null(struct lk_obuf *b)
{
	lk_obuf_put(b, "null", 4);
}

void lk_json_put_f64(struct lk_obuf *b, double v)
{
	char tmp[32];
	int len = 0;

	if (isnan(v)) {
		lk_obuf_puts(b, "\"NaN\"");
		return;
	}
	if (isinf(v)) {
		lk_obuf_puts(b, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
		return;
	}
	/* %.17g always round-trips; shorter is nicer to read (0.1, not
	 * 0.10000000000000001), so take the first precision that does. */
	for (int prec = 15; prec <= 17; prec++) {
		len = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		LK_ASSERT(len > 0 && (size_t)len < sizeof(tmp));
		if (strtod(tmp, NULL) == v)
			break;
	}
	lk_obuf_put(b, tmp, (size_t)len);
}

/* ---- parsing ------------------------------------------------------------ */

/* scan is lk_json_scan_object's state, handed to every yajl callback. */
struct scan {
	const char *const *names;
	size_t n_names;
	lk_json_member_cb cb;
	void *arg;
	size_t depth;	/* arrays and objects open around the next event */
	ssize_t member; /* index in names of the member whose value is next, or -1 */
	int rc;		/* what to return once yajl reports the cancel */
};

/* yajl's buffers hold decoded strings, and the documents scanned here carry
 * secrets (the enrollment token), so every block is wiped before it goes
 * back to malloc. yajl does not check all of its allocations, so running out
 * of memory is fatal here rather than a NULL dereference inside yajl. */
static void *wiping_malloc(void *ctx, size_t sz)
{
	void *p = malloc(sz);

	LK_ASSERT(p != NULL);
	return p;
}

static void wiping_free(void *ctx, void *p)
{
	if (p == NULL)
		return;
	lk_crypto_cleanse(p, malloc_usable_size(p));
	free(p);
}

/* wiping_realloc moves instead of growing in place, so the old block is
 * wiped rather than left behind in the heap with the string in it. */
static void *wiping_realloc(void *ctx, void *p, size_t sz)
{
	void *q = wiping_malloc(ctx, sz);

	if (p != NULL) {
		memcpy(q, p, LK_MIN(sz, malloc_usable_size(p)));
		wiping_free(ctx, p);
	}
	return q;
}

/* cancel records why the scan stops and returns yajl's "cancel" (0). */
static int cancel(struct scan *sc, int rc)
{
	LK_DASSERT(rc != 0);
	sc->rc = rc;
	return 0;
}

/* on_value checks a scalar value (s, n set for strings only) against the
 * expected shape and hands named string members to the callback. */
static int on_value(struct scan *sc, bool is_null, const unsigned char *s, size_t n)
{
	ssize_t idx = sc->member;

	if (sc->depth == 0) /* the document is a scalar: only null is an (empty) object */
		return is_null ? 1 : cancel(sc, -EINVAL);
	if (sc->depth > 1 || idx < 0)
		return 1;
	sc->member = -1;
	if (is_null)
		return 1;
	if (s == NULL)
		return cancel(sc, -EINVAL); /* a named member that is a number or bool */
	int rc = sc->cb(sc->arg, (size_t)idx, (const char *)s, n);

	return rc == 0 ? 1 : cancel(sc, rc);
}

static int on_null(void *ctx)
{
	return on_value(ctx, true, NULL, 0);
}

static int on_boolean(void *ctx, int v)
{
	return on_value(ctx, false, NULL, 0);
}

/* on_number takes the raw text so that yajl does not convert numbers: Go
 * accepts any syntactically valid number in an ignored member, yajl's
 * integer conversion would fail on overflow. */
static int on_number(void *ctx, const char *s, size_t n)
{
	return on_value(ctx, false, NULL, 0);
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
	/* an empty string may come with s == NULL: keep "string" distinct */
	return on_value(ctx, false, s != NULL ? s : (const unsigned char *)"", n);
}

/* on_open handles '{' and '[': the document must open with '{', and a named
 * member must not be a container. */
static int on_open(struct scan *sc, bool is_map)
{
	if (sc->depth == 0 && !is_map)
		return cancel(sc, -EINVAL);
	if (sc->depth == 1 && sc->member >= 0)
		return cancel(sc, -EINVAL);
	if (sc->depth == LK_JSON_DEPTH_MAX)
		return cancel(sc, -EINVAL);
	sc->depth++;
	sc->member = -1;
	return 1;
}

static int on_start_map(void *ctx)
{
	return on_open(ctx, true);
}

static int on_start_array(void *ctx)
{
	return on_open(ctx, false);
}

static int on_close(void *ctx)
{
	struct scan *sc = ctx;

	LK_ASSERT(sc->depth > 0); /* yajl only closes what it opened */
	sc->depth--;
	return 1;
}

static int on_map_key(void *ctx, const unsigned char *key, size_t n)
{
	struct scan *sc = ctx;

	sc->member = -1;
	if (sc->depth != 1)
		return 1;
	for (size_t i = 0; i < sc->n_names; i++) {
		if (strlen(sc->names[i]) == n && memcmp(sc->names[i], key, n) == 0) {
			sc->member = (ssize_t)i;
			break;
		}
	}
	return 1;
}

static const yajl_callbacks scan_callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_boolean,
	.yajl_number = on_number,
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_map_key,
	.yajl_end_map = on_close,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_close,
};

int lk_json_scan_object(const char *doc, size_t len, const char *const *names, size_t n_names,
			lk_json_member_cb cb, void *arg)
{
	yajl_alloc_funcs afs = {
		.malloc = wiping_malloc,
		.realloc = wiping_realloc,
		.free = wiping_free,
	};
	struct scan sc = {
		.names = names,
		.n_names = n_names,
		.cb = cb,
		.arg = arg,
		.member = -1,
	};
	yajl_handle h;
	yajl_status st;

	LK_ASSERT(cb != NULL);
	h = yajl_alloc(&scan_callbacks, &afs, &sc);
	if (h == NULL)
		return -ENOMEM;
	/* Bytes are passed through; see the header for why UTF-8 is not checked. */
	yajl_config(h, yajl_dont_validate_strings, 1);
	st = yajl_parse(h, (const unsigned char *)(doc != NULL ? doc : ""), len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	if (st == yajl_status_client_canceled)
		return sc.rc;
	return st == yajl_status_ok ? 0 : -EINVAL;
}
