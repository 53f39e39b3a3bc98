/* core/json.c - JSON output helpers (see json.h for the escaping contract)
 * and the yajl-based readers: the only file that includes yajl (DESIGN.md). */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/err.h"
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

void lk_json_put_chars(struct lk_obuf *b, const char *s, size_t n)
{
	size_t out_len;

	LK_ASSERT(s != NULL || n == 0);
	encode(b, (const uint8_t *)s, n, SIZE_MAX, &out_len);
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

/* ---- the tree reader ---------------------------------------------------- */

/* struct lk_jval is yajl_tree's node plus the decoded length of a string
 * (yajl_tree strings are C strings, yet \u0000 is legal JSON). The yajl node
 * comes first and every node, string, number text, name and array below it
 * is a plain malloc, exactly as yajl_tree_parse would lay the tree out, so
 * yajl_tree_free frees our trees. */
struct lk_jval {
	struct yajl_val_s v;
	size_t str_len; /* strings: decoded bytes, NUL bytes included */
};

LK_STATIC_ASSERT(offsetof(struct lk_jval, v) == 0, "a yajl_val must be its lk_jval");
LK_STATIC_ASSERT(sizeof(long long) == sizeof(int64_t), "yajl's integers are int64_t");

/* frame is an array or object still open while the tree is built. */
struct frame {
	struct lk_jval *v; /* already linked into its parent (or the root) */
	char *key;	   /* objects: the member name waiting for its value */
	size_t cap;	   /* slots allocated in v's values (and keys) */
};

/* build is lk_json_parse's state, handed to every yajl callback. */
struct build {
	struct lk_jval *root;
	struct frame *stack; /* open containers, outermost first */
	size_t depth;	     /* entries used in stack */
	size_t stack_cap;
	const char *why; /* our own reason for cancelling, for the message */
};

/* stop records why the build stops and returns yajl's "cancel" (0). */
static int stop(struct build *bd, const char *why)
{
	bd->why = why;
	return 0;
}

static struct lk_jval *new_val(yajl_type type)
{
	struct lk_jval *n = calloc(1, sizeof(*n));

	if (n != NULL)
		n->v.type = type;
	return n;
}

/* dup_bytes returns a malloc'd, NUL-terminated copy of s[0..n), or NULL. */
static char *dup_bytes(const void *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	if (n != 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* grow_frame doubles the slots of f's container; on failure nothing
 * changes but possibly the size of a block (cap stays the old one). */
static int grow_frame(struct frame *f)
{
	struct yajl_val_s *p = &f->v->v;
	size_t cap = f->cap != 0 ? f->cap * 2 : 8;

	if (cap > SIZE_MAX / sizeof(void *))
		return -ENOMEM;
	if (p->type == yajl_t_object) {
		const char **keys = realloc(p->u.object.keys, cap * sizeof(*keys));

		if (keys == NULL)
			return -ENOMEM;
		p->u.object.keys = keys;
		yajl_val *vals = realloc(p->u.object.values, cap * sizeof(*vals));

		if (vals == NULL)
			return -ENOMEM;
		p->u.object.values = vals;
	} else {
		yajl_val *vals = realloc(p->u.array.values, cap * sizeof(*vals));

		if (vals == NULL)
			return -ENOMEM;
		p->u.array.values = vals;
	}
	f->cap = cap;
	return 0;
}

/* add links a new value n (or NULL when allocating it failed) into the
 * innermost open container, or makes it the root. The tree owns n from
 * here on, even when this fails. */
static int add(struct build *bd, struct lk_jval *n)
{
	if (n == NULL)
		return stop(bd, "out of memory");
	if (bd->depth == 0) {
		if (bd->root != NULL) { /* yajl reports a second value itself */
			yajl_tree_free(&n->v);
			return stop(bd, "trailing data");
		}
		bd->root = n;
		return 1;
	}
	struct frame *f = &bd->stack[bd->depth - 1];
	struct yajl_val_s *p = &f->v->v;
	bool is_obj = p->type == yajl_t_object;
	size_t len = is_obj ? p->u.object.len : p->u.array.len;

	if (len == f->cap && grow_frame(f) != 0) {
		yajl_tree_free(&n->v);
		return stop(bd, "out of memory");
	}
	if (is_obj) {
		LK_ASSERT(f->key != NULL); /* yajl gives a name before each value */
		p->u.object.keys[len] = f->key;
		p->u.object.values[len] = &n->v;
		p->u.object.len++;
		f->key = NULL;
	} else {
		p->u.array.values[len] = &n->v;
		p->u.array.len++;
	}
	return 1;
}

static int on_tree_null(void *ctx)
{
	return add(ctx, new_val(yajl_t_null));
}

static int on_tree_boolean(void *ctx, int v)
{
	return add(ctx, new_val(v ? yajl_t_true : yajl_t_false));
}

/* on_tree_number keeps the text (what lk_json_u64 and lk_json_put_val
 * read) and, like yajl_tree, caches the int64 and double readings with
 * flags saying which are valid. The integer reading is only for integer
 * literals: strtoll would stop at a '.' and call "1.5" the integer 1. */
static int on_tree_number(void *ctx, const char *s, size_t n)
{
	struct lk_jval *v = new_val(yajl_t_number);
	char *end;

	if (v == NULL)
		return stop(ctx, "out of memory");
	v->v.u.number.r = dup_bytes(s, n);
	if (v->v.u.number.r == NULL) {
		free(v);
		return stop(ctx, "out of memory");
	}
	const char *r = v->v.u.number.r;

	if (strpbrk(r, ".eE") == NULL) {
		errno = 0;
		v->v.u.number.i = strtoll(r, &end, 10);
		if (errno == 0 && *end == '\0')
			v->v.u.number.flags |= YAJL_NUMBER_INT_VALID;
	}
	errno = 0;
	v->v.u.number.d = strtod(r, &end);
	if (*end == '\0' && !(errno == ERANGE && isinf(v->v.u.number.d)))
		v->v.u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
	return add(ctx, v);
}

static int on_tree_string(void *ctx, const unsigned char *s, size_t n)
{
	struct lk_jval *v = new_val(yajl_t_string);

	if (v == NULL)
		return stop(ctx, "out of memory");
	v->v.u.string = dup_bytes(s, n);
	if (v->v.u.string == NULL) {
		free(v);
		return stop(ctx, "out of memory");
	}
	v->str_len = n;
	return add(ctx, v);
}

/* on_tree_open links a new array or object where it belongs before its
 * elements arrive, so that on any error freeing the root frees it too. */
static int on_tree_open(struct build *bd, yajl_type type)
{
	if (bd->depth == LK_JSON_DEPTH_MAX)
		return stop(bd, "nesting too deep");
	if (bd->depth == bd->stack_cap) {
		size_t cap = bd->stack_cap != 0 ? LK_MIN(bd->stack_cap * 4, LK_JSON_DEPTH_MAX) : 16;
		struct frame *st = realloc(bd->stack, cap * sizeof(*st));

		if (st == NULL)
			return stop(bd, "out of memory");
		bd->stack = st;
		bd->stack_cap = cap;
	}
	struct lk_jval *v = new_val(type);

	if (add(bd, v) == 0)
		return 0;
	bd->stack[bd->depth++] = (struct frame){ .v = v };
	return 1;
}

static int on_tree_start_map(void *ctx)
{
	return on_tree_open(ctx, yajl_t_object);
}

static int on_tree_start_array(void *ctx)
{
	return on_tree_open(ctx, yajl_t_array);
}

static int on_tree_close(void *ctx)
{
	struct build *bd = ctx;

	LK_ASSERT(bd->depth > 0); /* yajl only closes what it opened */
	bd->depth--;
	LK_ASSERT(bd->stack[bd->depth].key == NULL);
	return 1;
}

static int on_tree_map_key(void *ctx, const unsigned char *key, size_t n)
{
	struct build *bd = ctx;

	LK_ASSERT(bd->depth > 0); /* names only come inside objects */
	struct frame *f = &bd->stack[bd->depth - 1];

	LK_ASSERT(f->key == NULL);
	if (n != 0 && memchr(key, '\0', n) != NULL)
		return stop(bd, "member name holds U+0000");
	f->key = dup_bytes(key, n);
	return f->key != NULL ? 1 : stop(bd, "out of memory");
}

static const yajl_callbacks tree_callbacks = {
	.yajl_null = on_tree_null,
	.yajl_boolean = on_tree_boolean,
	.yajl_number = on_tree_number,
	.yajl_string = on_tree_string,
	.yajl_start_map = on_tree_start_map,
	.yajl_map_key = on_tree_map_key,
	.yajl_end_map = on_tree_close,
	.yajl_start_array = on_tree_start_array,
	.yajl_end_array = on_tree_close,
};

/* parse_error writes yajl's short message for a failed parse into err,
 * without the newline yajl ends it with. */
static void parse_error(yajl_handle h, const char *doc, size_t len, char *err, size_t err_len)
{
	unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)doc, len);

	if (msg == NULL) {
		lk_errf(err, err_len, "invalid JSON");
		return;
	}
	size_t n = strlen((const char *)msg);

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	lk_errf(err, err_len, "%.*s", (int)LK_MIN(n, (size_t)INT_MAX), msg);
	yajl_free_error(h, msg);
}

struct lk_jval *lk_json_parse(const char *doc, size_t len, char *err, size_t err_len)
{
	/* Docker's answers carry secrets (inspect's Config.Env), so yajl's own
	 * buffers are wiped like lk_json_scan_object's. */
	yajl_alloc_funcs afs = {
		.malloc = wiping_malloc,
		.realloc = wiping_realloc,
		.free = wiping_free,
	};
	struct build bd = { 0 };
	const char *text = doc != NULL ? doc : "";
	yajl_handle h;
	yajl_status st;

	LK_ASSERT(doc != NULL || len == 0);
	h = yajl_alloc(&tree_callbacks, &afs, &bd);
	if (h == NULL) {
		lk_errf(err, err_len, "out of memory");
		return NULL;
	}
	yajl_config(h, yajl_dont_validate_strings, 1);
	st = yajl_parse(h, (const unsigned char *)text, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st == yajl_status_ok && bd.root == NULL) { /* cannot happen: yajl says premature EOF */
		bd.why = "empty document";
		st = yajl_status_client_canceled;
	}
	if (st == yajl_status_client_canceled)
		lk_errf(err, err_len, "%s", bd.why != NULL ? bd.why : "cancelled");
	else if (st != yajl_status_ok)
		parse_error(h, text, len, err, err_len);
	yajl_free(h);
	for (size_t i = 0; i < bd.depth; i++)
		free(bd.stack[i].key);
	free(bd.stack);
	if (st != yajl_status_ok) {
		lk_json_free(bd.root);
		return NULL;
	}
	return bd.root;
}

void lk_json_free(struct lk_jval *v)
{
	if (v != NULL)
		yajl_tree_free(&v->v);
}

/* val returns the lk_jval around a node of one of our trees. */
static const struct lk_jval *val(const struct yajl_val_s *v)
{
	return (const struct lk_jval *)v;
}

enum lk_jtype lk_json_type(const struct lk_jval *v)
{
	if (v == NULL)
		return LK_J_NULL;
	switch (v->v.type) {
	case yajl_t_string:
		return LK_J_STR;
	case yajl_t_number:
		return LK_J_NUM;
	case yajl_t_object:
		return LK_J_OBJ;
	case yajl_t_array:
		return LK_J_ARR;
	case yajl_t_true:
	case yajl_t_false:
		return LK_J_BOOL;
	case yajl_t_null:
		return LK_J_NULL;
	default:
		LK_UNREACHABLE();
	}
}

const struct lk_jval *lk_json_get(const struct lk_jval *obj, const char *key)
{
	if (obj == NULL || obj->v.type != yajl_t_object)
		return NULL;
	for (size_t i = obj->v.u.object.len; i-- > 0;) {
		if (strcmp(obj->v.u.object.keys[i], key) == 0)
			return val(obj->v.u.object.values[i]);
	}
	return NULL;
}

const struct lk_jval *lk_json_path(const struct lk_jval *v, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, v);
	while (v != NULL && (key = va_arg(ap, const char *)) != NULL)
		v = lk_json_get(v, key);
	va_end(ap);
	return v;
}

size_t lk_json_len(const struct lk_jval *v)
{
	if (v == NULL)
		return 0;
	if (v->v.type == yajl_t_array)
		return v->v.u.array.len;
	if (v->v.type == yajl_t_object)
		return v->v.u.object.len;
	return 0;
}

const struct lk_jval *lk_json_at(const struct lk_jval *v, size_t i)
{
	if (i >= lk_json_len(v))
		return NULL;
	if (v->v.type == yajl_t_array)
		return val(v->v.u.array.values[i]);
	return val(v->v.u.object.values[i]);
}

const char *lk_json_key_at(const struct lk_jval *obj, size_t i)
{
	if (obj == NULL || obj->v.type != yajl_t_object || i >= obj->v.u.object.len)
		return NULL;
	return obj->v.u.object.keys[i];
}

const char *lk_json_str(const struct lk_jval *v)
{
	if (v == NULL || v->v.type != yajl_t_string)
		return NULL;
	return v->v.u.string;
}

const char *lk_json_strn(const struct lk_jval *v, size_t *out_len)
{
	const char *s = lk_json_str(v);

	if (s != NULL)
		*out_len = v->str_len;
	return s;
}

bool lk_json_is_true(const struct lk_jval *v)
{
	return v != NULL && v->v.type == yajl_t_true;
}

bool lk_json_i64(const struct lk_jval *v, int64_t *out)
{
	if (v == NULL || v->v.type != yajl_t_number)
		return false;
	if ((v->v.u.number.flags & YAJL_NUMBER_INT_VALID) == 0)
		return false;
	*out = v->v.u.number.i;
	return true;
}

bool lk_json_u64(const struct lk_jval *v, uint64_t *out)
{
	uint64_t x = 0;

	if (v == NULL || v->v.type != yajl_t_number)
		return false;
	const char *p = v->v.u.number.r;

	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return false; /* '-', '.', 'e': not a non-negative integer */
		unsigned d = (unsigned)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*out = x;
	return true;
}

bool lk_json_f64(const struct lk_jval *v, double *out)
{
	if (v == NULL || v->v.type != yajl_t_number)
		return false;
	if ((v->v.u.number.flags & YAJL_NUMBER_DOUBLE_VALID) == 0)
		return false;
	*out = v->v.u.number.d;
	return true;
}

void lk_json_put_val(struct lk_obuf *b, const struct lk_jval *v)
{
	if (b->overflow)
		return; /* nothing more will fit: stop walking */
	if (v == NULL) {
		lk_json_put_null(b);
		return;
	}
	const struct yajl_val_s *y = &v->v;

	switch (y->type) {
	case yajl_t_null:
		lk_json_put_null(b);
		break;
	case yajl_t_true:
	case yajl_t_false:
		lk_json_put_bool(b, y->type == yajl_t_true);
		break;
	case yajl_t_number:
		lk_obuf_puts(b, y->u.number.r);
		break;
	case yajl_t_string:
		lk_json_put_str(b, y->u.string, v->str_len);
		break;
	case yajl_t_array:
		lk_obuf_put(b, "[", 1);
		for (size_t i = 0; i < y->u.array.len; i++) {
			if (i != 0)
				lk_obuf_put(b, ",", 1);
			lk_json_put_val(b, val(y->u.array.values[i]));
		}
		lk_obuf_put(b, "]", 1);
		break;
	case yajl_t_object:
		lk_obuf_put(b, "{", 1);
		for (size_t i = 0; i < y->u.object.len; i++) {
			if (i != 0)
				lk_obuf_put(b, ",", 1);
			lk_json_put_key(b, y->u.object.keys[i]);
			lk_json_put_val(b, val(y->u.object.values[i]));
		}
		lk_obuf_put(b, "}", 1);
		break;
	default:
		LK_UNREACHABLE();
	}
}
