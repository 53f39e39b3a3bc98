/* tests/unit/test_clientip.c - IP parsing and formatting, CIDR matching and
 * the trusted-proxy client rule (spec lookout-core 8, 16 and 17.1).
 *
 * Requests are real bytes parsed with core/http.c, except for the bounds
 * tests, which build heads far larger than the parser accepts to show that
 * the walk stops by itself. */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/clientip.h"
#include "core/config.h"
#include "core/dbg.h"
#include "core/http.h"

static char g_in[LK_HTTP_HEAD_MAX];
static struct lk_http_req g_req;
static struct lk_cidr g_trusted[8];
static size_t g_n_trusted;

/* cidr parses "ip[/prefix]" the way core/config.c does (host bits cleared,
 * family as written). */
static struct lk_cidr cidr(const char *s)
{
	struct lk_cidr c = { 0 };
	char buf[64];
	char *slash;
	unsigned bits;

	LK_ASSERT(strlen(s) < sizeof(buf));
	memcpy(buf, s, strlen(s) + 1);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		bits = 32;
	} else {
		LK_ASSERT(inet_pton(AF_INET6, buf, c.addr) == 1);
		c.family = AF_INET6;
		bits = 128;
	}
	c.prefix = (uint8_t)(slash != NULL ? strtoul(slash + 1, NULL, 10) : bits);
	LK_ASSERT(c.prefix <= bits);
	for (unsigned i = 0; i < 16; i++) {
		int keep = (int)c.prefix - 8 * (int)i;

		if (keep <= 0)
			c.addr[i] = 0;
		else if (keep < 8)
			c.addr[i] &= (uint8_t)(0xff << (8 - keep));
	}
	return c;
}

/* trust sets the trusted networks from a NULL-terminated list. */
static void trust(const char *first, ...)
{
	va_list ap;

	g_n_trusted = 0;
	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
		LK_ASSERT(g_n_trusted < LK_ARRAY_SIZE(g_trusted));
		g_trusted[g_n_trusted++] = cidr(s);
	}
	va_end(ap);
}

static struct lk_ip ip(const char *s)
{
	struct lk_ip a;

	if (lk_ip_parse(s, strlen(s), &a) != 0)
		fail_msg("lk_ip_parse(%s) failed", s);
	return a;
}

static const char *fmt(const struct lk_ip *a)
{
	static char out[LK_IP_STR_MAX];

	assert_true(lk_ip_format(a, out, sizeof(out)) > 0);
	return out;
}

/* parse_req parses "GET /info HTTP/1.1\r\nHost: h\r\n<fields>\r\n". */
static const struct lk_http_req *parse_req(const char *fields)
{
	struct lk_http_parser p;
	int n = snprintf(g_in, sizeof(g_in), "GET /info HTTP/1.1\r\nHost: h\r\n%s\r\n", fields);
	ssize_t rc;

	LK_ASSERT(n > 0 && (size_t)n < sizeof(g_in));
	lk_http_parser_init(&p, 0);
	rc = lk_http_parse_request(&p, g_in, (size_t)n, &g_req);
	if (rc != n)
		fail_msg("did not parse (%zd): %s", rc, fields);
	return &g_req;
}

/* client returns the client of a request with fields from peer, with the
 * trusted networks set by trust() (or none after trust(NULL)). */
static const char *client(const char *peer, const char *fields)
{
	struct lk_ip p = ip(peer), out;

	lk_client_ip(parse_req(fields), &p, g_n_trusted ? g_trusted : NULL, g_n_trusted, &out);
	return fmt(&out);
}

static int reset(void **state)
{
	g_n_trusted = 0;
	return 0;
}

/* ---- lk_ip_parse / lk_ip_format ----------------------------------------- */

static void test_parse_ok(void **state)
{
	static const struct {
		const char *in, *out;
		int family;
	} ok[] = {
		{ "192.0.2.1", "192.0.2.1", AF_INET },
		{ "0.0.0.0", "0.0.0.0", AF_INET },
		{ "255.255.255.255", "255.255.255.255", AF_INET },
		{ "::1", "::1", AF_INET6 },
		{ "[::1]", "::1", AF_INET6 },
		{ "::", "::", AF_INET6 },
		{ "2001:DB8::1", "2001:db8::1", AF_INET6 },
		{ "2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1", AF_INET6 },
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", AF_INET6 },
		{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", AF_INET6 },
		{ "1:0:0:2:0:0:0:3", "1:0:0:2::3", AF_INET6 },
		{ "1::", "1::", AF_INET6 },
		{ "fe80::", "fe80::", AF_INET6 },
		{ "::ffff:192.0.2.1", "192.0.2.1", AF_INET },
		{ "::FFFF:c000:0201", "192.0.2.1", AF_INET },
		{ "[::ffff:192.0.2.1]", "192.0.2.1", AF_INET },
		{ "::192.0.2.1", "::c000:201", AF_INET6 }, /* IPv4-compatible: not mapped */
		{ "FFFF:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AF_INET6 },
		{ "0:0:0:0:0:ffff:255.255.255.255", "255.255.255.255", AF_INET },
		{ "[0000:0000:0000:0000:0000:0000:0000:0001]", "::1", AF_INET6 },
	};

	for (size_t i = 0; i < LK_ARRAY_SIZE(ok); i++) {
		struct lk_ip a;

		if (lk_ip_parse(ok[i].in, strlen(ok[i].in), &a) != 0)
			fail_msg("rejected %s", ok[i].in);
		assert_int_equal(a.family, ok[i].family);
		assert_string_equal(fmt(&a), ok[i].out);
		/* canonical text parses back to the same address */
		struct lk_ip b = ip(ok[i].out);
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", " ", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1.2.3.4 ",
		" 1.2.3.4", "1.2.3.4:80", "[1.2.3.4]", "[::1]:80", "[::1", "::1]", "[]", "[",
		"fe80::1%eth0", "::1/128", "1.2.3.0/24", "unknown", "::g", "1:2:3:4:5:6:7:8:9",
		"12345::", "localhost", "0x7f.0.0.1", "1.2.3.-1", "2001:db8::1::1",
		"[[::1]]", "::ffff:01.2.3.4",
		"0000:0000:0000:0000:0000:0000:0000:0000:1", /* too long */
	};
	struct lk_ip a = { .family = 99 };

	for (size_t i = 0; i < LK_ARRAY_SIZE(bad); i++) {
		if (lk_ip_parse(bad[i], strlen(bad[i]), &a) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(a.family, 99); /* left alone */
	}
	/* embedded NUL, and a length that stops before the text does */
	assert_int_equal(lk_ip_parse("1.2.3.4\0", 8, &a), -EINVAL);
	assert_int_equal(lk_ip_parse("1.2.3.45", 7, &a), 0);
	assert_string_equal(fmt(&a), "1.2.3.4");
}

/* test_format_vs_inet_ntop cross-checks the RFC 5952 formatter with glibc on
 * random addresses with random zero groups (glibc prints IPv4-compatible
 * ::a.b.c.d addresses in dotted form, RFC 5952 does not: those are left out). */
static void test_format_vs_inet_ntop(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15u;

	for (int n = 0; n < 20000; n++) {
		struct lk_ip a = { .family = AF_INET6 };
		char want[INET6_ADDRSTRLEN], got[LK_IP_STR_MAX];
		static const uint8_t zero12[12];

		for (int g = 0; g < 8; g++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (x & 1) /* about half the groups are zero */
				continue;
			a.addr[2 * g] = (uint8_t)(x >> 8);
			a.addr[2 * g + 1] = (uint8_t)(x >> 16);
		}
		if (memcmp(a.addr, zero12, 12) == 0)
			continue;
		LK_ASSERT(inet_ntop(AF_INET6, a.addr, want, sizeof(want)) != NULL);
		assert_true(lk_ip_format(&a, got, sizeof(got)) == strlen(want));
		assert_string_equal(got, want);
	}
}

static void test_format_cap(void **state)
{
	struct lk_ip a = ip("255.255.255.255"), none = { 0 };
	char out[LK_IP_STR_MAX];

	assert_int_equal(lk_ip_format(&a, out, 16), 15);
	memset(out, 'x', sizeof(out));
	assert_int_equal(lk_ip_format(&a, out, 15), 0); /* no room for the NUL */
	assert_int_equal(out[0], '\0');
	assert_int_equal(lk_ip_format(&a, out, 0), 0);
	assert_int_equal(lk_ip_format(&none, out, sizeof(out)), 0);
	assert_int_equal(out[0], '\0');
	a = ip("1111:2222:3333:4444:5555:6666:7777:8888");
	assert_int_equal(lk_ip_format(&a, out, sizeof(out)), 39);
	/* an AF_INET6 struct holding a mapped address (not from lk_ip_parse) */
	a = (struct lk_ip){ .family = AF_INET6 };
	LK_ASSERT(inet_pton(AF_INET6, "::ffff:255.255.255.255", a.addr) == 1);
	assert_int_equal(lk_ip_format(&a, out, sizeof(out)), 22);
	assert_string_equal(out, "::ffff:255.255.255.255");
	lk_ip_unmap(&a);
	assert_int_equal(a.family, AF_INET);
	assert_string_equal(fmt(&a), "255.255.255.255");
}

/* ---- CIDR matching ------------------------------------------------------- */

static bool in(const char *addr, const char *net)
{
	struct lk_ip a = ip(addr);
	struct lk_cidr c = cidr(net);

	return lk_ip_in_cidr(&a, &c);
}

static void test_cidr(void **state)
{
	assert_true(in("192.0.2.1", "192.0.2.0/24"));
	assert_true(in("192.0.2.255", "192.0.2.0/24"));
	assert_false(in("192.0.3.0", "192.0.2.0/24"));
	assert_true(in("192.0.2.1", "192.0.2.1"));
	assert_false(in("192.0.2.2", "192.0.2.1"));
	assert_true(in("192.0.2.3", "192.0.2.2/31"));
	assert_false(in("192.0.2.4", "192.0.2.2/31"));
	assert_true(in("10.200.0.1", "10.0.0.0/8"));
	assert_true(in("203.0.113.9", "0.0.0.0/0"));
	assert_true(in("127.255.0.1", "0.0.0.0/1"));
	assert_false(in("128.0.0.1", "0.0.0.0/1"));
	assert_true(in("2001:db8::1", "2001:db8::/32"));
	assert_false(in("2001:db9::1", "2001:db8::/32"));
	assert_false(in("2001:db8:0:0:8000::", "2001:db8::/65"));
	assert_true(in("2001:db8:0:0:7fff::", "2001:db8::/65"));
	assert_true(in("::1", "::1/128"));
	assert_true(in("2001:db8::1", "::/0"));
	/* families never cross outside the mapped space */
	assert_false(in("2001:db8::1", "0.0.0.0/0"));
	assert_false(in("192.0.2.1", "::/0"));
	assert_false(in("192.0.2.1", "::/95"));
	/* mapped networks are IPv4 networks (Go net.IPNet.Contains) */
	assert_true(in("192.0.2.1", "::ffff:192.0.2.0/120"));
	assert_false(in("192.0.3.1", "::ffff:192.0.2.0/120"));
	assert_true(in("198.51.100.7", "::ffff:0.0.0.0/96"));
	assert_true(in("::ffff:192.0.2.1", "192.0.2.0/24"));
}

static void test_cidr_mapped_peer(void **state)
{
	/* a dual-stack socket reports an IPv4 peer as an AF_INET6 mapped address */
	struct lk_ip peer = { .family = AF_INET6 };
	struct lk_cidr c = cidr("192.0.2.0/24"), c6 = cidr("::ffff:192.0.2.0/120");
	struct lk_cidr wide = cidr("::/0"), bogus = { .family = AF_INET, .prefix = 33 };

	LK_ASSERT(inet_pton(AF_INET6, "::ffff:192.0.2.1", peer.addr) == 1);
	assert_true(lk_ip_in_cidr(&peer, &c));
	assert_true(lk_ip_in_cidr(&peer, &c6));
	assert_false(lk_ip_in_cidr(&peer, &wide));
	assert_false(lk_ip_in_cidr(&peer, &bogus));
	assert_true(lk_ip_is_trusted(&peer, &c, 1));
	assert_false(lk_ip_is_trusted(&peer, NULL, 0));
}

/* ---- spec 17.1 vectors --------------------------------------------------- */

static void test_vectors_17_1(void **state)
{
	/* no trusted proxies: forwarding headers ignored */
	assert_string_equal(client("192.0.2.1",
				   "X-Forwarded-For: 203.0.113.7\r\nX-Real-IP: 203.0.113.8\r\n"),
			    "192.0.2.1");
	/* trusted 192.0.2.0/24: rightmost untrusted element */
	trust("192.0.2.0/24", NULL);
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 203.0.113.7, 192.0.2.5\r\n"),
			    "203.0.113.7");
	/* rotating XFF without trusted proxies: one limiter key, the peer */
	trust(NULL);
	for (int i = 0; i <= 10; i++) {
		char f[64];

		snprintf(f, sizeof(f), "X-Forwarded-For: 203.0.113.%d\r\n", i < 10 ? i : 250);
		assert_string_equal(client("192.0.2.1", f), "192.0.2.1");
	}
	assert_string_equal(client("192.0.2.9", ""), "192.0.2.9");
}

/* ---- the rule ------------------------------------------------------------ */

static void test_untrusted_peer(void **state)
{
	trust("10.0.0.0/8", NULL);
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 10.1.1.1\r\n"), "192.0.2.1");
	assert_string_equal(client("192.0.2.1", "X-Real-IP: 203.0.113.8\r\n"), "192.0.2.1");
	assert_string_equal(client("2001:db8::1", "X-Forwarded-For: 203.0.113.7\r\n"),
			    "2001:db8::1");
	/* trusted peer without headers, or with no request at all */
	assert_string_equal(client("10.0.0.1", ""), "10.0.0.1");
	struct lk_ip p = ip("10.0.0.1"), out;
	lk_client_ip(NULL, &p, g_trusted, g_n_trusted, &out);
	assert_string_equal(fmt(&out), "10.0.0.1");
}

static void test_spoofed_left(void **state)
{
	trust("192.0.2.0/24", "10.0.0.0/8", NULL);
	/* whatever the client wrote on the left is never reached */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 6.6.6.6, 203.0.113.7\r\n"),
			    "203.0.113.7");
	assert_string_equal(client("192.0.2.1",
				   "X-Forwarded-For: 6.6.6.6, 7.7.7.7, 203.0.113.7, 10.0.0.2, "
				   "192.0.2.5\r\n"),
			    "203.0.113.7");
	/* garbage on the client's side of the real client is never reached */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: unknown, 203.0.113.7\r\n"),
			    "203.0.113.7");
	/* a client posing as a trusted hop still meets its own address first */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 10.9.9.9, 203.0.113.7\r\n"),
			    "203.0.113.7");
}

static void test_multiple_xff(void **state)
{
	trust("192.0.2.0/24", NULL);
	/* a proxy that adds its own line rather than appending: the client's
	 * forged first line must not win (spec 8 reads only the first line) */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 6.6.6.6\r\n"
						"X-Forwarded-For: 203.0.113.7\r\n"),
			    "203.0.113.7");
	/* lines join in order: the walk continues into earlier lines */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 203.0.113.7\r\n"
						"x-forwarded-for: 192.0.2.5, 192.0.2.6\r\n"
						"X-FORWARDED-FOR: 192.0.2.7\r\n"),
			    "203.0.113.7");
	/* other headers in between do not matter */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 203.0.113.7\r\n"
						"Accept: */*\r\n"
						"X-Forwarded-For: 192.0.2.5\r\n"),
			    "203.0.113.7");
}

static void test_all_trusted(void **state)
{
	trust("192.0.2.0/24", "10.0.0.0/8", NULL);
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 10.0.0.3, 192.0.2.5\r\n"),
			    "10.0.0.3");
	/* ...and X-Real-IP is not consulted then */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 10.0.0.3\r\n"
						"X-Real-IP: 203.0.113.8\r\n"),
			    "10.0.0.3");
}

static void test_garbage(void **state)
{
	trust("192.0.2.0/24", NULL);
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 6.6.6.6, unknown\r\n"),
			    "192.0.2.1");
	assert_string_equal(client("192.0.2.1",
				   "X-Forwarded-For: 6.6.6.6, garbage, 192.0.2.5\r\n"),
			    "192.0.2.1");
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 203.0.113.7:4711\r\n"),
			    "192.0.2.1");
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 203.0.113.7 6.6.6.6\r\n"),
			    "192.0.2.1");
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: fe80::1%eth0\r\n"),
			    "192.0.2.1");
	/* garbage in a later line stops the walk before earlier lines */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 203.0.113.7\r\n"
						"X-Forwarded-For: _hidden\r\n"),
			    "192.0.2.1");
	/* a garbage XFF does not fall through to X-Real-IP */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: unknown\r\n"
						"X-Real-IP: 203.0.113.8\r\n"),
			    "192.0.2.1");
}

static void test_empty_elements(void **state)
{
	trust("192.0.2.0/24", NULL);
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 203.0.113.7,, \t,192.0.2.5,\r\n"),
			    "203.0.113.7");
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For:  \t 203.0.113.7 \t \r\n"),
			    "203.0.113.7");
	/* no element at all: as if there were no XFF */
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: , ,\r\n"
						"X-Real-IP: 203.0.113.8\r\n"),
			    "203.0.113.8");
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For:\r\n"
						"X-Real-IP: 203.0.113.8\r\n"),
			    "203.0.113.8");
}

static void test_x_real_ip(void **state)
{
	trust("192.0.2.0/24", NULL);
	assert_string_equal(client("192.0.2.1", "X-Real-IP: 203.0.113.8\r\n"), "203.0.113.8");
	assert_string_equal(client("192.0.2.1", "x-real-ip:   203.0.113.8  \r\n"), "203.0.113.8");
	assert_string_equal(client("192.0.2.1", "X-Real-IP: 2001:DB8::8\r\n"), "2001:db8::8");
	assert_string_equal(client("192.0.2.1", "X-Real-IP: [2001:db8::8]\r\n"), "2001:db8::8");
	/* HEAD v0.9.2: must parse, must not be a trusted proxy */
	assert_string_equal(client("192.0.2.1", "X-Real-IP: attacker-key-1\r\n"), "192.0.2.1");
	assert_string_equal(client("192.0.2.1", "X-Real-IP: 203.0.113.8:80\r\n"), "192.0.2.1");
	assert_string_equal(client("192.0.2.1", "X-Real-IP: 203.0.113.8, 6.6.6.6\r\n"),
			    "192.0.2.1");
	assert_string_equal(client("192.0.2.1", "X-Real-IP: 192.0.2.77\r\n"), "192.0.2.1");
	assert_string_equal(client("192.0.2.1", "X-Real-IP:\r\n"), "192.0.2.1");
	/* two instances: ambiguous, ignored */
	assert_string_equal(client("192.0.2.1", "X-Real-IP: 6.6.6.6\r\n"
						"X-Real-IP: 203.0.113.8\r\n"),
			    "192.0.2.1");
	/* XFF wins over X-Real-IP */
	assert_string_equal(client("192.0.2.1", "X-Real-IP: 203.0.113.8\r\n"
						"X-Forwarded-For: 203.0.113.7\r\n"),
			    "203.0.113.7");
}

static void test_v6_and_mapped(void **state)
{
	trust("2001:db8:1::/48", "192.0.2.0/24", NULL);
	assert_string_equal(client("2001:db8:1::5",
				   "X-Forwarded-For: 2001:DB8:2::0:7, 2001:db8:1::9\r\n"),
			    "2001:db8:2::7");
	/* a mapped client in XFF is the IPv4 client */
	assert_string_equal(client("2001:db8:1::5", "X-Forwarded-For: ::ffff:203.0.113.7\r\n"),
			    "203.0.113.7");
	/* a mapped trusted hop is skipped like its IPv4 form */
	assert_string_equal(client("192.0.2.1",
				   "X-Forwarded-For: 203.0.113.7, ::ffff:192.0.2.5\r\n"),
			    "203.0.113.7");

	/* a dual-stack peer (AF_INET6 mapped) is matched and reported as IPv4 */
	struct lk_ip peer = { .family = AF_INET6 }, out;
	LK_ASSERT(inet_pton(AF_INET6, "::ffff:192.0.2.1", peer.addr) == 1);
	lk_client_ip(parse_req("X-Forwarded-For: 203.0.113.7\r\n"), &peer, g_trusted,
		     g_n_trusted, &out);
	assert_string_equal(fmt(&out), "203.0.113.7");
	lk_client_ip(parse_req("X-Forwarded-For: 203.0.113.7\r\n"), &peer, NULL, 0, &out);
	assert_int_equal(out.family, AF_INET);
	assert_string_equal(fmt(&out), "192.0.2.1");
	/* trusted via a mapped network */
	trust("::ffff:192.0.2.0/120", NULL);
	assert_string_equal(client("192.0.2.1", "X-Forwarded-For: 203.0.113.7\r\n"),
			    "203.0.113.7");
}

/* ---- bounds -------------------------------------------------------------- */

/* big_req makes a request with one X-Forwarded-For of n elements: element
 * n-1-client_at (counted from the right, 0-based) is "203.0.113.7" when
 * client_at >= 0, every other one the trusted "192.0.2.5". */
static struct lk_http_req *big_req(char *mem, size_t cap, size_t n, long client_at)
{
	static struct lk_http_req r;
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *e = (long)(n - 1 - i) == client_at ? "203.0.113.7" : "192.0.2.5";
		int w = snprintf(mem + len, cap - len, "%s%s", i ? ", " : "", e);

		LK_ASSERT(w > 0 && (size_t)w < cap - len);
		len += (size_t)w;
	}
	r = (struct lk_http_req){ .n_headers = 1 };
	r.headers[0] = (struct lk_http_header){ .name = "X-Forwarded-For", .name_len = 15,
						 .value = mem, .value_len = (uint32_t)len };
	return &r;
}

static void test_bounds(void **state)
{
	size_t cap = 16u << 20;
	char *mem = malloc(cap);
	struct lk_ip peer = ip("192.0.2.1"), out;

	LK_ASSERT(mem != NULL);
	trust("192.0.2.0/24", NULL);
	/* the client as the last element the budget allows, and one further */
	lk_client_ip(big_req(mem, cap, 200, LK_CLIENTIP_HOPS_MAX - 1), &peer, g_trusted,
		     g_n_trusted, &out);
	assert_string_equal(fmt(&out), "203.0.113.7");
	lk_client_ip(big_req(mem, cap, 200, LK_CLIENTIP_HOPS_MAX), &peer, g_trusted, g_n_trusted,
		     &out);
	assert_string_equal(fmt(&out), "192.0.2.1");
	/* all trusted: exactly the budget gives the leftmost, one more the peer */
	lk_client_ip(big_req(mem, cap, LK_CLIENTIP_HOPS_MAX, -1), &peer, g_trusted, g_n_trusted,
		     &out);
	assert_string_equal(fmt(&out), "192.0.2.5");
	lk_client_ip(big_req(mem, cap, LK_CLIENTIP_HOPS_MAX + 1, -1), &peer, g_trusted,
		     g_n_trusted, &out);
	assert_string_equal(fmt(&out), "192.0.2.1");
	/* a million elements (11 MiB, far past any real head): the walk looks
	 * at the right end only, so this returns at once */
	lk_client_ip(big_req(mem, cap, 1000000, 999999), &peer, g_trusted, g_n_trusted, &out);
	assert_string_equal(fmt(&out), "192.0.2.1");
	/* empty elements count against the budget too */
	struct lk_http_req *r = big_req(mem, cap, 1, 0);
	memset(mem + 11, ',', LK_CLIENTIP_HOPS_MAX - 1);
	r->headers[0].value_len = 11 + LK_CLIENTIP_HOPS_MAX - 1;
	lk_client_ip(r, &peer, g_trusted, g_n_trusted, &out);
	assert_string_equal(fmt(&out), "203.0.113.7");
	memset(mem + 11, ',', 1 << 20);
	r->headers[0].value_len = 11 + (1 << 20);
	lk_client_ip(r, &peer, g_trusted, g_n_trusted, &out);
	assert_string_equal(fmt(&out), "192.0.2.1");
	/* the full header array of XFF lines: still bounded by the budget */
	r = big_req(mem, cap, 1, -1);
	for (size_t i = 1; i < LK_HTTP_HEADERS_MAX; i++)
		r->headers[i] = r->headers[0];
	r->n_headers = LK_HTTP_HEADERS_MAX;
	lk_client_ip(r, &peer, g_trusted, g_n_trusted, &out);
	assert_string_equal(fmt(&out), "192.0.2.1");
	r->n_headers = LK_CLIENTIP_HOPS_MAX;
	lk_client_ip(r, &peer, g_trusted, g_n_trusted, &out);
	assert_string_equal(fmt(&out), "192.0.2.5");
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_parse_ok, reset),
		cmocka_unit_test_setup(test_parse_bad, reset),
		cmocka_unit_test_setup(test_format_vs_inet_ntop, reset),
		cmocka_unit_test_setup(test_format_cap, reset),
		cmocka_unit_test_setup(test_cidr, reset),
		cmocka_unit_test_setup(test_cidr_mapped_peer, reset),
		cmocka_unit_test_setup(test_vectors_17_1, reset),
		cmocka_unit_test_setup(test_untrusted_peer, reset),
		cmocka_unit_test_setup(test_spoofed_left, reset),
		cmocka_unit_test_setup(test_multiple_xff, reset),
		cmocka_unit_test_setup(test_all_trusted, reset),
		cmocka_unit_test_setup(test_garbage, reset),
		cmocka_unit_test_setup(test_empty_elements, reset),
		cmocka_unit_test_setup(test_x_real_ip, reset),
		cmocka_unit_test_setup(test_v6_and_mapped, reset),
		cmocka_unit_test_setup(test_bounds, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
