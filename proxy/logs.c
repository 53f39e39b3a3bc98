/* proxy/logs.c - the adapters' logs target (see logs.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/dbg.h"
#include "core/http.h"
#include "proxy/logs.h"

/* container_ref copies the {id} that follows prefix in target into out:
 * Docker IDs and names only ([A-Za-z0-9][A-Za-z0-9_.-]*, at most 128
 * bytes), ending at '/', '?' or the end. Returns its length, or 0. */
size_t lk__container_ref(const char *target, const char *prefix, char out[LK_LOGS_REF_MAX + 1])
{
	size_t pl = strlen(prefix), n = 0;

	if (strncmp(target, prefix, pl) != 0)
		return 0;
	for (const char *p = target + pl; *p != '\0' && *p != '/' && *p != '?'; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || (n > 0 && (*p == '_' || *p == '.' || *p == '-'));
		if (!ok || n == LK_LOGS_REF_MAX)
			return 0;
		out[n++] = *p;
	}
	out[n] = '\0';
	return n;
}

/* query_get finds name=value in the query of target (first match), copying
 * the raw value. Returns true when present. */
static bool query_get(const char *target, const char *name, char *out, size_t cap)
{
	const char *q = strchr(target, '?');
	size_t nl = strlen(name);

	for (const char *p = q != NULL ? q + 1 : NULL; p != NULL && *p != '\0';) {
		const char *end = strchr(p, '&');
		size_t plen = end != NULL ? (size_t)(end - p) : strlen(p);

		if (plen >= nl && strncmp(p, name, nl) == 0 && (plen == nl || p[nl] == '=')) {
			size_t vl = plen > nl ? plen - nl - 1 : 0;
			snprintf(out, cap, "%.*s", (int)LK_MIN(vl, cap - 1), plen > nl ? p + nl + 1 : "");
			return true;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return false;
}

static bool is_true(const char *v)
{
	return strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
}

static bool url_safe(const char *v)
{
	for (; *v != '\0'; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') ||
		      *v == '.' || *v == '-' || *v == '_' || *v == ':' || *v == '%'))
			return false;
	return true;
}

int lk__logs_target(const char *target, size_t target_len, char *out, size_t cap,
		    char ref[LK_LOGS_REF_MAX + 1], bool *follow, const char **why)
{
	char t[LK_HTTP_LINE_MAX + 1], v[64];
	struct lk_obuf q;

	*why = "invalid container id";
	if (target_len > LK_HTTP_LINE_MAX)
		return -EINVAL;
	memcpy(t, target, target_len);
	t[target_len] = '\0';
	const char *prefix = strncmp(t, "/api/v1/", 8) == 0 ? "/api/v1/containers/" : "/api/containers/";
	if (lk__container_ref(t, prefix, ref) == 0)
		return -EINVAL;
	lk_obuf_init(&q, out, (uint32_t)cap - 1);
	lk_obuf_puts(&q, "/containers/");
	lk_obuf_puts(&q, ref);
	lk_obuf_puts(&q, "/logs?stdout=1&stderr=1");
	*follow = query_get(t, "follow", v, sizeof(v)) && is_true(v);
	if (*follow)
		lk_obuf_puts(&q, "&follow=1");
	if (query_get(t, "tail", v, sizeof(v))) {
		char *end;
		long long n = strtoll(v, &end, 10);

		/* tail=0 is legitimate: Drydock asks for it (spec 4.3). */
		if (v[0] == '\0' || *end != '\0' || n < 0 || v[0] == '+') {
			*why = "invalid tail: must be a non-negative integer";
			return -EINVAL;
		}
		lk_obuf_puts(&q, "&tail=");
		lk_obuf_put_i64(&q, n);
	}
	static const char *const pass[] = { "since", "until" };
	for (size_t i = 0; i < 2; i++) {
		if (query_get(t, pass[i], v, sizeof(v)) && v[0] != '\0') {
			if (!url_safe(v)) {
				*why = i == 0 ? "invalid since" : "invalid until";
				return -EINVAL;
			}
			lk_obuf_puts(&q, "&");
			lk_obuf_puts(&q, pass[i]);
			lk_obuf_puts(&q, "=");
			lk_obuf_puts(&q, v);
		}
	}
	if (query_get(t, "timestamps", v, sizeof(v)) && is_true(v))
		lk_obuf_puts(&q, "&timestamps=1");
	if (q.overflow)
		return -EINVAL;
	out[q.len] = '\0';
	return 0;
}
