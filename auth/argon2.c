/* auth/argon2.c - Argon2id PHC parsing, hashing and verification.
 *
 * The only file that includes <argon2.h> (DESIGN.md). libargon2's
 * ARGON2_* codes become -errno here. Error texts follow the reference's
 * ParsePHC ("argon2id: ..."), with the values that come from the PHC string
 * escaped so a hostile TOKEN_HASH cannot inject control bytes into the log
 * line that reports it. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <argon2.h>

#include "auth/argon2.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/dbg.h"

#define PHC_PREFIX "$argon2id$"
#define PHC_FIELDS 6
#define QUOTE_IN_MAX 40			 /* input bytes echoed in an error */
#define QUOTE_MAX (QUOTE_IN_MAX * 4 + 8) /* worst case: every byte as \xNN */

LK_STATIC_ASSERT(LK_PHC_SALT_MIN == ARGON2_MIN_SALT_LENGTH, "salt minimum tracks libargon2");
LK_STATIC_ASSERT(LK_PHC_HASH_MIN == ARGON2_MIN_OUTLEN, "hash minimum tracks libargon2");
LK_STATIC_ASSERT(LK_ARGON2_M_KIB_MAX <= ARGON2_MAX_MEMORY, "memory cap within libargon2");

/* A string view into the PHC string being parsed. */
struct span {
	const char *p;
	size_t n;
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t err_len, const char *fmt,
						      ...)
{
	va_list ap;
	int n;

	if (err == NULL || err_len == 0)
		return -EINVAL;
	n = snprintf(err, err_len, "argon2id: ");
	if (n > 0 && (size_t)n < err_len) {
		va_start(ap, fmt);
		vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* quote renders s[0..n) for an error message: printable ASCII as is, other
 * bytes as \xNN, cut after QUOTE_IN_MAX bytes with "...". Returns dst. */
static const char *quote(char dst[QUOTE_MAX], struct span s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < s.n && i < QUOTE_IN_MAX; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			dst[o++] = (char)c;
			continue;
		}
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 15];
	}
	if (s.n > QUOTE_IN_MAX) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

static bool span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* split cuts s at every sep. It stores up to max fields and returns how many
 * there are in total (so a caller can report "got N"). */
static size_t split(struct span s, char sep, struct span *fields, size_t max)
{
	size_t count = 0, start = 0;

	for (size_t i = 0; i <= s.n; i++) {
		if (i < s.n && s.p[i] != sep)
			continue;
		if (count < max)
			fields[count] = (struct span){ .p = s.p + start, .n = i - start };
		count++;
		start = i + 1;
	}
	return count;
}

/* parse_u64 accepts what Go's strconv.ParseUint(s, 10, 64) accepts: one or
 * more ASCII digits (leading zeros allowed), no sign, no spaces. */
static bool parse_u64(struct span s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		unsigned int d = (unsigned int)(unsigned char)s.p[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* parse_param applies one `k=v` item of the parameter field to out. */
static int parse_param(struct span item, struct lk_phc *out, char *err, size_t err_len)
{
	char q1[QUOTE_MAX], q2[QUOTE_MAX];
	const char *eq = memchr(item.p, '=', item.n);
	struct span key, val;
	uint64_t v;

	if (eq == NULL)
		return fail(err, err_len, "malformed parameter \"%s\"", quote(q1, item));
	key = (struct span){ .p = item.p, .n = (size_t)(eq - item.p) };
	val = (struct span){ .p = eq + 1, .n = item.n - key.n - 1 };
	if (!parse_u64(val, &v))
		return fail(err, err_len, "parameter \"%s\" value \"%s\" is not a valid integer",
			    quote(q1, key), quote(q2, val));
	if (span_is(key, "p")) {
		if (v > 255)
			return fail(err, err_len, "parallelism %llu exceeds maximum 255",
				    (unsigned long long)v);
		out->p = (uint32_t)v;
		return 0;
	}
	if (!span_is(key, "m") && !span_is(key, "t"))
		return fail(err, err_len, "unknown parameter \"%s\"", quote(q1, key));
	/* The reference (v0.2.0) truncated these to 32 bits; HEAD rejects. */
	if (v > UINT32_MAX)
		return fail(err, err_len, "parameter \"%c\" value %llu exceeds 4294967295",
			    key.p[0], (unsigned long long)v);
	if (key.p[0] == 'm')
		out->m_kib = (uint32_t)v;
	else
		out->t = (uint32_t)v;
	return 0;
}

static int parse_params(struct span field, struct lk_phc *out, char *err, size_t err_len)
{
	struct span items[3];
	size_t n = split(field, ',', items, LK_ARRAY_SIZE(items));

	if (n != 3)
		return fail(err, err_len, "expected 3 parameter fields, got %zu", n);
	for (size_t i = 0; i < n; i++) {
		int rc = parse_param(items[i], out, err, err_len);

		if (rc != 0)
			return rc;
	}
	return 0;
}

/* check_costs enforces the reference's minimums and our cost cap. */
static int check_costs(const struct lk_phc *h, char *err, size_t err_len)
{
	if (h->t < 1)
		return fail(err, err_len, "t must be at least 1");
	if (h->p < 1)
		return fail(err, err_len, "p must be at least 1");
	if (h->p > 255)
		return fail(err, err_len, "parallelism %u exceeds maximum 255", h->p);
	if (h->m_kib < 8 * h->p)
		return fail(err, err_len, "m=%u must be at least 8*p (%u KiB)", h->m_kib, 8 * h->p);
	if (h->m_kib > LK_ARGON2_M_KIB_MAX)
		return fail(err, err_len,
			    "m=%u KiB exceeds the verification cost cap of %u KiB (256 MiB)",
			    h->m_kib, LK_ARGON2_M_KIB_MAX);
	if (h->t > LK_ARGON2_T_MAX)
		return fail(err, err_len, "t=%u exceeds the verification cost cap of %u passes",
			    h->t, LK_ARGON2_T_MAX);
	if (h->p > LK_ARGON2_P_MAX)
		return fail(err, err_len, "p=%u exceeds the verification cost cap of %u lanes",
			    h->p, LK_ARGON2_P_MAX);
	return 0;
}

/* phc_check validates a struct lk_phc that may not have come from
 * lk_phc_parse: costs and both lengths. */
static int phc_check(const struct lk_phc *h)
{
	if (h->salt_len < LK_PHC_SALT_MIN || h->salt_len > LK_PHC_SALT_MAX)
		return -EINVAL;
	if (h->hash_len < LK_PHC_HASH_MIN || h->hash_len > LK_PHC_HASH_MAX)
		return -EINVAL;
	return check_costs(h, NULL, 0);
}

/* decode_b64 decodes the salt or hash field into dst with its bounds. */
static int decode_b64(const char *what, struct span f, uint8_t *dst, size_t min, size_t max,
		      uint32_t *out_len, char *err, size_t err_len)
{
	uint8_t tmp[LK_PHC_SALT_MAX > LK_PHC_HASH_MAX ? LK_PHC_SALT_MAX : LK_PHC_HASH_MAX];
	size_t n = 0;
	int rc;

	if (f.n == 0)
		return fail(err, err_len, "%s must not be empty", what);
	rc = lk_crypto_b64_decode(LK_B64_STD_NOPAD, f.p, f.n, tmp, max, &n);
	if (rc == -ENOSPC)
		return fail(err, err_len, "%s longer than %zu bytes", what, max);
	if (rc != 0)
		return fail(err, err_len, "invalid base64 %s", what);
	if (n < min)
		return fail(err, err_len, "%s must be at least %zu bytes for libargon2, got %zu",
			    what, min, n);
	memcpy(dst, tmp, n);
	*out_len = (uint32_t)n;
	return 0;
}

static int parse_fields(const struct span *f, struct lk_phc *out, char *err, size_t err_len)
{
	char q[QUOTE_MAX];
	int rc;

	if (!span_is(f[1], "argon2id"))
		return fail(err, err_len, "algorithm must be argon2id, got \"%s\"", quote(q, f[1]));
	if (!span_is(f[2], "v=19"))
		return fail(err, err_len, "version must be v=19, got \"%s\"", quote(q, f[2]));
	rc = parse_params(f[3], out, err, err_len);
	if (rc == 0)
		rc = check_costs(out, err, err_len);
	if (rc == 0)
		rc = decode_b64("salt", f[4], out->salt, LK_PHC_SALT_MIN, LK_PHC_SALT_MAX,
				&out->salt_len, err, err_len);
	if (rc == 0)
		rc = decode_b64("hash", f[5], out->hash, LK_PHC_HASH_MIN, LK_PHC_HASH_MAX,
				&out->hash_len, err, err_len);
	return rc;
}

int lk_phc_parse(const char *s, struct lk_phc *out, char *err, size_t err_len)
{
	struct span fields[PHC_FIELDS], all;
	size_t n;
	int rc;

	*out = (struct lk_phc){ 0 };
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	all = (struct span){ .p = s, .n = strnlen(s, LK_PHC_STR_MAX) };
	if (all.n >= LK_PHC_STR_MAX)
		return fail(err, err_len, "PHC string longer than %d bytes", LK_PHC_STR_MAX - 1);
	if (strncmp(s, PHC_PREFIX, strlen(PHC_PREFIX)) != 0)
		return fail(err, err_len, "unsupported algorithm or malformed PHC string");
	n = split(all, '$', fields, PHC_FIELDS);
	if (n != PHC_FIELDS)
		return fail(err, err_len, "expected %d $ segments, got %zu", PHC_FIELDS, n);
	rc = parse_fields(fields, out, err, err_len);
	if (rc != 0)
		lk_crypto_cleanse(out, sizeof(*out));
	return rc;
}

int lk_phc_format(const struct lk_phc *h, char *out, size_t out_len)
{
	char salt[LK_PHC_SALT_MAX / 3 * 4 + 4 + 1], hash[LK_PHC_HASH_MAX / 3 * 4 + 4 + 1];
	struct lk_obuf b;

	if (out_len == 0)
		return -ENOSPC;
	out[0] = '\0';
	if (h->salt_len > LK_PHC_SALT_MAX || h->hash_len > LK_PHC_HASH_MAX)
		return -EINVAL;
	if (lk_crypto_b64_encode(LK_B64_STD_NOPAD, h->salt, h->salt_len, salt, sizeof(salt)) != 0 ||
	    lk_crypto_b64_encode(LK_B64_STD_NOPAD, h->hash, h->hash_len, hash, sizeof(hash)) != 0)
		LK_UNREACHABLE(); /* buffers are sized for the maxima checked above */
	lk_obuf_init(&b, out, out_len > UINT32_MAX ? UINT32_MAX : (uint32_t)out_len);
	lk_obuf_puts(&b, PHC_PREFIX "v=19$m=");
	lk_obuf_put_u64(&b, h->m_kib);
	lk_obuf_puts(&b, ",t=");
	lk_obuf_put_u64(&b, h->t);
	lk_obuf_puts(&b, ",p=");
	lk_obuf_put_u64(&b, h->p);
	lk_obuf_puts(&b, "$");
	lk_obuf_puts(&b, salt);
	lk_obuf_puts(&b, "$");
	lk_obuf_puts(&b, hash);
	lk_obuf_put(&b, "", 1);
	if (b.overflow) {
		out[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

static int map_argon2_err(int rc)
{
	switch (rc) {
	case ARGON2_OK:
		return 0;
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		return -ENOMEM;
	case ARGON2_THREAD_FAIL:
		return -EAGAIN;
	default:
		return -EINVAL;
	}
}

/* derive runs Argon2id with h's salt and costs into out (h->hash_len bytes).
 * libargon2 wipes its own working memory (FLAG_clear_internal_memory). */
static int derive(const struct lk_phc *h, const char *token, size_t len, uint8_t *out)
{
	if (len > ARGON2_MAX_PWD_LENGTH)
		return -EINVAL;
	return map_argon2_err(argon2id_hash_raw(h->t, h->m_kib, h->p, token, len, h->salt,
						h->salt_len, out, h->hash_len));
}

int lk__argon2_hash_phc(struct lk_phc *h, const char *token, size_t len, char *out, size_t out_len)
{
	int rc;

	if (out_len > 0)
		out[0] = '\0';
	rc = phc_check(h);
	if (rc == 0)
		rc = derive(h, token, len, h->hash);
	if (rc == 0)
		rc = lk_phc_format(h, out, out_len);
	return rc;
}

int lk_argon2_hash_token(const char *token, size_t len, char *out, size_t out_len)
{
	struct lk_phc h = {
		.m_kib = LK_ARGON2_DEFAULT_M_KIB,
		.t = LK_ARGON2_DEFAULT_T,
		.p = LK_ARGON2_DEFAULT_P,
		.salt_len = LK_ARGON2_DEFAULT_SALT_LEN,
		.hash_len = LK_ARGON2_DEFAULT_HASH_LEN,
	};
	int rc = lk_crypto_random(h.salt, h.salt_len);

	if (rc == 0)
		rc = lk__argon2_hash_phc(&h, token, len, out, out_len);
	lk_crypto_cleanse(&h, sizeof(h));
	return rc;
}

int lk_argon2_verify(const struct lk_phc *h, const char *token, size_t len)
{
	uint8_t derived[LK_PHC_HASH_MAX];
	int rc = phc_check(h);

	if (rc != 0)
		return rc;
	/* No shortcut on any path: a wrong token costs a full derivation, so
	 * timing says nothing about how close a guess was. */
	rc = derive(h, token, len, derived);
	if (rc == 0 && !lk_crypto_ct_eq(derived, h->hash, h->hash_len))
		rc = -EACCES;
	lk_crypto_cleanse(derived, sizeof(derived));
	return rc;
}
