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
 * Parsing (yajl) will be wrapped here too; this header is output only. */
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

#endif /* LK_CORE_JSON_H */
