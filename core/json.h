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
 * (DESIGN.md). There are two readers: lk_json_scan_object picks string
 * members out of a small request body without building anything, and
 * lk_json_parse builds a read-only tree (struct lk_jval) for documents that
 * are walked in any order, such as Docker API responses, on cold paths. */
#ifndef LK_CORE_JSON_H
#define LK_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* lk_json_put_chars appends the escaped form of s[0..n) without quotes, for
 * a string written in pieces between a quote the caller writes before and
 * one after (a prefix and a payload, say). Each piece is escaped on its own,
 * so a UTF-8 sequence split across two pieces becomes one \ufffd per byte:
 * split only at character boundaries. Borrows s; s may be NULL when n is 0. */
void lk_json_put_chars(struct lk_obuf *b, const char *s, size_t n);

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

/* ---- the tree reader ---------------------------------------------------- */

/* lk_jtype is the kind of a struct lk_jval. */
enum lk_jtype { LK_J_NULL, LK_J_BOOL, LK_J_NUM, LK_J_STR, LK_J_ARR, LK_J_OBJ };

/* struct lk_jval is one value of a tree built by lk_json_parse: opaque and
 * read-only. Every lk_jval pointer the accessors return is borrowed from the
 * tree and valid until lk_json_free on its root. Every accessor accepts NULL
 * (a missing value) and then answers as for a value of the wrong type, so
 * lookups chain without checks in between. */
struct lk_jval;

/* lk_json_parse parses doc[0..len) (borrowed; need not be NUL-terminated and
 * is never read past len) as exactly one JSON value, with only whitespace
 * around it, and returns the tree, which the caller owns and frees with
 * lk_json_free. On error it returns NULL and writes a one-line reason into
 * err (err_len bytes, always terminated; err may be NULL): syntax (yajl's
 * message), an empty or truncated document, trailing data, nesting deeper
 * than LK_JSON_DEPTH_MAX arrays and objects, a member name holding U+0000
 * (names are C strings here, and a cut name could shadow another), or memory.
 * Strict JSON: no comments, no byte order mark. Strings are not checked for
 * UTF-8 (Go decodes invalid bytes to U+FFFD instead of failing, so failing
 * here would refuse what the reference accepts); they reach lk_json_str as
 * bytes and lk_json_put_val turns each bad byte into \ufffd. Repeated member
 * names are all kept; lk_json_get finds the last. Numbers keep their text.
 * The tree is yajl_tree's (one malloc per value, about 60 bytes plus the
 * text), built by our own callbacks because yajl_tree_parse needs a
 * NUL-terminated document, allows comments and has no depth bound. */
struct lk_jval *lk_json_parse(const char *doc, size_t len, char *err, size_t err_len);

/* lk_json_free frees a tree returned by lk_json_parse; NULL is a no-op.
 * Every pointer into the tree becomes invalid. Only roots may be freed. */
void lk_json_free(struct lk_jval *v);

/* lk_json_type returns the kind of v; LK_J_NULL when v is NULL, so a
 * missing member and an explicit null look the same. */
enum lk_jtype lk_json_type(const struct lk_jval *v);

/* lk_json_get returns the value of obj's member named key (byte-exact
 * match; the last one when the name repeats, as Go's decoder keeps the
 * last), or NULL when there is none or obj is not an object. Linear in the
 * number of members. */
const struct lk_jval *lk_json_get(const struct lk_jval *obj, const char *key);

/* lk_json_path follows a NULL-terminated list of member names from v, as
 * lk_json_get does at each step: lk_json_path(v, "State", "Health",
 * "Status", NULL). Returns NULL as soon as one step is missing or not an
 * object; v itself when the list is empty. */
const struct lk_jval *lk_json_path(const struct lk_jval *v, ...) __attribute__((sentinel));

/* lk_json_len returns the number of elements of an array or members of an
 * object, else 0. */
size_t lk_json_len(const struct lk_jval *v);

/* lk_json_at returns element i of an array or the value of member i of an
 * object (document order), or NULL when i is out of range or v is neither. */
const struct lk_jval *lk_json_at(const struct lk_jval *v, size_t i);

/* lk_json_key_at returns the name of member i of an object (document order,
 * NUL-terminated, borrowed like the tree), or NULL when i is out of range or
 * obj is not an object. */
const char *lk_json_key_at(const struct lk_jval *obj, size_t i);

/* lk_json_str returns the decoded bytes of a string value, NUL-terminated
 * and borrowed like the tree, or NULL unless v is a string. A string may
 * hold NUL bytes (\u0000): use lk_json_strn when that matters. */
const char *lk_json_str(const struct lk_jval *v);

/* lk_json_strn is lk_json_str that also stores the decoded length (NUL
 * bytes included) in *out_len, on success only. */
const char *lk_json_strn(const struct lk_jval *v, size_t *out_len);

/* lk_json_is_true returns whether v is the literal true. */
bool lk_json_is_true(const struct lk_jval *v);

/* lk_json_i64 stores v in *out and returns true when v is a number written
 * as an integer (no fraction, no exponent: 1.0 and 1e3 are refused, like
 * Go's decoder into an int) within int64_t; else returns false and leaves
 * *out alone. */
bool lk_json_i64(const struct lk_jval *v, int64_t *out);

/* lk_json_u64 is lk_json_i64 for 0..UINT64_MAX (Docker's byte counters can
 * pass INT64_MAX), read from the number's text; a minus sign is refused,
 * even on -0. */
bool lk_json_u64(const struct lk_jval *v, uint64_t *out);

/* lk_json_f64 stores the nearest double to number v in *out and returns
 * true; false (and *out untouched) when v is not a number or its magnitude
 * overflows a double (1e999), as Go refuses it. Numbers too small for a
 * double read as 0 or a subnormal. */
bool lk_json_f64(const struct lk_jval *v, double *out);

/* lk_json_put_val appends v in compact form (no whitespace): numbers as
 * their original text, strings and member names through lk_json_put_str
 * (so invalid UTF-8 becomes \ufffd and `<` `>` `&` are escaped), members in
 * document order, repeats included. NULL appends `null`, which is how an
 * absent JSON-RPC id is echoed. Recursion is bounded by LK_JSON_DEPTH_MAX.
 * Overflow is reported through b like every obuf append. */
void lk_json_put_val(struct lk_obuf *b, const struct lk_jval *v);

#endif /* LK_CORE_JSON_H */
