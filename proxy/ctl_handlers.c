/* proxy/ctl_handlers.c - what the control thread answers: agent info,
 * Prometheus metrics, MCP. Runs on the control thread only; blocking Docker
 * calls are fine here. */
#include <sys/utsname.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/docker.h"
#include "adapters/host.h"
#include "adapters/inventory.h"
#include "adapters/mcp.h"
#include "adapters/shape.h"
#include "adapters/metrics.h"
#include "auth/audit.h"
#include "auth/shtab.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/dbg.h"
#include "core/json.h"
#include "core/timer.h"
#include "core/version.h"
#include "proxy/control_int.h"
#include "proxy/logs.h"
#include "proxy/relay.h"
#include "proxy/server.h"
#include "proxy/sse.h"

#define LK_CTL_OUT_MAX (8u << 20) /* largest response body the control thread builds */

int lk__ctl_env_init(struct lk_ctl_env *env, struct lk_server *srv, char *err, size_t err_len)
{
	const struct lk_config *cfg = srv->cfg;

	*env = (struct lk_ctl_env){ .srv = srv };
	int timeout_ms = cfg->request_timeout_s > 0 ? cfg->request_timeout_s * 1000 : 30000;
	if (lk_docker_init(&env->docker, cfg->docker_socket, timeout_ms) < 0) {
		snprintf(err, err_len, "DOCKER_SOCKET: path too long");
		return -ENAMETOOLONG;
	}
	if (gethostname(env->hostname, sizeof(env->hostname) - 1) != 0)
		snprintf(env->hostname, sizeof(env->hostname), "unknown");
	env->host = lk_host_new(NULL, cfg->skip_df_collection ? NULL : "/var/lib/docker");
	if (env->host == NULL) {
		snprintf(err, err_len, "control thread: out of memory");
		return -ENOMEM;
	}
	return 0;
}

void lk__ctl_env_done(struct lk_ctl_env *env)
{
	lk_host_free(env->host);
	env->host = NULL;
}

/* finish hands the built body to the result, or answers 500 when it did not
 * fit. */
static void finish(struct lk_ctl_result *res, int status, const char *ctype, struct lk_obuf *b)
{
	if (b->overflow) {
		free(b->data);
		static const char msg[] = "{\"message\":\"response too large\"}\n";
		res->status = 500;
		res->ctype = "application/json";
		res->body = strdup(msg);
		res->len = res->body != NULL ? sizeof(msg) - 1 : 0;
		return;
	}
	res->status = status;
	res->ctype = ctype;
	res->body = b->data;
	res->len = b->len;
}

static bool out_new(struct lk_obuf *b, uint32_t cap, struct lk_ctl_result *res)
{
	char *mem = malloc(cap);

	if (mem == NULL) {
		res->status = 503;
		return false;
	}
	lk_obuf_init(b, mem, cap);
	return true;
}

/* go_duration writes ns the way Go's time.Duration.String does
 * ("2h34m56.789012345s", "1.5ms"). */
static void go_duration(struct lk_obuf *b, uint64_t ns)
{
	char tmp[64];
	int n;

	if (ns < 1000) {
		n = snprintf(tmp, sizeof(tmp), "%" PRIu64 "ns", ns);
	} else if (ns < 1000000000ull) {
		uint64_t unit = ns < 1000000 ? 1000 : 1000000;
		n = snprintf(tmp, sizeof(tmp), "%" PRIu64 ".%0*" PRIu64, ns / unit,
			     unit == 1000 ? 3 : 6, ns % unit);
		while (n > 0 && tmp[n - 1] == '0')
			n--;
		if (n > 0 && tmp[n - 1] == '.')
			n--;
		n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%s", unit == 1000 ? "\xc2\xb5s" : "ms");
	} else {
		uint64_t s = ns / 1000000000ull, frac = ns % 1000000000ull;
		uint64_t h = s / 3600, m = (s / 60) % 60;

		n = 0;
		if (h > 0)
			n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%" PRIu64 "h", h);
		if (h > 0 || m > 0)
			n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%" PRIu64 "m", m);
		n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%" PRIu64, s % 60);
		if (frac != 0) {
			n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, ".%09" PRIu64, frac);
			while (tmp[n - 1] == '0')
				n--;
		}
		tmp[n++] = 's';
	}
	lk_json_put_str(b, tmp, (size_t)n);
}

/* docker_version asks Docker for its engine version, or "unknown". */
static void docker_version(struct lk_ctl_env *env, char *out, size_t cap)
{
	char *body = NULL;
	size_t len = 0;

	snprintf(out, cap, "unknown");
	int st = lk_docker_get(&env->docker, "/version", &body, &len);
	if (st == 200) {
		struct lk_jval *v = lk_json_parse(body, len, NULL, 0);
		const char *s = lk_json_str(lk_json_get(v, "Version"));

		if (s != NULL)
			snprintf(out, cap, "%s", s);
		lk_json_free(v);
	}
	free(body);
}

static void put_str(struct lk_obuf *b, const char *s)
{
	lk_json_put_str(b, s, strlen(s));
}

/* info answers /_lookout/info (spec lookout-core 4.3; keys sorted). */
static void info(struct lk_ctl_env *env, struct lk_ctl_result *res)
{
	const struct lk_config *cfg = env->srv->cfg;
	static const char *const core_caps[] = { "compose", "exec", "metrics", "events" };
	static const char *const dd_caps[] = { "dd:container-sync", "dd:logs" };
	static const char *const gen_caps[] = { "containers", "logs", "events", "version" };
	bool generic = cfg->adapter == LK_ADAPTER_GENERIC;
	char ver[128];
	struct lk_obuf b;

	docker_version(env, ver, sizeof(ver));
	if (!out_new(&b, 4096, res))
		return;
	lk_obuf_puts(&b, "{\"adapter\":");
	put_str(&b, generic ? "generic" : "drydock");
	lk_obuf_puts(&b, ",\"agentId\":");
	put_str(&b, cfg->agent_id != NULL ? cfg->agent_id : "");
	lk_obuf_puts(&b, ",\"agentName\":");
	put_str(&b, cfg->agent_name != NULL ? cfg->agent_name : "lookout");
	lk_obuf_puts(&b, ",\"capabilities\":[");
	for (size_t i = 0; i < 4; i++) {
		if (i != 0)
			lk_obuf_puts(&b, ",");
		put_str(&b, core_caps[i]);
	}
	const char *const *ac = generic ? gen_caps : dd_caps;
	size_t n_ac = generic ? 4 : 2;
	for (size_t i = 0; i < n_ac; i++) {
		lk_obuf_puts(&b, ",");
		put_str(&b, ac[i]);
	}
	lk_obuf_puts(&b, "],\"dockerVersion\":");
	put_str(&b, ver);
	lk_obuf_puts(&b, ",\"hostname\":");
	put_str(&b, env->hostname);
	lk_obuf_puts(&b, ",\"mode\":\"standard\",\"uptime\":");
	go_duration(&b, (lk_time_ms() - env->srv->started_ms) * 1000000ull);
	lk_obuf_puts(&b, ",\"version\":");
	put_str(&b, lk_version());
	lk_obuf_puts(&b, "}\n");
	finish(res, 200, "application/json", &b);
}

/* ---- metrics ---------------------------------------------------------------- */

#define LK_CTL_CONTAINERS_MAX 1000 /* containers sampled per scrape */

static const char *const class_names[LK_RC__COUNT] = {
	[LK_RC_HEALTH] = "health", [LK_RC_AGENT] = "agent",
	[LK_RC_PROXY] = "proxy",   [LK_RC_STREAM] = "stream",
};

static void counter(struct lk_obuf *b, const char *name, const char *help, uint64_t v)
{
	lk_prom_family(b, name, help, LK_PROM_TYPE_COUNTER);
	lk_prom_sample_u64(b, name, NULL, 0, v);
}

static void gauge(struct lk_obuf *b, const char *name, const char *help, uint64_t v)
{
	lk_prom_family(b, name, help, LK_PROM_TYPE_GAUGE);
	lk_prom_sample_u64(b, name, NULL, 0, v);
}

/* agent_families writes the agent's own counters, summed over the workers
 * (racy reads of counters each worker writes alone: a scrape may be a few
 * requests behind, never torn on x86-64's aligned 64-bit words). */
static void agent_families(struct lk_ctl_env *env, struct lk_obuf *b, bool docker_up)
{
	struct lk_server *srv = env->srv;
	struct lk_server_stats st;
	struct lk_proc_snap ps;
	char code[4] = "0xx";

	lk_server_stats_sum(srv, &st);
	lk_prom_family(b, "lookout_requests_total",
		       "Requests answered, by class and status class.", LK_PROM_TYPE_COUNTER);
	for (unsigned k = 0; k < LK_RC__COUNT; k++) {
		for (unsigned j = 1; j < 6; j++) {
			code[0] = (char)('0' + j);
			struct lk_prom_label l[2] = { { "class", class_names[k] }, { "code", code } };
			lk_prom_sample_u64(b, "lookout_requests_total", l, 2, st.by_status[k][j]);
		}
	}
	double bounds[LK_LAT_BUCKETS];
	for (unsigned j = 0; j < LK_LAT_BUCKETS; j++)
		bounds[j] = lk_lat_bounds_us[j] / 1e6;
	lk_prom_family(b, "lookout_request_duration_seconds",
		       "Time from a request's head to its response head.", LK_PROM_TYPE_HISTOGRAM);
	for (unsigned k = 0; k < LK_RC__COUNT; k++) {
		struct lk_prom_label l[1] = { { "class", class_names[k] } };
		lk_prom_histogram(b, "lookout_request_duration_seconds", l, 1, bounds, st.lat[k],
				  LK_LAT_BUCKETS, st.lat_sum_us[k] / 1e6);
	}
	static const char *const reasons[5] = { "token", "invalid-signature", "unknown-key",
						"timestamp-skew", "replay" };
	lk_prom_family(b, "lookout_auth_failures_total", "Refused credentials, by reason.",
		       LK_PROM_TYPE_COUNTER);
	for (unsigned k = 0; k < 5; k++) {
		struct lk_prom_label l[1] = { { "reason", reasons[k] } };
		lk_prom_sample_u64(b, "lookout_auth_failures_total", l, 1, st.auth_by_reason[k]);
	}
	counter(b, "lookout_auth_rate_limited_total",
		"Requests refused by the failed-authentication limiter.", st.auth_limited);
	uint64_t live = 0;
	for (unsigned i = 0; i < srv->n_workers; i++)
		live += lk_server_worker_live(srv, i);
	lk_prom_family(b, "lookout_active", "Open client connections, streams and hijacked sessions.",
		       LK_PROM_TYPE_GAUGE);
	struct lk_prom_label kc[1] = { { "kind", "connections" } };
	struct lk_prom_label ks[1] = { { "kind", "streams" } };
	struct lk_prom_label kh[1] = { { "kind", "hijacks" } };
	lk_prom_sample_u64(b, "lookout_active", kc, 1, live);
	lk_prom_sample_u64(b, "lookout_active", ks, 1,
			   atomic_load_explicit(&srv->n_streams, memory_order_relaxed));
	lk_prom_sample_u64(b, "lookout_active", kh, 1,
			   atomic_load_explicit(&srv->n_hijacks, memory_order_relaxed));
	lk_prom_family(b, "lookout_relayed_bytes_total", "Body and stream bytes relayed, by direction.",
		       LK_PROM_TYPE_COUNTER);
	struct lk_prom_label dc[1] = { { "direction", "to_client" } };
	struct lk_prom_label dd[1] = { { "direction", "to_docker" } };
	lk_prom_sample_u64(b, "lookout_relayed_bytes_total", dc, 1, st.bytes_u2c);
	lk_prom_sample_u64(b, "lookout_relayed_bytes_total", dd, 1, st.bytes_c2u);
	counter(b, "lookout_upstream_errors_total", "Requests Docker could not be reached for.",
		st.upstream_errors);
	counter(b, "lookout_limited_total", "Requests refused by MAX_STREAMS or MAX_HIJACKS.",
		st.limited);
	if (srv->limiter != NULL) {
		struct lk_shtab_stats ls;

		lk_limiter_stats(srv->limiter, lk_time_ms(), &ls);
		gauge(b, "lookout_limiter_entries", "Clients with recent failed authentications.", ls.live);
		counter(b, "lookout_limiter_full_total", "Limiter operations refused: table full.", ls.full);
	}
	if (srv->nonces != NULL) {
		struct lk_shtab_stats ns;

		lk_nonce_table_stats(srv->nonces, (uint64_t)time(NULL), &ns);
		gauge(b, "lookout_nonce_entries", "Nonces remembered for replay protection.", ns.live);
		gauge(b, "lookout_nonce_slots", "Size of the nonce table.", ns.slots);
		counter(b, "lookout_nonce_full_total", "Signed requests refused: nonce table full.",
			st.nonce_full);
	}
	if (srv->audit != NULL) {
		struct lk_audit_stats as;

		lk_audit_stats(srv->audit, &as);
		counter(b, "lookout_audit_write_errors_total", "Failed writes to the audit log.",
			as.write_errors);
		counter(b, "lookout_audit_dropped_total", "Audit records lost.",
			as.dropped + st.audit_dropped);
	}
	(void)lk_host_process(NULL, &ps);
	gauge(b, "lookout_process_resident_memory_bytes", "Resident memory of the agent.", ps.rss_bytes);
	gauge(b, "lookout_process_open_fds", "Open file descriptors of the agent.", ps.n_fds);
	gauge(b, "lookout_docker_up", "1 when Docker answered /_ping for this scrape.", docker_up);
	if (srv->inventory != NULL) {
		struct lk_inv_counts ic;

		lk_inventory_counts(srv->inventory, &ic);
		gauge(b, "lookout_inventory_containers", "Containers in the inventory.", ic.total);
		counter(b, "lookout_inventory_refreshes_total", "Inventory refreshes.", ic.refreshes);
		counter(b, "lookout_events_reconnects_total",
			"Reconnections of the Docker events subscription.", ic.event_reconnects);
	}
	struct lk_server_stats sst;
	lk_server_stats_sum(srv, &sst);
	counter(b, "lookout_sse_dropped_total", "Event-stream clients dropped for falling behind.",
		sst.sse_dropped);
}

/* container_stats samples the running containers for the container_*
 * families: one one-shot stats call each, in list order; a container whose
 * call fails is left out. Returns how many were filled. */
static size_t container_stats(struct lk_ctl_env *env, struct lk_ctr_stats **out,
			      struct lk_jval **list_out)
{
	char *body = NULL;
	size_t len = 0, n = 0;

	*out = NULL;
	*list_out = NULL;
	if (lk_docker_get(&env->docker, "/containers/json", &body, &len) != 200) {
		free(body);
		return 0;
	}
	struct lk_jval *list = lk_json_parse(body, len, NULL, 0);
	free(body);
	size_t total = LK_MIN(lk_json_len(list), (size_t)LK_CTL_CONTAINERS_MAX);
	struct lk_ctr_stats *arr = total != 0 ? calloc(total, sizeof(*arr)) : NULL;

	for (size_t i = 0; arr != NULL && i < total; i++) {
		const struct lk_jval *ctr = lk_json_at(list, i);
		const char *id = lk_json_str(lk_json_get(ctr, "Id"));
		const char *name = lk_json_str(lk_json_at(lk_json_get(ctr, "Names"), 0));
		char target[160];

		if (id == NULL || strlen(id) > 64)
			continue;
		snprintf(target, sizeof(target), "/containers/%s/stats?stream=false&one-shot=true", id);
		if (lk_docker_get(&env->docker, target, &body, &len) != 200) {
			free(body);
			body = NULL;
			continue;
		}
		struct lk_jval *s = lk_json_parse(body, len, NULL, 0);
		free(body);
		body = NULL;
		struct lk_ctr_stats *cs = &arr[n];
		const struct lk_jval *nets = lk_json_get(s, "networks");

		*cs = (struct lk_ctr_stats){
			.id = id,
			.name = name != NULL ? (name[0] == '/' ? name + 1 : name) : id,
			.image = lk_json_str(lk_json_get(ctr, "Image")),
		};
		if (cs->image == NULL)
			cs->image = "";
		(void)lk_json_u64(lk_json_path(s, "cpu_stats", "cpu_usage", "total_usage", NULL),
				  &cs->cpu_ns);
		(void)lk_json_u64(lk_json_path(s, "memory_stats", "usage", NULL), &cs->mem_usage);
		(void)lk_json_u64(lk_json_path(s, "memory_stats", "limit", NULL), &cs->mem_limit);
		for (size_t k = 0; k < lk_json_len(nets); k++) {
			uint64_t v;

			if (lk_json_u64(lk_json_get(lk_json_at(nets, k), "rx_bytes"), &v))
				cs->net_rx += v;
			if (lk_json_u64(lk_json_get(lk_json_at(nets, k), "tx_bytes"), &v))
				cs->net_tx += v;
		}
		lk_json_free(s);
		n++;
	}
	*out = arr;
	*list_out = list; /* owns the id/name/image strings */
	return n;
}

static void metrics(struct lk_ctl_env *env, struct lk_ctl_result *res)
{
	struct lk_host_snap hs;
	struct lk_ctr_stats *cs;
	struct lk_jval *list;
	struct lk_obuf b;
	char *pong = NULL;
	size_t plen = 0;

	bool docker_up = lk_docker_get(&env->docker, "/_ping", &pong, &plen) == 200;
	free(pong);
	(void)lk_host_collect(env->host, &hs);
	size_t n = docker_up ? container_stats(env, &cs, &list) : 0;
	if (!docker_up) {
		cs = NULL;
		list = NULL;
	}
	if (out_new(&b, LK_CTL_OUT_MAX, res)) {
		lk_metrics_write_host(&b, &hs, (lk_time_ms() - env->srv->started_ms) / 1000.0,
				      lk_version());
		agent_families(env, &b, docker_up);
		lk_metrics_write_containers(&b, cs, n);
		finish(res, 200, LK_PROM_CONTENT_TYPE, &b);
	}
	free(cs);
	lk_json_free(list);
}

/* ---- MCP ------------------------------------------------------------------------ */

static int mcp_docker_get(void *arg, const char *target, char **body, size_t *len)
{
	struct lk_ctl_env *env = arg;
	int st = lk_docker_get(&env->docker, target, body, len);

	if (st >= 0 && *len == 0) {
		free(*body);
		*body = NULL;
	}
	return st;
}

static int mcp_host(void *arg, struct lk_mcp_host *out)
{
	struct lk_ctl_env *env = arg;
	struct lk_host_snap hs;

	(void)lk_host_collect(env->host, &hs);
	*out = (struct lk_mcp_host){
		.cpu_usage = hs.cpu_usage, .cpu_cores = hs.cpu_cores,
		.mem_total = hs.mem_total, .mem_used = hs.mem_used, .mem_free = hs.mem_free,
		.disk_total = hs.disk_total, .disk_used = hs.disk_used, .disk_free = hs.disk_free,
		.net_rx = hs.net_rx, .net_tx = hs.net_tx, .uptime_s = hs.uptime_s,
	};
	return 0;
}

static void mcp(struct lk_ctl_env *env, const struct lk_ctl_req *rq, struct lk_ctl_result *res)
{
	struct lk_mcp_env me = {
		.docker_get = mcp_docker_get, .host = mcp_host, .arg = env, .version = lk_version(),
	};
	struct lk_obuf b;
	int status = 500;

	if (!out_new(&b, LK_CTL_OUT_MAX, res))
		return;
	int rc = lk_mcp_handle(&me, rq->method, rq->body != NULL ? rq->body : "", rq->len, &status, &b);
	if (rc == -ENOMEM) {
		free(b.data);
		res->status = 503;
		return;
	}
	/* -ENOSPC leaves overflow set: finish answers 500. */
	finish(res, status, b.len != 0 ? "application/json" : NULL, &b);
}

/* ---- adapter routes ------------------------------------------------------------ */

/* text answers status with "<prefix><arg>\n" as plain text. */
static void text(struct lk_ctl_result *res, int status, const char *prefix, const char *arg)
{
	char buf[1200];
	int n = snprintf(buf, sizeof(buf), "%s%s\n", prefix, arg);

	res->status = status;
	res->ctype = "text/plain; charset=utf-8";
	res->body = strdup(buf);
	res->len = res->body != NULL ? (size_t)LK_MIN((size_t)n, sizeof(buf) - 1) : 0;
}

/* docker_message finds Docker's {"message": ...} in an error body. */
static void docker_message(const char *body, size_t len, char *out, size_t cap)
{
	struct lk_jval *v = body != NULL ? lk_json_parse(body, len, NULL, 0) : NULL;
	const char *m = lk_json_str(lk_json_get(v, "message"));

	snprintf(out, cap, "%s", m != NULL ? m : "unexpected answer from docker");
	lk_json_free(v);
}

static void container_delete(struct lk_ctl_env *env, const struct lk_ctl_req *rq,
			     struct lk_ctl_result *res)
{
	char ref[129], target[200], msg[1024], *body = NULL;
	size_t len = 0;

	if (lk__container_ref(rq->target, "/api/containers/", ref) == 0) {
		text(res, 400, "invalid container id", "");
		return;
	}
	snprintf(target, sizeof(target), "/containers/%s?force=1", ref);
	int st = lk_docker_call(&env->docker, "DELETE", target, &body, &len);
	if (st == 204 || st == 200) {
		free(body);
		res->status = 204;
		if (env->srv->inventory != NULL)
			lk_inventory_refresh_now(env->srv->inventory);
		return;
	}
	if (st < 0)
		snprintf(msg, sizeof(msg), "%s", strerror(-st));
	else
		docker_message(body, len, msg, sizeof(msg));
	free(body);
	/* Docker's 404 and 409 keep their meaning (the reference said 500). */
	text(res, st == 404 || st == 409 ? st : 500, "removing container: ", msg);
}

/* logs answers the adapter's logs route without follow: Docker's output,
 * demultiplexed unless the container has a TTY (then it is not framed). */
static void logs(struct lk_ctl_env *env, const struct lk_ctl_req *rq, struct lk_ctl_result *res)
{
	char ref[129], target[LK_LOGS_TARGET_MAX], *body = NULL;
	size_t len = 0;
	bool follow;
	const char *why;

	if (lk__logs_target(rq->target, strlen(rq->target), target, sizeof(target), ref, &follow,
			    &why) < 0) {
		text(res, 400, why, "");
		return;
	}

	/* TTY output is not framed: ask once. */
	char itarget[200];
	snprintf(itarget, sizeof(itarget), "/containers/%s/json", ref);
	int st = lk_docker_get(&env->docker, itarget, &body, &len);
	bool tty = false;
	if (st == 200) {
		struct lk_jval *ins = lk_json_parse(body, len, NULL, 0);
		tty = lk_json_is_true(lk_json_path(ins, "Config", "Tty", NULL));
		lk_json_free(ins);
	}
	free(body);
	body = NULL;
	if (st == 200)
		st = lk_docker_get(&env->docker, target, &body, &len);
	if (st != 200) {
		char msg[1024];

		if (st < 0)
			snprintf(msg, sizeof(msg), "%s", strerror(-st));
		else
			docker_message(body, len, msg, sizeof(msg));
		free(body);
		text(res, st == 404 ? 404 : 500, "getting logs: ", msg);
		return;
	}
	/* The same demultiplexer as the follow stream's (proxy/relay.c), told
	 * by inspect whether the output is framed; a cut final frame keeps
	 * what arrived. */
	struct lk_relay_dir d;
	lk_relay_init(&d, LK_RELAY_EOF, 0, false);
	d.demux = true;
	d.dm = tty ? 2 : 1;
	len = (size_t)lk_relay_demux(&d, body, len); /* EOF framing: no chunk decoding, no error */
	res->status = 200;
	res->ctype = "text/plain; charset=utf-8";
	res->body = body;
	res->len = len;
}

/* containers answers the inventory routes from the inventory thread's
 * snapshot: no Docker call (spec 4.1: routes serve the cache). */
static void containers(struct lk_ctl_env *env, const struct lk_ctl_req *rq,
		       struct lk_ctl_result *res)
{
	struct lk_obuf b;

	if (env->srv->inventory == NULL) {
		res->status = 503;
		return;
	}
	if (!out_new(&b, LK_CTL_OUT_MAX, res))
		return;
	lk_inventory_write(env->srv->inventory, strncmp(rq->target, "/api/v1/", 8) == 0, &b);
	lk_obuf_puts(&b, "\n");
	finish(res, 200, "application/json", &b);
}

/* frame appends `data: <json>\n\n` of json[0..n) in chunked framing. */
static void frame(struct lk_obuf *b, const char *json, size_t n)
{
	char head[32];
	int hl = snprintf(head, sizeof(head), "%zx\r\n", n + 8);

	lk_obuf_put(b, head, (size_t)hl);
	lk_obuf_puts(b, "data: ");
	lk_obuf_put(b, json, n);
	lk_obuf_puts(b, "\n\n\r\n");
}

/* sse_start builds the first frames of /api/events: dd:ack, then the
 * current dd:watcher-snapshot, and the generation they show. */
static void sse_start(struct lk_ctl_env *env, struct lk_ctl_result *res)
{
	const struct lk_config *cfg = env->srv->cfg;
	struct lk_inv_counts ic;
	struct lk_host_snap hs;
	struct lk_obuf out, j;
	char ack[1024], now[32];
	struct utsname u;
	time_t t = time(NULL);
	struct tm tm;

	if (env->srv->inventory == NULL || !out_new(&out, LK_CTL_OUT_MAX, res)) {
		res->status = 503;
		return;
	}
	char *snap = malloc(LK_CTL_OUT_MAX / 2);
	if (snap == NULL) {
		free(out.data);
		res->status = 503;
		return;
	}
	struct lk_obuf sb;
	lk_obuf_init(&sb, snap, LK_CTL_OUT_MAX / 2);
	uint64_t gen = lk__sse_snapshot_json(env->srv, &sb);
	lk_inventory_counts(env->srv->inventory, &ic);
	(void)lk_host_collect(env->host, &hs);
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	lk_obuf_init(&j, ack, sizeof(ack));
	lk_obuf_puts(&j, "{\"type\":\"dd:ack\",\"data\":{\"version\":");
	lk_json_put_str(&j, lk_version(), strlen(lk_version()));
	lk_obuf_puts(&j, ",\"os\":\"linux\",\"arch\":");
	const char *arch = uname(&u) == 0 ? lk_shape_go_arch(u.machine) : "amd64";
	lk_json_put_str(&j, arch, strlen(arch));
	lk_obuf_puts(&j, ",\"cpus\":");
	lk_obuf_put_u64(&j, hs.cpu_cores);
	lk_obuf_puts(&j, ",\"memoryGb\":");
	lk_json_put_f64(&j, (double)hs.mem_total / (1024.0 * 1024.0 * 1024.0));
	lk_obuf_puts(&j, ",\"uptimeSeconds\":");
	lk_obuf_put_u64(&j, (lk_time_ms() - env->srv->started_ms) / 1000);
	lk_obuf_puts(&j, ",\"lastSeen\":");
	lk_json_put_str(&j, now, strlen(now));
	lk_obuf_puts(&j, ",\"containers\":{\"total\":");
	lk_obuf_put_u64(&j, ic.total);
	lk_obuf_puts(&j, ",\"running\":");
	lk_obuf_put_u64(&j, ic.running);
	lk_obuf_puts(&j, ",\"stopped\":");
	lk_obuf_put_u64(&j, ic.total - ic.running);
	lk_obuf_puts(&j, "},\"images\":");
	lk_obuf_put_u64(&j, ic.images);
	lk_obuf_puts(&j, ",\"pollInterval\":\"");
	lk_obuf_put_u64(&j, (uint64_t)cfg->dd_poll_interval_s);
	lk_obuf_puts(&j, "s\"}}");
	frame(&out, ack, j.len);
	if (!sb.overflow)
		frame(&out, snap, sb.len);
	free(snap);
	res->generation = gen;
	finish(res, 200, "text/event-stream", &out);
}

void lk__ctl_handle(struct lk_ctl_env *env, const struct lk_ctl_req *rq, struct lk_ctl_result *res)
{
	switch (rq->kind) {
	case LK_CTL_INFO:
		info(env, res);
		return;
	case LK_CTL_METRICS:
		metrics(env, res);
		return;
	case LK_CTL_MCP:
		mcp(env, rq, res);
		return;
	case LK_CTL_CONTAINER_DELETE:
		container_delete(env, rq, res);
		return;
	case LK_CTL_LOGS:
		logs(env, rq, res);
		return;
	case LK_CTL_CONTAINERS:
		containers(env, rq, res);
		return;
	case LK_CTL_SSE_START:
		sse_start(env, res);
		return;
	}
	res->status = 501;
	res->ctype = NULL;
}
