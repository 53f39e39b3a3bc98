/* tests/unit/test_enroll.c - auth/enroll: parsing the body (JSON errors,
 * escapes, missing and unknown members), the spec 6.6 order of answers and
 * their exact texts, the appended line (spec 17.2 vector), file mode and
 * preserved content, the persisted burn across restarts, fail-closed start-up
 * on an unreadable burn file, write failures that must not burn, a burn that
 * cannot be persisted, and concurrent attempts: exactly one success.
 *
 * The concurrency test also runs under ThreadSanitizer (LK_TSAN_TESTS). Each
 * test gets a fresh directory. Some failures need permission bits to bite,
 * and the tests usually run as root: those run the attempt on a thread that
 * has dropped its effective capabilities (capabilities are per thread), and
 * skip if the bits still do not bite (e.g. an unusual container). */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/capability.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/enroll.h"
#include "auth/keys.h"
#include "auth/registry.h"
#include "core/crypto.h"

/* spec 17.2: key A, its ID, and the line enrolling it appends */
#define B64_A  "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define ID_A   "21fe31dfa154a261"
#define LINE_A "ed25519 " B64_A " enrolled:" ID_A "\n"
#define B64_B  "4uR5Bj2c3Tx8VkWK7hNqHYZ4OA2CpIza/bO8kibhB4w="
#define ID_B   "453eb1222a9a1412"
#define LINE_B "ed25519 " B64_B " enrolled:" ID_B "\n"
#define TOKEN  "enroll-me-6f1c2a"

static char tmpdir[64];

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lk_test_enroll.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s'; rm -rf '%s'", tmpdir, tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* path_of returns tmpdir/name in one of 8 static slots used in turn, so a
 * few paths can be live at once. */
static const char *path_of(const char *name)
{
	static char p[8][256];
	static unsigned k;
	char *out = p[k++ % 8];

	snprintf(out, sizeof(p[0]), "%s/%s", tmpdir, name);
	return out;
}

/* path_to copies tmpdir/name into out, for paths a test keeps using. */
static const char *path_to(char out[256], const char *name)
{
	snprintf(out, 256, "%s/%s", tmpdir, name);
	return out;
}

static void write_file(const char *path, const char *data, mode_t mode)
{
	size_t len = strlen(data);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0); /* exact mode, whatever the umask */
}

/* read_file returns the content of path (NUL-terminated, static, at most
 * 64 KiB), or NULL if it cannot be opened. */
static const char *read_file(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* count_entries returns the number of entries in tmpdir (or dir) besides . and ..:
 * a temporary file left behind shows up here. */
static unsigned count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static struct lk_enroll *new_enroll(const char *token, const char *keys)
{
	char err[LK_ENROLL_MSG_MAX];
	struct lk_enroll *e = lk_enroll_new(token, strlen(token), keys, err, sizeof(err));

	if (e == NULL)
		fail_msg("lk_enroll_new: %s", err);
	return e;
}

/* attempt parses a body with this token and key (either may be NULL: the
 * member is left out) and runs lk_enroll_attempt. */
static enum lk_enroll_verdict attempt(struct lk_enroll *e, const char *token, const char *b64,
				      char id[LK_KEYS_ID_LEN + 1], char *msg, size_t msg_len)
{
	char body[16384];
	struct lk_enroll_req rq;
	enum lk_enroll_verdict v;
	size_t n = 1;

	body[0] = '{';
	if (token != NULL)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "\"enrollment_token\": \"%s\"%s",
				      token, b64 != NULL ? ", " : "");
	if (b64 != NULL)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "\"public_key\": \"%s\"", b64);
	assert_true(n + 1 < sizeof(body));
	body[n++] = '}';
	assert_int_equal(lk_enroll_parse(body, n, &rq, msg, msg_len), 0);
	v = lk_enroll_attempt(e, &rq, id, msg, msg_len);
	lk_enroll_req_done(&rq);
	return v;
}

/* ---- parsing ---------------------------------------------------------------- */

static void test_parse_escapes_and_unknown_members(void **state)
{
	static const char token[] = "s3cr\"et\\\xc3\xa9/\t";
	static const char body[] = "{\"x\": [1, {\"enrollment_token\": \"no\"}], "
				   "\"public_key\": \"" B64_A "\", \"other\": null, "
				   "\"enrollment_token\": \"s3cr\\\"et\\\\\\u00e9\\/\\t\"}";
	struct lk_enroll *e = new_enroll(token, path_of("keys"));
	char id[LK_KEYS_ID_LEN + 1] = "", msg[LK_ENROLL_MSG_MAX];
	struct lk_enroll_req rq;

	write_file(path_of("keys"), "", 0600);
	assert_int_equal(lk_enroll_parse(body, sizeof(body) - 1, &rq, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	assert_int_equal(lk_enroll_attempt(e, &rq, id, msg, sizeof(msg)), LK_ENROLL_OK);
	lk_enroll_req_done(&rq);
	assert_string_equal(id, ID_A);
	assert_string_equal(msg, "");
	assert_string_equal(read_file(path_of("keys")), LINE_A);
	lk_enroll_free(e);
}

static void test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"not json",
		"{\"enrollment_token\": \"" TOKEN "\", \"public_key\": \"" B64_A "\"} trailing",
		"{\"enrollment_token\": 12, \"public_key\": \"" B64_A "\"}",
		"{\"enrollment_token\": \"" TOKEN "\", \"public_key\": [\"" B64_A "\"]}",
		"[\"" TOKEN "\"]",
		"\"" TOKEN "\"",
		"{\"enrollment_token\": \"a\nb\"}",
	};
	static const uint8_t zero[sizeof(struct lk_enroll_req)];
	char msg[LK_ENROLL_MSG_MAX], *big;
	struct lk_enroll_req rq;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&rq, 0xa5, sizeof(rq));
		if (lk_enroll_parse(bad[i], strlen(bad[i]), &rq, msg, sizeof(msg)) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_string_equal(msg, "invalid JSON");
		assert_memory_equal(&rq, zero, sizeof(rq)); /* wiped */
	}
	/* the bound is the caller's 413, checked here too */
	big = malloc(LK_ENROLL_BODY_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', LK_ENROLL_BODY_MAX + 1);
	memcpy(big, "{}", 2);
	assert_int_equal(lk_enroll_parse(big, LK_ENROLL_BODY_MAX, &rq, msg, sizeof(msg)), 0);
	assert_int_equal(lk_enroll_parse(big, LK_ENROLL_BODY_MAX + 1, &rq, msg, sizeof(msg)),
			 -E2BIG);
	assert_string_equal(msg, "request body too large");
	free(big);
}

/* A missing or null member is an empty string, as Go decodes it. */
static void test_missing_members(void **state)
{
	static const char null_key[] =
	    "{\"enrollment_token\": \"" TOKEN "\", \"public_key\": null}";
	struct lk_enroll *e = new_enroll(TOKEN, path_of("keys"));
	char id[LK_KEYS_ID_LEN + 1] = "", msg[LK_ENROLL_MSG_MAX];
	struct lk_enroll_req rq;

	write_file(path_of("keys"), "", 0600);
	assert_int_equal(attempt(e, NULL, NULL, id, msg, sizeof(msg)), LK_ENROLL_WRONG);
	assert_int_equal(attempt(e, NULL, B64_A, id, msg, sizeof(msg)), LK_ENROLL_WRONG);
	assert_int_equal(attempt(e, TOKEN, NULL, id, msg, sizeof(msg)), LK_ENROLL_BAD_KEY);
	assert_string_equal(msg, "public_key: expected 32 bytes, got 0");
	assert_int_equal(lk_enroll_parse("null", 4, &rq, msg, sizeof(msg)), 0);
	assert_int_equal(lk_enroll_attempt(e, &rq, id, msg, sizeof(msg)), LK_ENROLL_WRONG);
	assert_int_equal(lk_enroll_parse(null_key, sizeof(null_key) - 1, &rq, msg, sizeof(msg)), 0);
	assert_int_equal(lk_enroll_attempt(e, &rq, id, msg, sizeof(msg)), LK_ENROLL_BAD_KEY);
	assert_string_equal(msg, "public_key: expected 32 bytes, got 0");
	assert_false(lk_enroll_burned(e));
	assert_string_equal(id, ""); /* only written on success */
	assert_string_equal(read_file(path_of("keys")), "");
	lk_enroll_free(e);
}

/* ---- answers ---------------------------------------------------------------- */

static void expect_bad_key(struct lk_enroll *e, const char *b64, const char *want)
{
	char id[LK_KEYS_ID_LEN + 1], msg[LK_ENROLL_MSG_MAX];

	assert_int_equal(attempt(e, TOKEN, b64, id, msg, sizeof(msg)), LK_ENROLL_BAD_KEY);
	if (strcmp(msg, want) != 0)
		fail_msg("public_key \"%.40s...\": got \"%s\", want \"%s\"", b64, msg, want);
	assert_int_equal(lk_enroll_status(LK_ENROLL_BAD_KEY), 400);
	assert_string_equal(lk_enroll_message(LK_ENROLL_BAD_KEY, msg), want);
}

static void test_bad_key_messages(void **state)
{
	static char long_b64[10001];
	struct lk_enroll *e = new_enroll(TOKEN, path_of("keys"));
	char id[LK_KEYS_ID_LEN + 1], msg[LK_ENROLL_MSG_MAX];

	write_file(path_of("keys"), "# keys\n", 0600);
	expect_bad_key(e, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo", /* padding required */
		       "public_key: invalid base64");
	expect_bad_key(e, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=", /* URL alphabet */
		       "public_key: invalid base64");
	expect_bad_key(e, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\\n",
		       "public_key: invalid base64"); /* Go skipped the newline */
	expect_bad_key(e, "not base64!", "public_key: invalid base64");
	expect_bad_key(e, "AAAA", "public_key: expected 32 bytes, got 3");
	expect_bad_key(e, "AA==", "public_key: expected 32 bytes, got 1");
	expect_bad_key(e, "", "public_key: expected 32 bytes, got 0");
	/* 64 characters: a 48-byte key (an Ed25519 private key, say) */
	expect_bad_key(e, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		       "public_key: expected 32 bytes, got 48");
	/* far past one decoding chunk: the count is still exact */
	memset(long_b64, 'A', 10000);
	expect_bad_key(e, long_b64, "public_key: expected 32 bytes, got 7500");
	long_b64[9998] = '=';
	long_b64[9999] = '=';
	expect_bad_key(e, long_b64, "public_key: expected 32 bytes, got 7498");
	memset(long_b64, 'A', 10000);
	long_b64[255] = '='; /* padding that ends a chunk but not the string */
	expect_bad_key(e, long_b64, "public_key: invalid base64");
	/* the token is checked first: a wrong token with a bad key is a 401 */
	assert_int_equal(attempt(e, "wrong", "AAAA", id, msg, sizeof(msg)), LK_ENROLL_WRONG);
	assert_false(lk_enroll_burned(e));
	assert_string_equal(read_file(path_of("keys")), "# keys\n");
	/* and none of that burned anything */
	assert_int_equal(attempt(e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	/* once burned, a bad key is "already used", not a 400 */
	assert_int_equal(attempt(e, TOKEN, "AAAA", id, msg, sizeof(msg)), LK_ENROLL_BURNED);
	lk_enroll_free(e);
}

static void test_wrong_token_not_burned(void **state)
{
	char keys[256], id[LK_KEYS_ID_LEN + 1] = "", msg[LK_ENROLL_MSG_MAX];
	struct stat before, after;
	struct lk_enroll *e;

	e = new_enroll(TOKEN, path_to(keys, "keys"));
	write_file(keys, "ed25519 " B64_B " bob\n", 0600);
	assert_int_equal(stat(keys, &before), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(attempt(e, TOKEN "x", B64_A, id, msg, sizeof(msg)),
				 LK_ENROLL_WRONG);
		assert_string_equal(msg, "");
	}
	assert_int_equal(attempt(e, "", B64_A, id, msg, sizeof(msg)), LK_ENROLL_WRONG);
	assert_int_equal(attempt(e, "enroll-me", B64_A, id, msg, sizeof(msg)), LK_ENROLL_WRONG);
	assert_int_equal(lk_enroll_status(LK_ENROLL_WRONG), 401);
	assert_string_equal(lk_enroll_message(LK_ENROLL_WRONG, msg), "unauthorized");
	assert_false(lk_enroll_burned(e));
	assert_int_equal(stat(keys, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino); /* not even rewritten */
	assert_string_equal(read_file(keys), "ed25519 " B64_B " bob\n");
	assert_null(read_file(path_of("keys" LK_ENROLL_BURN_SUFFIX)));
	assert_string_equal(id, "");
	/* the right token still works afterwards */
	assert_int_equal(attempt(e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	assert_string_equal(id, ID_A);
	lk_enroll_free(e);
}

/* burn_hex writes the burn file's expected content for token. */
static void burn_hex(const char *token, char out[2 * LK_SHA256_LEN + 2])
{
	uint8_t d[LK_SHA256_LEN];

	lk_crypto_sha256(token, strlen(token), d);
	assert_int_equal(lk_crypto_hex_encode(d, sizeof(d), out, 2 * LK_SHA256_LEN + 1), 0);
	out[2 * LK_SHA256_LEN] = '\n';
	out[2 * LK_SHA256_LEN + 1] = '\0';
}

static void test_success(void **state)
{
	static const char before[] = "# fleet controllers\ned25519 " B64_B " bob\n";
	char keys[256], id[LK_KEYS_ID_LEN + 1], msg[LK_ENROLL_MSG_MAX], err[LK_REGISTRY_ERR_MAX];
	char hex[2 * LK_SHA256_LEN + 2];
	const struct lk_pubkey *k;
	struct lk_registry *r;
	struct lk_enroll *e;

	e = new_enroll(TOKEN, path_to(keys, "keys"));
	write_file(keys, before, 0640); /* group-readable is allowed, and becomes 0600 */
	assert_false(lk_enroll_burned(e));
	assert_int_equal(attempt(e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	assert_string_equal(msg, "");
	assert_string_equal(id, ID_A);
	assert_int_equal(lk_enroll_status(LK_ENROLL_OK), 200);
	assert_null(lk_enroll_message(LK_ENROLL_OK, msg));
	assert_true(lk_enroll_burned(e));
	assert_string_equal(read_file(keys), "# fleet controllers\ned25519 " B64_B " bob\n" LINE_A);
	assert_int_equal(mode_of(keys), 0600);
	/* the burn file: the token's digest, 0600; no temporary file left over */
	burn_hex(TOKEN, hex);
	assert_string_equal(read_file(path_of("keys" LK_ENROLL_BURN_SUFFIX)), hex);
	assert_int_equal(mode_of(path_of("keys" LK_ENROLL_BURN_SUFFIX)), 0600);
	assert_int_equal(count_entries(tmpdir), 2);
	/* what the caller does next: reload the registry, which has the key */
	r = lk_registry_load(keys, err, sizeof(err));
	if (r == NULL)
		fail_msg("lk_registry_load: %s", err);
	assert_int_equal(lk_registry_count(r), 2);
	k = lk_registry_find(r, ID_A, LK_KEYS_ID_LEN);
	assert_non_null(k);
	assert_string_equal(k->comment, "enrolled:" ID_A);
	lk_registry_free(r);
	/* a second attempt, even with another key, finds the token used */
	assert_int_equal(attempt(e, TOKEN, B64_B, id, msg, sizeof(msg)), LK_ENROLL_BURNED);
	assert_int_equal(lk_enroll_status(LK_ENROLL_BURNED), 401);
	assert_string_equal(lk_enroll_message(LK_ENROLL_BURNED, msg),
			    "enrollment token already used");
	assert_string_equal(read_file(keys), "# fleet controllers\ned25519 " B64_B " bob\n" LINE_A);
	lk_enroll_free(e);
}

static void test_previous_content_kept(void **state)
{
	char keys[256], id[LK_KEYS_ID_LEN + 1], msg[LK_ENROLL_MSG_MAX], err[LK_REGISTRY_ERR_MAX];
	struct lk_registry *r;
	struct lk_enroll *e;

	e = new_enroll(TOKEN, path_to(keys, "keys"));
	/* no final newline: one is added so the new key starts its own line */
	write_file(keys, "ed25519 " B64_B " bob", 0600);
	assert_int_equal(attempt(e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	assert_string_equal(read_file(keys), "ed25519 " B64_B " bob\n" LINE_A);
	r = lk_registry_load(keys, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(lk_registry_count(r), 2);
	lk_registry_free(r);
	lk_enroll_free(e);

	/* CRLF endings are left alone */
	unlink(path_of("keys" LK_ENROLL_BURN_SUFFIX));
	write_file(keys, "# a\r\ned25519 " B64_B "\r\n", 0600);
	e = new_enroll(TOKEN, keys);
	assert_int_equal(attempt(e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	assert_string_equal(read_file(keys), "# a\r\ned25519 " B64_B "\r\n" LINE_A);
	lk_enroll_free(e);

	/* a missing file is created, as the reference's O_CREAT did */
	unlink(path_of("keys" LK_ENROLL_BURN_SUFFIX));
	unlink(keys);
	e = new_enroll(TOKEN, keys);
	assert_int_equal(attempt(e, TOKEN, B64_B, id, msg, sizeof(msg)), LK_ENROLL_OK);
	assert_string_equal(id, ID_B);
	assert_string_equal(read_file(keys), LINE_B);
	assert_int_equal(mode_of(keys), 0600);
	lk_enroll_free(e);
}

/* ---- the persisted burn ------------------------------------------------------ */

static void test_restart(void **state)
{
	char keys[256], id[LK_KEYS_ID_LEN + 1], msg[LK_ENROLL_MSG_MAX], hex[2 * LK_SHA256_LEN + 2];
	struct lk_enroll *e;

	write_file(path_to(keys, "keys"), "", 0600);
	e = new_enroll(TOKEN, keys);
	assert_int_equal(attempt(e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	lk_enroll_free(e);
	/* same token after a restart: still burned (the reference re-armed it) */
	e = new_enroll(TOKEN, keys);
	assert_true(lk_enroll_burned(e));
	assert_int_equal(attempt(e, TOKEN, B64_B, id, msg, sizeof(msg)), LK_ENROLL_BURNED);
	assert_string_equal(read_file(keys), LINE_A);
	lk_enroll_free(e);
	/* the operator issues a new token: armed, and its use is persisted */
	e = new_enroll("second-token", keys);
	assert_false(lk_enroll_burned(e));
	assert_int_equal(attempt(e, TOKEN, B64_B, id, msg, sizeof(msg)), LK_ENROLL_WRONG);
	assert_int_equal(attempt(e, "second-token", B64_B, id, msg, sizeof(msg)), LK_ENROLL_OK);
	assert_string_equal(read_file(keys), LINE_A LINE_B);
	burn_hex("second-token", hex);
	assert_string_equal(read_file(path_of("keys" LK_ENROLL_BURN_SUFFIX)), hex);
	lk_enroll_free(e);
	e = new_enroll("second-token", keys);
	assert_true(lk_enroll_burned(e));
	lk_enroll_free(e);
	/* a hand-written digest counts too: upper case, no newline, blanks */
	burn_hex("third", hex);
	for (char *p = hex; *p != '\0'; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
	hex[2 * LK_SHA256_LEN] = '\0';
	write_file(path_of("keys" LK_ENROLL_BURN_SUFFIX), hex, 0644);
	e = new_enroll("third", keys);
	assert_true(lk_enroll_burned(e));
	lk_enroll_free(e);
	/* deleting the burn file re-arms the token */
	unlink(path_of("keys" LK_ENROLL_BURN_SUFFIX));
	e = new_enroll("third", keys);
	assert_false(lk_enroll_burned(e));
	lk_enroll_free(e);
	/* an empty token is never armed (spec 6.6 step 4) */
	e = new_enroll("", keys);
	assert_true(lk_enroll_burned(e));
	assert_int_equal(attempt(e, "", B64_A, id, msg, sizeof(msg)), LK_ENROLL_BURNED);
	lk_enroll_free(e);
}

/* nocap runs fn(arg) on a thread without effective capabilities, so that
 * permission bits apply even when the test runs as root. */
struct nocap {
	void (*fn)(void *arg);
	void *arg;
	int capset_errno;
};

static void *nocap_main(void *p)
{
	struct nocap *n = p;
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) != 0) {
		n->capset_errno = errno;
		return NULL;
	}
	d[0].effective = 0;
	d[1].effective = 0;
	if (syscall(SYS_capset, &h, d) != 0) {
		n->capset_errno = errno;
		return NULL;
	}
	n->fn(n->arg);
	return NULL;
}

static void run_nocap(void (*fn)(void *arg), void *arg)
{
	struct nocap n = { .fn = fn, .arg = arg };
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, nocap_main, &n), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	if (n.capset_errno != 0)
		fail_msg("capset: %s", strerror(n.capset_errno));
}

struct new_job {
	const char *token;
	const char *keys;
	struct lk_enroll *e;
	char err[LK_ENROLL_MSG_MAX];
	bool readable; /* the burn file could be opened after all */
};

static void new_job_run(void *arg)
{
	struct new_job *j = arg;
	int fd = open(path_of("keys" LK_ENROLL_BURN_SUFFIX), O_RDONLY | O_CLOEXEC);

	j->readable = fd >= 0;
	if (fd >= 0)
		close(fd);
	j->e = lk_enroll_new(j->token, strlen(j->token), j->keys, j->err, sizeof(j->err));
}

static void expect_new_fails(const char *want)
{
	char err[LK_ENROLL_MSG_MAX] = "";
	struct lk_enroll *e =
	    lk_enroll_new(TOKEN, strlen(TOKEN), path_of("keys"), err, sizeof(err));

	if (e != NULL)
		fail_msg("started, want \"%s\"", want);
	if (strstr(err, want) == NULL || strstr(err, path_of("keys" LK_ENROLL_BURN_SUFFIX)) == NULL)
		fail_msg("error \"%s\" lacks \"%s\" or the path", err, want);
}

static void test_unreadable_burn_file(void **state)
{
	struct new_job j = { .token = TOKEN };
	char keys[256], burn[256];

	path_to(burn, "keys" LK_ENROLL_BURN_SUFFIX);
	write_file(path_of("keys"), "", 0600);
	assert_int_equal(mkdir(burn, 0700), 0);
	expect_new_fails("is not a regular file");
	assert_int_equal(rmdir(burn), 0);
	write_file(burn, "burned\n", 0600);
	expect_new_fails("does not hold a token digest");
	write_file(burn, "", 0600);
	expect_new_fails("does not hold a token digest");
	/* a digest followed by more than blanks */
	write_file(burn, "0000000000000000000000000000000000000000000000000000000000000000\nx",
		   0600);
	expect_new_fails("does not hold a token digest");
	/* EACCES, which only bites without CAP_DAC_OVERRIDE */
	write_file(burn, "0000000000000000000000000000000000000000000000000000000000000000\n",
		   0000);
	j.keys = path_to(keys, "keys");
	run_nocap(new_job_run, &j);
	if (j.readable) {
		lk_enroll_free(j.e);
		skip();
	}
	assert_null(j.e);
	assert_non_null(strstr(j.err, "cannot be read: Permission denied"));
	assert_non_null(strstr(j.err, burn));
}

struct attempt_job {
	struct lk_enroll *e;
	const char *probe_dir;
	bool dir_writable; /* the permission bits did not bite: skip */
	enum lk_enroll_verdict v;
	char id[LK_KEYS_ID_LEN + 1];
	char msg[LK_ENROLL_MSG_MAX];
};

static void attempt_job_run(void *arg)
{
	struct attempt_job *j = arg;
	char probe[300];
	int fd;
	struct lk_enroll_req rq;
	static const char body[] =
	    "{\"enrollment_token\": \"" TOKEN "\", \"public_key\": \"" B64_A "\"}";

	snprintf(probe, sizeof(probe), "%s/probe", j->probe_dir);
	fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	j->dir_writable = fd >= 0;
	if (fd >= 0) {
		close(fd);
		unlink(probe);
		return;
	}
	if (lk_enroll_parse(body, sizeof(body) - 1, &rq, j->msg, sizeof(j->msg)) != 0)
		return;
	j->v = lk_enroll_attempt(j->e, &rq, j->id, j->msg, sizeof(j->msg));
	lk_enroll_req_done(&rq);
}

static void test_readonly_dir_not_burned(void **state)
{
	char dir[256], keys[300], id[LK_KEYS_ID_LEN + 1], msg[LK_ENROLL_MSG_MAX];
	struct attempt_job j = { .v = LK_ENROLL__COUNT };

	snprintf(dir, sizeof(dir), "%s", path_of("ro"));
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file(keys, "# keys\n", 0600);
	j.e = new_enroll(TOKEN, keys);
	j.probe_dir = dir;
	assert_int_equal(chmod(dir, 0500), 0);
	run_nocap(attempt_job_run, &j);
	assert_int_equal(chmod(dir, 0700), 0);
	if (j.dir_writable) {
		lk_enroll_free(j.e);
		skip();
	}
	assert_int_equal(j.v, LK_ENROLL_IO);
	assert_int_equal(lk_enroll_status(LK_ENROLL_IO), 500);
	assert_string_equal(lk_enroll_message(LK_ENROLL_IO, j.msg), "internal server error");
	if (strstr(j.msg, keys) == NULL || strstr(j.msg, "Permission denied") == NULL)
		fail_msg("msg \"%s\" does not say what failed", j.msg);
	assert_false(lk_enroll_burned(j.e));
	assert_string_equal(read_file(keys), "# keys\n");
	assert_int_equal(count_entries(dir), 1); /* no temporary file, no burn file */
	/* the token was given back: once the directory is writable it works */
	assert_int_equal(attempt(j.e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	assert_string_equal(read_file(keys), "# keys\n" LINE_A);
	lk_enroll_free(j.e);
}

/* The key is in but the burn cannot be written: success, burned in memory,
 * and a message for an ERROR line. */
static void test_burn_not_persisted(void **state)
{
	char keys[256], id[LK_KEYS_ID_LEN + 1], msg[LK_ENROLL_MSG_MAX];
	struct lk_enroll *e;

	write_file(path_to(keys, "keys"), "", 0600);
	e = new_enroll(TOKEN, keys);
	/* rename() cannot put a file over a directory */
	assert_int_equal(mkdir(path_of("keys" LK_ENROLL_BURN_SUFFIX), 0700), 0);
	assert_int_equal(attempt(e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	assert_string_equal(id, ID_A);
	assert_string_equal(read_file(keys), LINE_A);
	assert_true(lk_enroll_burned(e));
	if (strstr(msg, "burn not persisted") == NULL ||
	    strstr(msg, path_of("keys" LK_ENROLL_BURN_SUFFIX)) == NULL)
		fail_msg("msg \"%s\" does not report the burn file", msg);
	assert_int_equal(count_entries(tmpdir), 2); /* keys and the directory: no temporary */
	assert_int_equal(attempt(e, TOKEN, B64_B, id, msg, sizeof(msg)), LK_ENROLL_BURNED);
	assert_string_equal(read_file(keys), LINE_A);
	lk_enroll_free(e);
}

/* A symlinked authorized_keys (a mounted secret, say) is followed: the
 * target is replaced and the link stays; the burn file sits by the link. */
static void test_symlink_followed(void **state)
{
	char target[256], link[256], id[LK_KEYS_ID_LEN + 1], msg[LK_ENROLL_MSG_MAX];
	struct lk_enroll *e;
	struct stat st;

	path_to(link, "keys");
	assert_int_equal(mkdir(path_of("real"), 0700), 0);
	path_to(target, "real/authorized_keys");
	write_file(target, "# real\n", 0600);
	assert_int_equal(symlink("real/authorized_keys", link), 0);
	e = new_enroll(TOKEN, link);
	assert_int_equal(attempt(e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	assert_string_equal(msg, "");
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_string_equal(read_file(target), "# real\n" LINE_A);
	assert_non_null(read_file(path_of("keys" LK_ENROLL_BURN_SUFFIX)));
	assert_int_equal(count_entries(path_of("real")), 1);
	lk_enroll_free(e);
	/* a dangling link is not overwritten */
	unlink(path_of("keys" LK_ENROLL_BURN_SUFFIX));
	unlink(target);
	e = new_enroll(TOKEN, link);
	assert_int_equal(attempt(e, TOKEN, B64_A, id, msg, sizeof(msg)), LK_ENROLL_IO);
	assert_non_null(strstr(msg, "resolving"));
	assert_false(lk_enroll_burned(e));
	lk_enroll_free(e);
}

/* Only digests are compared, so a token of any length works. */
static void test_long_token(void **state)
{
	static char token[5001];
	char id[LK_KEYS_ID_LEN + 1], msg[LK_ENROLL_MSG_MAX];
	struct lk_enroll *e;

	memset(token, 'k', 5000);
	e = new_enroll(token, path_of("keys"));
	write_file(path_of("keys"), "", 0600);
	/* a bad key proves the token matched without writing anything */
	assert_int_equal(attempt(e, token, "AAAA", id, msg, sizeof(msg)), LK_ENROLL_BAD_KEY);
	token[4999] = 'j';
	assert_int_equal(attempt(e, token, B64_A, id, msg, sizeof(msg)), LK_ENROLL_WRONG);
	token[4999] = 'k';
	assert_int_equal(attempt(e, token, B64_A, id, msg, sizeof(msg)), LK_ENROLL_OK);
	lk_enroll_free(e);
}

static void test_new_errors(void **state)
{
	char err[LK_ENROLL_MSG_MAX], path[PATH_MAX + 16];

	assert_null(lk_enroll_new(TOKEN, strlen(TOKEN), "", err, sizeof(err)));
	assert_string_equal(err, "enrollment needs an authorized_keys path");
	assert_null(lk_enroll_new(TOKEN, strlen(TOKEN), NULL, err, sizeof(err)));
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_null(lk_enroll_new(TOKEN, strlen(TOKEN), path, err, sizeof(err)));
	assert_string_equal(err, "authorized_keys path is too long for enrollment");
	lk_enroll_free(NULL);
	assert_int_equal(lk_enroll_status(LK_ENROLL_BUSY), 503);
	assert_string_equal(lk_enroll_message(LK_ENROLL_BUSY, ""), "enrollment in progress");
}

/* ---- concurrency --------------------------------------------------------------- */

#define N_THREADS 8
#define N_ROUNDS  12

struct race {
	struct lk_enroll *e;
	pthread_barrier_t barrier;
	char b64[N_THREADS][48];
	enum lk_enroll_verdict v[N_THREADS];
	char id[N_THREADS][LK_KEYS_ID_LEN + 1];
	int parse_rc[N_THREADS];
};

struct racer {
	struct race *r;
	unsigned i;
};

static void *racer_main(void *p)
{
	struct racer *me = p;
	struct race *r = me->r;
	char body[256], msg[LK_ENROLL_MSG_MAX];
	struct lk_enroll_req rq;
	int n =
	    snprintf(body, sizeof(body), "{\"enrollment_token\": \"%s\", \"public_key\": \"%s\"}",
		     TOKEN, r->b64[me->i]);

	r->parse_rc[me->i] = lk_enroll_parse(body, (size_t)n, &rq, msg, sizeof(msg));
	pthread_barrier_wait(&r->barrier);
	if (r->parse_rc[me->i] == 0)
		r->v[me->i] = lk_enroll_attempt(r->e, &rq, r->id[me->i], msg, sizeof(msg));
	lk_enroll_req_done(&rq);
	return NULL;
}

static void test_concurrent_attempts(void **state)
{
	static struct race r;
	struct racer who[N_THREADS];
	pthread_t th[N_THREADS];
	unsigned busy = 0;
	char keys[256];

	path_to(keys, "keys");
	for (unsigned i = 0; i < N_THREADS; i++) {
		uint8_t seed[LK_ED25519_SEED_LEN] = { (uint8_t)i, 0x5a }, pub[32], priv[64];

		lk_crypto_ed25519_keypair(seed, pub, priv);
		assert_int_equal(lk_crypto_b64_encode(LK_B64_STD, pub, 32, r.b64[i], 48), 0);
	}
	for (unsigned round = 0; round < N_ROUNDS; round++) {
		char err[LK_REGISTRY_ERR_MAX], line[128];
		unsigned ok = 0, winner = 0, lines = 0;
		struct lk_registry *reg;
		const char *text;

		unlink(path_of("keys" LK_ENROLL_BURN_SUFFIX));
		write_file(keys, "ed25519 " B64_B " bob\n", 0600);
		r.e = new_enroll(TOKEN, keys);
		assert_int_equal(pthread_barrier_init(&r.barrier, NULL, N_THREADS), 0);
		for (unsigned i = 0; i < N_THREADS; i++) {
			r.v[i] = LK_ENROLL__COUNT;
			who[i] = (struct racer){ .r = &r, .i = i };
			assert_int_equal(pthread_create(&th[i], NULL, racer_main, &who[i]), 0);
		}
		for (unsigned i = 0; i < N_THREADS; i++)
			assert_int_equal(pthread_join(th[i], NULL), 0);
		pthread_barrier_destroy(&r.barrier);
		for (unsigned i = 0; i < N_THREADS; i++) {
			assert_int_equal(r.parse_rc[i], 0);
			if (r.v[i] == LK_ENROLL_OK) {
				ok++;
				winner = i;
			} else if (r.v[i] == LK_ENROLL_BUSY) {
				busy++;
			} else if (r.v[i] != LK_ENROLL_BURNED) {
				fail_msg("thread %u: verdict %d", i, (int)r.v[i]);
			}
		}
		assert_int_equal(ok, 1);
		assert_true(lk_enroll_burned(r.e));
		/* exactly the winner's line was added */
		text = read_file(keys);
		for (const char *c = text; *c != '\0'; c++)
			lines += *c == '\n';
		if (lines != 2)
			fail_msg("round %u: %u lines:\n%s", round, lines, text);
		snprintf(line, sizeof(line), "\ned25519 %s enrolled:%s\n", r.b64[winner],
			 r.id[winner]);
		assert_non_null(strstr(text, line));
		reg = lk_registry_load(keys, err, sizeof(err));
		assert_non_null(reg);
		assert_int_equal(lk_registry_count(reg), 2);
		assert_non_null(lk_registry_find(reg, r.id[winner], LK_KEYS_ID_LEN));
		lk_registry_free(reg);
		assert_int_equal(count_entries(tmpdir), 2);
		lk_enroll_free(r.e);
	}
	print_message("      %u of %u losing attempts saw BUSY\n", busy,
		      N_ROUNDS * (N_THREADS - 1));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_escapes_and_unknown_members),
		T(test_parse_invalid),
		T(test_missing_members),
		T(test_bad_key_messages),
		T(test_wrong_token_not_burned),
		T(test_success),
		T(test_previous_content_kept),
		T(test_restart),
		T(test_unreadable_burn_file),
		T(test_readonly_dir_not_burned),
		T(test_burn_not_persisted),
		T(test_symlink_followed),
		T(test_long_token),
		T(test_new_errors),
		T(test_concurrent_attempts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
