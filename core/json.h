/* core/json.h - JSON output helpers.
 *
 * Writers append JSON tokens to a bounded struct lk_obuf; like every obuf
 * append, a token that does not fit sets the buffer's overflow flag and the
 * caller checks once at the end. Strings are escaped the way Go's
 * encoding/json does it, so our output matches the agents it replaces byte for
 * byte where that matters (logs, API bodies): `<`, `>`, `&`, U+2028 and U+2029
 * are \u-escaped (safe to embed in HTML or JavaScript), and every byte that is
 * not part of a valid UTF-8 sequence becomes \ufffd, one per byte.
 *
 * Parsing goes through yajl, whose header only core/json.c includes
 * (DESIGN.md); the one reader so far, lk_json_scan_object, picks string
 * members out of a small request body. */
#ifndef LK_CORE_JSON_H
#define LK_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>

struct lk_obuf; /* core/buf.h */

/* lk_json_put_str appends s[0..n) as a quoted, escaped JSON string. s may
 * contain NUL bytes and invalid UTF-8 (each invalid byte becomes \ufffd); s
 * may be NULL when n is 0. Borrows s. */
void lk_json_put_str(struct lk_obuf *b, const char *s, size_t n);

/* lk_json_put_str_max appends the longest prefix of s[0..n) whose quoted,
 * escaped form fits in max bytes (quotes included), never splitting a UTF-8
 * sequence or an escape, and returns how many bytes of s it covered (n when
 * nothing was cut). When max < 2 (no room for the quotes) it appends nothing,
 * sets b->overflow and returns 0. Borrows s. */
size_t lk_json_put_str_max(struct lk_obuf *b, const char *s, size_t n, size_t max);

/* lk_json_str_len returns the length of the quoted, escaped JSON form of
 * s[0..n), or limit + 1 as soon as that length is known to exceed limit (the
 * scan stops there, so measuring a huge string against a small limit is
 * cheap). limit must be below SIZE_MAX. */
size_t lk_json_str_len(const char *s, size_t n, size_t limit);

/* lk_json_put_key appends the NUL-terminated key as an escaped JSON string
 * followed by ':'. */
void lk_json_put_key(struct lk_obuf *b, const char *key);

/* lk_json_put_bool appends `true` or `false`. */
void lk_json_put_bool(struct lk_obuf *b, bool v);

/* lk_json_put_null appends `null`. */
void lk_json_put_null(struct lk_obuf *b);

/* lk_json_put_f64 appends v as the shortest decimal that reads back as the
 * same double ("%.15g" to "%.17g", e.g. 0.1, 1e+21, -0). JSON has no NaN or
 * infinities, so those become the strings "NaN", "+Inf" and "-Inf" (Go's
 * strconv spelling). Assumes the C locale's '.' decimal point (Lookout never
 * calls setlocale). Integers: use lk_obuf_put_i64 / lk_obuf_put_u64. */
void lk_json_put_f64(struct lk_obuf *b, double v);

/* ---- parsing ------------------------------------------------------------ */

/* LK_JSON_DEPTH_MAX bounds the nesting of arrays and objects a parser
 * accepts: Go's encoding/json limit, so a document the reference rejected
 * for depth is rejected here too. */
#define LK_JSON_DEPTH_MAX 10000

/* lk_json_member_cb receives one string member picked by
 * lk_json_scan_object: idx is the position of its name in names, s[0..n) the
 * decoded value (escapes resolved, so it may hold NUL bytes; not
 * NUL-terminated). s is borrowed, pointing into doc or into the parser's
 * buffer, and valid only during the call; the parser's buffers are wiped when
 * they are freed, so the decoded form of a secret lives on only where the
 * callback copies it. Return 0 to go on;
 * any other value stops the scan and lk_json_scan_object returns it. */
typedef int (*lk_json_member_cb)(void *arg, size_t idx, const char *s, size_t n);

/* lk_json_scan_object parses doc[0..len) (borrowed) as exactly one JSON
 * value, which must be an object (or null, which Go's decoder treats as an
 * object with no members), and calls cb synchronously, in document order, for
 * each top-level member whose name equals one of names[0..n_names) exactly
 * (byte for byte; Go would also match case-insensitively) and whose value is
 * a string. A member appearing twice is reported twice (Go: the last one
 * wins). A named member whose value is null is skipped, as Go leaves the field
 * untouched; any other non-string value for it is an error, as is a document
 * that is not an object or null. Members with other names, and everything
 * nested, are checked for syntax only. Whitespace may surround the value;
 * anything else after it is an error (the reference at HEAD rejects trailing
 * data). Strings are not checked for UTF-8: invalid bytes pass through to cb
 * (where Go substitutes U+FFFD), so a bad byte is never a syntax error.
 * Returns 0; -EINVAL for a document that is not valid JSON or does not have
 * that shape (syntax, trailing data, more than LK_JSON_DEPTH_MAX levels,
 * wrong types); or the non-zero value cb returned. Allocates (yajl's lexer
 * and decode buffers, wiped on free) so it belongs on cold paths. */
int lk_json_scan_object(const char *doc, size_t len, const char *const *names, size_t n_names,
			lk_json_member_cb cb, void *arg);

#endif /* LK_CORE_JSON_H */
