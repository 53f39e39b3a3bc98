/* auth/sigv.h - Ed25519 signed-request verification (spec lookout-core 6.4,
 * 16 "Signature version 2"; DESIGN.md decision 2).
 *
 * A signed request carries four or five headers, in the X-Lookout-* family
 * or the X-Portwing-* family (both accepted): Key-ID, Timestamp, Nonce,
 * Signature and, for version 2, Signature-Version. The signature covers the
 * canonical string
 *
 *	METHOD \n TARGET \n BODY-SHA256-HEX \n TIMESTAMP \n NONCE
 *
 * where TARGET is, for version 2, the request target exactly as sent (escaped
 * path, and '?' plus the raw query when a '?' is present, even with an empty
 * query), and for the unversioned legacy form the percent-decoded path,
 * accepted only when the target has no '?' at all (the legacy form does not
 * protect the query).
 *
 * The module is pure: no I/O, no allocation, no logging, no clock. Its caller
 * (the admission path) does, per request:
 *
 *	struct lk_sig_req s;
 *	enum lk_sig_reason v = lk_sig_parse(req, &s);
 *	if (!s.present) -> token path (spec 6.1 step 5)
 *	if (v != LK_SIG_OK) -> 401 with lk_sig_reason_str(v)
 *	stream the body (at most LK_SIG_BODY_MAX, else 413) through
 *	  lk_crypto_sha256_update, then lk_crypto_sha256_final -> digest
 *	rc = lk_sig_canonical(req, &s, digest, buf, sizeof(buf), &len);
 *	v = lk_sig_verify(&s, rc == 0 ? buf : NULL, len, snapshot, now_ms, skew_s, &key);
 *	if (v == LK_SIG_INVALID && nonce table has s.nonce) v = LK_SIG_REPLAY;
 *	if (v == LK_SIG_OK && !nonce table insert(s.nonce)) v = LK_SIG_REPLAY;
 *
 * The two nonce-table steps reproduce the reference's order exactly: it
 * reports "replay" for a seen nonce before decoding the signature, and
 * lk_sig_verify only returns LK_SIG_INVALID after the key and timestamp
 * checks have passed. Checks that the reference makes late (signature
 * version, legacy form with a query, unparsable timestamp) are recorded by
 * lk_sig_parse and reported by lk_sig_verify at the reference's position, so
 * every request gets the same reason string as from the Go agent. */
#ifndef LK_AUTH_SIGV_H
#define LK_AUTH_SIGV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/keys.h"
#include "core/crypto.h"
#include "core/http.h"

struct lk_registry;

/* LK_SIG_BODY_MAX bounds the body of a signed request. The reference 0.2
 * silently truncated at 64 MiB and hashed the truncated bytes; HEAD rejects
 * above 1 MiB. Lookout keeps 0.2's size, so signed requests that worked there
 * (build contexts, compose files) still work, but the caller rejects a larger
 * body with 413 before verifying (DESIGN.md decision 4), never hashing or
 * forwarding a prefix. */
#define LK_SIG_BODY_MAX	   (64u * 1024 * 1024)
#define LK_SIG_NONCE_LEN   16	/* nonce bytes; 32 hex digits on the wire */
#define LK_SIG_VERSION_BAD (-1) /* struct lk_sig_req.version for an unsupported value */
/* LK_SIG_CANONICAL_MAX is a buffer size that always holds the canonical
 * string: method and target fit in a request line, plus the body hash, a
 * signed 64-bit timestamp, the nonce and four LFs. */
#define LK_SIG_CANONICAL_MAX (LK_HTTP_LINE_MAX + 2 * LK_SHA256_LEN + 20 + 2 * LK_SIG_NONCE_LEN + 4)

/* enum lk_sig_reason is a verification verdict; each failure maps to the
 * X-Lookout-Reason value of lk_sig_reason_str. */
enum lk_sig_reason {
	LK_SIG_OK,
	LK_SIG_INVALID,	    /* "invalid-signature": malformed headers, bad or wrong signature */
	LK_SIG_UNKNOWN_KEY, /* "unknown-key": key ID not in the registry */
	LK_SIG_SKEW,	    /* "timestamp-skew": unparsable or outside the window */
	LK_SIG_REPLAY,	    /* "replay": nonce already used (decided by the nonce table) */
	LK_SIG__COUNT
};

/* struct lk_sig_req is the signature part of one request, filled by
 * lk_sig_parse. The pointers are views into the request's buffer and valid
 * as long as it is. */
struct lk_sig_req {
	const char *key_id; /* Key-ID as sent (any bytes; a match needs 16 hex) */
	size_t key_id_len;
	int64_t ts;			 /* Timestamp, valid only when ts_valid */
	bool ts_valid;			 /* Timestamp parsed as a base-10 signed 64-bit integer */
	uint8_t nonce[LK_SIG_NONCE_LEN]; /* decoded Nonce: the nonce table's key */
	const char *nonce_hex;		 /* Nonce as sent: 32 hex digits, either case */
	const char *sig;		 /* Signature as sent (base64url, unpadded) */
	size_t sig_len;
	int version;  /* 0 legacy (no version header), 2, or LK_SIG_VERSION_BAD */
	bool present; /* a non-empty Signature header exists: take the signature path */
};

/* lk_sig_reason_str returns the static reason string of r: "ok",
 * "invalid-signature", "unknown-key", "timestamp-skew" or "replay". */
const char *lk_sig_reason_str(enum lk_sig_reason r);

/* lk_sig_parse extracts the signature headers of r (borrowed) into *out.
 * Each field is taken from the first instance of its X-Lookout-* header or
 * of its X-Portwing-* header; an empty value counts as absent (as with Go's
 * Header.Get), and when both families carry a field with different values
 * the request is invalid. out->present tells whether either family has a
 * non-empty Signature header; when it is false the request is not a signed
 * request (the caller takes the token path) and LK_SIG_INVALID is returned.
 * Otherwise returns LK_SIG_OK, or LK_SIG_INVALID when the families conflict
 * or (spec 6.4 steps 1-3, HEAD) Key-ID, Timestamp or Nonce is missing, or
 * the Nonce is not exactly 32 hex digits. Values the
 * reference rejects later are recorded, not rejected here: a timestamp that
 * is not a base-10 int64 (ts_valid = false) and a Signature-Version other
 * than absent or "2" (version = LK_SIG_VERSION_BAD). On LK_SIG_INVALID the
 * fields other than present are unspecified. Never calls back. */
enum lk_sig_reason lk_sig_parse(const struct lk_http_req *r, struct lk_sig_req *out);

/* lk_sig_canonical_raw is the one builder of the canonical string, shared by
 * the verifier (through lk_sig_canonical) and the signing client (`lookout
 * sign`), so the two sides cannot drift apart. It writes
 *
 *	method \n TARGET \n hex(body_sha256) \n ts \n nonce_hex
 *
 * into out (cap bytes, not NUL-terminated) and its length into *out_len.
 * method[0..method_len) is copied as given; target[0..target_len) is the
 * request target (escaped path, plus '?' and the raw query if any): for
 * version 2 it is copied verbatim, for version 0 (legacy) it must contain no
 * '?' and its percent-decoding (Go's url.PathUnescape) is written instead.
 * body_sha256 is the digest of the exact body bytes (of the empty string when
 * there is none); ts is printed in plain decimal; nonce_hex must point at
 * exactly 2 * LK_SIG_NONCE_LEN bytes, copied as given. All inputs are
 * borrowed and none is validated beyond what is said here: the verifier gets
 * them from the HTTP parser and lk_sig_parse, the client checks its own.
 * Returns 0; -EINVAL for a version other than 0 or 2, a legacy target with a
 * '?', or a malformed %-escape in a legacy target; or -ENOSPC if cap is too
 * small (LK_SIG_CANONICAL_MAX never is for a method and target that fit a
 * request line). Pure, never calls back. */
int lk_sig_canonical_raw(const char *method, size_t method_len, const char *target,
			 size_t target_len, int version, const uint8_t body_sha256[LK_SHA256_LEN],
			 int64_t ts, const char *nonce_hex, char *out, size_t cap, size_t *out_len);

/* lk_sig_canonical writes the canonical string of request r under s (both
 * borrowed; s from a successful lk_sig_parse) into out (cap bytes, not
 * NUL-terminated) and its length into *out_len, through
 * lk_sig_canonical_raw. body_sha256 is the digest of the exact body bytes (of
 * the empty string when there is none). The method and nonce are copied as
 * sent and the timestamp is re-printed in plain decimal ("+01749600000" ->
 * "1749600000"). The target is r's target verbatim for version 2, and its
 * percent-decoded path for legacy. Returns 0; -EINVAL when the request cannot
 * be canonicalised (legacy signature with a '?' in the target, a malformed
 * %-escape in a legacy path, a bad version, an invalid timestamp), which the
 * caller passes on as a NULL canonical to lk_sig_verify; or -ENOSPC if cap is
 * too small (LK_SIG_CANONICAL_MAX never is). */
int lk_sig_canonical(const struct lk_http_req *r, const struct lk_sig_req *s,
		     const uint8_t body_sha256[LK_SHA256_LEN], char *out, size_t cap,
		     size_t *out_len);

/* lk_sig_verify checks s against canonical[0..len) (borrowed; NULL when
 * lk_sig_canonical failed) in the reference's order: key lookup in reg
 * (borrowed snapshot, may be NULL) -> LK_SIG_UNKNOWN_KEY; timestamp valid and
 * |now_ms - ts * 1000| <= max_skew_s * 1000 (so "exactly max_skew_s seconds
 * old" passes only when now has no sub-second part) -> LK_SIG_SKEW; the
 * Signature decodes as strict unpadded base64url to 64 bytes, canonical is
 * not NULL and Ed25519 verifies -> else LK_SIG_INVALID. Returns LK_SIG_OK and
 * sets *out_key to the signing key, borrowed from reg (valid as long as the
 * snapshot is). Does not touch the nonce table (see the header comment), so
 * it never returns LK_SIG_REPLAY. Pure, never calls back. */
enum lk_sig_reason lk_sig_verify(const struct lk_sig_req *s, const char *canonical, size_t len,
				 const struct lk_registry *reg, uint64_t now_ms,
				 uint32_t max_skew_s, const struct lk_pubkey **out_key);

#endif /* LK_AUTH_SIGV_H */
