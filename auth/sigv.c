/* auth/sigv.c - signed-request parsing, canonicalisation and verification.
 *
 * Header values are peer bytes, so every read goes through a small CBS-style
 * cursor (struct cbs: pointer plus remaining length, STYLE.md 11) and every
 * write through a bounded builder (struct cbb) that records overflow instead
 * of running past its buffer. Nothing here asserts on request contents. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/keys.h"
#include "auth/registry.h"
#include "auth/sigv.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/http.h"

/* ---- bounded reader and writer ------------------------------------------ */

/* cbs is a read cursor over bytes someone else owns. */
struct cbs {
	const char *p;
	size_t n;
};

static bool cbs_get_byte(struct cbs *c, unsigned char *out)
{
	if (c->n == 0)
		return false;
	*out = (unsigned char)c->p[0];
	c->p++;
	c->n--;
	return true;
}

/* cbs_get_bytes splits the next n bytes off c into out. */
static bool cbs_get_bytes(struct cbs *c, size_t n, struct cbs *out)
{
	if (c->n < n)
		return false;
	*out = (struct cbs){ .p = c->p, .n = n };
	c->p += n;
	c->n -= n;
	return true;
}

static bool cbs_eq(struct cbs a, struct cbs b)
{
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* cbb is a bounded output buffer; once overflow is set nothing more is
 * written and the result is discarded. */
struct cbb {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void cbb_add(struct cbb *b, const void *src, size_t n)
{
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void cbb_add_byte(struct cbb *b, char c)
{
	cbb_add(b, &c, 1);
}

/* cbb_add_i64 appends v in plain decimal, as Go's %d prints an int64. */
static void cbb_add_i64(struct cbb *b, int64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);
	/* Negate in unsigned arithmetic: -INT64_MIN does not fit an int64. */
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		cbb_add_byte(b, '-');
	cbb_add(b, tmp + i, sizeof(tmp) - i);
}

/* ---- headers ------------------------------------------------------------- */

enum field { F_SIGNATURE, F_KEY_ID, F_TIMESTAMP, F_NONCE, F_VERSION, F__COUNT };

/* Header names of each field in the two families (DESIGN.md decision 2). */
static const char *const field_names[F__COUNT][2] = {
	[F_SIGNATURE] = { "x-lookout-signature", "x-portwing-signature" },
	[F_KEY_ID] = { "x-lookout-key-id", "x-portwing-key-id" },
	[F_TIMESTAMP] = { "x-lookout-timestamp", "x-portwing-timestamp" },
	[F_NONCE] = { "x-lookout-nonce", "x-portwing-nonce" },
	[F_VERSION] = { "x-lookout-signature-version", "x-portwing-signature-version" },
};

/* header_value returns the first instance of name in r, or an empty view. */
static struct cbs header_value(const struct lk_http_req *r, const char *name)
{
	const struct lk_http_header *h = lk_http_find(r->headers, r->n_headers, name);

	if (h == NULL)
		return (struct cbs){ .p = "", .n = 0 };
	return (struct cbs){ .p = h->value, .n = h->value_len };
}

/* pick sets *out to field f as carried by either family (empty if neither
 * has a non-empty value). Returns false if both carry different non-empty
 * values: a client that sends both must mean the same request. */
static bool pick(const struct lk_http_req *r, enum field f, struct cbs *out)
{
	struct cbs lk = header_value(r, field_names[f][0]);
	struct cbs pw = header_value(r, field_names[f][1]);

	*out = lk.n != 0 ? lk : pw;
	return lk.n == 0 || pw.n == 0 || cbs_eq(lk, pw);
}

/* parse_i64 parses v as Go's strconv.ParseInt(v, 10, 64): an optional sign,
 * then at least one decimal digit, leading zeros allowed, no overflow. */
static bool parse_i64(struct cbs v, int64_t *out)
{
	unsigned char c;
	uint64_t acc = 0, lim;
	bool neg = false;

	if (v.n != 0 && (v.p[0] == '+' || v.p[0] == '-')) {
		neg = v.p[0] == '-';
		v.p++;
		v.n--;
	}
	if (v.n == 0)
		return false;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	while (cbs_get_byte(&v, &c)) {
		unsigned d = (unsigned)c - '0';

		if (d > 9 || acc > (lim - d) / 10)
			return false;
		acc = acc * 10 + d;
	}
	/* acc <= 2^63 here; for 2^63 (INT64_MIN) go through INT64_MAX. */
	*out = neg ? -(int64_t)(acc - 1) - 1 : (int64_t)acc;
	return true;
}

/* parse_version maps the Signature-Version value (empty when absent). */
static int parse_version(struct cbs v)
{
	if (v.n == 0)
		return 0;
	if (v.n == 1 && v.p[0] == '2')
		return 2;
	return LK_SIG_VERSION_BAD;
}

const char *lk_sig_reason_str(enum lk_sig_reason r)
{
	static const char *const names[LK_SIG__COUNT] = {
		[LK_SIG_OK] = "ok",
		[LK_SIG_INVALID] = "invalid-signature",
		[LK_SIG_UNKNOWN_KEY] = "unknown-key",
		[LK_SIG_SKEW] = "timestamp-skew",
		[LK_SIG_REPLAY] = "replay",
	};

	LK_ASSERT((unsigned)r < LK_SIG__COUNT);
	return names[r];
}

enum lk_sig_reason lk_sig_parse(const struct lk_http_req *r, struct lk_sig_req *out)
{
	struct cbs v[F__COUNT];
	bool agree = true;
	size_t n = 0;

	*out = (struct lk_sig_req){ .version = 0 };
	for (unsigned f = 0; f < F__COUNT; f++)
		agree &= pick(r, (enum field)f, &v[f]);
	out->present = v[F_SIGNATURE].n != 0;
	if (!out->present || !agree)
		return LK_SIG_INVALID;
	if (v[F_KEY_ID].n == 0 || v[F_TIMESTAMP].n == 0 || v[F_NONCE].n == 0)
		return LK_SIG_INVALID;
	/* HEAD: exactly 32 characters that decode as hex (either case). */
	if (v[F_NONCE].n != 2 * LK_SIG_NONCE_LEN)
		return LK_SIG_INVALID;
	if (lk_crypto_hex_decode(v[F_NONCE].p, v[F_NONCE].n, out->nonce, LK_SIG_NONCE_LEN, &n) != 0)
		return LK_SIG_INVALID;
	LK_DASSERT(n == LK_SIG_NONCE_LEN);
	out->nonce_hex = v[F_NONCE].p;
	out->key_id = v[F_KEY_ID].p;
	out->key_id_len = v[F_KEY_ID].n;
	out->sig = v[F_SIGNATURE].p;
	out->sig_len = v[F_SIGNATURE].n;
	out->ts_valid = parse_i64(v[F_TIMESTAMP], &out->ts);
	out->version = parse_version(v[F_VERSION]);
	return LK_SIG_OK;
}

/* ---- canonical string ---------------------------------------------------- */

/* add_decoded_path appends path percent-decoded like Go's url.PathUnescape
 * (which is how the reference gets URL.Path): "%XX" with two hex digits of
 * either case becomes one byte, '+' stays '+'. Returns 0, or -EINVAL for a
 * truncated or non-hex escape (Go's server refuses such a request). */
static int add_decoded_path(struct cbb *b, struct cbs path)
{
	unsigned char c;

	while (cbs_get_byte(&path, &c)) {
		struct cbs esc;
		uint8_t byte;
		size_t n = 0;

		if (c != '%') {
			cbb_add_byte(b, (char)c);
			continue;
		}
		if (!cbs_get_bytes(&path, 2, &esc) ||
		    lk_crypto_hex_decode(esc.p, esc.n, &byte, 1, &n) != 0)
			return -EINVAL;
		cbb_add_byte(b, (char)byte);
	}
	return 0;
}

/* add_target appends the second canonical line for version. */
static int add_target(struct cbb *b, struct cbs target, int version)
{
	switch (version) {
	case 2:
		/* The target as sent: escaped path, then '?' and the raw query
		 * whenever a '?' is present (Go: EscapedPath + ForceQuery). The
		 * parser refuses '#', so there is no fragment to strip. */
		cbb_add(b, target.p, target.n);
		return 0;
	case 0:
		/* Legacy signatures do not cover the query, so a request that
		 * has one (even an empty one) cannot use them (HEAD). */
		if (memchr(target.p, '?', target.n) != NULL)
			return -EINVAL;
		return add_decoded_path(b, target);
	default:
		return -EINVAL;
	}
}

int lk_sig_canonical_raw(const char *method, size_t method_len, const char *target,
			 size_t target_len, int version, const uint8_t body_sha256[LK_SHA256_LEN],
			 int64_t ts, const char *nonce_hex, char *out, size_t cap, size_t *out_len)
{
	struct cbb b = { .p = out, .cap = cap };
	char hex[2 * LK_SHA256_LEN + 1];
	int rc;

	LK_DASSERT(nonce_hex != NULL);
	cbb_add(&b, method, method_len);
	cbb_add_byte(&b, '\n');
	rc = add_target(&b, (struct cbs){ .p = target, .n = target_len }, version);
	if (rc != 0)
		return rc;
	cbb_add_byte(&b, '\n');
	if (lk_crypto_hex_encode(body_sha256, LK_SHA256_LEN, hex, sizeof(hex)) != 0)
		LK_UNREACHABLE();
	cbb_add(&b, hex, 2 * LK_SHA256_LEN);
	cbb_add_byte(&b, '\n');
	cbb_add_i64(&b, ts);
	cbb_add_byte(&b, '\n');
	cbb_add(&b, nonce_hex, 2 * LK_SIG_NONCE_LEN);
	if (b.overflow)
		return -ENOSPC;
	*out_len = b.len;
	return 0;
}

int lk_sig_canonical(const struct lk_http_req *r, const struct lk_sig_req *s,
		     const uint8_t body_sha256[LK_SHA256_LEN], char *out, size_t cap,
		     size_t *out_len)
{
	if (!s->present || !s->ts_valid || s->nonce_hex == NULL)
		return -EINVAL;
	/* The raw builder finds the query by the first '?', as the parser
	 * did when it set path_len: both must agree on "has a query". */
	LK_DASSERT(r->path_len <= r->target_len);
	LK_DASSERT((r->path_len == r->target_len) ==
		   (memchr(r->target, '?', r->target_len) == NULL));
	return lk_sig_canonical_raw(r->method, r->method_len, r->target, r->target_len, s->version,
				    body_sha256, s->ts, s->nonce_hex, out, cap, out_len);
}

/* ---- verification -------------------------------------------------------- */

/* within_skew compares in milliseconds, so a timestamp exactly max_skew_s
 * seconds away passes only when now_ms has no sub-second part (the reference
 * compares nanosecond durations). 128-bit arithmetic keeps any int64
 * timestamp exact: the reference's saturating Duration made timestamps more
 * than ~292 years ahead wrap to negative and pass, this cannot. */
static bool within_skew(int64_t ts, uint64_t now_ms, uint32_t max_skew_s)
{
	__int128 d = (__int128)now_ms - (__int128)ts * 1000;

	if (d < 0)
		d = -d;
	return d <= (__int128)max_skew_s * 1000;
}

enum lk_sig_reason lk_sig_verify(const struct lk_sig_req *s, const char *canonical, size_t len,
				 const struct lk_registry *reg, uint64_t now_ms,
				 uint32_t max_skew_s, const struct lk_pubkey **out_key)
{
	uint8_t sig[LK_ED25519_SIG_LEN];
	const struct lk_pubkey *key;
	size_t n = 0;

	if (!s->present)
		return LK_SIG_INVALID;
	key = lk_registry_find(reg, s->key_id, s->key_id_len);
	if (key == NULL)
		return LK_SIG_UNKNOWN_KEY;
	if (!s->ts_valid || !within_skew(s->ts, now_ms, max_skew_s))
		return LK_SIG_SKEW;
	/* Strict: '=', '+', '/', whitespace and non-zero trailing bits all
	 * fail, and anything but exactly 64 bytes is not an Ed25519
	 * signature (-ENOSPC when longer). */
	if (lk_crypto_b64_decode(LK_B64_URL_NOPAD, s->sig, s->sig_len, sig, sizeof(sig), &n) != 0 ||
	    n != LK_ED25519_SIG_LEN)
		return LK_SIG_INVALID;
	if (canonical == NULL)
		return LK_SIG_INVALID;
	if (!lk_crypto_ed25519_verify(key->key, canonical, len, sig))
		return LK_SIG_INVALID;
	*out_key = key;
	return LK_SIG_OK;
}
