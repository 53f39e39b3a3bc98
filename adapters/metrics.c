/* adapters/metrics.c - Prometheus text exposition and the agent's families.
 *
 * Pure formatting into a bounded buffer: no allocation, no locks, no I/O, so
 * a handler may call it from any thread once it holds the figures. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/host.h"
#include "adapters/metrics.h"
#include "core/buf.h"
#include "core/dbg.h"

static const char *const type_names[LK_PROM_TYPE__COUNT] = {
	[LK_PROM_TYPE_COUNTER] = "counter",	[LK_PROM_TYPE_GAUGE] = "gauge",
	[LK_PROM_TYPE_HISTOGRAM] = "histogram", [LK_PROM_TYPE_SUMMARY] = "summary",
	[LK_PROM_TYPE_UNTYPED] = "untyped",
};

/* ---- names and escaping ------------------------------------------------- */

static bool is_name_char(char c, bool first, bool colon_ok)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (c == ':')
		return colon_ok;
	return !first && c >= '0' && c <= '9';
}

/* is_name checks a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, without
 * colon_ok, a label name ([a-zA-Z_][a-zA-Z0-9_]*). */
static bool is_name(const char *s, bool colon_ok)
{
	if (s == NULL || s[0] == '\0')
		return false;
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (!is_name_char(s[i], i == 0, colon_ok))
			return false;
	}
	return true;
}

static bool is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* utf8_seq returns the length of the well-formed UTF-8 sequence starting
 * p[0..n) (n >= 1), or 0 when p[0] does not start one: overlong forms,
 * surrogates and code points above U+10FFFF are ill-formed, as for Go's
 * utf8.ValidString, which Prometheus applies to label values. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	if (c < 0xe0)
		return n >= 2 && is_cont(p[1]) ? 2 : 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong below U+0800 */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong below U+10000 */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (n < 2 || p[1] < lo || p[1] > hi)
		return 0;
	if (c < 0xf0)
		return n >= 3 && is_cont(p[2]) ? 3 : 0;
	return n >= 4 && is_cont(p[2]) && is_cont(p[3]) ? 4 : 0;
}

/* put_escaped appends s with `\` and newline escaped, `"` too when quoted
 * (label values; HELP text leaves it alone), and each byte that is not
 * well-formed UTF-8 replaced by U+FFFD. Unescaped runs go out in one put. */
static void put_escaped(struct lk_obuf *b, const char *s, bool quoted)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + strlen(s), *run = p;

	while (p < end) {
		const char *rep;
		size_t n;

		if (*p == '\\') {
			rep = "\\\\";
		} else if (*p == '\n') {
			rep = "\\n";
		} else if (*p == '"' && quoted) {
			rep = "\\\"";
		} else if ((n = utf8_seq(p, (size_t)(end - p))) != 0) {
			p += n;
			continue;
		} else {
			rep = "\xef\xbf\xbd";
		}
		lk_obuf_put(b, run, (size_t)(p - run));
		lk_obuf_puts(b, rep);
		run = ++p;
	}
	lk_obuf_put(b, run, (size_t)(p - run));
}

void lk_prom_put_label_value(struct lk_obuf *b, const char *s)
{
	LK_ASSERT(s != NULL);
	put_escaped(b, s, true);
}

/* ---- numbers ------------------------------------------------------------ */

/* shortest_digits writes the significant digits of finite v (sign ignored)
 * into digits, as few as read back to exactly v, and returns how many (at
 * least 1), with the decimal exponent of the first digit in *out_exp. */
static size_t shortest_digits(double v, char digits[static 17], int *out_exp)
{
	char tmp[40];
	const char *p = tmp;
	size_t nd = 0;
	int len = 0, exp = 0, sign = 1;

	/* As lk_json_put_f64: %.17g always round-trips, and for a normal
	 * double whose shortest form has at most 15 digits, %.15g is that form
	 * padded with zeros (the 15-digit grid is finer than the double's
	 * half-ulp), so three tries find the shortest. Subnormals have fewer
	 * bits than that argument needs (5e-324 is one digit), so they try
	 * every precision. */
	for (int prec = fpclassify(v) == FP_SUBNORMAL ? 0 : 14; prec <= 16; prec++) {
		len = snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
		LK_ASSERT(len > 0 && (size_t)len < sizeof(tmp));
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* tmp is "[-]d[.ddd]e[+-]dd[d]", from our own snprintf. */
	if (*p == '-')
		p++;
	for (; *p != 'e'; p++) {
		if (*p == '.')
			continue;
		LK_ASSERT(nd < 17);
		LK_DASSERT(*p >= '0' && *p <= '9');
		digits[nd++] = *p;
	}
	p++;
	if (*p == '-' || *p == '+')
		sign = *p++ == '-' ? -1 : 1;
	for (; *p != '\0'; p++)
		exp = exp * 10 + (*p - '0');
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	*out_exp = sign * exp;
	return nd;
}

void lk_prom_put_f64(struct lk_obuf *b, double v)
{
	char digits[17], out[48];
	size_t nd, o = 0;
	int exp;

	if (isnan(v)) {
		lk_obuf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		lk_obuf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	nd = shortest_digits(v, digits, &exp);
	if (signbit(v))
		out[o++] = '-';
	if (exp < -4 || exp >= 6) {
		/* d[.ddd]e+XX, at least two exponent digits, as Go and C. */
		int n;

		out[o++] = digits[0];
		if (nd > 1) {
			out[o++] = '.';
			memcpy(out + o, digits + 1, nd - 1);
			o += nd - 1;
		}
		n = snprintf(out + o, sizeof(out) - o, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
		LK_ASSERT(n > 0 && (size_t)n < sizeof(out) - o);
		o += (size_t)n;
	} else if (exp >= 0) {
		/* At most 6 integer digits here, padded when digits run out. */
		for (int i = 0; i <= exp; i++)
			out[o++] = (size_t)i < nd ? digits[i] : '0';
		if (nd > (size_t)exp + 1) {
			out[o++] = '.';
			memcpy(out + o, digits + exp + 1, nd - (size_t)exp - 1);
			o += nd - (size_t)exp - 1;
		}
	} else {
		out[o++] = '0';
		out[o++] = '.';
		for (int i = 0; i < -exp - 1; i++)
			out[o++] = '0';
		memcpy(out + o, digits, nd);
		o += nd;
	}
	LK_ASSERT(o <= sizeof(out));
	lk_obuf_put(b, out, o);
}

/* ---- families and samples ----------------------------------------------- */

void lk_prom_family(struct lk_obuf *b, const char *name, const char *help, enum lk_prom_type type)
{
	LK_ASSERT(is_name(name, true));
	LK_ASSERT(help != NULL);
	LK_ASSERT((unsigned)type < LK_PROM_TYPE__COUNT);
	lk_obuf_puts(b, "# HELP ");
	lk_obuf_puts(b, name);
	lk_obuf_puts(b, " ");
	put_escaped(b, help, false);
	lk_obuf_puts(b, "\n# TYPE ");
	lk_obuf_puts(b, name);
	lk_obuf_puts(b, " ");
	lk_obuf_puts(b, type_names[type]);
	lk_obuf_puts(b, "\n");
}

/* put_head appends a sample line up to its value: name and suffix, then the
 * labels and, when le is not NULL, an le label after them, then a space. */
static void put_head(struct lk_obuf *b, const char *name, const char *suffix,
		     const struct lk_prom_label *labels, size_t n_labels, const char *le)
{
	LK_ASSERT(is_name(name, true));
	LK_ASSERT(labels != NULL || n_labels == 0);
	lk_obuf_puts(b, name);
	lk_obuf_puts(b, suffix);
	if (n_labels == 0 && le == NULL) {
		lk_obuf_puts(b, " ");
		return;
	}
	lk_obuf_puts(b, "{");
	for (size_t i = 0; i < n_labels; i++) {
		LK_ASSERT(is_name(labels[i].name, false));
		LK_ASSERT(labels[i].value != NULL);
		if (i > 0)
			lk_obuf_puts(b, ",");
		lk_obuf_puts(b, labels[i].name);
		lk_obuf_puts(b, "=\"");
		put_escaped(b, labels[i].value, true);
		lk_obuf_puts(b, "\"");
	}
	if (le != NULL) {
		lk_obuf_puts(b, n_labels > 0 ? ",le=\"" : "le=\"");
		lk_obuf_puts(b, le);
		lk_obuf_puts(b, "\"");
	}
	lk_obuf_puts(b, "} ");
}

void lk_prom_sample_u64(struct lk_obuf *b, const char *name, const struct lk_prom_label *labels,
			size_t n_labels, uint64_t v)
{
	put_head(b, name, "", labels, n_labels, NULL);
	lk_obuf_put_u64(b, v);
	lk_obuf_puts(b, "\n");
}

void lk_prom_sample_f64(struct lk_obuf *b, const char *name, const struct lk_prom_label *labels,
			size_t n_labels, double v)
{
	put_head(b, name, "", labels, n_labels, NULL);
	lk_prom_put_f64(b, v);
	lk_obuf_puts(b, "\n");
}

void lk_prom_histogram(struct lk_obuf *b, const char *name, const struct lk_prom_label *labels,
		       size_t n_labels, const double *bounds, const uint64_t *counts,
		       size_t n_bounds, double sum)
{
	uint64_t cum = 0;

	LK_ASSERT(counts != NULL);
	LK_ASSERT(bounds != NULL || n_bounds == 0);
	for (size_t i = 0; i < n_labels; i++)
		LK_ASSERT(strcmp(labels[i].name, "le") != 0);
	for (size_t i = 0; i <= n_bounds; i++) {
		char le[48];
		struct lk_obuf lb;

		/* Counts saturate rather than wrap, so buckets stay monotonic. */
		if (__builtin_add_overflow(cum, counts[i], &cum))
			cum = UINT64_MAX;
		if (i == n_bounds) {
			put_head(b, name, "_bucket", labels, n_labels, "+Inf");
		} else {
			LK_ASSERT(isfinite(bounds[i]));
			LK_ASSERT(i == 0 || bounds[i] > bounds[i - 1]);
			lk_obuf_init(&lb, le, sizeof(le) - 1);
			lk_prom_put_f64(&lb, bounds[i]);
			LK_ASSERT(!lb.overflow);
			le[lb.len] = '\0';
			put_head(b, name, "_bucket", labels, n_labels, le);
		}
		lk_obuf_put_u64(b, cum);
		lk_obuf_puts(b, "\n");
	}
	put_head(b, name, "_sum", labels, n_labels, NULL);
	lk_prom_put_f64(b, sum);
	lk_obuf_puts(b, "\n");
	put_head(b, name, "_count", labels, n_labels, NULL);
	lk_obuf_put_u64(b, cum);
	lk_obuf_puts(b, "\n");
}

/* ---- the agent's families ----------------------------------------------- */

/* family_u64 appends a family with its single unlabelled integer sample. */
static void family_u64(struct lk_obuf *b, const char *name, const char *help,
		       enum lk_prom_type type, uint64_t v)
{
	lk_prom_family(b, name, help, type);
	lk_prom_sample_u64(b, name, NULL, 0, v);
}

void lk_metrics_write_host(struct lk_obuf *b, const struct lk_host_snap *snap, double uptime_s,
			   const char *version)
{
	const struct lk_prom_label ver = { "version", version };

	LK_ASSERT(snap != NULL);
	LK_ASSERT(version != NULL);
	lk_prom_family(b, "lookout_build_info", "Lookout agent build metadata.",
		       LK_PROM_TYPE_GAUGE);
	lk_prom_sample_u64(b, "lookout_build_info", &ver, 1, 1);
	lk_prom_family(b, "lookout_uptime_seconds", "Seconds since the agent started.",
		       LK_PROM_TYPE_GAUGE);
	lk_prom_sample_f64(b, "lookout_uptime_seconds", NULL, 0, uptime_s);
	lk_prom_family(b, "lookout_host_cpu_usage_percent", "Host CPU usage percentage.",
		       LK_PROM_TYPE_GAUGE);
	lk_prom_sample_f64(b, "lookout_host_cpu_usage_percent", NULL, 0, snap->cpu_usage);
	family_u64(b, "lookout_host_memory_total_bytes", "Host total memory in bytes.",
		   LK_PROM_TYPE_GAUGE, snap->mem_total);
	family_u64(b, "lookout_host_memory_used_bytes", "Host used memory in bytes.",
		   LK_PROM_TYPE_GAUGE, snap->mem_used);
	family_u64(b, "lookout_host_disk_total_bytes", "Host total disk space in bytes.",
		   LK_PROM_TYPE_GAUGE, snap->disk_total);
	family_u64(b, "lookout_host_disk_used_bytes", "Host used disk space in bytes.",
		   LK_PROM_TYPE_GAUGE, snap->disk_used);
	family_u64(b, "lookout_host_network_receive_bytes_total",
		   "Host network bytes received (all non-lo interfaces).", LK_PROM_TYPE_COUNTER,
		   snap->net_rx);
	family_u64(b, "lookout_host_network_transmit_bytes_total",
		   "Host network bytes transmitted (all non-lo interfaces).", LK_PROM_TYPE_COUNTER,
		   snap->net_tx);
}

enum ctr_family { CTR_CPU, CTR_MEM, CTR_LIMIT, CTR_RX, CTR_TX, CTR__COUNT };

static const struct {
	const char *name;
	const char *help;
	enum lk_prom_type type;
} ctr_families[CTR__COUNT] = {
	[CTR_CPU] = { "container_cpu_usage_seconds_total",
		      "Cumulative CPU time consumed by the container in seconds.",
		      LK_PROM_TYPE_COUNTER },
	[CTR_MEM] = { "container_memory_usage_bytes",
		      "Current memory usage of the container in bytes.", LK_PROM_TYPE_GAUGE },
	[CTR_LIMIT] = { "container_spec_memory_limit_bytes",
			"Memory limit configured for the container in bytes.", LK_PROM_TYPE_GAUGE },
	[CTR_RX] = { "container_network_receive_bytes_total",
		     "Cumulative bytes received by the container across all network interfaces.",
		     LK_PROM_TYPE_COUNTER },
	[CTR_TX] = { "container_network_transmit_bytes_total",
		     "Cumulative bytes transmitted by the container across all network interfaces.",
		     LK_PROM_TYPE_COUNTER },
};

/* ctr_sample appends container c's sample of family f, if it has one. */
static void ctr_sample(struct lk_obuf *b, enum ctr_family f, const struct lk_ctr_stats *c)
{
	const struct lk_prom_label l[3] = {
		{ "id", c->id },
		{ "name", c->name },
		{ "image", c->image },
	};
	const char *name = ctr_families[f].name;

	switch (f) {
	case CTR_CPU:
		/* float64(total_usage) / 1e9, as the reference computes it,
		 * so both print the same text. */
		lk_prom_sample_f64(b, name, l, 3, (double)c->cpu_ns / 1e9);
		break;
	case CTR_MEM:
		lk_prom_sample_u64(b, name, l, 3, c->mem_usage);
		break;
	case CTR_LIMIT:
		if (c->mem_limit != 0)
			lk_prom_sample_u64(b, name, l, 3, c->mem_limit);
		break;
	case CTR_RX:
		lk_prom_sample_u64(b, name, l, 3, c->net_rx);
		break;
	case CTR_TX:
		lk_prom_sample_u64(b, name, l, 3, c->net_tx);
		break;
	default:
		LK_UNREACHABLE();
	}
}

void lk_metrics_write_containers(struct lk_obuf *b, const struct lk_ctr_stats *arr, size_t n)
{
	LK_ASSERT(arr != NULL || n == 0);
	if (n == 0)
		return;
	for (int f = 0; f < CTR__COUNT; f++) {
		lk_prom_family(b, ctr_families[f].name, ctr_families[f].help, ctr_families[f].type);
		for (size_t i = 0; i < n; i++)
			ctr_sample(b, (enum ctr_family)f, &arr[i]);
	}
}
