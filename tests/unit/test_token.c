/* tests/unit/test_token.c - the shared-token check.
 *
 * Requests are real bytes parsed with core/http.c; the configured token is
 * "s3cret-token" held as its digest, as the credentials snapshot holds it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/token.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/http.h"

#define TOKEN "s3cret-token"

static uint8_t g_want[LK_SHA256_LEN];
static char g_in[4096];
static struct lk_http_req g_req;

static int setup(void **state)
{
	lk_auth_token_digest(TOKEN, strlen(TOKEN), g_want);
	return 0;
}

/* check parses "GET /containers/json HTTP/1.1\r\nHost: h\r\n<fields>\r\n"
 * and checks its token. */
static enum lk_auth_verdict check(const char *fields)
{
	struct lk_http_parser p;
	int n = snprintf(g_in, sizeof(g_in), "GET /containers/json HTTP/1.1\r\nHost: h\r\n%s\r\n",
			 fields);
	ssize_t rc;

	LK_ASSERT(n > 0 && (size_t)n < sizeof(g_in));
	lk_http_parser_init(&p, 0);
	rc = lk_http_parse_request(&p, g_in, (size_t)n, &g_req);
	if (rc != n)
		fail_msg("did not parse (%zd): %s", rc, fields);
	return lk_auth_check_token(&g_req, g_want);
}

/* found returns the token lk_auth_find_token picks for the last check(). */
static const char *found(void)
{
	static char tok[256];
	const char *t = NULL;
	size_t len = 0;

	assert_int_equal(lk_auth_find_token(&g_req, &t, &len), LK_AUTH_OK);
	LK_ASSERT(len < sizeof(tok));
	memcpy(tok, t, len);
	tok[len] = '\0';
	return tok;
}

static void test_digest(void **state)
{
	/* SHA-256("abc"), FIPS 180-2 appendix B.1 */
	static const uint8_t abc[LK_SHA256_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	uint8_t d[LK_SHA256_LEN];

	lk_auth_token_digest("abc", 3, d);
	assert_memory_equal(d, abc, sizeof(d));
}

static void test_each_source(void **state)
{
	assert_int_equal(check("Authorization: Bearer " TOKEN "\r\n"), LK_AUTH_OK);
	assert_int_equal(check("X-Lookout-Token: " TOKEN "\r\n"), LK_AUTH_OK);
	assert_int_equal(check("X-Portwing-Token: " TOKEN "\r\n"), LK_AUTH_OK);
	assert_int_equal(check("X-Dd-Agent-Secret: " TOKEN "\r\n"), LK_AUTH_OK);
	/* header names are case-insensitive */
	assert_int_equal(check("x-lookout-token: " TOKEN "\r\n"), LK_AUTH_OK);
	assert_int_equal(check("X-DD-AGENT-SECRET: " TOKEN "\r\n"), LK_AUTH_OK);
	assert_int_equal(check("authorization: Bearer " TOKEN "\r\n"), LK_AUTH_OK);
}

static void test_bearer(void **state)
{
	assert_int_equal(check("Authorization: bearer " TOKEN "\r\n"), LK_AUTH_OK);
	assert_int_equal(check("Authorization: BEARER " TOKEN "\r\n"), LK_AUTH_OK);
	assert_int_equal(check("Authorization: BeArEr " TOKEN "\r\n"), LK_AUTH_OK);
	/* the token is trimmed, the field value too */
	assert_int_equal(check("Authorization: Bearer    " TOKEN " \t \r\n"), LK_AUTH_OK);
	assert_int_equal(check("Authorization:\t Bearer \t" TOKEN "\r\n"), LK_AUTH_OK);
	assert_string_equal(found(), TOKEN);
	/* the scheme needs exactly "Bearer" and a space */
	assert_int_equal(check("Authorization: Bearer\t" TOKEN "\r\n"), LK_AUTH_NO_CREDENTIALS);
	assert_int_equal(check("Authorization: Bearer" TOKEN "\r\n"), LK_AUTH_NO_CREDENTIALS);
	assert_int_equal(check("Authorization: " TOKEN "\r\n"), LK_AUTH_NO_CREDENTIALS);
	assert_int_equal(check("Authorization: Basic " TOKEN "\r\n"), LK_AUTH_NO_CREDENTIALS);
	/* no token after the scheme */
	assert_int_equal(check("Authorization: Bearer\r\n"), LK_AUTH_NO_CREDENTIALS);
	assert_int_equal(check("Authorization: Bearer    \r\n"), LK_AUTH_NO_CREDENTIALS);
	/* another scheme carries no token, so it never conflicts */
	assert_int_equal(check("Authorization: Basic eDp5\r\nX-Lookout-Token: " TOKEN "\r\n"),
			 LK_AUTH_OK);
	/* the token is taken as is, spaces inside included */
	assert_int_equal(check("Authorization: Bearer s3cret token\r\n"), LK_AUTH_DENY);
	assert_string_equal(found(), "s3cret token");
}

static void test_empty_values_skipped(void **state)
{
	assert_int_equal(check("Authorization: Bearer  \r\nX-Lookout-Token:\r\n"
			       "X-Portwing-Token:   \r\nX-Dd-Agent-Secret: " TOKEN "\r\n"),
			 LK_AUTH_OK);
	assert_string_equal(found(), TOKEN);
	assert_int_equal(check("X-Lookout-Token:\r\nX-Portwing-Token: " TOKEN "\r\n"), LK_AUTH_OK);
	assert_int_equal(check("X-Lookout-Token:\r\nX-Portwing-Token:\r\nX-Dd-Agent-Secret:\r\n"),
			 LK_AUTH_NO_CREDENTIALS);
}

static void test_wrong_tokens(void **state)
{
	assert_int_equal(check("X-Lookout-Token: wrong\r\n"), LK_AUTH_DENY);
	/* a prefix, a longer token, a case change, one byte off */
	assert_int_equal(check("X-Lookout-Token: s3cret\r\n"), LK_AUTH_DENY);
	assert_int_equal(check("X-Lookout-Token: s3cret-tok\r\n"), LK_AUTH_DENY);
	assert_int_equal(check("X-Lookout-Token: " TOKEN "x\r\n"), LK_AUTH_DENY);
	assert_int_equal(check("X-Lookout-Token: " TOKEN TOKEN "\r\n"), LK_AUTH_DENY);
	assert_int_equal(check("X-Lookout-Token: S3CRET-TOKEN\r\n"), LK_AUTH_DENY);
	assert_int_equal(check("X-Lookout-Token: s3cret-tokem\r\n"), LK_AUTH_DENY);
	assert_int_equal(check("Authorization: Bearer s3cret\r\n"), LK_AUTH_DENY);
	assert_int_equal(check("X-Dd-Agent-Secret: x\r\n"), LK_AUTH_DENY);
}

/* Two token headers that disagree are denied even when one of them is
 * right: which one counts would depend on who reads the request. */
static void test_conflicts(void **state)
{
	assert_int_equal(check("Authorization: Bearer " TOKEN "\r\nX-Lookout-Token: other\r\n"),
			 LK_AUTH_DENY);
	assert_int_equal(check("X-Lookout-Token: other\r\nAuthorization: Bearer " TOKEN "\r\n"),
			 LK_AUTH_DENY);
	assert_int_equal(check("X-Portwing-Token: " TOKEN "\r\nX-Dd-Agent-Secret: other\r\n"),
			 LK_AUTH_DENY);
	/* repeated instances of one header too */
	assert_int_equal(check("X-Lookout-Token: " TOKEN "\r\nX-Lookout-Token: other\r\n"),
			 LK_AUTH_DENY);
	assert_int_equal(check("Authorization: Bearer " TOKEN "\r\n"
			       "Authorization: Bearer other\r\n"),
			 LK_AUTH_DENY);
	/* a conflict is a denial, not "no credentials", even without a right one */
	assert_int_equal(check("X-Lookout-Token: a\r\nX-Portwing-Token: b\r\n"), LK_AUTH_DENY);
	{
		const char *t;
		size_t len;

		assert_int_equal(lk_auth_find_token(&g_req, &t, &len), LK_AUTH_DENY);
	}
	/* the same token everywhere is fine */
	assert_int_equal(check("Authorization: Bearer " TOKEN "\r\nX-Lookout-Token: " TOKEN "\r\n"
			       "X-Portwing-Token: " TOKEN "\r\nX-Dd-Agent-Secret: " TOKEN "\r\n"
			       "X-Lookout-Token: " TOKEN "\r\n"),
			 LK_AUTH_OK);
	/* the same wrong token everywhere is just wrong */
	assert_int_equal(check("Authorization: Bearer nope\r\nX-Dd-Agent-Secret: nope\r\n"),
			 LK_AUTH_DENY);
}

/* The presented token follows the reference's precedence. */
static void test_precedence(void **state)
{
	check("X-Dd-Agent-Secret: " TOKEN "\r\nX-Portwing-Token: " TOKEN "\r\n"
	      "X-Lookout-Token: " TOKEN "\r\nAuthorization: Bearer  " TOKEN "\r\n");
	{
		const char *t = NULL;
		size_t len = 0;

		assert_int_equal(lk_auth_find_token(&g_req, &t, &len), LK_AUTH_OK);
		/* the view is Authorization's, after "Bearer  " */
		assert_ptr_equal(t, strstr(g_in, "Bearer  ") + 8);
		assert_int_equal(len, strlen(TOKEN));
	}
	check("X-Dd-Agent-Secret: " TOKEN "\r\nX-Lookout-Token: " TOKEN "\r\n");
	{
		const char *t = NULL;
		size_t len = 0;

		assert_int_equal(lk_auth_find_token(&g_req, &t, &len), LK_AUTH_OK);
		assert_ptr_equal(t, strstr(g_in, "X-Lookout-Token: ") + 17);
	}
}

static void test_no_credentials(void **state)
{
	const char *t = (const char *)1;
	size_t len = 99;

	assert_int_equal(check(""), LK_AUTH_NO_CREDENTIALS);
	assert_int_equal(lk_auth_find_token(&g_req, &t, &len), LK_AUTH_NO_CREDENTIALS);
	/* out-params are untouched */
	assert_ptr_equal(t, (const char *)1);
	assert_int_equal(len, 99);
	assert_int_equal(check("X-Lookout-Key-Id: abc\r\nX-Lookout-Signature: c2ln\r\n"
			       "Proxy-Authorization: Bearer " TOKEN "\r\nX-Token: " TOKEN "\r\n"),
			 LK_AUTH_NO_CREDENTIALS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_each_source),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_empty_values_skipped),
		cmocka_unit_test(test_wrong_tokens),
		cmocka_unit_test(test_conflicts),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_no_credentials),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
