/* core/buf.h - bounded output buffer.
 *
 * struct lk_obuf appends into caller-owned memory of a fixed capacity. Appends
 * never fail individually: once an append does not fit, the buffer keeps what
 * it had and sets `overflow`, so a writer emits a whole response and checks
 * once at the end (curl dynbuf's "toobig", without the allocation). */
#ifndef LK_CORE_BUF_H
#define LK_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lk_obuf {
	char *data;    /* borrowed memory, cap bytes */
	uint32_t len;  /* bytes written */
	uint32_t cap;  /* capacity */
	bool overflow; /* an append did not fit; len is unchanged by it */
};

/* lk_obuf_init points b at mem (borrowed, cap bytes) and empties it. */
void lk_obuf_init(struct lk_obuf *b, char *mem, uint32_t cap);
/* lk_obuf_put appends n bytes of p, or sets overflow and appends nothing. */
void lk_obuf_put(struct lk_obuf *b, const void *p, size_t n);
/* lk_obuf_puts appends the NUL-terminated string s. */
void lk_obuf_puts(struct lk_obuf *b, const char *s);
/* lk_obuf_put_u64 appends v in decimal. */
void lk_obuf_put_u64(struct lk_obuf *b, uint64_t v);
/* lk_obuf_put_i64 appends v in decimal with a leading '-' when negative. */
void lk_obuf_put_i64(struct lk_obuf *b, int64_t v);
/* lk_obuf_put_hex appends v in lower-case hex without leading zeros. */
void lk_obuf_put_hex(struct lk_obuf *b, uint64_t v);
/* lk_obuf_room returns the free bytes left. */
static inline uint32_t lk_obuf_room(const struct lk_obuf *b)
{
	return b->cap - b->len;
}

#endif /* LK_CORE_BUF_H */
