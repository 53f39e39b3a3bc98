/* auth/enroll.c - enrollment decisions, and the atomic file replacement that
 * commits a key and then the burn (contract and file formats in enroll.h).
 *
 * Order inside lk_enroll_attempt, which is what makes "exactly one success"
 * and "never burned without the key" hold: claim the state word (CAS), write
 * authorized_keys, write the burn file, then publish BURNED. If the key
 * cannot be written the claim is given back (ARMED) and nothing on disk has
 * changed: the temporary file is removed, the rename never happened. Once the
 * rename has happened the key is in, so the token is burned in memory even if
 * the burn file then cannot be written; that is reported, not undone. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/enroll.h"
#include "auth/keys.h"
#include "auth/registry.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/err.h"
#include "core/json.h"

#define TMP_SUFFIX    ".tmp-XXXXXX" /* mkostemp template after the target's path */
#define COPY_CHUNK    16384	    /* bytes per read when copying authorized_keys */
#define KEY_CHUNK     256	    /* base64 characters decoded per step (a multiple of 4) */
#define BURN_READ_MAX 128	    /* burn file bytes looked at: 64 hex digits and slack */
#define WHY_MAX	      (LK_ENROLL_MSG_MAX / 2) /* one step's reason; msg may join two */
/* `ed25519 <44 base64> enrolled:<16 hex>\n` and a NUL */
#define LINE_CAP                                                                                   \
	(sizeof("ed25519 ") - 1 + 44 + 1 + sizeof(LK_ENROLL_COMMENT_PREFIX) - 1 + LK_KEYS_ID_LEN + \
	 1 + 1)

LK_STATIC_ASSERT(KEY_CHUNK % 4 == 0 && KEY_CHUNK >= 44, "a 32-byte key decodes in one chunk");

/* enum state is the shared word's value; transitions in enroll.h. */
enum state {
	ST_ARMED,  /* the token can enroll one key */
	ST_BUSY,   /* one attempt owns the files and is writing */
	ST_BURNED, /* a key was enrolled with this token; final */
};

/* enum key_state is what lk_enroll_parse found in public_key. KEY_BAD_LEN is
 * 0 so that a zeroed (or wiped) request reads as "no key, got 0 bytes". */
enum key_state {
	KEY_BAD_LEN, /* valid base64 of _key_len bytes, not 32 */
	KEY_OK,	     /* _pub holds the key */
	KEY_BAD_B64, /* not strict, padded standard base64 */
};

struct lk_enroll {
	_Atomic int state;		     /* enum state; the only field written after _new */
	uint8_t token_sha256[LK_SHA256_LEN]; /* of the configured token */
	char keys_path[PATH_MAX];	     /* as configured (may be a symlink) */
	char burn_path[PATH_MAX];	     /* keys_path + LK_ENROLL_BURN_SUFFIX */
};

/* JSON members lk_enroll_parse picks out, in this index order. */
enum { MEMBER_TOKEN, MEMBER_KEY };
static const char *const member_names[] = {
	[MEMBER_TOKEN] = "enrollment_token",
	[MEMBER_KEY] = "public_key",
};

/* errstr is strerror_r into a caller's buffer: attempts run on many threads. */
static const char *errstr(int e, char buf[64])
{
	return strerror_r(e, buf, 64);
}

/* note appends a message to msg, after "; " when msg already holds one, so
 * that a success can report two durability problems in one ERROR line. */
__attribute__((format(printf, 3, 4))) static void note(char *msg, size_t msg_len, const char *fmt,
						       ...)
{
	size_t used;
	va_list ap;

	if (msg == NULL || msg_len == 0)
		return;
	used = strnlen(msg, msg_len - 1);
	if (used != 0 && used + 3 < msg_len) {
		memcpy(msg + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	lk_verrf(msg + used, msg_len - used, fmt, ap);
	va_end(ap);
}

/* ---- parsing ------------------------------------------------------------- */

/* decode_key records in rq what the public_key string s[0..n) is. Any length
 * can arrive (up to the body bound) and the answer must name the decoded
 * length, so the string is checked in KEY_CHUNK pieces through a small
 * buffer instead of being decoded whole: '=' may only end the last piece,
 * and then every piece decodes on its own exactly when the whole does. */
static void decode_key(struct lk_enroll_req *rq, const char *s, size_t n)
{
	uint8_t buf[KEY_CHUNK / 4 * 3];
	size_t total = 0;

	rq->_key_state = KEY_BAD_B64;
	rq->_key_len = 0;
	lk_crypto_cleanse(rq->_pub, sizeof(rq->_pub));
	if (n % 4 != 0)
		return;
	for (size_t off = 0; off < n; off += KEY_CHUNK) {
		size_t len = LK_MIN((size_t)KEY_CHUNK, n - off), got = 0;

		if (off + len < n && s[off + len - 1] == '=')
			return;
		if (lk_crypto_b64_decode(LK_B64_STD, s + off, len, buf, sizeof(buf), &got) != 0)
			return;
		if (n <= KEY_CHUNK && got == LK_ED25519_PUB_LEN)
			memcpy(rq->_pub, buf, LK_ED25519_PUB_LEN);
		total += got;
	}
	rq->_key_len = total;
	rq->_key_state = total == LK_ED25519_PUB_LEN ? KEY_OK : KEY_BAD_LEN;
}

/* on_member takes each enrollment_token and public_key string as the JSON
 * parser yields it; a repeated member overwrites, so the last one counts, as
 * with Go's decoder. The token is hashed at once and never copied. */
static int on_member(void *arg, size_t idx, const char *s, size_t n)
{
	struct lk_enroll_req *rq = arg;

	if (idx == MEMBER_TOKEN)
		lk_crypto_sha256(s, n, rq->_token_sha256);
	else
		decode_key(rq, s, n);
	return 0;
}

void lk_enroll_req_done(struct lk_enroll_req *rq)
{
	lk_crypto_cleanse(rq, sizeof(*rq));
}

int lk_enroll_parse(const char *body, size_t len, struct lk_enroll_req *out, char *msg,
		    size_t msg_len)
{
	int rc;

	*out = (struct lk_enroll_req){ ._key_state = KEY_BAD_LEN };
	lk_crypto_sha256("", 0, out->_token_sha256); /* an absent token is "" */
	lk_errf(msg, msg_len, "%s", "");
	if (len > LK_ENROLL_BODY_MAX) {
		lk_enroll_req_done(out);
		lk_errf(msg, msg_len, "request body too large");
		return -E2BIG;
	}
	rc = lk_json_scan_object(body, len, member_names, LK_ARRAY_SIZE(member_names), on_member,
				 out);
	if (rc == 0)
		return 0;
	lk_enroll_req_done(out);
	LK_ASSERT(rc == -EINVAL || rc == -ENOMEM); /* on_member never fails */
	lk_errf(msg, msg_len, rc == -EINVAL ? "invalid JSON" : "out of memory");
	return rc;
}

/* ---- files ----------------------------------------------------------------- */

/* read_some reads up to cap bytes, retrying on EINTR. Returns the count (0
 * at end of file) or -errno. */
static ssize_t read_some(int fd, void *buf, size_t cap)
{
	for (;;) {
		ssize_t n = read(fd, buf, cap);

		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
}

/* write_all writes p[0..n) whole. Returns 0 or -errno. */
static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -errno;
		if (w == 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* copy_file copies src to dst, at most LK_REGISTRY_FILE_MAX bytes (the
 * registry would not load a larger file anyway), then a '\n' if the copy is
 * not empty and does not end with one, so the line written next starts a
 * line of its own. Returns 0 or -errno, with *step saying which side failed. */
static int copy_file(int src, int dst, const char **step)
{
	char buf[COPY_CHUNK];
	size_t total = 0;
	char last = '\n';

	for (;;) {
		ssize_t n;
		int rc;

		*step = "reading";
		n = read_some(src, buf, sizeof(buf));
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > LK_REGISTRY_FILE_MAX)
			return -EFBIG;
		last = buf[n - 1];
		*step = "writing";
		rc = write_all(dst, buf, (size_t)n);
		if (rc != 0)
			return rc;
	}
	*step = "writing";
	return last == '\n' ? 0 : write_all(dst, "\n", 1);
}

/* sync_dir fsyncs the directory holding path, which makes a rename in it
 * durable. Returns 0 or -errno. */
static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (slash == NULL) {
		memcpy(dir, ".", 2);
	} else {
		size_t n = slash == path ? 1 : (size_t)(slash - path);

		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	rc = LK_NERRNO(fsync(fd));
	close(fd);
	return rc;
}

/* replace_file makes path hold the bytes of src (when src >= 0; see
 * copy_file) followed by tail[0..tail_len), atomically: everything goes into
 * a new temporary file beside path (mkostemp: O_CREAT|O_EXCL, then mode
 * 0600 whatever the umask), which is fsynced and renamed over path. Returns
 * -errno, with the temporary file removed and path untouched, if any of that
 * fails; otherwise 0, the new content being what every reader now sees. The
 * directory fsync comes after that point, so its failure is only reported:
 * why (why_len bytes) is then non-empty. On error why says what failed, with
 * `what` naming the file for the log. */
static int replace_file(const char *path, int src, const char *tail, size_t tail_len,
			const char *what, char *why, size_t why_len)
{
	char tmp[PATH_MAX], ebuf[64];
	const char *step = "creating a temporary file";
	int fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s" TMP_SUFFIX, path) >= sizeof(tmp)) {
		lk_errf(why, why_len, "%s \"%s\": path too long", what, path);
		return -ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1) {
		rc = -errno;
		goto out;
	}
	step = "fchmod";
	rc = LK_NERRNO(fchmod(fd, 0600));
	if (rc == 0 && src >= 0)
		rc = copy_file(src, fd, &step);
	if (rc == 0) {
		step = "writing";
		rc = write_all(fd, tail, tail_len);
	}
	if (rc == 0) {
		step = "fsync";
		rc = LK_NERRNO(fsync(fd));
	}
	if (close(fd) == -1 && rc == 0) {
		step = "close";
		rc = -errno;
	}
	if (rc == 0) {
		step = "rename";
		rc = LK_NERRNO(rename(tmp, path));
	}
	if (rc != 0)
		unlink(tmp);
out:
	if (rc != 0) {
		lk_errf(why, why_len, "%s \"%s\": %s: %s", what, path, step, errstr(-rc, ebuf));
		return rc;
	}
	rc = sync_dir(path);
	if (rc != 0)
		lk_errf(why, why_len, "%s \"%s\": fsync of its directory: %s", what, path,
			errstr(-rc, ebuf));
	return 0;
}

/* resolve_keys_path writes to out the file an append through keys_path
 * would have reached: its symlinks resolved, so the link's target is
 * replaced rather than the link; or keys_path itself when nothing is there
 * (the file is then created, as the reference's O_CREAT did). A dangling
 * symlink is an error rather than something to overwrite. */
static int resolve_keys_path(const char *keys_path, char out[PATH_MAX], char *why, size_t why_len)
{
	char ebuf[64];
	struct stat st;
	int rc;

	if (realpath(keys_path, out) != NULL)
		return 0;
	rc = -errno;
	if (rc == -ENOENT && lstat(keys_path, &st) == -1 && errno == ENOENT) {
		memcpy(out, keys_path, strlen(keys_path) + 1); /* fits: checked by _new */
		return 0;
	}
	lk_errf(why, why_len, "authorized_keys \"%s\": resolving the path: %s", keys_path,
		errstr(-rc, ebuf));
	return rc;
}

/* append_key rewrites authorized_keys with the line of pub added. Returns 0
 * once the new file is in place (why may then hold a durability warning), or
 * -errno with the file unchanged and the reason in why. */
static int append_key(const char *keys_path, const uint8_t pub[LK_ED25519_PUB_LEN],
		      const char id[LK_KEYS_ID_LEN + 1], char *why, size_t why_len)
{
	char comment[sizeof(LK_ENROLL_COMMENT_PREFIX) + LK_KEYS_ID_LEN];
	char target[PATH_MAX], line[LINE_CAP], ebuf[64];
	struct stat st;
	size_t n;
	int src, rc;

	rc = resolve_keys_path(keys_path, target, why, why_len);
	if (rc != 0)
		return rc;
	src = open(target, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
	if (src == -1 && errno != ENOENT) {
		rc = -errno;
		lk_errf(why, why_len, "authorized_keys \"%s\": opening: %s", target,
			errstr(-rc, ebuf));
		return rc;
	}
	if (src >= 0 && (fstat(src, &st) == -1 || !S_ISREG(st.st_mode))) {
		lk_errf(why, why_len, "authorized_keys \"%s\" is not a regular file", target);
		rc = -EINVAL;
		goto out_close;
	}
	snprintf(comment, sizeof(comment), LK_ENROLL_COMMENT_PREFIX "%s", id);
	rc = lk_keys_format_line(pub, comment, line, sizeof(line));
	LK_ASSERT(rc == 0); /* fixed-size line, no CR or LF in the comment */
	n = strlen(line);
	line[n++] = '\n';
	rc = replace_file(target, src, line, n, "authorized_keys", why, why_len);
out_close:
	if (src >= 0)
		close(src);
	return rc;
}

/* write_burn replaces the burn file with the hex digest of e's token and a
 * newline. Same return convention as replace_file. */
static int write_burn(const struct lk_enroll *e, char *why, size_t why_len)
{
	char hex[2 * LK_SHA256_LEN + 1];

	if (lk_crypto_hex_encode(e->token_sha256, LK_SHA256_LEN, hex, sizeof(hex)) != 0)
		LK_UNREACHABLE();
	hex[2 * LK_SHA256_LEN] = '\n'; /* the NUL is not written */
	return replace_file(e->burn_path, -1, hex, sizeof(hex), "burn file", why, why_len);
}

/* read_burn sets *out_burned from the burn file: true iff it exists and
 * holds the digest of e's token (trailing whitespace allowed, hex of either
 * case). Returns 0, or -errno with err set when the file exists but cannot
 * be read or holds something else than a digest. */
static int read_burn(const struct lk_enroll *e, bool *out_burned, char *err, size_t err_len)
{
	char buf[BURN_READ_MAX + 1], ebuf[64];
	uint8_t digest[LK_SHA256_LEN];
	size_t n = 0, dlen = 0;
	struct stat st;
	ssize_t got;
	int fd;

	*out_burned = false;
	fd = open(e->burn_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1 && errno == ENOENT)
		return 0;
	if (fd == -1) {
		got = -errno;
		goto out_unreadable;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		lk_errf(err, err_len, "enrollment burn file \"%s\" is not a regular file",
			e->burn_path);
		return -EINVAL;
	}
	do {
		got = read_some(fd, buf + n, sizeof(buf) - n);
		n += got > 0 ? (size_t)got : 0;
	} while (got > 0 && n < sizeof(buf));
	close(fd);
	if (got < 0)
		goto out_unreadable;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		n--;
	if (n != 2 * LK_SHA256_LEN ||
	    lk_crypto_hex_decode(buf, n, digest, sizeof(digest), &dlen) != 0) {
		lk_errf(err, err_len,
			"enrollment burn file \"%s\" does not hold a token digest (64 hex digits): "
			"remove it to re-arm enrollment",
			e->burn_path);
		return -EINVAL;
	}
	*out_burned = lk_crypto_ct_eq(digest, e->token_sha256, LK_SHA256_LEN);
	return 0;
out_unreadable:
	lk_errf(err, err_len, "enrollment burn file \"%s\" cannot be read: %s", e->burn_path,
		errstr((int)-got, ebuf));
	return (int)got;
}

/* ---- the enroller ---------------------------------------------------------- */

struct lk_enroll *lk_enroll_new(const char *token, size_t len, const char *keys_path, char *err,
				size_t err_len)
{
	size_t plen = keys_path != NULL ? strnlen(keys_path, PATH_MAX) : 0;
	struct lk_enroll *e;
	bool burned = true;

	LK_ASSERT(token != NULL || len == 0);
	if (plen == 0) {
		lk_errf(err, err_len, "enrollment needs an authorized_keys path");
		return NULL;
	}
	/* room for the burn file's temporary name, the longest path used */
	if (plen + sizeof(LK_ENROLL_BURN_SUFFIX) - 1 + sizeof(TMP_SUFFIX) > PATH_MAX) {
		lk_errf(err, err_len, "authorized_keys path is too long for enrollment");
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		lk_errf(err, err_len, "enrollment: out of memory");
		return NULL;
	}
	memcpy(e->keys_path, keys_path, plen);
	memcpy(e->burn_path, keys_path, plen);
	memcpy(e->burn_path + plen, LK_ENROLL_BURN_SUFFIX, sizeof(LK_ENROLL_BURN_SUFFIX));
	lk_crypto_sha256(len != 0 ? token : "", len, e->token_sha256);
	if (len != 0 && read_burn(e, &burned, err, err_len) != 0) {
		lk_enroll_free(e);
		return NULL;
	}
	atomic_init(&e->state, burned ? ST_BURNED : ST_ARMED);
	return e;
}

void lk_enroll_free(struct lk_enroll *e)
{
	if (e == NULL)
		return;
	lk_crypto_cleanse(e, sizeof(*e));
	free(e);
}

bool lk_enroll_burned(const struct lk_enroll *e)
{
	return atomic_load_explicit(&e->state, memory_order_acquire) == ST_BURNED;
}

/* check_key returns LK_ENROLL__COUNT when rq carries a usable key, or
 * LK_ENROLL_BAD_KEY with the spec's answer in msg. */
static enum lk_enroll_verdict check_key(const struct lk_enroll_req *rq, char *msg, size_t msg_len)
{
	switch ((enum key_state)rq->_key_state) {
	case KEY_OK:
		return LK_ENROLL__COUNT;
	case KEY_BAD_B64:
		lk_errf(msg, msg_len, "public_key: invalid base64");
		return LK_ENROLL_BAD_KEY;
	case KEY_BAD_LEN:
		lk_errf(msg, msg_len, "public_key: expected %d bytes, got %zu", LK_ED25519_PUB_LEN,
			rq->_key_len);
		return LK_ENROLL_BAD_KEY;
	}
	LK_UNREACHABLE(); /* _key_state is only ever set by this file */
}

enum lk_enroll_verdict lk_enroll_attempt(struct lk_enroll *e, const struct lk_enroll_req *rq,
					 char out_key_id[LK_KEYS_ID_LEN + 1], char *msg,
					 size_t msg_len)
{
	char id[LK_KEYS_ID_LEN + 1], why[WHY_MAX] = "";
	enum lk_enroll_verdict v;
	int expect = ST_ARMED;

	LK_ASSERT(e != NULL && rq != NULL);
	lk_errf(msg, msg_len, "%s", "");
	/* spec 6.6 steps 4, 5, 6, in that order */
	if (atomic_load_explicit(&e->state, memory_order_acquire) == ST_BURNED)
		return LK_ENROLL_BURNED;
	if (!lk_crypto_ct_eq(rq->_token_sha256, e->token_sha256, LK_SHA256_LEN))
		return LK_ENROLL_WRONG;
	v = check_key(rq, msg, msg_len);
	if (v != LK_ENROLL__COUNT)
		return v;
	if (!atomic_compare_exchange_strong_explicit(&e->state, &expect, ST_BUSY,
						     memory_order_acq_rel, memory_order_acquire))
		return expect == ST_BURNED ? LK_ENROLL_BURNED : LK_ENROLL_BUSY;

	/* We own the files until the release store below. */
	lk_keys_id(rq->_pub, id);
	if (append_key(e->keys_path, rq->_pub, id, why, sizeof(why)) != 0) {
		atomic_store_explicit(&e->state, ST_ARMED, memory_order_release);
		lk_errf(msg, msg_len, "%s", why);
		return LK_ENROLL_IO;
	}
	if (why[0] != '\0')
		note(msg, msg_len, "enrolled key %s may not survive a crash: %s", id, why);
	why[0] = '\0';
	if (write_burn(e, why, sizeof(why)) != 0)
		note(msg, msg_len, "enrollment burn not persisted, a restart re-arms the token: %s",
		     why);
	else if (why[0] != '\0')
		note(msg, msg_len, "enrollment burn may not survive a crash: %s", why);
	atomic_store_explicit(&e->state, ST_BURNED, memory_order_release);
	memcpy(out_key_id, id, sizeof(id));
	return LK_ENROLL_OK;
}

int lk_enroll_status(enum lk_enroll_verdict v)
{
	static const int status[LK_ENROLL__COUNT] = {
		[LK_ENROLL_OK] = 200,	   [LK_ENROLL_BURNED] = 401, [LK_ENROLL_WRONG] = 401,
		[LK_ENROLL_BAD_KEY] = 400, [LK_ENROLL_BUSY] = 503,   [LK_ENROLL_IO] = 500,
	};

	LK_ASSERT((unsigned)v < LK_ENROLL__COUNT);
	return status[v];
}

const char *lk_enroll_message(enum lk_enroll_verdict v, const char *msg)
{
	static const char *const text[LK_ENROLL__COUNT] = {
		[LK_ENROLL_OK] = NULL,
		[LK_ENROLL_BURNED] = "enrollment token already used",
		[LK_ENROLL_WRONG] = "unauthorized",
		[LK_ENROLL_BAD_KEY] = NULL,
		[LK_ENROLL_BUSY] = "enrollment in progress",
		[LK_ENROLL_IO] = "internal server error",
	};

	LK_ASSERT((unsigned)v < LK_ENROLL__COUNT);
	return v == LK_ENROLL_BAD_KEY ? msg : text[v];
}
