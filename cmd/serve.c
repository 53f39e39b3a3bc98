/* cmd/serve.c - `lookout serve`: start-up order, signals, shutdown.
 *
 * Order: configuration (every error names its variable and exits 1 before
 * anything listens), logger, io_uring probe, credential parsing, a first
 * Docker probe (logged; an unreachable Docker does not stop the agent, its
 * health endpoint says 503 until Docker is back), listeners, workers. Signals
 * are blocked before any thread exists and taken with sigwait here, so no
 * worker is ever interrupted by one. */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/argon2.h"
#include "auth/verifier.h"
#include "cmd/cmd.h"
#include "core/config.h"
#include "core/dbg.h"
#include "core/err.h"
#include "core/http.h"
#include "core/log.h"
#include "core/ring.h"
#include "proxy/server.h"

extern char **environ;

static const char serve_usage[] =
	"Usage: lookout serve\n"
	"\n"
	"Runs the agent. Configuration comes from environment variables; the main ones:\n"
	"  TOKEN / TOKEN_FILE / TOKEN_HASH / AUTHORIZED_KEYS   credentials (one is required)\n"
	"  ALLOW_UNAUTHENTICATED=true     local development only, loopback bind\n"
	"  BIND_ADDRESS (0.0.0.0), PORT (3000), TLS_CERT + TLS_KEY (PEM files)\n"
	"  DOCKER_SOCKET (auto-detected), WORKERS (online CPUs), LOG_LEVEL (info)\n"
	"  HEADER_TIMEOUT (10), IDLE_TIMEOUT (120), TLS_HANDSHAKE_TIMEOUT (10),\n"
	"  REQUEST_TIMEOUT (30), SHUTDOWN_TIMEOUT (10), MAX_CONNECTIONS (16384)\n"
	"Every *_FILE variant reads the value from a file. Invalid values stop the\n"
	"agent before it listens, with a message naming the variable.\n";

/* docker_probe asks Docker for /_ping with a blocking socket (start-up only,
 * before any ring exists) and reports the engine and API versions from the
 * response headers. Returns 0 or -errno. */
static int docker_probe(const char *path, int timeout_s, char *ver, size_t ver_len, char *api,
			size_t api_len)
{
	static const char req[] = "GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: lookout\r\n\r\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s > 0 ? timeout_s : 30 };
	static struct lk_http_resp resp;
	struct lk_http_parser p;
	char buf[2048];
	size_t len = 0;
	ssize_t rc = -EIO;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
		rc = -errno;
		goto out;
	}
	lk_http_parser_init(&p, 0);
	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
		if (n <= 0) {
			rc = n == 0 ? -ECONNRESET : -errno;
			goto out;
		}
		len += (size_t)n;
		rc = lk_http_parse_response(&p, buf, len, &resp);
		if (rc != LK_AGAIN || len == sizeof(buf))
			break;
	}
	if (rc < 0 || resp.status != 200) {
		rc = -EPROTO;
		goto out;
	}
	const struct lk_http_header *h = lk_http_find(resp.headers, resp.n_headers, "server");
	/* "Docker/20.10.24+dfsg1 (linux)" */
	if (h != NULL && h->value_len > 7 && memcmp(h->value, "Docker/", 7) == 0) {
		size_t n = 7;
		while (n < h->value_len && h->value[n] != ' ')
			n++;
		snprintf(ver, ver_len, "%.*s", (int)(n - 7), h->value + 7);
	}
	h = lk_http_find(resp.headers, resp.n_headers, "api-version");
	if (h != NULL)
		snprintf(api, api_len, "%.*s", (int)h->value_len, h->value);
	rc = 0;
out:
	close(fd);
	return (int)rc;
}

static int check_credentials(const struct lk_config *cfg)
{
	char err[256];
	struct lk_phc phc;

	if (cfg->token_hash != NULL && lk_phc_parse(cfg->token_hash, &phc, err, sizeof(err)) < 0) {
		LK_LOG(LK_LOG_ERROR, "failed to load config", LK_LOG_STR("variable", "TOKEN_HASH"),
		       LK_LOG_STR("error", err));
		return -EINVAL;
	}
	if (cfg->token == NULL && cfg->token_hash == NULL && cfg->authorized_keys == NULL)
		LK_LOG(LK_LOG_WARN, "authentication disabled: ALLOW_UNAUTHENTICATED is set",
		       LK_LOG_STR("address", cfg->bind_address));
	return 0;
}

static void log_docker(const struct lk_config *cfg)
{
	char ver[64] = "unknown", api[32] = "unknown";
	int rc = docker_probe(cfg->docker_socket, cfg->request_timeout_s, ver, sizeof(ver), api,
			      sizeof(api));

	if (rc == 0)
		LK_LOG(LK_LOG_INFO, "connected to docker", LK_LOG_STR("socket", cfg->docker_socket),
		       LK_LOG_STR("docker_version", ver), LK_LOG_STR("api_version", api));
	else
		LK_LOG(LK_LOG_WARN, "docker not reachable; health reports unhealthy until it is",
		       LK_LOG_STR("socket", cfg->docker_socket), LK_LOG_STR("error", strerror(-rc)));
}

/* wait_for_stop takes signals until SIGTERM or SIGINT. SIGHUP re-reads
 * AUTHORIZED_KEYS (a file that does not load keeps the old keys) and
 * reopens the audit file for log rotation; workers keep serving meanwhile. */
static int wait_for_stop(struct lk_server *srv, const sigset_t *set)
{
	for (;;) {
		int sig = 0;

		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			return sig;
		if (sig != SIGHUP)
			continue;
		if (srv->keys == NULL && srv->audit == NULL) {
			LK_LOG(LK_LOG_INFO, "SIGHUP: nothing to reload");
			continue;
		}
		if (srv->keys != NULL)
			(void)lk_server_reload_keys(srv, "SIGHUP");
		if (srv->audit != NULL) {
			lk_server_reopen_audit(srv);
			LK_LOG(LK_LOG_INFO, "SIGHUP: audit log reopen requested");
		}
	}
}

/* raise_nofile lifts the soft file-descriptor limit to the hard one (as Go
 * programs do at start-up): every connection is one fd, every proxied
 * stream two or three, and a soft limit of 1024 would refuse the 500th
 * follow stream with EMFILE. Logs the limit it runs with, and warns when
 * MAX_CONNECTIONS cannot all be served by it. */
static void raise_nofile(const struct lk_config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	uint64_t need = (uint64_t)cfg->max_connections + 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		LK_LOG(LK_LOG_WARN, "file descriptor limit below MAX_CONNECTIONS; connections beyond it are refused",
		       LK_LOG_UINT("nofile", (uint64_t)rl.rlim_cur),
		       LK_LOG_UINT("max_connections", cfg->max_connections));
}

static int run(const struct lk_config *cfg)
{
	struct lk_server srv;
	char err[512] = "";
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(cfg);

	int rc = lk_server_init(&srv, cfg, err, sizeof(err));
	if (rc == 0)
		rc = lk_server_start(&srv, err, sizeof(err));
	if (rc < 0) {
		LK_LOG(LK_LOG_ERROR, "failed to create server", LK_LOG_STR("error", err));
		lk_server_stop(&srv);
		lk_server_join(&srv);
		lk_server_done(&srv);
		return 1;
	}
	LK_LOG(LK_LOG_INFO, "listening", LK_LOG_STR("address", cfg->bind_address),
	       LK_LOG_UINT("port", srv.port), LK_LOG_BOOL("tls", cfg->tls_cert != NULL),
	       LK_LOG_UINT("workers", srv.n_workers),
	       LK_LOG_STR("io_uring", lk_server_ring_flags(&srv)));
	LK_LOG(LK_LOG_INFO, "starting in standard mode", LK_LOG_STR("address", cfg->bind_address),
	       LK_LOG_UINT("port", srv.port));
	int sig = wait_for_stop(&srv, &set);
	LK_LOG(LK_LOG_INFO, "shutting down...", LK_LOG_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
	lk_server_stop(&srv);
	lk_server_join(&srv);
	struct lk_server_stats st;
	lk_server_stats_sum(&srv, &st);
	if (srv.verifier != NULL) {
		struct lk_verifier_stats vs;

		lk_verifier_stats(srv.verifier, &vs);
		LK_LOG(LK_LOG_INFO, "argon2id verifier stopped", LK_LOG_UINT("derivations", vs.derivations),
		       LK_LOG_UINT("cache_hits", vs.cache_hits), LK_LOG_UINT("busy", vs.busy));
	}
	for (unsigned i = 0; i < srv.n_workers; i++)
		LK_LOG(LK_LOG_INFO, "worker stopped", LK_LOG_UINT("worker", i),
		       LK_LOG_UINT("accepted", lk_server_worker_accepted(&srv, i)),
		       LK_LOG_UINT("enobufs", lk_server_worker_enobufs(&srv, i)));
	LK_LOG(LK_LOG_INFO, "lookout stopped", LK_LOG_UINT("requests", st.requests),
	       LK_LOG_UINT("bad_requests", st.bad_requests),
	       LK_LOG_UINT("header_timeouts", st.header_timeouts),
	       LK_LOG_UINT("handshake_timeouts", st.handshake_timeouts),
	       LK_LOG_UINT("proxied", st.proxied), LK_LOG_UINT("upstream_errors", st.upstream_errors),
	       LK_LOG_UINT("limited", st.limited), LK_LOG_UINT("auth_failures", st.auth_failures),
	       LK_LOG_UINT("auth_limited", st.auth_limited), LK_LOG_UINT("pool_reused", st.pool_reused),
	       LK_LOG_UINT("bytes_to_client", st.bytes_u2c),
	       LK_LOG_UINT("bytes_to_docker", st.bytes_c2u), LK_LOG_UINT("zc_sends", st.zc_sends),
	       LK_LOG_UINT("cq_overflows", st.cq_overflows), LK_LOG_UINT("signed_ok", st.signed_ok),
	       LK_LOG_UINT("nonce_full", st.nonce_full), LK_LOG_UINT("verify_busy", st.verify_busy),
	       LK_LOG_UINT("body_refused", st.body_refused),
	       LK_LOG_UINT("audit_dropped", st.audit_dropped));
	lk_server_done(&srv);
	return 0;
}

int lk_cmd_serve(int argc, char **argv)
{
	struct lk_config cfg = { 0 };
	char err[512] = "";
	int status = 1;

	if (argc > 1) {
		bool help = strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
			    strcmp(argv[1], "-help") == 0;
		fputs(serve_usage, help ? stdout : stderr);
		return help ? 0 : 2;
	}
	/* Until the configuration says otherwise, log at info. */
	lk_log_init(LK_LOG_INFO, STDERR_FILENO);
	if (lk_config_load(&cfg, environ, err, sizeof(err)) < 0) {
		LK_LOG(LK_LOG_ERROR, "failed to load config", LK_LOG_STR("error", err));
		goto out;
	}
	lk_log_init(cfg.log_level, STDERR_FILENO);
	LK_LOG(LK_LOG_INFO, "starting lookout", LK_LOG_STR("version", LK_VERSION),
	       LK_LOG_STR("commit", LK_GIT_COMMIT),
	       LK_LOG_STR("mode", cfg.mode == LK_MODE_EDGE ? "edge" : "standard"));
	if (cfg.mode == LK_MODE_EDGE) {
		LK_LOG(LK_LOG_ERROR, "failed to load config", LK_LOG_STR("variable", "DRYDOCK_URL"),
		       LK_LOG_STR("error", "DRYDOCK_URL: edge mode is not available in this build"));
		goto out;
	}
	if (lk_ring_probe(err, sizeof(err)) < 0) {
		LK_LOG(LK_LOG_ERROR, "io_uring unavailable", LK_LOG_STR("error", err));
		goto out;
	}
	if (check_credentials(&cfg) < 0)
		goto out;
	log_docker(&cfg);
	status = run(&cfg);
out:
	lk_config_done(&cfg);
	return status;
}
