/* core/log.c - operational log (see log.h for the line format and contract). */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/dbg.h"
#include "core/json.h"
#include "core/log.h"

/* Written by lk_log_init, read by every logging thread; relaxed is enough
 * because nothing else is published through them. */
static _Atomic int log_min = LK_LOG_INFO;
static _Atomic int log_fd = STDERR_FILENO;
static _Atomic uint64_t log_dropped;

/* Appended to a line whose values were shortened. */
static const char trunc_mark[] = ",\"truncated\":true";

LK_STATIC_ASSERT(LK_LOG_LINE_MAX >= 512, "a line must hold the head and the truncation mark");
LK_STATIC_ASSERT(LK_LOG_LINE_MAX <= PIPE_BUF, "lines must be atomic writes on pipes");

/* struct line is one call's input, with its time formatted once. */
struct line {
	char time[64];
	size_t time_len;
	enum lk_log_level lvl;
	const char *msg;
	const struct lk_log_field *f;
};

void lk_log_init(enum lk_log_level min, int fd)
{
	LK_ASSERT(min >= LK_LOG_DEBUG && min <= LK_LOG_ERROR);
	atomic_store_explicit(&log_min, (int)min, memory_order_relaxed);
	atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

bool lk_log_enabled(enum lk_log_level lvl)
{
	return (int)lvl >= atomic_load_explicit(&log_min, memory_order_relaxed);
}

uint64_t lk_log_dropped(void)
{
	return atomic_load_explicit(&log_dropped, memory_order_relaxed);
}

const char *lk_log_level_str(enum lk_log_level lvl)
{
	static const char *const names[] = {
		[LK_LOG_DEBUG] = "DEBUG",
		[LK_LOG_INFO] = "INFO",
		[LK_LOG_WARN] = "WARN",
		[LK_LOG_ERROR] = "ERROR",
	};

	LK_ASSERT((unsigned)lvl < LK_ARRAY_SIZE(names));
	return names[lvl];
}

int lk_log_level_parse(const char *s, enum lk_log_level *out)
{
	static const struct {
		const char *name;
		enum lk_log_level lvl;
	} names[] = {
		{ "debug", LK_LOG_DEBUG }, { "info", LK_LOG_INFO },   { "warn", LK_LOG_WARN },
		{ "warning", LK_LOG_WARN }, { "error", LK_LOG_ERROR },
	};

	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < LK_ARRAY_SIZE(names); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].lvl;
			return 0;
		}
	}
	return -EINVAL;
}

/* format_time writes ts as RFC 3339 UTC with the nanoseconds' trailing zeros
 * trimmed (no fraction at all on a whole second), like Go's RFC3339Nano. */
static size_t format_time(char *out, size_t out_len, const struct timespec *ts)
{
	struct tm tm = { 0 };
	long ns = ts->tv_nsec;
	int len;

	gmtime_r(&ts->tv_sec, &tm);
	len = snprintf(out, out_len, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
		       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	LK_ASSERT(len > 0 && (size_t)len + 12 <= out_len);
	if (ns > 0 && ns < 1000000000) {
		int digits = 9;

		while (ns % 10 == 0) {
			ns /= 10;
			digits--;
		}
		out[len] = '.';
		for (int i = digits; i > 0; i--, ns /= 10)
			out[len + i] = (char)('0' + ns % 10);
		len += digits + 1;
	}
	out[len++] = 'Z';
	return (size_t)len;
}

/* str_len returns a string field's byte length. */
static size_t str_len(const struct lk_log_field *f)
{
	return f->s_len == SIZE_MAX ? strlen(f->s) : f->s_len;
}

/* put_value appends a field's value; strings are cut to cap bytes of JSON. */
static void put_value(struct lk_obuf *b, const struct lk_log_field *f, size_t cap)
{
	switch (f->type) {
	case LK_LOG_T_STR:
		if (f->s == NULL)
			lk_json_put_null(b);
		else
			lk_json_put_str_max(b, f->s, str_len(f), cap);
		break;
	case LK_LOG_T_INT:
		lk_obuf_put_i64(b, f->i);
		break;
	case LK_LOG_T_UINT:
		lk_obuf_put_u64(b, f->u);
		break;
	case LK_LOG_T_BOOL:
		lk_json_put_bool(b, f->b);
		break;
	case LK_LOG_T_F64:
		lk_json_put_f64(b, f->d);
		break;
	default:
		LK_UNREACHABLE();
	}
}

/* build writes the line with n fields into mem, every string value cut to
 * cap bytes of JSON (SIZE_MAX: uncut), plus the truncation mark if asked. */
static void build(struct lk_obuf *b, char *mem, const struct line *ln, size_t n, size_t cap,
		  bool mark)
{
	lk_obuf_init(b, mem, LK_LOG_LINE_MAX);
	lk_obuf_put(b, "{\"time\":\"", 9);
	lk_obuf_put(b, ln->time, ln->time_len);
	lk_obuf_put(b, "\",\"level\":\"", 11);
	lk_obuf_puts(b, lk_log_level_str(ln->lvl));
	lk_obuf_put(b, "\",\"msg\":", 8);
	lk_json_put_str_max(b, ln->msg, strlen(ln->msg), cap);
	for (size_t i = 0; i < n && !b->overflow; i++) {
		LK_ASSERT(ln->f[i].key != NULL);
		lk_obuf_put(b, ",", 1);
		lk_json_put_key(b, ln->f[i].key);
		put_value(b, &ln->f[i], cap);
	}
	if (mark)
		lk_obuf_put(b, trunc_mark, sizeof(trunc_mark) - 1);
	lk_obuf_put(b, "}\n", 2);
}

/* water_level returns the largest cap (>= 2) such that the strings of
 * lengths len[0..n) cut to cap bytes each fit in avail bytes: short strings
 * stay whole and the long ones share the rest equally. */
static size_t water_level(const size_t *len, size_t n, size_t avail)
{
	size_t lo = 2, hi = LK_LOG_LINE_MAX;

	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2, sum = 0;

		for (size_t i = 0; i < n; i++)
			sum += LK_MIN(len[i], mid);
		if (sum <= avail)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* build_truncated rebuilds a line that overflowed: it keeps at most
 * LK_LOG_FIELDS_MAX fields (none if even their keys and numbers do not fit)
 * and shortens string values so the whole line fits. */
static void build_truncated(struct lk_obuf *b, char *mem, const struct line *ln, size_t n)
{
	size_t len[LK_LOG_FIELDS_MAX + 1], n_str = 0, cap;

	n = LK_MIN(n, (size_t)LK_LOG_FIELDS_MAX);
	/* The skeleton is the line with every string value empty (""): what
	 * the keys, numbers and punctuation need on their own. */
	build(b, mem, ln, n, 2, true);
	if (b->overflow) {
		n = 0;
		build(b, mem, ln, n, 2, true);
	}
	LK_ASSERT(!b->overflow);
	len[n_str++] = lk_json_str_len(ln->msg, strlen(ln->msg), LK_LOG_LINE_MAX);
	for (size_t i = 0; i < n; i++) {
		if (ln->f[i].type == LK_LOG_T_STR && ln->f[i].s != NULL)
			len[n_str++] = lk_json_str_len(ln->f[i].s, str_len(&ln->f[i]),
						       LK_LOG_LINE_MAX);
	}
	cap = water_level(len, n_str, LK_LOG_LINE_MAX - b->len + 2 * n_str);
	build(b, mem, ln, n, cap, true);
	LK_ASSERT(!b->overflow);
}

/* emit hands the line to write(2) whole. A short write (a signal after some
 * bytes were written, or a full disk) is finished rather than abandoned, so
 * the output never holds half a line followed by another line. */
static void emit(const char *p, size_t len)
{
	int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w > 0) {
			p += w;
			len -= (size_t)w;
		} else if (w == -1 && errno == EINTR) {
			continue;
		} else {
			atomic_fetch_add_explicit(&log_dropped, 1, memory_order_relaxed);
			return;
		}
	}
}

void lk_log_write(enum lk_log_level lvl, const char *msg, const struct lk_log_field *f, size_t n)
{
	char mem[LK_LOG_LINE_MAX];
	struct line ln = { .lvl = lvl, .msg = msg, .f = f };
	struct lk_obuf b;
	struct timespec ts;
	int saved_errno = errno;

	if (!lk_log_enabled(lvl))
		return;
	LK_ASSERT(msg != NULL);
	LK_ASSERT(f != NULL || n == 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ln.time_len = format_time(ln.time, sizeof(ln.time), &ts);
	build(&b, mem, &ln, n, SIZE_MAX, false);
	if (b.overflow)
		build_truncated(&b, mem, &ln, n);
	emit(b.data, b.len);
	errno = saved_errno;
}
