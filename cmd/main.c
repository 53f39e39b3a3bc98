/* cmd/main.c - the one binary: sub-command dispatch. */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/ring.h"
#include "core/tls.h"

static const char usage[] =
	"Usage: lookout [command] [flags]\n"
	"\n"
	"A remote Docker agent: authenticates callers and serves the host's Docker\n"
	"Engine API over TLS (standard mode) or an outbound tunnel (edge mode).\n"
	"\n"
	"Commands:\n"
	"  serve        run the agent (default; configured by environment variables)\n"
	"  hash-token   read a token on stdin, print its Argon2id hash for TOKEN_HASH\n"
	"  keygen       generate an Ed25519 key pair for signed requests\n"
	"  sign         print the headers of one Ed25519-signed request (curl -H @file)\n"
	"  version      print version, commit and library versions\n"
	"  healthcheck  exit 0 if the local agent reports healthy (container HEALTHCHECK)\n"
	"\n"
	"Run 'lookout <command> --help' for details.\n";

static bool is_help(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-help") == 0 ||
	       strcmp(a, "help") == 0;
}

int lk_cmd_version(int argc, char **argv)
{
	if (argc > 1 && is_help(argv[1])) {
		fputs("Usage: lookout version\n\nPrints the version, the commit it was built from and "
		      "the versions of the libraries it uses.\n",
		      stdout);
		return 0;
	}
	printf("lookout %s\ncommit %s\n%s, %s\n", LK_VERSION, LK_GIT_COMMIT, LK_LIBS_VERSION,
	       lk_tls_lib_version());
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "serve", lk_cmd_serve },     { "hash-token", lk_cmd_hash_token },
		{ "keygen", lk_cmd_keygen },   { "sign", lk_cmd_sign },
		{ "version", lk_cmd_version }, { "healthcheck", lk_cmd_healthcheck },
	};

	if (argc < 2)
		return lk_cmd_serve(argc, argv);
	if (is_help(argv[1])) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "lookout: unknown command \"%s\"\n\n%s", argv[1], usage);
	return 2;
}
