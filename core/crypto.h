/* core/crypto.h - the project's only window onto BoringSSL's primitives.
 *
 * Everything above core/ hashes, signs, verifies and draws randomness through
 * these functions, so BoringSSL headers stay in core/crypto.c (and core/tls.c)
 * and its 1/0 return convention never leaks out (STYLE.md 6.6). The codecs
 * (base64, hex) live here too because auth/ decodes keys and signatures with
 * them and they must be strict and constant-time over secret bytes.
 *
 * None of these functions allocate, log or call back. All are thread-safe. */
#ifndef LK_CORE_CRYPTO_H
#define LK_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LK_SHA256_LEN 32	   /* digest bytes */
#define LK_ED25519_SEED_LEN 32	   /* RFC 8032 private key (seed) bytes */
#define LK_ED25519_PUB_LEN 32	   /* raw public key bytes */
#define LK_ED25519_PRIV_LEN 64	   /* expanded key: seed || public key */
#define LK_ED25519_SIG_LEN 64	   /* signature bytes */
#define LK_CRYPTO_SHA256_STATE 128 /* opaque state bytes; asserted >= SHA256_CTX */

/* struct lk_crypto_sha256 is an incremental SHA-256 state. It is embeddable
 * (callers put it on the stack or in a conn) but opaque: the bytes are
 * BoringSSL's SHA256_CTX, which core/crypto.c checks fits at compile time. */
struct lk_crypto_sha256 {
	_Alignas(16) unsigned char _state[LK_CRYPTO_SHA256_STATE];
};

/* enum lk_b64 selects the base64 alphabet and padding. */
enum lk_b64 {
	LK_B64_STD,	  /* RFC 4648 section 4, '=' padded (authorized_keys, PEM) */
	LK_B64_STD_NOPAD, /* section 4 alphabet, no padding (PHC salt and hash) */
	LK_B64_URL,	  /* RFC 4648 section 5, '=' padded */
	LK_B64_URL_NOPAD, /* section 5 alphabet, no padding (X-*-Signature) */
	LK_B64__COUNT
};

/* lk_crypto_sha256 writes SHA-256(data[0..len)) to out. Cannot fail. */
void lk_crypto_sha256(const void *data, size_t len, uint8_t out[LK_SHA256_LEN]);
/* lk_crypto_sha256_init starts an incremental hash in ctx (caller-owned). */
void lk_crypto_sha256_init(struct lk_crypto_sha256 *ctx);
/* lk_crypto_sha256_update feeds len bytes of data (borrowed) into ctx. */
void lk_crypto_sha256_update(struct lk_crypto_sha256 *ctx, const void *data, size_t len);
/* lk_crypto_sha256_final writes the digest to out and wipes ctx; ctx must be
 * re-initialised before reuse. */
void lk_crypto_sha256_final(struct lk_crypto_sha256 *ctx, uint8_t out[LK_SHA256_LEN]);

/* lk_crypto_ed25519_keypair derives the public key and the 64-byte expanded
 * private key from a 32-byte seed. out_priv is secret: the caller wipes it
 * with lk_crypto_cleanse when done. Cannot fail. */
void lk_crypto_ed25519_keypair(const uint8_t seed[LK_ED25519_SEED_LEN],
			       uint8_t out_pub[LK_ED25519_PUB_LEN],
			       uint8_t out_priv[LK_ED25519_PRIV_LEN]);
/* lk_crypto_ed25519_sign writes the signature of msg[0..len) under the
 * expanded private key priv (from lk_crypto_ed25519_keypair) to out_sig.
 * Returns 0, or -EIO if BoringSSL reports a failure. */
int lk_crypto_ed25519_sign(const uint8_t priv[LK_ED25519_PRIV_LEN], const void *msg, size_t len,
			   uint8_t out_sig[LK_ED25519_SIG_LEN]);
/* lk_crypto_ed25519_verify returns true iff sig is a valid signature of
 * msg[0..len) by pub. Peer-controlled input is fine here: a bad key, a
 * non-canonical signature or any length of message is just "false". In a
 * LK_FUZZING_UNSAFE_FOR_PRODUCTION build it also returns true while
 * lk_crypto_fuzz_force_verify(true) is in effect. */
bool lk_crypto_ed25519_verify(const uint8_t pub[LK_ED25519_PUB_LEN], const void *msg, size_t len,
			      const uint8_t sig[LK_ED25519_SIG_LEN]);

#ifdef LK_FUZZING_UNSAFE_FOR_PRODUCTION
/* lk_crypto_fuzz_force_verify makes every lk_crypto_ed25519_verify call
 * return true while on is set, so fuzzers reach the code behind a signature
 * check. Exists only in fuzz builds; never compiled into a release. */
void lk_crypto_fuzz_force_verify(bool on);
#endif

/* lk_crypto_random fills buf with len bytes from the OS-seeded CSPRNG.
 * Returns 0, or -EIO if no randomness could be drawn (buf is then zeroed). */
int lk_crypto_random(void *buf, size_t len);
/* lk_crypto_ct_eq returns true iff a and b are equal over len bytes, in time
 * that depends only on len. */
bool lk_crypto_ct_eq(const void *a, const void *b, size_t len);
/* lk_crypto_cleanse zeroes len bytes at p in a way the compiler cannot elide;
 * used on every secret before its memory is reused or released. */
void lk_crypto_cleanse(void *p, size_t len);

/* lk_crypto_b64_encoded_len returns the number of characters (without the
 * terminating NUL) that lk_crypto_b64_encode writes for len input bytes. */
size_t lk_crypto_b64_encoded_len(enum lk_b64 v, size_t len);
/* lk_crypto_b64_encode writes the base64 form of src[0..len) and a NUL into
 * out (out_cap bytes, borrowed). Runs in time independent of the byte values,
 * so it may encode secrets. Returns 0, or -ENOSPC if out cannot hold
 * lk_crypto_b64_encoded_len() + 1 bytes (out then holds ""). */
int lk_crypto_b64_encode(enum lk_b64 v, const void *src, size_t len, char *out, size_t out_cap);
/* lk_crypto_b64_decode decodes src[0..len) strictly: only the variant's
 * alphabet, no whitespace, exact padding for the padded variants and none
 * for the unpadded ones, no impossible length (1 mod 4), and zero bits
 * after the last byte (canonical form). Writes the bytes to out (out_cap
 * bytes) and their number to *out_len. Time is independent of the byte
 * values. Returns 0, -EINVAL for malformed input, or -ENOSPC if out is too
 * small. On error *out_len is 0 and out is wiped. */
int lk_crypto_b64_decode(enum lk_b64 v, const char *src, size_t len, uint8_t *out, size_t out_cap,
			 size_t *out_len);

/* lk_crypto_hex_encode writes 2*len lower-case hex digits of src and a NUL to
 * out (out_cap bytes). Returns 0, or -ENOSPC if out_cap < 2*len + 1. */
int lk_crypto_hex_encode(const void *src, size_t len, char *out, size_t out_cap);
/* lk_crypto_hex_decode decodes src[0..len) (upper or lower case, even
 * length, nothing else) into out (out_cap bytes) and sets *out_len. Returns 0,
 * -EINVAL for malformed input, or -ENOSPC if out_cap < len/2. */
int lk_crypto_hex_decode(const char *src, size_t len, uint8_t *out, size_t out_cap,
			 size_t *out_len);

#endif /* LK_CORE_CRYPTO_H */
