/* proxy/rewrite.c - streaming and hijack classification, forwarded heads
 * (see proxy/rewrite.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/dbg.h"
#include "core/http.h"
#include "core/json.h"
#include "proxy/rewrite.h"

/* ---- paths ---------------------------------------------------------------- */

static size_t path_len_of(const char *target, size_t len)
{
	const char *q = memchr(target, '?', len);

	return q != NULL ? (size_t)(q - target) : len;
}

static bool has_suffix(const char *p, size_t n, const char *s)
{
	size_t sn = strlen(s);

	return n >= sn && memcmp(p + n - sn, s, sn) == 0;
}

static bool has_prefix(const char *p, size_t n, const char *s)
{
	size_t sn = strlen(s);

	return n >= sn && memcmp(p, s, sn) == 0;
}

static bool contains(const char *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

/* api_path strips dockerd's optional version prefix: its routes are
 * registered both bare and under "/v{version:[0-9.]+}". */
static void api_path(const char **p, size_t *n)
{
	size_t i = 2;

	if (*n < 3 || (*p)[0] != '/' || (*p)[1] != 'v')
		return;
	while (i < *n && (((*p)[i] >= '0' && (*p)[i] <= '9') || (*p)[i] == '.'))
		i++;
	if (i == 2 || i == *n || (*p)[i] != '/')
		return;
	*p += i;
	*n -= i;
}

/* route_is matches the (unversioned) path p against dockerd's pattern
 * "<prefix>{name:.*}<suffix>": the name may contain '/' (image names do) but
 * must not be empty (dockerd's router would clean "//" away and redirect). */
static bool route_is(const char *p, size_t n, const char *prefix, const char *suffix)
{
	return n > strlen(prefix) + strlen(suffix) && has_prefix(p, n, prefix) &&
	       has_suffix(p, n, suffix);
}

static bool route_exact(const char *p, size_t n, const char *route)
{
	return n == strlen(route) && memcmp(p, route, n) == 0;
}

/* ---- the stats query switch ------------------------------------------------ */

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

/* form_byte decodes the byte at *i of s[0..n) the way Go's url.QueryUnescape
 * does ('+' is a space, %XX a byte) and advances *i. Returns the byte, or -1
 * for a malformed escape. */
static int form_byte(const char *s, size_t n, size_t *i)
{
	int hi, lo;

	if (s[*i] == '+') {
		(*i)++;
		return ' ';
	}
	if (s[*i] != '%')
		return (unsigned char)s[(*i)++];
	if (n - *i < 3 || (hi = hex_val(s[*i + 1])) < 0 || (lo = hex_val(s[*i + 2])) < 0)
		return -1;
	*i += 3;
	return hi << 4 | lo;
}

static bool is_go_space(int c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* form_trimmed decodes s[0..n), trims ASCII white space (Go's
 * strings.TrimSpace) and lower-cases ASCII (enough for the words compared:
 * the only non-ASCII letters Go lower-cases to ASCII become 'i' and 'k')
 * into out (cap bytes, not
 * terminated). Returns the trimmed length, cap + 1 when it does not fit (its
 * content is then irrelevant), or -1 for a malformed escape anywhere in s. */
static long form_trimmed(const char *s, size_t n, char *out, size_t cap)
{
	size_t i = 0, len = 0, kept = 0;

	while (i < n) {
		int c = form_byte(s, n, &i);

		if (c < 0)
			return -1;
		if (len == 0 && is_go_space(c))
			continue;
		if (len < cap)
			out[len] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
		len++;
		if (!is_go_space(c))
			kept = len;
	}
	return kept > cap ? (long)cap + 1 : (long)kept;
}

/* form_key_is returns 1 when s[0..n) decodes to exactly key (Go compares
 * decoded keys as they are: case-sensitive, untrimmed), 0 when it does not,
 * and -1 for a malformed escape. */
static int form_key_is(const char *s, size_t n, const char *key)
{
	size_t i = 0, k = 0;
	int eq = 1;

	while (i < n) {
		int c = form_byte(s, n, &i);

		if (c < 0)
			return -1;
		if (key[k] == '\0' || key[k] != c)
			eq = 0;
		else
			k++;
	}
	return eq && key[k] == '\0';
}

/* query_is_false returns whether the first "key" parameter of query[0..n)
 * is present and reads as false to dockerd's httputils.BoolValue: after
 * decoding, trimming and lower-casing it is "", "0", "no", "false" or
 * "none". Like Go's url.ParseQuery, pairs with ';' or a malformed escape are
 * skipped. */
static bool query_is_false(const char *q, size_t n, const char *key)
{
	static const char *const falses[] = { "", "0", "no", "false", "none" };
	size_t pos = 0;

	while (pos < n) {
		const char *pair = q + pos, *amp = memchr(pair, '&', n - pos);
		size_t plen = amp != NULL ? (size_t)(amp - pair) : n - pos;
		const char *eq = memchr(pair, '=', plen);
		size_t klen = eq != NULL ? (size_t)(eq - pair) : plen;
		char v[8];
		long vl = 0;

		pos += plen + 1;
		if (plen == 0 || memchr(pair, ';', plen) != NULL)
			continue;
		if (eq != NULL)
			vl = form_trimmed(eq + 1, plen - klen - 1, v, sizeof(v));
		if (vl < 0 || form_key_is(pair, klen, key) != 1)
			continue;
		for (size_t i = 0; i < LK_ARRAY_SIZE(falses); i++) {
			size_t fl = strlen(falses[i]);

			if ((size_t)vl == fl && memcmp(v, falses[i], fl) == 0)
				return true;
		}
		return false;
	}
	return false;
}

/* ---- classification --------------------------------------------------------- */

static const char *const drydock_suffixes[] = {
	"/logs", "/attach", "/events", "/build", "/images/create", "/images/push",
};

bool lk_proxy_drydock_expects_stream(const char *target, size_t len)
{
	size_t n = path_len_of(target, len);

	for (size_t i = 0; i < LK_ARRAY_SIZE(drydock_suffixes); i++) {
		if (has_suffix(target, n, drydock_suffixes[i]))
			return true;
	}
	return contains(target, n, "/exec/") && has_suffix(target, n, "/start");
}

/* stats_streams: dockerd's getContainersStats streams unless ?stream= reads
 * as false (httputils.BoolValueOrDefault(r, "stream", true)). */
static bool stats_streams(const char *target, size_t len, size_t path_len)
{
	if (path_len == len)
		return true;
	return !query_is_false(target + path_len + 1, len - path_len - 1, "stream");
}

bool lk_proxy_is_streaming(const char *target, size_t len)
{
	size_t path_len = path_len_of(target, len), n = path_len;
	const char *p = target;

	if (lk_proxy_drydock_expects_stream(target, len))
		return true;
	api_path(&p, &n);
	/* Long but finite answers a total timeout would cut: wait blocks until
	 * the container exits, the others move whole filesystems or images. */
	if (route_is(p, n, "/containers/", "/wait") || route_is(p, n, "/containers/", "/archive") ||
	    route_is(p, n, "/containers/", "/export") || route_exact(p, n, "/images/load") ||
	    route_exact(p, n, "/images/get") || route_is(p, n, "/images/", "/get") ||
	    route_is(p, n, "/images/", "/push"))
		return true;
	if (route_is(p, n, "/containers/", "/stats"))
		return stats_streams(target, len, path_len);
	return false;
}

bool lk_proxy_is_attach_or_exec_start(const char *target, size_t len)
{
	size_t n = path_len_of(target, len);
	const char *p = target;

	api_path(&p, &n);
	return route_is(p, n, "/containers/", "/attach") || route_is(p, n, "/exec/", "/start");
}

enum lk_proxy_hijack lk_proxy_hijack_kind(const struct lk_http_req *r)
{
	bool tcp = false;

	LK_DASSERT(r->path_len <= r->target_len);
	/* RFC 9110 7.8: a server ignores Upgrade in an HTTP/1.0 request. */
	if (r->meth != LK_HTTP_POST || r->minor != 1 || !(r->flags & LK_HTTP_F_CONN_UPGRADE))
		return LK_HIJACK_NONE;
	if (!lk_proxy_is_attach_or_exec_start(r->target, r->path_len))
		return LK_HIJACK_NONE;
	for (size_t i = 0; i < r->n_headers && !tcp; i++) {
		const struct lk_http_header *h = &r->headers[i];

		tcp = lk_http_name_eq(h->name, h->name_len, "upgrade") &&
		      lk_http_token_list_has(h->value, h->value_len, "tcp");
	}
	return tcp ? LK_HIJACK_UPGRADE : LK_HIJACK_NONE;
}

/* ---- header filtering ------------------------------------------------------- */

static bool name_has_prefix(const char *n, size_t len, const char *lower_prefix)
{
	size_t pn = strlen(lower_prefix);

	return len >= pn && lk_http_name_eq(n, pn, lower_prefix);
}

/* is_dropped: fields never copied across, in either direction. The framing
 * fields (Content-Length, Transfer-Encoding) are in the list because the
 * writers emit framing themselves from the parsed values. */
static bool is_dropped(const char *n, size_t len)
{
	static const char *const names[] = {
		"connection", "keep-alive", "te", "trailer", "upgrade",
		"transfer-encoding", "content-length",
		"authorization", "x-dd-agent-secret",
	};
	static const char *const prefixes[] = { "proxy-", "x-lookout-", "x-portwing-" };

	for (size_t i = 0; i < LK_ARRAY_SIZE(names); i++) {
		if (lk_http_name_eq(n, len, names[i]))
			return true;
	}
	for (size_t i = 0; i < LK_ARRAY_SIZE(prefixes); i++) {
		if (name_has_prefix(n, len, prefixes[i]))
			return true;
	}
	return false;
}

static bool name_eq_view(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if ((x >= 'A' && x <= 'Z' ? x | 0x20 : x) != (y >= 'A' && y <= 'Z' ? y | 0x20 : y))
			return false;
	}
	return true;
}

#define DROP_WORDS ((LK_HTTP_HEADERS_MAX + 63) / 64)

/* mark_named sets in drop[] the bit of every field whose name equals the
 * element el[0..len) of a Connection list (RFC 9110 7.6.1). */
static void mark_named(const struct lk_http_header *h, size_t n, const char *el, size_t len,
		       uint64_t drop[DROP_WORDS])
{
	for (size_t i = 0; i < n; i++) {
		if (name_eq_view(h[i].name, h[i].name_len, el, len))
			drop[i / 64] |= UINT64_C(1) << (i % 64);
	}
}

/* mark_connection_named walks every Connection field's comma list. The work
 * is bounded by the head size times LK_HTTP_HEADERS_MAX length checks. */
static void mark_connection_named(const struct lk_http_header *h, size_t n,
				  uint64_t drop[DROP_WORDS])
{
	for (size_t i = 0; i < n; i++) {
		const char *v = h[i].value, *end = v + h[i].value_len;

		if (!lk_http_name_eq(h[i].name, h[i].name_len, "connection"))
			continue;
		while (v < end) {
			const char *s = v, *e;

			while (v < end && *v != ',')
				v++;
			e = v++;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (e > s)
				mark_named(h, n, s, (size_t)(e - s), drop);
		}
	}
}

/* put_field appends "<name>: <value>\r\n" from views, all or nothing. The
 * views come from our parser, which let no CR, LF or NUL through. */
static void put_field(struct lk_obuf *b, const char *name, size_t name_len, const char *value,
		      size_t value_len)
{
	if (b->overflow || lk_obuf_room(b) < name_len + 2 + value_len + 2) {
		b->overflow = true;
		return;
	}
	lk_obuf_put(b, name, name_len);
	lk_obuf_put(b, ": ", 2);
	lk_obuf_put(b, value, value_len);
	lk_obuf_put(b, "\r\n", 2);
}

/* put_kept appends every field of h[0..n) that survives the hop: not in the
 * drop list, not named by Connection, and (for requests) not Host. */
static void put_kept(struct lk_obuf *b, const struct lk_http_header *h, size_t n, bool request)
{
	uint64_t drop[DROP_WORDS] = { 0 };

	LK_ASSERT(n <= LK_HTTP_HEADERS_MAX);
	mark_connection_named(h, n, drop);
	for (size_t i = 0; i < n; i++) {
		if (drop[i / 64] & (UINT64_C(1) << (i % 64)))
			continue;
		if (is_dropped(h[i].name, h[i].name_len))
			continue;
		if (request && lk_http_name_eq(h[i].name, h[i].name_len, "host"))
			continue;
		put_field(b, h[i].name, h[i].name_len, h[i].value, h[i].value_len);
	}
}

#define PUT_LIT(b, s) lk_obuf_put((b), (s), sizeof(s) - 1)

/* ---- heads ------------------------------------------------------------------ */

int lk_proxy_write_req_head(struct lk_obuf *b, const struct lk_http_req *r,
			    const struct lk_proxy_req_opts *o)
{
	LK_DASSERT(r->method_len > 0);
	LK_DASSERT(r->target_len > 0);
	lk_obuf_put(b, r->method, r->method_len);
	PUT_LIT(b, " ");
	lk_obuf_put(b, r->target, r->target_len);
	PUT_LIT(b, " HTTP/1.1\r\nHost: docker\r\n");
	put_kept(b, r->headers, r->n_headers, true);
	if (o->has_body_len)
		lk_http_write_header_u64(b, "Content-Length", o->body_len);
	else if (r->flags & LK_HTTP_F_CHUNKED)
		PUT_LIT(b, "Transfer-Encoding: chunked\r\n");
	else if (r->flags & LK_HTTP_F_HAS_CL)
		lk_http_write_header_u64(b, "Content-Length", (uint64_t)r->content_length);
	if (o->hijack)
		PUT_LIT(b, "Connection: Upgrade\r\nUpgrade: tcp\r\n");
	PUT_LIT(b, "\r\n");
	return b->overflow ? -ENOSPC : 0;
}

/* put_resp_framing writes the framing and connection fields of a final
 * (>= 200) response head. */
static void put_resp_framing(struct lk_obuf *b, const struct lk_http_resp *r,
			     const struct lk_proxy_resp_opts *o)
{
	/* RFC 9110 8.6: no Content-Length in a 204. */
	if ((r->flags & LK_HTTP_F_HAS_CL) && r->status != 204)
		lk_http_write_header_u64(b, "Content-Length", (uint64_t)r->content_length);
	for (size_t i = 0; i < r->n_headers && !o->dechunked && r->status != 204; i++) {
		const struct lk_http_header *h = &r->headers[i];

		if (lk_http_name_eq(h->name, h->name_len, "transfer-encoding"))
			put_field(b, h->name, h->name_len, h->value, h->value_len);
	}
	if (o->close_after || o->dechunked)
		PUT_LIT(b, "Connection: close\r\n");
	else if (o->keep_alive_10)
		PUT_LIT(b, "Connection: keep-alive\r\n");
}

int lk_proxy_write_resp_head(struct lk_obuf *b, const struct lk_http_resp *r,
			     const struct lk_proxy_resp_opts *o)
{
	char code[3];

	LK_ASSERT(r->status >= 100);
	LK_ASSERT(r->status <= 999);
	code[0] = (char)('0' + r->status / 100);
	code[1] = (char)('0' + r->status / 10 % 10);
	code[2] = (char)('0' + r->status % 10);
	PUT_LIT(b, "HTTP/1.1 ");
	lk_obuf_put(b, code, sizeof(code));
	PUT_LIT(b, " ");
	lk_obuf_put(b, r->reason, r->reason_len);
	PUT_LIT(b, "\r\n");
	put_kept(b, r->headers, r->n_headers, false);
	if (r->status == 101)
		PUT_LIT(b, "Connection: Upgrade\r\nUpgrade: tcp\r\n");
	else if (r->status >= 200)
		put_resp_framing(b, r, o);
	PUT_LIT(b, "\r\n");
	return b->overflow ? -ENOSPC : 0;
}

int lk_proxy_write_error(struct lk_obuf *b, int status, const char *message, bool close)
{
	static const char body_head[] = "{\"message\":", body_tail[] = "}\n";
	size_t msg_len = strlen(message);
	size_t str_len = lk_json_str_len(message, msg_len, lk_obuf_room(b));

	LK_ASSERT(status >= 400);
	LK_ASSERT(status <= 599);
	if (str_len > lk_obuf_room(b)) {
		b->overflow = true;
		return -ENOSPC;
	}
	lk_http_write_status(b, status);
	PUT_LIT(b, "Content-Type: application/json\r\n");
	lk_http_write_header_u64(b, "Content-Length",
				 sizeof(body_head) - 1 + str_len + sizeof(body_tail) - 1);
	if (close)
		PUT_LIT(b, "Connection: close\r\n");
	PUT_LIT(b, "\r\n");
	PUT_LIT(b, body_head);
	lk_json_put_str(b, message, msg_len);
	PUT_LIT(b, body_tail);
	return b->overflow ? -ENOSPC : 0;
}
