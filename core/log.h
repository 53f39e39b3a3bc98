/* core/log.h - operational log: one JSON object per line.
 *
 *   {"time":"2026-11-29T09:00:00.123456789Z","level":"INFO","msg":"...",<fields>}\n
 *
 * time is UTC, RFC 3339 with nanoseconds and trailing zeros trimmed (Go's
 * RFC3339Nano); fields follow in call order (Go slog's JSON handler shape).
 * Each line is built in a stack buffer of LK_LOG_LINE_MAX bytes and handed to
 * write(2) whole, so lines from different threads never interleave: that
 * holds for pipes and FIFOs (docker's log capture) only up to PIPE_BUF bytes,
 * which is why the line limit is PIPE_BUF. A line that would be longer has its
 * string values shortened (fairly: short values stay whole, long ones share
 * what is left) and gets a "truncated":true field; it stays valid JSON.
 *
 * Logging never blocks forever on our side: EINTR is retried, and a line that
 * cannot be written (EAGAIN on a non-blocking fd, EPIPE, ...) is dropped and
 * counted. The fd's flags are the owner's business; a blocking fd whose reader
 * stalls still blocks in write(2).
 *
 * Thread safety: every function may be called from any thread. The level and
 * fd are set by lk_log_init, normally once before threads start.
 *
 * Library code (core/, proxy/, auth/) logs at debug level at most (STYLE 6.9). */
#ifndef LK_CORE_LOG_H
#define LK_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* LK_LOG_LINE_MAX is the longest line written, newline included: Linux's
 * PIPE_BUF (log.c asserts it), the largest write a pipe keeps whole. */
#define LK_LOG_LINE_MAX 4096
/* LK_LOG_FIELDS_MAX bounds the fields kept when a line has to be truncated;
 * further fields are dropped then (a line that fits keeps all of them). */
#define LK_LOG_FIELDS_MAX 32

/* enum lk_log_level is a line's severity, in increasing order. */
enum lk_log_level {
	LK_LOG_DEBUG,
	LK_LOG_INFO,
	LK_LOG_WARN,
	LK_LOG_ERROR
};

/* enum lk_log_type says which member of a struct lk_log_field is set. */
enum lk_log_type {
	LK_LOG_T_STR,
	LK_LOG_T_INT,
	LK_LOG_T_UINT,
	LK_LOG_T_BOOL,
	LK_LOG_T_F64
};

/* struct lk_log_field is one key/value attribute. Build it with the
 * LK_LOG_STR.. macros below; key and s are borrowed for the call. */
struct lk_log_field {
	const char *key;
	enum lk_log_type type;
	union {
		const char *s; /* NULL is written as null */
		int64_t i;
		uint64_t u;
		bool b;
		double d;     /* NaN and infinities are written as strings */
	};
	size_t s_len; /* STR only: byte length, SIZE_MAX = strlen(s) */
};

/* LK_LOG_STR(k, v) .. LK_LOG_F64(k, v) each build one struct lk_log_field
 * with key k. LK_LOG_STR takes a NUL-terminated string (or NULL, written as
 * null); LK_LOG_STRN takes n bytes of v, which need not be NUL-terminated and
 * may hold any bytes (escaped, invalid UTF-8 becomes \ufffd). */
#define LK_LOG_STR(k, v)                                                                           \
	((struct lk_log_field){ .key = (k), .type = LK_LOG_T_STR, .s = (v), .s_len = SIZE_MAX })
#define LK_LOG_STRN(k, v, n)                                                                       \
	((struct lk_log_field){ .key = (k), .type = LK_LOG_T_STR, .s = (v), .s_len = (n) })
#define LK_LOG_INT(k, v) ((struct lk_log_field){ .key = (k), .type = LK_LOG_T_INT, .i = (v) })
#define LK_LOG_UINT(k, v) ((struct lk_log_field){ .key = (k), .type = LK_LOG_T_UINT, .u = (v) })
#define LK_LOG_BOOL(k, v) ((struct lk_log_field){ .key = (k), .type = LK_LOG_T_BOOL, .b = (v) })
#define LK_LOG_F64(k, v) ((struct lk_log_field){ .key = (k), .type = LK_LOG_T_F64, .d = (v) })

/* LK_LOG(lvl, msg, fields...) logs msg with zero or more LK_LOG_* fields:
 *   LK_LOG(LK_LOG_WARN, "authentication failed", LK_LOG_STR("ip", ip));
 * The fields become a compound-literal array (the second mention is inside
 * sizeof and is not evaluated). Field values are evaluated even when lvl is
 * filtered out; guard expensive ones with lk_log_enabled. */
#define LK_LOG(lvl, msg, ...)                                                                      \
	lk_log_write((lvl), (msg), (const struct lk_log_field[]){ __VA_ARGS__ },                   \
		     sizeof((const struct lk_log_field[]){ __VA_ARGS__ }) /                        \
			     sizeof(struct lk_log_field))

/* lk_log_init sets the threshold (lines below min are skipped) and the fd
 * lines are written to (STDERR_FILENO in production; the fd is borrowed and
 * never closed). Before the first call the threshold is INFO and fd is 2. */
void lk_log_init(enum lk_log_level min, int fd);

/* lk_log_enabled returns whether a line at lvl would be written. */
bool lk_log_enabled(enum lk_log_level lvl);

/* lk_log_write writes one line with msg and the n fields f (borrowed; f may
 * be NULL when n is 0), or nothing when lvl is below the threshold. Never
 * fails: a line that cannot be written is counted by lk_log_dropped. errno is
 * preserved. */
void lk_log_write(enum lk_log_level lvl, const char *msg, const struct lk_log_field *f, size_t n);

/* lk_log_dropped returns how many lines could not be written since start. */
uint64_t lk_log_dropped(void);

/* lk_log_level_str returns "DEBUG", "INFO", "WARN" or "ERROR" (static). */
const char *lk_log_level_str(enum lk_log_level lvl);

/* lk_log_level_parse parses debug, info, warn, warning or error
 * (case-insensitive) into *out and returns 0, or returns -EINVAL and leaves
 * *out alone for anything else, including NULL and "". */
int lk_log_level_parse(const char *s, enum lk_log_level *out);

#endif /* LK_CORE_LOG_H */
