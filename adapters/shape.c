/* adapters/shape.c - Docker container JSON to the Drydock wire shape and the
 * generic adapter's shape.
 *
 * Both shapes are built from one set of facts (struct facts) read once from
 * the two documents, so the fallbacks (inspect first, list item second) are
 * decided in one place. Port bindings from either source become one struct
 * binding, so the wildcard and de-duplication rules are written once and the
 * two shapes differ only in how they print a binding. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "adapters/shape.h"
#include "core/buf.h"
#include "core/dbg.h"
#include "core/json.h"

/* DEDUP_WINDOW is how far back a wildcard binding looks for its twin (the
 * IPv6 wildcard Docker lists right after the IPv4 one): a constant window
 * keeps a hostile Ports list linear, and the twins are adjacent in practice. */
#define DEDUP_WINDOW 8

/* The zero time.Time Docker reports as StartedAt of a never-started
 * container. */
#define ZERO_TIME "0001-01-01T00:00:00Z"

#define ID_SHORT 12 /* Docker's short id, the name of last resort */

/* ---- small readers and writers ------------------------------------------ */

/* jstr returns v's bytes (length in *out_len) when v is a non-empty string,
 * else NULL with *out_len untouched. */
static const char *jstr(const struct lk_jval *v, size_t *out_len)
{
	size_t n;
	const char *s = lk_json_strn(v, &n);

	if (s == NULL || n == 0)
		return NULL;
	*out_len = n;
	return s;
}

static bool span_eq(const char *a, size_t a_len, const char *b, size_t b_len)
{
	return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/* put_key appends `,"key":` (every object here opens with a member written
 * without the comma). */
static void put_key(struct lk_obuf *b, const char *key)
{
	lk_obuf_put(b, ",", 1);
	lk_json_put_key(b, key);
}

static void put_field(struct lk_obuf *b, const char *key, const char *s, size_t n)
{
	put_key(b, key);
	lk_json_put_str(b, s, n);
}

static void put_field_z(struct lk_obuf *b, const char *key, const char *s)
{
	put_field(b, key, s, strlen(s));
}

/* put_opt_field appends the member only when v is a non-empty string: Joi
 * refuses "" for every optional string of the Drydock schema. */
static void put_opt_field(struct lk_obuf *b, const char *key, const struct lk_jval *v)
{
	size_t n;
	const char *s = jstr(v, &n);

	if (s != NULL)
		put_field(b, key, s, n);
}

/* parse_port reads s[0..n) as a decimal port 0..65535 into *out. */
static bool parse_port(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = v;
	return true;
}

/* fmt_u32 writes v in decimal into buf (at least 11 bytes); returns the
 * length. */
static size_t fmt_u32(char *buf, uint32_t v)
{
	char tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

/* put_created appends the container's creation time as the generic
 * shape's image.created: inspect Created as Docker wrote it, else the list
 * item's Unix seconds in RFC 3339 (years 1970..9999, so always an ISO
 * date). */
static void put_created(struct lk_obuf *b, const char *key, const struct lk_jval *inspect,
			const struct lk_jval *list_item)
{
	size_t n;
	const char *s = jstr(lk_json_get(inspect, "Created"), &n);
	int64_t secs;
	struct tm tm;
	char buf[32];

	if (s != NULL) {
		put_field(b, key, s, n);
		return;
	}
	if (!lk_json_i64(lk_json_get(list_item, "Created"), &secs))
		return;
	if (secs <= 0 || secs > INT64_C(253402300799)) /* 9999-12-31T23:59:59Z */
		return;
	time_t t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL)
		return;
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (n != 0)
		put_field(b, key, buf, n);
}

/* started_of returns State.StartedAt, or NULL for none or the zero time of
 * a container that never started (a date, but not a start). */
static const char *started_of(const struct lk_jval *inspect, size_t *out_len)
{
	size_t n;
	const char *s = jstr(lk_json_path(inspect, "State", "StartedAt", NULL), &n);

	if (s == NULL || span_eq(s, n, ZERO_TIME, sizeof(ZERO_TIME) - 1))
		return NULL;
	*out_len = n;
	return s;
}

/* ---- image references and architectures --------------------------------- */

void lk_shape_image_ref(const char *ref, size_t len, struct lk_shape_ref *out)
{
	const char *at = len != 0 ? memchr(ref, '@', len) : NULL;
	size_t n = len;

	out->digest = "";
	out->digest_len = 0;
	if (at != NULL) {
		n = (size_t)(at - ref);
		out->digest = at + 1;
		out->digest_len = len - n - 1;
	}
	out->tag = "latest";
	out->tag_len = 6;
	for (size_t i = n; i-- > 0;) {
		if (ref[i] == '/')
			break; /* a ':' before the last '/' is a registry port */
		if (ref[i] == ':') {
			if (i + 1 < n) {
				out->tag = ref + i + 1;
				out->tag_len = n - i - 1;
				n = i;
			}
			break;
		}
	}
	const char *slash = n != 0 ? memchr(ref, '/', n) : NULL;
	size_t first = slash != NULL ? (size_t)(slash - ref) : 0;
	if (slash != NULL && (memchr(ref, '.', first) != NULL || memchr(ref, ':', first) != NULL ||
			      span_eq(ref, first, "localhost", 9))) {
		out->registry = ref;
		out->registry_len = first;
		out->name = slash + 1;
		out->name_len = n - first - 1;
	} else {
		out->registry = "docker.io";
		out->registry_len = 9;
		out->name = ref;
		out->name_len = n;
	}
	LK_DASSERT(out->tag_len != 0);
}

/* build_arch is GOARCH of the architecture this file was compiled for. */
static const char *build_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__i386__)
	return "386";
#elif defined(__arm__)
	return "arm";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
	return "ppc64le";
#elif defined(__powerpc64__)
	return "ppc64";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#elif defined(__loongarch64)
	return "loong64";
#else
	return "unknown";
#endif
}

const char *lk_shape_go_arch(const char *machine)
{
	static const struct {
		const char *machine;
		const char *go;
	} map[] = {
		{ "x86_64", "amd64" },
		{ "amd64", "amd64" },
		{ "aarch64", "arm64" },
		{ "arm64", "arm64" },
		{ "aarch64_be", "arm64be" },
		{ "i386", "386" },
		{ "i486", "386" },
		{ "i586", "386" },
		{ "i686", "386" },
		{ "x86", "386" },
		{ "loongarch64", "loong64" },
	};

	if (machine == NULL || machine[0] == '\0')
		return build_arch();
	for (size_t i = 0; i < LK_ARRAY_SIZE(map); i++) {
		if (strcmp(machine, map[i].machine) == 0)
			return map[i].go;
	}
	/* armv5tel, armv6l, armv7l, armv8l (32-bit userland on ARMv8), arm */
	if (strncmp(machine, "arm", 3) == 0)
		return "arm";
	return machine; /* ppc64le, ppc64, s390x, riscv64, mips64, mips: same names */
}

/* ---- status and health --------------------------------------------------- */

/* status_word maps Docker's State word (list item State, inspect
 * State.Status) to ours. */
static const char *status_word(const char *s)
{
	static const char *const same[] = { "running", "paused", "restarting", "dead", "created" };

	if (s == NULL)
		return "stopped";
	for (size_t i = 0; i < LK_ARRAY_SIZE(same); i++) {
		if (strcmp(s, same[i]) == 0)
			return same[i];
	}
	return "stopped"; /* exited, removing, and whatever comes next */
}

const char *lk_shape_status(const struct lk_jval *inspect, const struct lk_jval *list_item)
{
	const struct lk_jval *st = lk_json_get(inspect, "State");

	if (lk_json_type(st) != LK_J_OBJ)
		return status_word(lk_json_str(lk_json_get(list_item, "State")));
	/* Docker sets Running=true while paused or restarting: test those
	 * first, as Docker's own State.StateString() does. */
	if (lk_json_is_true(lk_json_get(st, "Paused")))
		return "paused";
	if (lk_json_is_true(lk_json_get(st, "Restarting")))
		return "restarting";
	if (lk_json_is_true(lk_json_get(st, "Running")))
		return "running";
	if (lk_json_is_true(lk_json_get(st, "Dead")))
		return "dead";
	return status_word(lk_json_str(lk_json_get(st, "Status")));
}

/* health_of returns Docker's health status (any word, "none" included) or
 * NULL: State.Health.Status when the inspect has a State, else what the
 * list item's Status text says ("Up 3 minutes (healthy)"). */
static const char *health_of(const struct lk_jval *inspect, const struct lk_jval *list_item)
{
	const struct lk_jval *st = lk_json_get(inspect, "State");
	size_t n;

	if (lk_json_type(st) == LK_J_OBJ)
		return jstr(lk_json_path(st, "Health", "Status", NULL), &n);
	const char *s = lk_json_str(lk_json_get(list_item, "Status"));
	if (s == NULL)
		return NULL;
	if (strstr(s, "(healthy)") != NULL)
		return "healthy";
	if (strstr(s, "(unhealthy)") != NULL)
		return "unhealthy";
	if (strstr(s, "(health: starting)") != NULL)
		return "starting";
	return NULL;
}

/* drydock_health returns h when Drydock's schema allows it, else NULL. */
static const char *drydock_health(const char *h)
{
	if (h != NULL && (strcmp(h, "healthy") == 0 || strcmp(h, "unhealthy") == 0 ||
			  strcmp(h, "starting") == 0))
		return h;
	return NULL;
}

/* ---- facts common to both shapes ------------------------------------------ */

struct facts {
	const char *id;
	size_t id_len;
	const char *name;
	size_t name_len;
	const char *status;	      /* lk_shape_status */
	const char *health;	      /* health_of: Docker's word or NULL */
	const struct lk_jval *labels; /* an object, or NULL for {} */
	const char *image_id;
	size_t image_id_len;
	struct lk_shape_ref ref;	  /* name_len 0: "unknown" */
	const struct lk_jval *ports;	  /* inspect NetworkSettings.Ports (object) */
	const struct lk_jval *list_ports; /* list item Ports, when ports is NULL */
	const struct lk_jval *mounts;	  /* inspect Mounts, else list Mounts (arrays) */
};

/* name_of sets f->name: inspect Name, else the list's first name, each
 * without Docker's leading '/', else the short id. */
static void name_of(struct facts *f, const struct lk_jval *inspect, const struct lk_jval *list_item)
{
	const struct lk_jval *cand[2] = { lk_json_get(inspect, "Name"),
					  lk_json_at(lk_json_get(list_item, "Names"), 0) };

	for (size_t i = 0; i < LK_ARRAY_SIZE(cand); i++) {
		size_t n;
		const char *s = jstr(cand[i], &n);

		if (s != NULL && s[0] == '/') {
			s++;
			n--;
		}
		if (s != NULL && n != 0) {
			f->name = s;
			f->name_len = n;
			return;
		}
	}
	f->name = f->id;
	f->name_len = LK_MIN(f->id_len, (size_t)ID_SHORT);
}

/* first_of returns the first of a, b that has type t, else NULL. */
static const struct lk_jval *first_of(const struct lk_jval *a, const struct lk_jval *b,
				      enum lk_jtype t)
{
	if (lk_json_type(a) == t)
		return a;
	if (lk_json_type(b) == t)
		return b;
	return NULL;
}

/* gather reads everything both shapes need; -EINVAL without an id. */
static int gather(struct facts *f, const struct lk_jval *list_item, const struct lk_jval *inspect)
{
	size_t n;
	const char *s;

	*f = (struct facts){ .image_id = "unknown", .image_id_len = 7 };
	f->id = jstr(lk_json_get(inspect, "Id"), &f->id_len);
	if (f->id == NULL)
		f->id = jstr(lk_json_get(list_item, "Id"), &f->id_len);
	if (f->id == NULL)
		return -EINVAL;
	name_of(f, inspect, list_item);
	LK_ASSERT(f->name_len != 0);
	f->status = lk_shape_status(inspect, list_item);
	f->health = health_of(inspect, list_item);
	f->labels = first_of(lk_json_path(inspect, "Config", "Labels", NULL),
			     lk_json_get(list_item, "Labels"), LK_J_OBJ);
	s = jstr(lk_json_get(list_item, "ImageID"), &n);
	if (s == NULL)
		s = jstr(lk_json_get(inspect, "Image"), &n);
	if (s != NULL) {
		f->image_id = s;
		f->image_id_len = n;
	}
	s = jstr(lk_json_path(inspect, "Config", "Image", NULL), &n);
	if (s == NULL)
		s = jstr(lk_json_get(list_item, "Image"), &n);
	lk_shape_image_ref(s != NULL ? s : "", s != NULL ? n : 0, &f->ref);
	f->ports =
	    first_of(lk_json_path(inspect, "NetworkSettings", "Ports", NULL), NULL, LK_J_OBJ);
	if (f->ports == NULL)
		f->list_ports = first_of(lk_json_get(list_item, "Ports"), NULL, LK_J_ARR);
	f->mounts =
	    first_of(lk_json_get(inspect, "Mounts"), lk_json_get(list_item, "Mounts"), LK_J_ARR);
	return 0;
}

/* label returns the non-empty string value of label key, else NULL. */
static const struct lk_jval *label(const struct facts *f, const char *key)
{
	size_t n;
	const struct lk_jval *v = lk_json_get(f->labels, key);

	return jstr(v, &n) != NULL ? v : NULL;
}

/* n_labels counts the labels put_labels prints. */
static size_t n_labels(const struct facts *f)
{
	size_t n = 0;

	for (size_t i = 0; i < lk_json_len(f->labels); i++)
		n += lk_json_type(lk_json_at(f->labels, i)) == LK_J_STR;
	return n;
}

/* put_labels prints the labels object with its string members only:
 * Docker's labels are strings, and Drydock types them Record<string,
 * string>, so anything else is noise that could trip its label code. */
static void put_labels(struct lk_obuf *b, const struct facts *f)
{
	bool first = true;

	lk_obuf_put(b, "{", 1);
	for (size_t i = 0; i < lk_json_len(f->labels); i++) {
		const struct lk_jval *v = lk_json_at(f->labels, i);
		size_t n;
		const char *s = lk_json_strn(v, &n);

		if (s == NULL)
			continue;
		if (!first)
			lk_obuf_put(b, ",", 1);
		first = false;
		lk_json_put_key(b, lk_json_key_at(f->labels, i));
		lk_json_put_str(b, s, n);
	}
	lk_obuf_put(b, "}", 1);
}

/* ---- port bindings ------------------------------------------------------- */

/* struct binding is one published or exposed port, from either source.
 * Spans point into the tree or into num. */
struct binding {
	const char *ip; /* host address; "" when none */
	size_t ip_len;
	const char *host; /* host port digits; "" when not published */
	size_t host_len;
	const char *cport; /* container port digits */
	size_t cport_len;
	const char *proto; /* tcp, udp, sctp */
	size_t proto_len;
	char num[2][12]; /* digits of the list item's numbers */
};

static bool is_wildcard(const char *ip, size_t n)
{
	return n == 0 || span_eq(ip, n, "0.0.0.0", 7) || span_eq(ip, n, "::", 2);
}

/* is_twin says whether a repeats the wildcard binding b (Docker's IPv6
 * twin of an IPv4 wildcard binding, or a repeated unpublished port). */
static bool is_twin(const struct binding *a, const struct binding *b)
{
	return is_wildcard(a->ip, a->ip_len) && is_wildcard(b->ip, b->ip_len) &&
	       span_eq(a->host, a->host_len, b->host, b->host_len) &&
	       span_eq(a->cport, a->cport_len, b->cport, b->cport_len) &&
	       span_eq(a->proto, a->proto_len, b->proto, b->proto_len);
}

/* inspect_binding fills *pb from NetworkSettings.Ports member key ("80/tcp")
 * and one element e of its array ({"HostIp","HostPort"}; NULL for an exposed
 * port with no bindings). False for an empty key. */
static bool inspect_binding(struct binding *pb, const char *key, const struct lk_jval *e)
{
	const char *slash = strchr(key, '/');
	size_t n = strlen(key);
	const char *s;

	*pb = (struct binding){ .ip = "", .host = "", .proto = "tcp", .proto_len = 3 };
	pb->cport = key;
	pb->cport_len = slash != NULL ? (size_t)(slash - key) : n;
	if (pb->cport_len == 0)
		return false;
	if (slash != NULL && slash[1] != '\0') {
		pb->proto = slash + 1;
		pb->proto_len = n - pb->cport_len - 1;
	}
	s = jstr(lk_json_get(e, "HostPort"), &pb->host_len);
	if (s == NULL)
		return true; /* exposed, not published */
	pb->host = s;
	s = jstr(lk_json_get(e, "HostIp"), &pb->ip_len);
	if (s != NULL)
		pb->ip = s;
	return true;
}

/* list_binding fills *pb from one list item Ports element ({IP,
 * PrivatePort, PublicPort, Type}). False without a usable PrivatePort. */
static bool list_binding(struct binding *pb, const struct lk_jval *e)
{
	uint64_t priv, pub;
	const char *s;

	*pb = (struct binding){ .ip = "", .host = "", .proto = "tcp", .proto_len = 3 };
	if (!lk_json_u64(lk_json_get(e, "PrivatePort"), &priv) || priv > 65535)
		return false;
	pb->cport = pb->num[0];
	pb->cport_len = fmt_u32(pb->num[0], (uint32_t)priv);
	s = jstr(lk_json_get(e, "Type"), &pb->proto_len);
	if (s != NULL)
		pb->proto = s;
	if (!lk_json_u64(lk_json_get(e, "PublicPort"), &pub) || pub == 0 || pub > 65535)
		return true; /* exposed, not published */
	pb->host = pb->num[1];
	pb->host_len = fmt_u32(pb->num[1], (uint32_t)pub);
	s = jstr(lk_json_get(e, "IP"), &pb->ip_len);
	if (s != NULL)
		pb->ip = s;
	return true;
}

/* put_binding_fn prints one binding as an array element; first says
 * whether it is the array's first. */
typedef void (*put_binding_fn)(struct lk_obuf *b, const struct binding *pb, bool first);

/* walk_inspect_key prints the bindings of one NetworkSettings.Ports member
 * (twins within DEDUP_WINDOW dropped); returns the number printed. */
static size_t walk_inspect_key(struct lk_obuf *b, const char *key, const struct lk_jval *arr,
			       size_t n_done, put_binding_fn put)
{
	struct binding pb, prev;
	size_t n = lk_json_len(arr), n_put = 0;

	if (lk_json_type(arr) != LK_J_ARR || n == 0) {
		if (inspect_binding(&pb, key, NULL)) {
			put(b, &pb, n_done == 0);
			n_put++;
		}
		return n_put;
	}
	for (size_t i = 0; i < n; i++) {
		bool twin = false;

		if (!inspect_binding(&pb, key, lk_json_at(arr, i)))
			return n_put;
		for (size_t j = i > DEDUP_WINDOW ? i - DEDUP_WINDOW : 0; j < i && !twin; j++)
			twin =
			    inspect_binding(&prev, key, lk_json_at(arr, j)) && is_twin(&pb, &prev);
		if (!twin) {
			put(b, &pb, n_done + n_put == 0);
			n_put++;
		}
	}
	return n_put;
}

/* walk_ports prints every binding of f in document order: the inspect's
 * Ports object when there is one, else the list item's Ports array. */
static void walk_ports(struct lk_obuf *b, const struct facts *f, put_binding_fn put)
{
	struct binding pb, prev;
	size_t n_done = 0;

	if (f->ports != NULL) {
		for (size_t i = 0; i < lk_json_len(f->ports); i++)
			n_done += walk_inspect_key(b, lk_json_key_at(f->ports, i),
						   lk_json_at(f->ports, i), n_done, put);
		return;
	}
	for (size_t i = 0; i < lk_json_len(f->list_ports); i++) {
		bool twin = false;

		if (!list_binding(&pb, lk_json_at(f->list_ports, i)))
			continue;
		for (size_t j = i > DEDUP_WINDOW ? i - DEDUP_WINDOW : 0; j < i && !twin; j++)
			twin = list_binding(&prev, lk_json_at(f->list_ports, j)) &&
			       is_twin(&pb, &prev);
		if (!twin)
			put(b, &pb, n_done++ == 0);
	}
}

/* put_port_str prints a binding as Drydock's string:
 * "<container>/<proto>" or "[<ip>:]<host>-><container>/<proto>". */
static void put_port_str(struct lk_obuf *b, const struct binding *pb, bool first)
{
	if (!first)
		lk_obuf_put(b, ",", 1);
	lk_obuf_put(b, "\"", 1);
	if (pb->host_len != 0) {
		if (!is_wildcard(pb->ip, pb->ip_len)) {
			bool v6 = memchr(pb->ip, ':', pb->ip_len) != NULL;

			if (v6)
				lk_obuf_put(b, "[", 1);
			lk_json_put_chars(b, pb->ip, pb->ip_len);
			lk_obuf_puts(b, v6 ? "]:" : ":");
		}
		lk_json_put_chars(b, pb->host, pb->host_len);
		lk_obuf_puts(b, "->");
	}
	lk_json_put_chars(b, pb->cport, pb->cport_len);
	lk_obuf_put(b, "/", 1);
	lk_json_put_chars(b, pb->proto, pb->proto_len);
	lk_obuf_put(b, "\"", 1);
}

/* put_port_obj prints a binding as the generic shape's object, ports as
 * numbers. Docker writes digits; a container port that is not one prints
 * as 0 and such a host port is left out, so the element is still there. */
static void put_port_obj(struct lk_obuf *b, const struct binding *pb, bool first)
{
	uint32_t cport, host = 0;
	bool has_host = pb->host_len != 0;

	if (!parse_port(pb->cport, pb->cport_len, &cport))
		cport = 0;
	if (has_host && !parse_port(pb->host, pb->host_len, &host))
		has_host = false;
	if (!first)
		lk_obuf_put(b, ",", 1);
	lk_obuf_puts(b, "{\"container\":");
	lk_obuf_put_u64(b, cport);
	if (has_host) {
		put_key(b, "host");
		lk_obuf_put_u64(b, host);
	}
	put_field(b, "protocol", pb->proto, pb->proto_len);
	if (has_host && !is_wildcard(pb->ip, pb->ip_len))
		put_field(b, "ip", pb->ip, pb->ip_len);
	lk_obuf_put(b, "}", 1);
}

/* ---- mounts -------------------------------------------------------------- */

/* put_volume_strs prints Drydock's volume strings. */
static void put_volume_strs(struct lk_obuf *b, const struct facts *f)
{
	bool first = true;

	for (size_t i = 0; i < lk_json_len(f->mounts); i++) {
		const struct lk_jval *m = lk_json_at(f->mounts, i);
		size_t src_len = 0, dst_len;
		const char *dst = jstr(lk_json_get(m, "Destination"), &dst_len);
		const char *src = jstr(lk_json_get(m, "Source"), &src_len);

		if (dst == NULL)
			continue; /* nothing to say, and "" is not a valid item */
		if (src == NULL)
			src = jstr(lk_json_get(m, "Name"), &src_len);
		if (!first)
			lk_obuf_put(b, ",", 1);
		first = false;
		lk_obuf_put(b, "\"", 1);
		if (src != NULL) {
			lk_json_put_chars(b, src, src_len);
			lk_obuf_put(b, ":", 1);
		}
		lk_json_put_chars(b, dst, dst_len);
		if (!lk_json_is_true(lk_json_get(m, "RW")))
			lk_obuf_puts(b, ":ro");
		lk_obuf_put(b, "\"", 1);
	}
}

/* put_volume_objs prints the generic shape's volume objects. */
static void put_volume_objs(struct lk_obuf *b, const struct facts *f)
{
	for (size_t i = 0; i < lk_json_len(f->mounts); i++) {
		const struct lk_jval *m = lk_json_at(f->mounts, i);
		const char *s;
		size_t n;

		lk_obuf_puts(b, i == 0 ? "{" : ",{");
		lk_json_put_key(b, "type");
		s = lk_json_strn(lk_json_get(m, "Type"), &n);
		lk_json_put_str(b, s, s != NULL ? n : 0);
		s = lk_json_strn(lk_json_get(m, "Source"), &n);
		put_field(b, "source", s, s != NULL ? n : 0);
		s = lk_json_strn(lk_json_get(m, "Destination"), &n);
		put_field(b, "destination", s, s != NULL ? n : 0);
		put_key(b, "readOnly");
		lk_json_put_bool(b, !lk_json_is_true(lk_json_get(m, "RW")));
		lk_obuf_put(b, "}", 1);
	}
}

/* ---- the Drydock wire shape ---------------------------------------------- */

/* put_head opens the container object: id, name, displayName. */
static void put_head(struct lk_obuf *b, const struct facts *f, const struct lk_jval *display_name)
{
	size_t n;
	const char *dn = jstr(display_name, &n);

	lk_obuf_put(b, "{", 1);
	lk_json_put_key(b, "id");
	lk_json_put_str(b, f->id, f->id_len);
	put_field(b, "name", f->name, f->name_len);
	if (dn != NULL)
		put_field(b, "displayName", dn, n);
	else
		put_field(b, "displayName", f->name, f->name_len);
}

static void put_agent_watcher(struct lk_obuf *b, const struct lk_shape_opts *o)
{
	put_field_z(b, "watcher", LK_SHAPE_WATCHER);
	if (o != NULL && o->agent_name != NULL && o->agent_name[0] != '\0')
		put_field_z(b, "agent", o->agent_name);
}

/* put_image_drydock prints image: every member but digest.value is
 * required by the schema. */
static void put_image_drydock(struct lk_obuf *b, const struct facts *f,
			      const struct lk_shape_opts *o)
{
	const char *arch = o != NULL ? o->arch : NULL;
	const char *os = o != NULL && o->os != NULL && o->os[0] != '\0' ? o->os : "linux";

	put_key(b, "image");
	lk_obuf_put(b, "{", 1);
	lk_json_put_key(b, "id");
	lk_json_put_str(b, f->image_id, f->image_id_len);
	put_key(b, "registry");
	lk_obuf_puts(b, "{\"name\":\"unknown\"");
	put_field(b, "url", f->ref.registry, f->ref.registry_len);
	lk_obuf_put(b, "}", 1);
	if (f->ref.name_len != 0)
		put_field(b, "name", f->ref.name, f->ref.name_len);
	else
		put_field_z(b, "name", "unknown");
	put_key(b, "tag");
	lk_obuf_puts(b, "{\"value\":");
	lk_json_put_str(b, f->ref.tag, f->ref.tag_len);
	lk_obuf_puts(b, ",\"semver\":false}");
	put_key(b, "digest");
	lk_obuf_puts(b, "{\"watch\":false");
	if (f->ref.digest_len != 0)
		put_field(b, "value", f->ref.digest, f->ref.digest_len);
	lk_obuf_put(b, "}", 1);
	put_field_z(b, "architecture", arch != NULL && arch[0] != '\0' ? arch : build_arch());
	put_field_z(b, "os", os);
	lk_obuf_put(b, "}", 1);
}

static void put_details_drydock(struct lk_obuf *b, const struct facts *f,
				const struct lk_jval *inspect)
{
	size_t n;
	const char *started = started_of(inspect, &n);

	put_key(b, "details");
	lk_obuf_puts(b, "{\"ports\":[");
	walk_ports(b, f, put_port_str);
	lk_obuf_puts(b, "],\"volumes\":[");
	put_volume_strs(b, f);
	/* Never the environment: its values are secrets (DESIGN.md 4). */
	lk_obuf_puts(b, "],\"env\":[]");
	if (started != NULL)
		put_field(b, "startedAt", started, n);
	lk_obuf_put(b, "}", 1);
}

int lk_shape_drydock(struct lk_obuf *b, const struct lk_jval *list_item,
		     const struct lk_jval *inspect, const struct lk_shape_opts *o)
{
	struct facts f;
	const char *health;

	if (gather(&f, list_item, inspect) != 0)
		return -EINVAL;
	put_head(b, &f, label(&f, "dd.display.name"));
	put_opt_field(b, "displayIcon", label(&f, "dd.display.icon"));
	put_field_z(b, "status", f.status);
	health = drydock_health(f.health);
	if (health != NULL)
		put_field_z(b, "health", health);
	put_agent_watcher(b, o);
	put_image_drydock(b, &f, o);
	lk_obuf_puts(b, ",\"updateAvailable\":false,\"updateKind\":{\"kind\":\"unknown\"}");
	put_opt_field(b, "includeTags", label(&f, "dd.tag.include"));
	put_opt_field(b, "excludeTags", label(&f, "dd.tag.exclude"));
	put_opt_field(b, "transformTags", label(&f, "dd.tag.transform"));
	put_key(b, "labels");
	put_labels(b, &f);
	put_details_drydock(b, &f, inspect);
	lk_obuf_put(b, "}", 1);
	return 0;
}

/* ---- the generic shape --------------------------------------------------- */

static void put_image_generic(struct lk_obuf *b, const struct facts *f,
			      const struct lk_jval *inspect, const struct lk_jval *list_item)
{
	put_key(b, "image");
	lk_obuf_put(b, "{", 1);
	lk_json_put_key(b, "id");
	lk_json_put_str(b, f->image_id, f->image_id_len);
	put_field(b, "registry", f->ref.registry, f->ref.registry_len);
	if (f->ref.name_len != 0)
		put_field(b, "name", f->ref.name, f->ref.name_len);
	else
		put_field_z(b, "name", "unknown");
	put_field(b, "tag", f->ref.tag, f->ref.tag_len);
	if (f->ref.digest_len != 0)
		put_field(b, "digest", f->ref.digest, f->ref.digest_len);
	put_created(b, "created", inspect, list_item);
	lk_obuf_put(b, "}", 1);
}

/* dkey appends the key of a details member, opening details on the first
 * one (*open tracks that), so an empty details is never written. */
static void dkey(struct lk_obuf *b, bool *open, const char *key)
{
	lk_obuf_puts(b, *open ? "," : ",\"details\":{");
	*open = true;
	lk_json_put_key(b, key);
}

/* dfield appends a details member when v is a non-empty string. */
static void dfield(struct lk_obuf *b, bool *open, const char *key, const struct lk_jval *v)
{
	size_t n;
	const char *s = jstr(v, &n);

	if (s == NULL)
		return;
	dkey(b, open, key);
	lk_json_put_str(b, s, n);
}

/* put_command prints details.command: Config.Cmd joined by spaces, else
 * the list item's Command. */
static void put_command(struct lk_obuf *b, bool *open, const struct lk_jval *inspect,
			const struct lk_jval *list_item)
{
	const struct lk_jval *cmd = lk_json_path(inspect, "Config", "Cmd", NULL);
	size_t n;
	bool first = true;

	if (lk_json_type(cmd) != LK_J_ARR || lk_json_len(cmd) == 0) {
		dfield(b, open, "command", lk_json_get(list_item, "Command"));
		return;
	}
	dkey(b, open, "command");
	lk_obuf_put(b, "\"", 1);
	for (size_t i = 0; i < lk_json_len(cmd); i++) {
		const char *s = lk_json_strn(lk_json_at(cmd, i), &n);

		if (s == NULL)
			continue;
		if (!first)
			lk_obuf_put(b, " ", 1);
		first = false;
		lk_json_put_chars(b, s, n);
	}
	lk_obuf_put(b, "\"", 1);
}

/* put_networks prints details.network, when there is one. */
static void put_networks(struct lk_obuf *b, bool *open, const struct lk_jval *inspect,
			 const struct lk_jval *list_item)
{
	const struct lk_jval *nets =
	    first_of(lk_json_path(inspect, "NetworkSettings", "Networks", NULL),
		     lk_json_path(list_item, "NetworkSettings", "Networks", NULL), LK_J_OBJ);

	if (lk_json_len(nets) == 0)
		return;
	dkey(b, open, "network");
	lk_obuf_put(b, "[", 1);
	for (size_t i = 0; i < lk_json_len(nets); i++) {
		const struct lk_jval *nw = lk_json_at(nets, i);
		const char *name = lk_json_key_at(nets, i);

		lk_obuf_puts(b, i == 0 ? "{" : ",{");
		lk_json_put_key(b, "name");
		lk_json_put_str(b, name, strlen(name));
		put_opt_field(b, "ipAddress", lk_json_get(nw, "IPAddress"));
		put_opt_field(b, "gateway", lk_json_get(nw, "Gateway"));
		lk_obuf_put(b, "}", 1);
	}
	lk_obuf_put(b, "]", 1);
}

/* put_details_generic prints details with only its non-empty members, and
 * nothing when there are none. */
static void put_details_generic(struct lk_obuf *b, const struct facts *f,
				const struct lk_jval *inspect, const struct lk_jval *list_item)
{
	bool open = false;
	size_t n;
	const char *started = started_of(inspect, &n);

	dfield(b, &open, "platform", lk_json_get(inspect, "Platform"));
	put_command(b, &open, inspect, list_item);
	if (lk_json_len(f->ports) != 0 || lk_json_len(f->list_ports) != 0) {
		dkey(b, &open, "ports");
		lk_obuf_put(b, "[", 1);
		walk_ports(b, f, put_port_obj);
		lk_obuf_put(b, "]", 1);
	}
	put_networks(b, &open, inspect, list_item);
	if (lk_json_len(f->mounts) != 0) {
		dkey(b, &open, "volumes");
		lk_obuf_put(b, "[", 1);
		put_volume_objs(b, f);
		lk_obuf_put(b, "]", 1);
	}
	dfield(b, &open, "created", lk_json_get(inspect, "Created"));
	if (started != NULL) {
		dkey(b, &open, "started");
		lk_json_put_str(b, started, n);
	}
	if (f->health != NULL) {
		dkey(b, &open, "health");
		lk_json_put_str(b, f->health, strlen(f->health));
	}
	if (open)
		lk_obuf_put(b, "}", 1);
}

int lk_shape_generic(struct lk_obuf *b, const struct lk_jval *list_item,
		     const struct lk_jval *inspect, const struct lk_shape_opts *o)
{
	struct facts f;

	if (gather(&f, list_item, inspect) != 0)
		return -EINVAL;
	put_head(b, &f, NULL);
	put_field_z(b, "status", f.status);
	put_agent_watcher(b, o);
	put_image_generic(b, &f, inspect, list_item);
	lk_obuf_puts(b, ",\"updateAvailable\":false,\"updateKind\":\"unknown\"");
	if (n_labels(&f) != 0) {
		put_key(b, "labels");
		put_labels(b, &f);
	}
	put_details_generic(b, &f, inspect, list_item);
	lk_obuf_put(b, "}", 1);
	return 0;
}

/* ---- watcher and trigger descriptors ------------------------------------- */

void lk_shape_watcher(struct lk_obuf *b)
{
	/* transport/execution/events: Drydock runs its own watcher and update
	 * trigger through our Docker proxy (spec 7.2); without them it calls
	 * POST /api/watchers/..., which is 501 here. */
	lk_obuf_puts(b, "{\"type\":\"" LK_SHAPE_WATCHER "\",\"name\":\"" LK_SHAPE_WATCHER
			"\",\"configuration\":{\"description\":\"Watches Docker containers for "
			"updates via Docker Engine API\",\"capabilities\":[\"container-sync\","
			"\"labels\"],\"transport\":\"docker-api\",\"execution\":\"controller\","
			"\"events\":\"portwing\"}}");
}

void lk_shape_watchers(struct lk_obuf *b)
{
	lk_obuf_put(b, "[", 1);
	lk_shape_watcher(b);
	lk_obuf_put(b, "]", 1);
}

void lk_shape_triggers(struct lk_obuf *b)
{
	lk_obuf_puts(b, "[]");
}
