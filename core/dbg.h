/* core/dbg.h - assertions and banned functions.
 *
 * LK_ASSERT is always on: a failure means our own invariants are broken
 * (memory corruption, an illegal state transition), and continuing would be
 * worse than dying. LK_DASSERT is compiled only in debug, sanitizer and fuzz
 * builds (LK_DEBUG) and is for per-byte or per-CQE checks. Never assert on
 * anything a peer controls: that is an error value. */
#ifndef LK_CORE_DBG_H
#define LK_CORE_DBG_H

#include <stdio.h>
#include <stdlib.h>

/* lk__assert_fail prints "file:line: assertion failed: expr" and aborts. */
__attribute__((noreturn, cold)) void lk__assert_fail(const char *file, int line, const char *expr);

#define LK_ASSERT(cond)                                                                            \
	do {                                                                                       \
		if (__builtin_expect(!(cond), 0))                                                  \
			lk__assert_fail(__FILE__, __LINE__, #cond);                                \
	} while (0)

#if defined(LK_DEBUG) && LK_DEBUG
#define LK_DASSERT(cond) LK_ASSERT(cond)
#else
#define LK_DASSERT(cond) ((void)sizeof(cond))
#endif

#define LK_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define LK_UNREACHABLE() lk__assert_fail(__FILE__, __LINE__, "unreachable")

#define LK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LK_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Banned in project code (scripts/checksrc enforces the same list on the
 * tree; the poison catches it at compile time in files that include this). */
#ifndef LK_DBG_NO_POISON
#pragma GCC poison sprintf strcpy strcat strtok atoi atol rand
#endif

#endif /* LK_CORE_DBG_H */
