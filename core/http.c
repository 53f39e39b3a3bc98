/* core/http.c - HTTP/1.1 codec (see core/http.h).
 *
 * The head parsers are byte-at-a-time state machines (nginx's sw_* style) so
 * that a resumed call continues exactly where the previous one stopped: every
 * byte is classified once, limits trip on the first byte past them, and only a
 * just-completed field line is looked at again (once) to interpret the few
 * headers that decide framing. Header and trailer field lines share one
 * stepper, so trailers are validated exactly like headers. */
#include <sys/types.h>
#include <string.h>

#include "core/dbg.h"
#include "core/http.h"

LK_STATIC_ASSERT(LK_HTTP_HEAD_MAX <= UINT16_MAX, "name_len is a uint16_t");
LK_STATIC_ASSERT(LK_HTTP_LINE_MAX <= LK_HTTP_HEAD_MAX, "the request line is part of the head");
LK_STATIC_ASSERT(LK_HTTP_HEADERS_MAX <= UINT16_MAX, "n_headers is a uint16_t");
LK_STATIC_ASSERT(LK_HTTP_EMPTY_LINES_MAX < UINT8_MAX, "_n_empty is a uint8_t");

/* Byte classes (RFC 9110 5.6.2 tchar, 5.5 field-vchar/obs-text). */
#define CT_TCHAR 0x01u
#define CT_VCHAR 0x02u /* 0x21-0x7e */
#define CT_OBS 0x04u   /* 0x80-0xff */
#define CT_WS 0x08u    /* SP, HTAB */
#define CT_HEX 0x10u
#define CT_TV (CT_TCHAR | CT_VCHAR)

static const uint8_t ctype[256] = {
	['\t'] = CT_WS,
	[' '] = CT_WS,
	['!'] = CT_TV,
	['"'] = CT_VCHAR,
	['#' ... '\''] = CT_TV,
	['(' ... ')'] = CT_VCHAR,
	['*' ... '+'] = CT_TV,
	[','] = CT_VCHAR,
	['-' ... '.'] = CT_TV,
	['/'] = CT_VCHAR,
	['0' ... '9'] = CT_TV | CT_HEX,
	[':' ... '@'] = CT_VCHAR,
	['A' ... 'F'] = CT_TV | CT_HEX,
	['G' ... 'Z'] = CT_TV,
	['[' ... ']'] = CT_VCHAR,
	['^' ... '`'] = CT_TV,
	['a' ... 'f'] = CT_TV | CT_HEX,
	['g' ... 'z'] = CT_TV,
	['{'] = CT_VCHAR,
	['|'] = CT_TV,
	['}'] = CT_VCHAR,
	['~'] = CT_TV,
	[0x80 ... 0xff] = CT_OBS,
};

static inline bool is_tchar(unsigned char c)
{
	return (ctype[c] & CT_TCHAR) != 0;
}

static inline bool is_ws(unsigned char c)
{
	return (ctype[c] & CT_WS) != 0;
}

/* is_text: a non-whitespace byte allowed in a field value or reason phrase. */
static inline bool is_text(unsigned char c)
{
	return (ctype[c] & (CT_VCHAR | CT_OBS)) != 0;
}

/* is_target: a request-target byte. '#' is refused too: a fragment is never
 * sent on the wire, and dockerd would route "/x#y" differently from us. */
static inline bool is_target(unsigned char c)
{
	return (ctype[c] & CT_VCHAR) != 0 && c != '#';
}

static inline unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

bool lk_http_name_eq(const char *a, size_t alen, const char *lower_b)
{
	size_t i;

	for (i = 0; i < alen; i++) {
		if (lower_b[i] == '\0' ||
		    lower((unsigned char)a[i]) != lower((unsigned char)lower_b[i]))
			return false;
	}
	return lower_b[i] == '\0';
}

/* list_next yields the next non-empty element of the comma-separated list
 * v[0..n) starting at *pos, OWS-trimmed. Empty elements are skipped, as
 * RFC 9110 5.6.1 requires of recipients. */
static bool list_next(const char *v, size_t n, size_t *pos, const char **out_el, size_t *out_len)
{
	size_t i = *pos;

	while (i < n) {
		size_t s, e;

		while (i < n && is_ws((unsigned char)v[i]))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && is_ws((unsigned char)v[e - 1]))
			e--;
		if (i < n)
			i++; /* the comma */
		if (e > s) {
			*pos = i;
			*out_el = v + s;
			*out_len = e - s;
			return true;
		}
	}
	*pos = i;
	return false;
}

bool lk_http_token_list_has(const char *v, size_t len, const char *token)
{
	size_t pos = 0, el_len;
	const char *el;

	while (list_next(v, len, &pos, &el, &el_len)) {
		if (lk_http_name_eq(el, el_len, token))
			return true;
	}
	return false;
}

const struct lk_http_header *lk_http_find(const struct lk_http_header *h, size_t n,
					  const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (lk_http_name_eq(h[i].name, h[i].name_len, name))
			return &h[i];
	}
	return NULL;
}

/* ---- field lines (headers and trailers) -------------------------------- */

enum field_state {
	FS_START,  /* first byte of a field line, or of the blank line ending the section */
	FS_NAME,   /* inside the field name */
	FS_VALUE,  /* after ':' (OWS and value bytes) */
	FS_LF,     /* the line's CR was seen: LF must follow */
	FS_END_LF, /* the blank line's CR was seen */
};

enum field_event {
	FEV_ERR,   /* malformed; *why says how */
	FEV_NONE,  /* byte accepted, nothing to record */
	FEV_NAME,  /* first byte of a field name */
	FEV_COLON, /* the ':' ending the name */
	FEV_VALUE, /* a non-whitespace value byte */
	FEV_LINE,  /* LF ending a field line */
	FEV_END,   /* LF ending the section */
};

/* field_step advances the field-line machine *st by one byte. CRLF is
 * required everywhere and obs-fold is refused (RFC 9112 5.2 allows a server to
 * reject it), since a relay and dockerd could otherwise split lines apart. */
static enum field_event field_step(uint8_t *st, unsigned char c, const char **why)
{
	switch ((enum field_state)*st) {
	case FS_START:
		if (is_tchar(c)) {
			*st = FS_NAME;
			return FEV_NAME;
		}
		if (c == '\r') {
			*st = FS_END_LF;
			return FEV_NONE;
		}
		*why = is_ws(c) ? "obs-fold" : c == '\n' ? "bare LF" : "invalid header name";
		return FEV_ERR;
	case FS_NAME:
		if (is_tchar(c))
			return FEV_NONE;
		if (c == ':') {
			*st = FS_VALUE;
			return FEV_COLON;
		}
		*why = is_ws(c) ? "whitespace before colon" : "invalid header name";
		return FEV_ERR;
	case FS_VALUE:
		if (is_text(c))
			return FEV_VALUE;
		if (is_ws(c))
			return FEV_NONE;
		if (c == '\r') {
			*st = FS_LF;
			return FEV_NONE;
		}
		*why = c == '\n' ? "bare LF" : "invalid header value";
		return FEV_ERR;
	case FS_LF:
	case FS_END_LF:
		if (c != '\n') {
			*why = "bare CR";
			return FEV_ERR;
		}
		if (*st == FS_END_LF)
			return FEV_END;
		*st = FS_START;
		return FEV_LINE;
	}
	LK_UNREACHABLE();
}

/* ---- head parser -------------------------------------------------------- */

enum parse_state {
	P_INIT,            /* no byte scanned yet */
	P_RL_START,        /* start of the request line (or of a skipped empty line) */
	P_RL_EMPTY_LF,     /* CR of a leading empty line seen */
	P_RL_METHOD,
	P_RL_TARGET_START, /* first byte after the method's SP */
	P_RL_TARGET,       /* origin-form target */
	P_RL_STAR,         /* asterisk-form target */
	P_RL_VERSION,      /* "HTTP/1.x\r\n", _idx bytes matched */
	P_SL_VERSION,      /* "HTTP/1.x ", _idx bytes matched */
	P_SL_CODE,         /* status code, _idx digits read */
	P_SL_AFTER_CODE,
	P_SL_REASON,
	P_SL_LF,
	P_FIELDS,          /* header section, sub-state in _fstate */
	P_DONE,
	P_ERROR,
};

LK_STATIC_ASSERT(P_ERROR <= UINT8_MAX, "_state is a uint8_t");

/* Private _seen bits. */
#define SEEN_HOST (1u << 0)
#define SEEN_QUERY (1u << 1)
#define SEEN_CONN_CLOSE (1u << 2)
#define SEEN_CONN_KEEPALIVE (1u << 3)

enum hdr_kind { HK_OTHER, HK_CL, HK_TE, HK_CONNECTION, HK_HOST, HK_UPGRADE, HK_EXPECT };

void lk_http_parser_init(struct lk_http_parser *p, uint64_t body_max)
{
	*p = (struct lk_http_parser){ ._state = P_INIT, ._cl = -1, .body_max = body_max };
}

/* fail records a parse error and makes it sticky. Returns -1 for the steppers. */
static int fail(struct lk_http_parser *p, uint16_t status, const char *why)
{
	p->status = p->_resp ? 502 : status;
	p->reason = why;
	p->_state = P_ERROR;
	return -1;
}

static enum lk_http_method classify_method(const char *m, size_t n)
{
	static const struct {
		const char *name;
		enum lk_http_method meth;
	} tab[] = {
		{ "GET", LK_HTTP_GET },	      { "HEAD", LK_HTTP_HEAD },
		{ "POST", LK_HTTP_POST },     { "PUT", LK_HTTP_PUT },
		{ "DELETE", LK_HTTP_DELETE }, { "OPTIONS", LK_HTTP_OPTIONS },
		{ "PATCH", LK_HTTP_PATCH },
	};

	/* Methods are case-sensitive (RFC 9110 9.1): "get" is some other method. */
	for (size_t i = 0; i < LK_ARRAY_SIZE(tab); i++) {
		if (strlen(tab[i].name) == n && memcmp(tab[i].name, m, n) == 0)
			return tab[i].meth;
	}
	return LK_HTTP_OTHER;
}

/* end_method finishes the method token at the SP at off. CONNECT is answered
 * 501 rather than 400: the request is well-formed, we just never tunnel
 * through the Docker socket, and refusing here keeps the answer independent of
 * the authority-form target that would follow. */
static int end_method(struct lk_http_parser *p, const char *buf, uint32_t off,
		      struct lk_http_req *r)
{
	r->method = buf + p->_line;
	r->method_len = (uint16_t)(off - p->_line);
	r->meth = classify_method(r->method, r->method_len);
	if (r->meth == LK_HTTP_OTHER && r->method_len == 7 && memcmp(r->method, "CONNECT", 7) == 0)
		return fail(p, 501, "CONNECT not supported");
	p->_state = P_RL_TARGET_START;
	return 0;
}

static int end_target(struct lk_http_parser *p, const char *buf, uint32_t off,
		      struct lk_http_req *r)
{
	r->target = buf + p->_mark;
	r->target_len = off - p->_mark;
	if (!(p->_seen & SEEN_QUERY))
		r->path_len = r->target_len;
	p->_state = P_RL_VERSION;
	p->_idx = 0;
	return 0;
}

/* match_version matches "HTTP/1.0" or "HTTP/1.1" one byte at a time (_idx
 * bytes done). Anything else, HTTP/2.0, HTTP/1.2 or lower case, is refused:
 * this proxy only speaks 1.x to dockerd. */
static int match_version(struct lk_http_parser *p, unsigned char c)
{
	static const char lit[] = "HTTP/1.";

	LK_DASSERT(p->_idx < 8);
	if (p->_idx < sizeof(lit) - 1) {
		if (c != (unsigned char)lit[p->_idx])
			return fail(p, 400, "unsupported HTTP version");
	} else {
		if (c != '0' && c != '1')
			return fail(p, 400, "unsupported HTTP version");
		p->_minor = (uint8_t)(c - '0');
	}
	p->_idx++;
	return 0;
}

static int step_version(struct lk_http_parser *p, unsigned char c, struct lk_http_req *r)
{
	if (p->_idx < 8)
		return match_version(p, c);
	if (p->_idx == 8) {
		if (c != '\r')
			return fail(p, 400, c == '\n' ? "bare LF" : "unsupported HTTP version");
		p->_idx++;
		return 0;
	}
	if (c != '\n')
		return fail(p, 400, "bare CR");
	r->minor = p->_minor;
	p->_state = P_FIELDS;
	p->_fstate = FS_START;
	return 0;
}

/* step_request_line consumes byte c at off of the request line. The line limit
 * counts from the line's first byte, so it trips before the CRLF arrives. */
static int step_request_line(struct lk_http_parser *p, const char *buf, uint32_t off,
			     unsigned char c, struct lk_http_req *r)
{
	if (off - p->_line >= LK_HTTP_LINE_MAX)
		return fail(p, 414, "request line too long");
	switch ((enum parse_state)p->_state) {
	case P_RL_START:
		if (is_tchar(c)) {
			p->_state = P_RL_METHOD;
			return 0;
		}
		if (c == '\r' && p->_n_empty < LK_HTTP_EMPTY_LINES_MAX) {
			p->_state = P_RL_EMPTY_LF;
			return 0;
		}
		return fail(p, 400, c == '\r' ? "too many empty lines" : "invalid method");
	case P_RL_EMPTY_LF:
		if (c != '\n')
			return fail(p, 400, "bare CR");
		p->_n_empty++;
		p->_line = off + 1;
		p->_state = P_RL_START;
		return 0;
	case P_RL_METHOD:
		if (is_tchar(c))
			return 0;
		if (c != ' ')
			return fail(p, 400, "invalid method");
		return end_method(p, buf, off, r);
	case P_RL_TARGET_START:
		p->_mark = off;
		if (c == '/') {
			p->_state = P_RL_TARGET;
			return 0;
		}
		if (c == '*' && r->meth == LK_HTTP_OPTIONS) {
			p->_state = P_RL_STAR;
			return 0;
		}
		return fail(p, 400, "request target not in origin-form");
	case P_RL_TARGET:
		if (c == ' ')
			return end_target(p, buf, off, r);
		if (!is_target(c))
			return fail(p, 400, "invalid byte in request target");
		if (c == '?' && !(p->_seen & SEEN_QUERY)) {
			r->path_len = off - p->_mark;
			p->_seen |= SEEN_QUERY;
		}
		return 0;
	case P_RL_STAR:
		if (c != ' ')
			return fail(p, 400, "request target not in origin-form");
		return end_target(p, buf, off, r);
	case P_RL_VERSION:
		return step_version(p, c, r);
	default:
		LK_UNREACHABLE();
	}
}

/* step_status_line consumes byte c at off of "HTTP/1.x SP 3DIGIT [SP reason]
 * CRLF". A missing SP before an empty reason is tolerated: servers send it. */
static int step_status_line(struct lk_http_parser *p, const char *buf, uint32_t off,
			    unsigned char c, struct lk_http_resp *r)
{
	if (off - p->_line >= LK_HTTP_LINE_MAX)
		return fail(p, 502, "status line too long");
	switch ((enum parse_state)p->_state) {
	case P_SL_VERSION:
		if (p->_idx < 8)
			return match_version(p, c);
		if (c != ' ')
			return fail(p, 502, "invalid status line");
		r->minor = p->_minor;
		p->_state = P_SL_CODE;
		p->_idx = 0;
		return 0;
	case P_SL_CODE:
		if (c < '0' || c > '9')
			return fail(p, 502, "invalid status code");
		r->status = r->status * 10 + (c - '0');
		if (++p->_idx < 3)
			return 0;
		if (r->status < 100 || r->status > 599)
			return fail(p, 502, "invalid status code");
		p->_state = P_SL_AFTER_CODE;
		return 0;
	case P_SL_AFTER_CODE:
		if (c == ' ') {
			p->_mark = off + 1;
			p->_state = P_SL_REASON;
			return 0;
		}
		if (c != '\r')
			return fail(p, 502, "invalid status line");
		/* "HTTP/1.1 200\r\n": an empty reason */
		r->reason = buf + off;
		r->reason_len = 0;
		p->_state = P_SL_LF;
		return 0;
	case P_SL_REASON:
		if (c == '\r') {
			r->reason = buf + p->_mark;
			r->reason_len = off - p->_mark;
			p->_state = P_SL_LF;
			return 0;
		}
		if (!is_text(c) && !is_ws(c))
			return fail(p, 502, c == '\n' ? "bare LF" : "invalid reason phrase");
		return 0;
	case P_SL_LF:
		if (c != '\n')
			return fail(p, 502, "bare CR");
		p->_state = P_FIELDS;
		p->_fstate = FS_START;
		return 0;
	default:
		LK_UNREACHABLE();
	}
}

static enum hdr_kind classify_header(const char *n, size_t len)
{
	switch (len) {
	case 4:
		return lk_http_name_eq(n, len, "host") ? HK_HOST : HK_OTHER;
	case 6:
		return lk_http_name_eq(n, len, "expect") ? HK_EXPECT : HK_OTHER;
	case 7:
		return lk_http_name_eq(n, len, "upgrade") ? HK_UPGRADE : HK_OTHER;
	case 10:
		return lk_http_name_eq(n, len, "connection") ? HK_CONNECTION : HK_OTHER;
	case 14:
		return lk_http_name_eq(n, len, "content-length") ? HK_CL : HK_OTHER;
	case 17:
		return lk_http_name_eq(n, len, "transfer-encoding") ? HK_TE : HK_OTHER;
	default:
		return HK_OTHER;
	}
}

/* parse_cl parses a Content-Length value: 1*DIGIT, or a comma list of equal
 * ones (RFC 9110 8.6 lets a recipient collapse "5, 5"). No sign, no empty
 * element, no value above LK_HTTP_LENGTH_MAX. Returns the value or -1. */
static int64_t parse_cl(const char *v, size_t n)
{
	int64_t val = -1;
	size_t i = 0;

	for (;;) {
		uint64_t x = 0;
		size_t start;

		while (i < n && is_ws((unsigned char)v[i]))
			i++;
		for (start = i; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
			uint64_t d = (uint64_t)(v[i] - '0');

			if (x > (LK_HTTP_LENGTH_MAX - d) / 10)
				return -1;
			x = x * 10 + d;
		}
		if (i == start)
			return -1;
		while (i < n && is_ws((unsigned char)v[i]))
			i++;
		if (val >= 0 && (uint64_t)val != x)
			return -1;
		val = (int64_t)x;
		if (i == n)
			return val;
		if (v[i] != ',')
			return -1;
		i++;
	}
}

static int apply_cl(struct lk_http_parser *p, const char *v, size_t n)
{
	int64_t cl = parse_cl(v, n);

	if (cl < 0)
		return fail(p, 400, "invalid Content-Length");
	if (p->_cl >= 0 && p->_cl != cl)
		return fail(p, 400, "conflicting Content-Length");
	p->_cl = cl;
	p->_flags |= LK_HTTP_F_HAS_CL;
	return 0;
}

/* apply_te: a request may only say exactly "chunked", once, because any other
 * coding list is where front and back ends disagree on framing (RFC 9112 6.1
 * lets a server answer 501/400). A response is framed by its final coding:
 * chunked if that is "chunked", else read until close. A 1.0 message with
 * Transfer-Encoding has faulty framing (RFC 9112 6.1) either way. */
static int apply_te(struct lk_http_parser *p, const char *v, size_t n)
{
	size_t pos = 0, el_len = 0;
	const char *el = NULL;

	if (p->_minor == 0)
		return fail(p, 400, "Transfer-Encoding in HTTP/1.0");
	if (!p->_resp) {
		if (p->_flags & LK_HTTP_F_TE)
			return fail(p, 400, "duplicate Transfer-Encoding");
		if (!lk_http_name_eq(v, n, "chunked"))
			return fail(p, 400, "unsupported Transfer-Encoding");
		p->_flags |= LK_HTTP_F_TE | LK_HTTP_F_CHUNKED;
		return 0;
	}
	p->_flags |= LK_HTTP_F_TE;
	while (list_next(v, n, &pos, &el, &el_len)) {
		/* keep the last element */
	}
	if (el != NULL && lk_http_name_eq(el, el_len, "chunked"))
		p->_flags |= LK_HTTP_F_CHUNKED;
	else
		p->_flags &= ~LK_HTTP_F_CHUNKED;
	return 0;
}

static int apply_connection(struct lk_http_parser *p, const char *v, size_t n)
{
	size_t pos = 0, el_len;
	const char *el;

	while (list_next(v, n, &pos, &el, &el_len)) {
		for (size_t i = 0; i < el_len; i++) {
			if (!is_tchar((unsigned char)el[i]))
				return fail(p, 400, "invalid Connection token");
		}
		if (lk_http_name_eq(el, el_len, "close"))
			p->_seen |= SEEN_CONN_CLOSE;
		else if (lk_http_name_eq(el, el_len, "keep-alive"))
			p->_seen |= SEEN_CONN_KEEPALIVE;
		else if (lk_http_name_eq(el, el_len, "upgrade"))
			p->_flags |= LK_HTTP_F_CONN_UPGRADE;
	}
	return 0;
}

/* apply_field interprets the headers that decide framing and connection
 * handling; all others are only validated and stored. */
static int apply_field(struct lk_http_parser *p, const struct lk_http_header *h)
{
	switch (classify_header(h->name, h->name_len)) {
	case HK_CL:
		return apply_cl(p, h->value, h->value_len);
	case HK_TE:
		return apply_te(p, h->value, h->value_len);
	case HK_CONNECTION:
		return apply_connection(p, h->value, h->value_len);
	case HK_HOST:
		/* Two Hosts make the authority ambiguous (RFC 9112 3.2). */
		if (!p->_resp && (p->_seen & SEEN_HOST))
			return fail(p, 400, "duplicate Host");
		p->_seen |= SEEN_HOST;
		return 0;
	case HK_UPGRADE:
		p->_flags |= LK_HTTP_F_UPGRADE;
		return 0;
	case HK_EXPECT:
		if (lk_http_name_eq(h->value, h->value_len, "100-continue"))
			p->_flags |= LK_HTTP_F_EXPECT_CONTINUE;
		return 0;
	case HK_OTHER:
		return 0;
	}
	LK_UNREACHABLE();
}

/* step_field consumes byte c at off of the header section. Returns 0 to go on,
 * 1 at the end of the head, -1 on error. */
static int step_field(struct lk_http_parser *p, const char *buf, uint32_t off, unsigned char c,
		      struct lk_http_header *hdrs, uint16_t *n)
{
	const char *why = "invalid header";
	struct lk_http_header *h;

	switch (field_step(&p->_fstate, c, &why)) {
	case FEV_ERR:
		return fail(p, 400, why);
	case FEV_NONE:
		return 0;
	case FEV_NAME:
		if (*n == LK_HTTP_HEADERS_MAX)
			return fail(p, 431, "too many header fields");
		p->_line = off;
		return 0;
	case FEV_COLON:
		p->_name_len = (uint16_t)(off - p->_line);
		p->_vstart = UINT32_MAX;
		return 0;
	case FEV_VALUE:
		if (p->_vstart == UINT32_MAX)
			p->_vstart = off;
		p->_vend = off + 1;
		return 0;
	case FEV_LINE:
		if (p->_vstart == UINT32_MAX)
			p->_vstart = p->_vend = off - 1; /* empty: point at the CR */
		h = &hdrs[*n];
		*h = (struct lk_http_header){ .name = buf + p->_line,
					      .name_len = p->_name_len,
					      .value = buf + p->_vstart,
					      .value_len = p->_vend - p->_vstart };
		(*n)++;
		return apply_field(p, h);
	case FEV_END:
		return 1;
	}
	LK_UNREACHABLE();
}

/* conn_flags derives keep-alive from the protocol version and the Connection
 * tokens (RFC 9112 9.3): "close" always wins. */
static uint32_t conn_flags(const struct lk_http_parser *p)
{
	if (p->_seen & SEEN_CONN_CLOSE)
		return LK_HTTP_F_CLOSE;
	if (p->_minor == 0)
		return (p->_seen & SEEN_CONN_KEEPALIVE) ? LK_HTTP_F_KEEPALIVE_10 : LK_HTTP_F_CLOSE;
	return 0;
}

/* check_head runs the checks that need the whole head. */
static int check_head(struct lk_http_parser *p)
{
	if (!p->_resp && p->_minor == 1 && !(p->_seen & SEEN_HOST))
		return fail(p, 400, "missing Host");
	/* Either header could frame the body: the classic smuggling pair. */
	if ((p->_flags & LK_HTTP_F_TE) && (p->_flags & LK_HTTP_F_HAS_CL))
		return fail(p, 400, "both Transfer-Encoding and Content-Length");
	if (p->body_max != 0 && p->_cl > 0 && (uint64_t)p->_cl > p->body_max)
		return fail(p, 413, "body too large");
	p->_flags |= conn_flags(p);
	p->_state = P_DONE;
	return 0;
}

/* parse_head runs the byte loop shared by both parsers from the resume point.
 * Exactly one of rq and rs is set. */
static ssize_t parse_head(struct lk_http_parser *p, const char *buf, size_t len,
			  struct lk_http_req *rq, struct lk_http_resp *rs)
{
	struct lk_http_header *hdrs = rq != NULL ? rq->headers : rs->headers;
	uint16_t *n = rq != NULL ? &rq->n_headers : &rs->n_headers;
	uint32_t off = p->_off;
	uint32_t lim = (uint32_t)LK_MIN(len, (size_t)LK_HTTP_HEAD_MAX);
	int rc = 0;

	while (rc == 0 && off < len) {
		/* Runs of name and value bytes change no state but the value's
		 * extent: take them in a tight loop (the same classes and effects
		 * as field_step's FS_NAME and FS_VALUE cases), then let the byte
		 * that ends the run take the general path. */
		if (p->_state == P_FIELDS && p->_fstate == FS_VALUE) {
			for (; off < lim; off++) {
				unsigned char v = (unsigned char)buf[off];
				if (is_text(v)) {
					if (p->_vstart == UINT32_MAX)
						p->_vstart = off;
					p->_vend = off + 1;
				} else if (!is_ws(v)) {
					break;
				}
			}
		} else if (p->_state == P_FIELDS && p->_fstate == FS_NAME) {
			while (off < lim && is_tchar((unsigned char)buf[off]))
				off++;
		}
		if (off >= len)
			break;
		unsigned char c = (unsigned char)buf[off];

		if (off >= LK_HTTP_HEAD_MAX) {
			rc = fail(p, 431, "head too large");
			break;
		}
		if (p->_state == P_FIELDS)
			rc = step_field(p, buf, off, c, hdrs, n);
		else if (rq != NULL)
			rc = step_request_line(p, buf, off, c, rq);
		else
			rc = step_status_line(p, buf, off, c, rs);
		off++;
	}
	p->_off = off;
	if (rc == 0)
		return LK_AGAIN;
	if (rc < 0 || check_head(p) < 0)
		return LK_HTTP_EPARSE;
	LK_DASSERT(p->_state == P_DONE);
	return off;
}

/* begin validates the call against the resume state. Returns true when the
 * result is already known (done or failed). */
static bool begin(struct lk_http_parser *p, const char *buf, size_t len, bool resp)
{
	if (p->_state == P_INIT) {
		p->_buf = buf;
		p->_resp = resp;
		p->_state = resp ? P_SL_VERSION : P_RL_START;
	}
	/* Caller contract, not peer data: the buffer grows in place. */
	LK_ASSERT(p->_resp == resp);
	LK_ASSERT(p->_buf == buf);
	LK_ASSERT(len >= p->_off);
	return p->_state == P_DONE || p->_state == P_ERROR;
}

ssize_t lk_http_parse_request(struct lk_http_parser *p, const char *buf, size_t len,
			      struct lk_http_req *out)
{
	ssize_t rc;

	if (p->_state == P_INIT) {
		out->method = out->target = NULL;
		out->method_len = 0;
		out->target_len = out->path_len = 0;
		out->meth = LK_HTTP_OTHER;
		out->minor = 0;
		out->n_headers = 0;
	}
	if (begin(p, buf, len, false))
		return p->_state == P_DONE ? (ssize_t)p->_off : LK_HTTP_EPARSE;
	rc = parse_head(p, buf, len, out, NULL);
	out->flags = p->_flags;
	out->content_length = p->_cl;
	out->head_len = rc > 0 ? (uint32_t)rc : 0;
	return rc;
}

ssize_t lk_http_parse_response(struct lk_http_parser *p, const char *buf, size_t len,
			       struct lk_http_resp *out)
{
	ssize_t rc;

	if (p->_state == P_INIT) {
		out->status = 0;
		out->minor = 0;
		out->reason = NULL;
		out->reason_len = 0;
		out->n_headers = 0;
	}
	if (begin(p, buf, len, true))
		return p->_state == P_DONE ? (ssize_t)p->_off : LK_HTTP_EPARSE;
	rc = parse_head(p, buf, len, NULL, out);
	out->flags = p->_flags;
	out->content_length = p->_cl;
	out->head_len = rc > 0 ? (uint32_t)rc : 0;
	return rc;
}

enum lk_http_body lk_http_req_body(const struct lk_http_req *r)
{
	if (r->flags & LK_HTTP_F_CHUNKED)
		return LK_HTTP_BODY_CHUNKED;
	if ((r->flags & LK_HTTP_F_HAS_CL) && r->content_length > 0)
		return LK_HTTP_BODY_LENGTH;
	return LK_HTTP_BODY_NONE;
}

enum lk_http_body lk_http_resp_body(const struct lk_http_resp *r, bool head_request)
{
	/* RFC 9112 6.3 items 1-2: these never carry a body whatever they say. */
	if (head_request || r->status < 200 || r->status == 204 || r->status == 304)
		return LK_HTTP_BODY_NONE;
	if (r->flags & LK_HTTP_F_CHUNKED)
		return LK_HTTP_BODY_CHUNKED;
	if (r->flags & LK_HTTP_F_HAS_CL)
		return r->content_length > 0 ? LK_HTTP_BODY_LENGTH : LK_HTTP_BODY_NONE;
	return LK_HTTP_BODY_EOF;
}

/* ---- chunked framing ---------------------------------------------------- */

enum chunked_state {
	C_SIZE,     /* chunk-size hex digits */
	C_SIZE_BWS, /* whitespace after the size: only ';' may follow */
	C_EXT,      /* chunk extensions, up to CR */
	C_SIZE_LF,  /* CR of the size line seen */
	C_DATA,     /* _left data bytes to go */
	C_DATA_CR,  /* CRLF after the data */
	C_DATA_LF,
	C_TRAILER,  /* trailer section, sub-state in _fstate */
	C_DONE,
	C_ERROR,
};

LK_STATIC_ASSERT(C_ERROR <= UINT8_MAX, "_state is a uint8_t");

void lk_http_chunked_init(struct lk_http_chunked *c, uint64_t body_max)
{
	*c = (struct lk_http_chunked){ ._state = C_SIZE, .body_max = body_max };
}

static int cfail(struct lk_http_chunked *c, uint16_t status, const char *why)
{
	c->status = status;
	c->reason = why;
	c->_state = C_ERROR;
	return -1;
}

/* add_digit appends one hex digit to the chunk size. The limits are checked
 * per digit, so an oversized chunk fails before its size line ends. */
static int add_digit(struct lk_http_chunked *c, unsigned char ch)
{
	unsigned v = ch <= '9' ? (unsigned)(ch - '0') : (unsigned)(lower(ch) - 'a' + 10);

	/* 16 digits cannot overflow 64 bits; more are refused, leading zeros too. */
	if (++c->_n_digits > 16)
		return cfail(c, 400, "chunk size too long");
	c->_size = (c->_size << 4) | v;
	LK_DASSERT(c->body_max == 0 || c->_total <= c->body_max);
	LK_DASSERT(c->_total <= LK_HTTP_LENGTH_MAX);
	if (c->body_max != 0 && c->_size > c->body_max - c->_total)
		return cfail(c, 413, "body too large");
	if (c->_size > LK_HTTP_LENGTH_MAX - c->_total)
		return cfail(c, 400, "chunk size too large");
	return 0;
}

/* size_step consumes one byte of a chunk-size line:
 * 1*HEXDIG [ BWS ";" ext ] CRLF, at most LK_HTTP_CHUNK_LINE_MAX bytes. */
static int size_step(struct lk_http_chunked *c, unsigned char ch)
{
	if (++c->_line_len > LK_HTTP_CHUNK_LINE_MAX)
		return cfail(c, 400, "chunk size line too long");
	switch ((enum chunked_state)c->_state) {
	case C_SIZE:
		if (ctype[ch] & CT_HEX)
			return add_digit(c, ch);
		if (c->_n_digits == 0)
			break;
		if (ch == ';')
			c->_state = C_EXT;
		else if (is_ws(ch))
			c->_state = C_SIZE_BWS;
		else if (ch == '\r')
			c->_state = C_SIZE_LF;
		else
			break;
		return 0;
	case C_SIZE_BWS:
		if (ch == ';')
			c->_state = C_EXT;
		else if (!is_ws(ch))
			break;
		return 0;
	case C_EXT:
		/* Extensions are ignored; only their bytes are checked. */
		if (ch == '\r')
			c->_state = C_SIZE_LF;
		else if (!is_text(ch) && !is_ws(ch))
			break;
		return 0;
	case C_SIZE_LF:
		if (ch != '\n')
			return cfail(c, 400, "bare CR");
		c->_total += c->_size;
		c->_left = c->_size;
		c->_state = c->_size == 0 ? C_TRAILER : C_DATA;
		c->_fstate = FS_START;
		return 0;
	default:
		LK_UNREACHABLE();
	}
	return cfail(c, 400, ch == '\n' ? "bare LF" : "invalid chunk size line");
}

/* data_end_step consumes the CRLF that must follow chunk data. */
static int data_end_step(struct lk_http_chunked *c, unsigned char ch)
{
	if (c->_state == C_DATA_CR) {
		if (ch != '\r')
			return cfail(c, 400, "chunk data not followed by CRLF");
		c->_state = C_DATA_LF;
		return 0;
	}
	if (ch != '\n')
		return cfail(c, 400, "bare CR");
	c->_state = C_SIZE;
	c->_size = 0;
	c->_n_digits = 0;
	c->_line_len = 0;
	return 0;
}

/* trailer_step consumes one byte of the trailer section. Returns 1 at its end. */
static int trailer_step(struct lk_http_chunked *c, unsigned char ch)
{
	const char *why = "invalid trailer";

	if (++c->_trailer_len > LK_HTTP_HEAD_MAX)
		return cfail(c, 431, "trailer section too large");
	switch (field_step(&c->_fstate, ch, &why)) {
	case FEV_ERR:
		return cfail(c, 400, why);
	case FEV_NAME:
		if (++c->_n_trailers > LK_HTTP_HEADERS_MAX)
			return cfail(c, 431, "too many trailer fields");
		return 0;
	case FEV_END:
		c->_state = C_DONE;
		return 1;
	default:
		return 0;
	}
}

/* chunked_run walks src[0..len). When dst is set, data bytes are moved to
 * dst + *io_dlen (dst == src for in-place decoding: the write position never
 * passes the read position, since each chunk's size line precedes its data).
 * Returns the bytes consumed or LK_HTTP_EPARSE. */
static ssize_t chunked_run(struct lk_http_chunked *c, const char *src, size_t len, char *dst,
			   size_t *io_dlen)
{
	size_t i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)src[i];
		int rc;

		if (c->_state == C_DATA) {
			size_t n = (size_t)LK_MIN(c->_left, (uint64_t)(len - i));

			/* C_DATA is only entered with a non-zero size, left on zero */
			LK_DASSERT(n != 0);
			if (dst != NULL)
				memmove(dst + *io_dlen, src + i, n);
			*io_dlen += n;
			i += n;
			c->_left -= n;
			if (c->_left == 0)
				c->_state = C_DATA_CR;
			continue;
		}
		if (c->_state == C_DATA_CR || c->_state == C_DATA_LF)
			rc = data_end_step(c, ch);
		else if (c->_state == C_TRAILER)
			rc = trailer_step(c, ch);
		else
			rc = size_step(c, ch);
		i++;
		if (rc < 0)
			return LK_HTTP_EPARSE;
		if (rc > 0)
			break;
	}
	return (ssize_t)i;
}

ssize_t lk_http_chunked_scan(struct lk_http_chunked *c, const char *buf, size_t len,
			     bool *out_done)
{
	size_t dlen = 0;
	ssize_t n;

	*out_done = false;
	if (c->_state == C_ERROR)
		return LK_HTTP_EPARSE;
	if (c->_state == C_DONE) {
		*out_done = true;
		return 0;
	}
	n = chunked_run(c, buf, len, NULL, &dlen);
	if (n >= 0)
		*out_done = c->_state == C_DONE;
	return n;
}

ssize_t lk_http_chunked_decode(struct lk_http_chunked *c, char *buf, size_t *len)
{
	size_t dlen = 0, left;
	ssize_t n;

	if (c->_state == C_ERROR)
		return LK_HTTP_EPARSE;
	if (c->_state == C_DONE) {
		left = *len;
		*len = 0;
		return (ssize_t)left;
	}
	n = chunked_run(c, buf, *len, buf, &dlen);
	if (n < 0 || c->_state != C_DONE) {
		*len = dlen;
		return n < 0 ? LK_HTTP_EPARSE : LK_AGAIN;
	}
	LK_DASSERT(dlen <= (size_t)n);
	left = *len - (size_t)n;
	memmove(buf + dlen, buf + n, left);
	*len = dlen;
	return (ssize_t)left;
}

/* ---- writer ------------------------------------------------------------- */

const char *lk_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* reserve makes a writer all-or-nothing per line: it checks room for the whole
 * line up front, so an overflowing line leaves no partial bytes behind. */
static bool reserve(struct lk_obuf *b, size_t n)
{
	if (!b->overflow && n <= lk_obuf_room(b))
		return true;
	b->overflow = true;
	return false;
}

void lk_http_write_status(struct lk_obuf *b, int status)
{
	const char *reason = lk_http_reason(status);
	size_t reason_len = strlen(reason);
	char code[3];

	LK_ASSERT(status >= 100 && status <= 999);
	code[0] = (char)('0' + status / 100);
	code[1] = (char)('0' + status / 10 % 10);
	code[2] = (char)('0' + status % 10);
	if (!reserve(b, sizeof("HTTP/1.1 ") - 1 + sizeof(code) + 1 + reason_len + 2))
		return;
	lk_obuf_put(b, "HTTP/1.1 ", sizeof("HTTP/1.1 ") - 1);
	lk_obuf_put(b, code, sizeof(code));
	lk_obuf_put(b, " ", 1);
	lk_obuf_put(b, reason, reason_len);
	lk_obuf_put(b, "\r\n", 2);
}

void lk_http_write_header(struct lk_obuf *b, const char *name, const char *value,
			  size_t value_len)
{
	size_t name_len = strlen(name);
	bool ok = name_len != 0;

	/* We never emit what our own parser would refuse: that is what keeps a
	 * peer-supplied value from smuggling a CRLF into the head. */
	for (size_t i = 0; ok && i < name_len; i++)
		ok = is_tchar((unsigned char)name[i]);
	for (size_t i = 0; ok && i < value_len; i++)
		ok = is_text((unsigned char)value[i]) || is_ws((unsigned char)value[i]);
	if (!ok) {
		b->overflow = true;
		return;
	}
	if (!reserve(b, name_len + 2 + value_len + 2))
		return;
	lk_obuf_put(b, name, name_len);
	lk_obuf_put(b, ": ", 2);
	lk_obuf_put(b, value, value_len);
	lk_obuf_put(b, "\r\n", 2);
}

void lk_http_write_header_u64(struct lk_obuf *b, const char *name, uint64_t v)
{
	char tmp[20];
	struct lk_obuf t;

	lk_obuf_init(&t, tmp, sizeof(tmp));
	lk_obuf_put_u64(&t, v);
	lk_http_write_header(b, name, tmp, t.len);
}

void lk_http_write_chunk_head(struct lk_obuf *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[sizeof(size_t) * 2 + 2];
	size_t i = sizeof(tmp);

	if (n == 0)
		return;
	tmp[--i] = '\n';
	tmp[--i] = '\r';
	for (; n != 0; n >>= 4)
		tmp[--i] = digits[n & 0xf];
	if (reserve(b, sizeof(tmp) - i))
		lk_obuf_put(b, tmp + i, sizeof(tmp) - i);
}

void lk_http_write_last_chunk(struct lk_obuf *b)
{
	lk_obuf_put(b, "0\r\n\r\n", 5);
}
