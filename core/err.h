/* core/err.h - return conventions shared by every module.
 *
 * Fallible actions return 0 or -errno (matching cqe->res). Progress functions
 * (parse, feed, relay step) return >= 0 for bytes consumed or produced,
 * LK_AGAIN for "need more input or output space", or another negative value
 * for an error. LK_AGAIN lies outside the errno range so it can never be
 * confused with a kernel result. */
#ifndef LK_CORE_ERR_H
#define LK_CORE_ERR_H

#include <errno.h>

#define LK_AGAIN (-4096 - 1)

/* LK_NERRNO turns a libc "-1 and errno" result into -errno, passing other
 * values through: rc = LK_NERRNO(close(fd)). */
#define LK_NERRNO(expr) ({ long lk__r = (long)(expr); lk__r == -1 ? -errno : (int)lk__r; })

#include <stdarg.h>
#include <stddef.h>

/* lk_errf formats a message into err (err_len bytes, always terminated);
 * nothing happens when err is NULL or err_len is 0. For the "char *err,
 * size_t err_len" out-parameters of start-up and loader functions. */
__attribute__((format(printf, 3, 4))) void lk_errf(char *err, size_t err_len, const char *fmt, ...);
/* lk_verrf is lk_errf with a va_list. */
__attribute__((format(printf, 3, 0))) void lk_verrf(char *err, size_t err_len, const char *fmt,
						      va_list ap);

#endif /* LK_CORE_ERR_H */
