/* proxy/logs.h - the adapters' logs route (spec docker-drydock-edge 4.3):
 * turning /api/containers/{id}/logs?... (or /api/v1/...) into Docker's
 * /containers/{id}/logs?stdout=1&stderr=1&..., shared by the control
 * thread (without follow) and the streaming proxy (follow). */
#ifndef LK_PROXY_LOGS_H
#define LK_PROXY_LOGS_H

#include <stdbool.h>
#include <stddef.h>

#define LK_LOGS_TARGET_MAX 512
#define LK_LOGS_REF_MAX 128

/* lk__container_ref copies the {id} that follows prefix in target
 * (NUL-terminated) into out: Docker IDs and names only
 * ([A-Za-z0-9][A-Za-z0-9_.-]*, at most LK_LOGS_REF_MAX bytes), ending at
 * '/', '?' or the end. Returns its length, or 0. */
size_t lk__container_ref(const char *target, const char *prefix, char out[LK_LOGS_REF_MAX + 1]);

/* lk__logs_target builds Docker's logs target from the route's target
 * (target_len bytes, need not be NUL-terminated) into out (cap bytes,
 * NUL-terminated), the container reference into ref, and whether follow
 * was asked (1 or true). tail must be a non-negative integer (0 is
 * Drydock's own request, spec 4.3), since/until are passed on when made of
 * URL-safe characters, timestamps 1|true is passed on. Returns 0, or
 * -EINVAL with *why a static message for a 400. */
int lk__logs_target(const char *target, size_t target_len, char *out, size_t cap,
		    char ref[LK_LOGS_REF_MAX + 1], bool *follow, const char **why);

#endif /* LK_PROXY_LOGS_H */
