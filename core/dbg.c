/* core/dbg.c - assertion failure reporting. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define LK_DBG_NO_POISON
#include "core/dbg.h"

void lk__assert_fail(const char *file, int line, const char *expr)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s:%d: assertion failed: %s\n", file, line, expr);

	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	abort();
}
