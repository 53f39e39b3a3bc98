/* auth/clientip.c - client address and trusted proxies (see clientip.h for
 * the rule and why it differs from the reference). */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "auth/clientip.h"
#include "core/config.h"
#include "core/dbg.h"
#include "core/http.h"

/* The longest text lk_ip_parse looks at: a full IPv6 address with an
 * embedded IPv4 tail (45 bytes) inside brackets. */
#define IP_TEXT_MAX (LK_IP_STR_MAX - 1 + 2)

/* The first 96 bits of every IPv4-mapped IPv6 address (RFC 4291 2.5.5.2). */
static const uint8_t v4_mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
};

/* What the X-Forwarded-For walk concluded. */
enum xff_verdict {
	XFF_NONE,   /* no element at all: look at X-Real-IP */
	XFF_FOUND,  /* *out holds the client */
	XFF_GIVE_UP /* garbage or too many hops: the client is the peer */
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_mapped(const uint8_t addr[16])
{
	return memcmp(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

int lk_ip_parse(const char *s, size_t len, struct lk_ip *out)
{
	char buf[IP_TEXT_MAX + 1];
	struct lk_ip ip = { 0 };
	bool bracketed = false;

	if (len == 0 || len > IP_TEXT_MAX || memchr(s, '\0', len) != NULL)
		return -EINVAL;
	if (s[0] == '[') {
		if (len < 3 || s[len - 1] != ']')
			return -EINVAL;
		s++;
		len -= 2;
		bracketed = true;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* Brackets exist to set an IPv6 literal apart from a port; "[1.2.3.4]"
	 * is nobody's canonical spelling, so it is refused. */
	if (!bracketed && inet_pton(AF_INET, buf, ip.addr) == 1) {
		ip.family = AF_INET;
	} else if (inet_pton(AF_INET6, buf, ip.addr) == 1) {
		ip.family = AF_INET6;
		lk_ip_unmap(&ip);
	} else {
		return -EINVAL;
	}
	*out = ip;
	return 0;
}

void lk_ip_unmap(struct lk_ip *ip)
{
	if (ip->family != AF_INET6 || !is_mapped(ip->addr))
		return;
	memmove(ip->addr, ip->addr + 12, 4);
	memset(ip->addr + 4, 0, 12);
	ip->family = AF_INET;
}

/* put_dec4 writes the dotted quad of a[0..4) at p and returns its length
 * (at most 15). */
static size_t put_dec4(char *p, const uint8_t *a)
{
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];

		if (i > 0)
			p[n++] = '.';
		if (v >= 100)
			p[n++] = (char)('0' + v / 100);
		if (v >= 10)
			p[n++] = (char)('0' + v / 10 % 10);
		p[n++] = (char)('0' + v % 10);
	}
	return n;
}

/* put_hex16 writes v in lower-case hex without leading zeros. */
static size_t put_hex16(char *p, unsigned v)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	int shift = 12;

	while (shift > 0 && (v >> shift) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		p[n++] = hex[(v >> shift) & 0xf];
	return n;
}

/* format6 writes a in RFC 5952 form (section 4: longest run of two or more
 * zero groups compressed, the first one on a tie; section 5: mapped
 * addresses keep their dotted tail) and returns its length (at most 45). */
static size_t format6(char *p, const uint8_t *a)
{
	unsigned g[8];
	int best = -1, best_len = 1, run = 0;
	size_t n = 0;

	if (is_mapped(a)) {
		memcpy(p, "::ffff:", 7);
		return 7 + put_dec4(p + 7, a + 12);
	}
	for (int i = 0; i < 8; i++) {
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
		run = g[i] == 0 ? run + 1 : 0;
		if (run > best_len) {
			best_len = run;
			best = i - run + 1;
		}
	}
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			p[n++] = ':';
			if (i == 0)
				p[n++] = ':';
			i += best_len - 1;
			continue;
		}
		n += put_hex16(p + n, g[i]);
		if (i < 7)
			p[n++] = ':';
	}
	return n;
}

size_t lk_ip_format(const struct lk_ip *ip, char *out, size_t cap)
{
	char tmp[LK_IP_STR_MAX];
	size_t n;

	if (ip->family == AF_INET)
		n = put_dec4(tmp, ip->addr);
	else if (ip->family == AF_INET6)
		n = format6(tmp, ip->addr);
	else
		n = 0;
	LK_ASSERT(n < sizeof(tmp));
	if (n == 0 || n >= cap) {
		if (cap > 0)
			out[0] = '\0';
		return 0;
	}
	memcpy(out, tmp, n);
	out[n] = '\0';
	return n;
}

/* prefix_eq returns whether the first bits bits of a and b are equal. */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool lk_ip_in_cidr(const struct lk_ip *ip, const struct lk_cidr *c)
{
	struct lk_ip a = *ip;
	const uint8_t *net = c->addr;
	unsigned family = c->family, prefix = c->prefix;

	lk_ip_unmap(&a);
	/* A network inside ::ffff:0:0/96 is an IPv4 network (Go's
	 * networkNumberAndMask); a shorter IPv6 prefix stays IPv6-only. */
	if (family == AF_INET6 && prefix >= 96 && prefix <= 128 && is_mapped(net)) {
		family = AF_INET;
		prefix -= 96;
		net += 12;
	}
	if (family != a.family)
		return false;
	if (family == AF_INET)
		return prefix <= 32 && prefix_eq(a.addr, net, prefix);
	if (family == AF_INET6)
		return prefix <= 128 && prefix_eq(a.addr, net, prefix);
	return false;
}

bool lk_ip_is_trusted(const struct lk_ip *ip, const struct lk_cidr *trusted, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lk_ip_in_cidr(ip, &trusted[i]))
			return true;
	}
	return false;
}

/* struct walk is the state of the right-to-left X-Forwarded-For walk. */
struct walk {
	const struct lk_cidr *trusted;
	size_t n_trusted;
	unsigned seen;     /* elements examined, empty ones included */
	bool have_hop;     /* hop holds the leftmost trusted element so far */
	struct lk_ip hop;
};

/* walk_value walks one header value v[0..len) from the right. Returns
 * XFF_FOUND with *out set at the first untrusted address, XFF_GIVE_UP on
 * garbage or when the hop budget runs out, XFF_NONE to go on leftwards. */
static enum xff_verdict walk_value(struct walk *w, const char *v, size_t len, struct lk_ip *out)
{
	size_t end = len;

	for (;;) {
		const char *comma = end > 0 ? memrchr(v, ',', end) : NULL;
		size_t start = comma != NULL ? (size_t)(comma - v) + 1 : 0, stop = end;
		struct lk_ip ip;

		if (++w->seen > LK_CLIENTIP_HOPS_MAX)
			return XFF_GIVE_UP;
		while (start < stop && is_ows(v[start]))
			start++;
		while (stop > start && is_ows(v[stop - 1]))
			stop--;
		if (start < stop) {
			if (lk_ip_parse(v + start, stop - start, &ip) != 0)
				return XFF_GIVE_UP;
			if (!lk_ip_is_trusted(&ip, w->trusted, w->n_trusted)) {
				*out = ip;
				return XFF_FOUND;
			}
			w->hop = ip;
			w->have_hop = true;
		}
		if (comma == NULL)
			return XFF_NONE;
		end = (size_t)(comma - v);
	}
}

/* walk_xff applies rule 2 of clientip.h to every X-Forwarded-For instance of
 * r, last header first. */
static enum xff_verdict walk_xff(const struct lk_http_req *r, const struct lk_cidr *trusted,
				 size_t n_trusted, struct lk_ip *out)
{
	struct walk w = { .trusted = trusted, .n_trusted = n_trusted };

	LK_ASSERT(r->n_headers <= LK_HTTP_HEADERS_MAX);
	for (size_t i = r->n_headers; i-- > 0;) {
		const struct lk_http_header *h = &r->headers[i];
		enum xff_verdict v;

		if (!lk_http_name_eq(h->name, h->name_len, "x-forwarded-for"))
			continue;
		v = walk_value(&w, h->value, h->value_len, out);
		if (v != XFF_NONE)
			return v;
	}
	if (!w.have_hop)
		return XFF_NONE;
	*out = w.hop;
	return XFF_FOUND;
}

/* real_ip applies rule 3: sets *out and returns true when r carries exactly
 * one X-Real-IP whose value is an untrusted address. */
static bool real_ip(const struct lk_http_req *r, const struct lk_cidr *trusted, size_t n_trusted,
		    struct lk_ip *out)
{
	const struct lk_http_header *found = NULL;
	struct lk_ip ip;

	for (size_t i = 0; i < r->n_headers; i++) {
		const struct lk_http_header *h = &r->headers[i];

		if (!lk_http_name_eq(h->name, h->name_len, "x-real-ip"))
			continue;
		if (found != NULL)
			return false;
		found = h;
	}
	/* The parser has trimmed the value's OWS already. */
	if (found == NULL || lk_ip_parse(found->value, found->value_len, &ip) != 0)
		return false;
	if (lk_ip_is_trusted(&ip, trusted, n_trusted))
		return false;
	*out = ip;
	return true;
}

void lk_client_ip(const struct lk_http_req *r, const struct lk_ip *peer,
		  const struct lk_cidr *trusted, size_t n_trusted, struct lk_ip *out)
{
	struct lk_ip client;

	LK_ASSERT(trusted != NULL || n_trusted == 0);
	*out = *peer;
	lk_ip_unmap(out);
	if (r == NULL || n_trusted == 0 || !lk_ip_is_trusted(out, trusted, n_trusted))
		return;
	switch (walk_xff(r, trusted, n_trusted, &client)) {
	case XFF_FOUND:
		*out = client;
		return;
	case XFF_GIVE_UP:
		return;
	case XFF_NONE:
		break;
	}
	if (real_ip(r, trusted, n_trusted, &client))
		*out = client;
}
