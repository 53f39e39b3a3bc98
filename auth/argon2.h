/* auth/argon2.h - Argon2id token hashes (TOKEN_HASH and `lookout hash-token`).
 *
 * A PHC string `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`
 * is parsed once at start-up (lk_phc_parse) into a struct lk_phc, and each
 * presented token is checked against it with lk_argon2_verify. The verifier
 * pool, its success cache and its admission limit are a separate module;
 * this one only parses, derives and compares.
 *
 * Cost cap: the PHC string comes from the operator, but a hash pasted from
 * elsewhere (or planted by an attacker who can edit the environment) could
 * demand gigabytes and minutes per verification. Parameters are therefore
 * capped so a hostile hash cannot cost more than the cap: m <= 262144 KiB
 * (256 MiB), t <= 16 passes and p <= 16 lanes, on top of the reference's own
 * limits (m and t < 2^32, p <= 255, t >= 1, p >= 1, m >= 8*p). Anything
 * beyond the cap is a start-up error that names the cap.
 *
 * libargon2 (<argon2.h>) is included only by auth/argon2.c. */
#ifndef LK_AUTH_ARGON2_H
#define LK_AUTH_ARGON2_H

#include <stddef.h>
#include <stdint.h>

#define LK_PHC_SALT_MIN 8	   /* libargon2's ARGON2_MIN_SALT_LENGTH */
#define LK_PHC_SALT_MAX 64	   /* bytes; hash-token writes 16 */
#define LK_PHC_HASH_MIN 4	   /* libargon2's ARGON2_MIN_OUTLEN */
#define LK_PHC_HASH_MAX 64	   /* bytes; hash-token writes 32 */
#define LK_PHC_STR_MAX 256	   /* longest PHC string accepted or produced, with NUL */
#define LK_ARGON2_M_KIB_MAX 262144 /* verification cost cap: 256 MiB */
#define LK_ARGON2_T_MAX 16	   /* verification cost cap: passes */
#define LK_ARGON2_P_MAX 16	   /* verification cost cap: lanes (threads) */

#define LK_ARGON2_DEFAULT_M_KIB 19456 /* hash-token parameters (OWASP) */
#define LK_ARGON2_DEFAULT_T 2
#define LK_ARGON2_DEFAULT_P 1
#define LK_ARGON2_DEFAULT_SALT_LEN 16
#define LK_ARGON2_DEFAULT_HASH_LEN 32

/* struct lk_phc is a parsed Argon2id (version 0x13) PHC string. It holds no
 * pointers, so it can be copied into an immutable credentials snapshot. The
 * hash is not the token, but it is still key material for an offline guess:
 * wipe it with lk_crypto_cleanse when the snapshot dies. */
struct lk_phc {
	uint32_t m_kib;	   /* memory, KiB */
	uint32_t t;	   /* passes */
	uint32_t p;	   /* lanes */
	uint32_t salt_len; /* LK_PHC_SALT_MIN..LK_PHC_SALT_MAX */
	uint32_t hash_len; /* LK_PHC_HASH_MIN..LK_PHC_HASH_MAX */
	uint8_t salt[LK_PHC_SALT_MAX];
	uint8_t hash[LK_PHC_HASH_MAX];
};

/* lk_phc_parse parses the NUL-terminated PHC string s (borrowed) into *out.
 * Rules (spec lookout-core 6.2 plus HEAD): prefix `$argon2id$`, exactly six
 * `$` fields, `v=19`, exactly three `k=v` items with keys m/t/p in any order
 * (a repeat overwrites, a missing one stays 0), unsigned decimal values,
 * m and t <= 2^32-1, p <= 255, t >= 1, p >= 1, m >= 8*p, then the cost cap
 * above; salt and hash in standard base64 without padding (strict).
 * Returns 0, or -EINVAL with a one-line reason ("argon2id: ...") in err
 * (err_len bytes, always NUL-terminated when err_len > 0); *out is zeroed on
 * error. Does not run Argon2. */
int lk_phc_parse(const char *s, struct lk_phc *out, char *err, size_t err_len);

/* lk_phc_format writes h as a PHC string (salt and hash in unpadded standard
 * base64) and a NUL into out (out_len bytes). Returns 0, -EINVAL if h's
 * lengths are out of range, or -ENOSPC if out is too small
 * (LK_PHC_STR_MAX always suffices). */
int lk_phc_format(const struct lk_phc *h, char *out, size_t out_len);

/* lk_argon2_hash_token hashes token[0..len) (borrowed, may contain any
 * bytes) with a fresh 16-byte random salt and m=19456,t=2,p=1, 32-byte
 * output, and writes the PHC string and a NUL to out (out_len bytes;
 * LK_PHC_STR_MAX suffices). Blocks for tens of milliseconds: never call it on
 * a ring thread. Returns 0, -EIO if no randomness, -ENOMEM if Argon2 could
 * not allocate, -ENOSPC if out is too small, or -EINVAL for a token longer
 * than 2^32-1 bytes. Intermediate secrets are wiped. */
int lk_argon2_hash_token(const char *token, size_t len, char *out, size_t out_len);

/* lk_argon2_verify derives Argon2id(token, h->salt, h->t, h->m_kib, h->p,
 * h->hash_len) and compares it with h->hash in constant time. It always runs
 * the full derivation (no early exit for a wrong token) and wipes the
 * derived bytes. Blocks for as long as the parameters demand (bounded by the
 * cost cap; with p > 1 libargon2 also starts p threads for the call): call
 * it from the verifier pool, never on a ring thread.
 * Returns 0 on match, -EACCES on mismatch, -EINVAL if h is out of range
 * (was not produced by lk_phc_parse), -ENOMEM or -EAGAIN if Argon2 could not
 * allocate memory or start its lane threads. */
int lk_argon2_verify(const struct lk_phc *h, const char *token, size_t len);

/* lk__argon2_hash_phc is the deterministic core of lk_argon2_hash_token,
 * exposed for known-answer tests: it derives h->hash_len bytes from
 * token[0..len) with the salt and costs already in *h, stores them in
 * h->hash, and writes the PHC string to out (out_len bytes). *h must pass
 * the same range checks as a parsed hash (cost cap included). Returns 0, or
 * a negative errno as lk_argon2_hash_token. */
int lk__argon2_hash_phc(struct lk_phc *h, const char *token, size_t len, char *out, size_t out_len);

#endif /* LK_AUTH_ARGON2_H */
