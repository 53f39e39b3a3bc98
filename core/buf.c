/* core/buf.c - bounded output buffer. */
#include <string.h>

#include "core/buf.h"
#include "core/dbg.h"

void lk_obuf_init(struct lk_obuf *b, char *mem, uint32_t cap)
{
	*b = (struct lk_obuf){ .data = mem, .len = 0, .cap = cap, .overflow = false };
}

void lk_obuf_put(struct lk_obuf *b, const void *p, size_t n)
{
	LK_DASSERT(b->len <= b->cap);
	if (b->overflow || n > (size_t)(b->cap - b->len)) {
		b->overflow = true;
		return;
	}
	if (n != 0)
		memcpy(b->data + b->len, p, n);
	b->len += (uint32_t)n;
}

void lk_obuf_puts(struct lk_obuf *b, const char *s)
{
	lk_obuf_put(b, s, strlen(s));
}

void lk_obuf_put_u64(struct lk_obuf *b, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	lk_obuf_put(b, tmp + i, sizeof(tmp) - i);
}

void lk_obuf_put_i64(struct lk_obuf *b, int64_t v)
{
	if (v < 0) {
		lk_obuf_put(b, "-", 1);
		lk_obuf_put_u64(b, (uint64_t)0 - (uint64_t)v);
		return;
	}
	lk_obuf_put_u64(b, (uint64_t)v);
}

void lk_obuf_put_hex(struct lk_obuf *b, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = digits[v & 0xf];
		v >>= 4;
	} while (v != 0);
	lk_obuf_put(b, tmp + i, sizeof(tmp) - i);
}
