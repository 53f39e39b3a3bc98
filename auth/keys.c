/* auth/keys.c - Ed25519 key material: PEM/PKCS#8, authorized_keys lines,
 * key IDs and credential files.
 *
 * The PEM scanner follows Go's encoding/pem Decode step by step, because the
 * reference loads keys with it and an operator's file that the Go agent
 * accepted should load here too. The PKCS#8 reader is our own small strict
 * DER walker rather than BoringSSL's EVP_parse_private_key: it keeps
 * BoringSSL out of auth/ (DESIGN.md), the structure is tiny and fixed, and
 * it can produce the reference's error texts (which name Go types). */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/keys.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/err.h"

#define PEM_BEGIN "-----BEGIN "
#define PEM_END "-----END "
#define PEM_DASHES "-----"
#define PEM_TYPE "PRIVATE KEY"
#define PKCS8_PREFIX "parsing PKCS#8 private key: "
#define QUOTE_MAX 512 /* rendered bytes of one quoted value in an error */
#define B64_BODY_MAX (LK_KEYS_DER_MAX / 3 * 4 + 4)

/* The whole v0 PKCS#8 encoding of an Ed25519 seed, minus the seed:
 * SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING {
 * OCTET STRING (32 bytes) } } (RFC 8410 section 7). */
static const uint8_t pkcs8_ed25519_prefix[16] = {
	0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
	0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
};

struct span {
	const char *p;
	size_t n;
};

/* errf sets err and returns -EINVAL, for "return errf(...)" in parsers. */
__attribute__((format(printf, 3, 4))) static int errf(char *err, size_t err_len, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	lk_verrf(err, err_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* quote renders s[0..n) the way Go's %q would for ASCII, without the outer
 * quotes: printable bytes as is, '"' and '\' escaped, everything else as
 * \xNN (so file contents cannot put control bytes into a log line). Output
 * longer than the buffer ends in "...". Returns dst. */
static const char *quote(char dst[QUOTE_MAX], const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 4 + 4 > QUOTE_MAX) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			dst[o++] = (char)c;
		} else if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}

static bool span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* ---- key IDs and authorized_keys lines -------------------------------- */

void lk_keys_id(const uint8_t pub[LK_ED25519_PUB_LEN], char out[LK_KEYS_ID_LEN + 1])
{
	uint8_t digest[LK_SHA256_LEN];

	lk_crypto_sha256(pub, LK_ED25519_PUB_LEN, digest);
	if (lk_crypto_hex_encode(digest, LK_KEYS_ID_LEN / 2, out, LK_KEYS_ID_LEN + 1) != 0)
		LK_UNREACHABLE();
}

int lk_keys_format_line(const uint8_t pub[LK_ED25519_PUB_LEN], const char *comment, char *out,
			size_t out_len)
{
	size_t clen = comment != NULL ? strnlen(comment, LK_KEYS_COMMENT_MAX + 1) : 0;
	size_t b64_len = lk_crypto_b64_encoded_len(LK_B64_STD, LK_ED25519_PUB_LEN);
	size_t need = sizeof("ed25519 ") - 1 + b64_len + (clen != 0 ? 1 + clen : 0) + 1;

	if (out_len > 0)
		out[0] = '\0';
	if (clen > LK_KEYS_COMMENT_MAX || need > out_len)
		return -ENOSPC;
	if (clen != 0 && strpbrk(comment, "\r\n") != NULL)
		return -EINVAL;
	memcpy(out, "ed25519 ", 8);
	if (lk_crypto_b64_encode(LK_B64_STD, pub, LK_ED25519_PUB_LEN, out + 8, out_len - 8) != 0)
		LK_UNREACHABLE(); /* need covered it */
	if (clen != 0) {
		out[8 + b64_len] = ' ';
		memcpy(out + 8 + b64_len + 1, comment, clen);
	}
	out[need - 1] = '\0';
	return 0;
}

/* space_len returns the byte length of the Unicode whitespace character at
 * p (Go's unicode.IsSpace: ASCII \t \n \v \f \r and space, U+0085, U+00A0,
 * U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), or 0.
 * Matching the exact UTF-8 byte sequences gives the same fields as Go's
 * rune-by-rune strings.Fields, invalid UTF-8 included. */
static size_t space_len(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t n = (size_t)(end - p);

	if (n >= 1 && (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r')))
		return 1;
	if (n >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0))
		return 2;
	if (n < 3)
		return 0;
	if ((u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) ||
	    (u[0] == 0xe2 && u[1] == 0x80 &&
	     ((u[2] >= 0x80 && u[2] <= 0x8a) || u[2] == 0xa8 || u[2] == 0xa9)) ||
	    (u[0] == 0xe2 && u[1] == 0x80 && u[2] == 0xaf) ||
	    (u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) ||
	    (u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80))
		return 3;
	return 0;
}

/* next_field returns the next whitespace-delimited field at or after *p and
 * advances *p past it; a zero-length span means no field is left. */
static struct span next_field(const char **p, const char *end)
{
	const char *s = *p, *e;
	size_t w;

	while (s < end && (w = space_len(s, end)) != 0)
		s += w;
	e = s;
	while (e < end && space_len(e, end) == 0)
		e++;
	*p = e;
	return (struct span){ .p = s, .n = (size_t)(e - s) };
}

/* join_comment joins the remaining fields with single spaces into out. The
 * comment is a C string (logged on reload, written back by enrollment), so a
 * NUL byte, which Go keeps, would silently cut it: such a line is refused. */
static int join_comment(const char *p, const char *end, struct lk_pubkey *out, char *err,
			size_t err_len)
{
	size_t o = 0;

	for (struct span f = next_field(&p, end); f.n != 0; f = next_field(&p, end)) {
		if (memchr(f.p, '\0', f.n) != NULL)
			return errf(err, err_len, "comment contains a NUL byte");
		if (o + (o != 0) + f.n > LK_KEYS_COMMENT_MAX)
			return errf(err, err_len, "comment longer than %d bytes",
				    LK_KEYS_COMMENT_MAX);
		if (o != 0)
			out->comment[o++] = ' ';
		memcpy(out->comment + o, f.p, f.n);
		o += f.n;
	}
	out->comment[o] = '\0';
	out->comment_len = (uint32_t)o;
	return 0;
}

static int parse_fields(const char *p, const char *end, struct lk_pubkey *out, char *err,
			size_t err_len)
{
	char q[QUOTE_MAX];
	uint8_t raw[96];
	struct span algo = next_field(&p, end), key;
	size_t n = 0;
	int rc;

	if (algo.n == 0 || algo.p[0] == '#')
		return -ENOENT;
	key = next_field(&p, end);
	if (key.n == 0)
		return errf(err, err_len, "too few fields");
	if (!span_is(algo, "ed25519"))
		return errf(err, err_len, "unsupported algorithm \"%s\" (only ed25519 is accepted)",
			    quote(q, algo.p, algo.n));
	rc = lk_crypto_b64_decode(LK_B64_STD, key.p, key.n, raw, sizeof(raw), &n);
	if (rc == -ENOSPC)
		return errf(err, err_len, "invalid key length: got more than %zu bytes, want 32",
			    sizeof(raw));
	if (rc != 0)
		return errf(err, err_len, "base64 decode failed: illegal base64 data");
	if (n != LK_ED25519_PUB_LEN)
		return errf(err, err_len, "invalid key length: got %zu bytes, want 32", n);
	memcpy(out->key, raw, LK_ED25519_PUB_LEN);
	lk_keys_id(out->key, out->id);
	return join_comment(p, end, out, err, err_len);
}

int lk_keys_parse_line(const char *line, size_t len, struct lk_pubkey *out, char *err,
		       size_t err_len)
{
	int rc;

	*out = (struct lk_pubkey){ .comment_len = 0 };
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (len > LK_KEYS_LINE_MAX)
		return errf(err, err_len, "line longer than %d bytes", LK_KEYS_LINE_MAX);
	rc = parse_fields(line, line + len, out, err, err_len);
	if (rc != 0)
		*out = (struct lk_pubkey){ .comment_len = 0 };
	return rc;
}

/* ---- PEM encoding ------------------------------------------------------ */

int lk_keys_pem_encode(const uint8_t seed[LK_ED25519_SEED_LEN], char *out, size_t out_len)
{
	static const char head[] = PEM_BEGIN PEM_TYPE PEM_DASHES "\n";
	static const char tail[] = "\n" PEM_END PEM_TYPE PEM_DASHES "\n";
	uint8_t der[sizeof(pkcs8_ed25519_prefix) + LK_ED25519_SEED_LEN];
	size_t b64_len = lk_crypto_b64_encoded_len(LK_B64_STD, sizeof(der));
	size_t need = sizeof(head) - 1 + b64_len + sizeof(tail);
	int rc;

	LK_STATIC_ASSERT(sizeof(der) == 48, "Ed25519 PKCS#8 v0 DER is 48 bytes");
	if (out_len > 0)
		out[0] = '\0';
	if (need > out_len)
		return -ENOSPC;
	memcpy(der, pkcs8_ed25519_prefix, sizeof(pkcs8_ed25519_prefix));
	memcpy(der + sizeof(pkcs8_ed25519_prefix), seed, LK_ED25519_SEED_LEN);
	memcpy(out, head, sizeof(head) - 1);
	/* 48 bytes -> exactly 64 characters: one line, as pem.Encode wraps at 64. */
	rc = lk_crypto_b64_encode(LK_B64_STD, der, sizeof(der), out + sizeof(head) - 1,
				  out_len - (sizeof(head) - 1));
	lk_crypto_cleanse(der, sizeof(der));
	if (rc != 0)
		LK_UNREACHABLE();
	memcpy(out + sizeof(head) - 1 + b64_len, tail, sizeof(tail));
	return 0;
}

/* ---- PEM scanning (Go encoding/pem Decode) ----------------------------- */

static bool starts_with(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* get_line returns the line at *rest without its "\n" and with trailing
 * spaces, tabs and CRs removed, and advances *rest past the "\n". */
static struct span get_line(const char **rest, const char *end)
{
	const char *p = *rest, *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl != NULL ? nl : end;

	*rest = nl != NULL ? nl + 1 : end;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	return (struct span){ .p = p, .n = (size_t)(e - p) };
}

/* pem_end_ok checks that the END line at trailer names the same type and has
 * nothing but whitespace after its dashes. */
static bool pem_end_ok(const char *trailer, const char *end, struct span type)
{
	const char *after = trailer + type.n + 5;

	if ((size_t)(end - trailer) < type.n + 5)
		return false;
	if (memcmp(trailer, type.p, type.n) != 0 || memcmp(trailer + type.n, PEM_DASHES, 5) != 0)
		return false;
	return get_line(&after, end).n == 0;
}

/* pem_next finds the next block at or after *restp. On success sets type and
 * body (the base64 lines, headers skipped) and leaves *restp at the body, so
 * a caller that rejects the body resumes where Go's Decode would. */
static bool pem_next(const char **restp, const char *end, struct span *type, struct span *body)
{
	const char *rest = *restp;

	for (;;) {
		const char *m, *trailer;
		struct span tl;
		bool headers = false;

		if (starts_with(rest, end, PEM_BEGIN)) {
			rest += strlen(PEM_BEGIN);
		} else {
			m = memmem(rest, (size_t)(end - rest), "\n" PEM_BEGIN,
				   strlen(PEM_BEGIN) + 1);
			if (m == NULL)
				return false;
			rest = m + 1 + strlen(PEM_BEGIN);
		}
		tl = get_line(&rest, end);
		if (tl.n < 5 || memcmp(tl.p + tl.n - 5, PEM_DASHES, 5) != 0)
			continue;
		*type = (struct span){ .p = tl.p, .n = tl.n - 5 };
		for (;;) { /* "Key: value" headers */
			const char *next = rest;
			struct span line;

			if (rest == end)
				return false;
			line = get_line(&next, end);
			if (memchr(line.p, ':', line.n) == NULL)
				break;
			headers = true;
			rest = next;
		}
		if (!headers && starts_with(rest, end, PEM_END)) {
			m = rest;
			trailer = rest + strlen(PEM_END);
		} else {
			m = memmem(rest, (size_t)(end - rest), "\n" PEM_END, strlen(PEM_END) + 1);
			if (m == NULL)
				continue;
			trailer = m + 1 + strlen(PEM_END);
		}
		if (!pem_end_ok(trailer, end, *type))
			continue;
		*body = (struct span){ .p = rest, .n = (size_t)(m - rest) };
		*restp = rest;
		return true;
	}
}

/* pem_body_decode strips whitespace from body (as Go does) into b64 and
 * decodes it into der. Returns 0, -EINVAL for bad base64 (Go skips such a
 * block) or -E2BIG when it exceeds LK_KEYS_DER_MAX. */
static int pem_body_decode(struct span body, char *b64, uint8_t *der, size_t *der_len)
{
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < body.n; i++) {
		char c = body.p[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (n == B64_BODY_MAX)
			return -E2BIG;
		b64[n++] = c;
	}
	rc = lk_crypto_b64_decode(LK_B64_STD, b64, n, der, LK_KEYS_DER_MAX, der_len);
	return rc == -ENOSPC ? -E2BIG : rc;
}

/* ---- PKCS#8 (RFC 5958) ------------------------------------------------- */

struct der {
	const uint8_t *p;
	size_t n;
};

/* der_expect reads one TLV with the given tag (low tag numbers only, definite
 * minimal lengths up to 65535) into out and advances d. */
static bool der_expect(struct der *d, uint8_t tag, struct der *out)
{
	size_t len, hdr = 2;

	if (d->n < 2 || d->p[0] != tag)
		return false;
	len = d->p[1];
	if (len & 0x80) {
		size_t nb = len & 0x7f;

		if (nb == 0 || nb > 2 || d->n < 2 + nb)
			return false;
		len = nb == 1 ? d->p[2] : (size_t)d->p[2] << 8 | d->p[3];
		if (len < 0x80 || (nb == 2 && len < 0x100))
			return false; /* not the minimal (DER) length encoding */
		hdr += nb;
	}
	if (len > d->n - hdr)
		return false;
	*out = (struct der){ .p = d->p + hdr, .n = len };
	d->p += hdr + len;
	d->n -= hdr + len;
	return true;
}

static bool der_is(struct der d, const uint8_t *bytes, size_t n)
{
	return d.n == n && memcmp(d.p, bytes, n) == 0;
}

/* oid_str renders an OBJECT IDENTIFIER's content in dotted form. */
static const char *oid_str(char dst[QUOTE_MAX], struct der oid)
{
	uint64_t arc = 0;
	size_t o = 0;
	bool first = true;

	dst[0] = '\0';
	for (size_t i = 0; i < oid.n && o + 48 < QUOTE_MAX; i++) {
		if (arc > (UINT64_MAX >> 7))
			break;
		arc = arc << 7 | (oid.p[i] & 0x7f);
		if (oid.p[i] & 0x80)
			continue;
		if (first) {
			unsigned int top = arc < 40 ? 0 : arc < 80 ? 1 : 2;

			o += (size_t)snprintf(dst + o, QUOTE_MAX - o, "%u.%llu", top,
					      (unsigned long long)(arc - 40 * top));
			first = false;
		} else {
			o += (size_t)snprintf(dst + o, QUOTE_MAX - o, ".%llu",
					      (unsigned long long)arc);
		}
		arc = 0;
	}
	return dst;
}

/* check_algorithm accepts id-Ed25519 and turns every other algorithm into
 * the reference's text (it names the Go type ParsePKCS8PrivateKey returns). */
static int check_algorithm(struct der oid, char *err, size_t err_len)
{
	static const uint8_t ed25519[] = { 0x2b, 0x65, 0x70 };
	static const struct {
		uint8_t der[9];
		uint8_t len;
		const char *go_type;
	} others[] = {
		{ { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 }, 9, "*rsa.PrivateKey" },
		{ { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 }, 7, "*ecdsa.PrivateKey" },
		{ { 0x2b, 0x65, 0x6e }, 3, "*ecdh.PrivateKey" }, /* X25519 */
	};
	char q[QUOTE_MAX];

	if (der_is(oid, ed25519, sizeof(ed25519)))
		return 0;
	for (size_t i = 0; i < LK_ARRAY_SIZE(others); i++) {
		if (der_is(oid, others[i].der, others[i].len))
			return errf(err, err_len, "private key is not Ed25519 (got %s)",
				    others[i].go_type);
	}
	return errf(err, err_len,
		    PKCS8_PREFIX "x509: PKCS#8 wrapping contained private key with unknown "
				 "algorithm: %s",
		    oid_str(q, oid));
}

/* check_embedded_pub compares a version-1 publicKey [1] with the key the
 * seed derives, so a spliced file cannot pair one key's seed with another's
 * public half. */
static int check_embedded_pub(struct der bits, const uint8_t seed[LK_ED25519_SEED_LEN], char *err,
			      size_t err_len)
{
	uint8_t pub[LK_ED25519_PUB_LEN], priv[LK_ED25519_PRIV_LEN];
	bool ok;

	if (bits.n != 1 + LK_ED25519_PUB_LEN || bits.p[0] != 0)
		return errf(err, err_len, PKCS8_PREFIX "malformed Ed25519 public key");
	lk_crypto_ed25519_keypair(seed, pub, priv);
	lk_crypto_cleanse(priv, sizeof(priv));
	ok = memcmp(pub, bits.p + 1, LK_ED25519_PUB_LEN) == 0;
	if (!ok)
		return errf(err, err_len,
			    PKCS8_PREFIX "embedded public key does not match the private key");
	return 0;
}

/* parse_ed25519_key reads CurvePrivateKey and the optional trailing fields
 * of the PKCS#8 SEQUENCE (after the algorithm has been checked). */
static int parse_ed25519_key(struct der seq, struct der params, struct der pk, unsigned int version,
			     uint8_t seed[LK_ED25519_SEED_LEN], char *err, size_t err_len)
{
	struct der inner, skip, pub;

	if (params.n != 0)
		return errf(err, err_len,
			    PKCS8_PREFIX "x509: invalid Ed25519 private key parameters");
	if (!der_expect(&pk, 0x04, &inner) || pk.n != 0)
		return errf(err, err_len,
			    PKCS8_PREFIX "x509: invalid Ed25519 private key: "
					 "malformed CurvePrivateKey");
	if (inner.n != LK_ED25519_SEED_LEN)
		return errf(err, err_len,
			    PKCS8_PREFIX "x509: invalid Ed25519 private key length: %zu", inner.n);
	memcpy(seed, inner.p, LK_ED25519_SEED_LEN);
	if (seq.n != 0 && seq.p[0] == 0xa0 && !der_expect(&seq, 0xa0, &skip))
		return errf(err, err_len, PKCS8_PREFIX "malformed attributes");
	if (seq.n != 0 && seq.p[0] == 0x81) {
		if (version != 1 || !der_expect(&seq, 0x81, &pub))
			return errf(err, err_len, PKCS8_PREFIX "malformed public key field");
		if (check_embedded_pub(pub, seed, err, err_len) != 0)
			return -EINVAL;
	}
	if (seq.n != 0)
		return errf(err, err_len, PKCS8_PREFIX "trailing data in PrivateKeyInfo");
	return 0;
}

static int parse_pkcs8(const uint8_t *der, size_t n, uint8_t seed[LK_ED25519_SEED_LEN], char *err,
		       size_t err_len)
{
	struct der top = { .p = der, .n = n }, seq, ver, alg, oid, pk;

	if (!der_expect(&top, 0x30, &seq) || top.n != 0)
		return errf(err, err_len, PKCS8_PREFIX "malformed DER: expected one SEQUENCE");
	if (!der_expect(&seq, 0x02, &ver) || ver.n != 1 || ver.p[0] > 1)
		return errf(err, err_len, PKCS8_PREFIX "unsupported or malformed version");
	if (!der_expect(&seq, 0x30, &alg) || !der_expect(&alg, 0x06, &oid))
		return errf(err, err_len, PKCS8_PREFIX "malformed AlgorithmIdentifier");
	if (!der_expect(&seq, 0x04, &pk))
		return errf(err, err_len, PKCS8_PREFIX "malformed privateKey");
	if (check_algorithm(oid, err, err_len) != 0)
		return -EINVAL;
	return parse_ed25519_key(seq, alg, pk, ver.p[0], seed, err, err_len);
}

int lk_keys_pem_decode(const char *pem, size_t len, uint8_t out_seed[LK_ED25519_SEED_LEN],
		       char *err, size_t err_len)
{
	char b64[B64_BODY_MAX], q[QUOTE_MAX];
	uint8_t der[LK_KEYS_DER_MAX];
	const char *rest = pem, *end = pem + len;
	struct span type, body;
	size_t der_len = 0;
	int rc;

	memset(out_seed, 0, LK_ED25519_SEED_LEN);
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	do {
		if (!pem_next(&rest, end, &type, &body)) {
			rc = errf(err, err_len, "no PEM block found in private key data");
			goto out;
		}
		rc = pem_body_decode(body, b64, der, &der_len);
	} while (rc == -EINVAL);
	if (!span_is(type, PEM_TYPE))
		rc = errf(err, err_len, "expected PEM type \"" PEM_TYPE "\", got \"%s\"",
			  quote(q, type.p, type.n));
	else if (rc == -E2BIG)
		rc = errf(err, err_len, PKCS8_PREFIX "DER longer than %d bytes", LK_KEYS_DER_MAX);
	else
		rc = parse_pkcs8(der, der_len, out_seed, err, err_len);
out:
	if (rc != 0)
		lk_crypto_cleanse(out_seed, LK_ED25519_SEED_LEN);
	lk_crypto_cleanse(b64, sizeof(b64));
	lk_crypto_cleanse(der, sizeof(der));
	return rc;
}

/* ---- credential files --------------------------------------------------- */

static const char *const cred_kind[LK_KEYS_CRED__COUNT] = {
	[LK_KEYS_CRED_AUTHORIZED_KEYS] = "authorized_keys",
	[LK_KEYS_CRED_PRIVATE_KEY] = "private key",
};

/* go_mode renders st_mode like Go's fs.FileMode.String() ("drwxr-xr-x",
 * "Dcrw-rw-rw-"), which the reference prints for a non-regular file. */
static const char *go_mode(char dst[16], mode_t m)
{
	static const char rwx[] = "rwxrwxrwx";
	size_t o = 0;

	if (S_ISDIR(m))
		dst[o++] = 'd';
	if (S_ISBLK(m) || S_ISCHR(m))
		dst[o++] = 'D';
	if (S_ISFIFO(m))
		dst[o++] = 'p';
	if (S_ISSOCK(m))
		dst[o++] = 'S';
	if (m & S_ISUID)
		dst[o++] = 'u';
	if (m & S_ISGID)
		dst[o++] = 'g';
	if (S_ISCHR(m))
		dst[o++] = 'c';
	if (m & S_ISVTX)
		dst[o++] = 't';
	if (o == 0)
		dst[o++] = '-';
	for (int i = 0; i < 9; i++)
		dst[o++] = (m & (1u << (8 - i))) ? rwx[i] : '-';
	dst[o] = '\0';
	return dst;
}

/* errno_str is strerror with Go's lower-case first letter ("no such file
 * or directory"), so the texts read like the reference's. */
static const char *errno_str(char dst[128], int e)
{
	snprintf(dst, 128, "%s", strerror(e));
	if (dst[0] >= 'A' && dst[0] <= 'Z' && !(dst[1] >= 'A' && dst[1] <= 'Z'))
		dst[0] = (char)(dst[0] - 'A' + 'a');
	return dst;
}

/* check_mode applies the type and permission rules to an fstat result and
 * writes "<kind> "<path>" ..." into err. */
static int check_mode(mode_t m, const char *kind, const char *qpath, char *err, size_t err_len)
{
	char ms[16];

	if (!S_ISREG(m)) {
		errf(err, err_len, "%s \"%s\" is not a regular file (mode %s)", kind, qpath,
		     go_mode(ms, m));
		return -EINVAL;
	}
	if (m & 0004) {
		errf(err, err_len,
		     "%s \"%s\" is world-readable (mode %04o): restrict permissions to 0600 or "
		     "0640 before loading",
		     kind, qpath, (unsigned int)(m & 0777));
		return -EACCES;
	}
	if (m & 0022) {
		errf(err, err_len,
		     "%s \"%s\" is group/world-writable (mode %04o): remove group and other "
		     "write permissions before loading",
		     kind, qpath, (unsigned int)(m & 0777));
		return -EACCES;
	}
	return 0;
}

int lk_keys_open_credential(const char *path, enum lk_keys_cred kind, int *out_fd, char *err,
			    size_t err_len)
{
	char qpath[QUOTE_MAX], es[128], inner[2 * QUOTE_MAX];
	const char *k;
	struct stat st;
	int fd, rc;

	LK_ASSERT((unsigned int)kind < LK_KEYS_CRED__COUNT);
	k = cred_kind[kind];
	*out_fd = -1;
	quote(qpath, path, strlen(path));
	/* O_NONBLOCK: opening a FIFO planted at the path must not hang start-up;
	 * the check below refuses it anyway. Regular files ignore the flag. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		rc = -errno;
		errf(err, err_len, "opening %s \"%s\": open %s: %s", k, qpath, qpath,
		     errno_str(es, -rc));
		return rc;
	}
	if (fstat(fd, &st) == -1) {
		rc = -errno;
		errf(err, err_len, "stat opened %s \"%s\": %s", k, qpath, errno_str(es, -rc));
		goto out_close;
	}
	rc = check_mode(st.st_mode, k, qpath, inner, sizeof(inner));
	if (rc != 0) {
		if (kind == LK_KEYS_CRED_PRIVATE_KEY)
			errf(err, err_len, "private key \"%s\" has unsafe permissions: %s", qpath,
			     inner);
		else
			errf(err, err_len, "%s", inner);
		goto out_close;
	}
	rc = LK_NERRNO(fcntl(fd, F_SETFL, 0));
	if (rc < 0) {
		errf(err, err_len, "opening %s \"%s\": %s", k, qpath, errno_str(es, -rc));
		goto out_close;
	}
	*out_fd = fd;
	return 0;
out_close:
	close(fd);
	return rc;
}

/* read_all reads fd to EOF into buf (cap bytes); -EFBIG if it holds more. */
static int read_all(int fd, char *buf, size_t cap, size_t *out_len)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = read(fd, buf + n, cap + 1 - n);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -errno;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > cap)
			return -EFBIG;
	}
	*out_len = n;
	return 0;
}

int lk_keys_load_private_key(const char *path, uint8_t out_seed[LK_ED25519_SEED_LEN], char *err,
			     size_t err_len)
{
	char qpath[QUOTE_MAX], es[128];
	size_t len = 0;
	char *buf;
	int fd, rc;

	memset(out_seed, 0, LK_ED25519_SEED_LEN);
	rc = lk_keys_open_credential(path, LK_KEYS_CRED_PRIVATE_KEY, &fd, err, err_len);
	if (rc != 0)
		return rc;
	/* One extra byte so read_all can tell "exactly the cap" from "more". */
	buf = malloc(LK_KEYS_FILE_MAX + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		errf(err, err_len, "reading private key: out of memory");
		goto out_close;
	}
	rc = read_all(fd, buf, LK_KEYS_FILE_MAX, &len);
	if (rc == -EFBIG)
		errf(err, err_len, "private key \"%s\" is larger than %d bytes",
		     quote(qpath, path, strlen(path)), LK_KEYS_FILE_MAX);
	else if (rc != 0)
		errf(err, err_len, "reading private key \"%s\": %s",
		     quote(qpath, path, strlen(path)), errno_str(es, -rc));
	else
		rc = lk_keys_pem_decode(buf, len, out_seed, err, err_len);
	lk_crypto_cleanse(buf, LK_KEYS_FILE_MAX + 1);
	free(buf);
out_close:
	close(fd);
	return rc;
}
