/* tests/unit/test_argon2.c - auth/argon2: PHC parsing (spec lookout-core
 * 6.2 and the 17.1 accept/reject lists), the cost cap, the 17.2 known-answer
 * vectors, the libargon2 reference vector, and verification. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/argon2.h"
#include "core/crypto.h"

#define VEC_SUPERSECRET_SOMESALT                                                                   \
	"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$Vf1+b01ndMBnHKyLYw5ScGMmant1xMbhyCCYSWbTQCo"
#define VEC_SUPERSECRET_SALT00_0F                                                                  \
	"$argon2id$v=19$m=19456,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$"                                   \
	"cyB4IwmlNylwoSKRhkLE9FQ+kodL9imEMvVO6ptSZVg"
#define VEC_REFERENCE                                                                              \
	"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"

static void assert_rejected(const char *s, const char *err_part)
{
	struct lk_phc h;
	char err[256];

	memset(&h, 0xaa, sizeof(h));
	if (lk_phc_parse(s, &h, err, sizeof(err)) != -EINVAL)
		fail_msg("accepted: %s", s);
	assert_non_null(strstr(err, "argon2id: "));
	if (err_part != NULL && strstr(err, err_part) == NULL)
		fail_msg("%s: error \"%s\" lacks \"%s\"", s, err, err_part);
	for (size_t i = 0; i < sizeof(h); i++) /* zeroed on error */
		assert_int_equal(((const uint8_t *)&h)[i], 0);
}

static void test_parse_accepts(void **state)
{
	struct lk_phc h;
	char err[256], back[LK_PHC_STR_MAX];

	(void)state;
	/* 17.1: structurally valid strings from the reference's tests */
	assert_int_equal(lk_phc_parse("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2g", &h,
				      err, sizeof(err)),
			 0);
	assert_int_equal(h.m_kib, 19456);
	assert_int_equal(h.t, 2);
	assert_int_equal(h.p, 1);
	assert_int_equal(h.salt_len, 8);
	assert_memory_equal(h.salt, "somesalt", 8);
	assert_int_equal(h.hash_len, 8);
	assert_memory_equal(h.hash, "hashhash", 8);
	assert_int_equal(
		lk_phc_parse("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$YWJjZGVmZ2hpamtsbW5vcA",
			     &h, err, sizeof(err)),
		0);
	assert_int_equal(h.hash_len, 16);
	assert_int_equal(
		lk_phc_parse("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRz$aGFzaGhhc2hoYXNoaGFzaA",
			     &h, err, sizeof(err)),
		0);
	assert_int_equal(h.m_kib, 65536);
	assert_int_equal(h.t, 3);
	assert_int_equal(h.p, 4);
	assert_int_equal(lk_phc_format(&h, back, sizeof(back)), 0);
	assert_string_equal(back,
			    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRz$aGFzaGhhc2hoYXNoaGFzaA");
	/* keys in any order, leading zeros (Go's ParseUint takes them) */
	assert_int_equal(lk_phc_parse("$argon2id$v=19$p=1,t=2,m=019456$c29tZXNhbHQ$aGFzaGhhc2g", &h,
				      err, sizeof(err)),
			 0);
	assert_int_equal(h.m_kib, 19456);
	/* exactly at the minimums and at the cap */
	assert_int_equal(
		lk_phc_parse("$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaA", &h, err, sizeof(err)),
		0);
	assert_int_equal(lk_phc_parse("$argon2id$v=19$m=262144,t=16,p=16$c29tZXNhbHQ$aGFzaA", &h,
				      err, sizeof(err)),
			 0);
}

static void test_parse_rejects_spec(void **state)
{
	(void)state;
	/* 17.1: the six asserted by the reference's unit tests */
	assert_rejected("$argon2id$v=18$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA", "version");
	assert_rejected("$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA", "algorithm");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$not!valid!base64$aGFzaA", "salt");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$not!valid!base64", "hash");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ", "got 5");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1", "got 4");
	/* 17.1: fuzz seeds the rules reject */
	assert_rejected("", NULL);
	assert_rejected("notaphcstring", NULL);
	assert_rejected("$argon2id$v=19$m=0,t=0,p=0$c29tZXNhbHQ$YWJj", "t must be");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=256$c29tZXNhbHQ$YWJj", "exceeds maximum 255");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$$", "salt must not be empty");
	/* 17.1: a real hash below the minimums */
	assert_rejected("$argon2id$v=19$m=19456,t=0,p=1$c29tZXNhbHQ$Vf1+"
			"b01ndMBnHKyLYw5ScGMmant1xMbhyCCYSWbTQCo",
			"t must be at least 1");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=0$c29tZXNhbHQ$Vf1+"
			"b01ndMBnHKyLYw5ScGMmant1xMbhyCCYSWbTQCo",
			"p must be at least 1");
	assert_rejected("$argon2id$v=19$m=4,t=2,p=1$c29tZXNhbHQ$Vf1+"
			"b01ndMBnHKyLYw5ScGMmant1xMbhyCCYSWbTQCo",
			"at least 8*p");
}

static void test_parse_rejects_more(void **state)
{
	(void)state;
	/* HEAD: m and t beyond 32 bits are rejected, not truncated */
	assert_rejected("$argon2id$v=19$m=4294967296,t=2,p=1$c29tZXNhbHQ$aGFzaA", "4294967295");
	assert_rejected("$argon2id$v=19$m=19456,t=4294967298,p=1$c29tZXNhbHQ$aGFzaA", "4294967295");
	assert_rejected("$argon2id$v=19$m=99999999999999999999999,t=2,p=1$c29tZXNhbHQ$aGFzaA",
			"not a valid integer");
	/* the cost cap, each naming the cap */
	assert_rejected("$argon2id$v=19$m=262145,t=2,p=1$c29tZXNhbHQ$aGFzaA", "cap of 262144 KiB");
	assert_rejected("$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$aGFzaA", "cost cap");
	assert_rejected("$argon2id$v=19$m=19456,t=17,p=1$c29tZXNhbHQ$aGFzaA", "cap of 16 passes");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=17$c29tZXNhbHQ$aGFzaA", "cap of 16 lanes");
	assert_rejected("$argon2id$v=19$m=8,t=2,p=2$c29tZXNhbHQ$aGFzaA", "at least 8*p");
	/* parameter syntax */
	assert_rejected("$argon2id$v=19$m=19456,t=2$c29tZXNhbHQ$aGFzaA", "expected 3 parameter");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1,x=1$c29tZXNhbHQ$aGFzaA", "got 4");
	assert_rejected("$argon2id$v=19$m=19456,t=2,x=1$c29tZXNhbHQ$aGFzaA",
			"unknown parameter \"x\"");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p$c29tZXNhbHQ$aGFzaA", "malformed parameter");
	assert_rejected("$argon2id$v=19$m=19456,t=+2,p=1$c29tZXNhbHQ$aGFzaA",
			"not a valid integer");
	assert_rejected("$argon2id$v=19$m=19456,t= 2,p=1$c29tZXNhbHQ$aGFzaA",
			"not a valid integer");
	assert_rejected("$argon2id$v=19$m=19456,t=,p=1$c29tZXNhbHQ$aGFzaA", "not a valid integer");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1=1$c29tZXNhbHQ$aGFzaA",
			"not a valid integer");
	/* a repeated key overwrites, so the missing one stays 0 */
	assert_rejected("$argon2id$v=19$m=19456,t=2,t=3$c29tZXNhbHQ$aGFzaA",
			"p must be at least 1");
	/* base64: padding, alphabet, bounds */
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ=$aGFzaA",
			"invalid base64 salt");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA==",
			"invalid base64 hash");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA-_",
			"invalid base64 hash");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$", "hash must not be empty");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "salt must be at least 8");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$YWJj",
			"hash must be at least 4");
	assert_rejected(
		"$argon2id$v=19$m=19456,t=2,p=1$"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		"AAAAAAAA$aGFzaA", /* 66 bytes */
		"salt longer than 64");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA$", "got 7");
	assert_rejected("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA\n",
			"invalid base64 hash");
	assert_rejected(" $argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA", "malformed");
	assert_rejected("$ARGON2ID$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA", "malformed");
}

static void test_parse_error_hygiene(void **state)
{
	char long_s[400], err[256], tiny[8];
	struct lk_phc h;

	(void)state;
	memset(long_s, 'A', sizeof(long_s) - 1);
	long_s[sizeof(long_s) - 1] = '\0';
	memcpy(long_s, "$argon2id$v=19$m=19456,t=2,p=1$", 31);
	assert_int_equal(lk_phc_parse(long_s, &h, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than"));
	/* control bytes from the string are escaped in the message */
	assert_int_equal(lk_phc_parse("$argon2id$v=1\x1b[2J$m=1,t=1,p=1$c29tZXNhbHQ$aGFzaA", &h,
				      err, sizeof(err)),
			 -EINVAL);
	assert_null(strchr(err, '\x1b'));
	assert_non_null(strstr(err, "\\x1b"));
	/* a tiny or absent error buffer is fine */
	assert_int_equal(lk_phc_parse("nope", &h, tiny, sizeof(tiny)), -EINVAL);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_int_equal(lk_phc_parse("nope", &h, NULL, 0), -EINVAL);
}

/* 17.2: the hash-token parameters with fixed salts, byte for byte. */
static void test_vectors_17_2(void **state)
{
	struct lk_phc h = {
		.m_kib = 19456,
		.t = 2,
		.p = 1,
		.salt_len = 8,
		.hash_len = 32,
	};
	char out[LK_PHC_STR_MAX];

	(void)state;
	memcpy(h.salt, "somesalt", 8);
	assert_int_equal(lk__argon2_hash_phc(&h, "supersecret", 11, out, sizeof(out)), 0);
	assert_string_equal(out, VEC_SUPERSECRET_SOMESALT);
	h.salt_len = 16;
	for (int i = 0; i < 16; i++)
		h.salt[i] = (uint8_t)i;
	assert_int_equal(lk__argon2_hash_phc(&h, "supersecret", 11, out, sizeof(out)), 0);
	assert_string_equal(out, VEC_SUPERSECRET_SALT00_0F);
	assert_int_equal(lk__argon2_hash_phc(&h, "supersecret", 11, out, 20), -ENOSPC);
	assert_string_equal(out, "");
}

/* The libargon2/RFC reference vector quoted in 17.2 (m=65536, 64 MiB). */
static void test_reference_vector(void **state)
{
	struct lk_phc h = {
		.m_kib = 65536,
		.t = 2,
		.p = 1,
		.salt_len = 8,
		.hash_len = 32,
	};
	char out[LK_PHC_STR_MAX], err[128];

	(void)state;
	memcpy(h.salt, "somesalt", 8);
	assert_int_equal(lk__argon2_hash_phc(&h, "password", 8, out, sizeof(out)), 0);
	assert_string_equal(out, VEC_REFERENCE);
	assert_int_equal(lk_phc_parse(VEC_REFERENCE, &h, err, sizeof(err)), 0);
	assert_int_equal(lk_argon2_verify(&h, "password", 8), 0);
}

static void test_verify(void **state)
{
	struct lk_phc h, bad;
	char err[128];

	(void)state;
	assert_int_equal(lk_phc_parse(VEC_SUPERSECRET_SOMESALT, &h, err, sizeof(err)), 0);
	assert_int_equal(lk_argon2_verify(&h, "supersecret", 11), 0);
	assert_int_equal(lk_argon2_verify(&h, "supersecreT", 11), -EACCES);
	assert_int_equal(lk_argon2_verify(&h, "supersecret ", 12), -EACCES);
	assert_int_equal(lk_argon2_verify(&h, "supersecre", 10), -EACCES);
	assert_int_equal(lk_argon2_verify(&h, "", 0), -EACCES);
	assert_int_equal(lk_argon2_verify(&h, NULL, 0), -EACCES);
	assert_int_equal(lk_phc_parse(VEC_SUPERSECRET_SALT00_0F, &h, err, sizeof(err)), 0);
	assert_int_equal(lk_argon2_verify(&h, "supersecret", 11), 0);
	/* structurally valid strings from 17.1 never verify */
	assert_int_equal(lk_phc_parse("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2g", &h,
				      err, sizeof(err)),
			 0);
	assert_int_equal(lk_argon2_verify(&h, "hashhash", 8), -EACCES);
	/* a struct that did not come from the parser is refused, not run */
	assert_int_equal(lk_phc_parse(VEC_SUPERSECRET_SOMESALT, &h, err, sizeof(err)), 0);
	bad = h;
	bad.m_kib = LK_ARGON2_M_KIB_MAX + 1;
	assert_int_equal(lk_argon2_verify(&bad, "supersecret", 11), -EINVAL);
	bad = h;
	bad.hash_len = 0;
	assert_int_equal(lk_argon2_verify(&bad, "supersecret", 11), -EINVAL);
	bad = h;
	bad.salt_len = 4;
	assert_int_equal(lk_argon2_verify(&bad, "supersecret", 11), -EINVAL);
}

static void test_hash_token_roundtrip(void **state)
{
	char a[LK_PHC_STR_MAX], b[LK_PHC_STR_MAX], err[128], again[LK_PHC_STR_MAX];
	static const char prefix[] = "$argon2id$v=19$m=19456,t=2,p=1$";
	struct lk_phc h;

	(void)state;
	assert_int_equal(lk_argon2_hash_token("supersecret", 11, a, sizeof(a)), 0);
	assert_int_equal(lk_argon2_hash_token("supersecret", 11, b, sizeof(b)), 0);
	assert_string_not_equal(a, b); /* fresh salt each time */
	assert_int_equal(strncmp(a, prefix, sizeof(prefix) - 1), 0);
	/* 22-char salt, '$', 43-char hash */
	assert_int_equal(strlen(a), sizeof(prefix) - 1 + 22 + 1 + 43);
	assert_int_equal(a[sizeof(prefix) - 1 + 22], '$');
	assert_int_equal(lk_phc_parse(a, &h, err, sizeof(err)), 0);
	assert_int_equal(h.salt_len, 16);
	assert_int_equal(h.hash_len, 32);
	assert_int_equal(lk_phc_format(&h, again, sizeof(again)), 0);
	assert_string_equal(again, a);
	assert_int_equal(lk_argon2_verify(&h, "supersecret", 11), 0);
	assert_int_equal(lk_argon2_verify(&h, "wrong", 5), -EACCES);
	/* tokens are bytes: an embedded NUL is part of the token */
	assert_int_equal(lk_argon2_hash_token("a\0b", 3, a, sizeof(a)), 0);
	assert_int_equal(lk_phc_parse(a, &h, err, sizeof(err)), 0);
	assert_int_equal(lk_argon2_verify(&h, "a\0b", 3), 0);
	assert_int_equal(lk_argon2_verify(&h, "a", 1), -EACCES);
	assert_int_equal(lk_argon2_hash_token("x", 1, a, 50), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepts),
		cmocka_unit_test(test_parse_rejects_spec),
		cmocka_unit_test(test_parse_rejects_more),
		cmocka_unit_test(test_parse_error_hygiene),
		cmocka_unit_test(test_vectors_17_2),
		cmocka_unit_test(test_reference_vector),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_hash_token_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
