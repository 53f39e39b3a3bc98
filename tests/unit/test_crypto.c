/* tests/unit/test_crypto.c - core/crypto: SHA-256, Ed25519 (RFC 8032 and the
 * spec's edge hello vector), randomness, constant-time helpers, and the
 * strict base64/hex codecs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	size_t got = 0;

	assert_int_equal(lk_crypto_hex_decode(hex, strlen(hex), out, n, &got), 0);
	assert_int_equal(got, n);
}

static void assert_sha256(const char *msg, const char *want_hex)
{
	uint8_t d[LK_SHA256_LEN];
	char hex[2 * LK_SHA256_LEN + 1];

	lk_crypto_sha256(msg, strlen(msg), d);
	assert_int_equal(lk_crypto_hex_encode(d, sizeof(d), hex, sizeof(hex)), 0);
	assert_string_equal(hex, want_hex);
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	/* spec lookout-core 17.1/17.2 and docker-drydock-edge 6.3 */
	assert_sha256("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_sha256("{\"test\":true}",
		      "6fd977db9b2afe87a9ceee48432881299a6aaf83d935fbbe83007660287f9c2e");
	assert_sha256("{\"follow\":true}",
		      "38073e302654475f2ef552f5f024a1ab698fe8c34226cc2c438f24e03a02975b");
	assert_sha256("{\"operation\":\"ps\",\"stackName\":\"myapp\"}",
		      "7f211640924eac99a02e2fde1d5878e94372aaa486e96a7a4017f2f92446315a");
	assert_sha256("supersecret",
		      "f75778f7425be4db0369d09af37a6c2b9a83dea0e53e7bd57412e4b060e607f7");
	assert_sha256("s3cret", "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0");
}

static void test_sha256_incremental(void **state)
{
	static const char msg[] = "{\"operation\":\"ps\",\"stackName\":\"myapp\"}";
	struct lk_crypto_sha256 ctx, zero;
	uint8_t one[LK_SHA256_LEN], inc[LK_SHA256_LEN];

	(void)state;
	lk_crypto_sha256(msg, sizeof(msg) - 1, one);
	lk_crypto_sha256_init(&ctx);
	for (size_t i = 0; i < sizeof(msg) - 1; i++)
		lk_crypto_sha256_update(&ctx, msg + i, 1);
	lk_crypto_sha256_update(&ctx, NULL, 0);
	lk_crypto_sha256_final(&ctx, inc);
	assert_memory_equal(one, inc, sizeof(one));
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&ctx, &zero, sizeof(ctx)); /* final wipes the state */
}

static void test_ed25519_rfc8032(void **state)
{
	/* RFC 8032 section 7.1, tests 1 and 2. */
	static const struct {
		const char *seed, *pub, *msg, *sig;
	} v[] = {
		{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
		  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
		  "c61e3970"
		  "1cf9b46bd25bf5f0595bbe24655141438e7a100b" },
		{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
		  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
		  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
		  "458f3613"
		  "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t seed[32], pub[32], want_pub[32], priv[64], sig[64], want_sig[64];
		uint8_t msg[8] = { 0 };
		size_t mlen = 0;

		unhex(v[i].seed, seed, 32);
		unhex(v[i].pub, want_pub, 32);
		unhex(v[i].sig, want_sig, 64);
		assert_int_equal(
			lk_crypto_hex_decode(v[i].msg, strlen(v[i].msg), msg, sizeof(msg), &mlen),
			0);
		lk_crypto_ed25519_keypair(seed, pub, priv);
		assert_memory_equal(pub, want_pub, 32);
		assert_memory_equal(priv, seed, 32);
		assert_memory_equal(priv + 32, pub, 32);
		assert_int_equal(lk_crypto_ed25519_sign(priv, msg, mlen, sig), 0);
		assert_memory_equal(sig, want_sig, 64);
		assert_true(lk_crypto_ed25519_verify(pub, msg, mlen, sig));
		sig[10] ^= 1;
		assert_false(lk_crypto_ed25519_verify(pub, msg, mlen, sig));
		sig[10] ^= 1;
		pub[0] ^= 1;
		assert_false(lk_crypto_ed25519_verify(pub, msg, mlen, sig));
		pub[0] ^= 1;
		assert_false(lk_crypto_ed25519_verify(pub, msg, mlen + 1, sig));
	}
}

static void test_ed25519_edge_hello(void **state)
{
	/* docker-drydock-edge 6.3: the signed hello Drydock accepted live. */
	static const char msg[] =
		"GET\n/api/portwing/ws\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		"1700000000\n0123456789abcdef0123456789abcdef";
	uint8_t seed[32], pub[32], priv[64], sig[64];
	char b64[100];

	(void)state;
	unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
	lk_crypto_ed25519_keypair(seed, pub, priv);
	assert_int_equal(lk_crypto_ed25519_sign(priv, msg, sizeof(msg) - 1, sig), 0);
	assert_int_equal(lk_crypto_b64_encode(LK_B64_URL_NOPAD, sig, 64, b64, sizeof(b64)), 0);
	assert_string_equal(b64,
			    "lRt9Vah7s41Agz8ZDiCwKQQ54e8rrfjnd8Q8xxa_auUy5EYx5I10sxhAppfRlYIZJmlP-"
			    "NIcG0BZhSvV-532DQ");
	assert_int_equal(strlen(b64), 86);
	lk_crypto_cleanse(priv, sizeof(priv));
	for (size_t i = 0; i < sizeof(priv); i++)
		assert_int_equal(priv[i], 0);
}

/* The fuzz-build bypass exists only under LK_FUZZING_UNSAFE_FOR_PRODUCTION;
 * in every other build this just checks that a bad signature fails. */
static void test_fuzz_force_verify(void **state)
{
	uint8_t pub[32] = { 0 }, sig[64] = { 0 };

	(void)state;
	assert_false(lk_crypto_ed25519_verify(pub, "m", 1, sig));
#ifdef LK_FUZZING_UNSAFE_FOR_PRODUCTION
	lk_crypto_fuzz_force_verify(true);
	assert_true(lk_crypto_ed25519_verify(pub, "m", 1, sig));
	lk_crypto_fuzz_force_verify(false);
	assert_false(lk_crypto_ed25519_verify(pub, "m", 1, sig));
#endif
}

static void test_random(void **state)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 }, zero[32] = { 0 };

	(void)state;
	assert_int_equal(lk_crypto_random(a, sizeof(a)), 0);
	assert_int_equal(lk_crypto_random(b, sizeof(b)), 0);
	assert_int_equal(lk_crypto_random(b, 0), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
}

static void test_ct_eq(void **state)
{
	(void)state;
	assert_true(lk_crypto_ct_eq("abcd", "abcd", 4));
	assert_false(lk_crypto_ct_eq("abcd", "abce", 4));
	assert_false(lk_crypto_ct_eq("xbcd", "abcd", 4));
	assert_true(lk_crypto_ct_eq("x", "y", 0));
}

/* RFC 4648 section 10, in all four variants. */
static void test_b64_rfc4648(void **state)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const want[][7] = {
		[LK_B64_STD] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" },
		[LK_B64_STD_NOPAD] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" },
		[LK_B64_URL] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" },
		[LK_B64_URL_NOPAD] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" },
	};

	(void)state;
	for (int v = 0; v < LK_B64__COUNT; v++) {
		for (size_t i = 0; i < 7; i++) {
			char out[16];
			uint8_t dec[16];
			size_t n = 99;

			assert_int_equal(
				lk_crypto_b64_encode(v, in[i], strlen(in[i]), out, sizeof(out)), 0);
			assert_string_equal(out, want[v][i]);
			assert_int_equal(lk_crypto_b64_encoded_len(v, strlen(in[i])), strlen(out));
			assert_int_equal(
				lk_crypto_b64_decode(v, out, strlen(out), dec, sizeof(dec), &n), 0);
			assert_int_equal(n, strlen(in[i]));
			assert_memory_equal(dec, in[i], n);
		}
	}
}

static void test_b64_alphabets(void **state)
{
	static const uint8_t bytes[] = { 0xfb, 0xff, 0xbf };
	char out[8];
	uint8_t dec[8];
	size_t n;

	(void)state;
	assert_int_equal(lk_crypto_b64_encode(LK_B64_STD, bytes, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "+/+/");
	assert_int_equal(lk_crypto_b64_encode(LK_B64_URL_NOPAD, bytes, 3, out, sizeof(out)), 0);
	assert_string_equal(out, "-_-_");
	assert_int_equal(lk_crypto_b64_encode(LK_B64_URL, bytes, 2, out, sizeof(out)), 0);
	assert_string_equal(out, "-_8=");
	assert_int_equal(lk_crypto_b64_decode(LK_B64_STD, "-_-_", 4, dec, 8, &n), -EINVAL);
	assert_int_equal(lk_crypto_b64_decode(LK_B64_URL, "+/+/", 4, dec, 8, &n), -EINVAL);
	assert_int_equal(lk_crypto_b64_decode(LK_B64_URL, "-_-_", 4, dec, 8, &n), 0);
	assert_memory_equal(dec, bytes, 3);
}

/* Every byte value as the last of four characters: only the alphabet
 * passes, with the right value (checks the branch-free mapping). */
static void test_b64_every_byte(void **state)
{
	static const char std[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char url[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	(void)state;
	for (int c = 0; c < 256; c++) {
		char in[4] = { 'A', 'A', 'A', (char)c };
		const char *ps = c != 0 ? memchr(std, c, 64) : NULL;
		const char *pu = c != 0 ? memchr(url, c, 64) : NULL;
		uint8_t dec[3];
		size_t n;
		int rs = lk_crypto_b64_decode(LK_B64_STD_NOPAD, in, 4, dec, 3, &n);

		assert_int_equal(rs, ps != NULL ? 0 : -EINVAL);
		if (ps != NULL)
			assert_int_equal(dec[2], ps - std);
		rs = lk_crypto_b64_decode(LK_B64_URL_NOPAD, in, 4, dec, 3, &n);
		assert_int_equal(rs, pu != NULL ? 0 : -EINVAL);
		if (pu != NULL)
			assert_int_equal(dec[2], pu - url);
	}
	for (unsigned int x = 0; x < 64; x++) {
		uint8_t b = (uint8_t)(x << 2);
		char out[8];

		assert_int_equal(lk_crypto_b64_encode(LK_B64_STD_NOPAD, &b, 1, out, sizeof(out)),
				 0);
		assert_int_equal(out[0], std[x]);
		assert_int_equal(lk_crypto_b64_encode(LK_B64_URL_NOPAD, &b, 1, out, sizeof(out)),
				 0);
		assert_int_equal(out[0], url[x]);
	}
}

static void assert_b64_bad(enum lk_b64 v, const char *s)
{
	uint8_t dec[64];
	size_t n = 77;

	assert_int_equal(lk_crypto_b64_decode(v, s, strlen(s), dec, sizeof(dec), &n), -EINVAL);
	assert_int_equal(n, 0);
}

static void test_b64_strict(void **state)
{
	(void)state;
	/* padding rules */
	assert_b64_bad(LK_B64_STD, "Zg");
	assert_b64_bad(LK_B64_STD, "Zm8");
	assert_b64_bad(LK_B64_STD, "Zg=");
	assert_b64_bad(LK_B64_STD, "Zg===");
	assert_b64_bad(LK_B64_STD, "Z===");
	assert_b64_bad(LK_B64_STD, "====");
	assert_b64_bad(LK_B64_STD, "=Zg=");
	assert_b64_bad(LK_B64_STD, "Zg==Zg==");
	assert_b64_bad(LK_B64_STD, "Zm9v====");
	assert_b64_bad(LK_B64_STD_NOPAD, "Zg==");
	assert_b64_bad(LK_B64_STD_NOPAD, "Zm8=");
	assert_b64_bad(LK_B64_URL_NOPAD, "Zg==");
	/* impossible lengths */
	assert_b64_bad(LK_B64_STD_NOPAD, "Z");
	assert_b64_bad(LK_B64_STD_NOPAD, "Zm9vY");
	/* non-canonical trailing bits */
	assert_b64_bad(LK_B64_STD, "Zh==");
	assert_b64_bad(LK_B64_STD, "Zm9=");
	assert_b64_bad(LK_B64_STD_NOPAD, "Zm9");
	assert_b64_bad(LK_B64_URL_NOPAD, "Zh");
	/* whitespace and foreign characters */
	assert_b64_bad(LK_B64_STD, "Zm9v\n");
	assert_b64_bad(LK_B64_STD, " Zm9v");
	assert_b64_bad(LK_B64_STD, "Zm 9v");
	assert_b64_bad(LK_B64_STD_NOPAD, "not!valid!base64");
}

static void test_b64_space_and_roundtrip(void **state)
{
	uint8_t src[100], dec[100];
	char enc[140];
	size_t n;

	(void)state;
	assert_int_equal(lk_crypto_b64_encode(LK_B64_STD, "foo", 3, enc, 4), -ENOSPC);
	assert_string_equal(enc, "");
	assert_int_equal(lk_crypto_b64_encode(LK_B64_STD, "foo", 3, enc, 5), 0);
	assert_int_equal(lk_crypto_b64_decode(LK_B64_STD, "Zm9vYg==", 8, dec, 3, &n), -ENOSPC);
	assert_int_equal(lk_crypto_b64_decode(LK_B64_STD, "Zm9vYg==", 8, dec, 4, &n), 0);
	assert_int_equal(lk_crypto_random(src, sizeof(src)), 0);
	for (int v = 0; v < LK_B64__COUNT; v++) {
		for (size_t len = 0; len <= sizeof(src); len++) {
			assert_int_equal(lk_crypto_b64_encode(v, src, len, enc, sizeof(enc)), 0);
			assert_int_equal(strlen(enc), lk_crypto_b64_encoded_len(v, len));
			assert_int_equal(
				lk_crypto_b64_decode(v, enc, strlen(enc), dec, sizeof(dec), &n), 0);
			assert_int_equal(n, len);
			assert_memory_equal(dec, src, len);
		}
	}
}

static void test_hex(void **state)
{
	static const uint8_t bytes[] = { 0x00, 0x1f, 0xa0, 0xff };
	uint8_t dec[8];
	char out[16];
	size_t n;

	(void)state;
	assert_int_equal(lk_crypto_hex_encode(bytes, 4, out, sizeof(out)), 0);
	assert_string_equal(out, "001fa0ff");
	assert_int_equal(lk_crypto_hex_encode(bytes, 4, out, 8), -ENOSPC);
	assert_int_equal(lk_crypto_hex_decode("001FA0fF", 8, dec, sizeof(dec), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(dec, bytes, 4);
	assert_int_equal(lk_crypto_hex_decode("001", 3, dec, sizeof(dec), &n), -EINVAL);
	assert_int_equal(lk_crypto_hex_decode("0g", 2, dec, sizeof(dec), &n), -EINVAL);
	assert_int_equal(lk_crypto_hex_decode("0011", 4, dec, 1, &n), -ENOSPC);
	assert_int_equal(lk_crypto_hex_decode("", 0, dec, 0, &n), 0);
	assert_int_equal(n, 0);
	for (int c = 0; c < 256; c++) {
		char in[2] = { '0', (char)c };
		int want =
			(c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');

		assert_int_equal(lk_crypto_hex_decode(in, 2, dec, 1, &n), want ? 0 : -EINVAL);
		if (want)
			assert_int_equal(dec[0], c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_incremental),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_ed25519_edge_hello),
		cmocka_unit_test(test_fuzz_force_verify),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_ct_eq),
		cmocka_unit_test(test_b64_rfc4648),
		cmocka_unit_test(test_b64_alphabets),
		cmocka_unit_test(test_b64_every_byte),
		cmocka_unit_test(test_b64_strict),
		cmocka_unit_test(test_b64_space_and_roundtrip),
		cmocka_unit_test(test_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
