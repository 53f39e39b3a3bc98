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

enum lk_route lk_route_match(const struct lk_http_req *r)
{
	enum lk_route rt = find(r, any_routes, sizeof(any_routes) / sizeof(any_routes[0]));

	if (rt != LK_ROUTE_NOT_FOUND || (r->meth != LK_HTTP_GET && r->meth != LK_HTTP_HEAD))
		return rt;
	return find(r, get_routes, sizeof(get_routes) / sizeof(get_routes[0]));
}
