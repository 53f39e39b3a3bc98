/* auth/token.c - the shared-token check (see auth/token.h). */
#include <string.h>

#include "auth/token.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/http.h"

/* Token sources, in precedence order. */
enum source {
	SRC_BEARER,
	SRC_LOOKOUT,
	SRC_PORTWING,
	SRC_DD,
	SRC__COUNT
};

static const char *const source_names[SRC__COUNT] = {
	[SRC_BEARER] = "authorization",
	[SRC_LOOKOUT] = "x-lookout-token",
	[SRC_PORTWING] = "x-portwing-token",
	[SRC_DD] = "x-dd-agent-secret",
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* bearer extracts the token of an Authorization value: longer than 7 bytes,
 * the first 7 equal to "Bearer " case-insensitively, the rest trimmed
 * (spec lookout-core 6.1 step 7). Returns false for any other value. The
 * parser already trimmed the value's outer white space. */
static bool bearer(const char *v, size_t n, const char **out_tok, size_t *out_len)
{
	if (n <= 7 || !lk_http_name_eq(v, 7, "bearer "))
		return false;
	v += 7;
	n -= 7;
	while (n > 0 && is_ows(*v)) {
		v++;
		n--;
	}
	while (n > 0 && is_ows(v[n - 1]))
		n--;
	*out_tok = v;
	*out_len = n;
	return true;
}

/* token_of returns the source h is, with its non-empty token in *tok and *len,
 * or SRC__COUNT when h carries no token. */
static enum source token_of(const struct lk_http_header *h, const char **tok, size_t *len)
{
	for (int s = 0; s < SRC__COUNT; s++) {
		if (!lk_http_name_eq(h->name, h->name_len, source_names[s]))
			continue;
		if (s == SRC_BEARER) {
			if (!bearer(h->value, h->value_len, tok, len))
				return SRC__COUNT;
		} else {
			*tok = h->value;
			*len = h->value_len;
		}
		return *len != 0 ? (enum source)s : SRC__COUNT;
	}
	return SRC__COUNT;
}

enum lk_auth_verdict lk_auth_find_token(const struct lk_http_req *r, const char **out_tok,
					size_t *out_len)
{
	enum source best = SRC__COUNT;
	const char *best_tok = NULL, *first = NULL;
	size_t best_len = 0, first_len = 0;

	LK_ASSERT(r->n_headers <= LK_HTTP_HEADERS_MAX);
	for (size_t i = 0; i < r->n_headers; i++) {
		const char *tok;
		size_t len;
		enum source s = token_of(&r->headers[i], &tok, &len);

		if (s == SRC__COUNT)
			continue;
		/* Comparing two peer-supplied values with each other tells the
		 * peer nothing about the secret: memcmp is fine here. */
		if (first == NULL) {
			first = tok;
			first_len = len;
		} else if (len != first_len || memcmp(tok, first, len) != 0) {
			return LK_AUTH_DENY;
		}
		if (s < best) {
			best = s;
			best_tok = tok;
			best_len = len;
		}
	}
	if (best == SRC__COUNT)
		return LK_AUTH_NO_CREDENTIALS;
	*out_tok = best_tok;
	*out_len = best_len;
	return LK_AUTH_OK;
}

void lk_auth_token_digest(const char *token, size_t len, uint8_t out[LK_SHA256_LEN])
{
	lk_crypto_sha256(token, len, out);
}

enum lk_auth_verdict lk_auth_check_token(const struct lk_http_req *r,
					 const uint8_t want_digest[LK_SHA256_LEN])
{
	uint8_t got[LK_SHA256_LEN];
	const char *tok;
	size_t len;
	enum lk_auth_verdict v = lk_auth_find_token(r, &tok, &len);
	bool ok;

	if (v != LK_AUTH_OK)
		return v;
	lk_auth_token_digest(tok, len, got);
	ok = lk_crypto_ct_eq(got, want_digest, sizeof(got));
	lk_crypto_cleanse(got, sizeof(got));
	return ok ? LK_AUTH_OK : LK_AUTH_DENY;
}
