/* tests/fuzz/fuzz_chunked.c - chunked framing: scan versus in-place decode.
 *
 * max_len: 20000 (room for trailer sections near LK_HTTP_HEAD_MAX and chunk
 * lines past LK_HTTP_CHUNK_LINE_MAX).
 *   fuzz_chunked -max_len=20000 SCRATCH_DIR tests/fuzz/chunked_corpus
 *
 * The input is the body. Its first byte also picks body_max and a split
 * point. Invariants (LK_ASSERT, ours): the pass-through scan and the in-place
 * decode agree on where the body ends, or fail with the same status; feeding
 * the body in two pieces gives the same end, status and decoded bytes as one
 * piece; decoded data never exceeds the input or body_max. Every piece is an
 * exact-size heap copy so ASan catches over-reads. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dbg.h"
#include "core/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* struct outcome: how a walk over the whole input ended. */
struct outcome {
	long end;    /* input bytes up to the end of the body, -1 if not reached */
	int status;  /* c.status on error, 0 otherwise */
	size_t dlen; /* decoded bytes (decode only) */
};

/* scan runs lk_http_chunked_scan over data cut into [0, cut) and [cut, size). */
static void scan(const uint8_t *data, size_t size, size_t cut, uint64_t body_max,
		 struct outcome *o)
{
	struct lk_http_chunked c;
	size_t bounds[2] = { cut, size }, at = 0;
	long consumed = 0;

	lk_http_chunked_init(&c, body_max);
	*o = (struct outcome){ .end = -1 };
	for (int i = 0; i < 2; i++) {
		size_t len = bounds[i] - at;
		char *piece = malloc(len + 1);
		bool done;
		ssize_t rc;

		LK_ASSERT(piece != NULL);
		memcpy(piece, data + at, len);
		rc = lk_http_chunked_scan(&c, piece, len, &done);
		free(piece);
		if (rc == LK_HTTP_EPARSE) {
			LK_ASSERT(c.status == 400 || c.status == 413 || c.status == 431);
			o->status = c.status;
			return;
		}
		LK_ASSERT(rc >= 0 && (size_t)rc <= len);
		LK_ASSERT(done || (size_t)rc == len);
		consumed += rc;
		if (done) {
			o->end = consumed;
			return;
		}
		at = bounds[i];
	}
}

/* decode runs lk_http_chunked_decode the same way, collecting the data. */
static void decode(const uint8_t *data, size_t size, size_t cut, uint64_t body_max,
		   char *out, struct outcome *o)
{
	struct lk_http_chunked c;
	size_t bounds[2] = { cut, size }, at = 0;

	lk_http_chunked_init(&c, body_max);
	*o = (struct outcome){ .end = -1 };
	for (int i = 0; i < 2; i++) {
		size_t len = bounds[i] - at, in_len = len;
		char *piece = malloc(len + 1);
		ssize_t rc;

		LK_ASSERT(piece != NULL);
		memcpy(piece, data + at, len);
		rc = lk_http_chunked_decode(&c, piece, &len);
		if (rc == LK_HTTP_EPARSE) {
			o->status = c.status;
			free(piece);
			return;
		}
		LK_ASSERT(len <= in_len);
		memcpy(out + o->dlen, piece, len);
		o->dlen += len;
		if (rc >= 0) {
			/* the bytes after the body follow the data, unchanged */
			LK_ASSERT((size_t)rc <= in_len - len);
			LK_ASSERT(memcmp(piece + len, data + bounds[i] - rc, (size_t)rc) == 0);
			o->end = (long)(bounds[i] - (size_t)rc);
			free(piece);
			return;
		}
		LK_ASSERT(rc == LK_AGAIN);
		free(piece);
		at = bounds[i];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome s_whole, s_split, d_whole, d_split;
	size_t cut = size == 0 ? 0 : size * data[0] / 256;
	uint64_t body_max = size != 0 && (data[0] & 1) ? (uint64_t)data[0] * 4 : 0;
	char *out_whole = malloc(size + 1), *out_split = malloc(size + 1);

	LK_ASSERT(out_whole != NULL && out_split != NULL);
	scan(data, size, size, body_max, &s_whole);
	scan(data, size, cut, body_max, &s_split);
	decode(data, size, size, body_max, out_whole, &d_whole);
	decode(data, size, cut, body_max, out_split, &d_split);

	LK_ASSERT(s_whole.end == s_split.end && s_whole.status == s_split.status);
	LK_ASSERT(s_whole.end == d_whole.end && s_whole.status == d_whole.status);
	LK_ASSERT(d_whole.end == d_split.end && d_whole.status == d_split.status);
	if (d_whole.status == 0) {
		LK_ASSERT(d_whole.dlen == d_split.dlen);
		LK_ASSERT(memcmp(out_whole, out_split, d_whole.dlen) == 0);
		LK_ASSERT(d_whole.dlen <= size);
		LK_ASSERT(body_max == 0 || d_whole.dlen <= body_max);
	}
	free(out_whole);
	free(out_split);
	return 0;
}
