/* tests/fuzz/fuzz_authorized_keys.c - the authorized_keys parser: whole
 * files through lk__registry_parse and each line through lk_keys_parse_line.
 *
 * max_len: the corpus holds a seed with a line longer than LK_KEYS_LINE_MAX,
 * so libFuzzer's default max_len (the largest seed) reaches the line cap.
 *   fuzz_authorized_keys -dict=tests/fuzz/authorized_keys.dict SCRATCH_DIR \
 *       tests/fuzz/authorized_keys_corpus
 *
 * The input is split into lines the way the loader splits a file, and each
 * line is parsed on its own; that predicts what the loader must do with the
 * whole input. Invariants (LK_ASSERT, ours):
 * - the file loads iff every line is at most LK_KEYS_LINE_MAX - 1 bytes and
 *   parses or is blank/comment, and there are at most LK_REGISTRY_KEYS_MAX
 *   key lines; otherwise the error names the file and the first bad line;
 *   error texts hold only printable ASCII (they go to the log);
 * - a loaded snapshot holds one key per distinct ID and count + duplicates =
 *   key lines; walked with lk_registry_diff against an empty snapshot (all
 *   reported added), its keys come in ID order, each is found by its ID, has
 *   the ID of its key bytes and equals the first line with that ID; a diff
 *   against itself is empty;
 * - a line that fails leaves the key zeroed; one that parses formats back
 *   (lk_keys_format_line) to a line that parses to the same key.
 * Each line is parsed from an exact-size heap copy so ASan sees over-reads. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/keys.h"
#include "auth/registry.h"
#include "core/dbg.h"

#define NAME "fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	LK_ASSERT(n < cap);
	for (size_t i = 0; i < n; i++)
		LK_ASSERT(s[i] >= 0x20 && s[i] < 0x7f);
}

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* pubkey_eq compares the fields of two keys (not the padding). */
static bool pubkey_eq(const struct lk_pubkey *a, const struct lk_pubkey *b)
{
	return memcmp(a->key, b->key, sizeof(a->key)) == 0 &&
	       memcmp(a->id, b->id, sizeof(a->id)) == 0 && a->comment_len == b->comment_len &&
	       memcmp(a->comment, b->comment, sizeof(a->comment)) == 0;
}

static bool pubkey_is_zero(const struct lk_pubkey *k)
{
	static const struct lk_pubkey zero = { .comment_len = 0 };

	return pubkey_eq(k, &zero);
}

/* struct line_key is a key line found by the line pass, with its number. */
struct line_key {
	struct lk_pubkey k;
	size_t line;
};

/* struct lines is what the line pass predicts for the whole input. */
struct lines {
	size_t line;	       /* lines seen so far */
	size_t bad_line;       /* first line the loader must fail on, 0 if none */
	struct line_key *keys; /* n_keys key lines; after distinct(), the distinct IDs */
	size_t n_keys, cap;
	size_t n_distinct;
};

static int cmp_line_key(const void *a, const void *b)
{
	const struct line_key *x = a, *y = b;
	int c = memcmp(x->k.id, y->k.id, LK_KEYS_ID_LEN);

	if (c != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/* distinct sorts the key lines by ID and keeps the first line of each ID. */
static void distinct(struct lines *ls)
{
	size_t o = 0;

	if (ls->n_keys > 1)
		qsort(ls->keys, ls->n_keys, sizeof(ls->keys[0]), cmp_line_key);
	for (size_t i = 0; i < ls->n_keys; i++) {
		if (o != 0 && memcmp(ls->keys[o - 1].k.id, ls->keys[i].k.id, LK_KEYS_ID_LEN) == 0)
			continue;
		ls->keys[o++] = ls->keys[i];
	}
	ls->n_distinct = o;
}

/* struct walk is the state of lk_registry_diff over one snapshot. */
struct walk {
	const struct lk_registry *r;
	const struct lines *ls;
	size_t n;
};

static void on_key(void *arg, bool added, const struct lk_pubkey *k)
{
	struct walk *w = arg;
	char id[LK_KEYS_ID_LEN + 1];

	LK_ASSERT(added);
	LK_ASSERT(strnlen(k->id, sizeof(k->id)) == LK_KEYS_ID_LEN);
	LK_ASSERT(is_lower_hex(k->id, LK_KEYS_ID_LEN));
	lk_keys_id(k->key, id);
	LK_ASSERT(memcmp(id, k->id, sizeof(id)) == 0);
	LK_ASSERT(k->comment_len <= LK_KEYS_COMMENT_MAX);
	LK_ASSERT(strnlen(k->comment, sizeof(k->comment)) == k->comment_len);
	LK_ASSERT(lk_registry_find(w->r, k->id, LK_KEYS_ID_LEN) == k);
	/* in ID order, and the first line of each ID wins */
	LK_ASSERT(w->n < w->ls->n_distinct);
	LK_ASSERT(pubkey_eq(k, &w->ls->keys[w->n].k));
	w->n++;
}

static void on_any(void *arg, bool added, const struct lk_pubkey *k)
{
	(void)added;
	(void)k;
	(*(size_t *)arg)++;
}

/* round_trip formats k and checks that the line parses back to k. */
static void round_trip(const struct lk_pubkey *k)
{
	char line[LK_KEYS_LINE_OUT_MAX], err[256];
	struct lk_pubkey back;

	LK_ASSERT(lk_keys_format_line(k->key, k->comment, line, sizeof(line)) == 0);
	if (lk_keys_parse_line(line, strlen(line), &back, err, sizeof(err)) != 0)
		lk__assert_fail(__FILE__, __LINE__, err);
	LK_ASSERT(pubkey_eq(&back, k));
}

/* parse_line parses one line of the input and records what it predicts. */
static void parse_line(const uint8_t *p, size_t len, struct lines *ls)
{
	char *copy = malloc(len != 0 ? len : 1), err[256];
	struct lk_pubkey k;
	int rc;

	LK_ASSERT(copy != NULL);
	memcpy(copy, p, len);
	memset(&k, 0xa5, sizeof(k));
	rc = lk_keys_parse_line(copy, len, &k, err, sizeof(err));
	free(copy);
	check_printable(err, sizeof(err));
	ls->line++;
	if (rc != 0) {
		LK_ASSERT(rc == -ENOENT || rc == -EINVAL);
		LK_ASSERT(pubkey_is_zero(&k));
		LK_ASSERT((rc == -EINVAL) == (err[0] != '\0'));
		if (rc == -EINVAL && ls->bad_line == 0)
			ls->bad_line = ls->line;
		return;
	}
	round_trip(&k);
	if (ls->n_keys == LK_REGISTRY_KEYS_MAX && ls->bad_line == 0)
		ls->bad_line = ls->line;
	if (ls->n_keys == ls->cap) {
		ls->cap = ls->cap == 0 ? 8 : 2 * ls->cap;
		ls->keys = realloc(ls->keys, ls->cap * sizeof(ls->keys[0]));
		LK_ASSERT(ls->keys != NULL);
	}
	ls->keys[ls->n_keys++] = (struct line_key){ .k = k, .line = ls->line };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[LK_REGISTRY_ERR_MAX], want[64];
	struct lines ls = { .line = 0 };
	struct lk_registry *r;
	size_t start = 0, n_diff = 0;

	/* the loader's split: '\n' ends a line, a final unterminated line
	 * counts, nothing after a final '\n' is a line; it stops at the first
	 * line that is too long */
	while (start < size && ls.bad_line == 0) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t len = nl != NULL ? (size_t)(nl - (data + start)) : size - start;

		if (len > LK_KEYS_LINE_MAX - 1) {
			ls.bad_line = ls.line + 1;
			break;
		}
		parse_line(data + start, len, &ls);
		start += len + 1;
	}
	distinct(&ls);

	memset(err, 'x', sizeof(err));
	r = lk__registry_parse((const char *)data, size, NAME, err, sizeof(err));
	check_printable(err, sizeof(err));
	LK_ASSERT((r == NULL) == (ls.bad_line != 0));
	if (r == NULL) {
		int n = snprintf(want, sizeof(want), "authorized_keys \"%s\" line %zu: ", NAME,
				 ls.bad_line);

		LK_ASSERT(n > 0 && (size_t)n < sizeof(want));
		LK_ASSERT(strncmp(err, want, (size_t)n) == 0);
		goto out;
	}
	LK_ASSERT(err[0] == '\0');
	LK_ASSERT(lk_registry_count(r) == ls.n_distinct);
	LK_ASSERT(lk_registry_count(r) + lk_registry_duplicates(r) == ls.n_keys);
	{
		struct walk w = { .r = r, .ls = &ls };

		lk_registry_diff(NULL, r, on_key, &w);
		LK_ASSERT(w.n == ls.n_distinct);
	}
	lk_registry_diff(r, r, on_any, &n_diff);
	LK_ASSERT(n_diff == 0);
	lk_registry_diff(r, NULL, on_any, &n_diff);
	LK_ASSERT(n_diff == ls.n_distinct);
	LK_ASSERT(lk_registry_find(r, "", 0) == NULL);
	lk_registry_free(r);
out:
	free(ls.keys);
	return 0;
}
