/* proxy/routes.h - which handler serves a request.
 *
 * Agent routes are matched on method and the path part of the
 * request-target (query ignored). Everything that is not an agent route is
 * LK_ROUTE_NOT_FOUND: the Docker proxy. lk_route_public tells which routes
 * need no credential. */
#ifndef LK_PROXY_ROUTES_H
#define LK_PROXY_ROUTES_H

#include <stdbool.h>

#include "core/fwd.h"

enum lk_route {
	LK_ROUTE_NOT_FOUND,
	LK_ROUTE_HEALTH,        /* GET /health: liveness, no dependency */
	LK_ROUTE_DOCKER_HEALTH, /* GET /_lookout/health, /_portwing/health: Docker _ping */
	LK_ROUTE_READY,         /* GET /ready: readiness (Docker _ping), public */
	LK_ROUTE_INFO,          /* GET /_lookout/info, /_portwing/info (authenticated) */
	LK_ROUTE_METRICS,       /* GET /metrics, /_lookout/metrics, /_portwing/metrics (authenticated) */
	LK_ROUTE_MCP,           /* any method /_lookout/mcp, /_portwing/mcp (authenticated) */
	/* Adapter routes (ADAPTER=drydock: /api/...; generic: /api/v1/...). */
	LK_ROUTE_CONTAINERS,    /* GET /api/containers | /api/v1/containers */
	LK_ROUTE_LOGS,          /* GET /api/containers/{id}/logs | /api/v1/containers/{id}/logs */
	LK_ROUTE_CONTAINER_DEL, /* DELETE /api/containers/{id} (drydock) */
	LK_ROUTE_EVENTS,        /* GET /api/events (drydock SSE) */
	LK_ROUTE_WATCHERS,      /* GET /api/watchers */
	LK_ROUTE_WATCHER,       /* GET /api/watchers/{type}/{name} */
	LK_ROUTE_EMPTY_LIST,    /* GET /api/triggers, /api/log/entries: [] */
	LK_ROUTE_NOT_IMPL,      /* POST /api/watchers/..., /api/triggers/...: 501 */
	LK_ROUTE_GEN_VERSION,   /* GET /api/v1/version (generic) */
	LK_ROUTE_GEN_EVENTS,    /* GET /api/v1/events (generic SSE of Docker events) */
	LK_ROUTE__COUNT
};

/* lk_route_match returns the route for r (GET patterns also match HEAD, as
 * in Go's ServeMux). */
enum lk_route lk_route_match(const struct lk_http_req *r, bool generic);
/* lk_route_public is true for the health and readiness routes. */
static inline int lk_route_public(enum lk_route r)
{
	return r == LK_ROUTE_HEALTH || r == LK_ROUTE_DOCKER_HEALTH || r == LK_ROUTE_READY;
}

#endif /* LK_PROXY_ROUTES_H */
