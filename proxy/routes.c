/* proxy/routes.c - the agent's route table. */
#include <string.h>

#include "core/http.h"
#include "proxy/routes.h"

struct route {
	const char *path;
	enum lk_route route;
};

static const struct route get_routes[] = {
	{ "/health", LK_ROUTE_HEALTH },
	{ "/_lookout/health", LK_ROUTE_DOCKER_HEALTH },
	{ "/_portwing/health", LK_ROUTE_DOCKER_HEALTH },
	{ "/ready", LK_ROUTE_READY },
	{ "/_lookout/info", LK_ROUTE_INFO },
	{ "/_portwing/info", LK_ROUTE_INFO },
	{ "/metrics", LK_ROUTE_METRICS },
	{ "/_lookout/metrics", LK_ROUTE_METRICS },
	{ "/_portwing/metrics", LK_ROUTE_METRICS },
};

/* Any method: the MCP handler answers 405 to all but POST itself. */
static const struct route any_routes[] = {
	{ "/_lookout/mcp", LK_ROUTE_MCP },
	{ "/_portwing/mcp", LK_ROUTE_MCP },
};

static enum lk_route find(const struct lk_http_req *r, const struct route *t, size_t n_t)
{
	for (size_t i = 0; i < n_t; i++) {
		size_t n = strlen(t[i].path);

		if (r->path_len == n && memcmp(r->target, t[i].path, n) == 0)
			return t[i].route;
	}
	return LK_ROUTE_NOT_FOUND;
}

static bool starts(const struct lk_http_req *r, const char *prefix, size_t *rest)
{
	size_t n = strlen(prefix);

	if (r->path_len < n || memcmp(r->target, prefix, n) != 0)
		return false;
	*rest = n;
	return true;
}

/* segments counts the '/'-separated non-empty segments of p[0..n) and
 * tells whether the last one equals last. */
static unsigned segments(const char *p, size_t n, const char *last)
{
	unsigned k = 0;
	size_t i = 0, start = 0;

	while (i <= n) {
		if (i == n || p[i] == '/') {
			if (i == start)
				return 0; /* empty segment */
			k++;
			start = i + 1;
		}
		i++;
	}
	if (last != NULL) {
		size_t ll = strlen(last);
		if (n < ll || memcmp(p + n - ll, last, ll) != 0 || (n > ll && p[n - ll - 1] != '/'))
			return 0;
	}
	return k;
}

/* adapter matches the controller routes of spec docker-drydock-edge 4.3
 * (drydock) or 5 (generic); methods other than the listed ones fall
 * through to the proxy. */
static enum lk_route adapter(const struct lk_http_req *r, bool generic)
{
	bool get = r->meth == LK_HTTP_GET || r->meth == LK_HTTP_HEAD;
	size_t off;

	if (generic) {
		if (!get || !starts(r, "/api/v1/", &off))
			return LK_ROUTE_NOT_FOUND;
		const char *p = r->target + off;
		size_t n = r->path_len - off;
		if (n == 10 && memcmp(p, "containers", 10) == 0)
			return LK_ROUTE_CONTAINERS;
		if (n == 7 && memcmp(p, "version", 7) == 0)
			return LK_ROUTE_GEN_VERSION;
		if (n == 6 && memcmp(p, "events", 6) == 0)
			return LK_ROUTE_GEN_EVENTS;
		if (n > 11 && memcmp(p, "containers/", 11) == 0 && segments(p + 11, n - 11, "logs") == 2)
			return LK_ROUTE_LOGS;
		return LK_ROUTE_NOT_FOUND;
	}
	if (!starts(r, "/api/", &off))
		return LK_ROUTE_NOT_FOUND;
	const char *p = r->target + off;
	size_t n = r->path_len - off;
	if (get) {
		if (n == 6 && memcmp(p, "events", 6) == 0)
			return LK_ROUTE_EVENTS;
		if (n == 10 && memcmp(p, "containers", 10) == 0)
			return LK_ROUTE_CONTAINERS;
		if (n > 11 && memcmp(p, "containers/", 11) == 0 && segments(p + 11, n - 11, "logs") == 2)
			return LK_ROUTE_LOGS;
		if (n == 8 && memcmp(p, "watchers", 8) == 0)
			return LK_ROUTE_WATCHERS;
		if (n > 9 && memcmp(p, "watchers/", 9) == 0 && segments(p + 9, n - 9, NULL) == 2)
			return LK_ROUTE_WATCHER;
		if ((n == 8 && memcmp(p, "triggers", 8) == 0) ||
		    (n == 11 && memcmp(p, "log/entries", 11) == 0))
			return LK_ROUTE_EMPTY_LIST;
		return LK_ROUTE_NOT_FOUND;
	}
	if (r->meth == LK_HTTP_DELETE && n > 11 && memcmp(p, "containers/", 11) == 0 &&
	    segments(p + 11, n - 11, NULL) == 1)
		return LK_ROUTE_CONTAINER_DEL;
	if (r->meth == LK_HTTP_POST) {
		if (n > 9 && memcmp(p, "watchers/", 9) == 0) {
			unsigned k = segments(p + 9, n - 9, NULL);
			if (k == 2 || (k == 4 && segments(p + 9, n - 9, NULL) == 4 &&
				       memmem(p + 9, n - 9, "/container/", 11) != NULL))
				return LK_ROUTE_NOT_IMPL;
		}
		if (n > 9 && memcmp(p, "triggers/", 9) == 0) {
			unsigned k = segments(p + 9, n - 9, NULL);
			if (k == 2 || (k == 3 && segments(p + 9, n - 9, "batch") == 3))
				return LK_ROUTE_NOT_IMPL;
		}
	}
	return LK_ROUTE_NOT_FOUND;
}

enum lk_route lk_route_match(const struct lk_http_req *r, bool generic)
{
	enum lk_route rt = find(r, any_routes, sizeof(any_routes) / sizeof(any_routes[0]));

	if (rt != LK_ROUTE_NOT_FOUND)
		return rt;
	rt = adapter(r, generic);
	if (rt != LK_ROUTE_NOT_FOUND || (r->meth != LK_HTTP_GET && r->meth != LK_HTTP_HEAD))
		return rt;
	return find(r, get_routes, sizeof(get_routes) / sizeof(get_routes[0]));
}
