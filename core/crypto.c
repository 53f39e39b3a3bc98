/* core/crypto.c - BoringSSL hashing, Ed25519, randomness, and strict codecs.
 *
 * This file and core/tls.c are the only ones that include BoringSSL headers
 * (DESIGN.md). BoringSSL's 1/0 results become 0/-errno or bool here.
 *
 * The base64 and hex codecs are written out rather than taken from
 * EVP_EncodeBlock/EVP_DecodeBase64 because we need the unpadded and URL
 * variants, strict rejection of non-canonical input, and branch-free
 * character mapping (private keys pass through the PEM decoder). The mapping
 * uses the comparison-mask technique of libsodium's codecs.c: each helper
 * returns 0xff for "true" and 0 for "false" without a data-dependent branch.
 * Lengths and the variant are public and may be branched on. */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/base.h>
#ifndef OPENSSL_IS_BORINGSSL
#error "core/crypto.c must be built against BoringSSL (put -I/usr/include/android first)"
#endif
#include <openssl/curve25519.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/crypto.h"
#include "core/dbg.h"

LK_STATIC_ASSERT(sizeof(SHA256_CTX) <= LK_CRYPTO_SHA256_STATE,
		 "struct lk_crypto_sha256 too small for SHA256_CTX");
LK_STATIC_ASSERT(_Alignof(SHA256_CTX) <= 16, "struct lk_crypto_sha256 under-aligned");
LK_STATIC_ASSERT(LK_SHA256_LEN == SHA256_DIGEST_LENGTH, "SHA-256 length");
LK_STATIC_ASSERT(LK_ED25519_PRIV_LEN == ED25519_PRIVATE_KEY_LEN, "Ed25519 private key length");
LK_STATIC_ASSERT(LK_ED25519_PUB_LEN == ED25519_PUBLIC_KEY_LEN, "Ed25519 public key length");
LK_STATIC_ASSERT(LK_ED25519_SIG_LEN == ED25519_SIGNATURE_LEN, "Ed25519 signature length");

/* ---- hashing ---------------------------------------------------------- */

static SHA256_CTX *sha_ctx(struct lk_crypto_sha256 *ctx)
{
	return (SHA256_CTX *)(void *)ctx->_state;
}

void lk_crypto_sha256(const void *data, size_t len, uint8_t out[LK_SHA256_LEN])
{
	SHA256(data, len, out);
}

void lk_crypto_sha256_init(struct lk_crypto_sha256 *ctx)
{
	SHA256_Init(sha_ctx(ctx));
}

void lk_crypto_sha256_update(struct lk_crypto_sha256 *ctx, const void *data, size_t len)
{
	SHA256_Update(sha_ctx(ctx), data, len);
}

void lk_crypto_sha256_final(struct lk_crypto_sha256 *ctx, uint8_t out[LK_SHA256_LEN])
{
	SHA256_Final(out, sha_ctx(ctx));
	/* The state holds the tail of whatever was hashed (maybe a token). */
	OPENSSL_cleanse(ctx, sizeof(*ctx));
}

/* ---- Ed25519 ---------------------------------------------------------- */

#ifdef LK_FUZZING_UNSAFE_FOR_PRODUCTION
static bool fuzz_force_verify;

void lk_crypto_fuzz_force_verify(bool on)
{
	fuzz_force_verify = on;
}
#endif

void lk_crypto_ed25519_keypair(const uint8_t seed[LK_ED25519_SEED_LEN],
			       uint8_t out_pub[LK_ED25519_PUB_LEN],
			       uint8_t out_priv[LK_ED25519_PRIV_LEN])
{
	ED25519_keypair_from_seed(out_pub, out_priv, seed);
}

int lk_crypto_ed25519_sign(const uint8_t priv[LK_ED25519_PRIV_LEN], const void *msg, size_t len,
			   uint8_t out_sig[LK_ED25519_SIG_LEN])
{
	if (ED25519_sign(out_sig, msg, len, priv) != 1) {
		memset(out_sig, 0, LK_ED25519_SIG_LEN);
		return -EIO;
	}
	return 0;
}

bool lk_crypto_ed25519_verify(const uint8_t pub[LK_ED25519_PUB_LEN], const void *msg, size_t len,
			      const uint8_t sig[LK_ED25519_SIG_LEN])
{
	bool ok = ED25519_verify(msg, len, sig, pub) == 1;

#ifdef LK_FUZZING_UNSAFE_FOR_PRODUCTION
	if (fuzz_force_verify)
		ok = true;
#endif
	return ok;
}

/* ---- randomness, comparison, wiping ----------------------------------- */

int lk_crypto_random(void *buf, size_t len)
{
	/* BoringSSL aborts rather than return 0 today; keep the check so a
	 * future build that reports failure cannot hand out a stale buffer. */
	if (RAND_bytes(buf, len) != 1) {
		OPENSSL_cleanse(buf, len);
		return -EIO;
	}
	return 0;
}

bool lk_crypto_ct_eq(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void lk_crypto_cleanse(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

/* ---- constant-time comparison masks (x, y < 256) ---------------------- */

static inline unsigned int ct_gt(unsigned int x, unsigned int y)
{
	return ((y - x) >> 8) & 0xff;
}

static inline unsigned int ct_ge(unsigned int x, unsigned int y)
{
	return ct_gt(y, x) ^ 0xff;
}

static inline unsigned int ct_lt(unsigned int x, unsigned int y)
{
	return ct_gt(y, x);
}

static inline unsigned int ct_le(unsigned int x, unsigned int y)
{
	return ct_ge(y, x);
}

static inline unsigned int ct_eq(unsigned int x, unsigned int y)
{
	return (((0u - (x ^ y)) >> 8) & 0xff) ^ 0xff;
}

/* ---- base64 ----------------------------------------------------------- */

static bool b64_is_url(enum lk_b64 v)
{
	return v == LK_B64_URL || v == LK_B64_URL_NOPAD;
}

static bool b64_is_padded(enum lk_b64 v)
{
	return v == LK_B64_STD || v == LK_B64_URL;
}

/* b64_char maps a 6-bit value to its character in the chosen alphabet. */
static char b64_char(unsigned int x, bool url)
{
	unsigned int c62 = url ? '-' : '+', c63 = url ? '_' : '/';
	unsigned int c = (ct_lt(x, 26) & (x + 'A')) |
			 (ct_ge(x, 26) & ct_lt(x, 52) & (x + ('a' - 26))) |
			 (ct_ge(x, 52) & ct_lt(x, 62) & (x - (52 - '0'))) | (ct_eq(x, 62) & c62) |
			 (ct_eq(x, 63) & c63);

	return (char)c;
}

/* b64_value maps a character to its 6-bit value, or 0xff if it is not in the
 * alphabet ('=' included: padding is stripped before mapping). */
static unsigned int b64_value(unsigned char ch, bool url)
{
	unsigned int c = ch, c62 = url ? '-' : '+', c63 = url ? '_' : '/';
	unsigned int x = (ct_ge(c, 'A') & ct_le(c, 'Z') & (c - 'A')) |
			 (ct_ge(c, 'a') & ct_le(c, 'z') & (c - ('a' - 26))) |
			 (ct_ge(c, '0') & ct_le(c, '9') & (c + (52 - '0'))) | (ct_eq(c, c62) & 62) |
			 (ct_eq(c, c63) & 63);

	/* x == 0 is legitimate only for 'A'. */
	return x | (ct_eq(x, 0) & (ct_eq(c, 'A') ^ 0xff));
}

size_t lk_crypto_b64_encoded_len(enum lk_b64 v, size_t len)
{
	size_t full = len / 3 * 4, rem = len % 3;

	if (rem == 0)
		return full;
	return full + (b64_is_padded(v) ? 4 : rem + 1);
}

int lk_crypto_b64_encode(enum lk_b64 v, const void *src, size_t len, char *out, size_t out_cap)
{
	const uint8_t *s = src;
	bool url = b64_is_url(v);
	size_t need = lk_crypto_b64_encoded_len(v, len), o = 0, i = 0;

	LK_ASSERT((unsigned int)v < LK_B64__COUNT);
	if (len > SIZE_MAX / 2 || out_cap < need + 1) {
		if (out_cap != 0)
			out[0] = '\0';
		return -ENOSPC;
	}
	for (; i + 3 <= len; i += 3) {
		uint32_t w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

		out[o++] = b64_char(w >> 18, url);
		out[o++] = b64_char((w >> 12) & 63, url);
		out[o++] = b64_char((w >> 6) & 63, url);
		out[o++] = b64_char(w & 63, url);
	}
	if (i < len) {
		uint32_t w = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);

		out[o++] = b64_char(w >> 18, url);
		out[o++] = b64_char((w >> 12) & 63, url);
		if (i + 1 < len)
			out[o++] = b64_char((w >> 6) & 63, url);
		while (b64_is_padded(v) && o % 4 != 0)
			out[o++] = '=';
	}
	LK_ASSERT(o == need);
	out[o] = '\0';
	return 0;
}

/* b64_body_len strips the padding a padded variant requires and returns the
 * number of alphabet characters, or -EINVAL if the length or padding is
 * wrong. Only lengths and '=' positions are inspected, which are public. */
static ssize_t b64_body_len(enum lk_b64 v, const char *src, size_t len)
{
	size_t n = len;

	if (b64_is_padded(v)) {
		if (len % 4 != 0)
			return -EINVAL;
		if (n > 0 && src[n - 1] == '=')
			n--;
		if (n > 0 && src[n - 1] == '=')
			n--;
		/* "xx==" and "xxx=" only: padding must complete the quantum. */
		if (len - n != (4 - n % 4) % 4)
			return -EINVAL;
	}
	if (n % 4 == 1 || n > (size_t)SSIZE_MAX)
		return -EINVAL;
	return (ssize_t)n;
}

int lk_crypto_b64_decode(enum lk_b64 v, const char *src, size_t len, uint8_t *out, size_t out_cap,
			 size_t *out_len)
{
	bool url = b64_is_url(v);
	ssize_t body = b64_body_len(v, src, len);
	size_t n, need, o = 0, i = 0;
	unsigned int bad = 0;

	LK_ASSERT((unsigned int)v < LK_B64__COUNT);
	*out_len = 0;
	if (body < 0)
		return (int)body;
	n = (size_t)body;
	need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	if (need > out_cap)
		return -ENOSPC;
	for (; i + 4 <= n; i += 4) {
		unsigned int a = b64_value((unsigned char)src[i], url);
		unsigned int b = b64_value((unsigned char)src[i + 1], url);
		unsigned int c = b64_value((unsigned char)src[i + 2], url);
		unsigned int d = b64_value((unsigned char)src[i + 3], url);
		uint32_t w = (a & 63) << 18 | (b & 63) << 12 | (c & 63) << 6 | (d & 63);

		bad |= (a | b | c | d) & 0xc0;
		out[o++] = (uint8_t)(w >> 16);
		out[o++] = (uint8_t)(w >> 8);
		out[o++] = (uint8_t)w;
	}
	if (i < n) {
		unsigned int a = b64_value((unsigned char)src[i], url);
		unsigned int b = b64_value((unsigned char)src[i + 1], url);
		unsigned int c = n - i == 3 ? b64_value((unsigned char)src[i + 2], url) : 0;

		bad |= (a | b | c) & 0xc0;
		out[o++] = (uint8_t)((a & 63) << 2 | (b & 63) >> 4);
		if (n - i == 3) {
			out[o++] = (uint8_t)((b & 15) << 4 | (c & 63) >> 2);
			bad |= c & 3; /* canonical: unused low bits are zero */
		} else {
			bad |= b & 15;
		}
	}
	LK_ASSERT(o == need);
	if (bad != 0) {
		OPENSSL_cleanse(out, need);
		return -EINVAL;
	}
	*out_len = need;
	return 0;
}

/* ---- hex -------------------------------------------------------------- */

int lk_crypto_hex_encode(const void *src, size_t len, char *out, size_t out_cap)
{
	const uint8_t *s = src;

	if (len > (SIZE_MAX - 1) / 2 || out_cap < 2 * len + 1) {
		if (out_cap != 0)
			out[0] = '\0';
		return -ENOSPC;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned int hi = s[i] >> 4, lo = s[i] & 15;

		out[2 * i] = (char)('0' + hi + (ct_gt(hi, 9) & ('a' - '0' - 10)));
		out[2 * i + 1] = (char)('0' + lo + (ct_gt(lo, 9) & ('a' - '0' - 10)));
	}
	out[2 * len] = '\0';
	return 0;
}

/* hex_value maps a hex digit (either case) to 0..15, or 0xff. */
static unsigned int hex_value(unsigned char ch)
{
	unsigned int c = ch, l = c | 0x20;
	unsigned int digit = ct_ge(c, '0') & ct_le(c, '9');
	unsigned int alpha = ct_ge(l, 'a') & ct_le(l, 'f');

	return (digit & (c - '0')) | (alpha & (l - 'a' + 10)) | ((digit | alpha) ^ 0xff);
}

int lk_crypto_hex_decode(const char *src, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	unsigned int bad = 0;

	*out_len = 0;
	if (len % 2 != 0)
		return -EINVAL;
	if (len / 2 > out_cap)
		return -ENOSPC;
	for (size_t i = 0; i < len; i += 2) {
		unsigned int hi = hex_value((unsigned char)src[i]);
		unsigned int lo = hex_value((unsigned char)src[i + 1]);

		bad |= (hi | lo) & 0xf0;
		out[i / 2] = (uint8_t)((hi & 15) << 4 | (lo & 15));
	}
	if (bad != 0) {
		OPENSSL_cleanse(out, len / 2);
		return -EINVAL;
	}
	*out_len = len / 2;
	return 0;
}
