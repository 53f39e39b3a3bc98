/* cmd/sign.c - `lookout sign`: print the headers of one Ed25519-signed
 * request (spec lookout-core 6.4, 16 "Signature version 2"), so a shell
 * user can reach a key-protected agent with curl:
 *
 *	lookout sign -key client.pem POST /v1.44/containers/create body.json > h
 *	curl -H @h --data-binary @body.json https://agent:3000/v1.44/containers/create
 *
 * The canonical string comes from auth/sigv.c's lk_sig_canonical_raw, the
 * builder the verifier uses, so client and agent cannot disagree about the
 * signed bytes. METHOD and TARGET are first run through the agent's own
 * request-line parser: anything the agent would refuse (a target not in
 * origin-form, a space, a '#', a line over 8 KiB) is refused here, rather
 * than signed and then rejected with a less helpful 400.
 *
 * Flags follow keygen's Go-flag conventions (one or two dashes, `-flag value`
 * or `-flag=value`, "--" ends the flags), except that flags may also follow
 * the positional arguments: METHOD never starts with '-' in practice, and
 * "-" alone is BODYFILE (stdin). Exit status: 0 on success, 2 for a bad
 * command line (unknown flag, bad flag value, METHOD/TARGET the agent would
 * refuse), 1 for everything else (key file, body file, output). Every message
 * starts with "lookout sign: ".
 *
 * The body is hashed while it is read, in 64 KiB pieces, so a 64 MiB body
 * costs no more memory than an empty one. The seed and expanded private key
 * are wiped before returning; the printed headers hold nothing secret. */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/keys.h"
#include "auth/sigv.h"
#include "cmd/cmd.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/http.h"

#define EXIT_USAGE  2
#define BODY_CHUNK  (64 * 1024) /* bytes per read(2) of BODYFILE */
#define MSG_MAX	    2304	/* one stderr message, with a key-loader error inside */
#define SIG_B64_CAP 88		/* 86 base64url characters of a signature, NUL, slack */

static const char usage_text[] =
	"Usage: lookout sign -key <private.pem> [-header-family lookout|portwing]\n"
	"                    [-timestamp <unix-seconds>] [-nonce <32 hex digits>] [-legacy]\n"
	"                    METHOD TARGET [BODYFILE]\n"
	"\n"
	"Prints the headers of one Ed25519-signed request, one \"Name: value\" per line,\n"
	"for curl -H @file. TARGET is the request target exactly as it will be sent:\n"
	"the escaped path, then '?' and the raw query if there is one. BODYFILE holds\n"
	"the exact body bytes (\"-\" reads stdin; at most 64 MiB); without it the body\n"
	"is empty. Send the body with curl --data-binary @BODYFILE (-d strips newlines).\n"
	"\n"
	"Example:\n"
	"  lookout sign -key client.pem GET '/v1.44/containers/json?all=1' > h.txt\n"
	"  curl -H @h.txt 'https://agent:3000/v1.44/containers/json?all=1'\n"
	"\n"
	"  -h, --help\n"
	"    \tShow this help and exit\n"
	"  -header-family string\n"
	"    \tHeader names: lookout (X-Lookout-*) or portwing (X-Portwing-*) (default \"lookout\")\n"
	"  -key string\n"
	"    \tPrivate key PEM file, PKCS#8 Ed25519 from lookout keygen or openssl genpkey\n"
	"    \t(required; must not be group/world-writable or world-readable)\n"
	"  -legacy\n"
	"    \tMake an unversioned signature over the percent-decoded path; TARGET must\n"
	"    \thave no query (default: signature version 2 over the whole TARGET)\n"
	"  -nonce string\n"
	"    \tNonce, 32 hex digits (default: 16 random bytes); for tests and vectors only\n"
	"  -timestamp int\n"
	"    \tUnix time in seconds (default: now); for tests and vectors only\n";

enum flag { FL_KEY, FL_FAMILY, FL_TIMESTAMP, FL_NONCE, FL_LEGACY, FL_HELP, FL__COUNT };

static const char *const flag_names[FL__COUNT] = {
	[FL_KEY] = "key",     [FL_FAMILY] = "header-family", [FL_TIMESTAMP] = "timestamp",
	[FL_NONCE] = "nonce", [FL_LEGACY] = "legacy",	     [FL_HELP] = "help",
};

/* struct sign_opts is the parsed command line; strings borrow argv. */
struct sign_opts {
	const char *val[FL__COUNT]; /* string flags' values; NULL when not given */
	bool legacy, help;
	const char *pos[3]; /* METHOD TARGET [BODYFILE] */
	int n_pos;
};

/* struct sign_req is what gets signed, validated. */
struct sign_req {
	const char *method, *target;
	size_t method_len, target_len;
	int version; /* 0 (legacy) or 2 */
	int64_t ts;
	bool ts_given; /* -timestamp was set; else ts is taken just before signing */
	char nonce[2 * LK_SIG_NONCE_LEN + 1];
	const char *prefix; /* "X-Lookout-" or "X-Portwing-" */
};

/* msg prints "lookout sign: <fmt...>\n" on stderr and returns status. */
static int msg(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int msg(int status, const char *fmt, ...)
{
	char line[MSG_MAX];
	size_t o = sizeof("lookout sign: ") - 1;
	va_list ap;
	int n;

	memcpy(line, "lookout sign: ", o);
	va_start(ap, fmt);
	n = vsnprintf(line + o, sizeof(line) - o - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	o += LK_MIN((size_t)n, sizeof(line) - o - 2);
	line[o++] = '\n';
	(void)lk__cmd_write_all(STDERR_FILENO, line, o);
	return status;
}

/* bad_usage is msg plus the usage text, for a malformed command line. */
static int bad_usage(const char *what, const char *arg)
{
	msg(EXIT_USAGE, "%s%s", what, arg);
	(void)lk__cmd_write_all(STDERR_FILENO, usage_text, sizeof(usage_text) - 1);
	return EXIT_USAGE;
}

/* errno_str is strerror with a lower-case first letter, as keys.c prints. */
static const char *errno_str(char dst[128], int e)
{
	snprintf(dst, 128, "%s", strerror(e));
	if (dst[0] >= 'A' && dst[0] <= 'Z' && !(dst[1] >= 'A' && dst[1] <= 'Z'))
		dst[0] = (char)(dst[0] - 'A' + 'a');
	return dst;
}

/* parse_bool accepts Go's strconv.ParseBool spellings, for -legacy=VALUE. */
static bool parse_bool(const char *v, bool *out)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };

	for (size_t i = 0; i < LK_ARRAY_SIZE(t); i++) {
		if (strcmp(v, t[i]) == 0 || strcmp(v, f[i]) == 0) {
			*out = strcmp(v, t[i]) == 0;
			return true;
		}
	}
	return false;
}

static int find_flag(const char *name, size_t len)
{
	if (len == 1 && name[0] == 'h')
		return FL_HELP;
	for (int i = 0; i < FL__COUNT; i++)
		if (strlen(flag_names[i]) == len && strncmp(name, flag_names[i], len) == 0)
			return i;
	return -1;
}

/* parse_flag handles argv[*i], a flag word, and may consume argv[*i + 1] as
 * its value. Returns 0 or an exit status. */
static int parse_flag(int argc, char **argv, int *i, struct sign_opts *o)
{
	const char *arg = argv[*i], *name, *value;
	size_t name_len;
	int f;

	if (lk__cmd_flag_split(arg, &name, &name_len, &value) < 0)
		return bad_usage("bad flag syntax: ", arg);
	f = find_flag(name, name_len);
	if (f < 0)
		return bad_usage("flag provided but not defined: ", arg);
	if (f == FL_HELP) {
		o->help = true;
		return 0;
	}
	if (f == FL_LEGACY) {
		if (value != NULL && !parse_bool(value, &o->legacy))
			return msg(EXIT_USAGE, "invalid boolean value \"%s\" for -legacy", value);
		if (value == NULL)
			o->legacy = true;
		return 0;
	}
	if (value == NULL) {
		if (*i + 1 >= argc)
			return bad_usage("flag needs an argument: ", arg);
		value = argv[++*i];
	}
	o->val[f] = value;
	return 0;
}

static int parse_args(int argc, char **argv, struct sign_opts *o)
{
	bool flags_done = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc;

		if (!flags_done && strcmp(a, "--") == 0) {
			flags_done = true;
			continue;
		}
		if (flags_done || a[0] != '-' || a[1] == '\0') {
			if (o->n_pos == (int)LK_ARRAY_SIZE(o->pos))
				return bad_usage("unexpected argument: ", a);
			o->pos[o->n_pos++] = a;
			continue;
		}
		rc = parse_flag(argc, argv, &i, o);
		if (rc != 0 || o->help)
			return rc;
	}
	return 0;
}

/* parse_ts parses a base-10 int64 with an optional '-' (no '+', no spaces):
 * the header then carries exactly the digits the canonical string has. */
static bool parse_ts(const char *s, int64_t *out)
{
	bool neg = *s == '-';
	uint64_t acc = 0, lim;

	s += neg;
	if (*s == '\0')
		return false;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s != '\0'; s++) {
		unsigned d = (unsigned)(unsigned char)*s - '0';

		if (d > 9 || acc > (lim - d) / 10)
			return false;
		acc = acc * 10 + d;
	}
	*out = neg ? -(int64_t)(acc - 1) - 1 : (int64_t)acc;
	return true;
}

/* check_target runs "METHOD TARGET" through the agent's request parser and
 * then through the canonical builder, so everything either would refuse is a
 * command-line error found before any file is read. Stores the views in r
 * (r->version must be set). Returns 0 or an exit status. */
static int check_target(const char *method, const char *target, struct sign_req *r)
{
	static const char tail[] = " HTTP/1.1\r\nHost: lookout\r\n\r\n";
	char head[LK_HTTP_LINE_MAX + sizeof(tail)], canon[LK_SIG_CANONICAL_MAX];
	size_t ml = strlen(method), tl = strlen(target), n, len;
	uint8_t zero[LK_SHA256_LEN] = { 0 };
	struct lk_http_parser p;
	struct lk_http_req req;
	int rc;

	/* The parser would misread these as the next field (a space) or a
	 * line end and give a confusing reason; say what is wrong instead. */
	if (strpbrk(method, " \t\r\n") != NULL || strpbrk(target, " \t\r\n") != NULL)
		return msg(EXIT_USAGE, "METHOD and TARGET must not contain spaces, tabs or line "
				       "breaks (percent-encode them in TARGET)");
	/* The parser counts the request line with its CRLF against the limit. */
	if (ml + 1 + tl + sizeof(" HTTP/1.1\r\n") - 1 > LK_HTTP_LINE_MAX)
		return msg(EXIT_USAGE,
			   "METHOD and TARGET make a request line over %d bytes, "
			   "which the agent refuses (414)",
			   LK_HTTP_LINE_MAX);
	memcpy(head, method, ml);
	head[ml] = ' ';
	memcpy(head + ml + 1, target, tl);
	memcpy(head + ml + 1 + tl, tail, sizeof(tail) - 1);
	n = ml + 1 + tl + sizeof(tail) - 1;
	lk_http_parser_init(&p, 0);
	/* The lengths double-check that the parser saw METHOD and TARGET as
	 * given, whole (it would skip leading empty lines, for one). */
	if (lk_http_parse_request(&p, head, n, &req) != (ssize_t)n || req.method_len != ml ||
	    req.target_len != tl)
		return msg(EXIT_USAGE, "\"%s %s\" is not a request line the agent accepts: %s",
			   method, target, p.reason != NULL ? p.reason : "not parsed as given");
	if (r->version == 0 && req.path_len != req.target_len)
		return msg(EXIT_USAGE,
			   "-legacy cannot sign TARGET \"%s\": it has a query ('?'), "
			   "which the legacy form does not cover; drop -legacy",
			   target);
	rc = lk_sig_canonical_raw(method, ml, target, tl, r->version, zero, 0, r->nonce, canon,
				  sizeof(canon), &len);
	if (rc == -EINVAL) /* legacy, no '?': only a bad %-escape is left */
		return msg(EXIT_USAGE,
			   "-legacy cannot sign TARGET \"%s\": it has a malformed "
			   "%%-escape, and the legacy form signs the decoded path",
			   target);
	LK_ASSERT(rc == 0); /* the line fits LK_HTTP_LINE_MAX, so canon fits */
	r->method = method;
	r->method_len = ml;
	r->target = target;
	r->target_len = tl;
	return 0;
}

/* check_opts turns the flag values of o into r. Returns 0 or an exit status. */
static int check_opts(const struct sign_opts *o, struct sign_req *r)
{
	const char *fam = o->val[FL_FAMILY], *ts = o->val[FL_TIMESTAMP], *nonce = o->val[FL_NONCE];
	uint8_t raw[LK_SIG_NONCE_LEN];
	size_t n = 0;

	if (o->n_pos < 2)
		return bad_usage(o->n_pos == 0 ? "missing METHOD and TARGET" : "missing TARGET",
				 "");
	if (o->val[FL_KEY] == NULL || o->val[FL_KEY][0] == '\0')
		return bad_usage("-key <private.pem> is required", "");
	r->version = o->legacy ? 0 : 2;
	if (fam == NULL || strcmp(fam, "lookout") == 0)
		r->prefix = "X-Lookout-";
	else if (strcmp(fam, "portwing") == 0)
		r->prefix = "X-Portwing-";
	else
		return msg(EXIT_USAGE, "invalid -header-family \"%s\": want lookout or portwing",
			   fam);
	if (ts != NULL && !parse_ts(ts, &r->ts))
		return msg(EXIT_USAGE, "invalid -timestamp \"%s\": want Unix seconds in base 10",
			   ts);
	r->ts_given = ts != NULL;
	if (nonce != NULL) {
		/* Either case passes, as at the agent, and is signed as given. */
		if (strlen(nonce) != 2 * LK_SIG_NONCE_LEN ||
		    lk_crypto_hex_decode(nonce, strlen(nonce), raw, sizeof(raw), &n) != 0)
			return msg(EXIT_USAGE, "invalid -nonce \"%s\": want exactly %d hex digits",
				   nonce, 2 * LK_SIG_NONCE_LEN);
		memcpy(r->nonce, nonce, sizeof(r->nonce));
	} else {
		if (lk_crypto_random(raw, sizeof(raw)) != 0)
			return msg(1, "making a nonce: no randomness available");
		if (lk_crypto_hex_encode(raw, sizeof(raw), r->nonce, sizeof(r->nonce)) != 0)
			LK_UNREACHABLE(); /* r->nonce is sized for it */
	}
	return check_target(o->pos[0], o->pos[1], r);
}

/* hash_fd hashes everything readable from fd into out, refusing more than
 * LK_SIG_BODY_MAX bytes. Returns 0, -EFBIG, or -errno from read. */
static int hash_fd(int fd, uint8_t out[LK_SHA256_LEN])
{
	struct lk_crypto_sha256 ctx;
	char buf[BODY_CHUNK];
	uint64_t total = 0;

	lk_crypto_sha256_init(&ctx);
	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));

		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1) {
			int rc = -errno;

			lk_crypto_sha256_final(&ctx, out);
			return rc;
		}
		if (k == 0)
			break;
		total += (uint64_t)k;
		if (total > LK_SIG_BODY_MAX) {
			lk_crypto_sha256_final(&ctx, out);
			return -EFBIG;
		}
		lk_crypto_sha256_update(&ctx, buf, (size_t)k);
	}
	lk_crypto_sha256_final(&ctx, out);
	return 0;
}

/* hash_body writes the SHA-256 of BODYFILE (NULL: empty body; "-": stdin)
 * to out. Returns 0 or an exit status. */
static int hash_body(const char *path, uint8_t out[LK_SHA256_LEN])
{
	char es[128];
	struct stat st;
	int fd = STDIN_FILENO, rc;
	const char *name = path != NULL && strcmp(path, "-") == 0 ? "stdin" : path;

	if (path == NULL) {
		lk_crypto_sha256("", 0, out);
		return 0;
	}
	if (strcmp(path, "-") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			return msg(1, "opening body \"%s\": %s", path, errno_str(es, errno));
	}
	/* A regular file's size is known up front: refuse a big one unread. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)LK_SIG_BODY_MAX)
		rc = -EFBIG;
	else
		rc = hash_fd(fd, out);
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc == -EFBIG)
		return msg(1,
			   "body \"%s\" is larger than %u bytes (64 MiB), the most the agent "
			   "accepts for a signed request",
			   name, LK_SIG_BODY_MAX);
	if (rc != 0)
		return msg(1, "reading body \"%s\": %s", name, errno_str(es, -rc));
	return 0;
}

/* struct sign_key is the expanded private key and its public half; secret,
 * wiped by its user. */
struct sign_key {
	uint8_t pub[LK_ED25519_PUB_LEN];
	uint8_t priv[LK_ED25519_PRIV_LEN];
};

/* load_key reads the PKCS#8 PEM at path (permission rules of
 * lk_keys_load_private_key) into k. Returns 0 or an exit status. */
static int load_key(const char *path, struct sign_key *k)
{
	uint8_t seed[LK_ED25519_SEED_LEN];
	char err[2048];

	if (lk_keys_load_private_key(path, seed, err, sizeof(err)) != 0)
		return msg(1, "%s", err);
	lk_crypto_ed25519_keypair(seed, k->pub, k->priv);
	lk_crypto_cleanse(seed, sizeof(seed));
	return 0;
}

/* sign_and_print signs the canonical string of r over body_sha256 with k and
 * prints the headers on stdout. Returns the exit status. */
static int sign_and_print(const struct sign_req *r, const uint8_t body_sha256[LK_SHA256_LEN],
			  const struct sign_key *k)
{
	char canon[LK_SIG_CANONICAL_MAX], sig_b64[SIG_B64_CAP], kid[LK_KEYS_ID_LEN + 1], out[512];
	uint8_t sig[LK_ED25519_SIG_LEN];
	size_t len = 0;
	int n, rc;

	rc = lk_sig_canonical_raw(r->method, r->method_len, r->target, r->target_len, r->version,
				  body_sha256, r->ts, r->nonce, canon, sizeof(canon), &len);
	LK_ASSERT(rc == 0); /* check_target made the same call with another digest */
	if (lk_crypto_ed25519_sign(k->priv, canon, len, sig) != 0)
		return msg(1, "signing failed");
	if (lk_crypto_b64_encode(LK_B64_URL_NOPAD, sig, sizeof(sig), sig_b64, sizeof(sig_b64)) != 0)
		LK_UNREACHABLE(); /* SIG_B64_CAP is sized for it */
	lk_keys_id(k->pub, kid);
	/* Version 2 says so; the legacy form is recognised by the absence. */
	n = snprintf(
	    out, sizeof(out), "%sKey-ID: %s\n%sTimestamp: %lld\n%sNonce: %s\n%sSignature: %s\n%s%s",
	    r->prefix, kid, r->prefix, (long long)r->ts, r->prefix, r->nonce, r->prefix, sig_b64,
	    r->version == 2 ? r->prefix : "", r->version == 2 ? "Signature-Version: 2\n" : "");
	LK_ASSERT(n > 0 && (size_t)n < sizeof(out)); /* every field is bounded */
	if (lk__cmd_write_all(STDOUT_FILENO, out, (size_t)n) != 0)
		return msg(1, "writing output failed");
	return 0;
}

int lk_cmd_sign(int argc, char **argv)
{
	struct sign_opts o = { .n_pos = 0 };
	struct sign_req r = { .version = 2 };
	struct sign_key k;
	uint8_t digest[LK_SHA256_LEN];
	int rc = parse_args(argc, argv, &o);

	if (rc != 0)
		return rc;
	if (o.help) {
		rc = lk__cmd_write_all(STDOUT_FILENO, usage_text, sizeof(usage_text) - 1);
		return rc == 0 ? 0 : 1;
	}
	rc = check_opts(&o, &r);
	if (rc != 0)
		return rc;
	/* The key before the body: a bad key should not cost the caller a
	 * body already piped into stdin. */
	rc = load_key(o.val[FL_KEY], &k);
	if (rc != 0)
		return rc;
	rc = hash_body(o.n_pos == 3 ? o.pos[2] : NULL, digest);
	/* "Now" after the body is in: a slow pipe must not eat into the
	 * agent's skew window (60 s by default). */
	if (!r.ts_given)
		r.ts = (int64_t)time(NULL);
	if (rc == 0)
		rc = sign_and_print(&r, digest, &k);
	lk_crypto_cleanse(&k, sizeof(k));
	return rc;
}
