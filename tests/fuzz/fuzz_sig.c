/* tests/fuzz/fuzz_sig.c - signed-request headers: lk_sig_parse,
 * lk_sig_canonical and lk_sig_verify on a parsed request head.
 *
 * max_len: the corpus holds requests whose request line is exactly
 * LK_HTTP_LINE_MAX bytes, so libFuzzer's default max_len (the largest seed)
 * reaches canonical strings near LK_SIG_CANONICAL_MAX; 20000 also reaches
 * the head limit.
 *   fuzz_sig -max_len=20000 -dict=tests/fuzz/sig.dict SCRATCH_DIR tests/fuzz/sig_corpus
 *
 * The input is a request: a head (lk_http_parse_request; inputs that are not
 * a complete valid head stop there) and, after it, the body, whose SHA-256 is
 * the body digest. So the seeds built from the spec's vectors (6.4, 17.2)
 * verify for real against a registry of keys A and B, at a fixed "now" of
 * 1749600000.5 s with a 60 s window. Invariants (LK_ASSERT, ours):
 * - lk_sig_parse returns OK or INVALID; present is set iff the first
 *   X-Lookout-Signature or X-Portwing-Signature is non-empty, and INVALID is
 *   returned when it is not; on OK the views lie inside the head, the nonce
 *   is the decoding of nonce_hex and the version is 0, 2 or BAD;
 * - lk_sig_canonical succeeds iff the request can be canonicalised, and then
 *   writes exactly the string built here independently from spec 6.4 and 16
 *   (METHOD, target as sent for v2 or decoded path for legacy, body hash,
 *   re-printed timestamp, nonce), at most LK_SIG_CANONICAL_MAX bytes; one
 *   byte less of room gives -ENOSPC without writing past the buffer;
 * - lk_sig_verify with no registry says unknown-key; with the registry it
 *   never says replay, says unknown-key iff the key ID is not in it, and on
 *   OK returns that key; with every Ed25519 check forced to pass
 *   (lk_crypto_fuzz_force_verify) the verdict only changes from INVALID to
 *   OK, and OK then means the timestamp is in the window, the signature is
 *   86 characters and the canonical string exists; without a canonical
 *   string it is never OK. Every verdict has a reason string.
 * Buffers handed to sigv.c are exact-size heap blocks so ASan sees overruns. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/keys.h"
#include "auth/registry.h"
#include "auth/sigv.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/http.h"

#define NOW_MS	    (1749600000ull * 1000 + 500)
#define SKEW_S	    60
#define SIG_B64_LEN 86 /* 64 bytes, unpadded base64url */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lk_http_req g_req;
static const char *g_head; /* the input: the head's first byte */

/* registry returns the snapshot of keys A and B (spec 17.2), built once. */
static const struct lk_registry *registry(void)
{
	static const char keys[] = "ed25519 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= key-a\n"
				   "ed25519 4uR5Bj2c3Tx8VkWK7hNqHYZ4OA2CpIza/bO8kibhB4w= key-b\n";
	static struct lk_registry *reg;
	char err[LK_REGISTRY_ERR_MAX];

	if (reg == NULL) {
		reg = lk__registry_parse(keys, sizeof(keys) - 1, "fuzz", err, sizeof(err));
		if (reg == NULL)
			lk__assert_fail(__FILE__, __LINE__, err);
		LK_ASSERT(lk_registry_count(reg) == 2);
	}
	return reg;
}

/* in_head checks that the view [p, p + n) lies inside the parsed head. */
static void in_head(const char *p, size_t n)
{
	LK_ASSERT(p >= g_head);
	LK_ASSERT((size_t)(p - g_head) + n <= g_req.head_len);
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool nonempty(const struct lk_http_req *r, const char *name)
{
	const struct lk_http_header *h = lk_http_find(r->headers, r->n_headers, name);

	return h != NULL && h->value_len != 0;
}

/* expect_canonical writes the canonical string of r under s into out (at
 * least 2 * LK_SIG_CANONICAL_MAX bytes), built from the spec rather than from
 * sigv.c; returns false when the request has none. */
static bool expect_canonical(const struct lk_http_req *r, const struct lk_sig_req *s,
			     const uint8_t digest[LK_SHA256_LEN], char *out, size_t *out_len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (!s->ts_valid || (s->version != 0 && s->version != 2))
		return false;
	if (s->version == 0 && r->path_len != r->target_len)
		return false; /* legacy does not cover a query, even an empty one */
	memcpy(out + o, r->method, r->method_len);
	o += r->method_len;
	out[o++] = '\n';
	if (s->version == 2) {
		memcpy(out + o, r->target, r->target_len);
		o += r->target_len;
	} else {
		for (size_t i = 0; i < r->path_len; i++) {
			int hi, lo;

			if (r->target[i] != '%') {
				out[o++] = r->target[i];
				continue;
			}
			if (i + 2 >= r->path_len)
				return false;
			hi = hex_val(r->target[i + 1]);
			lo = hex_val(r->target[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	out[o++] = '\n';
	for (size_t i = 0; i < LK_SHA256_LEN; i++) {
		out[o++] = hex[digest[i] >> 4];
		out[o++] = hex[digest[i] & 15];
	}
	out[o++] = '\n';
	o += (size_t)snprintf(out + o, 22, "%" PRId64, s->ts);
	out[o++] = '\n';
	memcpy(out + o, s->nonce_hex, 2 * LK_SIG_NONCE_LEN);
	o += 2 * LK_SIG_NONCE_LEN;
	*out_len = o;
	return true;
}

static bool within_window(const struct lk_sig_req *s)
{
	__int128 d = (__int128)NOW_MS - (__int128)s->ts * 1000;

	return s->ts_valid && (d < 0 ? -d : d) <= (__int128)SKEW_S * 1000;
}

static void check_parse(const struct lk_http_req *r, enum lk_sig_reason v,
			const struct lk_sig_req *s)
{
	uint8_t nonce[LK_SIG_NONCE_LEN];
	size_t n = 0;

	LK_ASSERT(v == LK_SIG_OK || v == LK_SIG_INVALID);
	LK_ASSERT(s->present ==
		  (nonempty(r, "X-Lookout-Signature") || nonempty(r, "X-Portwing-Signature")));
	LK_ASSERT(s->present || v == LK_SIG_INVALID);
	if (v != LK_SIG_OK)
		return;
	LK_ASSERT(s->key_id_len != 0 && s->sig_len != 0);
	in_head(s->key_id, s->key_id_len);
	in_head(s->sig, s->sig_len);
	in_head(s->nonce_hex, 2 * LK_SIG_NONCE_LEN);
	LK_ASSERT(lk_crypto_hex_decode(s->nonce_hex, 2 * LK_SIG_NONCE_LEN, nonce, sizeof(nonce),
				       &n) == 0);
	LK_ASSERT(n == LK_SIG_NONCE_LEN && memcmp(nonce, s->nonce, n) == 0);
	LK_ASSERT(s->version == 0 || s->version == 2 || s->version == LK_SIG_VERSION_BAD);
}

/* check_canonical runs lk_sig_canonical against the spec's string; returns
 * the canonical string (heap, caller frees) or NULL when there is none. */
static char *check_canonical(const struct lk_http_req *r, const struct lk_sig_req *s,
			     const uint8_t digest[LK_SHA256_LEN], size_t *out_len)
{
	static char want[2 * LK_SIG_CANONICAL_MAX];
	char *buf = malloc(LK_SIG_CANONICAL_MAX), *small;
	size_t want_len = 0, len = SIZE_MAX, len2 = SIZE_MAX;
	bool can = expect_canonical(r, s, digest, want, &want_len);
	int rc;

	LK_ASSERT(buf != NULL);
	rc = lk_sig_canonical(r, s, digest, buf, LK_SIG_CANONICAL_MAX, &len);
	LK_ASSERT(rc == 0 || rc == -EINVAL);
	LK_ASSERT((rc == 0) == can);
	if (rc != 0) {
		LK_ASSERT(len == SIZE_MAX); /* *out_len untouched on failure */
		free(buf);
		return NULL;
	}
	LK_ASSERT(len <= LK_SIG_CANONICAL_MAX);
	LK_ASSERT(len == want_len && memcmp(buf, want, len) == 0);
	LK_ASSERT(len > r->method_len && memcmp(buf, r->method, r->method_len) == 0);
	LK_ASSERT(buf[r->method_len] == '\n');

	/* one byte short: -ENOSPC, and ASan checks the writes stay inside */
	small = malloc(len - 1);
	LK_ASSERT(small != NULL);
	LK_ASSERT(lk_sig_canonical(r, s, digest, small, len - 1, &len2) == -ENOSPC);
	LK_ASSERT(len2 == SIZE_MAX);
	free(small);
	*out_len = len;
	return buf;
}

static void check_verify(const struct lk_sig_req *s, const char *canon, size_t len)
{
	const struct lk_registry *reg = registry();
	const struct lk_pubkey *known = lk_registry_find(reg, s->key_id, s->key_id_len);
	const struct lk_pubkey *key = NULL, *key2 = NULL, *unused = NULL;
	enum lk_sig_reason v1, v2, v3;

	LK_ASSERT(lk_sig_verify(s, canon, len, NULL, NOW_MS, SKEW_S, &unused) ==
		  LK_SIG_UNKNOWN_KEY);

	v1 = lk_sig_verify(s, canon, len, reg, NOW_MS, SKEW_S, &key);
	LK_ASSERT((unsigned)v1 < LK_SIG__COUNT && v1 != LK_SIG_REPLAY);
	LK_ASSERT(lk_sig_reason_str(v1) != NULL && lk_sig_reason_str(v1)[0] != '\0');
	LK_ASSERT((v1 == LK_SIG_UNKNOWN_KEY) == (known == NULL));
	LK_ASSERT(v1 == LK_SIG_OK ? key == known && canon != NULL : key == NULL);

	lk_crypto_fuzz_force_verify(true);
	v2 = lk_sig_verify(s, canon, len, reg, NOW_MS, SKEW_S, &key2);
	v3 = lk_sig_verify(s, NULL, 0, reg, NOW_MS, SKEW_S, &unused);
	lk_crypto_fuzz_force_verify(false);
	LK_ASSERT(v2 == v1 || (v1 == LK_SIG_INVALID && v2 == LK_SIG_OK));
	LK_ASSERT((v2 == LK_SIG_SKEW) == (known != NULL && !within_window(s)));
	if (v2 == LK_SIG_OK) {
		LK_ASSERT(key2 == known);
		LK_ASSERT(within_window(s) && canon != NULL && s->sig_len == SIG_B64_LEN);
	}
	LK_ASSERT(v3 == (v2 == LK_SIG_OK ? LK_SIG_INVALID : v2));
	LK_ASSERT(unused == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct lk_http_req *r = &g_req;
	uint8_t digest[LK_SHA256_LEN];
	struct lk_http_parser p;
	struct lk_sig_req s;
	enum lk_sig_reason v;
	size_t len = 0;
	ssize_t head;
	char *canon;

	g_head = (const char *)data;
	lk_http_parser_init(&p, 0);
	head = lk_http_parse_request(&p, g_head, size, &g_req);
	if (head <= 0)
		return 0;
	LK_ASSERT((size_t)head <= size && r->head_len == (size_t)head);
	lk_crypto_sha256(data + head, size - (size_t)head, digest);

	memset(&s, 0xa5, sizeof(s));
	v = lk_sig_parse(r, &s);
	check_parse(r, v, &s);
	if (v != LK_SIG_OK)
		return 0;
	canon = check_canonical(r, &s, digest, &len);
	check_verify(&s, canon, len);
	free(canon);
	return 0;
}
