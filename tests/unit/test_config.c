/* tests/unit/test_config.c - configuration: defaults, strict parsing that
 * names the variable, *_FILE precedence and file errors, cross-variable
 * rules, loopback detection, trusted proxies, and secrets never reaching an
 * error message. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

static struct lk_config cfg;
static char err[1024];

/* Strings and temp files made by a test, released by its teardown. */
static char *owned[600];
static size_t n_owned;
static char *tmp_paths[32];
static size_t n_tmp;

#define ENV(...) ((char *[]){ __VA_ARGS__, NULL })
#define SECRET "S3cr3t-T0ken-value-42"

/* kv returns "name=value" (owned by the test). */
static char *kv(const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 2;
	char *s = malloc(len);

	assert_non_null(s);
	snprintf(s, len, "%s=%s", name, value);
	assert_true(n_owned < sizeof(owned) / sizeof(owned[0]));
	owned[n_owned++] = s;
	return s;
}

/* make_file creates a temp file holding data[0..len) and returns its path. */
static const char *make_file(const void *data, size_t len)
{
	char tmpl[] = "/tmp/lk_test_config_XXXXXX";
	int fd = mkstemp(tmpl);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	tmp_paths[n_tmp] = strdup(tmpl);
	assert_non_null(tmp_paths[n_tmp]);
	return tmp_paths[n_tmp++];
}

static const char *make_file_str(const char *s)
{
	return make_file(s, strlen(s));
}

static int teardown(void **state)
{
	lk_config_done(&cfg);
	for (size_t i = 0; i < n_owned; i++)
		free(owned[i]);
	n_owned = 0;
	for (size_t i = 0; i < n_tmp; i++) {
		unlink(tmp_paths[i]);
		free(tmp_paths[i]);
	}
	n_tmp = 0;
	return 0;
}

static int load(char *const *env)
{
	lk_config_done(&cfg);
	memset(err, 'X', sizeof(err));
	return lk_config_load(&cfg, env, err, sizeof(err));
}

/* load_ok loads env and fails the test with the error text if it fails. */
static void load_ok(char *const *env)
{
	int rc = load(env);

	if (rc != 0)
		fail_msg("lk_config_load: %d: %s", rc, err);
	assert_string_equal(err, "");
}

/* load_err expects -EINVAL with err starting with want, and checks that the
 * failed load left the config zeroed. */
static void load_err(char *const *env, const char *want)
{
	static const struct lk_config zero;
	int rc = load(env);

	if (rc != -EINVAL)
		fail_msg("expected -EINVAL with \"%s\", got %d (%s)", want, rc, rc ? err : "");
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("expected \"%s\", got \"%s\"", want, err);
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
}

/* first_existing returns the first of the paths that exists, or NULL. */
static const char *first_existing(const char *const *paths, size_t n)
{
	struct stat st;

	for (size_t i = 0; i < n; i++) {
		if (paths[i] != NULL && stat(paths[i], &st) == 0)
			return paths[i];
	}
	return NULL;
}

static unsigned expected_workers(void)
{
	cpu_set_t set;
	long n = -1;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > 64 ? 64 : (unsigned)n;
}

static void check_uuid4(const char *s)
{
	assert_int_equal(strlen(s), 36);
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(s[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", s[i]));
	}
	assert_int_equal(s[14], '4');
	assert_non_null(strchr("89ab", s[19]));
}

/* check_defaults checks every field that env did not set. */
static void check_defaults(void)
{
	static const char *const socks[] = { "/var/run/docker.sock", "/run/docker.sock" };
	const char *sock = first_existing(socks, 2);
	char host[HOST_NAME_MAX + 1] = { 0 };

	assert_null(cfg.token_hash);
	assert_null(cfg.authorized_keys);
	assert_null(cfg.enrollment_token);
	assert_null(cfg.private_key_file);
	assert_null(cfg.drydock_url);
	assert_null(cfg.ca_cert);
	assert_false(cfg.tls_skip_verify);
	assert_false(cfg.allow_unauthenticated);
	assert_false(cfg.allow_unauthenticated_remote);
	assert_int_equal(cfg.max_clock_skew_s, 60);
	assert_int_equal(cfg.nonce_lru_size, 0); /* unset: the server sizes it */
	assert_string_equal(cfg.bind_address, "0.0.0.0");
	assert_int_equal(cfg.port, 3000);
	assert_null(cfg.tls_cert);
	assert_null(cfg.tls_key);
	assert_null(cfg.trusted_proxies);
	assert_int_equal(cfg.n_trusted_proxies, 0);
	assert_string_equal(cfg.docker_socket, sock != NULL ? sock : "/var/run/docker.sock");
	assert_string_equal(cfg.stacks_dir, "/data/stacks");
	check_uuid4(cfg.agent_id);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(cfg.agent_name, host[0] != '\0' ? host : "lookout");
	assert_int_equal(cfg.heartbeat_interval_s, 30);
	assert_int_equal(cfg.request_timeout_s, 30);
	assert_int_equal(cfg.reconnect_delay_s, 1);
	assert_int_equal(cfg.max_reconnect_delay_s, 60);
	assert_int_equal(cfg.welcome_timeout_s, 30);
	assert_int_equal(cfg.log_level, LK_LOG_INFO);
	assert_false(cfg.skip_df_collection);
	assert_int_equal(cfg.adapter, LK_ADAPTER_DRYDOCK);
	assert_int_equal(cfg.dd_poll_interval_s, 300);
	assert_null(cfg.audit_log);
	assert_int_equal(cfg.audit_buffer_size, 256);
	assert_int_equal(cfg.mode, LK_MODE_STANDARD);
	assert_int_equal(cfg.workers, expected_workers());
	assert_int_equal(cfg.max_connections, 16384);
	assert_int_equal(cfg.header_timeout_s, 10);
	assert_int_equal(cfg.idle_timeout_s, 120);
	assert_int_equal(cfg.tls_handshake_timeout_s, 10);
	assert_int_equal(cfg.shutdown_timeout_s, 10);
	assert_int_equal(cfg.max_streams, 100);
	assert_int_equal(cfg.max_hijacks, 100);
}

/* --- defaults and generic parsing ------------------------------------------ */

static void test_defaults(void **state)
{
	load_ok(ENV("TOKEN=abc"));
	assert_string_equal(cfg.token, "abc");
	check_defaults();
}

static void test_empty_means_default(void **state)
{
	static const char *const names[] = {
		"PORT", "BIND_ADDRESS", "STACKS_DIR", "LOG_LEVEL", "ADAPTER", "TOKEN_HASH",
		"TOKEN_HASH_FILE", "AUTHORIZED_KEYS", "AUTHORIZED_KEYS_FILE", "ENROLLMENT_TOKEN",
		"ENROLLMENT_TOKEN_FILE", "PRIVATE_KEY_FILE", "DRYDOCK_URL", "CA_CERT",
		"TLS_SKIP_VERIFY", "TLS_CERT", "TLS_KEY", "TRUSTED_PROXIES", "DOCKER_SOCKET",
		"AGENT_ID", "AGENT_NAME", "HEARTBEAT_INTERVAL", "REQUEST_TIMEOUT",
		"RECONNECT_DELAY", "MAX_RECONNECT_DELAY", "WELCOME_TIMEOUT", "SKIP_DF_COLLECTION",
		"DD_POLL_INTERVAL", "AUDIT_LOG", "AUDIT_BUFFER_SIZE", "MAX_CLOCK_SKEW_SECONDS",
		"NONCE_LRU_SIZE", "ALLOW_UNAUTHENTICATED", "ALLOW_UNAUTHENTICATED_REMOTE",
		"WORKERS", "MAX_CONNECTIONS", "HEADER_TIMEOUT", "IDLE_TIMEOUT",
		"TLS_HANDSHAKE_TIMEOUT", "SHUTDOWN_TIMEOUT", "MAX_STREAMS", "MAX_HIJACKS", "ZERO_COPY",
		"TOKEN_FILE", "DD_AGENT_SECRET_FILE", "DD_AGENT_SECRET", "HOME",
	};
	char *env[64];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		env[n++] = kv(names[i], "");
	env[n++] = "TOKEN=abc";
	env[n] = NULL;
	load_ok(env);
	assert_string_equal(cfg.token, "abc");
	check_defaults();
}

static void test_ignored_and_first_wins(void **state)
{
	load_ok(ENV("DOCKER_HOST=tcp://nonsense:1", "SOMETHING_ELSE=1", "NOEQUALS", "=x",
		    "PORTX=5", "PORT=1234", "PORT=99", "TOKEN=abc", "TOKEN=def"));
	assert_int_equal(cfg.port, 1234);
	assert_string_equal(cfg.token, "abc");
	/* A NULL envp is an empty environment. */
	load_err(NULL, "ALLOW_UNAUTHENTICATED: ");
}

static const struct int_case {
	const char *name;
	long long min, max, def;
	size_t off;
	int kind; /* 0 int, 1 unsigned, 2 uint16_t */
} int_cases[] = {
#define F(field) offsetof(struct lk_config, field)
	{ "PORT", 0, 65535, 3000, F(port), 2 },
	{ "MAX_CLOCK_SKEW_SECONDS", 1, 86400, 60, F(max_clock_skew_s), 0 },
	{ "NONCE_LRU_SIZE", 1, 16777216, 0, F(nonce_lru_size), 0 }, /* 0: sized by the server */
	{ "HEARTBEAT_INTERVAL", 1, 3600, 30, F(heartbeat_interval_s), 0 },
	{ "REQUEST_TIMEOUT", 0, 86400, 30, F(request_timeout_s), 0 },
	{ "RECONNECT_DELAY", 1, 3600, 1, F(reconnect_delay_s), 0 },
	{ "MAX_RECONNECT_DELAY", 1, 86400, 60, F(max_reconnect_delay_s), 0 },
	{ "WELCOME_TIMEOUT", 1, 3600, 30, F(welcome_timeout_s), 0 },
	{ "DD_POLL_INTERVAL", 1, 86400, 300, F(dd_poll_interval_s), 0 },
	{ "AUDIT_BUFFER_SIZE", 0, 1000000, 256, F(audit_buffer_size), 0 },
	{ "WORKERS", 1, 64, -1, F(workers), 1 },
	{ "MAX_CONNECTIONS", 1, 1048576, 16384, F(max_connections), 1 },
	{ "HEADER_TIMEOUT", 1, 3600, 10, F(header_timeout_s), 1 },
	{ "IDLE_TIMEOUT", 1, 86400, 120, F(idle_timeout_s), 1 },
	{ "TLS_HANDSHAKE_TIMEOUT", 1, 600, 10, F(tls_handshake_timeout_s), 1 },
	{ "SHUTDOWN_TIMEOUT", 1, 600, 10, F(shutdown_timeout_s), 1 },
	{ "MAX_STREAMS", 1, 100000, 100, F(max_streams), 1 },
	{ "MAX_HIJACKS", 1, 100000, 100, F(max_hijacks), 1 },
#undef F
};

static long long int_field(const struct int_case *ic)
{
	const char *p = (const char *)&cfg + ic->off;

	if (ic->kind == 0)
		return *(const int *)(const void *)p;
	if (ic->kind == 1)
		return *(const unsigned *)(const void *)p;
	return *(const uint16_t *)(const void *)p;
}

/* load_int loads NAME=value ahead of a base that keeps the other rules
 * satisfied (RECONNECT_DELAY up to its maximum needs a larger maximum). */
static int load_int(const struct int_case *ic, const char *value)
{
	return load(ENV(kv(ic->name, value), "TOKEN=t", "MAX_RECONNECT_DELAY=86400"));
}

static void test_ints(void **state)
{
	static const char *const bad[] = { "abc", "1x",   "x1",   " 1",  "1 ",  "+1",  "-1",
					   "-0",  "0x10", "1.5",  "1e3", "１", "99999999999999999999999999" };
	char want[128], num[32];

	for (size_t i = 0; i < sizeof(int_cases) / sizeof(int_cases[0]); i++) {
		const struct int_case *ic = &int_cases[i];

		snprintf(want, sizeof(want), "%s: must be an integer between %lld and %lld",
			 ic->name, ic->min, ic->max);
		snprintf(num, sizeof(num), "%lld", ic->min);
		assert_int_equal(load_int(ic, num), 0);
		assert_int_equal(int_field(ic), ic->min);
		snprintf(num, sizeof(num), "%lld", ic->max);
		assert_int_equal(load_int(ic, num), 0);
		assert_int_equal(int_field(ic), ic->max);
		snprintf(num, sizeof(num), "000%lld", ic->max);
		assert_int_equal(load_int(ic, num), 0);
		assert_int_equal(int_field(ic), ic->max);
		assert_int_equal(load_int(ic, ""), 0);
		if (ic->def >= 0)
			assert_int_equal(int_field(ic), ic->def);

		snprintf(num, sizeof(num), "%lld", ic->max + 1);
		assert_int_equal(load_int(ic, num), -EINVAL);
		assert_string_equal(err, want);
		if (ic->min > 0) {
			snprintf(num, sizeof(num), "%lld", ic->min - 1);
			assert_int_equal(load_int(ic, num), -EINVAL);
			assert_string_equal(err, want);
		}
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			assert_int_equal(load_int(ic, bad[j]), -EINVAL);
			assert_string_equal(err, want);
		}
	}
}

static void test_port_zero(void **state)
{
	load_ok(ENV("PORT=0", "TOKEN=t"));
	assert_int_equal(cfg.port, 0);
	load_err(ENV("PORT=65536", "TOKEN=t"), "PORT: must be an integer between 0 and 65535");
}

static void test_bools(void **state)
{
	static const char *const names[] = { "ALLOW_UNAUTHENTICATED", "ALLOW_UNAUTHENTICATED_REMOTE",
					     "TLS_SKIP_VERIFY", "SKIP_DF_COLLECTION" };
	static const char *const yes[] = { "1", "true", "TRUE", "True", "yes", "YES", "yEs" };
	static const char *const no[] = { "0", "false", "FALSE", "no", "No" };
	static const char *const bad[] = { "on", "off", "y", "n", "2", "-1", "t", " true", "true ",
					   "yess", "enable" };
	size_t offs[] = { offsetof(struct lk_config, allow_unauthenticated),
			  offsetof(struct lk_config, allow_unauthenticated_remote),
			  offsetof(struct lk_config, tls_skip_verify),
			  offsetof(struct lk_config, skip_df_collection) };
	char want[128];

	for (size_t i = 0; i < 4; i++) {
		const bool *field = (const bool *)((const char *)&cfg + offs[i]);

		snprintf(want, sizeof(want), "%s: must be a boolean", names[i]);
		for (size_t j = 0; j < sizeof(yes) / sizeof(yes[0]); j++) {
			load_ok(ENV(kv(names[i], yes[j]), "TOKEN=t"));
			assert_true(*field);
		}
		for (size_t j = 0; j < sizeof(no) / sizeof(no[0]); j++) {
			load_ok(ENV(kv(names[i], no[j]), "TOKEN=t"));
			assert_false(*field);
		}
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++)
			load_err(ENV(kv(names[i], bad[j]), "TOKEN=t"), want);
	}
}

static void test_log_level(void **state)
{
	load_ok(ENV("LOG_LEVEL=DEBUG", "TOKEN=t"));
	assert_int_equal(cfg.log_level, LK_LOG_DEBUG);
	load_ok(ENV("LOG_LEVEL=warning", "TOKEN=t"));
	assert_int_equal(cfg.log_level, LK_LOG_WARN);
	load_ok(ENV("LOG_LEVEL=Error", "TOKEN=t"));
	assert_int_equal(cfg.log_level, LK_LOG_ERROR);
	load_err(ENV("LOG_LEVEL=verbose", "TOKEN=t"), "LOG_LEVEL: must be one of");
	load_err(ENV("LOG_LEVEL=info ", "TOKEN=t"), "LOG_LEVEL: must be one of");
}

static void test_adapter(void **state)
{
	load_ok(ENV("ADAPTER=generic", "TOKEN=t"));
	assert_int_equal(cfg.adapter, LK_ADAPTER_GENERIC);
	load_ok(ENV("ADAPTER=DryDock", "TOKEN=t"));
	assert_int_equal(cfg.adapter, LK_ADAPTER_DRYDOCK);
	load_err(ENV("ADAPTER=portainer", "TOKEN=t"), "ADAPTER: must be drydock or generic");
}

static void test_zero_copy(void **state)
{
	load_ok(ENV("TOKEN=t"));
	assert_int_equal(cfg.zero_copy, LK_ZC_AUTO);
	load_ok(ENV("ZERO_COPY=on", "TOKEN=t"));
	assert_int_equal(cfg.zero_copy, LK_ZC_ON);
	load_ok(ENV("ZERO_COPY=OFF", "TOKEN=t"));
	assert_int_equal(cfg.zero_copy, LK_ZC_OFF);
	load_err(ENV("ZERO_COPY=yes", "TOKEN=t"), "ZERO_COPY: must be auto, on or off");
}

static void test_plain_strings(void **state)
{
	load_ok(ENV("TOKEN=t", "TLS_CERT=/c.pem", "TLS_KEY=/k.pem", "CA_CERT=/ca.pem",
		    "STACKS_DIR=/srv/stacks", "AUDIT_LOG=stdout", "AGENT_ID=my-id",
		    "AGENT_NAME=my-name", "DOCKER_SOCKET=/tmp/d.sock", "AUTHORIZED_KEYS=/ak"));
	assert_string_equal(cfg.tls_cert, "/c.pem");
	assert_string_equal(cfg.tls_key, "/k.pem");
	assert_string_equal(cfg.ca_cert, "/ca.pem");
	assert_string_equal(cfg.stacks_dir, "/srv/stacks");
	assert_string_equal(cfg.audit_log, "stdout");
	assert_string_equal(cfg.agent_id, "my-id");
	assert_string_equal(cfg.agent_name, "my-name");
	assert_string_equal(cfg.docker_socket, "/tmp/d.sock");
	assert_string_equal(cfg.authorized_keys, "/ak");
}

/* --- credentials and *_FILE ------------------------------------------------ */

static void test_token_precedence(void **state)
{
	char *f1 = kv("TOKEN_FILE", make_file_str("from-token-file\n"));
	char *f2 = kv("DD_AGENT_SECRET_FILE", make_file_str("from-dd-file\n"));

	load_ok(ENV("TOKEN=env-token", "DD_AGENT_SECRET=dd-env", f2, f1));
	assert_string_equal(cfg.token, "from-token-file");
	load_ok(ENV("TOKEN=env-token", "DD_AGENT_SECRET=dd-env", f2));
	assert_string_equal(cfg.token, "from-dd-file");
	load_ok(ENV("TOKEN=env-token", "DD_AGENT_SECRET=dd-env"));
	assert_string_equal(cfg.token, "env-token");
	load_ok(ENV("DD_AGENT_SECRET=dd-env"));
	assert_string_equal(cfg.token, "dd-env");
	load_ok(ENV("TOKEN_FILE=", "DD_AGENT_SECRET_FILE=", "TOKEN=", "DD_AGENT_SECRET=dd-env"));
	assert_string_equal(cfg.token, "dd-env");
	/* Environment tokens are taken verbatim (not trimmed), like the reference. */
	load_ok(ENV("TOKEN= spaced "));
	assert_string_equal(cfg.token, " spaced ");
}

static void test_token_hash_precedence(void **state)
{
	char *f = kv("TOKEN_HASH_FILE", make_file_str("$argon2id$file\n"));

	load_ok(ENV("TOKEN_HASH=$argon2id$env", f));
	assert_string_equal(cfg.token_hash, "$argon2id$file");
	assert_null(cfg.token);
	load_ok(ENV("TOKEN_HASH=$argon2id$env"));
	assert_string_equal(cfg.token_hash, "$argon2id$env");
}

static void test_authorized_keys_alias(void **state)
{
	load_ok(ENV("AUTHORIZED_KEYS=/a", "AUTHORIZED_KEYS_FILE=/b"));
	assert_string_equal(cfg.authorized_keys, "/a");
	load_ok(ENV("AUTHORIZED_KEYS=", "AUTHORIZED_KEYS_FILE=/b"));
	assert_string_equal(cfg.authorized_keys, "/b");
	/* A path, never read here: a missing file is auth/'s error to report. */
	load_ok(ENV("AUTHORIZED_KEYS_FILE=/nonexistent/keys"));
	assert_string_equal(cfg.authorized_keys, "/nonexistent/keys");
}

static void test_enrollment_precedence(void **state)
{
	char *f = kv("ENROLLMENT_TOKEN_FILE", make_file_str("  from-file \n"));

	/* The environment value wins over the file, unlike TOKEN. */
	load_ok(ENV("ENROLLMENT_TOKEN=from-env", f, "AUTHORIZED_KEYS=/ak"));
	assert_string_equal(cfg.enrollment_token, "from-env");
	load_ok(ENV("ENROLLMENT_TOKEN=", f, "AUTHORIZED_KEYS=/ak"));
	assert_string_equal(cfg.enrollment_token, "from-file");
	load_ok(ENV(f, "AUTHORIZED_KEYS=/ak"));
	assert_string_equal(cfg.enrollment_token, "from-file");
}

static void test_file_trimming(void **state)
{
	load_ok(ENV(kv("TOKEN_FILE", make_file_str(" \t\r\n tok en\tx \r\n\n\v\f"))));
	assert_string_equal(cfg.token, "tok en\tx");
	load_ok(ENV(kv("TOKEN_FILE", make_file_str("no-newline"))));
	assert_string_equal(cfg.token, "no-newline");
	load_ok(ENV(kv("TOKEN_FILE", make_file_str("line1\nline2\n"))));
	assert_string_equal(cfg.token, "line1\nline2");
}

static const char *const file_vars[] = { "TOKEN_FILE", "DD_AGENT_SECRET_FILE", "TOKEN_HASH_FILE",
					 "ENROLLMENT_TOKEN_FILE" };

static void test_file_unreadable(void **state)
{
	char want[256];
	char dir[] = "/tmp/lk_test_config_dir_XXXXXX";

	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "%s: cannot read /nonexistent/lk/secret: %s",
			 file_vars[i], strerror(ENOENT));
		load_err(ENV(kv(file_vars[i], "/nonexistent/lk/secret"), "AUTHORIZED_KEYS=/ak"),
			 want);
		assert_string_equal(err, want);
		snprintf(want, sizeof(want), "%s: cannot read %s: %s", file_vars[i], dir,
			 strerror(EISDIR));
		load_err(ENV(kv(file_vars[i], dir), "AUTHORIZED_KEYS=/ak"), want);
		assert_string_equal(err, want);
	}
	rmdir(dir);
}

static void test_file_empty(void **state)
{
	static const char *const contents[] = { "", "\n", "  \t\r\n \n" };
	char want[256];

	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; j < 3; j++) {
			const char *path = make_file_str(contents[j]);

			snprintf(want, sizeof(want), "%s: %s is empty", file_vars[i], path);
			load_err(ENV(kv(file_vars[i], path), "TOKEN=fallback", "AUTHORIZED_KEYS=/ak"),
				 want);
			assert_string_equal(err, want);
		}
	}
}

static void test_file_limits(void **state)
{
	static char big[LK_CONFIG_FILE_MAX + 1];
	const char *path;
	char want[256];

	memset(big, 'a', sizeof(big));
	path = make_file(big, LK_CONFIG_FILE_MAX);
	load_ok(ENV(kv("TOKEN_FILE", path)));
	assert_int_equal(strlen(cfg.token), LK_CONFIG_FILE_MAX);

	/* The limit applies to the file as read, before trimming. */
	path = make_file(big, sizeof(big));
	snprintf(want, sizeof(want), "TOKEN_FILE: %s is larger than %d bytes", path,
		 LK_CONFIG_FILE_MAX);
	load_err(ENV(kv("TOKEN_FILE", path)), want);
	assert_string_equal(err, want);

	path = make_file("abc\0def\n", 8);
	snprintf(want, sizeof(want), "TOKEN_HASH_FILE: %s contains a NUL byte", path);
	load_err(ENV(kv("TOKEN_HASH_FILE", path)), want);
	assert_string_equal(err, want);
}

/* No secret, from the environment or from a file, ever reaches err. */
static void test_secret_never_in_err(void **state)
{
	static char big[LK_CONFIG_FILE_MAX + 100];
	char *tf = kv("TOKEN_FILE", make_file_str(SECRET "\n"));
	char *ef = kv("ENROLLMENT_TOKEN_FILE", make_file_str(SECRET "\n"));
	char *nul = kv("TOKEN_FILE", make_file(SECRET "\0" SECRET, sizeof(SECRET) * 2));
	char *toobig;
	char *const *envs[32];
	size_t n = 0;

	memset(big, ' ', sizeof(big));
	memcpy(big, SECRET, strlen(SECRET));
	toobig = kv("TOKEN_FILE", make_file(big, sizeof(big)));
	envs[n++] = ENV("TOKEN=" SECRET, "TOKEN_HASH=" SECRET);
	envs[n++] = ENV(tf, "TOKEN_HASH=" SECRET);
	envs[n++] = ENV("DD_AGENT_SECRET=" SECRET, "TOKEN_HASH=x");
	envs[n++] = ENV("ENROLLMENT_TOKEN=" SECRET, "TOKEN=" SECRET);
	envs[n++] = ENV(ef, "TOKEN=" SECRET);
	envs[n++] = ENV("TOKEN=" SECRET, "PORT=" SECRET);
	envs[n++] = ENV("TOKEN=" SECRET, "TRUSTED_PROXIES=10.0.0.0/8,bad");
	envs[n++] = ENV("TOKEN=" SECRET, "BIND_ADDRESS=nope");
	envs[n++] = ENV("TOKEN=" SECRET, "TLS_CERT=/c");
	envs[n++] = ENV("TOKEN=" SECRET, "LOG_LEVEL=" SECRET);
	envs[n++] = ENV("TOKEN=" SECRET, "ALLOW_UNAUTHENTICATED=" SECRET);
	envs[n++] = ENV(nul);
	envs[n++] = ENV(toobig);
	envs[n++] = ENV("TOKEN=" SECRET, "DRYDOCK_URL=https://agent:" SECRET "@drydock.example");
	envs[n++] = ENV("TOKEN=" SECRET, "DRYDOCK_URL=" SECRET);
	envs[n++] = ENV("TOKEN_HASH=" SECRET, "DRYDOCK_URL=https://x", "PRIVATE_KEY_FILE=/k",
			"MAX_RECONNECT_DELAY=0");
	for (size_t i = 0; i < n; i++) {
		int rc = load(envs[i]);

		if (rc == 0)
			fail_msg("case %zu unexpectedly loaded", i);
		assert_true(strlen(err) > 0);
		if (strstr(err, SECRET) != NULL)
			fail_msg("case %zu leaks the secret: %s", i, err);
		assert_null(cfg.token);
	}
}

/* --- cross-variable rules -------------------------------------------------- */

static const char no_auth[] =
	"ALLOW_UNAUTHENTICATED: no authentication configured: set TOKEN, TOKEN_HASH, or "
	"AUTHORIZED_KEYS; for local development only, set ALLOW_UNAUTHENTICATED=true";

static void test_token_and_hash_exclusive(void **state)
{
	static const char want[] = "TOKEN and TOKEN_HASH are mutually exclusive: choose one";
	char *tf = kv("TOKEN_FILE", make_file_str("t\n"));
	char *hf = kv("TOKEN_HASH_FILE", make_file_str("h\n"));

	load_err(ENV("TOKEN=t", "TOKEN_HASH=h"), want);
	assert_string_equal(err, want);
	load_err(ENV(tf, hf), want);
	load_err(ENV("DD_AGENT_SECRET=t", hf), want);
	load_err(ENV("TOKEN=t", "TOKEN_HASH=h", "DRYDOCK_URL=https://d", "PRIVATE_KEY_FILE=/k"), want);
}

static void test_tls_pair(void **state)
{
	static const char want[] = "TLS_CERT and TLS_KEY must either both be set or both be empty";

	load_err(ENV("TOKEN=t", "TLS_CERT=/c"), want);
	assert_string_equal(err, want);
	load_err(ENV("TOKEN=t", "TLS_KEY=/k"), want);
	load_err(ENV("TOKEN=t", "TLS_KEY=/k", "TLS_CERT="), want);
	load_ok(ENV("TOKEN=t", "TLS_KEY=/k", "TLS_CERT=/c"));
	load_ok(ENV("TOKEN=t", "TLS_KEY=", "TLS_CERT="));
	assert_null(cfg.tls_cert);
}

static void test_enrollment_needs_keys(void **state)
{
	static const char want[] = "ENROLLMENT_TOKEN requires AUTHORIZED_KEYS to be set";
	char *ef = kv("ENROLLMENT_TOKEN_FILE", make_file_str("e\n"));

	load_err(ENV("TOKEN=t", "ENROLLMENT_TOKEN=e"), want);
	assert_string_equal(err, want);
	load_err(ENV("TOKEN=t", ef), want);
	/* An enrollment token is not authentication on its own. */
	load_err(ENV("ENROLLMENT_TOKEN=e"), want);
	load_ok(ENV("ENROLLMENT_TOKEN=e", "AUTHORIZED_KEYS_FILE=/ak"));
}

static void test_reconnect_delays(void **state)
{
	load_err(ENV("TOKEN=t", "RECONNECT_DELAY=10", "MAX_RECONNECT_DELAY=5"),
		 "MAX_RECONNECT_DELAY: must not be less than RECONNECT_DELAY");
	load_ok(ENV("TOKEN=t", "RECONNECT_DELAY=10", "MAX_RECONNECT_DELAY=10"));
	load_err(ENV("TOKEN=t", "RECONNECT_DELAY=61"),
		 "MAX_RECONNECT_DELAY: must not be less than RECONNECT_DELAY");
}

static void test_edge_mode(void **state)
{
	static const char want[] =
		"PRIVATE_KEY_FILE: edge mode (DRYDOCK_URL) requires PRIVATE_KEY_FILE for Ed25519 "
		"authentication; drydock rejects token-only agents";

	load_err(ENV("DRYDOCK_URL=https://drydock.example"), want);
	assert_string_equal(err, want);
	load_err(ENV("DRYDOCK_URL=https://drydock.example", "TOKEN=t", "AUTHORIZED_KEYS=/a"), want);
	/* The key alone is enough; the operations listener defaults to loopback. */
	load_ok(ENV("DRYDOCK_URL=https://drydock.example", "PRIVATE_KEY_FILE=/k.pem"));
	assert_int_equal(cfg.mode, LK_MODE_EDGE);
	assert_string_equal(cfg.drydock_url, "https://drydock.example");
	assert_string_equal(cfg.private_key_file, "/k.pem");
	assert_string_equal(cfg.bind_address, "127.0.0.1");
	load_ok(ENV("DRYDOCK_URL=https://d", "PRIVATE_KEY_FILE=/k", "BIND_ADDRESS=0.0.0.0"));
	assert_string_equal(cfg.bind_address, "0.0.0.0");
	/* Standard mode without DRYDOCK_URL, whatever PRIVATE_KEY_FILE says. */
	load_ok(ENV("DRYDOCK_URL=", "PRIVATE_KEY_FILE=/k", "TOKEN=t"));
	assert_int_equal(cfg.mode, LK_MODE_STANDARD);
	assert_string_equal(cfg.bind_address, "0.0.0.0");
}

static void test_drydock_url(void **state)
{
	static const char *const good[] = { "http://d", "https://d.example:8443/base",
					    "HTTPS://D", "ws://d", "wss://d" };
	static const char *const bad[] = { "drydock.example.com", "ftp://d", "https://", "https:/d",
					   "//d", "https//d" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		load_ok(ENV(kv("DRYDOCK_URL", good[i]), "PRIVATE_KEY_FILE=/k"));
		assert_string_equal(cfg.drydock_url, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		load_err(ENV(kv("DRYDOCK_URL", bad[i]), "PRIVATE_KEY_FILE=/k"),
			 "DRYDOCK_URL: must be an http://, https://, ws:// or wss:// URL");
}

static void test_fail_closed(void **state)
{
	load_err(ENV("PORT=3000"), no_auth);
	assert_string_equal(err, no_auth);
	load_err(ENV("ALLOW_UNAUTHENTICATED=false"), no_auth);
	/* The remote opt-in does not replace the local one. */
	load_err(ENV("ALLOW_UNAUTHENTICATED_REMOTE=true", "BIND_ADDRESS=127.0.0.1"), no_auth);
	/* Any one credential is enough. */
	load_ok(ENV("TOKEN=t"));
	load_ok(ENV("TOKEN_HASH=$argon2id$x"));
	load_ok(ENV("AUTHORIZED_KEYS=/ak"));
}

static void test_unauthenticated_bind(void **state)
{
	static const char *const loop[] = { "127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost",
					     "LOCALHOST", "0:0:0:0:0:0:0:1" };
	static const char *const remote[] = { "0.0.0.0", "::", "10.1.2.3", "[::]", "fe80::1" };
	char want[512];

	load_err(ENV("ALLOW_UNAUTHENTICATED=true"),
		 "BIND_ADDRESS: refusing unauthenticated non-loopback bind \"0.0.0.0\": set "
		 "authentication, bind to loopback, or additionally set "
		 "ALLOW_UNAUTHENTICATED_REMOTE=true");
	assert_string_equal(err, "BIND_ADDRESS: refusing unauthenticated non-loopback bind "
				 "\"0.0.0.0\": set authentication, bind to loopback, or "
				 "additionally set ALLOW_UNAUTHENTICATED_REMOTE=true");
	for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
		load_ok(ENV("ALLOW_UNAUTHENTICATED=true", kv("BIND_ADDRESS", loop[i])));
		assert_true(cfg.allow_unauthenticated);
	}
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++) {
		const char *shown = remote[i][0] == '[' ? "::" : remote[i];

		snprintf(want, sizeof(want),
			 "BIND_ADDRESS: refusing unauthenticated non-loopback bind \"%s\"", shown);
		load_err(ENV("ALLOW_UNAUTHENTICATED=1", kv("BIND_ADDRESS", remote[i])), want);
		load_ok(ENV("ALLOW_UNAUTHENTICATED=yes", "ALLOW_UNAUTHENTICATED_REMOTE=yes",
			    kv("BIND_ADDRESS", remote[i])));
		assert_true(cfg.allow_unauthenticated_remote);
	}
}

/* Every error message starts with a variable name. */
static void test_errors_name_a_variable(void **state)
{
	static const char *const envs[][3] = {
		{ "PORT=x", "TOKEN=t" },         { "TOKEN=t", "TOKEN_HASH=h" },
		{ "TLS_KEY=/k", "TOKEN=t" },     { "ENROLLMENT_TOKEN=e", "TOKEN=t" },
		{ "DRYDOCK_URL=https://d" },     { "ALLOW_UNAUTHENTICATED=true" },
		{ "AUDIT_LOG=" },                { "TRUSTED_PROXIES=x", "TOKEN=t" },
		{ "DOCKER_SOCKET=/tmp/" "0123456789012345678901234567890123456789012345678901234567"
		  "8901234567890123456789012345678901234567890123456789", "TOKEN=t" },
	};

	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		char *env[4] = { (char *)envs[i][0], (char *)envs[i][1], (char *)envs[i][2], NULL };
		size_t name_len;

		assert_int_equal(load(env), -EINVAL);
		name_len = strspn(err, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
		assert_true(name_len >= 4);
		assert_true(err[name_len] == ':' || err[name_len] == ' ');
	}
}

/* --- addresses --------------------------------------------------------- */

static void test_is_loopback(void **state)
{
	static const struct {
		const char *addr;
		bool want;
	} cases[] = {
		{ "localhost", true },      { "LocalHost", true },       { "[localhost]", true },
		{ "127.0.0.1", true },      { "127.255.255.254", true }, { "127.0.0.0", true },
		{ "[127.0.0.1]", true },    { "::1", true },             { "[::1]", true },
		{ "0::1", true },           { "::ffff:127.0.0.1", true }, { "0.0.0.0", false },
		{ "128.0.0.1", false },     { "126.255.255.255", false }, { "::", false },
		{ "::2", false },           { "[::1", false },           { "::1]", false },
		{ "localhost.", false },    { "localhost:3000", false }, { "127.0.0.1:80", false },
		{ "127.1", false },         { "", false },               { "[]", false },
		{ "10.0.0.1", false },      { "::ffff:10.0.0.1", false }, { "fe80::1", false },
		{ " 127.0.0.1", false },    { "example.com", false },    { NULL, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (lk_config_is_loopback(cases[i].addr) != cases[i].want)
			fail_msg("lk_config_is_loopback(\"%s\") != %d", cases[i].addr, cases[i].want);
	}
}

static void test_bind_address(void **state)
{
	static const struct {
		const char *in, *stored;
	} good[] = {
		{ "0.0.0.0", "0.0.0.0" }, { "192.0.2.7", "192.0.2.7" }, { "::", "::" },
		{ "[::1]", "::1" },        { "[2001:db8::1]", "2001:db8::1" },
		{ "LocalHost", "LocalHost" }, { "fe80::1", "fe80::1" },
	};
	static const char *const bad[] = { "example.com", "1.2.3",        "[127.0.0.1]", "[::1",
					   "::1]",        "1.2.3.4:80",   "localhost:1", "01.2.3.4",
					   " 127.0.0.1",  "[]",           "[localhost]", "fe80::1%lo",
					   "256.1.1.1",   "1.2.3.4/32" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		load_ok(ENV(kv("BIND_ADDRESS", good[i].in), "TOKEN=t"));
		assert_string_equal(cfg.bind_address, good[i].stored);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		load_err(ENV(kv("BIND_ADDRESS", bad[i]), "TOKEN=t"),
			 "BIND_ADDRESS: must be an IPv4 or IPv6 address literal or localhost");
}

static void check_cidr(size_t i, int family, int prefix, const char *addr)
{
	uint8_t want[16] = { 0 };

	assert_true(i < cfg.n_trusted_proxies);
	assert_int_equal(cfg.trusted_proxies[i].family, family);
	assert_int_equal(cfg.trusted_proxies[i].prefix, prefix);
	assert_int_equal(inet_pton(family, addr, want), 1);
	assert_memory_equal(cfg.trusted_proxies[i].addr, want, 16);
}

static void test_trusted_proxies(void **state)
{
	load_ok(ENV("TOKEN=t", "TRUSTED_PROXIES= 10.0.0.0/8, 192.168.1.7 ,,2001:db8::/32,\t::1 ,"
			       "172.16.5.4/12,0.0.0.0/0,::/0,2001:db8:ffff::1/33,10.1.2.3/32"));
	assert_int_equal(cfg.n_trusted_proxies, 9);
	check_cidr(0, AF_INET, 8, "10.0.0.0");
	check_cidr(1, AF_INET, 32, "192.168.1.7");
	check_cidr(2, AF_INET6, 32, "2001:db8::");
	check_cidr(3, AF_INET6, 128, "::1");
	check_cidr(4, AF_INET, 12, "172.16.0.0");
	check_cidr(5, AF_INET, 0, "0.0.0.0");
	check_cidr(6, AF_INET6, 0, "::");
	check_cidr(7, AF_INET6, 33, "2001:db8:8000::");
	check_cidr(8, AF_INET, 32, "10.1.2.3");

	/* Only separators: no entries at all. */
	load_ok(ENV("TOKEN=t", "TRUSTED_PROXIES= , ,,"));
	assert_int_equal(cfg.n_trusted_proxies, 0);
}

static void test_trusted_proxies_bad(void **state)
{
	static const struct {
		const char *list, *shown;
	} cases[] = {
		{ "10.0.0.0/33", "10.0.0.0/33" },     { "::/129", "::/129" },
		{ "abc", "abc" },                     { "10.0.0.1, 1.2.3.4/", "1.2.3.4/" },
		{ "/8", "/8" },                       { "1.2.3.4/08", "1.2.3.4/08" },
		{ "1.2.3.4/-1", "1.2.3.4/-1" },       { "1.2.3.4/ 8", "1.2.3.4/ 8" },
		{ "10.0.0.0/8/8", "10.0.0.0/8/8" },   { "fe80::1%eth0", "fe80::1%eth0" },
		{ "1.2.3.4 5.6.7.8", "1.2.3.4 5.6.7.8" }, { "1.2.3.4;5.6.7.8", "1.2.3.4;5.6.7.8" },
		{ "[::1]", "[::1]" },                 { "ok\x01", "ok?" },
		{ "10.0.0.0/+8", "10.0.0.0/+8" },     { "127.1", "127.1" },
		{ "0123456789012345678901234567890123456789012345678901234567890123456789",
		  "012345678901234567890123456789012345678901234567..." },
	};
	char want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(want, sizeof(want), "TRUSTED_PROXIES: invalid trusted proxy \"%s\"",
			 cases[i].shown);
		load_err(ENV("TOKEN=t", kv("TRUSTED_PROXIES", cases[i].list)), want);
		assert_string_equal(err, want);
	}
}

static void test_trusted_proxies_bound(void **state)
{
	static char list[LK_CONFIG_PROXIES_MAX * 16 + 16];
	size_t len = 0;

	for (int i = 0; i < LK_CONFIG_PROXIES_MAX; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "10.0.%d.%d,", i / 256, i % 256);
	load_ok(ENV("TOKEN=t", kv("TRUSTED_PROXIES", list)));
	assert_int_equal(cfg.n_trusted_proxies, LK_CONFIG_PROXIES_MAX);
	check_cidr(LK_CONFIG_PROXIES_MAX - 1, AF_INET, 32, "10.0.0.255");
	snprintf(list + len, sizeof(list) - len, "10.9.9.9");
	load_err(ENV("TOKEN=t", kv("TRUSTED_PROXIES", list)),
		 "TRUSTED_PROXIES: more than 256 entries");
}

/* --- Docker socket and identity -------------------------------------------- */

static void test_docker_socket_explicit(void **state)
{
	char path[200];

	memset(path, 'p', sizeof(path));
	path[0] = '/';
	path[107] = '\0'; /* 107 bytes: the most a sockaddr_un holds */
	load_ok(ENV("TOKEN=t", kv("DOCKER_SOCKET", path)));
	assert_string_equal(cfg.docker_socket, path);
	path[107] = 'p';
	path[108] = '\0';
	load_err(ENV("TOKEN=t", kv("DOCKER_SOCKET", path)),
		 "DOCKER_SOCKET: must be at most 107 bytes long");
}

static void test_docker_socket_auto(void **state)
{
	char home[] = "/tmp/lk_test_home_XXXXXX", p[6][256];
	const char *cand[4];
	const char *want;
	int fd;

	assert_non_null(mkdtemp(home));
	snprintf(p[0], sizeof(p[0]), "%s/.docker", home);
	snprintf(p[1], sizeof(p[1]), "%s/.docker/run", home);
	snprintf(p[2], sizeof(p[2]), "%s/.docker/run/docker.sock", home);
	snprintf(p[3], sizeof(p[3]), "%s/.orbstack", home);
	snprintf(p[4], sizeof(p[4]), "%s/.orbstack/run", home);
	snprintf(p[5], sizeof(p[5]), "%s/.orbstack/run/docker.sock", home);
	assert_int_equal(mkdir(p[3], 0700), 0);
	assert_int_equal(mkdir(p[4], 0700), 0);
	fd = creat(p[5], 0600);
	assert_true(fd >= 0);
	close(fd);

	/* Only the OrbStack socket exists under HOME. */
	cand[0] = "/var/run/docker.sock";
	cand[1] = p[2];
	cand[2] = p[5];
	cand[3] = "/run/docker.sock";
	want = first_existing(cand, 4);
	load_ok(ENV("TOKEN=t", kv("HOME", home)));
	assert_string_equal(cfg.docker_socket, want);

	/* Docker Desktop's socket comes before OrbStack's. */
	assert_int_equal(mkdir(p[0], 0700), 0);
	assert_int_equal(mkdir(p[1], 0700), 0);
	fd = creat(p[2], 0600);
	assert_true(fd >= 0);
	close(fd);
	want = first_existing(cand, 4);
	load_ok(ENV("TOKEN=t", kv("HOME", home)));
	assert_string_equal(cfg.docker_socket, want);

	/* Without HOME the $HOME candidates are not looked at. */
	cand[1] = cand[2] = NULL;
	want = first_existing(cand, 4);
	load_ok(ENV("TOKEN=t"));
	assert_string_equal(cfg.docker_socket, want != NULL ? want : "/var/run/docker.sock");

	unlink(p[2]);
	unlink(p[5]);
	rmdir(p[1]);
	rmdir(p[0]);
	rmdir(p[4]);
	rmdir(p[3]);
	rmdir(home);
}

static void test_identity(void **state)
{
	char first[37];

	load_ok(ENV("TOKEN=t"));
	check_uuid4(cfg.agent_id);
	memcpy(first, cfg.agent_id, sizeof(first));
	load_ok(ENV("TOKEN=t"));
	check_uuid4(cfg.agent_id);
	assert_string_not_equal(cfg.agent_id, first);
	load_ok(ENV("TOKEN=t", "AGENT_ID=agent-7", "AGENT_NAME=box 7"));
	assert_string_equal(cfg.agent_id, "agent-7");
	assert_string_equal(cfg.agent_name, "box 7");
}

/* --- lifecycle ------------------------------------------------------------- */

static void test_done_is_safe(void **state)
{
	struct lk_config c = { 0 };

	lk_config_done(&c);
	lk_config_done(&c);
	assert_int_equal(lk_config_load(&c, ENV("TOKEN=t", "TRUSTED_PROXIES=::1"), NULL, 0), 0);
	lk_config_done(&c);
	assert_null(c.token);
	lk_config_done(&c);
	/* Failures late in loading (after strings, proxies, files were
	 * allocated) leave nothing behind: ASan's leak check confirms. */
	assert_int_equal(lk_config_load(&c, ENV(kv("TOKEN_FILE", make_file_str("x")), "TOKEN_HASH=y",
						"TRUSTED_PROXIES=::1", "STACKS_DIR=/s"),
					NULL, 0),
			 -EINVAL);
	assert_null(c.token);
	assert_null(c.trusted_proxies);
	lk_config_done(&c);
	/* Garbage in *cfg before the call is not read. */
	memset(&c, 0xa5, sizeof(c));
	assert_int_equal(lk_config_load(&c, ENV("TOKEN=t"), NULL, 0), 0);
	lk_config_done(&c);
}

static void test_err_buffer(void **state)
{
	char small[8];

	assert_int_equal(lk_config_load(&cfg, ENV("PORT=x"), small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "PORT: m");
	assert_int_equal(lk_config_load(&cfg, ENV("PORT=x"), small, 1), -EINVAL);
	assert_string_equal(small, "");
	memset(small, 'X', sizeof(small));
	assert_int_equal(lk_config_load(&cfg, ENV("TOKEN=t"), small, sizeof(small)), 0);
	assert_string_equal(small, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_defaults, teardown),
		cmocka_unit_test_teardown(test_empty_means_default, teardown),
		cmocka_unit_test_teardown(test_ignored_and_first_wins, teardown),
		cmocka_unit_test_teardown(test_ints, teardown),
		cmocka_unit_test_teardown(test_port_zero, teardown),
		cmocka_unit_test_teardown(test_bools, teardown),
		cmocka_unit_test_teardown(test_log_level, teardown),
		cmocka_unit_test_teardown(test_adapter, teardown),
		cmocka_unit_test_teardown(test_zero_copy, teardown),
		cmocka_unit_test_teardown(test_plain_strings, teardown),
		cmocka_unit_test_teardown(test_token_precedence, teardown),
		cmocka_unit_test_teardown(test_token_hash_precedence, teardown),
		cmocka_unit_test_teardown(test_authorized_keys_alias, teardown),
		cmocka_unit_test_teardown(test_enrollment_precedence, teardown),
		cmocka_unit_test_teardown(test_file_trimming, teardown),
		cmocka_unit_test_teardown(test_file_unreadable, teardown),
		cmocka_unit_test_teardown(test_file_empty, teardown),
		cmocka_unit_test_teardown(test_file_limits, teardown),
		cmocka_unit_test_teardown(test_secret_never_in_err, teardown),
		cmocka_unit_test_teardown(test_token_and_hash_exclusive, teardown),
		cmocka_unit_test_teardown(test_tls_pair, teardown),
		cmocka_unit_test_teardown(test_enrollment_needs_keys, teardown),
		cmocka_unit_test_teardown(test_reconnect_delays, teardown),
		cmocka_unit_test_teardown(test_edge_mode, teardown),
		cmocka_unit_test_teardown(test_drydock_url, teardown),
		cmocka_unit_test_teardown(test_fail_closed, teardown),
		cmocka_unit_test_teardown(test_unauthenticated_bind, teardown),
		cmocka_unit_test_teardown(test_errors_name_a_variable, teardown),
		cmocka_unit_test_teardown(test_is_loopback, teardown),
		cmocka_unit_test_teardown(test_bind_address, teardown),
		cmocka_unit_test_teardown(test_trusted_proxies, teardown),
		cmocka_unit_test_teardown(test_trusted_proxies_bad, teardown),
		cmocka_unit_test_teardown(test_trusted_proxies_bound, teardown),
		cmocka_unit_test_teardown(test_docker_socket_explicit, teardown),
		cmocka_unit_test_teardown(test_docker_socket_auto, teardown),
		cmocka_unit_test_teardown(test_identity, teardown),
		cmocka_unit_test_teardown(test_done_is_safe, teardown),
		cmocka_unit_test_teardown(test_err_buffer, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
