/* tests/fuzz/fuzz_phc.c - the Argon2id PHC string parser (TOKEN_HASH).
 *
 * max_len: 300, past LK_PHC_STR_MAX (256) so the length check is reachable.
 *   fuzz_phc -max_len=300 -dict=tests/fuzz/phc.dict SCRATCH_DIR tests/fuzz/phc_corpus
 *
 * The input, NUL-terminated, goes to lk_phc_parse. Invariants (LK_ASSERT,
 * ours): the result is 0 or -EINVAL; on error the struct is all zero and the
 * message starts with "argon2id: ", holds only printable ASCII (the string
 * comes from the environment and ends up in a log line) and fits an err
 * buffer of any size; on success every field is inside the documented
 * bounds and the bytes past salt_len and hash_len are zero, and
 * lk_phc_format writes a string that parses back to the identical struct and
 * formats again to the same string; a too-small output buffer gives -ENOSPC
 * and an empty string without writing past its end. lk_argon2_verify is
 * deliberately not called: a hash at the cost cap takes 256 MiB and seconds. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/argon2.h"
#include "core/dbg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0)
			return false;
	}
	return true;
}

static void check_err(const char *err, size_t cap)
{
	size_t n = strnlen(err, cap);

	LK_ASSERT(n < cap);
	for (size_t i = 0; i < n; i++)
		LK_ASSERT(err[i] >= 0x20 && err[i] < 0x7f);
}

static void check_bounds(const struct lk_phc *h)
{
	LK_ASSERT(h->t >= 1 && h->t <= LK_ARGON2_T_MAX);
	LK_ASSERT(h->p >= 1 && h->p <= LK_ARGON2_P_MAX);
	LK_ASSERT(h->m_kib >= 8 * h->p && h->m_kib <= LK_ARGON2_M_KIB_MAX);
	LK_ASSERT(h->salt_len >= LK_PHC_SALT_MIN && h->salt_len <= LK_PHC_SALT_MAX);
	LK_ASSERT(h->hash_len >= LK_PHC_HASH_MIN && h->hash_len <= LK_PHC_HASH_MAX);
	LK_ASSERT(is_zero(h->salt + h->salt_len, LK_PHC_SALT_MAX - h->salt_len));
	LK_ASSERT(is_zero(h->hash + h->hash_len, LK_PHC_HASH_MAX - h->hash_len));
}

/* round_trip formats h, reparses it and formats the result again. */
static void round_trip(const struct lk_phc *h)
{
	char s1[LK_PHC_STR_MAX], s2[LK_PHC_STR_MAX], err[256];
	struct lk_phc back;
	size_t len;

	LK_ASSERT(lk_phc_format(h, s1, sizeof(s1)) == 0);
	len = strnlen(s1, sizeof(s1));
	LK_ASSERT(len < sizeof(s1));
	if (lk_phc_parse(s1, &back, err, sizeof(err)) != 0)
		lk__assert_fail(__FILE__, __LINE__, err);
	LK_ASSERT(memcmp(&back, h, sizeof(back)) == 0); /* no padding: all uint32/uint8 */
	LK_ASSERT(lk_phc_format(&back, s2, sizeof(s2)) == 0);
	LK_ASSERT(strcmp(s1, s2) == 0);

	/* every buffer one byte short of the string plus NUL: -ENOSPC, "" */
	for (size_t cap = 1; cap <= len; cap += 1 + cap / 4) {
		char *small = malloc(cap);

		LK_ASSERT(small != NULL);
		LK_ASSERT(lk_phc_format(h, small, cap) == -ENOSPC);
		LK_ASSERT(small[0] == '\0');
		free(small);
	}
	LK_ASSERT(lk_phc_format(h, s2, 0) == -ENOSPC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	LK_STATIC_ASSERT(sizeof(struct lk_phc) == 5 * 4 + LK_PHC_SALT_MAX + LK_PHC_HASH_MAX,
			 "struct lk_phc has no padding, so memcmp compares fields");
	char *s = malloc(size + 1), err[256];
	/* an err buffer of 1..16 bytes, exact size so ASan sees overruns */
	size_t tiny_len = size != 0 ? 1 + data[0] % 16 : 1;
	char *tiny = malloc(tiny_len);
	struct lk_phc h, h2;
	int rc;

	LK_ASSERT(s != NULL && tiny != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&h, 0xa5, sizeof(h));
	rc = lk_phc_parse(s, &h, err, sizeof(err));
	LK_ASSERT(rc == 0 || rc == -EINVAL);
	check_err(err, sizeof(err));
	if (rc != 0) {
		LK_ASSERT(is_zero(&h, sizeof(h)));
		LK_ASSERT(strncmp(err, "argon2id: ", 10) == 0);
	} else {
		LK_ASSERT(err[0] == '\0');
		check_bounds(&h);
		round_trip(&h);
	}

	/* the same input with a tiny err buffer and with none: same result */
	LK_ASSERT(lk_phc_parse(s, &h2, tiny, tiny_len) == rc);
	check_err(tiny, tiny_len);
	LK_ASSERT(strncmp(tiny, err, tiny_len - 1) == 0);
	LK_ASSERT(lk_phc_parse(s, &h2, NULL, 0) == rc);
	LK_ASSERT(memcmp(&h, &h2, sizeof(h)) == 0);

	free(tiny);
	free(s);
	return 0;
}
