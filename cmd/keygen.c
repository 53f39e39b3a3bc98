/* cmd/keygen.c - `lookout keygen`: make an Ed25519 key pair, or re-derive the
 * authorized_keys line of an existing private key (spec lookout-core 2.2).
 *
 * Flags follow Go's flag package, which the reference used: one or two
 * dashes, `-flag value` or `-flag=value`, parsing stops at the first
 * non-flag argument or after "--". Lookout differences: -h/-help/--help
 * print the usage on stdout and exit 0, a bad flag exits 2, and a stray
 * positional argument is an error rather than silently ignored.
 *
 * All output goes through write(2), never stdio, so the private key PEM is
 * never copied into a libc buffer that nobody wipes. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/keys.h"
#include "cmd/cmd.h"
#include "core/crypto.h"
#include "core/dbg.h"

#define EXIT_USAGE 2

static const char usage_text[] =
	"Usage: lookout keygen [-comment <text>]\n"
	"       lookout keygen -pub-from <private.pem> [-comment <text>]\n"
	"\n"
	"Generates an Ed25519 keypair for use with AUTHORIZED_KEYS authentication.\n"
	"The private key (PEM PKCS#8) and authorized_keys line are written to stdout.\n"
	"\n"
	"  -comment string\n"
	"    \tComment to embed in the authorized_keys line (optional)\n"
	"  -h, --help\n"
	"    \tShow this help and exit\n"
	"  -pub-from string\n"
	"    \tRe-derive the authorized_keys line from an existing private key PEM file\n";

struct keygen_opts {
	const char *comment;  /* NULL or "" = none */
	const char *pub_from; /* NULL or "" = generate */
	bool help;
};

static int write_str(int fd, const char *s)
{
	return lk__cmd_write_all(fd, s, strlen(s));
}

/* fail_msg prints "keygen: <msg>" on stderr and returns exit status 1. */
static int fail_msg(const char *msg)
{
	char line[2304];
	int n = snprintf(line, sizeof(line), "keygen: %s\n", msg);

	if (n > 0)
		(void)lk__cmd_write_all(STDERR_FILENO, line, LK_MIN((size_t)n, sizeof(line) - 1));
	return 1;
}

/* bad_usage prints a Go-flag style complaint and the usage on stderr. */
static int bad_usage(const char *what, const char *arg)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s%s\n", what, arg);

	if (n > 0)
		(void)lk__cmd_write_all(STDERR_FILENO, line, LK_MIN((size_t)n, sizeof(line) - 1));
	(void)write_str(STDERR_FILENO, usage_text);
	return EXIT_USAGE;
}

/* parse_flag handles argv[*i], a flag word, and may consume argv[*i + 1] as
 * its value. Returns 0 or an exit status. */
static int parse_flag(int argc, char **argv, int *i, struct keygen_opts *o)
{
	const char *arg = argv[*i], *name, *value;
	size_t name_len;

	if (lk__cmd_flag_split(arg, &name, &name_len, &value) < 0)
		return bad_usage("bad flag syntax: ", arg);
	if ((name_len == 1 && name[0] == 'h') || (name_len == 4 && !strncmp(name, "help", 4))) {
		o->help = true;
		return 0;
	}
	bool is_comment = name_len == 7 && strncmp(name, "comment", 7) == 0;
	bool is_pub_from = name_len == 8 && strncmp(name, "pub-from", 8) == 0;

	if (!is_comment && !is_pub_from)
		return bad_usage("flag provided but not defined: ", arg);
	if (value == NULL) {
		if (*i + 1 >= argc)
			return bad_usage("flag needs an argument: ", arg);
		value = argv[++*i];
	}
	if (is_comment)
		o->comment = value;
	else
		o->pub_from = value;
	return 0;
}

static int parse_args(int argc, char **argv, struct keygen_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc;

		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc)
				return bad_usage("unexpected argument: ", argv[i + 1]);
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			return bad_usage("unexpected argument: ", a);
		rc = parse_flag(argc, argv, &i, o);
		if (rc != 0 || o->help)
			return rc;
	}
	return 0;
}

/* print_line formats the authorized_keys line for pub and writes it to
 * stdout after the stderr header. Returns the exit status. */
static int print_line(const uint8_t pub[LK_ED25519_PUB_LEN], const char *comment,
		      const char *header)
{
	char line[LK_KEYS_LINE_OUT_MAX + 1];
	size_t n;
	int rc = lk_keys_format_line(pub, comment, line, sizeof(line) - 1);

	if (rc == -EINVAL)
		return fail_msg("comment must not contain a line break");
	if (rc != 0)
		return fail_msg("comment longer than 1024 bytes");
	n = strlen(line);
	line[n++] = '\n';
	if (write_str(STDERR_FILENO, header) != 0 || lk__cmd_write_all(STDOUT_FILENO, line, n) != 0)
		return fail_msg("writing output failed");
	return 0;
}

static int pub_from(const struct keygen_opts *o)
{
	char err[2048];
	uint8_t seed[LK_ED25519_SEED_LEN], pub[LK_ED25519_PUB_LEN], priv[LK_ED25519_PRIV_LEN];

	if (lk_keys_load_private_key(o->pub_from, seed, err, sizeof(err)) != 0)
		return fail_msg(err);
	lk_crypto_ed25519_keypair(seed, pub, priv);
	lk_crypto_cleanse(seed, sizeof(seed));
	lk_crypto_cleanse(priv, sizeof(priv));
	return print_line(pub, o->comment,
			  "# authorized_keys line (add to AUTHORIZED_KEYS file on agent host):\n");
}

static int generate(const struct keygen_opts *o)
{
	uint8_t seed[LK_ED25519_SEED_LEN], pub[LK_ED25519_PUB_LEN], priv[LK_ED25519_PRIV_LEN];
	char pem[LK_KEYS_PEM_MAX];
	int status = 1;

	(void)write_str(STDERR_FILENO, "Generating Ed25519 keypair...\n");
	if (lk_crypto_random(seed, sizeof(seed)) != 0)
		return fail_msg("generating key: no randomness available");
	lk_crypto_ed25519_keypair(seed, pub, priv);
	lk_crypto_cleanse(priv, sizeof(priv));
	if (lk_keys_pem_encode(seed, pem, sizeof(pem)) != 0)
		LK_UNREACHABLE(); /* LK_KEYS_PEM_MAX is sized for it */
	lk_crypto_cleanse(seed, sizeof(seed));
	if (write_str(STDERR_FILENO, "# Private key (PKCS#8 PEM) \xe2\x80\x94 store securely; "
				     "set as PRIVATE_KEY_FILE on the client:\n") != 0 ||
	    write_str(STDOUT_FILENO, pem) != 0) {
		status = fail_msg("writing output failed");
		goto out;
	}
	status = print_line(pub, o->comment,
			    "# authorized_keys line \xe2\x80\x94 add to AUTHORIZED_KEYS file on "
			    "agent host:\n");
out:
	lk_crypto_cleanse(pem, sizeof(pem));
	return status;
}

int lk_cmd_keygen(int argc, char **argv)
{
	struct keygen_opts o = { .comment = NULL, .pub_from = NULL, .help = false };
	int rc = parse_args(argc, argv, &o);

	if (rc != 0)
		return rc;
	if (o.help)
		return write_str(STDOUT_FILENO, usage_text) == 0 ? 0 : 1;
	if (o.pub_from != NULL && o.pub_from[0] != '\0')
		return pub_from(&o);
	return generate(&o);
}
