/* tests/unit/test_keys.c - auth/keys: RFC 8032 key A and the HEAD fuzz key B
 * (spec lookout-core 17.2), PEM/PKCS#8 encode and strict decode with the
 * reference's error texts, authorized_keys lines and key IDs, the 17.2
 * signature table, and the credential-file permission checks. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/keys.h"
#include "core/crypto.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SEED_A "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define PUB_A "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define B64_A "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define PEM_A                                                                                      \
	"-----BEGIN PRIVATE KEY-----\n"                                                            \
	"MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"                       \
	"-----END PRIVATE KEY-----\n"
#define PEM_B_BODY "MC4CAQAwBQYDK2VwBCIEIHBvcnR3aW5nLWF1dGgtZnV6ei1zZWVkLTAwMDAwMDAx"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	size_t got = 0;

	assert_int_equal(lk_crypto_hex_decode(hex, strlen(hex), out, n, &got), 0);
	assert_int_equal(got, n);
}

static void pub_of(const uint8_t seed[32], uint8_t pub[32])
{
	uint8_t priv[64];

	lk_crypto_ed25519_keypair(seed, pub, priv);
	lk_crypto_cleanse(priv, sizeof(priv));
}

/* ---- key IDs and lines -------------------------------------------------- */

static void test_key_a_line_and_id(void **state)
{
	uint8_t seed[32], pub[32], want[32];
	char id[LK_KEYS_ID_LEN + 1], line[LK_KEYS_LINE_OUT_MAX];

	(void)state;
	unhex(SEED_A, seed, 32);
	unhex(PUB_A, want, 32);
	pub_of(seed, pub);
	assert_memory_equal(pub, want, 32);
	lk_keys_id(pub, id);
	assert_string_equal(id, "21fe31dfa154a261");
	assert_int_equal(lk_keys_format_line(pub, NULL, line, sizeof(line)), 0);
	assert_string_equal(line, "ed25519 " B64_A);
	assert_int_equal(lk_keys_format_line(pub, "", line, sizeof(line)), 0);
	assert_string_equal(line, "ed25519 " B64_A);
	assert_int_equal(lk_keys_format_line(pub, "enrolled:21fe31dfa154a261", line, sizeof(line)),
			 0);
	assert_string_equal(line, "ed25519 " B64_A " enrolled:21fe31dfa154a261");
	assert_int_equal(lk_keys_format_line(pub, "two  words", line, sizeof(line)), 0);
	assert_string_equal(line, "ed25519 " B64_A " two  words"); /* verbatim */
}

static void test_key_b(void **state)
{
	uint8_t seed[32], pub[32];
	char id[LK_KEYS_ID_LEN + 1], line[LK_KEYS_LINE_OUT_MAX], pem[LK_KEYS_PEM_MAX];

	(void)state;
	memcpy(seed, "portwing-auth-fuzz-seed-00000001", 32);
	pub_of(seed, pub);
	lk_keys_id(pub, id);
	assert_string_equal(id, "453eb1222a9a1412");
	assert_int_equal(lk_keys_format_line(pub, NULL, line, sizeof(line)), 0);
	assert_string_equal(line, "ed25519 4uR5Bj2c3Tx8VkWK7hNqHYZ4OA2CpIza/bO8kibhB4w=");
	assert_int_equal(lk_keys_pem_encode(seed, pem, sizeof(pem)), 0);
	assert_string_equal(pem, "-----BEGIN PRIVATE KEY-----\n" PEM_B_BODY
				 "\n-----END PRIVATE KEY-----\n");
}

static void test_format_line_limits(void **state)
{
	uint8_t pub[32] = { 0 };
	char line[LK_KEYS_LINE_OUT_MAX], comment[LK_KEYS_COMMENT_MAX + 2];

	(void)state;
	assert_int_equal(lk_keys_format_line(pub, "a\nb", line, sizeof(line)), -EINVAL);
	assert_int_equal(lk_keys_format_line(pub, "a\rb", line, sizeof(line)), -EINVAL);
	assert_string_equal(line, "");
	memset(comment, 'c', sizeof(comment));
	comment[LK_KEYS_COMMENT_MAX] = '\0';
	assert_int_equal(lk_keys_format_line(pub, comment, line, sizeof(line)), 0);
	assert_int_equal(strlen(line), sizeof(line) - 1);
	comment[LK_KEYS_COMMENT_MAX] = 'c';
	comment[LK_KEYS_COMMENT_MAX + 1] = '\0';
	assert_int_equal(lk_keys_format_line(pub, comment, line, sizeof(line)), -ENOSPC);
	assert_int_equal(lk_keys_format_line(pub, NULL, line, 52), -ENOSPC); /* needs 53 */
	assert_int_equal(lk_keys_format_line(pub, NULL, line, 53), 0);
}

static void expect_line(const char *line, int want_rc, const char *comment, const char *err_part)
{
	struct lk_pubkey k;
	char err[256];
	int rc = lk_keys_parse_line(line, strlen(line), &k, err, sizeof(err));

	if (rc != want_rc)
		fail_msg("\"%s\": rc %d, want %d (%s)", line, rc, want_rc, err);
	if (rc == 0) {
		assert_string_equal(k.id, "21fe31dfa154a261");
		assert_string_equal(k.comment, comment);
		assert_int_equal(k.comment_len, strlen(comment));
	}
	if (err_part != NULL && strstr(err, err_part) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", line, err, err_part);
}

static void test_parse_line(void **state)
{
	(void)state;
	expect_line("ed25519 " B64_A, 0, "", NULL);
	expect_line("ed25519 " B64_A " laptop", 0, "laptop", NULL);
	expect_line("  ed25519\t" B64_A "   my  \t laptop  \r\n", 0, "my laptop", NULL);
	/* Go's strings.Fields splits on Unicode spaces: NBSP, U+3000 */
	expect_line("ed25519\xc2\xa0" B64_A "\xe3\x80\x80x\xe2\x80\x8ay", 0, "x y", NULL);
	/* a non-space multibyte character is part of the comment */
	expect_line("ed25519 " B64_A " caf\xc3\xa9", 0, "caf\xc3\xa9", NULL);
	expect_line("", -ENOENT, "", NULL);
	expect_line("   \t ", -ENOENT, "", NULL);
	expect_line("# ed25519 " B64_A, -ENOENT, "", NULL);
	expect_line("  #comment", -ENOENT, "", NULL);
	expect_line("ed25519", -EINVAL, "", "too few fields");
	expect_line("ssh-ed25519 " B64_A, -EINVAL, "", "unsupported algorithm \"ssh-ed25519\"");
	expect_line("ED25519 " B64_A, -EINVAL, "", "unsupported algorithm");
	expect_line("ed25519 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo", -EINVAL, "", "base64");
	expect_line("ed25519 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=", -EINVAL, "", "base64");
	expect_line("ed25519 AAAA", -EINVAL, "", "got 3 bytes, want 32");
	expect_line("ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", -EINVAL,
		    "", "got 45 bytes, want 32");
}

static void test_parse_line_limits(void **state)
{
	size_t big = LK_KEYS_LINE_MAX + 1;
	char *line = malloc(big + 1), err[128];
	struct lk_pubkey k;
	size_t n;

	(void)state;
	assert_non_null(line);
	n = (size_t)snprintf(line, big, "ed25519 %s ", B64_A);
	memset(line + n, 'c', LK_KEYS_COMMENT_MAX);
	line[n + LK_KEYS_COMMENT_MAX] = '\0';
	assert_int_equal(lk_keys_parse_line(line, strlen(line), &k, err, sizeof(err)), 0);
	assert_int_equal(k.comment_len, LK_KEYS_COMMENT_MAX);
	line[n + LK_KEYS_COMMENT_MAX] = 'c';
	line[n + LK_KEYS_COMMENT_MAX + 1] = '\0';
	assert_int_equal(lk_keys_parse_line(line, strlen(line), &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "comment longer than"));
	assert_int_equal(k.comment_len, 0);
	memset(line + n, ' ', big - n);
	assert_int_equal(lk_keys_parse_line(line, big, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line longer than"));
	/* not NUL-terminated: parse only the given length */
	memcpy(line, "ed25519 " B64_A "XYZ", 8 + 44 + 3);
	assert_int_equal(lk_keys_parse_line(line, 8 + 44, &k, err, sizeof(err)), 0);
	free(line);
}

/* Found by fuzz_authorized_keys: a NUL inside the comment was kept, so
 * comment_len disagreed with the C string and lk_keys_format_line (and any
 * log of the comment) silently dropped the rest. Such a line is now refused;
 * a NUL in a comment line is still just skipped. */
static void test_parse_line_nul_in_comment(void **state)
{
	static const char line[] = "ed25519 " B64_A " lap\0top x";
	static const char hash_line[] = "# old\0key";
	char err[128];
	struct lk_pubkey k;

	(void)state;
	assert_int_equal(lk_keys_parse_line(line, sizeof(line) - 1, &k, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "comment contains a NUL byte");
	assert_int_equal(k.comment_len, 0);
	assert_int_equal(lk_keys_parse_line(line, sizeof(line) - 5, &k, err, sizeof(err)),
			 -EINVAL); /* also as the last byte of the line */
	assert_int_equal(lk_keys_parse_line(line, sizeof(line) - 7, &k, err, sizeof(err)), 0);
	assert_string_equal(k.comment, "lap");
	assert_int_equal(k.comment_len, 3);
	assert_int_equal(lk_keys_parse_line(hash_line, sizeof(hash_line) - 1, &k, err, sizeof(err)),
			 -ENOENT);
}

/* ---- PEM ---------------------------------------------------------------- */

static void test_pem_encode_key_a(void **state)
{
	uint8_t seed[32];
	char pem[LK_KEYS_PEM_MAX];

	(void)state;
	unhex(SEED_A, seed, 32);
	assert_int_equal(lk_keys_pem_encode(seed, pem, sizeof(pem)), 0);
	assert_string_equal(pem, PEM_A);
	assert_int_equal(strlen(pem), 119);
	assert_int_equal(lk_keys_pem_encode(seed, pem, 119), -ENOSPC);
	assert_int_equal(lk_keys_pem_encode(seed, pem, 120), 0);
}

static void expect_pem_ok(const char *pem, const char *seed_hex)
{
	uint8_t seed[32], want[32];
	char err[256] = "";

	unhex(seed_hex, want, 32);
	if (lk_keys_pem_decode(pem, strlen(pem), seed, err, sizeof(err)) != 0)
		fail_msg("rejected (%s):\n%s", err, pem);
	assert_memory_equal(seed, want, 32);
}

static void expect_pem_err(const char *pem, size_t len, const char *want_err)
{
	uint8_t seed[32];
	char err[256] = "";

	memset(seed, 0xaa, sizeof(seed));
	if (lk_keys_pem_decode(pem, len, seed, err, sizeof(err)) != -EINVAL)
		fail_msg("accepted:\n%s", pem);
	if (strcmp(err, want_err) != 0)
		fail_msg("error \"%s\", want \"%s\"", err, want_err);
	for (int i = 0; i < 32; i++)
		assert_int_equal(seed[i], 0);
}

/* pem_of wraps hex DER in a PRIVATE KEY block (64-char lines). */
static void pem_of(const char *der_hex, char *out, size_t cap)
{
	uint8_t der[256];
	char b64[400];
	size_t n = strlen(der_hex) / 2, o, l;

	unhex(der_hex, der, n);
	assert_int_equal(lk_crypto_b64_encode(LK_B64_STD, der, n, b64, sizeof(b64)), 0);
	o = (size_t)snprintf(out, cap, "-----BEGIN PRIVATE KEY-----\n");
	for (size_t i = 0; i < strlen(b64); i += l) {
		l = strlen(b64) - i < 64 ? strlen(b64) - i : 64;
		o += (size_t)snprintf(out + o, cap - o, "%.*s\n", (int)l, b64 + i);
	}
	snprintf(out + o, cap - o, "-----END PRIVATE KEY-----\n");
}

static void expect_der_err(const char *der_hex, const char *want_err)
{
	char pem[600];

	pem_of(der_hex, pem, sizeof(pem));
	expect_pem_err(pem, strlen(pem), want_err);
}

static void test_pem_decode_accepts(void **state)
{
	char pem[600];

	(void)state;
	expect_pem_ok(PEM_A, SEED_A);
	/* CRLF, text around the block, trailing spaces, headers (Go pem rules) */
	expect_pem_ok("-----BEGIN PRIVATE KEY-----\r\n"
		      "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\r\n"
		      "-----END PRIVATE KEY-----\r\n",
		      SEED_A);
	expect_pem_ok("key for host a\n" PEM_A "trailing text\n", SEED_A);
	expect_pem_ok("-----BEGIN PRIVATE KEY-----  \n"
		      "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpez\n JpGXA7rAMcrn9g\n"
		      "-----END PRIVATE KEY-----",
		      SEED_A);
	expect_pem_ok("-----BEGIN PRIVATE KEY-----\nComment: hi\n\n"
		      "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
		      "-----END PRIVATE KEY-----\n",
		      SEED_A);
	/* a broken first block is skipped, as Go's Decode does */
	expect_pem_ok("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n" PEM_A,
		      SEED_A);
	expect_pem_ok("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END OTHER-----\n" PEM_A, SEED_A);
	/* key B, and the v1 form with a matching embedded public key */
	expect_pem_ok("-----BEGIN PRIVATE KEY-----\n" PEM_B_BODY "\n-----END PRIVATE KEY-----\n",
		      "706f727477696e672d617574682d66757a7a2d736565642d3030303030303031");
	pem_of("3051020101300506032b657004220420" SEED_A "812100" PUB_A, pem, sizeof(pem));
	expect_pem_ok(pem, SEED_A);
	/* v0 with an attributes [0] field */
	pem_of("3032020100300506032b657004220420" SEED_A "a0020500", pem, sizeof(pem));
	expect_pem_ok(pem, SEED_A);
}

#define PEM_ERR(s, e) expect_pem_err(s, sizeof(s) - 1, e)

static void test_pem_decode_errors(void **state)
{
	static const char no_block[] = "no PEM block found in private key data";

	(void)state;
	PEM_ERR("", no_block);
	PEM_ERR("hello", no_block);
	PEM_ERR("MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g", no_block);
	PEM_ERR("-----BEGIN PRIVATE KEY-----\n", no_block);
	PEM_ERR("-----BEGIN PRIVATE KEY-----\nMC4C\n-----END PUBLIC KEY-----\n", no_block);
	PEM_ERR("-----BEGIN PRIVATE KEY-----\nMC4CAQ\n-----END PRIVATE KEY-----\n", no_block);
	PEM_ERR("-----BEGIN PRIVATE KEY-----\nMC4C\n-----END PRIVATE KEY----- x\n", no_block);
	expect_pem_err(PEM_A, 60, no_block); /* truncated */
	PEM_ERR("-----BEGIN PUBLIC KEY-----\n"
		"MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
		"-----END PUBLIC KEY-----\n",
		"expected PEM type \"PRIVATE KEY\", got \"PUBLIC KEY\"");
	PEM_ERR("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
		"expected PEM type \"PRIVATE KEY\", got \"RSA PRIVATE KEY\"");
	PEM_ERR("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
		"parsing PKCS#8 private key: malformed DER: expected one SEQUENCE");
}

static void test_pkcs8_errors(void **state)
{
	(void)state;
	expect_der_err(
		"300e020100300706052b8104000a0400",
		"parsing PKCS#8 private key: x509: PKCS#8 wrapping contained private key with "
		"unknown algorithm: 1.3.132.0.10");
	expect_der_err(
		"3012020100300506032b657104060404deadbeef",
		"parsing PKCS#8 private key: x509: PKCS#8 wrapping contained private key with "
		"unknown algorithm: 1.3.101.113");
	expect_der_err("3016020100300d06092a864886f70d0101010500040200ff",
		       "private key is not Ed25519 (got *rsa.PrivateKey)");
	expect_der_err("3014020100300906072a8648ce3d0201040400000000",
		       "private key is not Ed25519 (got *ecdsa.PrivateKey)");
	expect_der_err("302e020100300506032b656e04220420" SEED_A,
		       "private key is not Ed25519 (got *ecdh.PrivateKey)");
	expect_der_err("3030020100300706032b6570050004220420" SEED_A,
		       "parsing PKCS#8 private key: x509: invalid Ed25519 private key parameters");
	expect_der_err("302d020100300506032b657004210420" SEED_A,
		       "parsing PKCS#8 private key: malformed DER: expected one SEQUENCE");
	/* a 31-byte CurvePrivateKey: the seed without its last byte */
	expect_der_err("302d020100300506032b65700421041f"
		       "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f",
		       "parsing PKCS#8 private key: x509: invalid Ed25519 private key length: 31");
	expect_der_err("302e020100300506032b657004220320" SEED_A,
		       "parsing PKCS#8 private key: x509: invalid Ed25519 private key: malformed "
		       "CurvePrivateKey");
	expect_der_err("302e020102300506032b657004220420" SEED_A,
		       "parsing PKCS#8 private key: unsupported or malformed version");
	expect_der_err("3030020100300506032b657004220420" SEED_A "0500",
		       "parsing PKCS#8 private key: trailing data in PrivateKeyInfo");
	expect_der_err("302e020100300506032b657004220420" SEED_A "00",
		       "parsing PKCS#8 private key: malformed DER: expected one SEQUENCE");
	/* non-minimal length encoding (0x81 0x2e) is BER, not DER */
	expect_der_err("30812e020100300506032b657004220420" SEED_A,
		       "parsing PKCS#8 private key: malformed DER: expected one SEQUENCE");
	/* v1 public key that is not the seed's, and a public key in a v0 */
	expect_der_err(
		"3051020101300506032b657004220420" SEED_A "812100"
		"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
		"parsing PKCS#8 private key: embedded public key does not match the private key");
	expect_der_err("3051020100300506032b657004220420" SEED_A "812100" PUB_A,
		       "parsing PKCS#8 private key: malformed public key field");
}

/* ---- signatures (17.2 table) -------------------------------------------- */

static void test_signature_table(void **state)
{
	static const struct {
		const char *msg, *sig;
	} v[] = {
		{ "GET\n/api/test\n" EMPTY_SHA256 "\n1749600000\na1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
		  "_oMOv6hj2ZyiIZ6UqD1Ehds28EJoqaFQmm2QRZi9kJl5Ema8D9ds-o_"
		  "B08FspQs6kLGxWLTFBIS96rdZY1IeDQ" },
		{ "POST\n/_lookout/compose\n"
		  "7f211640924eac99a02e2fde1d5878e94372aaa486e96a7a4017f2f92446315a\n1749600000\n"
		  "00112233445566778899aabbccddeeff",
		  "TzDMSbYDSL71GgP7OEn6ljKunk393Fj_IEfSLfdEJ-"
		  "2ZVzX5CFUyVKRJVAah5PdYOpaGA2QfpLfjbO742DUMAg" },
		{ "GET\n/api/lookout/ws\n" EMPTY_SHA256
		  "\n1749600000\na1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
		  "Nbt6UxsAL1X4gh4eB7VtdkUZgUdf01gtXjh-3Gki7-2h3kovh-"
		  "5VwAsEQ9jYfdUXOewot2aDOcrCHad3F35WBQ" },
		{ "GET\n/containers/a/b/json\n" EMPTY_SHA256 "\n1749600000\n"
		  "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
		  "koCt50uzxkDBdR9_EYw75Y9kp-U_YDq--oVpS2C24nMIHHUnBYVf06j-9uWsDpm_"
		  "gaieCDZzzhKEFkqRkhCNDQ" },
		{ "GET\n/v1.44/containers/json\n" EMPTY_SHA256 "\n1749600000\n"
		  "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
		  "2JYBhsOPglgtrXoUCwBu5l41zTtVZ8cTx4GFxayAb0ze4xfoO8LCKh8ACF8jYHdjta2mo_"
		  "SA7ghzL3WDPajkCw" },
		{ "GET\n/v1.44/containers/json?all=1\n" EMPTY_SHA256 "\n1749600000\n"
		  "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
		  "9vlsPhwmnySemlJ7A7WUDxLQtRQu9zu2OylHeZfYQDZcgl52RFcyM9GH7NTWrcwchc0XOSgFvwZdm47q"
		  "8-7yAw" },
	};
	uint8_t seed[32], pub[32], priv[64], sig[64], dec[64];
	char b64[100];
	size_t n;

	(void)state;
	assert_int_equal(lk_keys_pem_decode(PEM_A, strlen(PEM_A), seed, NULL, 0), 0);
	lk_crypto_ed25519_keypair(seed, pub, priv);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(lk_crypto_ed25519_sign(priv, v[i].msg, strlen(v[i].msg), sig), 0);
		assert_int_equal(lk_crypto_b64_encode(LK_B64_URL_NOPAD, sig, 64, b64, sizeof(b64)),
				 0);
		assert_string_equal(b64, v[i].sig);
		assert_int_equal(lk_crypto_b64_decode(LK_B64_URL_NOPAD, v[i].sig, strlen(v[i].sig),
						      dec, sizeof(dec), &n),
				 0);
		assert_int_equal(n, 64);
		assert_true(lk_crypto_ed25519_verify(pub, v[i].msg, strlen(v[i].msg), dec));
		assert_false(lk_crypto_ed25519_verify(pub, v[i].msg, strlen(v[i].msg) - 1, dec));
	}
	unhex("fe830ebfa863d99ca2219e94a83d4485db36f04268a9a1509a6d904598bd9099791266bc0fd76cfa8fc1"
	      "d3c1"
	      "6ca50b3a90b1b158b4c50484bdeab75963521e0d",
	      dec, 64);
	assert_true(lk_crypto_ed25519_verify(pub, v[0].msg, strlen(v[0].msg), dec));
	lk_crypto_cleanse(priv, sizeof(priv));
}

static void test_signature_key_b(void **state)
{
	static const char msg[] =
		"GET\n/v1.44/containers/a%2Fb/logs?tail=10&stdout=1\n"
		"38073e302654475f2ef552f5f024a1ab698fe8c34226cc2c438f24e03a02975b\n"
		"1749600000\n00112233445566778899aabbccddeeff";
	uint8_t seed[32], pub[32], priv[64], sig[64];
	char b64[100];

	(void)state;
	memcpy(seed, "portwing-auth-fuzz-seed-00000001", 32);
	lk_crypto_ed25519_keypair(seed, pub, priv);
	assert_int_equal(lk_crypto_ed25519_sign(priv, msg, sizeof(msg) - 1, sig), 0);
	assert_int_equal(lk_crypto_b64_encode(LK_B64_URL_NOPAD, sig, 64, b64, sizeof(b64)), 0);
	assert_string_equal(b64,
			    "lLdbyO4Q-0ZyerD0hd6gyBT_66rlNhNlPsWtfBgHfz0TMum-LVrHwE_9L8Zk_aYRixj9WL"
			    "sONgqIL22t57YFCw");
	lk_crypto_cleanse(priv, sizeof(priv));
}

/* ---- credential files ---------------------------------------------------- */

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lk_test_keys.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0); /* exact mode, whatever the umask */
}

static void expect_open(const char *path, enum lk_keys_cred kind, int want_rc, const char *want_err)
{
	char err[1024] = "";
	int fd = -2;
	int rc = lk_keys_open_credential(path, kind, &fd, err, sizeof(err));

	if (rc != want_rc)
		fail_msg("%s: rc %d, want %d (%s)", path, rc, want_rc, err);
	if (rc == 0) {
		assert_true(fd >= 0);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
		close(fd);
		return;
	}
	assert_int_equal(fd, -1);
	if (strcmp(err, want_err) != 0)
		fail_msg("error \"%s\", want \"%s\"", err, want_err);
}

static void test_credential_modes(void **state)
{
	char p[128], want[512];

	(void)state;
	snprintf(p, sizeof(p), "%s/keys", tmpdir);
	write_file(p, "", 0, 0600);
	expect_open(p, LK_KEYS_CRED_AUTHORIZED_KEYS, 0, NULL);
	chmod(p, 0640);
	expect_open(p, LK_KEYS_CRED_AUTHORIZED_KEYS, 0, NULL);
	chmod(p, 0400);
	expect_open(p, LK_KEYS_CRED_PRIVATE_KEY, 0, NULL);
	chmod(p, 0644);
	snprintf(want, sizeof(want),
		 "authorized_keys \"%s\" is world-readable (mode 0644): restrict permissions to "
		 "0600 or 0640 before loading",
		 p);
	expect_open(p, LK_KEYS_CRED_AUTHORIZED_KEYS, -EACCES, want);
	chmod(p, 0620);
	snprintf(want, sizeof(want),
		 "authorized_keys \"%s\" is group/world-writable (mode 0620): remove group and "
		 "other write permissions before loading",
		 p);
	expect_open(p, LK_KEYS_CRED_AUTHORIZED_KEYS, -EACCES, want);
	chmod(p, 0602);
	snprintf(want, sizeof(want),
		 "private key \"%s\" has unsafe permissions: private key \"%s\" is "
		 "group/world-writable (mode 0602): remove group and other write permissions "
		 "before loading",
		 p, p);
	expect_open(p, LK_KEYS_CRED_PRIVATE_KEY, -EACCES, want);
	snprintf(want, sizeof(want),
		 "authorized_keys \"%s\" is not a regular file (mode drwx------)", tmpdir);
	expect_open(tmpdir, LK_KEYS_CRED_AUTHORIZED_KEYS, -EINVAL, want);
	snprintf(p, sizeof(p), "%s/missing", tmpdir);
	snprintf(want, sizeof(want),
		 "opening private key \"%s\": open %s: no such file or directory", p, p);
	expect_open(p, LK_KEYS_CRED_PRIVATE_KEY, -ENOENT, want);
	/* a FIFO must be refused without blocking on open */
	snprintf(p, sizeof(p), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(p, 0600), 0);
	snprintf(want, sizeof(want),
		 "private key \"%s\" has unsafe permissions: private key \"%s\" is not a regular "
		 "file (mode prw-------)",
		 p, p);
	expect_open(p, LK_KEYS_CRED_PRIVATE_KEY, -EINVAL, want);
}

static void test_load_private_key(void **state)
{
	char p[128], err[1024], want[512], *big;
	uint8_t seed[32], want_seed[32];

	(void)state;
	unhex(SEED_A, want_seed, 32);
	snprintf(p, sizeof(p), "%s/a.pem", tmpdir);
	write_file(p, PEM_A, strlen(PEM_A), 0600);
	assert_int_equal(lk_keys_load_private_key(p, seed, err, sizeof(err)), 0);
	assert_memory_equal(seed, want_seed, 32);
	chmod(p, 0644);
	assert_int_equal(lk_keys_load_private_key(p, seed, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want),
		 "private key \"%s\" has unsafe permissions: private key \"%s\" is world-readable "
		 "(mode 0644): restrict permissions to 0600 or 0640 before loading",
		 p, p);
	assert_string_equal(err, want);
	write_file(p, "not a key\n", 10, 0600);
	assert_int_equal(lk_keys_load_private_key(p, seed, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "no PEM block found in private key data");
	/* exactly the cap is read; one byte more is refused */
	big = malloc(LK_KEYS_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '\n', LK_KEYS_FILE_MAX + 1);
	memcpy(big, PEM_A, strlen(PEM_A));
	write_file(p, big, LK_KEYS_FILE_MAX, 0600);
	assert_int_equal(lk_keys_load_private_key(p, seed, err, sizeof(err)), 0);
	write_file(p, big, LK_KEYS_FILE_MAX + 1, 0600);
	assert_int_equal(lk_keys_load_private_key(p, seed, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, "is larger than 65536 bytes"));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_a_line_and_id),
		cmocka_unit_test(test_key_b),
		cmocka_unit_test(test_format_line_limits),
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_parse_line_limits),
		cmocka_unit_test(test_pem_encode_key_a),
		cmocka_unit_test(test_pem_decode_accepts),
		cmocka_unit_test(test_pem_decode_errors),
		cmocka_unit_test(test_pkcs8_errors),
		cmocka_unit_test(test_signature_table),
		cmocka_unit_test(test_signature_key_b),
		cmocka_unit_test(test_credential_modes),
		cmocka_unit_test(test_load_private_key),
		cmocka_unit_test(test_parse_line_nul_in_comment),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
