/* auth/clientip.h - who the client is: IP addresses, CIDR matching and the
 * trusted-proxy rule (spec lookout-core 8 and 16).
 *
 * The client address keys the failed-auth limiter and is the audit actor, so
 * the rule below is about one thing: a client must not be able to choose its
 * own key. Only hops we trust may speak for the client, and only about the hop
 * directly in front of them.
 *
 *   1. The peer (TCP remote address) is not inside a TRUSTED_PROXIES network,
 *      or none are configured: the client is the peer. Headers are ignored.
 *   2. Otherwise X-Forwarded-For is read as one list: every instance of the
 *      header, in order, joined with commas (RFC 9110 5.3), then split on
 *      commas with each element trimmed of SP/HTAB and empty elements skipped
 *      (RFC 9110 5.6.1 asks recipients to accept empty list elements). The
 *      list is walked from the right, which is the end our proxies append to:
 *      - an element inside a trusted network is a proxy hop: skip it;
 *      - the first element that is not trusted is the client;
 *      - an element that is not an IP address ends the walk and the client
 *        is the peer. Such an element was written by the hop on its right
 *        (a trusted proxy, or the peer) and is not an address we can key on
 *        ("unknown", an obfuscated id, "host:port"); everything left of it
 *        came through a hop we cannot identify, so trusting it would hand
 *        the choice of key to whoever wrote it. Spec 8 (Go) skips garbage and
 *        keeps walking left into client-written elements; we do not.
 *      - every element trusted: the client is the leftmost one (all hops on
 *        its right vouch for it; nginx real_ip_recursive does the same).
 *      - more than LK_CLIENTIP_HOPS_MAX elements examined without a verdict:
 *        the peer. This bounds the work per request (each element costs a
 *        walk over the trusted networks) whatever the head holds.
 *   3. No X-Forwarded-For element at all: X-Real-IP, when there is exactly one
 *      such header, its trimmed value parses as an IP, and that IP is not
 *      itself inside a trusted network (HEAD v0.9.2; v0.2.0 took the value
 *      verbatim, which let a client mint limiter keys). Two or more X-Real-IP
 *      headers are ambiguous (a proxy added one next to the client's own) and
 *      are ignored.
 *   4. Otherwise the peer.
 *
 * Differences from spec 8 (v0.2.0), all deliberate: every X-Forwarded-For
 * instance is read, not only the first line (a proxy that adds its own line
 * instead of appending to the client's would otherwise leave the client's
 * forged line in charge); garbage stops the walk (above); an all-trusted list
 * yields its leftmost element rather than falling through to X-Real-IP; the
 * result is an address, not the header's text, so 2001:DB8::1 and
 * 2001:db8::1, or ::ffff:192.0.2.1 and 192.0.2.1, are one client.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack socket
 * reports for an IPv4 peer) are the IPv4 address everywhere here: parsed to
 * AF_INET, matched against IPv4 networks, and a network written inside
 * ::ffff:0:0/96 matches IPv4 addresses (Go's net.IPNet.Contains rules, which
 * the reference used; ::/0 therefore does not match IPv4 peers).
 *
 * Nothing here allocates, blocks, logs or calls back; all functions are
 * thread-safe and safe on ring threads. */
#ifndef LK_AUTH_CLIENTIP_H
#define LK_AUTH_CLIENTIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/fwd.h"

/* LK_IP_STR_MAX is a buffer size that holds any lk_ip_format output with its
 * NUL (INET6_ADDRSTRLEN). */
#define LK_IP_STR_MAX 46
/* LK_CLIENTIP_HOPS_MAX bounds the X-Forwarded-For elements examined per
 * request (empty elements included). Real chains have a handful of hops. */
#define LK_CLIENTIP_HOPS_MAX 64

/* struct lk_ip is one IP address in network byte order. AF_INET uses
 * addr[0..4) and the rest is zero, so two equal addresses compare equal with
 * memcmp over the whole struct. */
struct lk_ip {
	uint8_t family; /* AF_INET or AF_INET6; 0 = no address */
	uint8_t addr[16];
};

/* lk_ip_parse parses s[0..len) (borrowed, need not be NUL-terminated) as a
 * dotted-quad IPv4 address (no leading zeros, as inet_pton(3) and Go) or an
 * IPv6 address, optionally inside brackets ("[::1]"); no surrounding space,
 * zone ("%eth0"), prefix or port. An IPv4-mapped IPv6 address yields AF_INET.
 * Returns 0 and fills *out, or -EINVAL and leaves *out alone. */
int lk_ip_parse(const char *s, size_t len, struct lk_ip *out);

/* lk_ip_format writes ip's canonical text and a NUL to out (cap bytes): dotted
 * quad, or RFC 5952 IPv6 (lower case, longest zero run as "::"; a mapped
 * address as ::ffff:a.b.c.d, though lk_ip_parse never produces one). Returns
 * the text length, or 0 with out[0] = '\0' (when cap > 0) if ip has no valid
 * family or cap is too small; cap >= LK_IP_STR_MAX always suffices. */
size_t lk_ip_format(const struct lk_ip *ip, char *out, size_t cap);

/* lk_ip_unmap turns an IPv4-mapped IPv6 address in *ip into the AF_INET
 * address it carries; any other address is left as it is. */
void lk_ip_unmap(struct lk_ip *ip);

/* lk_ip_in_cidr returns whether ip lies inside network c, with the mapped
 * address rules above (an AF_INET6 ip that is ::ffff:a.b.c.d matches IPv4
 * networks; an AF_INET ip matches networks inside ::ffff:0:0/96). Both are
 * borrowed. False for an ip or c without a valid family. */
bool lk_ip_in_cidr(const struct lk_ip *ip, const struct lk_cidr *c);

/* lk_ip_is_trusted returns whether ip lies inside any of the n networks in
 * trusted (borrowed; may be NULL when n is 0). */
bool lk_ip_is_trusted(const struct lk_ip *ip, const struct lk_cidr *trusted, size_t n);

/* lk_client_ip decides the client address of request r (a complete parsed
 * head, borrowed) that arrived from peer, by the rules at the top of this
 * file, and writes it to *out (always written; an IPv4-mapped result is
 * unmapped). trusted (borrowed, n_trusted networks, NULL when n_trusted is 0)
 * is the TRUSTED_PROXIES list. r may be NULL (no headers: the peer). Work is
 * bounded by LK_CLIENTIP_HOPS_MAX elements times n_trusted networks, plus one
 * pass over the header values. */
void lk_client_ip(const struct lk_http_req *r, const struct lk_ip *peer,
		  const struct lk_cidr *trusted, size_t n_trusted, struct lk_ip *out);

#endif /* LK_AUTH_CLIENTIP_H */
