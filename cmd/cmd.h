/* cmd/cmd.h - sub-command entry points. Each takes the arguments after the
 * sub-command word (argv[0] is the sub-command itself) and returns the
 * process exit status. */
#ifndef LK_CMD_CMD_H
#define LK_CMD_CMD_H

#include <stddef.h>

/* lk_cmd_serve runs the agent until SIGTERM/SIGINT (cmd/serve.c). */
int lk_cmd_serve(int argc, char **argv);
/* lk_cmd_hash_token reads a token from stdin and prints its Argon2id PHC
 * string (cmd/hash_token.c). */
int lk_cmd_hash_token(int argc, char **argv);
/* lk_cmd_keygen generates an Ed25519 key pair or re-derives the public line
 * (cmd/keygen.c). */
int lk_cmd_keygen(int argc, char **argv);
/* lk_cmd_sign prints the X-Lookout-* (or X-Portwing-*) headers of one
 * Ed25519-signed request for curl -H @file (cmd/sign.c). */
int lk_cmd_sign(int argc, char **argv);
/* lk_cmd_version prints version, commit and library versions (cmd/main.c). */
int lk_cmd_version(int argc, char **argv);
/* lk_cmd_healthcheck probes the local health endpoint (cmd/healthcheck.c). */
int lk_cmd_healthcheck(int argc, char **argv);

/* lk__cmd_flag_split splits a flag argument "-name[=value]" or
 * "--name[=value]" (Go's flag syntax) into name[0..*name_len) and *value
 * (NULL without '='). Returns 0, or -1 for bad syntax ("-", "--=x", ...). */
int lk__cmd_flag_split(const char *arg, const char **name, size_t *name_len, const char **value);
/* lk__cmd_write_all writes s[0..n) to fd (blocking), riding out short
 * writes and EINTR. Returns 0 or -errno. */
int lk__cmd_write_all(int fd, const char *s, size_t n);

#endif /* LK_CMD_CMD_H */
