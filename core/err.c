/* core/err.c - error-message out-parameters (see err.h). */
#include <stdarg.h>
#include <stdio.h>

#include "core/err.h"

void lk_verrf(char *err, size_t err_len, const char *fmt, va_list ap)
{
	if (err == NULL || err_len == 0)
		return;
	vsnprintf(err, err_len, fmt, ap);
}

void lk_errf(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lk_verrf(err, err_len, fmt, ap);
	va_end(ap);
}
