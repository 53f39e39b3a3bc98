/* proxy/routes.h - which handler serves a request.
 *
 * Agent routes are matched on method and the path part of the
 * request-target (query ignored). Until the Docker proxy lands, everything
 * that is not an agent route is LK_ROUTE_NOT_FOUND. */
#ifndef LK_PROXY_ROUTES_H
#define LK_PROXY_ROUTES_H

#include "core/fwd.h"

enum lk_route {
	LK_ROUTE_NOT_FOUND,
	LK_ROUTE_HEALTH,        /* GET /health: liveness, no dependency */
	LK_ROUTE_DOCKER_HEALTH, /* GET /_lookout/health, /_portwing/health: Docker _ping */
	LK_ROUTE__COUNT
};

/* lk_route_match returns the route for r (GET patterns also match HEAD, as
 * in Go's ServeMux). */
enum lk_route lk_route_match(const struct lk_http_req *r);

#endif /* LK_PROXY_ROUTES_H */
