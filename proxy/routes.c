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
};

enum lk_route lk_route_match(const struct lk_http_req *r)
{
	if (r->meth != LK_HTTP_GET && r->meth != LK_HTTP_HEAD)
		return LK_ROUTE_NOT_FOUND;
	for (size_t i = 0; i < sizeof(get_routes) / sizeof(get_routes[0]); i++) {
		size_t n = strlen(get_routes[i].path);

		if (r->path_len == n && memcmp(r->target, get_routes[i].path, n) == 0)
			return get_routes[i].route;
	}
	return LK_ROUTE_NOT_FOUND;
}
