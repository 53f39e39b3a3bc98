/* auth/token.h - the shared-token check (TOKEN), in constant time.
 *
 * A token may arrive in any of four headers (DESIGN.md decision 2; spec
 * lookout-core 6.1 step 7, plus HEAD's X-Portwing-Token):
 *   1. Authorization: Bearer <token>  (scheme case-insensitive, token trimmed)
 *   2. X-Lookout-Token
 *   3. X-Portwing-Token
 *   4. X-Dd-Agent-Secret
 * The presented token is the first non-empty one in that order. Unlike the
 * reference, every instance of every one of these headers must then carry
 * that same token, or the request is denied: when two headers disagree,
 * which credential is "the" credential depends on who reads the request, and
 * a front proxy that checks one header while we honour another is how a
 * request gets authenticated by a token nobody verified (the same reasoning
 * that makes CL+TE a 400 in core/http.c). An Authorization field with another
 * scheme (Basic ...) carries no token and never conflicts.
 *
 * The configured token is held only as its SHA-256 digest; the presented one
 * is hashed and the digests compared with lk_crypto_ct_eq, so neither the
 * comparison time nor an early exit reveals the token's length or any
 * prefix of it (the reference's subtle.ConstantTimeCompare returned at once
 * on a length mismatch).
 *
 * Nothing here allocates, logs or calls back; all functions are thread-safe. */
#ifndef LK_AUTH_TOKEN_H
#define LK_AUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/fwd.h"

/* enum lk_auth_verdict is the outcome of a credential check. */
enum lk_auth_verdict {
	LK_AUTH_OK,		/* credentials presented and valid */
	LK_AUTH_DENY,		/* credentials presented and wrong, or ambiguous */
	LK_AUTH_NO_CREDENTIALS, /* no token header with a non-empty value */
};

/* lk_auth_token_digest writes SHA-256(token[0..len)) to out; token is
 * borrowed. This is the form in which a configured token is kept. The caller
 * wipes the token itself once it has the digest. Cannot fail. */
void lk_auth_token_digest(const char *token, size_t len, uint8_t out[LK_SHA256_LEN]);

/* lk_auth_find_token picks the presented token out of request r (borrowed)
 * by the rules above, for callers that need the token itself (the Argon2id
 * verifier). Returns LK_AUTH_OK with *out_tok and *out_len set to a view into
 * r's buffer (valid as long as that buffer), LK_AUTH_NO_CREDENTIALS when no
 * token header has a value, or LK_AUTH_DENY when token headers disagree; the
 * out-params are written only on LK_AUTH_OK. */
enum lk_auth_verdict lk_auth_find_token(const struct lk_http_req *r, const char **out_tok,
					size_t *out_len);

/* lk_auth_check_token checks the token presented in r (borrowed) against
 * want_digest, the SHA-256 of the configured token. Returns LK_AUTH_OK on a
 * match, LK_AUTH_DENY for a wrong or ambiguous token, LK_AUTH_NO_CREDENTIALS
 * when no token header has a value. The digest of the presented token is
 * wiped before returning; the token bytes themselves stay in r's buffer,
 * which the connection wipes with the rest of the head. */
enum lk_auth_verdict lk_auth_check_token(const struct lk_http_req *r,
					 const uint8_t want_digest[LK_SHA256_LEN]);

#endif /* LK_AUTH_TOKEN_H */
