/* cmd/hash_token.c - `lookout hash-token`: read a token from stdin and print
 * its Argon2id PHC string for TOKEN_HASH (spec lookout-core 2.1).
 *
 * Input handling mirrors the reference's bufio.Scanner: one line, "\n" or
 * "\r\n" ended or cut by EOF, at most 64 KiB including the newline, then
 * Unicode whitespace trimmed from both ends (Go's strings.TrimSpace). The
 * token lives in one stack buffer that is wiped before returning. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/argon2.h"
#include "cmd/cmd.h"
#include "core/crypto.h"
#include "core/dbg.h"

#define EXIT_USAGE 2
#define LINE_MAX_BYTES 65536 /* Go's bufio.MaxScanTokenSize */

static const char usage_text[] =
	"Usage: lookout hash-token\n"
	"\n"
	"Reads one line (the token) from stdin, trims surrounding whitespace, and\n"
	"prints its Argon2id PHC string (m=19456, t=2, p=1) for TOKEN_HASH.\n"
	"Example: printf '%s' \"$TOKEN\" | lookout hash-token\n";

/* fail prints "<prefix><detail>\n" on stderr and returns exit status 1. */
static int fail(const char *prefix, const char *detail)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s%s\n", prefix, detail);

	if (n > 0)
		(void)lk__cmd_write_all(STDERR_FILENO, line, LK_MIN((size_t)n, sizeof(line) - 1));
	return 1;
}

/* read_line reads until the first "\n", EOF or a full buffer. Returns the
 * line length (without "\n"), -ENODATA for EOF before any byte, -E2BIG for
 * a line that does not fit, or -errno. */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char *nl = memchr(buf, '\n', n);
		ssize_t r;

		if (nl != NULL)
			return nl - buf;
		if (n == cap)
			return -E2BIG;
		r = read(fd, buf + n, cap - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -errno;
		if (r == 0)
			return n == 0 ? -ENODATA : (ssize_t)n;
		n += (size_t)r;
	}
}

/* space_seq tells whether the n bytes at u (n = 1..3) encode one Unicode
 * whitespace character in Go's unicode.IsSpace sense: the same set as
 * auth/keys.c's field splitter, so `hash-token` trims exactly what Go's
 * strings.TrimSpace trimmed. space_at and space_before return the length of
 * such a character starting at p or ending at end, or 0. */
static size_t space_seq(const unsigned char *u, size_t n)
{
	if (n == 1)
		return u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r');
	if (n == 2)
		return u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0);
	return (u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) ||
	       (u[0] == 0xe2 && u[1] == 0x80 &&
		((u[2] >= 0x80 && u[2] <= 0x8a) || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf)) ||
	       (u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) ||
	       (u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80);
}

static size_t space_at(const char *p, const char *end)
{
	for (size_t w = 1; w <= 3; w++) {
		if ((size_t)(end - p) >= w && space_seq((const unsigned char *)p, w))
			return w;
	}
	return 0;
}

static size_t space_before(const char *start, const char *end)
{
	for (size_t w = 1; w <= 3; w++) {
		if ((size_t)(end - start) >= w && space_seq((const unsigned char *)end - w, w))
			return w;
	}
	return 0;
}

static int hash_stdin(char *buf, size_t cap)
{
	char phc[LK_PHC_STR_MAX + 1], es[128];
	ssize_t len;
	const char *p, *end;
	size_t w;
	int rc;

	(void)lk__cmd_write_all(STDERR_FILENO, "Enter token: ", 13);
	len = read_line(STDIN_FILENO, buf, cap);
	if (len == -ENODATA)
		return fail("no input provided", "");
	if (len == -E2BIG)
		return fail("error reading input: ", "line longer than 64 KiB");
	if (len < 0)
		return fail("error reading input: ", strerror_r((int)-len, es, sizeof(es)));
	p = buf;
	end = buf + len;
	while (p < end && (w = space_at(p, end)) != 0)
		p += w;
	while (end > p && (w = space_before(p, end)) != 0)
		end -= w;
	if (p == end)
		return fail("token must not be empty", "");
	rc = lk_argon2_hash_token(p, (size_t)(end - p), phc, sizeof(phc) - 1);
	if (rc != 0)
		return fail("hash-token: ", strerror_r(-rc, es, sizeof(es)));
	w = strlen(phc);
	phc[w++] = '\n';
	return lk__cmd_write_all(STDOUT_FILENO, phc, w) == 0 ? 0 : 1;
}

int lk_cmd_hash_token(int argc, char **argv)
{
	char buf[LINE_MAX_BYTES];
	int status, rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0) {
			rc = lk__cmd_write_all(STDOUT_FILENO, usage_text, sizeof(usage_text) - 1);
			return rc == 0 ? 0 : 1;
		}
		fail("hash-token: unexpected argument: ", a);
		(void)lk__cmd_write_all(STDERR_FILENO, usage_text, sizeof(usage_text) - 1);
		return EXIT_USAGE;
	}
	status = hash_stdin(buf, sizeof(buf));
	lk_crypto_cleanse(buf, sizeof(buf));
	return status;
}
