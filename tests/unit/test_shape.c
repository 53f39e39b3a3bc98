/* tests/unit/test_shape.c - Docker container JSON to controller shapes.
 *
 * Inputs are what a real dockerd (20.10, the Debian 12 engine) answered for
 * one container per state: tests/unit/data/shape/, written by capture.py
 * there, which also says how each container was made. Each container is
 * shaped from list item + inspect and from the list item alone, and every
 * Drydock output goes through check_drydock, a walk of the parsed-back JSON
 * against the Joi schema of spec 4.2 (required members, types, non-empty
 * strings, enums, ISO dates, known keys only). On top: the port and volume
 * Go test vectors, Appendix B's status, label and image-reference vectors
 * (with DESIGN.md 4's changes: paused is paused, watcher is not dd.watch),
 * digests, escaping, secrets in Config.Env never reaching the output,
 * hostile input shapes, every short buffer size, and the watcher
 * descriptor. */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapters/shape.h"
#include "core/buf.h"
#include "core/json.h"

static char mem[1 << 18];
static struct lk_obuf b;

static const struct lk_shape_opts opts = { .agent_name = "host-1", .arch = "amd64", .os = "linux" };

/* ---- fixtures ------------------------------------------------------------ */

static const char *const fixture_names[] = { "web",    "paused", "restarting", "created",
					     "exited", "dead",	 "unhealthy",  "starting" };
#define N_FIXTURES (sizeof(fixture_names) / sizeof(fixture_names[0]))

static struct lk_jval *g_list;
static struct lk_jval *g_inspect[N_FIXTURES];
static char *g_raw_web; /* inspect-web.json as text, to prove the secret is there */

/* slurp reads tests/unit/data/shape/<name> (LK_SOURCE_DIR from the
 * environment, as ctest sets it, else the build's source dir). */
static char *slurp(const char *name, size_t *out_len)
{
	const char *dir = getenv("LK_SOURCE_DIR");
	char path[4096];
	FILE *f;
	long n;
	char *s;

	if (dir == NULL || dir[0] == '\0')
		dir = LK_SOURCE_DIR;
	snprintf(path, sizeof(path), "%s/tests/unit/data/shape/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	s[n] = '\0';
	*out_len = (size_t)n;
	return s;
}

#define LK_MIN(a, b) ((a) < (b) ? (a) : (b))

static struct lk_jval *parse(const char *s, size_t n)
{
	char err[256];
	struct lk_jval *v = lk_json_parse(s, n, err, sizeof(err));

	if (v == NULL)
		fail_msg("parse: %s in %.*s", err, (int)LK_MIN(n, (size_t)2000), s);
	return v;
}

static struct lk_jval *parse_z(const char *s)
{
	return parse(s, strlen(s));
}

static int setup(void **state)
{
	char name[64];
	size_t n;
	char *s = slurp("list.json", &n);

	g_list = parse(s, n);
	free(s);
	for (size_t i = 0; i < N_FIXTURES; i++) {
		snprintf(name, sizeof(name), "inspect-%s.json", fixture_names[i]);
		s = slurp(name, &n);
		g_inspect[i] = parse(s, n);
		if (i == 0)
			g_raw_web = s;
		else
			free(s);
	}
	return 0;
}

static int teardown(void **state)
{
	lk_json_free(g_list);
	for (size_t i = 0; i < N_FIXTURES; i++)
		lk_json_free(g_inspect[i]);
	free(g_raw_web);
	return 0;
}

static size_t fixture_idx(const char *name)
{
	for (size_t i = 0; i < N_FIXTURES; i++) {
		if (strcmp(fixture_names[i], name) == 0)
			return i;
	}
	fail_msg("no fixture %s", name);
	return 0;
}

static const struct lk_jval *inspect_of(const char *name)
{
	return g_inspect[fixture_idx(name)];
}

/* list_of returns the list entry whose first name is /name. */
static const struct lk_jval *list_of(const char *name)
{
	for (size_t i = 0; i < lk_json_len(g_list); i++) {
		const struct lk_jval *e = lk_json_at(g_list, i);
		const char *n = lk_json_str(lk_json_at(lk_json_get(e, "Names"), 0));

		if (n != NULL && n[0] == '/' && strcmp(n + 1, name) == 0)
			return e;
	}
	fail_msg("no list entry /%s", name);
	return NULL;
}

/* ---- the schema check (spec 4.2, Drydock's Joi container schema) ---------- */

static bool in_set(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, set[i]) == 0)
			return true;
	}
	return false;
}

#define IN(s, ...)                                                                                 \
	in_set((s), (const char *const[]){ __VA_ARGS__ },                                          \
	       sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* only_keys fails when obj has a member not in allowed, or one twice. */
static void only_keys(const struct lk_jval *obj, const char *where, const char *const *allowed,
		      size_t n_allowed)
{
	assert_int_equal(lk_json_type(obj), LK_J_OBJ);
	for (size_t i = 0; i < lk_json_len(obj); i++) {
		const char *k = lk_json_key_at(obj, i);

		if (!in_set(k, allowed, n_allowed))
			fail_msg("%s: unexpected member %s", where, k);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(k, lk_json_key_at(obj, j)) == 0)
				fail_msg("%s: member %s twice", where, k);
		}
	}
}

#define ONLY_KEYS(obj, where, ...)                                                                 \
	only_keys((obj), (where), (const char *const[]){ __VA_ARGS__ },                            \
		  sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* req_str returns member key of obj, failing unless it is a non-empty
 * string (Joi: string().min(1).required()). */
static const char *req_str(const struct lk_jval *obj, const char *key)
{
	size_t n;
	const char *s = lk_json_strn(lk_json_get(obj, key), &n);

	if (s == NULL || n == 0)
		fail_msg("member %s: missing, not a string or empty", key);
	return s;
}

/* opt_str returns member key or NULL; present means a non-empty string
 * (Joi's string() refuses ""). */
static const char *opt_str(const struct lk_jval *obj, const char *key)
{
	const struct lk_jval *v = lk_json_get(obj, key);

	if (v == NULL)
		return NULL;
	return req_str(obj, key);
}

static void req_type(const struct lk_jval *obj, const char *key, enum lk_jtype t)
{
	if (lk_json_type(lk_json_get(obj, key)) != t)
		fail_msg("member %s: type %d, want %d", key, lk_json_type(lk_json_get(obj, key)),
			 t);
}

static void check_iso_date(const char *s)
{
	static const char re_src[] = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
				     "(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$";
	regex_t re;

	assert_int_equal(regcomp(&re, re_src, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&re, s, 0, NULL, 0) != 0) {
		regfree(&re);
		fail_msg("not an ISO date: %s", s);
	}
	regfree(&re);
}

static void check_str_array(const struct lk_jval *arr, const char *what)
{
	assert_int_equal(lk_json_type(arr), LK_J_ARR);
	for (size_t i = 0; i < lk_json_len(arr); i++) {
		size_t n;
		const char *s = lk_json_strn(lk_json_at(arr, i), &n);

		if (s == NULL || n == 0)
			fail_msg("%s[%zu]: not a non-empty string", what, i);
	}
}

static void check_image(const struct lk_jval *img)
{
	const struct lk_jval *reg = lk_json_get(img, "registry");
	const struct lk_jval *tag = lk_json_get(img, "tag");
	const struct lk_jval *dig = lk_json_get(img, "digest");

	ONLY_KEYS(img, "image", "id", "registry", "name", "tag", "digest", "architecture", "os");
	req_str(img, "id");
	req_str(img, "name");
	req_str(img, "architecture");
	req_str(img, "os");
	ONLY_KEYS(reg, "image.registry", "name", "url");
	assert_string_equal(req_str(reg, "name"), "unknown");
	req_str(reg, "url");
	ONLY_KEYS(tag, "image.tag", "value", "semver");
	req_str(tag, "value");
	req_type(tag, "semver", LK_J_BOOL);
	assert_false(lk_json_is_true(lk_json_get(tag, "semver")));
	ONLY_KEYS(dig, "image.digest", "watch", "value");
	req_type(dig, "watch", LK_J_BOOL);
	opt_str(dig, "value");
}

static void check_details(const struct lk_jval *d)
{
	const char *started;

	ONLY_KEYS(d, "details", "ports", "volumes", "env", "startedAt");
	check_str_array(lk_json_get(d, "ports"), "details.ports");
	check_str_array(lk_json_get(d, "volumes"), "details.volumes");
	req_type(d, "env", LK_J_ARR);
	/* The schema would take [{key,value}]; we never send any (secrets). */
	assert_int_equal(lk_json_len(lk_json_get(d, "env")), 0);
	started = opt_str(d, "startedAt");
	if (started != NULL)
		check_iso_date(started);
}

/* check_drydock walks one emitted Drydock container. */
static void check_drydock(const struct lk_jval *c)
{
	const struct lk_jval *labels = lk_json_get(c, "labels");
	const char *s;

	ONLY_KEYS(c, "container", "id", "name", "displayName", "displayIcon", "status", "health",
		  "watcher", "agent", "image", "updateAvailable", "updateKind", "includeTags",
		  "excludeTags", "transformTags", "labels", "details");
	req_str(c, "id");
	req_str(c, "name");
	assert_string_equal(req_str(c, "watcher"), LK_SHAPE_WATCHER);
	opt_str(c, "displayName");
	opt_str(c, "displayIcon");
	opt_str(c, "agent");
	opt_str(c, "includeTags");
	opt_str(c, "excludeTags");
	opt_str(c, "transformTags");
	s = opt_str(c, "status");
	if (s != NULL && !IN(s, "running", "paused", "restarting", "created", "stopped", "dead"))
		fail_msg("status %s", s);
	s = opt_str(c, "health");
	if (s != NULL && !IN(s, "starting", "healthy", "unhealthy"))
		fail_msg("health %s", s);
	req_type(c, "image", LK_J_OBJ);
	check_image(lk_json_get(c, "image"));
	req_type(c, "updateAvailable", LK_J_BOOL);
	req_type(c, "updateKind", LK_J_OBJ);
	ONLY_KEYS(lk_json_get(c, "updateKind"), "updateKind", "kind");
	s = req_str(lk_json_get(c, "updateKind"), "kind");
	if (!IN(s, "tag", "digest", "unknown"))
		fail_msg("updateKind.kind %s", s);
	if (labels != NULL) {
		assert_int_equal(lk_json_type(labels), LK_J_OBJ);
		for (size_t i = 0; i < lk_json_len(labels); i++)
			assert_int_equal(lk_json_type(lk_json_at(labels, i)), LK_J_STR);
	}
	if (lk_json_get(c, "details") != NULL)
		check_details(lk_json_get(c, "details"));
}

/* check_generic walks one emitted generic container (spec 4.1's internal
 * shape). */
static void check_generic(const struct lk_jval *c)
{
	const struct lk_jval *img = lk_json_get(c, "image");
	const struct lk_jval *d = lk_json_get(c, "details");

	ONLY_KEYS(c, "generic", "id", "name", "displayName", "status", "watcher", "agent", "image",
		  "updateAvailable", "updateKind", "labels", "details");
	req_str(c, "id");
	req_str(c, "name");
	req_str(c, "displayName");
	req_str(c, "status");
	assert_string_equal(req_str(c, "watcher"), LK_SHAPE_WATCHER);
	ONLY_KEYS(img, "generic image", "id", "registry", "name", "tag", "digest", "created");
	req_str(img, "id");
	req_str(img, "registry");
	req_str(img, "name");
	req_str(img, "tag");
	if (opt_str(img, "created") != NULL)
		check_iso_date(opt_str(img, "created"));
	req_type(c, "updateAvailable", LK_J_BOOL);
	assert_string_equal(req_str(c, "updateKind"), "unknown");
	if (lk_json_get(c, "labels") != NULL)
		assert_true(lk_json_len(lk_json_get(c, "labels")) != 0);
	if (d == NULL)
		return;
	ONLY_KEYS(d, "generic details", "platform", "command", "ports", "network", "volumes",
		  "created", "started", "health");
	assert_true(lk_json_len(d) != 0);
	for (size_t i = 0; i < lk_json_len(lk_json_get(d, "ports")); i++) {
		const struct lk_jval *p = lk_json_at(lk_json_get(d, "ports"), i);

		ONLY_KEYS(p, "port", "container", "host", "protocol", "ip");
		req_type(p, "container", LK_J_NUM);
		req_str(p, "protocol");
	}
	for (size_t i = 0; i < lk_json_len(lk_json_get(d, "volumes")); i++) {
		const struct lk_jval *v = lk_json_at(lk_json_get(d, "volumes"), i);

		ONLY_KEYS(v, "volume", "type", "source", "destination", "readOnly");
		req_type(v, "readOnly", LK_J_BOOL);
	}
	for (size_t i = 0; i < lk_json_len(lk_json_get(d, "network")); i++)
		req_str(lk_json_at(lk_json_get(d, "network"), i), "name");
}

/* ---- running the shapers ------------------------------------------------- */

static void reset(void)
{
	lk_obuf_init(&b, mem, sizeof(mem) - 1);
}

static const char *text(void)
{
	assert_false(b.overflow);
	mem[b.len] = '\0';
	return mem;
}

/* assert_no_secret fails when the output holds anything of the env. */
static void assert_no_secret(const char *out)
{
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "SECRET_TOKEN"));
	assert_null(strstr(out, "PLAIN"));
}

/* dd shapes one container for Drydock, checks it against the schema and
 * returns it parsed (the caller frees). */
static struct lk_jval *dd(const struct lk_jval *list_item, const struct lk_jval *inspect)
{
	struct lk_jval *v;

	reset();
	assert_int_equal(lk_shape_drydock(&b, list_item, inspect, &opts), 0);
	assert_no_secret(text());
	v = parse(mem, b.len);
	check_drydock(v);
	return v;
}

static struct lk_jval *gen(const struct lk_jval *list_item, const struct lk_jval *inspect)
{
	struct lk_jval *v;

	reset();
	assert_int_equal(lk_shape_generic(&b, list_item, inspect, &opts), 0);
	assert_no_secret(text());
	v = parse(mem, b.len);
	check_generic(v);
	return v;
}

/* dd_doc shapes crafted documents (either may be NULL). */
static struct lk_jval *dd_doc(const char *list_json, const char *inspect_json)
{
	struct lk_jval *l = list_json != NULL ? parse_z(list_json) : NULL;
	struct lk_jval *i = inspect_json != NULL ? parse_z(inspect_json) : NULL;
	struct lk_jval *v = dd(l, i);

	lk_json_free(l);
	lk_json_free(i);
	return v;
}

static struct lk_jval *gen_doc(const char *list_json, const char *inspect_json)
{
	struct lk_jval *l = list_json != NULL ? parse_z(list_json) : NULL;
	struct lk_jval *i = inspect_json != NULL ? parse_z(inspect_json) : NULL;
	struct lk_jval *v = gen(l, i);

	lk_json_free(l);
	lk_json_free(i);
	return v;
}

static const char *str_at(const struct lk_jval *v, ...) __attribute__((sentinel));

/* str_at follows a NULL-terminated member path and returns the string
 * there, or NULL. */
static const char *str_at(const struct lk_jval *v, ...)
{
	va_list ap;
	const char *k;

	va_start(ap, v);
	while ((k = va_arg(ap, const char *)) != NULL)
		v = lk_json_get(v, k);
	va_end(ap);
	return lk_json_str(v);
}

/* assert_strs checks a JSON array of strings against want[0..n), in order. */
static void assert_strs(const struct lk_jval *arr, const char *const *want, size_t n)
{
	if (lk_json_len(arr) != n) {
		for (size_t i = 0; i < lk_json_len(arr); i++)
			print_message("  got [%zu] %s\n", i, lk_json_str(lk_json_at(arr, i)));
	}
	assert_int_equal(lk_json_len(arr), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(lk_json_str(lk_json_at(arr, i)), want[i]);
}

#define ASSERT_STRS(arr, ...)                                                                      \
	assert_strs((arr), (const char *const[]){ __VA_ARGS__ },                                   \
		    sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* assert_str_set is assert_strs in any order (Docker lists Mounts in map
 * order, different between list and inspect). */
static void assert_str_set(const struct lk_jval *arr, const char *const *want, size_t n)
{
	assert_int_equal(lk_json_len(arr), n);
	for (size_t i = 0; i < n; i++) {
		size_t hits = 0;

		for (size_t j = 0; j < n; j++)
			hits += strcmp(lk_json_str(lk_json_at(arr, j)), want[i]) == 0;
		if (hits != 1)
			fail_msg("%s found %zu times", want[i], hits);
	}
}

/* ---- real containers ----------------------------------------------------- */

static const struct {
	const char *name;
	const char *status;
	const char *health; /* what Drydock gets, NULL for no member */
} states[] = {
	{ "web", "running", "healthy" },	 { "paused", "paused", NULL },
	{ "restarting", "restarting", NULL },	 { "created", "created", NULL },
	{ "exited", "stopped", NULL },		 { "dead", "dead", NULL },
	{ "unhealthy", "running", "unhealthy" }, { "starting", "running", "starting" },
};

/* Every real container, shaped from both documents and from the list item
 * alone: schema-valid, the right status and health, never the env. */
static void test_fixture_states(void **state)
{
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		const struct lk_jval *l = list_of(states[i].name);
		const struct lk_jval *ins = inspect_of(states[i].name);
		const struct lk_jval *with[2] = { ins, NULL };

		print_message("%s\n", states[i].name);
		assert_string_equal(lk_shape_status(ins, l), states[i].status);
		assert_string_equal(lk_shape_status(ins, NULL), states[i].status);
		assert_string_equal(lk_shape_status(NULL, l), states[i].status);
		for (size_t w = 0; w < 2; w++) {
			struct lk_jval *v = dd(l, with[w]);

			assert_string_equal(str_at(v, "status", NULL), states[i].status);
			if (states[i].health != NULL)
				assert_string_equal(str_at(v, "health", NULL), states[i].health);
			else
				assert_null(lk_json_get(v, "health"));
			assert_string_equal(str_at(v, "name", NULL), states[i].name);
			assert_string_equal(str_at(v, "id", NULL),
					    lk_json_str(lk_json_get(l, "Id")));
			lk_json_free(v);
			v = gen(l, with[w]);
			assert_string_equal(str_at(v, "status", NULL), states[i].status);
			lk_json_free(v);
		}
	}
}

/* The container with everything: ports, mounts, labels, health, env. */
static void test_fixture_web(void **state)
{
	const struct lk_jval *l = list_of("web");
	const struct lk_jval *ins = inspect_of("web");
	const struct lk_jval *with[2] = { ins, NULL };
	const char *vol_src = NULL;

	/* The secret is in the input, so its absence from the output means
	 * something. */
	assert_non_null(strstr(g_raw_web, "SECRET_TOKEN=hunter2-s3cr3t"));
	for (size_t i = 0; i < lk_json_len(lk_json_get(ins, "Mounts")); i++) {
		const struct lk_jval *m = lk_json_at(lk_json_get(ins, "Mounts"), i);

		if (strcmp(lk_json_str(lk_json_get(m, "Type")), "volume") == 0)
			vol_src = lk_json_str(lk_json_get(m, "Source"));
	}
	assert_non_null(vol_src);
	char vol[512];
	snprintf(vol, sizeof(vol), "%s:/config", vol_src);

	for (size_t w = 0; w < 2; w++) {
		struct lk_jval *v = dd(l, with[w]);
		const struct lk_jval *img = lk_json_get(v, "image");
		const struct lk_jval *d = lk_json_get(v, "details");

		/* Raw text: quotes and the newline escaped, é kept as UTF-8. */
		reset();
		lk_shape_drydock(&b, l, with[w], &opts);
		assert_non_null(strstr(text(), "\"displayName\":\"W\xc3\xa9"
					       "b \\\"front\\\"\\nline2\""));
		assert_string_equal(str_at(v, "displayName", NULL), "W\xc3\xa9"
								    "b \"front\"\nline2");
		assert_string_equal(str_at(v, "displayIcon", NULL), "mdi-web");
		assert_string_equal(str_at(v, "includeTags", NULL), "^v\\d+\\.\\d+$");
		assert_string_equal(str_at(v, "excludeTags", NULL), "beta");
		assert_string_equal(str_at(v, "transformTags", NULL), "s/^v//");
		/* dd.watch=true: still our watcher, not one named "true". */
		assert_string_equal(str_at(v, "watcher", NULL), "docker");
		assert_string_equal(str_at(v, "labels", "dd.watch", NULL), "true");
		assert_string_equal(str_at(v, "labels", "com.example.team", NULL), "edge");
		assert_int_equal(lk_json_len(lk_json_get(v, "labels")), 7);
		assert_string_equal(str_at(v, "agent", NULL), "host-1");

		assert_string_equal(str_at(img, "id", NULL),
				    lk_json_str(lk_json_get(l, "ImageID")));
		assert_string_equal(str_at(img, "registry", "url", NULL), "ghcr.io");
		assert_string_equal(str_at(img, "name", NULL), "acme/web");
		assert_string_equal(str_at(img, "tag", "value", NULL), "v1.2");
		assert_null(lk_json_get(lk_json_get(img, "digest"), "value"));
		assert_false(lk_json_is_true(lk_json_path(img, "digest", "watch", NULL)));
		assert_string_equal(str_at(img, "architecture", NULL), "amd64");
		assert_string_equal(str_at(img, "os", NULL), "linux");
		assert_false(lk_json_is_true(lk_json_get(v, "updateAvailable")));
		assert_string_equal(str_at(v, "updateKind", "kind", NULL), "unknown");

		assert_str_set(lk_json_get(d, "ports"),
			       (const char *const[]){ "18443->443/tcp", "127.0.0.1:15353->53/udp",
						      "127.0.0.1:18080->80/tcp", "9000/tcp" },
			       4);
		assert_str_set(lk_json_get(d, "volumes"),
			       (const char *const[]){ vol, "/tmp:/data:ro", "/scratch" }, 3);
		assert_int_equal(lk_json_len(lk_json_get(d, "env")), 0);
		if (w == 0) {
			assert_string_equal(str_at(d, "startedAt", NULL),
					    str_at(ins, "State", "StartedAt", NULL));
		} else {
			assert_null(lk_json_get(d, "startedAt")); /* not in the list */
		}
		lk_json_free(v);
	}
}

/* Inspect's Ports are Docker's sorted keys: the exact order. */
static void test_fixture_web_port_order(void **state)
{
	struct lk_jval *v = dd(list_of("web"), inspect_of("web"));

	ASSERT_STRS(lk_json_path(v, "details", "ports", NULL), "18443->443/tcp",
		    "127.0.0.1:15353->53/udp", "127.0.0.1:18080->80/tcp", "9000/tcp");
	lk_json_free(v);
}

static void test_fixture_generic(void **state)
{
	struct lk_jval *v = gen(list_of("web"), inspect_of("web"));
	const struct lk_jval *d = lk_json_get(v, "details");
	const struct lk_jval *p;

	/* The generic adapter parses no labels. */
	assert_string_equal(str_at(v, "displayName", NULL), "web");
	assert_null(lk_json_get(v, "displayIcon"));
	assert_null(lk_json_get(v, "includeTags"));
	assert_string_equal(str_at(v, "labels", "dd.display.icon", NULL), "mdi-web");
	assert_string_equal(str_at(v, "image", "registry", NULL), "ghcr.io");
	assert_string_equal(str_at(v, "image", "name", NULL), "acme/web");
	assert_string_equal(str_at(v, "image", "tag", NULL), "v1.2");
	assert_string_equal(str_at(d, "platform", NULL), "linux");
	assert_string_equal(str_at(d, "command", NULL), "sleep 600");
	assert_string_equal(str_at(d, "health", NULL), "healthy");
	assert_string_equal(str_at(lk_json_at(lk_json_get(d, "network"), 0), "name", NULL),
			    "lknet");
	assert_non_null(str_at(lk_json_at(lk_json_get(d, "network"), 0), "ipAddress", NULL));
	assert_int_equal(lk_json_len(lk_json_get(d, "ports")), 4);
	p = lk_json_at(lk_json_get(d, "ports"), 1); /* 53/udp */
	int64_t x;
	assert_true(lk_json_i64(lk_json_get(p, "container"), &x));
	assert_int_equal(x, 53);
	assert_true(lk_json_i64(lk_json_get(p, "host"), &x));
	assert_int_equal(x, 15353);
	assert_string_equal(str_at(p, "protocol", NULL), "udp");
	assert_string_equal(str_at(p, "ip", NULL), "127.0.0.1");
	p = lk_json_at(lk_json_get(d, "ports"), 3); /* 9000/tcp, exposed only */
	assert_null(lk_json_get(p, "host"));
	assert_null(lk_json_get(p, "ip"));
	assert_int_equal(lk_json_len(lk_json_get(d, "volumes")), 3);
	lk_json_free(v);

	v = gen(list_of("paused"), inspect_of("paused"));
	assert_string_equal(str_at(v, "status", NULL), "paused");
	assert_string_equal(str_at(v, "image", "registry", NULL), "localhost:5000");
	assert_string_equal(str_at(v, "image", "name", NULL), "x");
	assert_null(lk_json_get(v, "labels")); /* {} is left out */
	lk_json_free(v);

	v = gen(list_of("created"), NULL);
	assert_string_equal(str_at(v, "details", "command", NULL), "true");
	assert_null(lk_json_path(v, "details", "started", NULL));
	lk_json_free(v);
	v = gen(list_of("created"), inspect_of("created"));
	assert_null(lk_json_path(v, "details", "started", NULL)); /* the zero time */
	lk_json_free(v);
}

static void test_fixture_images(void **state)
{
	static const struct {
		const char *name, *registry, *image, *tag;
	} want[] = {
		{ "paused", "localhost:5000", "x", "latest" },
		{ "restarting", "registry:5000", "x", "1" },
		{ "created", "docker.io", "nginx", "1.27" },
		{ "exited", "docker.io", "busybox", "latest" },
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct lk_jval *v = dd(list_of(want[i].name), inspect_of(want[i].name));

		assert_string_equal(str_at(v, "image", "registry", "url", NULL), want[i].registry);
		assert_string_equal(str_at(v, "image", "name", NULL), want[i].image);
		assert_string_equal(str_at(v, "image", "tag", "value", NULL), want[i].tag);
		lk_json_free(v);
	}
}

/* A container that never ran has the zero StartedAt: no startedAt. */
static void test_fixture_created(void **state)
{
	struct lk_jval *v = dd(list_of("created"), inspect_of("created"));

	assert_string_equal(str_at(inspect_of("created"), "State", "StartedAt", NULL),
			    "0001-01-01T00:00:00Z");
	assert_null(lk_json_path(v, "details", "startedAt", NULL));
	assert_int_equal(lk_json_len(lk_json_path(v, "details", "ports", NULL)), 0);
	assert_int_equal(lk_json_len(lk_json_path(v, "details", "volumes", NULL)), 0);
	lk_json_free(v);
}

/* ---- the Go test vectors of spec 4.2 -------------------------------------- */

static const char vec_mounts[] =
    "\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/srv/data\",\"Destination\":\"/data\","
    "\"RW\":true},{\"Type\":\"bind\",\"Source\":\"/srv/config\",\"Destination\":\"/config\","
    "\"RW\":false}]";

static void test_port_volume_vectors(void **state)
{
	char doc[2048];
	struct lk_jval *v;

	/* From inspect NetworkSettings.Ports (Docker's map: sorted keys). */
	snprintf(doc, sizeof(doc),
		 "{\"Id\":\"c1\",\"Name\":\"/v\",\"NetworkSettings\":{\"Ports\":{"
		 "\"80/tcp\":null,"
		 "\"443/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8443\"},"
		 "{\"HostIp\":\"::\",\"HostPort\":\"8443\"}],"
		 "\"53/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"5353\"}]}},%s}",
		 vec_mounts);
	v = dd_doc(NULL, doc);
	ASSERT_STRS(lk_json_path(v, "details", "ports", NULL), "80/tcp", "8443->443/tcp",
		    "127.0.0.1:5353->53/udp");
	ASSERT_STRS(lk_json_path(v, "details", "volumes", NULL), "/srv/data:/data",
		    "/srv/config:/config:ro");
	lk_json_free(v);

	/* The same from the list item's Ports array. */
	snprintf(doc, sizeof(doc),
		 "{\"Id\":\"c1\",\"Names\":[\"/v\"],\"Ports\":["
		 "{\"PrivatePort\":80,\"Type\":\"tcp\"},"
		 "{\"IP\":\"0.0.0.0\",\"PrivatePort\":443,\"PublicPort\":8443,\"Type\":\"tcp\"},"
		 "{\"IP\":\"::\",\"PrivatePort\":443,\"PublicPort\":8443,\"Type\":\"tcp\"},"
		 "{\"IP\":\"127.0.0.1\",\"PrivatePort\":53,\"PublicPort\":5353,\"Type\":\"udp\"}],"
		 "%s}",
		 vec_mounts);
	v = dd_doc(doc, NULL);
	ASSERT_STRS(lk_json_path(v, "details", "ports", NULL), "80/tcp", "8443->443/tcp",
		    "127.0.0.1:5353->53/udp");
	ASSERT_STRS(lk_json_path(v, "details", "volumes", NULL), "/srv/data:/data",
		    "/srv/config:/config:ro");
	lk_json_free(v);

	/* The generic shape of the same bindings. */
	v = gen_doc(doc, NULL);
	const struct lk_jval *p = lk_json_path(v, "details", "ports", NULL);
	assert_int_equal(lk_json_len(p), 3);
	reset();
	lk_json_put_val(&b, p);
	assert_string_equal(text(), "[{\"container\":80,\"protocol\":\"tcp\"},"
				    "{\"container\":443,\"host\":8443,\"protocol\":\"tcp\"},"
				    "{\"container\":53,\"host\":5353,\"protocol\":\"udp\","
				    "\"ip\":\"127.0.0.1\"}]");
	lk_json_free(v);
}

static void test_port_edges(void **state)
{
	struct lk_jval *v;

	v = dd_doc(NULL, "{\"Id\":\"c\",\"NetworkSettings\":{\"Ports\":{"
			 "\"80/tcp\":[{\"HostIp\":\"::1\",\"HostPort\":\"8080\"},"
			 "{\"HostIp\":\"\",\"HostPort\":\"8081\"},"
			 "{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"8082\"},"
			 "{\"HostIp\":\"10.0.0.1\",\"HostPort\":\"8082\"},"
			 "{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"\"}],"
			 "\"9000\":[],\"/udp\":null,\"7/sctp\":{}}}}");
	ASSERT_STRS(lk_json_path(v, "details", "ports", NULL), "[::1]:8080->80/tcp", "8081->80/tcp",
		    "127.0.0.1:8082->80/tcp", "10.0.0.1:8082->80/tcp", "80/tcp", "9000/tcp",
		    "7/sctp");
	lk_json_free(v);

	/* Ports not an object in the inspect: the list's are used. Unusable
	 * list elements are skipped. */
	v = dd_doc("{\"Id\":\"c\",\"Ports\":[{\"PrivatePort\":70000},{\"PrivatePort\":\"80\"},7,"
		   "{\"PrivatePort\":22},{\"PrivatePort\":53,\"PublicPort\":0,\"Type\":\"udp\"}]}",
		   "{\"Id\":\"c\",\"NetworkSettings\":{\"Ports\":[]}}");
	ASSERT_STRS(lk_json_path(v, "details", "ports", NULL), "22/tcp", "53/udp");
	lk_json_free(v);

	/* An inspect Ports object wins even when empty (a stopped container). */
	v = dd_doc("{\"Id\":\"c\",\"Ports\":[{\"PrivatePort\":22,\"PublicPort\":2222}]}",
		   "{\"Id\":\"c\",\"NetworkSettings\":{\"Ports\":{}}}");
	assert_int_equal(lk_json_len(lk_json_path(v, "details", "ports", NULL)), 0);
	lk_json_free(v);

	/* A run of twins: only the first of each wildcard binding stays. */
	char doc[4096];
	int n = snprintf(doc, sizeof(doc), "{\"Id\":\"c\",\"Ports\":[");
	for (int i = 0; i < 20; i++)
		n += snprintf(
		    doc + n, sizeof(doc) - (size_t)n,
		    "%s{\"IP\":\"%s\",\"PrivatePort\":80,\"PublicPort\":80,\"Type\":\"tcp\"}",
		    i != 0 ? "," : "", i % 2 ? "::" : "0.0.0.0");
	snprintf(doc + n, sizeof(doc) - (size_t)n, "]}");
	v = dd_doc(doc, NULL);
	ASSERT_STRS(lk_json_path(v, "details", "ports", NULL), "80->80/tcp");
	lk_json_free(v);
}

static void test_volume_edges(void **state)
{
	struct lk_jval *v = dd_doc(
	    NULL, "{\"Id\":\"c\",\"Mounts\":["
		  "{\"Type\":\"volume\",\"Name\":\"data\",\"Destination\":\"/d\",\"RW\":true},"
		  "{\"Type\":\"tmpfs\",\"Source\":\"\",\"Destination\":\"/t\",\"RW\":true},"
		  "{\"Type\":\"bind\",\"Source\":\"/x\",\"RW\":true},"
		  "{\"Type\":\"bind\",\"Source\":\"/y\",\"Destination\":\"\"},"
		  "{\"Type\":\"bind\",\"Source\":\"/a b:c\",\"Destination\":\"/q\"},7]}");

	ASSERT_STRS(lk_json_path(v, "details", "volumes", NULL), "data:/d", "/t", "/a b:c:/q:ro");
	lk_json_free(v);

	/* Inspect Mounts win over the list's; the list's are the fallback. */
	v = dd_doc(
	    "{\"Id\":\"c\",\"Mounts\":[{\"Source\":\"/l\",\"Destination\":\"/l\",\"RW\":true}]}",
	    "{\"Id\":\"c\",\"Mounts\":[]}");
	assert_int_equal(lk_json_len(lk_json_path(v, "details", "volumes", NULL)), 0);
	lk_json_free(v);
	v = dd_doc(
	    "{\"Id\":\"c\",\"Mounts\":[{\"Source\":\"/l\",\"Destination\":\"/l\",\"RW\":true}]}",
	    "{\"Id\":\"c\"}");
	ASSERT_STRS(lk_json_path(v, "details", "volumes", NULL), "/l:/l");
	lk_json_free(v);
}

/* ---- Appendix B: status -------------------------------------------------- */

static const char *status_of_state(const char *state_json)
{
	char doc[512];
	struct lk_jval *ins;
	const char *s;

	snprintf(doc, sizeof(doc), "{\"Id\":\"c\",\"State\":%s}", state_json);
	ins = parse_z(doc);
	s = lk_shape_status(ins, NULL);
	lk_json_free(ins);
	return s;
}

static const char *status_of_list(const char *list_json)
{
	struct lk_jval *l = parse_z(list_json);
	const char *s = lk_shape_status(NULL, l);

	lk_json_free(l);
	return s;
}

static void test_status_vectors(void **state)
{
	assert_string_equal(status_of_state("{\"Running\":true}"), "running");
	assert_string_equal(status_of_state("{\"Paused\":true}"), "paused");
	assert_string_equal(status_of_state("{\"Restarting\":true}"), "restarting");
	assert_string_equal(status_of_state("{\"Dead\":true}"), "dead");
	assert_string_equal(status_of_state("{\"Status\":\"created\"}"), "created");
	assert_string_equal(status_of_state("{\"Status\":\"exited\"}"), "stopped");
	/* The reference pinned {Running, Paused} -> running; DESIGN.md 4. */
	assert_string_equal(status_of_state("{\"Running\":true,\"Paused\":true}"), "paused");
	assert_string_equal(status_of_state("{\"Running\":true,\"Restarting\":true}"),
			    "restarting");
	assert_string_equal(status_of_state("{\"Status\":\"removing\"}"), "stopped");
	assert_string_equal(status_of_state("{\"Status\":\"paused\"}"), "paused");
	assert_string_equal(status_of_state("{}"), "stopped");
	assert_string_equal(status_of_state("{\"Running\":1,\"Paused\":\"true\"}"), "stopped");

	assert_string_equal(status_of_list("{\"State\":\"running\"}"), "running");
	assert_string_equal(status_of_list("{\"State\":\"paused\"}"), "paused");
	assert_string_equal(status_of_list("{\"State\":\"restarting\"}"), "restarting");
	assert_string_equal(status_of_list("{\"State\":\"dead\"}"), "dead");
	assert_string_equal(status_of_list("{\"State\":\"created\"}"), "created");
	assert_string_equal(status_of_list("{\"State\":\"exited\"}"), "stopped");
	assert_string_equal(status_of_list("{\"State\":\"removing\"}"), "stopped");
	assert_string_equal(status_of_list("{\"State\":7}"), "stopped");
	assert_string_equal(status_of_list("{}"), "stopped");
	assert_string_equal(lk_shape_status(NULL, NULL), "stopped");

	/* An inspect without a State object defers to the list item. */
	struct lk_jval *ins = parse_z("{\"Id\":\"c\",\"State\":\"running\"}");
	struct lk_jval *l = parse_z("{\"State\":\"paused\"}");
	assert_string_equal(lk_shape_status(ins, l), "paused");
	lk_json_free(ins);
	lk_json_free(l);
}

static void test_health(void **state)
{
	struct lk_jval *v;

	/* "none" (a health check disabled in the image) is not Drydock's. */
	v = dd_doc(NULL, "{\"Id\":\"c\",\"State\":{\"Running\":true,"
			 "\"Health\":{\"Status\":\"none\"}}}");
	assert_null(lk_json_get(v, "health"));
	lk_json_free(v);
	v = gen_doc(NULL, "{\"Id\":\"c\",\"State\":{\"Running\":true,"
			  "\"Health\":{\"Status\":\"none\"}}}");
	assert_string_equal(str_at(v, "details", "health", NULL), "none");
	lk_json_free(v);
	v = dd_doc(NULL, "{\"Id\":\"c\",\"State\":{\"Running\":true,\"Health\":{\"Status\":7}}}");
	assert_null(lk_json_get(v, "health"));
	lk_json_free(v);
	/* With an inspect, the list's Status text is not consulted. */
	v = dd_doc("{\"Id\":\"c\",\"Status\":\"Up 1 second (healthy)\"}",
		   "{\"Id\":\"c\",\"State\":{\"Running\":true}}");
	assert_null(lk_json_get(v, "health"));
	lk_json_free(v);
	v = dd_doc("{\"Id\":\"c\",\"State\":\"running\",\"Status\":\"Up 3 hours (unhealthy)\"}",
		   NULL);
	assert_string_equal(str_at(v, "health", NULL), "unhealthy");
	lk_json_free(v);
	v = dd_doc("{\"Id\":\"c\",\"State\":\"running\",\"Status\":\"Up 3 hours\"}", NULL);
	assert_null(lk_json_get(v, "health"));
	lk_json_free(v);
}

/* ---- image references ---------------------------------------------------- */

static void check_ref(const char *ref, const char *registry, const char *name, const char *tag,
		      const char *digest)
{
	struct lk_shape_ref r;
	char got[4][256];

	lk_shape_image_ref(ref, strlen(ref), &r);
	snprintf(got[0], sizeof(got[0]), "%.*s", (int)r.registry_len, r.registry);
	snprintf(got[1], sizeof(got[1]), "%.*s", (int)r.name_len, r.name);
	snprintf(got[2], sizeof(got[2]), "%.*s", (int)r.tag_len, r.tag);
	snprintf(got[3], sizeof(got[3]), "%.*s", (int)r.digest_len, r.digest);
	print_message("%s -> (%s, %s, %s, %s)\n", ref, got[0], got[1], got[2], got[3]);
	assert_string_equal(got[0], registry);
	assert_string_equal(got[1], name);
	assert_string_equal(got[2], tag);
	assert_string_equal(got[3], digest);
}

static void test_image_refs(void **state)
{
	/* Appendix B. */
	check_ref("registry.example.com/org/image:tag", "registry.example.com", "org/image", "tag",
		  "");
	check_ref("nginx:latest", "docker.io", "nginx", "latest", "");
	check_ref("nginx", "docker.io", "nginx", "latest", "");
	check_ref("ghcr.io/owner/repo:v1.2", "ghcr.io", "owner/repo", "v1.2", "");
	check_ref("localhost:5000/org/api", "localhost:5000", "org/api", "latest", "");
	check_ref("localhost/worker", "localhost", "worker", "latest", "");
	check_ref("library/redis:7", "docker.io", "library/redis", "7", "");
	/* More. */
	check_ref("nginx:1.27", "docker.io", "nginx", "1.27", "");
	check_ref("library/nginx", "docker.io", "library/nginx", "latest", "");
	check_ref("ghcr.io/a/b:tag", "ghcr.io", "a/b", "tag", "");
	check_ref("localhost:5000/x", "localhost:5000", "x", "latest", "");
	check_ref("registry:5000/x:1", "registry:5000", "x", "1", "");
	check_ref("docker.io/library/nginx:1", "docker.io", "library/nginx", "1", "");
	check_ref("[::1]:5000/x:2", "[::1]:5000", "x", "2", "");
	check_ref("nginx:", "docker.io", "nginx:", "latest", ""); /* empty tag: not a tag */
	check_ref("", "docker.io", "", "latest", "");
	/* Digests: split off first (the reference made name "nginx@sha256"). */
	check_ref("nginx@sha256:abcd", "docker.io", "nginx", "latest", "sha256:abcd");
	check_ref("nginx:1.27@sha256:abcd", "docker.io", "nginx", "1.27", "sha256:abcd");
	check_ref("ghcr.io/a/b:1.0@sha256:ff", "ghcr.io", "a/b", "1.0", "sha256:ff");
	check_ref("localhost:5000/x@sha256:00", "localhost:5000", "x", "latest", "sha256:00");
	check_ref("nginx@", "docker.io", "nginx", "latest", "");
}

static void test_image_in_shape(void **state)
{
	struct lk_jval *v;

	v = dd_doc(NULL, "{\"Id\":\"c\",\"Config\":{\"Image\":\"nginx:1.27@sha256:abcd\"}}");
	assert_string_equal(str_at(v, "image", "name", NULL), "nginx");
	assert_string_equal(str_at(v, "image", "tag", "value", NULL), "1.27");
	assert_string_equal(str_at(v, "image", "digest", "value", NULL), "sha256:abcd");
	assert_string_equal(str_at(v, "image", "registry", "url", NULL), "docker.io");
	assert_string_equal(str_at(v, "image", "id", NULL), "unknown");
	lk_json_free(v);
	v = gen_doc(NULL, "{\"Id\":\"c\",\"Config\":{\"Image\":\"nginx@sha256:abcd\"}}");
	assert_string_equal(str_at(v, "image", "digest", NULL), "sha256:abcd");
	lk_json_free(v);

	/* Config.Image wins over the list's Image; ImageID over inspect Image. */
	v = dd_doc("{\"Id\":\"c\",\"Image\":\"a:1\",\"ImageID\":\"sha256:list\"}",
		   "{\"Id\":\"c\",\"Image\":\"sha256:ins\",\"Config\":{\"Image\":\"b:2\"}}");
	assert_string_equal(str_at(v, "image", "name", NULL), "b");
	assert_string_equal(str_at(v, "image", "id", NULL), "sha256:list");
	lk_json_free(v);
	v = dd_doc("{\"Id\":\"c\",\"Image\":\"a:1\"}", "{\"Id\":\"c\",\"Image\":\"sha256:ins\"}");
	assert_string_equal(str_at(v, "image", "name", NULL), "a");
	assert_string_equal(str_at(v, "image", "id", NULL), "sha256:ins");
	lk_json_free(v);
	/* A registry with nothing after it still names an image. */
	v = dd_doc(NULL, "{\"Id\":\"c\",\"Config\":{\"Image\":\"ghcr.io/\"}}");
	assert_string_equal(str_at(v, "image", "name", NULL), "unknown");
	lk_json_free(v);
}

/* ---- Appendix B: labels -------------------------------------------------- */

static void test_labels(void **state)
{
	struct lk_jval *v;

	v = dd_doc(NULL, "{\"Id\":\"c\",\"Name\":\"/n\",\"Config\":{\"Labels\":{"
			 "\"dd.display.name\":\"API\",\"dd.display.icon\":\"mdi-api\","
			 "\"dd.tag.include\":\"^v\\\\d+\\\\.\\\\d+$\",\"dd.tag.exclude\":\"beta\","
			 "\"dd.tag.transform\":\"s/^v//\",\"dd.watch\":\"docker\"}}}");
	assert_string_equal(str_at(v, "displayName", NULL), "API");
	assert_string_equal(str_at(v, "displayIcon", NULL), "mdi-api");
	assert_string_equal(str_at(v, "includeTags", NULL), "^v\\d+\\.\\d+$");
	assert_string_equal(str_at(v, "excludeTags", NULL), "beta");
	assert_string_equal(str_at(v, "transformTags", NULL), "s/^v//");
	assert_string_equal(str_at(v, "watcher", NULL), "docker");
	lk_json_free(v);

	/* No labels at all: defaults, optional members left out, labels {}. */
	v = dd_doc(NULL, "{\"Id\":\"c\",\"Name\":\"/n\",\"Config\":{\"Labels\":null}}");
	assert_string_equal(str_at(v, "displayName", NULL), "n");
	assert_null(lk_json_get(v, "displayIcon"));
	assert_null(lk_json_get(v, "includeTags"));
	assert_null(lk_json_get(v, "excludeTags"));
	assert_null(lk_json_get(v, "transformTags"));
	assert_int_equal(lk_json_type(lk_json_get(v, "labels")), LK_J_OBJ);
	assert_int_equal(lk_json_len(lk_json_get(v, "labels")), 0);
	assert_string_equal(str_at(v, "watcher", NULL), "docker");
	lk_json_free(v);

	/* Empty and non-string values count as absent (Joi refuses ""); the
	 * labels object keeps its string members only. */
	v = dd_doc(NULL, "{\"Id\":\"c\",\"Name\":\"/n\",\"Config\":{\"Labels\":{"
			 "\"dd.display.name\":\"\",\"dd.display.icon\":\"\","
			 "\"dd.tag.include\":7,\"dd.watch\":\"false\"}}}");
	assert_string_equal(str_at(v, "displayName", NULL), "n");
	assert_null(lk_json_get(v, "displayIcon"));
	assert_null(lk_json_get(v, "includeTags"));
	assert_string_equal(str_at(v, "watcher", NULL), "docker");
	assert_int_equal(lk_json_len(lk_json_get(v, "labels")), 3);
	assert_null(lk_json_path(v, "labels", "dd.tag.include", NULL));
	assert_string_equal(str_at(v, "labels", "dd.display.name", NULL), "");
	lk_json_free(v);
	v = gen_doc(NULL, "{\"Id\":\"c\",\"Config\":{\"Labels\":{\"a\":1,\"b\":null}}}");
	assert_null(lk_json_get(v, "labels"));
	lk_json_free(v);

	/* Inspect Config.Labels first, then the list's. */
	v = dd_doc("{\"Id\":\"c\",\"Labels\":{\"dd.display.name\":\"L\"}}",
		   "{\"Id\":\"c\",\"Config\":{}}");
	assert_string_equal(str_at(v, "displayName", NULL), "L");
	lk_json_free(v);
	v = dd_doc("{\"Id\":\"c\",\"Labels\":{\"dd.display.name\":\"L\"}}",
		   "{\"Id\":\"c\",\"Config\":{\"Labels\":{\"dd.display.name\":\"I\"}}}");
	assert_string_equal(str_at(v, "displayName", NULL), "I");
	lk_json_free(v);
}

/* ---- strings, fallbacks, hostile shapes ---------------------------------- */

static void test_escaping(void **state)
{
	/* A name with quotes, a backslash, control characters, U+2028, HTML
	 * characters and two invalid bytes (which Docker would not send, but
	 * the parser passes through). */
	static const char doc[] = "{\"Id\":\"c\",\"Name\":\"/q\\\"b\\\\s\\n\\t\\u0001\\u2028<&>\xff"
				  "\xc3\","
				  "\"Config\":{\"Labels\":{\"k\\\"ey\":\"v\\u0000al\"}}}";
	struct lk_jval *v = dd_doc(NULL, doc);

	assert_string_equal(str_at(v, "name", NULL),
			    "q\"b\\s\n\t\x01\xe2\x80\xa8<&>\xef\xbf\xbd\xef\xbf\xbd");
	size_t n;
	const char *val = lk_json_strn(lk_json_get(lk_json_get(v, "labels"), "k\"ey"), &n);
	assert_int_equal(n, 4);
	assert_memory_equal(val, "v\0al", 4);
	reset();
	struct lk_jval *ins = parse(doc, sizeof(doc) - 1);
	lk_shape_drydock(&b, NULL, ins, &opts);
	lk_json_free(ins);
	assert_non_null(strstr(text(), "\"name\":\"q\\\"b\\\\s\\n\\t\\u0001\\u2028\\u003c\\u0026"
				       "\\u003e\\ufffd\\ufffd\""));
	lk_json_free(v);
}

static void test_fallbacks(void **state)
{
	struct lk_jval *v;

	/* A list item with nothing but an id is still schema-valid. */
	v = dd_doc("{\"Id\":\"0123456789abcdef0123\"}", NULL);
	assert_string_equal(str_at(v, "name", NULL), "0123456789ab");
	assert_string_equal(str_at(v, "displayName", NULL), "0123456789ab");
	assert_string_equal(str_at(v, "status", NULL), "stopped");
	assert_string_equal(str_at(v, "image", "id", NULL), "unknown");
	assert_string_equal(str_at(v, "image", "name", NULL), "unknown");
	assert_string_equal(str_at(v, "image", "tag", "value", NULL), "latest");
	assert_null(lk_json_path(v, "image", "created", NULL));
	lk_json_free(v);
	v = gen_doc("{\"Id\":\"abc\",\"Names\":[\"/\"]}", NULL);
	assert_string_equal(str_at(v, "name", NULL), "abc");
	assert_null(lk_json_get(v, "details"));
	lk_json_free(v);

	/* The list's first name, without its '/'. */
	v = dd_doc("{\"Id\":\"c\",\"Names\":[\"/first\",\"/second\"]}",
		   "{\"Id\":\"c\",\"Name\":\"\"}");
	assert_string_equal(str_at(v, "name", NULL), "first");
	lk_json_free(v);

	/* The generic image.created: the list's Created (Unix seconds) as
	 * RFC 3339, nonsense left out. Drydock gets none (the container's
	 * date against the registry's would flag an update everywhere). */
	v = gen_doc("{\"Id\":\"c\",\"Created\":1700000000}", NULL);
	assert_string_equal(str_at(v, "image", "created", NULL), "2023-11-14T22:13:20Z");
	lk_json_free(v);
	v = gen_doc("{\"Id\":\"c\",\"Created\":-5}", NULL);
	assert_null(lk_json_path(v, "image", "created", NULL));
	lk_json_free(v);
	v = gen_doc("{\"Id\":\"c\",\"Created\":99999999999999}", NULL);
	assert_null(lk_json_path(v, "image", "created", NULL));
	lk_json_free(v);
	v = dd_doc("{\"Id\":\"c\",\"Created\":1700000000}",
		   "{\"Id\":\"c\",\"Created\":\"2023-11-14T22:13:20Z\"}");
	assert_null(lk_json_path(v, "image", "created", NULL));
	lk_json_free(v);

	/* Every field of the wrong type. */
	static const char hostile[] =
	    "{\"Id\":\"x\",\"Name\":5,\"State\":\"weird\",\"Config\":[1],\"Created\":{},"
	    "\"NetworkSettings\":{\"Ports\":{\"80/tcp\":\"no\",\"81/tcp\":[1,null,{}]},"
	    "\"Networks\":[1]},\"Mounts\":{\"a\":1},\"Platform\":null}";
	v = dd_doc("{\"Id\":7,\"Names\":\"n\",\"Ports\":{},\"Labels\":[],\"Image\":{}}", hostile);
	ASSERT_STRS(lk_json_path(v, "details", "ports", NULL), "80/tcp", "81/tcp");
	lk_json_free(v);
	v = gen_doc("{\"Id\":7,\"Names\":\"n\",\"Ports\":{},\"Labels\":[],\"Image\":{}}", hostile);
	lk_json_free(v);
	v = dd_doc("[]", "{\"Id\":\"c\",\"State\":[],\"Config\":\"x\",\"Mounts\":[[]]}");
	lk_json_free(v);
}

static void test_no_id(void **state)
{
	static const char *const docs[] = { "{}", "{\"Id\":\"\"}", "{\"Id\":5}", "[]", "null" };

	reset();
	assert_int_equal(lk_shape_drydock(&b, NULL, NULL, &opts), -EINVAL);
	assert_int_equal(lk_shape_generic(&b, NULL, NULL, &opts), -EINVAL);
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct lk_jval *d = parse_z(docs[i]);

		assert_int_equal(lk_shape_drydock(&b, d, d, &opts), -EINVAL);
		assert_int_equal(lk_shape_generic(&b, d, d, &opts), -EINVAL);
		lk_json_free(d);
	}
	assert_int_equal(b.len, 0);
	assert_false(b.overflow);
}

static void test_opts(void **state)
{
	struct lk_jval *ins = parse_z("{\"Id\":\"c\"}");
	struct lk_jval *v;
	const struct lk_shape_opts empty = { .agent_name = "", .arch = "", .os = "" };

	reset();
	assert_int_equal(lk_shape_drydock(&b, NULL, ins, NULL), 0);
	v = parse(mem, b.len);
	check_drydock(v);
	assert_null(lk_json_get(v, "agent"));
	assert_string_equal(str_at(v, "image", "architecture", NULL), lk_shape_go_arch(NULL));
	assert_string_equal(str_at(v, "image", "os", NULL), "linux");
	lk_json_free(v);
	reset();
	assert_int_equal(lk_shape_drydock(&b, NULL, ins, &empty), 0);
	v = parse(mem, b.len);
	check_drydock(v);
	assert_null(lk_json_get(v, "agent"));
	assert_string_equal(str_at(v, "image", "architecture", NULL), lk_shape_go_arch(NULL));
	lk_json_free(v);
	lk_json_free(ins);
}

static void test_go_arch(void **state)
{
	static const char *const map[][2] = {
		{ "x86_64", "amd64" },	{ "aarch64", "arm64" },
		{ "arm64", "arm64" },	{ "armv7l", "arm" },
		{ "armv6l", "arm" },	{ "armv8l", "arm" },
		{ "armv5tel", "arm" },	{ "i686", "386" },
		{ "i386", "386" },	{ "ppc64le", "ppc64le" },
		{ "s390x", "s390x" },	{ "riscv64", "riscv64" },
		{ "mips64", "mips64" }, { "loongarch64", "loong64" },
		{ "amd64", "amd64" },	{ "weird9", "weird9" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		assert_string_equal(lk_shape_go_arch(map[i][0]), map[i][1]);
	assert_non_null(lk_shape_go_arch(NULL));
	assert_true(lk_shape_go_arch(NULL)[0] != '\0');
	assert_string_equal(lk_shape_go_arch(""), lk_shape_go_arch(NULL));
#if defined(__x86_64__)
	assert_string_equal(lk_shape_go_arch(NULL), "amd64");
#endif
}

/* Every buffer size short of the whole container overflows without
 * writing past its end (each buffer is exactly that big, for ASan). */
static void test_overflow(void **state)
{
	const struct lk_jval *l = list_of("web");
	const struct lk_jval *ins = inspect_of("web");
	int (*const fns[2])(struct lk_obuf *, const struct lk_jval *, const struct lk_jval *,
			    const struct lk_shape_opts *) = { lk_shape_drydock, lk_shape_generic };

	for (size_t f = 0; f < 2; f++) {
		char *full;
		uint32_t len;

		reset();
		assert_int_equal(fns[f](&b, l, ins, &opts), 0);
		len = b.len;
		full = malloc(len);
		assert_non_null(full);
		memcpy(full, mem, len);
		for (uint32_t cap = 0; cap <= len; cap++) {
			char *buf = malloc(cap != 0 ? cap : 1);
			struct lk_obuf sb;

			assert_non_null(buf);
			lk_obuf_init(&sb, buf, cap);
			assert_int_equal(fns[f](&sb, l, ins, &opts), 0);
			assert_true(sb.len <= cap);
			if (cap < len) {
				assert_true(sb.overflow);
			} else {
				assert_false(sb.overflow);
				assert_memory_equal(buf, full, len);
			}
			free(buf);
		}
		free(full);
	}
}

static void test_watchers(void **state)
{
	struct lk_jval *v, *w;

	reset();
	lk_shape_watchers(&b);
	v = parse(mem, b.len);
	assert_int_equal(lk_json_type(v), LK_J_ARR);
	assert_int_equal(lk_json_len(v), 1);
	const struct lk_jval *d = lk_json_at(v, 0);
	const struct lk_jval *c = lk_json_get(d, "configuration");
	ONLY_KEYS(d, "descriptor", "type", "name", "configuration");
	assert_string_equal(str_at(d, "type", NULL), "docker");
	assert_string_equal(str_at(d, "name", NULL), "docker");
	ONLY_KEYS(c, "configuration", "description", "capabilities", "transport", "execution",
		  "events");
	req_str(c, "description");
	ASSERT_STRS(lk_json_get(c, "capabilities"), "container-sync", "labels");
	/* The three values that hand watching to the controller (spec 7.2). */
	assert_string_equal(str_at(c, "transport", NULL), "docker-api");
	assert_string_equal(str_at(c, "execution", NULL), "controller");
	assert_string_equal(str_at(c, "events", NULL), "portwing");

	reset();
	lk_shape_watcher(&b);
	w = parse(mem, b.len);
	/* The array's element is the single descriptor, member for member. */
	reset();
	lk_json_put_val(&b, w);
	char *one = strdup(text());
	assert_non_null(one);
	reset();
	lk_json_put_val(&b, d);
	assert_string_equal(text(), one);
	free(one);
	lk_json_free(w);
	lk_json_free(v);

	reset();
	lk_shape_triggers(&b);
	assert_string_equal(text(), "[]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_states),
		cmocka_unit_test(test_fixture_web),
		cmocka_unit_test(test_fixture_web_port_order),
		cmocka_unit_test(test_fixture_generic),
		cmocka_unit_test(test_fixture_images),
		cmocka_unit_test(test_fixture_created),
		cmocka_unit_test(test_port_volume_vectors),
		cmocka_unit_test(test_port_edges),
		cmocka_unit_test(test_volume_edges),
		cmocka_unit_test(test_status_vectors),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_image_refs),
		cmocka_unit_test(test_image_in_shape),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_fallbacks),
		cmocka_unit_test(test_no_id),
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_go_arch),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_watchers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
