/* core/config.c - configuration from the environment (see config.h).
 *
 * Loading is a fixed list of steps over one struct; each step reads its
 * variables, validates them and stops at the first error with a message that
 * names the variable. Cross-variable rules run last, on the loaded values. */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/config.h"
#include "core/dbg.h"
#include "core/err.h"
#include "core/log.h"

/* struct ctx is what every loading step needs besides the config. */
struct ctx {
	char *const *envp;
	char *err;
	size_t err_len;
};

static int fail(const struct ctx *c, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* fail formats the error message into c->err and returns rc. */
static int fail(const struct ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (c->err != NULL && c->err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* errstr is strerror for error messages, without strerror's static buffer. */
static const char *errstr(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len);
}

/* printable copies at most 48 bytes of s into dst for quoting in an error
 * message, replacing control bytes and '"' with '?' and marking a cut with
 * "...". Only used for values that are never secret. */
static const char *printable(char *dst, size_t dst_len, const char *s, size_t n)
{
	size_t i, max = LK_MIN(n, (size_t)48);

	LK_ASSERT(dst_len >= 48 + 4);
	for (i = 0; i < max; i++) {
		unsigned char ch = (unsigned char)s[i];

		dst[i] = ch < 0x20 || ch == 0x7f || ch == '"' ? '?' : (char)ch;
	}
	if (max < n) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
	return dst;
}

/* env_get returns the value of the first "name=" entry of envp, or NULL when
 * there is none or it is empty (empty means unset for every variable). */
static const char *env_get(const struct ctx *c, const char *name)
{
	size_t n = strlen(name);

	if (c->envp == NULL)
		return NULL;
	for (char *const *e = c->envp; *e != NULL; e++) {
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return (*e)[n + 1] != '\0' ? *e + n + 1 : NULL;
	}
	return NULL;
}

/* dup_str stores a heap copy of v in *out. */
static int dup_str(const struct ctx *c, const char *var, const char *v, char **out)
{
	*out = strdup(v);
	if (*out == NULL)
		return fail(c, -ENOMEM, "%s: out of memory", var);
	return 0;
}

/* free_secret wipes and frees a secret string. */
static void free_secret(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void lk_config_done(struct lk_config *cfg)
{
	char **plain[] = {
		&cfg->authorized_keys, &cfg->private_key_file, &cfg->drydock_url,
		&cfg->ca_cert,         &cfg->bind_address,     &cfg->tls_cert,
		&cfg->tls_key,         &cfg->docker_socket,    &cfg->stacks_dir,
		&cfg->agent_id,        &cfg->agent_name,       &cfg->audit_log,
	};

	free_secret(&cfg->token);
	free_secret(&cfg->token_hash);
	free_secret(&cfg->enrollment_token);
	for (size_t i = 0; i < LK_ARRAY_SIZE(plain); i++) {
		free(*plain[i]);
		*plain[i] = NULL;
	}
	free(cfg->trusted_proxies);
	*cfg = (struct lk_config){ 0 };
}

/* --- integers and booleans --------------------------------------------- */

enum int_kind { K_INT, K_UNSIGNED, K_U16 };

#define DEF_WORKERS (-1) /* computed from the CPUs we may run on */
#define F(field) offsetof(struct lk_config, field) /* tables below; #undef after them */

static const struct int_var {
	const char *name;
	size_t off;
	enum int_kind kind;
	long long min, max, def;
} int_vars[] = {
	{ "PORT", F(port), K_U16, 0, 65535, 3000 },
	{ "MAX_CLOCK_SKEW_SECONDS", F(max_clock_skew_s), K_INT, 1, 86400, 60 },
	{ "NONCE_LRU_SIZE", F(nonce_lru_size), K_INT, 1, 1 << 24, 0 },
	{ "HEARTBEAT_INTERVAL", F(heartbeat_interval_s), K_INT, 1, 3600, 30 },
	{ "REQUEST_TIMEOUT", F(request_timeout_s), K_INT, 0, 86400, 30 },
	{ "RECONNECT_DELAY", F(reconnect_delay_s), K_INT, 1, 3600, 1 },
	{ "MAX_RECONNECT_DELAY", F(max_reconnect_delay_s), K_INT, 1, 86400, 60 },
	{ "WELCOME_TIMEOUT", F(welcome_timeout_s), K_INT, 1, 3600, 30 },
	{ "DD_POLL_INTERVAL", F(dd_poll_interval_s), K_INT, 1, 86400, 300 },
	{ "AUDIT_BUFFER_SIZE", F(audit_buffer_size), K_INT, 0, 1000000, 256 },
	{ "WORKERS", F(workers), K_UNSIGNED, 1, LK_CONFIG_WORKERS_MAX, DEF_WORKERS },
	{ "MAX_CONNECTIONS", F(max_connections), K_UNSIGNED, 1, 1 << 20, 16384 },
	{ "HEADER_TIMEOUT", F(header_timeout_s), K_UNSIGNED, 1, 3600, 10 },
	{ "IDLE_TIMEOUT", F(idle_timeout_s), K_UNSIGNED, 1, 86400, 120 },
	{ "TLS_HANDSHAKE_TIMEOUT", F(tls_handshake_timeout_s), K_UNSIGNED, 1, 600, 10 },
	{ "SHUTDOWN_TIMEOUT", F(shutdown_timeout_s), K_UNSIGNED, 1, 600, 10 },
	{ "MAX_STREAMS", F(max_streams), K_UNSIGNED, 1, 100000, 100 },
	{ "MAX_HIJACKS", F(max_hijacks), K_UNSIGNED, 1, 100000, 100 },
};

static const struct bool_var {
	const char *name;
	size_t off;
} bool_vars[] = {
	{ "ALLOW_UNAUTHENTICATED", F(allow_unauthenticated) },
	{ "ALLOW_UNAUTHENTICATED_REMOTE", F(allow_unauthenticated_remote) },
	{ "TLS_SKIP_VERIFY", F(tls_skip_verify) },
	{ "SKIP_DF_COLLECTION", F(skip_df_collection) },
};

/* parse_dec parses plain base-10 digits (no sign, no spaces) no larger than
 * max; the bound is checked before each step, so it cannot overflow. */
static bool parse_dec(const char *s, long long max, long long *out)
{
	long long v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		int d = *s - '0';

		if (d < 0 || d > 9 || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* default_workers is the number of CPUs this process may run on (its
 * affinity mask, which a container's cpuset narrows), else the online CPUs. */
static long long default_workers(void)
{
	cpu_set_t set;
	long n = -1;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return LK_MAX(1, LK_MIN(n, (long)LK_CONFIG_WORKERS_MAX));
}

static int load_ints(struct lk_config *cfg, const struct ctx *c)
{
	for (size_t i = 0; i < LK_ARRAY_SIZE(int_vars); i++) {
		const struct int_var *iv = &int_vars[i];
		const char *v = env_get(c, iv->name);
		long long n = iv->def == DEF_WORKERS ? default_workers() : iv->def;
		char *field = (char *)cfg + iv->off;

		if (v != NULL && (!parse_dec(v, iv->max, &n) || n < iv->min))
			return fail(c, -EINVAL, "%s: must be an integer between %lld and %lld",
				    iv->name, iv->min, iv->max);
		switch (iv->kind) {
		case K_INT:
			*(int *)(void *)field = (int)n;
			break;
		case K_UNSIGNED:
			*(unsigned *)(void *)field = (unsigned)n;
			break;
		case K_U16:
			*(uint16_t *)(void *)field = (uint16_t)n;
			break;
		}
	}
	return 0;
}

/* parse_bool parses 1/true/yes or 0/false/no, case-insensitively. */
static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes" }, *const no[] = { "0", "false", "no" };

	for (size_t i = 0; i < LK_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static int load_bools(struct lk_config *cfg, const struct ctx *c)
{
	for (size_t i = 0; i < LK_ARRAY_SIZE(bool_vars); i++) {
		const char *v = env_get(c, bool_vars[i].name);
		bool *field = (bool *)(void *)((char *)cfg + bool_vars[i].off);

		*field = false; /* every boolean defaults to false */
		if (v != NULL && !parse_bool(v, field))
			return fail(c, -EINVAL, "%s: must be a boolean (1, true, yes, 0, false, no)",
				    bool_vars[i].name);
	}
	return 0;
}

static int load_enums(struct lk_config *cfg, const struct ctx *c)
{
	const char *v = env_get(c, "LOG_LEVEL");

	cfg->log_level = LK_LOG_INFO;
	if (v != NULL && lk_log_level_parse(v, &cfg->log_level) != 0)
		return fail(c, -EINVAL, "LOG_LEVEL: must be one of debug, info, warn, error");
	v = env_get(c, "ADAPTER");
	if (v == NULL || strcasecmp(v, "drydock") == 0)
		cfg->adapter = LK_ADAPTER_DRYDOCK;
	else if (strcasecmp(v, "generic") == 0)
		cfg->adapter = LK_ADAPTER_GENERIC;
	else
		return fail(c, -EINVAL, "ADAPTER: must be drydock or generic");
	v = env_get(c, "RELAY_MODE");
	if (v == NULL || strcasecmp(v, "auto") == 0)
		cfg->relay_copy = false;
	else if (strcasecmp(v, "copy") == 0)
		cfg->relay_copy = true;
	else
		return fail(c, -EINVAL, "RELAY_MODE: must be auto or copy");
	v = env_get(c, "ZERO_COPY");
	if (v == NULL || strcasecmp(v, "auto") == 0)
		cfg->zero_copy = LK_ZC_AUTO;
	else if (strcasecmp(v, "on") == 0)
		cfg->zero_copy = LK_ZC_ON;
	else if (strcasecmp(v, "off") == 0)
		cfg->zero_copy = LK_ZC_OFF;
	else
		return fail(c, -EINVAL, "ZERO_COPY: must be auto, on or off");
	return 0;
}

/* --- strings and files ----------------------------------------------------- */

static const struct str_var {
	const char *name;
	size_t off;
} str_vars[] = {
	{ "PRIVATE_KEY_FILE", F(private_key_file) },
	{ "DRYDOCK_URL", F(drydock_url) },
	{ "CA_CERT", F(ca_cert) },
	{ "TLS_CERT", F(tls_cert) },
	{ "TLS_KEY", F(tls_key) },
	{ "STACKS_DIR", F(stacks_dir) },
	{ "AGENT_ID", F(agent_id) },
	{ "AGENT_NAME", F(agent_name) },
	{ "AUDIT_LOG", F(audit_log) },
};

/* has_url_scheme accepts what the edge dialer can turn into a WebSocket URL:
 * http:// and https:// (rewritten to ws:// and wss://) or ws:// and wss://
 * themselves, case-insensitively, followed by something. DRYDOCK_URL may hold
 * credentials, so its value is never echoed. */
static bool has_url_scheme(const char *url)
{
	static const char *const schemes[] = { "http://", "https://", "ws://", "wss://" };

	for (size_t i = 0; i < LK_ARRAY_SIZE(schemes); i++) {
		size_t n = strlen(schemes[i]);

		if (strncasecmp(url, schemes[i], n) == 0 && url[n] != '\0')
			return true;
	}
	return false;
}

static int load_strings(struct lk_config *cfg, const struct ctx *c)
{
	for (size_t i = 0; i < LK_ARRAY_SIZE(str_vars); i++) {
		const char *v = env_get(c, str_vars[i].name);
		int rc;

		if (v == NULL)
			continue;
		rc = dup_str(c, str_vars[i].name, v, (char **)(void *)((char *)cfg + str_vars[i].off));
		if (rc != 0)
			return rc;
	}
	if (cfg->drydock_url != NULL && !has_url_scheme(cfg->drydock_url))
		return fail(c, -EINVAL, "DRYDOCK_URL: must be an http://, https://, ws:// or wss:// URL");
	cfg->mode = cfg->drydock_url != NULL ? LK_MODE_EDGE : LK_MODE_STANDARD;
	if (cfg->stacks_dir == NULL)
		return dup_str(c, "STACKS_DIR", "/data/stacks", &cfg->stacks_dir);
	return 0;
}

/* read_fd reads at most max + 1 bytes of fd into buf (so a larger file is
 * detected) and returns the length, or -errno. */
static ssize_t read_fd(int fd, char *buf, size_t max)
{
	size_t len = 0;

	while (len <= max) {
		ssize_t r = read(fd, buf + len, max + 1 - len);

		if (r == 0)
			break;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -errno;
		len += (size_t)r;
	}
	return (ssize_t)len;
}

/* is_space is isspace(3) in the C locale, without the locale lookup. */
static bool is_space(char ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* trim returns s[0..*n) without surrounding ASCII whitespace. */
static const char *trim(const char *s, size_t *n)
{
	while (*n > 0 && is_space(s[*n - 1]))
		(*n)--;
	while (*n > 0 && is_space(*s)) {
		s++;
		(*n)--;
	}
	return s;
}

/* store_trimmed copies the trimmed buf[0..len) into *out, or fails when it
 * is unusable. The contents are secret: never part of a message. */
static int store_trimmed(const struct ctx *c, const char *var, const char *path,
			 const char *buf, size_t len, char **out)
{
	const char *s;

	if (len > LK_CONFIG_FILE_MAX)
		return fail(c, -EINVAL, "%s: %s is larger than %d bytes", var, path,
			    LK_CONFIG_FILE_MAX);
	if (memchr(buf, '\0', len) != NULL)
		return fail(c, -EINVAL, "%s: %s contains a NUL byte", var, path);
	s = trim(buf, &len);
	if (len == 0)
		return fail(c, -EINVAL, "%s: %s is empty", var, path);
	*out = strndup(s, len);
	if (*out == NULL)
		return fail(c, -ENOMEM, "%s: out of memory", var);
	return 0;
}

/* read_secret_file stores the trimmed contents of the file named by var. The
 * read buffer is wiped before it is freed. */
static int read_secret_file(const struct ctx *c, const char *var, const char *path, char **out)
{
	char ebuf[128];
	char *buf;
	ssize_t len;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return fail(c, -EINVAL, "%s: cannot read %s: %s", var, path,
			    errstr(errno, ebuf, sizeof(ebuf)));
	buf = malloc(LK_CONFIG_FILE_MAX + 1);
	if (buf == NULL) {
		close(fd);
		return fail(c, -ENOMEM, "%s: out of memory", var);
	}
	len = read_fd(fd, buf, LK_CONFIG_FILE_MAX);
	close(fd);
	if (len < 0)
		rc = fail(c, -EINVAL, "%s: cannot read %s: %s", var, path,
			  errstr((int)-len, ebuf, sizeof(ebuf)));
	else
		rc = store_trimmed(c, var, path, buf, (size_t)len, out);
	explicit_bzero(buf, LK_CONFIG_FILE_MAX + 1);
	free(buf);
	return rc;
}

/* Credential fields and their sources, highest precedence first; a *_FILE
 * source names a file to read. ENROLLMENT_TOKEN's environment value wins over
 * its file (spec §3), the opposite of TOKEN. AUTHORIZED_KEYS is a path either
 * way. */
static const struct cred_var {
	size_t off;
	struct {
		const char *name;
		bool file;
	} src[4];
} cred_vars[] = {
	{ F(token),
	  { { "TOKEN_FILE", true }, { "DD_AGENT_SECRET_FILE", true }, { "TOKEN", false },
	    { "DD_AGENT_SECRET", false } } },
	{ F(token_hash), { { "TOKEN_HASH_FILE", true }, { "TOKEN_HASH", false } } },
	{ F(enrollment_token), { { "ENROLLMENT_TOKEN", false }, { "ENROLLMENT_TOKEN_FILE", true } } },
	{ F(authorized_keys), { { "AUTHORIZED_KEYS", false }, { "AUTHORIZED_KEYS_FILE", false } } },
};
#undef F

static int load_credentials(struct lk_config *cfg, const struct ctx *c)
{
	for (size_t i = 0; i < LK_ARRAY_SIZE(cred_vars); i++) {
		const struct cred_var *cv = &cred_vars[i];
		char **out = (char **)(void *)((char *)cfg + cv->off);

		for (size_t j = 0; j < LK_ARRAY_SIZE(cv->src) && cv->src[j].name != NULL; j++) {
			const char *v = env_get(c, cv->src[j].name);
			int rc;

			if (v == NULL)
				continue;
			if (cv->src[j].file)
				rc = read_secret_file(c, cv->src[j].name, v, out);
			else
				rc = dup_str(c, cv->src[j].name, v, out);
			if (rc != 0)
				return rc;
			break;
		}
	}
	return 0;
}

/* --- addresses ------------------------------------------------------------- */

/* strip_brackets copies addr into buf without one pair of surrounding
 * brackets and returns whether it had them; false with buf empty when addr
 * does not fit. */
static bool strip_brackets(const char *addr, char *buf, size_t buf_len, bool *bracketed)
{
	size_t n = strlen(addr);

	*bracketed = n >= 2 && addr[0] == '[' && addr[n - 1] == ']';
	if (*bracketed) {
		addr++;
		n -= 2;
	}
	if (n >= buf_len)
		return false;
	memcpy(buf, addr, n);
	buf[n] = '\0';
	return true;
}

bool lk_config_is_loopback(const char *bind_address)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	struct in_addr a4;
	bool bracketed;

	if (bind_address == NULL || !strip_brackets(bind_address, buf, sizeof(buf), &bracketed))
		return false;
	if (strcasecmp(buf, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return lk_addr_is_loopback(AF_INET, (const uint8_t *)&a4.s_addr);
	if (inet_pton(AF_INET6, buf, &a6) == 1)
		return lk_addr_is_loopback(AF_INET6, a6.s6_addr);
	return false;
}

bool lk_addr_is_loopback(int family, const uint8_t *addr)
{
	static const uint8_t v6_lo[16] = { [15] = 1 };
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (family == AF_INET)
		return addr[0] == 127;
	if (family == AF_INET6)
		return memcmp(addr, v6_lo, 16) == 0 ||
		       (memcmp(addr, v4_mapped, 12) == 0 && addr[12] == 127);
	return false;
}

/* load_bind validates BIND_ADDRESS (after DRYDOCK_URL: the default depends
 * on the mode, because the edge operations listener has no authentication). */
static int load_bind(struct lk_config *cfg, const struct ctx *c)
{
	const char *v = env_get(c, "BIND_ADDRESS");
	char buf[INET6_ADDRSTRLEN], shown[64];
	unsigned char a[sizeof(struct in6_addr)];
	bool bracketed, ok;

	if (v == NULL)
		return dup_str(c, "BIND_ADDRESS", cfg->mode == LK_MODE_EDGE ? "127.0.0.1" : "0.0.0.0",
			       &cfg->bind_address);
	ok = strip_brackets(v, buf, sizeof(buf), &bracketed);
	if (ok && bracketed)
		ok = inet_pton(AF_INET6, buf, a) == 1;
	else if (ok)
		ok = strcasecmp(buf, "localhost") == 0 || inet_pton(AF_INET, buf, a) == 1 ||
		     inet_pton(AF_INET6, buf, a) == 1;
	if (!ok)
		return fail(c, -EINVAL,
			    "BIND_ADDRESS: must be an IPv4 or IPv6 address literal or localhost, not \"%s\"",
			    printable(shown, sizeof(shown), v, strlen(v)));
	return dup_str(c, "BIND_ADDRESS", buf, &cfg->bind_address);
}

/* parse_prefix parses a CIDR prefix length: digits without a leading zero
 * (except "0" itself), at most max. */
static bool parse_prefix(const char *s, unsigned max, uint8_t *out)
{
	long long v;

	if (s[0] == '0' && s[1] != '\0')
		return false;
	if (!parse_dec(s, max, &v))
		return false;
	*out = (uint8_t)v;
	return true;
}

/* parse_cidr parses "ip" or "ip/prefix" (s[0..n), already trimmed) into *out
 * with the host bits cleared, like Go's net.ParseCIDR. */
static bool parse_cidr(const char *s, size_t n, struct lk_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 4];
	char *slash;
	unsigned bits;

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	*out = (struct lk_cidr){ 0 };
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		bits = 128;
	} else {
		return false;
	}
	out->prefix = (uint8_t)bits;
	if (slash != NULL && !parse_prefix(slash + 1, bits, &out->prefix))
		return false;
	for (unsigned i = 0; i < bits / 8; i++) {
		int keep = (int)out->prefix - 8 * (int)i;

		if (keep <= 0)
			out->addr[i] = 0;
		else if (keep < 8)
			out->addr[i] &= (uint8_t)(0xff << (8 - keep));
	}
	return true;
}

static int load_proxies(struct lk_config *cfg, const struct ctx *c)
{
	const char *v = env_get(c, "TRUSTED_PROXIES"), *p;
	size_t items = 1;
	char shown[64];

	if (v == NULL)
		return 0;
	for (p = v; *p != '\0'; p++)
		items += *p == ',';
	cfg->trusted_proxies = calloc(LK_MIN(items, (size_t)LK_CONFIG_PROXIES_MAX),
				      sizeof(*cfg->trusted_proxies));
	if (cfg->trusted_proxies == NULL)
		return fail(c, -ENOMEM, "TRUSTED_PROXIES: out of memory");
	for (p = v;; p++) {
		size_t n = strcspn(p, ",");
		const char *item = trim(p, &n);

		if (n > 0 && cfg->n_trusted_proxies == LK_CONFIG_PROXIES_MAX)
			return fail(c, -EINVAL, "TRUSTED_PROXIES: more than %d entries",
				    LK_CONFIG_PROXIES_MAX);
		if (n > 0 && !parse_cidr(item, n, &cfg->trusted_proxies[cfg->n_trusted_proxies]))
			return fail(c, -EINVAL, "TRUSTED_PROXIES: invalid trusted proxy \"%s\"",
				    printable(shown, sizeof(shown), item, n));
		cfg->n_trusted_proxies += n > 0;
		p += strcspn(p, ",");
		if (*p == '\0')
			break;
	}
	return 0;
}

/* --- Docker socket and identity -------------------------------------------- */

/* load_docker_socket takes DOCKER_SOCKET, else the first candidate that
 * exists (spec §3 order; the $HOME ones only when HOME is set), else the
 * standard path. Paths that cannot fit a sockaddr_un are refused or skipped. */
static int load_docker_socket(struct lk_config *cfg, const struct ctx *c)
{
	static const char *const cand[] = { "/var/run/docker.sock", "~/.docker/run/docker.sock",
					    "~/.orbstack/run/docker.sock", "/run/docker.sock" };
	const size_t max = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;
	const char *v = env_get(c, "DOCKER_SOCKET"), *home = env_get(c, "HOME");
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	struct stat st;

	if (v != NULL && strlen(v) > max)
		return fail(c, -EINVAL, "DOCKER_SOCKET: must be at most %zu bytes long", max);
	if (v != NULL)
		return dup_str(c, "DOCKER_SOCKET", v, &cfg->docker_socket);
	for (size_t i = 0; i < LK_ARRAY_SIZE(cand); i++) {
		int n;

		if (cand[i][0] == '~' && home == NULL)
			continue;
		if (cand[i][0] == '~')
			n = snprintf(path, sizeof(path), "%s%s", home, cand[i] + 1);
		else
			n = snprintf(path, sizeof(path), "%s", cand[i]);
		if (n < 0 || (size_t)n > max)
			continue;
		if (stat(path, &st) == 0)
			return dup_str(c, "DOCKER_SOCKET", path, &cfg->docker_socket);
	}
	return dup_str(c, "DOCKER_SOCKET", cand[0], &cfg->docker_socket);
}

/* make_uuid4 writes a random RFC 9562 version 4 UUID (36 chars + NUL). */
static int make_uuid4(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[16];
	size_t got = 0, o = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		got += (size_t)n;
	}
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* variant 10 */
	for (size_t i = 0; i < sizeof(r); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[r[i] >> 4];
		out[o++] = hex[r[i] & 0xf];
	}
	out[o] = '\0';
	return 0;
}

static int load_identity(struct lk_config *cfg, const struct ctx *c)
{
	char buf[HOST_NAME_MAX + 1], ebuf[128];
	int rc;

	if (cfg->agent_id == NULL) {
		char uuid[37];

		rc = make_uuid4(uuid);
		if (rc != 0)
			return fail(c, rc, "AGENT_ID: cannot generate a random id: %s",
				    errstr(-rc, ebuf, sizeof(ebuf)));
		rc = dup_str(c, "AGENT_ID", uuid, &cfg->agent_id);
		if (rc != 0)
			return rc;
	}
	if (cfg->agent_name != NULL)
		return 0;
	/* gethostname may leave a maximal name unterminated. */
	if (gethostname(buf, sizeof(buf)) != 0 || buf[0] == '\0')
		return dup_str(c, "AGENT_NAME", "lookout", &cfg->agent_name);
	buf[sizeof(buf) - 1] = '\0';
	return dup_str(c, "AGENT_NAME", buf, &cfg->agent_name);
}

/* --- cross-variable rules -------------------------------------------------- */

/* check_rules applies the rules that span variables (spec §3, §16, DESIGN
 * decision 3). Messages are the reference's, led by the variable at fault
 * when the reference's text does not start with one. */
static int check_rules(struct lk_config *cfg, const struct ctx *c)
{
	if (cfg->token != NULL && cfg->token_hash != NULL)
		return fail(c, -EINVAL, "TOKEN and TOKEN_HASH are mutually exclusive: choose one");
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
		return fail(c, -EINVAL,
			    "TLS_CERT and TLS_KEY must either both be set or both be empty");
	if (cfg->enrollment_token != NULL && cfg->authorized_keys == NULL)
		return fail(c, -EINVAL, "ENROLLMENT_TOKEN requires AUTHORIZED_KEYS to be set");
	if (cfg->max_reconnect_delay_s < cfg->reconnect_delay_s)
		return fail(c, -EINVAL, "MAX_RECONNECT_DELAY: must not be less than RECONNECT_DELAY");
	if (cfg->mode == LK_MODE_EDGE) {
		if (cfg->private_key_file == NULL)
			return fail(c, -EINVAL,
				    "PRIVATE_KEY_FILE: edge mode (DRYDOCK_URL) requires PRIVATE_KEY_FILE "
				    "for Ed25519 authentication; drydock rejects token-only agents");
		return 0;
	}
	if (cfg->token != NULL || cfg->token_hash != NULL || cfg->authorized_keys != NULL)
		return 0;
	if (!cfg->allow_unauthenticated)
		return fail(c, -EINVAL,
			    "ALLOW_UNAUTHENTICATED: no authentication configured: set TOKEN, TOKEN_HASH, "
			    "or AUTHORIZED_KEYS; for local development only, set "
			    "ALLOW_UNAUTHENTICATED=true");
	if (!lk_config_is_loopback(cfg->bind_address) && !cfg->allow_unauthenticated_remote)
		return fail(c, -EINVAL,
			    "BIND_ADDRESS: refusing unauthenticated non-loopback bind \"%s\": set "
			    "authentication, bind to loopback, or additionally set "
			    "ALLOW_UNAUTHENTICATED_REMOTE=true",
			    cfg->bind_address);
	return 0;
}

int lk_config_load(struct lk_config *cfg, char *const *envp, char *err, size_t err_len)
{
	/* Order matters: the mode (load_strings) picks BIND_ADDRESS's default,
	 * and the rules run on everything loaded. */
	static int (*const steps[])(struct lk_config *, const struct ctx *) = {
		load_ints,     load_bools,   load_enums,         load_strings,  load_credentials,
		load_bind,     load_proxies, load_docker_socket, load_identity, check_rules,
	};
	const struct ctx c = { .envp = envp, .err = err, .err_len = err_len };

	*cfg = (struct lk_config){ 0 };
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	for (size_t i = 0; i < LK_ARRAY_SIZE(steps); i++) {
		int rc = steps[i](cfg, &c);

		if (rc != 0) {
			LK_ASSERT(rc < 0);
			lk_config_done(cfg);
			return rc;
		}
	}
	return 0;
}
