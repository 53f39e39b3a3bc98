/* auth/keys.h - Ed25519 key material: PKCS#8 PEM private keys, authorized_keys
 * lines, key IDs, and the credential-file permission check.
 *
 * Formats (spec lookout-core 2.2, 6.3, 16):
 * - private key: PEM block "PRIVATE KEY" around the 48-byte PKCS#8 v0 DER
 *   `302e020100300506032b657004220420 || seed`, byte for byte what
 *   `openssl genpkey -algorithm ed25519` writes;
 * - authorized_keys line: `ed25519 <std base64, padded, of the raw 32-byte
 *   public key>[ <comment>]`;
 * - key ID: lower-case hex of the first 8 bytes of SHA-256(raw public key).
 *
 * Every function here is pure computation over caller buffers except the
 * two credential-file functions, which do blocking file I/O and so belong to
 * start-up, SIGHUP reload (off the ring) and the CLI. Nothing logs. */
#ifndef LK_AUTH_KEYS_H
#define LK_AUTH_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"

#define LK_KEYS_ID_LEN 16	 /* hex characters of a key ID */
#define LK_KEYS_COMMENT_MAX 1024 /* bytes of an authorized_keys comment */
#define LK_KEYS_LINE_MAX 65536	 /* bytes of an authorized_keys line (reference scanner cap) */
#define LK_KEYS_PEM_MAX 128	 /* PEM text of one seed with NUL (119 + 1 used) */
#define LK_KEYS_FILE_MAX 65536	 /* bytes read from a private key file */
#define LK_KEYS_DER_MAX 8192	 /* bytes of a PKCS#8 DER accepted from a PEM block */
/* longest line lk_keys_format_line writes, with NUL */
#define LK_KEYS_LINE_OUT_MAX (sizeof("ed25519 ") - 1 + 44 + 1 + LK_KEYS_COMMENT_MAX + 1)

/* struct lk_pubkey is one parsed authorized_keys entry. Self-contained (no
 * pointers into the line), so it can be copied into a key table. */
struct lk_pubkey {
	uint8_t key[LK_ED25519_PUB_LEN];       /* raw public key */
	char id[LK_KEYS_ID_LEN + 1];	       /* key ID, NUL-terminated */
	uint32_t comment_len;		       /* bytes in comment */
	char comment[LK_KEYS_COMMENT_MAX + 1]; /* fields 3..n joined by one space, NUL-terminated */
};

/* enum lk_keys_cred names the credential file being opened; it picks the
 * word used in error texts ("authorized_keys" or "private key"). */
enum lk_keys_cred {
	LK_KEYS_CRED_AUTHORIZED_KEYS, /* AUTHORIZED_KEYS, the agent's key registry */
	LK_KEYS_CRED_PRIVATE_KEY,     /* PRIVATE_KEY_FILE and keygen -pub-from */
	LK_KEYS_CRED__COUNT
};

/* lk_keys_id writes the 16-hex-character key ID of pub and a NUL to out. */
void lk_keys_id(const uint8_t pub[LK_ED25519_PUB_LEN], char out[LK_KEYS_ID_LEN + 1]);

/* lk_keys_format_line writes `ed25519 <base64>` and, when comment (borrowed,
 * may be NULL) is non-empty, one space and the comment verbatim, plus a NUL
 * (no newline) into out (out_len bytes; LK_KEYS_LINE_OUT_MAX suffices).
 * Returns 0, -EINVAL if the comment contains CR or LF (it would split the
 * line and smuggle a second key into the file), or -ENOSPC if the comment
 * is longer than LK_KEYS_COMMENT_MAX or out is too small. */
int lk_keys_format_line(const uint8_t pub[LK_ED25519_PUB_LEN], const char *comment, char *out,
			size_t out_len);

/* lk_keys_parse_line parses one authorized_keys line line[0..len) (borrowed;
 * need not be NUL-terminated; may carry surrounding whitespace or a line
 * ending). Like the reference, fields are split on runs of Unicode
 * whitespace (Go's strings.Fields): field 1 must be exactly "ed25519",
 * field 2 the strict padded standard base64 of exactly 32 bytes, and fields
 * 3..n joined by single spaces are the comment, which (unlike Go's) must not
 * contain a NUL byte, so out->comment is a C string of comment_len bytes.
 * Returns 0 and fills *out;
 * -ENOENT for a line with nothing to load (blank, or starting with '#');
 * -EINVAL for a malformed line, with the reason in err (err_len bytes,
 * NUL-terminated when err_len > 0). *out is zeroed on any non-zero return. */
int lk_keys_parse_line(const char *line, size_t len, struct lk_pubkey *out, char *err,
		       size_t err_len);

/* lk_keys_pem_encode writes the PKCS#8 PEM of seed (header line, one 64-char
 * base64 line, footer line, each ending in "\n") and a NUL into out
 * (out_len bytes; LK_KEYS_PEM_MAX suffices). out then holds the secret: the
 * caller wipes it with lk_crypto_cleanse. Intermediate copies are wiped.
 * Returns 0 or -ENOSPC. */
int lk_keys_pem_encode(const uint8_t seed[LK_ED25519_SEED_LEN], char *out, size_t out_len);

/* lk_keys_pem_decode finds the first well-formed PEM block in pem[0..len)
 * (borrowed; Go encoding/pem rules: text around the block is ignored, as are
 * "Key: value" headers), requires type "PRIVATE KEY", and parses its DER as
 * PKCS#8 strictly: version 0, or version 1 whose optional embedded public key
 * must match the seed; algorithm id-Ed25519 with absent parameters; a
 * 32-byte CurvePrivateKey; no trailing bytes. Writes the seed to out_seed.
 * Returns 0, or -EINVAL with the reference's texts in err:
 * "no PEM block found in private key data",
 * `expected PEM type "PRIVATE KEY", got "<t>"`,
 * "parsing PKCS#8 private key: <reason>",
 * "private key is not Ed25519 (got <Go type>)" for RSA, ECDSA and X25519.
 * All intermediate copies of key material are wiped; out_seed is zeroed on
 * error. Uses about 20 KiB of stack (bounded by LK_KEYS_DER_MAX). */
int lk_keys_pem_decode(const char *pem, size_t len, uint8_t out_seed[LK_ED25519_SEED_LEN],
		       char *err, size_t err_len);

/* lk_keys_open_credential opens path read-only (O_CLOEXEC, without blocking
 * on a FIFO) and checks the opened descriptor, not the path, so the file
 * checked is the file read: it must be a regular file, not world-readable
 * (0o004) and not group/world-writable (0o022); 0600 and 0640 pass. On
 * success stores the fd in *out_fd (the caller owns and closes it) and
 * returns 0. Otherwise returns -errno from open/fstat, -EINVAL for a
 * non-regular file or -EACCES for unsafe permissions, with the spec's text
 * in err, e.g. `authorized_keys "<path>" is world-readable (mode 0644):
 * restrict permissions to 0600 or 0640 before loading`; for
 * LK_KEYS_CRED_PRIVATE_KEY the type and permission errors are wrapped as
 * `private key "<path>" has unsafe permissions: ...`. Blocking I/O. */
int lk_keys_open_credential(const char *path, enum lk_keys_cred kind, int *out_fd, char *err,
			    size_t err_len);

/* lk_keys_load_private_key opens path through lk_keys_open_credential
 * (private key rules), reads at most LK_KEYS_FILE_MAX bytes, and decodes it
 * with lk_keys_pem_decode into out_seed. The file buffer is wiped before it
 * is freed. Returns 0, or a negative errno with the reason in err. Blocking
 * I/O and one temporary allocation: start-up and CLI only. */
int lk_keys_load_private_key(const char *path, uint8_t out_seed[LK_ED25519_SEED_LEN], char *err,
			     size_t err_len);

#endif /* LK_AUTH_KEYS_H */
