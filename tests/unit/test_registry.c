/* tests/unit/test_registry.c - auth/registry: loading authorized_keys (spec
 * lookout-core 6.3 and 16: comments, CRLF, key IDs of the 17.2 keys,
 * malformed lines as errors naming their line, permissions, duplicates,
 * limits), lookups, the reload diff, and hot swap under concurrent readers.
 *
 * The swap test is the one to run under ThreadSanitizer too: reader threads
 * loop over enter/find/leave while the main thread swaps 1000 snapshots. A
 * use-after-free shows up under ASan, a missing happens-before under TSan. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/keys.h"
#include "auth/registry.h"
#include "core/crypto.h"

#define B64_A "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define PUB_A "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define ID_A  "21fe31dfa154a261"
#define B64_B "4uR5Bj2c3Tx8VkWK7hNqHYZ4OA2CpIza/bO8kibhB4w="
#define ID_B  "453eb1222a9a1412"

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lk_test_registry.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* path_of returns tmpdir/name in a static buffer (one at a time). */
static const char *path_of(const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0); /* exact mode, whatever the umask */
}

static struct lk_registry *load_text(const char *name, const char *text, char *err, size_t err_len)
{
	const char *p = path_of(name);

	write_file(p, text, strlen(text), 0600);
	return lk_registry_load(p, err, err_len);
}

/* key_line writes the authorized_keys line of the key derived from seed
 * byte i (a deterministic key per index) into out. */
static void key_line(unsigned i, const char *comment, char *out, size_t out_len,
		     char id[LK_KEYS_ID_LEN + 1])
{
	uint8_t seed[32] = { 0 }, pub[32], priv[64];

	seed[0] = (uint8_t)i;
	seed[1] = (uint8_t)(i >> 8);
	seed[2] = 0x5a;
	lk_crypto_ed25519_keypair(seed, pub, priv);
	assert_int_equal(lk_keys_format_line(pub, comment, out, out_len), 0);
	if (id != NULL)
		lk_keys_id(pub, id);
}

/* ---- loading ------------------------------------------------------------- */

static void test_load_valid(void **state)
{
	static const char text[] = "# fleet controllers\n"
				   "\n"
				   "   \t\n"
				   "  # indented comment\r\n"
				   "ed25519 " B64_A " alice  laptop\r\n"
				   "\r\n"
				   "\ted25519   " B64_B "\n";
	char err[LK_REGISTRY_ERR_MAX];
	uint8_t pub_a[32];
	size_t n = 0;
	struct lk_registry *r = load_text("valid", text, err, sizeof(err));
	const struct lk_pubkey *a, *b;

	(void)state;
	if (r == NULL)
		fail_msg("load: %s", err);
	assert_int_equal(lk_registry_count(r), 2);
	assert_int_equal(lk_registry_duplicates(r), 0);
	a = lk_registry_find(r, ID_A, strlen(ID_A));
	b = lk_registry_find(r, ID_B, strlen(ID_B));
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->id, ID_A); /* spec 17.2 key IDs */
	assert_string_equal(b->id, ID_B);
	assert_int_equal(lk_crypto_hex_decode(PUB_A, 64, pub_a, 32, &n), 0);
	assert_memory_equal(a->key, pub_a, 32);
	assert_string_equal(a->comment, "alice laptop"); /* fields joined by one space */
	assert_string_equal(b->comment, "");
	lk_registry_free(r);
}

static void test_find(void **state)
{
	char err[LK_REGISTRY_ERR_MAX];
	struct lk_registry *r = load_text("find", "ed25519 " B64_A "\n", err, sizeof(err));

	(void)state;
	assert_non_null(r);
	assert_non_null(lk_registry_find(r, ID_A "xyz", 16));	  /* only len bytes count */
	assert_null(lk_registry_find(r, "21FE31DFA154A261", 16)); /* case-sensitive */
	assert_null(lk_registry_find(r, ID_A, 15));
	assert_null(lk_registry_find(r, ID_A "0", 17));
	assert_null(lk_registry_find(r, "", 0));
	assert_null(lk_registry_find(r, ID_B, 16));
	assert_null(lk_registry_find(r, "21fe31dfa154a26\0", 16));
	assert_null(lk_registry_find(NULL, ID_A, 16));
	assert_int_equal(lk_registry_count(NULL), 0);
	lk_registry_free(r);
	lk_registry_free(NULL);
}

static void test_empty_and_no_final_newline(void **state)
{
	char err[LK_REGISTRY_ERR_MAX];
	struct lk_registry *r = load_text("empty", "", err, sizeof(err));

	(void)state;
	assert_non_null(r); /* the file must exist, but may be empty */
	assert_int_equal(lk_registry_count(r), 0);
	lk_registry_free(r);
	r = load_text("comments", "# nothing yet\n\n", err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(lk_registry_count(r), 0);
	lk_registry_free(r);
	r = load_text("nofinal", "# a\ned25519 " B64_A " last", err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(lk_registry_count(r), 1);
	assert_string_equal(lk_registry_find(r, ID_A, 16)->comment, "last");
	lk_registry_free(r);
}

/* expect_fail loads text and checks that it fails with want in the error. */
static void expect_fail(const char *text, const char *want)
{
	char err[LK_REGISTRY_ERR_MAX] = "";
	struct lk_registry *r = load_text("bad", text, err, sizeof(err));

	if (r != NULL)
		fail_msg("loaded, want error containing \"%s\"", want);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	if (strncmp(err, "authorized_keys \"", 17) != 0 || strstr(err, tmpdir) == NULL)
		fail_msg("error \"%s\" does not name the file", err);
}

static void test_malformed_line_names_line(void **state)
{
	(void)state;
	expect_fail("ed25519 " B64_A "\n# c\n\ned25519 notbase64!\n",
		    "line 4: base64 decode failed");
	expect_fail("ssh-ed25519 " B64_A "\n", "line 1: unsupported algorithm \"ssh-ed25519\"");
	expect_fail("# c\r\ned25519\r\n", "line 2: too few fields");
	expect_fail("ED25519 " B64_A "\n", "line 1: unsupported algorithm");
	expect_fail("ed25519 AAAA\n", "line 1: invalid key length: got 3 bytes, want 32");
	expect_fail("ed25519 " B64_A "\ned25519 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo\n",
		    "line 2: base64 decode failed"); /* padding required */
	/* a malformed line after good ones still fails the whole load */
	expect_fail("ed25519 " B64_A "\ned25519 " B64_B "\nrsa x\n", "line 3:");
}

static void test_line_length_cap(void **state)
{
	size_t max = LK_KEYS_LINE_MAX - 1; /* longest line whose '\n' fits 64 KiB */
	char *text = malloc(2 * LK_KEYS_LINE_MAX + 64);
	char err[LK_REGISTRY_ERR_MAX];
	struct lk_registry *r;
	size_t o;

	(void)state;
	assert_non_null(text);
	o = (size_t)snprintf(text, 64, "ed25519 %s\n#", B64_A);
	memset(text + o, 'x', max - 1);
	o += max - 1;
	text[o++] = '\n';
	text[o] = '\0';
	r = load_text("longok", text, err, sizeof(err));
	if (r == NULL)
		fail_msg("%s", err);
	assert_int_equal(lk_registry_count(r), 1);
	lk_registry_free(r);
	/* the same line as the last one, without '\n', is still fine */
	text[o - 1] = '\0';
	r = load_text("longok2", text, err, sizeof(err));
	assert_non_null(r);
	lk_registry_free(r);
	/* one byte more is a load error naming the line */
	text[o - 1] = 'x';
	text[o] = '\n';
	text[o + 1] = '\0';
	expect_fail(text, "line 2: line longer than 65535 bytes");
	free(text);
}

static void test_permissions(void **state)
{
	static const char text[] = "ed25519 " B64_A "\n";
	char err[LK_REGISTRY_ERR_MAX], want[512];
	const char *p = path_of("perm");
	struct lk_registry *r;
	static const mode_t ok[] = { 0600, 0640, 0400, 0440 };
	static const mode_t bad[] = { 0644, 0604, 0620, 0602, 0666 };

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		write_file(p, text, strlen(text), ok[i]);
		r = lk_registry_load(p, err, sizeof(err));
		if (r == NULL)
			fail_msg("mode %04o: %s", (unsigned)ok[i], err);
		lk_registry_free(r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(p, text, strlen(text), bad[i]);
		assert_null(lk_registry_load(p, err, sizeof(err)));
	}
	write_file(p, text, strlen(text), 0644);
	assert_null(lk_registry_load(p, err, sizeof(err)));
	snprintf(want, sizeof(want),
		 "authorized_keys \"%s\" is world-readable (mode 0644): restrict permissions to "
		 "0600 or 0640 before loading",
		 p);
	assert_string_equal(err, want);
	write_file(p, text, strlen(text), 0620);
	assert_null(lk_registry_load(p, err, sizeof(err)));
	assert_non_null(strstr(err, "is group/world-writable (mode 0620)"));
	/* a directory is not a regular file */
	assert_null(lk_registry_load(tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, "is not a regular file"));
}

static void test_missing_file(void **state)
{
	char err[LK_REGISTRY_ERR_MAX];

	(void)state;
	assert_null(lk_registry_load(path_of("does-not-exist"), err, sizeof(err)));
	assert_non_null(strstr(err, "no such file or directory"));
	assert_non_null(strstr(err, "does-not-exist"));
	/* a NULL or empty err buffer is fine */
	assert_null(lk_registry_load(path_of("does-not-exist"), NULL, 0));
}

static void test_duplicates_keep_first(void **state)
{
	enum { N = 300 };
	size_t cap = 2 * N * 128 + 256, o = 0;
	char *text = malloc(cap), line[LK_KEYS_LINE_OUT_MAX], comment[32], err[LK_REGISTRY_ERR_MAX];
	char ids[N][LK_KEYS_ID_LEN + 1];
	struct lk_registry *r;

	(void)state;
	assert_non_null(text);
	/* every key twice, then A three times: the first line of each ID wins
	 * even though qsort is not stable */
	for (unsigned pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < N; i++) {
			snprintf(comment, sizeof(comment), "%s%u", pass == 0 ? "first" : "second",
				 i);
			key_line(i, comment, line, sizeof(line), ids[i]);
			o += (size_t)snprintf(text + o, cap - o, "%s\n", line);
		}
	}
	o += (size_t)snprintf(text + o, cap - o,
			      "ed25519 " B64_A " a1\ned25519 " B64_A " a2\ned25519 " B64_A " a3\n");
	r = load_text("dups", text, err, sizeof(err));
	if (r == NULL)
		fail_msg("%s", err);
	assert_int_equal(lk_registry_count(r), N + 1);
	assert_int_equal(lk_registry_duplicates(r), N + 2);
	for (unsigned i = 0; i < N; i++) {
		const struct lk_pubkey *k = lk_registry_find(r, ids[i], LK_KEYS_ID_LEN);

		assert_non_null(k);
		snprintf(comment, sizeof(comment), "first%u", i);
		assert_string_equal(k->comment, comment);
	}
	assert_string_equal(lk_registry_find(r, ID_A, 16)->comment, "a1");
	lk_registry_free(r);
	free(text);
}

static void test_key_limit(void **state)
{
	size_t cap = (LK_REGISTRY_KEYS_MAX + 1) * 64, o = 0;
	char *text = malloc(cap), line[LK_KEYS_LINE_OUT_MAX], err[LK_REGISTRY_ERR_MAX];
	struct lk_registry *r;

	(void)state;
	assert_non_null(text);
	for (unsigned i = 0; i < LK_REGISTRY_KEYS_MAX; i++) {
		key_line(i, NULL, line, sizeof(line), NULL);
		o += (size_t)snprintf(text + o, cap - o, "%s\n", line);
	}
	r = load_text("max", text, err, sizeof(err));
	if (r == NULL)
		fail_msg("%s", err);
	assert_int_equal(lk_registry_count(r), LK_REGISTRY_KEYS_MAX);
	lk_registry_free(r);
	snprintf(text + o, cap - o, "ed25519 " B64_A "\n");
	expect_fail(text, "line 8193: more than 8192 keys");
	free(text);
}

/* diff_count is a lk_registry_diff_cb that counts differences. */
static void diff_count(void *arg, bool added, const struct lk_pubkey *k)
{
	(void)added;
	(void)k;
	(*(size_t *)arg)++;
}

/* lk__registry_parse (the fuzzers' entry point) must be the file loader
 * minus the file: same keys, same duplicates, same error texts. */
static void test_parse_buffer_matches_load(void **state)
{
	static const char *const texts[] = {
		"",
		"# nothing\n\n",
		"ed25519 " B64_A " alice  laptop\r\n\r\n\ted25519   " B64_B "\n",
		"ed25519 " B64_B " b1\ned25519 " B64_A "\ned25519 " B64_B " b2",
		"ed25519 " B64_A "\n# c\n\ned25519 notbase64!\n",
		"# c\r\ned25519\r\n",
		"ed25519 " B64_A "\nrsa x\n",
	};
	enum { N_TEXTS = sizeof(texts) / sizeof(texts[0]) };
	size_t long_len = 2 * LK_KEYS_LINE_MAX;
	char *long_text = malloc(long_len);
	char err_f[LK_REGISTRY_ERR_MAX], err_m[LK_REGISTRY_ERR_MAX];

	(void)state;
	assert_non_null(long_text);
	for (size_t i = 0; i < N_TEXTS + 3; i++) {
		const char *text = i < N_TEXTS ? texts[i] : long_text;
		size_t len, n_diff = 0;
		struct lk_registry *f, *m;

		if (i >= N_TEXTS) {
			/* a comment of LK_KEYS_LINE_MAX - 2, - 1 (the longest
			 * line) and LK_KEYS_LINE_MAX (too long) bytes */
			size_t clen = LK_KEYS_LINE_MAX - 2 + (i - N_TEXTS);

			len = (size_t)snprintf(long_text, 64, "ed25519 %s\n#", B64_A);
			memset(long_text + len, 'x', clen - 1);
			len += clen - 1;
			long_text[len++] = '\n';
			long_text[len] = '\0';
		}
		len = strlen(text);
		write_file(path_of("same"), text, len, 0600);
		f = lk_registry_load(path_of("same"), err_f, sizeof(err_f));
		m = lk__registry_parse(text, len, path_of("same"), err_m, sizeof(err_m));
		assert_string_equal(err_m, err_f);
		assert_true((f == NULL) == (m == NULL));
		assert_int_equal(lk_registry_count(m), lk_registry_count(f));
		assert_int_equal(lk_registry_duplicates(m), lk_registry_duplicates(f));
		lk_registry_diff(f, m, diff_count, &n_diff);
		assert_int_equal(n_diff, 0);
		lk_registry_free(f);
		lk_registry_free(m);
	}
	free(long_text);
}

/* The byte cap applies to a buffer as to a file: 1024 maximal comment lines
 * are exactly LK_REGISTRY_FILE_MAX bytes, one more byte fails. */
static void test_parse_buffer_size_cap(void **state)
{
	size_t len = LK_REGISTRY_FILE_MAX;
	char *text = malloc(len + 1), err[LK_REGISTRY_ERR_MAX];
	struct lk_registry *r;

	(void)state;
	assert_non_null(text);
	memset(text, '#', len + 1);
	for (size_t o = LK_KEYS_LINE_MAX - 1; o < len; o += LK_KEYS_LINE_MAX)
		text[o] = '\n';
	r = lk__registry_parse(text, len, "mem", err, sizeof(err));
	if (r == NULL)
		fail_msg("%s", err);
	assert_int_equal(lk_registry_count(r), 0);
	lk_registry_free(r);
	r = lk__registry_parse(text, len + 1, "mem", err, sizeof(err));
	assert_null(r);
	assert_string_equal(err, "authorized_keys \"mem\" is larger than 67108864 bytes");
	r = lk__registry_parse(NULL, 0, "mem", err, sizeof(err));
	assert_non_null(r); /* no input at all is an empty file */
	lk_registry_free(r);
	/* the name is sanitised like a path */
	assert_null(lk__registry_parse("x\n", 2, "a\nb\"", err, sizeof(err)));
	assert_string_equal(err, "authorized_keys \"a?b?\" line 1: too few fields");
	free(text);
}

/* ---- diff ---------------------------------------------------------------- */

struct diff_log {
	char buf[512];
	size_t len;
};

static void diff_cb(void *arg, bool added, const struct lk_pubkey *k)
{
	struct diff_log *d = arg;

	d->len += (size_t)snprintf(d->buf + d->len, sizeof(d->buf) - d->len, "%c%s:%s ",
				   added ? '+' : '-', k->id, k->comment);
}

static void test_diff(void **state)
{
	char err[LK_REGISTRY_ERR_MAX], line[LK_KEYS_LINE_OUT_MAX], text[LK_KEYS_LINE_OUT_MAX + 128],
	    id_c[17], want[256];
	struct lk_registry *old_r, *new_r;
	struct diff_log d = { .len = 0 };

	(void)state;
	old_r = load_text("old", "ed25519 " B64_A " a\ned25519 " B64_B " b\n", err, sizeof(err));
	key_line(7, "c", line, sizeof(line), id_c);
	snprintf(text, sizeof(text), "ed25519 " B64_B " b-renamed\n%s\n", line);
	new_r = load_text("new", text, err, sizeof(err));
	assert_non_null(old_r);
	assert_non_null(new_r);
	lk_registry_diff(old_r, new_r, diff_cb, &d);
	/* key-ID order; a comment change alone is not a difference */
	if (strcmp(id_c, ID_A) < 0)
		snprintf(want, sizeof(want), "+%s:c -" ID_A ":a ", id_c);
	else
		snprintf(want, sizeof(want), "-" ID_A ":a +%s:c ", id_c);
	assert_string_equal(d.buf, want);
	d.len = 0;
	d.buf[0] = '\0';
	lk_registry_diff(NULL, old_r, diff_cb, &d);
	assert_string_equal(d.buf, "+" ID_A ":a +" ID_B ":b ");
	d.len = 0;
	d.buf[0] = '\0';
	lk_registry_diff(old_r, NULL, diff_cb, &d);
	assert_string_equal(d.buf, "-" ID_A ":a -" ID_B ":b ");
	d.len = 0;
	d.buf[0] = '\0';
	lk_registry_diff(old_r, old_r, diff_cb, &d);
	assert_int_equal(d.len, 0);
	lk_registry_free(old_r);
	lk_registry_free(new_r);
}

/* ---- the cell ------------------------------------------------------------ */

enum { READERS = 4, SWAPS = 1000 };

struct reader_arg {
	struct lk_registry_cell *cell;
	unsigned idx;
	_Atomic bool *stop;
	_Atomic unsigned long *errors;
	unsigned long loops;
	unsigned long saw_a, saw_c;
};

/* reader_main loops over enter/find/leave and reads every byte of what it
 * found, so a freed snapshot is touched if the scheme is wrong. cmocka's
 * asserts are not thread-safe: failures are counted instead. */
static void *reader_main(void *p)
{
	struct reader_arg *a = p;
	uint8_t sink = 0;

	while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
		const struct lk_registry *r = lk_registry_enter(a->cell, a->idx);
		const struct lk_pubkey *b = lk_registry_find(r, ID_B, 16);
		const struct lk_pubkey *x = lk_registry_find(r, ID_A, 16);

		if (lk_registry_count(r) != 2 || b == NULL || strcmp(b->id, ID_B) != 0)
			atomic_fetch_add(a->errors, 1);
		if (x != NULL)
			a->saw_a++;
		else
			a->saw_c++;
		for (size_t i = 0; b != NULL && i < sizeof(b->key); i++)
			sink ^= b->key[i];
		lk_registry_leave(a->cell, a->idx);
		a->loops++;
		/* Odd readers also work outside their sections, as workers do;
		 * even ones hammer enter/leave back to back. */
		for (volatile unsigned spin = 0; (a->idx & 1) != 0 && spin < 200; spin++)
			;
	}
	return (void *)(uintptr_t)sink;
}

static void test_swap_under_readers(void **state)
{
	char err[LK_REGISTRY_ERR_MAX], line[LK_KEYS_LINE_OUT_MAX], text[LK_KEYS_LINE_OUT_MAX + 128];
	struct reader_arg args[READERS];
	pthread_t th[READERS];
	_Atomic bool stop = false;
	_Atomic unsigned long errors = 0;
	struct lk_registry_cell *cell;
	struct lk_registry *first;
	const char *pa, *pc;

	(void)state;
	/* two files: {A, B} and {B, C}; B is always there */
	write_file(path_of("ab"), "ed25519 " B64_A "\ned25519 " B64_B "\n",
		   strlen("ed25519 " B64_A "\ned25519 " B64_B "\n"), 0600);
	key_line(9, "c", line, sizeof(line), NULL);
	snprintf(text, sizeof(text), "ed25519 " B64_B "\n%s\n", line);
	write_file(path_of("bc"), text, strlen(text), 0600);
	pa = strdup(path_of("ab"));
	pc = strdup(path_of("bc"));
	first = lk_registry_load(pa, err, sizeof(err));
	assert_non_null(first);
	cell = lk_registry_cell_new(first, READERS);
	assert_non_null(cell);
	for (unsigned i = 0; i < READERS; i++) {
		args[i] =
		    (struct reader_arg){ .cell = cell, .idx = i, .stop = &stop, .errors = &errors };
		assert_int_equal(pthread_create(&th[i], NULL, reader_main, &args[i]), 0);
	}
	for (unsigned i = 0; i < SWAPS; i++) {
		struct lk_registry *next = lk_registry_load(i % 2 ? pa : pc, err, sizeof(err));

		assert_non_null(next);
		lk_registry_swap(cell, next);
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < READERS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(args[i].loops > 0);
	}
	assert_int_equal(atomic_load(&errors), 0);
	lk_registry_cell_free(cell);
	free((void *)pa);
	free((void *)pc);
}

static void test_cell_single_thread(void **state)
{
	char err[LK_REGISTRY_ERR_MAX];
	struct lk_registry *r = load_text("one", "ed25519 " B64_A "\n", err, sizeof(err));
	struct lk_registry_cell *c = lk_registry_cell_new(NULL, 2);
	const struct lk_registry *got;

	(void)state;
	assert_non_null(r);
	assert_non_null(c);
	/* no snapshot yet: readers see NULL and find nothing */
	got = lk_registry_enter(c, 0);
	assert_null(got);
	assert_null(lk_registry_find(got, ID_A, 16));
	lk_registry_leave(c, 0);
	lk_registry_swap(c, r);
	got = lk_registry_enter(c, 1);
	assert_ptr_equal(got, r);
	assert_non_null(lk_registry_find(got, ID_A, 16));
	lk_registry_leave(c, 1);
	lk_registry_swap(c, NULL); /* frees r: no reader inside */
	assert_null(lk_registry_enter(c, 0));
	lk_registry_leave(c, 0);
	lk_registry_cell_free(c);
	lk_registry_cell_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_valid),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_empty_and_no_final_newline),
		cmocka_unit_test(test_malformed_line_names_line),
		cmocka_unit_test(test_line_length_cap),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_duplicates_keep_first),
		cmocka_unit_test(test_key_limit),
		cmocka_unit_test(test_parse_buffer_matches_load),
		cmocka_unit_test(test_parse_buffer_size_cap),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_cell_single_thread),
		cmocka_unit_test(test_swap_under_readers),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
