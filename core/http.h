/* core/http.h - HTTP/1.1 codec: incremental head parser, chunked framing,
 * response writer.
 *
 * This is the security boundary of the proxy in front of the Docker socket, so
 * it is strict rather than tolerant: anything two implementations could frame
 * differently (bare LF, obs-fold, CL+TE, odd Transfer-Encoding lists,
 * absolute-form targets) is rejected with a status code instead of guessed at.
 * Nothing here allocates, logs or asserts on peer bytes; every input size is
 * bounded by the LK_HTTP_*_MAX limits below.
 *
 * Parsed heads are views (pointer + length) into the caller's buffer, valid
 * for as long as that buffer is. The parsers resume where they stopped: the
 * caller appends bytes to one contiguous buffer that does not move and calls
 * again with the same buf and a larger len (nginx r->state, picohttpparser
 * last_len, but without rescanning the already-validated prefix). */
#ifndef LK_CORE_HTTP_H
#define LK_CORE_HTTP_H

#include <sys/types.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Limits. Each is inclusive: a head of exactly LK_HTTP_HEAD_MAX bytes parses. */
#define LK_HTTP_HEAD_MAX (16 * 1024)  /* head bytes incl. skipped CRLFs and final CRLFCRLF -> 431 */
#define LK_HTTP_LINE_MAX (8 * 1024)   /* request line incl. its CRLF -> 414 */
#define LK_HTTP_HEADERS_MAX 100       /* header fields per head, trailer fields per body -> 431 */
#define LK_HTTP_EMPTY_LINES_MAX 4     /* CRLFs skipped before a request line (RFC 9112 2.2) */
#define LK_HTTP_CHUNK_LINE_MAX 4096   /* chunk-size line incl. extensions and CRLF -> 400 */
#define LK_HTTP_LENGTH_MAX (1ull << 62) /* largest Content-Length / chunked body total -> 400 */

/* LK_HTTP_EPARSE is the parse-error result; the parser's status field holds
 * the HTTP status to answer with and reason a short static description. */
#define LK_HTTP_EPARSE (-EPROTO)

/* Message flags (struct lk_http_req/lk_http_resp .flags). */
#define LK_HTTP_F_CHUNKED (1u << 0)         /* body is chunked */
#define LK_HTTP_F_CLOSE (1u << 1)           /* Connection: close, or 1.0 without keep-alive */
#define LK_HTTP_F_KEEPALIVE_10 (1u << 2)    /* HTTP/1.0 with Connection: keep-alive */
#define LK_HTTP_F_UPGRADE (1u << 3)         /* an Upgrade header is present */
#define LK_HTTP_F_CONN_UPGRADE (1u << 4)    /* Connection lists "upgrade" */
#define LK_HTTP_F_EXPECT_CONTINUE (1u << 5) /* Expect: 100-continue */
#define LK_HTTP_F_HAS_CL (1u << 6)          /* a valid Content-Length is present */
#define LK_HTTP_F_TE (1u << 7)              /* a Transfer-Encoding header is present */

enum lk_http_method {
	LK_HTTP_GET,
	LK_HTTP_HEAD,
	LK_HTTP_POST,
	LK_HTTP_PUT,
	LK_HTTP_DELETE,
	LK_HTTP_OPTIONS,
	LK_HTTP_PATCH,
	LK_HTTP_OTHER /* any other tchar token; method/method_len hold it */
};

/* How the body following a head is framed. */
enum lk_http_body {
	LK_HTTP_BODY_NONE,    /* no body bytes follow */
	LK_HTTP_BODY_LENGTH,  /* content_length (> 0) bytes follow */
	LK_HTTP_BODY_CHUNKED, /* chunked framing: see struct lk_http_chunked */
	LK_HTTP_BODY_EOF      /* response body runs until the upstream closes */
};

/* struct lk_http_header is one field line as views into the caller's buffer.
 * name is a tchar token, value has its leading/trailing OWS trimmed (an empty
 * value has value_len 0 and value pointing at the line's CR). */
struct lk_http_header {
	const char *name;
	const char *value;
	uint16_t name_len;
	uint32_t value_len;
};

/* struct lk_http_req is a parsed request head; all pointers are views into the
 * buffer given to lk_http_parse_request. */
struct lk_http_req {
	const char *method;
	const char *target;
	uint16_t method_len;
	uint32_t target_len;
	uint32_t path_len;        /* bytes of target before '?' (== target_len without a query) */
	enum lk_http_method meth;
	uint8_t minor;            /* HTTP/1.<minor>: 0 or 1 */
	uint32_t flags;           /* LK_HTTP_F_* */
	int64_t content_length;   /* -1 when absent */
	uint32_t head_len;        /* bytes up to and including the blank line */
	uint16_t n_headers;
	struct lk_http_header headers[LK_HTTP_HEADERS_MAX];
};

/* struct lk_http_resp is a parsed response head; views as for requests. */
struct lk_http_resp {
	int status;               /* 100..599 */
	uint8_t minor;
	const char *reason;       /* may be empty */
	uint32_t reason_len;
	uint32_t flags;
	int64_t content_length;   /* -1 when absent */
	uint32_t head_len;
	uint16_t n_headers;
	struct lk_http_header headers[LK_HTTP_HEADERS_MAX];
};

/* struct lk_http_parser is the resume state of one head parse. Embedded in the
 * connection; fields starting with '_' are private. */
struct lk_http_parser {
	const char *_buf;  /* buffer of the first call: it must not move */
	uint32_t _off;     /* bytes of _buf scanned; the next call starts here */
	uint32_t _line;    /* offset of the current line's first byte */
	uint32_t _mark;    /* start of the token being scanned (target, reason) */
	uint32_t _vstart;  /* current field value: first non-OWS byte, UINT32_MAX if none yet */
	uint32_t _vend;    /* current field value: one past its last non-OWS byte */
	uint32_t _flags;   /* LK_HTTP_F_* so far */
	uint32_t _seen;    /* private bits: headers seen, connection tokens */
	int64_t _cl;       /* Content-Length so far, -1 if none */
	uint16_t _name_len;
	uint8_t _state;
	uint8_t _fstate;   /* field-line sub-state */
	uint8_t _idx;      /* position inside the version literal / status digits */
	uint8_t _n_empty;  /* leading empty lines skipped */
	uint8_t _minor;
	bool _resp;        /* parsing a response: every error answers 502 */
	uint16_t status;    /* on LK_HTTP_EPARSE: 400/413/414/431/501, always 502 for responses */
	const char *reason; /* on LK_HTTP_EPARSE: static description, e.g. "invalid header name" */
	uint64_t body_max;  /* Content-Length above this -> 413 (responses: 502); 0 = unlimited */
};

/* struct lk_http_chunked is the resume state of a chunked body walk. */
struct lk_http_chunked {
	uint64_t _left;        /* data bytes left in the current chunk */
	uint64_t _size;        /* chunk size being parsed */
	uint64_t _total;       /* data bytes framed so far (including the current chunk) */
	uint32_t _line_len;    /* bytes of the current chunk-size line */
	uint32_t _trailer_len; /* bytes of the trailer section */
	uint16_t _n_trailers;
	uint8_t _state;
	uint8_t _fstate;       /* field-line sub-state inside trailers */
	uint8_t _n_digits;
	uint16_t status;    /* on LK_HTTP_EPARSE: 400, 413 (body_max) or 431 (trailers too big) */
	const char *reason; /* on LK_HTTP_EPARSE: static description */
	uint64_t body_max;  /* decoded total above this -> 413; 0 = unlimited */
};

/* lk_http_parser_init prepares p for one head. body_max bounds Content-Length
 * (0 = unlimited). Call it again before parsing the next head. */
void lk_http_parser_init(struct lk_http_parser *p, uint64_t body_max);

/* lk_http_parse_request parses a request head from buf[0..len). buf and out
 * are borrowed; the same buf (grown, not moved: LK_ASSERTed, as is len never
 * shrinking) and the same out must be passed on every call for one head, since
 * out is filled progressively and the parse resumes at the first unscanned
 * byte. Returns the head length (> 0, up to and including the blank line;
 * bytes after it are not looked at) when complete, LK_AGAIN when more bytes
 * are needed, or LK_HTTP_EPARSE with p->status and p->reason set. A head of
 * exactly LK_HTTP_HEAD_MAX bytes without its end is still LK_AGAIN: the limit
 * trips on the first byte past it. Completed and failed parses return the same
 * result again. The views in out point into buf; out is only meaningful after
 * a complete parse. Never calls back. */
ssize_t lk_http_parse_request(struct lk_http_parser *p, const char *buf, size_t len,
			      struct lk_http_req *out);

/* lk_http_parse_response parses a response head; same contract as
 * lk_http_parse_request, except that p->status is always 502 on error. A 1xx
 * head is returned like any other: the caller parses the next head after it. */
ssize_t lk_http_parse_response(struct lk_http_parser *p, const char *buf, size_t len,
			       struct lk_http_resp *out);

/* lk_http_req_body returns how the body after request head r is framed:
 * CHUNKED, LENGTH when Content-Length > 0, NONE otherwise. */
enum lk_http_body lk_http_req_body(const struct lk_http_req *r);

/* lk_http_resp_body returns how the body after response head r is framed:
 * NONE for 1xx/204/304, answers to HEAD (head_request) and Content-Length: 0,
 * then CHUNKED, LENGTH, else EOF (read until the upstream closes). */
enum lk_http_body lk_http_resp_body(const struct lk_http_resp *r, bool head_request);

/* lk_http_chunked_init prepares c for one chunked body. body_max bounds the
 * decoded size (0 = unlimited). */
void lk_http_chunked_init(struct lk_http_chunked *c, uint64_t body_max);

/* lk_http_chunked_scan walks the chunked framing of buf[0..len) without
 * modifying it (for pass-through relays); buf is borrowed and only this call's
 * bytes are looked at, so successive calls pass successive pieces. Returns the
 * bytes consumed (== len unless the body ended inside buf) and sets *out_done
 * once the last chunk and the trailer section are complete (a call after that
 * returns 0); LK_HTTP_EPARSE on malformed framing or a limit, with c->status
 * and c->reason set. */
ssize_t lk_http_chunked_scan(struct lk_http_chunked *c, const char *buf, size_t len,
			     bool *out_done);

/* lk_http_chunked_decode decodes buf[0..*len) in place with picohttpparser's
 * phr_decode_chunked semantics: on return *len is the number of decoded data
 * bytes now at the start of buf. Returns LK_AGAIN if the body is not finished,
 * >= 0 for the number of bytes after the end of the body (moved to right after
 * the decoded data), or LK_HTTP_EPARSE with c->status and c->reason set (buf
 * contents are then unspecified). */
ssize_t lk_http_chunked_decode(struct lk_http_chunked *c, char *buf, size_t *len);

/* lk_http_reason returns the standard reason phrase of status (a static
 * string), or "Unknown". */
const char *lk_http_reason(int status);

/* The writers append whole lines to b: either the full line fits or nothing is
 * written and b->overflow is set (b's own all-or-nothing rule, per line), so a
 * caller checks overflow once after the whole head. */

/* lk_http_write_status appends "HTTP/1.1 <status> <reason>\r\n"; status must
 * be 100..999. */
void lk_http_write_status(struct lk_obuf *b, int status);

/* lk_http_write_header appends "<name>: <value>\r\n". name must be a token and
 * value (borrowed, value_len bytes) must not contain CR, LF or NUL; otherwise
 * nothing is written and b->overflow is set, so peer-derived values can never
 * split a head. */
void lk_http_write_header(struct lk_obuf *b, const char *name, const char *value,
			  size_t value_len);

/* lk_http_write_header_u64 appends "<name>: <v in decimal>\r\n". */
void lk_http_write_header_u64(struct lk_obuf *b, const char *name, uint64_t v);

/* lk_http_write_chunk_head appends "<n in hex>\r\n" before n data bytes. n == 0
 * writes nothing: a zero-size chunk head would end the body. */
void lk_http_write_chunk_head(struct lk_obuf *b, size_t n);

/* lk_http_write_last_chunk appends "0\r\n\r\n" (last chunk, no trailers). */
void lk_http_write_last_chunk(struct lk_obuf *b);

/* lk_http_find returns the first of the n headers in h whose name equals name
 * case-insensitively (a borrowed pointer into h), or NULL. */
const struct lk_http_header *lk_http_find(const struct lk_http_header *h, size_t n,
					  const char *name);

/* lk_http_token_list_has returns whether the comma-separated list v[0..len)
 * has an element equal to token, case-insensitively, ignoring OWS. */
bool lk_http_token_list_has(const char *v, size_t len, const char *token);

/* lk_http_name_eq returns whether a[0..alen) equals the NUL-terminated
 * lower_b, ASCII case-insensitively (lower_b is meant to be lower case). */
bool lk_http_name_eq(const char *a, size_t alen, const char *lower_b);

#endif /* LK_CORE_HTTP_H */
