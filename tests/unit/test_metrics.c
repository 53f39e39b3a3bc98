/* tests/unit/test_metrics.c - Prometheus text exposition: float and integer
 * spelling, label and HELP escaping (UTF-8 repair included), histograms,
 * the exact text of the host and container families, overflow at every
 * buffer size, and a line-by-line format checker run over a full page. */
#include <float.h>
#include <math.h>
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

#include "adapters/host.h"
#include "adapters/metrics.h"
#include "core/buf.h"

static char mem[1 << 16];
static struct lk_obuf b;

/* reset empties the shared buffer (one byte kept for the terminator). */
static void reset(void)
{
	lk_obuf_init(&b, mem, sizeof(mem) - 1);
}

/* text terminates and returns the shared buffer's contents. */
static const char *text(void)
{
	assert_false(b.overflow);
	mem[b.len] = '\0';
	return mem;
}

static const char *f64(double v)
{
	reset();
	lk_prom_put_f64(&b, v);
	return text();
}

/* ---- a line-by-line 0.0.4 checker --------------------------------------- */

#define NAME_RE	 "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LABEL_RE "[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\[\\\\\"n])*\""
static const char sample_re[] = "^" NAME_RE "(\\{" LABEL_RE "(," LABEL_RE ")*\\})? [^ ]+$";

static bool is_value(const char *s)
{
	char *end;

	if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0)
		return true;
	if (*s == '\0' || strchr("0123456789-+.", *s) == NULL)
		return false; /* strtod would take "inf", "nan", " 1" */
	strtod(s, &end);
	return *end == '\0';
}

/* sample_belongs says whether a sample called name may appear in family fam
 * of type type. */
static bool sample_belongs(const char *name, const char *fam, const char *type)
{
	size_t n = strlen(fam);
	static const char *const hist[] = { "_bucket", "_sum", "_count" };

	if (strcmp(name, fam) == 0)
		return strcmp(type, "histogram") != 0;
	if (strncmp(name, fam, n) != 0 || strcmp(type, "histogram") != 0)
		return false;
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(name + n, hist[i]) == 0)
			return true;
	}
	return false;
}

/* check_page returns NULL when page is a well-formed exposition, else what is
 * wrong with it: every line ends in '\n'; each family is "# HELP" then
 * "# TYPE" for the same, not yet seen name before its samples; every sample
 * line matches sample_re, carries a value Prometheus parses and belongs to
 * the family above it. */
static const char *check_page(const char *page)
{
	static char why[256];
	char fam[128] = "", type[16] = "", seen[64][128], line[4096];
	size_t n_seen = 0;
	enum { NONE, HELPED, TYPED } st = NONE;
	const char *p = page;
	regex_t re;

	assert_int_equal(regcomp(&re, sample_re, REG_EXTENDED | REG_NOSUB), 0);
	why[0] = '\0';
	while (*p != '\0' && why[0] == '\0') {
		const char *nl = strchr(p, '\n');
		size_t len;

		if (nl == NULL) {
			snprintf(why, sizeof(why), "no newline after \"%s\"", p);
			break;
		}
		len = (size_t)(nl - p);
		assert_true(len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			size_t n = strcspn(line + 7, " ");

			if (st == HELPED || n == 0 || n >= sizeof(fam) || line[7 + n] != ' ') {
				snprintf(why, sizeof(why), "bad HELP: %.200s", line);
				break;
			}
			memcpy(fam, line + 7, n);
			fam[n] = '\0';
			for (size_t i = 0; i < n_seen; i++) {
				if (strcmp(seen[i], fam) == 0)
					snprintf(why, sizeof(why), "family twice: %s", fam);
			}
			assert_true(n_seen < 64);
			memcpy(seen[n_seen++], fam, n + 1);
			st = HELPED;
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			size_t n = strlen(fam);
			const char *t = line + 7 + n + 1;

			if (st != HELPED || strncmp(line + 7, fam, n) != 0 || line[7 + n] != ' ' ||
			    (strcmp(t, "counter") != 0 && strcmp(t, "gauge") != 0 &&
			     strcmp(t, "histogram") != 0 && strcmp(t, "summary") != 0 &&
			     strcmp(t, "untyped") != 0)) {
				snprintf(why, sizeof(why), "bad TYPE: %.200s", line);
				break;
			}
			snprintf(type, sizeof(type), "%s", t);
			st = TYPED;
		} else {
			char name[128];
			size_t n = strcspn(line, "{ ");

			if (regexec(&re, line, 0, NULL, 0) != 0 || n >= sizeof(name) ||
			    !is_value(strrchr(line, ' ') + 1)) {
				snprintf(why, sizeof(why), "bad sample: %.200s", line);
				break;
			}
			memcpy(name, line, n);
			name[n] = '\0';
			if (st != TYPED || !sample_belongs(name, fam, type))
				snprintf(why, sizeof(why), "sample outside its family: %.200s", line);
		}
	}
	if (why[0] == '\0' && st == HELPED)
		snprintf(why, sizeof(why), "HELP without TYPE at the end");
	regfree(&re);
	return why[0] == '\0' ? NULL : why;
}

/* The checker must itself reject what it is meant to catch. */
static void test_checker(void **state)
{
	static const char *const bad[] = {
		"# HELP a x\n# TYPE a gauge\na 1",		/* no final newline */
		"a 1\n",					/* sample before HELP */
		"# TYPE a gauge\na 1\n",			/* TYPE without HELP */
		"# HELP a x\na 1\n",				/* sample before TYPE */
		"# HELP a x\n# TYPE b gauge\n",			/* TYPE of another name */
		"# HELP a x\n# TYPE a gauge\nb 1\n",		/* foreign sample */
		"# HELP a x\n# TYPE a gauge\na 1x\n",		/* bad value */
		"# HELP a x\n# TYPE a gauge\na inf\n",		/* Go spells it +Inf */
		"# HELP a x\n# TYPE a gauge\na{k=\"v} 1\n",	/* open quote */
		"# HELP a x\n# TYPE a gauge\na{k=\"\\t\"} 1\n", /* unknown escape */
		"# HELP a x\n# TYPE a gauge\na{1k=\"v\"} 1\n",	/* bad label name */
		"# HELP a x\n# TYPE a gauge\na{k=\"v\",} 1\n",	/* trailing comma */
		"# HELP a x\n# TYPE a gauge\n1a 1\n",		/* bad metric name */
		"# HELP a x\n# TYPE a gauge\na  1\n",		/* two spaces */
		"# HELP a x\n# TYPE a gauge\na_sum 1\n",	/* not a histogram */
		"# HELP a x\n# TYPE a histogram\na 1\n",	/* histogram needs suffix */
		"# HELP a x\n# TYPE a gauge\n# HELP a x\n# TYPE a gauge\n", /* twice */
		"# HELP a x\n# TYPE a weird\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check_page(bad[i]) == NULL)
			fail_msg("checker accepted #%zu: %s", i, bad[i]);
	}
	assert_null(check_page("# HELP a x\n# TYPE a gauge\na 1\na{k=\"\\\\\\\"\\n\"} -2.5e+06\n"));
}

/* ---- numbers ------------------------------------------------------------ */

static void test_f64_spelling(void **state)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		/* Go's strconv.FormatFloat(v, 'g', -1, 64) for each. */
		{ 0, "0" },
		{ 1, "1" },
		{ -2.5, "-2.5" },
		{ 0.1, "0.1" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ 2.0 / 3, "0.6666666666666666" },
		{ 12.5, "12.5" },
		{ 100, "100" },
		{ 123456, "123456" },
		{ 999999, "999999" },
		{ 1e6, "1e+06" },
		{ 1234567.5, "1.2345675e+06" },
		{ 123456789.125, "1.23456789125e+08" },
		{ 9007199254740993.0, "9.007199254740992e+15" },
		{ 1e21, "1e+21" },
		{ 1e100, "1e+100" },
		{ 0.0001, "0.0001" },
		{ 0.000123, "0.000123" },
		{ 0.00001, "1e-05" },
		{ 1.5e-7, "1.5e-07" },
		{ DBL_MAX, "1.7976931348623157e+308" },
		{ -DBL_MAX, "-1.7976931348623157e+308" },
		{ DBL_MIN, "2.2250738585072014e-308" },
		{ 5e-324, "5e-324" },
		{ 4.4501477170144023e-308, "4.4501477170144023e-308" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(f64(cases[i].v), cases[i].want);
	assert_string_equal(f64(-0.0), "-0");
	assert_string_equal(f64(NAN), "NaN");
	assert_string_equal(f64(INFINITY), "+Inf");
	assert_string_equal(f64(-INFINITY), "-Inf");
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* sig_digits counts the significant digits of a number as we print it. */
static size_t sig_digits(const char *s)
{
	char d[64];
	size_t n = 0, i = 0;

	for (; *s != '\0' && *s != 'e'; s++) {
		if (*s >= '0' && *s <= '9')
			d[n++] = *s;
	}
	while (i < n && d[i] == '0')
		i++;
	while (n > i && d[n - 1] == '0')
		n--;
	return n > i ? n - i : 1;
}

/* shortest_len finds by brute force how many significant digits v needs to
 * read back exactly. */
static size_t shortest_len(double v)
{
	char tmp[40];

	for (int p = 0; p < 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p, v);
		if (strtod(tmp, NULL) == v)
			return (size_t)p + 1;
	}
	return 17;
}

/* Every finite double reads back exactly, with the fewest digits that do. */
static void test_f64_round_trip(void **state)
{
	static const double fixed[] = { 0.1,
					1e21,
					123456789.125,
					1e-300,
					3.141592653589793,
					4294967296.0,
					18446744073709551616.0,
					1e15 + 0.3 };
	uint64_t seed = 0x9e3779b97f4a7c15u;

	for (size_t i = 0; i < 50000 + sizeof(fixed) / sizeof(fixed[0]); i++) {
		double v;
		const char *s;

		if (i < sizeof(fixed) / sizeof(fixed[0])) {
			v = fixed[i];
		} else {
			uint64_t bits = xorshift(&seed);

			/* Half random bit patterns (all exponents), half
			 * decimals with few digits (the common case). */
			if (i % 2 == 0)
				memcpy(&v, &bits, sizeof(v));
			else
				v = (double)(bits % 100000000) / 1000.0;
			if (!isfinite(v))
				continue;
		}
		s = f64(v);
		if (strtod(s, NULL) != v)
			fail_msg("%s does not read back as %.17g", s, v);
		if (sig_digits(s) != shortest_len(v))
			fail_msg("%s for %.17g is not the shortest (%zu digits)", s, v,
				 shortest_len(v));
	}
}

static void test_u64_exact(void **state)
{
	reset();
	lk_prom_sample_u64(&b, "big_total", NULL, 0, UINT64_MAX);
	lk_prom_sample_u64(&b, "big_total", NULL, 0, 0);
	lk_prom_sample_u64(&b, "big_total", NULL, 0, 9007199254740993u); /* 2^53 + 1 */
	assert_string_equal(text(), "big_total 18446744073709551615\n"
				    "big_total 0\n"
				    "big_total 9007199254740993\n");
}

/* ---- escaping ----------------------------------------------------------- */

static const char *label(const char *v)
{
	reset();
	lk_prom_put_label_value(&b, v);
	return text();
}

static void test_label_escaping(void **state)
{
	assert_string_equal(label(""), "");
	assert_string_equal(label("plain"), "plain");
	assert_string_equal(label("a\\b"), "a\\\\b");
	assert_string_equal(label("say \"hi\""), "say \\\"hi\\\"");
	assert_string_equal(label("two\nlines\n"), "two\\nlines\\n");
	assert_string_equal(label("\\\"\n"), "\\\\\\\"\\n");
	/* Other control bytes are legal in a label value and pass. */
	assert_string_equal(label("tab\there\r"), "tab\there\r");
	/* Well-formed UTF-8 passes: 2, 3 and 4 byte forms, and the edges. */
	assert_string_equal(label("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
			    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_string_equal(label("\xc2\x80\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"),
			    "\xc2\x80\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf");
}

#define FFFD "\xef\xbf\xbd"

static void test_label_utf8_repair(void **state)
{
	/* One U+FFFD per byte that does not start a well-formed sequence,
	 * as Go's decoder reads them. */
	assert_string_equal(label("a\xff"
				  "b"),
			    "a" FFFD "b");
	assert_string_equal(label("\x80"), FFFD);	   /* lone continuation */
	assert_string_equal(label("\xc0\xaf"), FFFD FFFD); /* overlong '/' */
	assert_string_equal(label("\xc1\xbf"), FFFD FFFD);
	assert_string_equal(label("\xe0\x9f\xbf"), FFFD FFFD FFFD);	     /* overlong 3-byte */
	assert_string_equal(label("\xed\xa0\x80"), FFFD FFFD FFFD);	     /* surrogate */
	assert_string_equal(label("\xf0\x8f\xbf\xbf"), FFFD FFFD FFFD FFFD); /* overlong 4 */
	assert_string_equal(label("\xf4\x90\x80\x80"), FFFD FFFD FFFD FFFD); /* > U+10FFFF */
	assert_string_equal(label("\xf5\x80"), FFFD FFFD);
	assert_string_equal(label("\xe2\x82"), FFFD FFFD); /* truncated at end */
	assert_string_equal(label("\xe2\x82x"), FFFD FFFD "x");
	assert_string_equal(label("\xe2\x82\""), FFFD FFFD "\\\"");
}

static void test_help_escaping(void **state)
{
	reset();
	lk_prom_family(&b, "x_total", "Back\\slash, \"quotes\" stay,\nnew line.",
		       LK_PROM_TYPE_COUNTER);
	assert_string_equal(text(), "# HELP x_total Back\\\\slash, \"quotes\" stay,\\nnew line.\n"
				    "# TYPE x_total counter\n");
	reset();
	lk_prom_family(&b, "ns:x", "", LK_PROM_TYPE_UNTYPED);
	lk_prom_family(&b, "s", "s", LK_PROM_TYPE_SUMMARY);
	lk_prom_family(&b, "h", "h", LK_PROM_TYPE_HISTOGRAM);
	lk_prom_family(&b, "g", "g", LK_PROM_TYPE_GAUGE);
	assert_string_equal(text(), "# HELP ns:x \n# TYPE ns:x untyped\n"
				    "# HELP s s\n# TYPE s summary\n"
				    "# HELP h h\n# TYPE h histogram\n"
				    "# HELP g g\n# TYPE g gauge\n");
}

static void test_samples(void **state)
{
	const struct lk_prom_label two[] = { { "method", "GET" }, { "code", "200" } };
	const struct lk_prom_label esc[] = { { "path", "/a\"b\\c\nd" } };

	reset();
	lk_prom_sample_u64(&b, "req_total", two, 2, 7);
	lk_prom_sample_u64(&b, "req_total", two, 1, 8);
	lk_prom_sample_f64(&b, "lat", NULL, 0, 0.25);
	lk_prom_sample_f64(&b, "lat", esc, 1, NAN);
	lk_prom_sample_f64(&b, "lat", NULL, 0, -INFINITY);
	assert_string_equal(text(), "req_total{method=\"GET\",code=\"200\"} 7\n"
				    "req_total{method=\"GET\"} 8\n"
				    "lat 0.25\n"
				    "lat{path=\"/a\\\"b\\\\c\\nd\"} NaN\n"
				    "lat -Inf\n");
}

/* ---- histograms --------------------------------------------------------- */

static void test_histogram(void **state)
{
	/* The HTTP duration buckets of spec lookout-core 16. */
	static const double bounds[] = { 0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
					 0.25,	0.5,   1,    2.5,   5,	  10 };
	static const uint64_t counts[] = { 1, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 5, 6 };
	const struct lk_prom_label l[] = { { "route", "ping" } };

	reset();
	lk_prom_family(&b, "lookout_http_request_duration_seconds", "Request latency.",
		       LK_PROM_TYPE_HISTOGRAM);
	lk_prom_histogram(&b, "lookout_http_request_duration_seconds", NULL, 0, bounds, counts, 12,
			  12.75);
	lk_prom_histogram(&b, "lookout_http_request_duration_seconds", l, 1, bounds, counts, 2,
			  1e-3);
	assert_string_equal(
	    text(), "# HELP lookout_http_request_duration_seconds Request latency.\n"
		    "# TYPE lookout_http_request_duration_seconds histogram\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"0.001\"} 1\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"0.005\"} 1\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"0.01\"} 3\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"0.025\"} 3\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"0.05\"} 3\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"0.1\"} 6\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"0.25\"} 6\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"0.5\"} 6\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"1\"} 10\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"2.5\"} 10\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"5\"} 10\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"10\"} 15\n"
		    "lookout_http_request_duration_seconds_bucket{le=\"+Inf\"} 21\n"
		    "lookout_http_request_duration_seconds_sum 12.75\n"
		    "lookout_http_request_duration_seconds_count 21\n"
		    /* two bounds: counts[2] is then the overflow bucket */
		    "lookout_http_request_duration_seconds_bucket{route=\"ping\",le=\"0.001\"} 1\n"
		    "lookout_http_request_duration_seconds_bucket{route=\"ping\",le=\"0.005\"} 1\n"
		    "lookout_http_request_duration_seconds_bucket{route=\"ping\",le=\"+Inf\"} 3\n"
		    "lookout_http_request_duration_seconds_sum{route=\"ping\"} 0.001\n"
		    "lookout_http_request_duration_seconds_count{route=\"ping\"} 3\n");
	assert_null(check_page(text()));

	/* No finite bounds, and counts that would wrap: they saturate. */
	{
		static const double big[] = { 1e6 };
		static const uint64_t huge[] = { UINT64_MAX, 1 };

		reset();
		lk_prom_histogram(&b, "h", NULL, 0, NULL, huge, 0, 0);
		lk_prom_histogram(&b, "h", NULL, 0, big, huge, 1, 0);
		assert_string_equal(text(), "h_bucket{le=\"+Inf\"} 18446744073709551615\n"
					    "h_sum 0\n"
					    "h_count 18446744073709551615\n"
					    "h_bucket{le=\"1e+06\"} 18446744073709551615\n"
					    "h_bucket{le=\"+Inf\"} 18446744073709551615\n"
					    "h_sum 0\n"
					    "h_count 18446744073709551615\n");
	}
}

/* ---- the agent's families ----------------------------------------------- */

static const struct lk_host_snap snap = {
	.cpu_usage = 12.5,
	.cpu_cores = 8,
	.mem_total = 16777216000,
	.mem_used = 4194304000,
	.mem_free = 12582912000,
	.disk_total = 1000204886016,
	.disk_used = 250051221504,
	.disk_free = 750153664512,
	.net_rx = 18446744073709551615u,
	.net_tx = 123456789,
	.uptime_s = 86400,
};

static const char host_text[] =
    "# HELP lookout_build_info Lookout agent build metadata.\n"
    "# TYPE lookout_build_info gauge\n"
    "lookout_build_info{version=\"0.1.0\"} 1\n"
    "# HELP lookout_uptime_seconds Seconds since the agent started.\n"
    "# TYPE lookout_uptime_seconds gauge\n"
    "lookout_uptime_seconds 3723.25\n"
    "# HELP lookout_host_cpu_usage_percent Host CPU usage percentage.\n"
    "# TYPE lookout_host_cpu_usage_percent gauge\n"
    "lookout_host_cpu_usage_percent 12.5\n"
    "# HELP lookout_host_memory_total_bytes Host total memory in bytes.\n"
    "# TYPE lookout_host_memory_total_bytes gauge\n"
    "lookout_host_memory_total_bytes 16777216000\n"
    "# HELP lookout_host_memory_used_bytes Host used memory in bytes.\n"
    "# TYPE lookout_host_memory_used_bytes gauge\n"
    "lookout_host_memory_used_bytes 4194304000\n"
    "# HELP lookout_host_disk_total_bytes Host total disk space in bytes.\n"
    "# TYPE lookout_host_disk_total_bytes gauge\n"
    "lookout_host_disk_total_bytes 1000204886016\n"
    "# HELP lookout_host_disk_used_bytes Host used disk space in bytes.\n"
    "# TYPE lookout_host_disk_used_bytes gauge\n"
    "lookout_host_disk_used_bytes 250051221504\n"
    "# HELP lookout_host_network_receive_bytes_total Host network bytes received (all non-lo "
    "interfaces).\n"
    "# TYPE lookout_host_network_receive_bytes_total counter\n"
    "lookout_host_network_receive_bytes_total 18446744073709551615\n"
    "# HELP lookout_host_network_transmit_bytes_total Host network bytes transmitted (all "
    "non-lo interfaces).\n"
    "# TYPE lookout_host_network_transmit_bytes_total counter\n"
    "lookout_host_network_transmit_bytes_total 123456789\n";

static const struct lk_ctr_stats ctrs[] = {
	{
	    .id = "4f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
	    .name = "web",
	    .image = "nginx:1.27",
	    .cpu_ns = 123456789012,
	    .mem_usage = 52428800,
	    .mem_limit = 536870912,
	    .net_rx = 1048576,
	    .net_tx = 2097152,
	},
	{
	    .id = "0123456789ab",
	    .name = "odd\"name\\",
	    .image = "sha256:abc\n",
	    .cpu_ns = 500000000,
	    .mem_usage = 0,
	    .mem_limit = 0, /* unlimited: no limit sample */
	    .net_rx = 0,
	    .net_tx = 18446744073709551615u,
	},
};

#define C0                                                                                         \
	"id=\"4f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\",name=\"web\","    \
	"image=\"nginx:1.27\""
#define C1 "id=\"0123456789ab\",name=\"odd\\\"name\\\\\",image=\"sha256:abc\\n\""

static const char ctr_text[] =
    "# HELP container_cpu_usage_seconds_total Cumulative CPU time consumed by the container in "
    "seconds.\n"
    "# TYPE container_cpu_usage_seconds_total counter\n"
    "container_cpu_usage_seconds_total{" C0 "} 123.456789012\n"
    "container_cpu_usage_seconds_total{" C1 "} 0.5\n"
    "# HELP container_memory_usage_bytes Current memory usage of the container in bytes.\n"
    "# TYPE container_memory_usage_bytes gauge\n"
    "container_memory_usage_bytes{" C0 "} 52428800\n"
    "container_memory_usage_bytes{" C1 "} 0\n"
    "# HELP container_spec_memory_limit_bytes Memory limit configured for the container in "
    "bytes.\n"
    "# TYPE container_spec_memory_limit_bytes gauge\n"
    "container_spec_memory_limit_bytes{" C0 "} 536870912\n"
    "# HELP container_network_receive_bytes_total Cumulative bytes received by the container "
    "across all network interfaces.\n"
    "# TYPE container_network_receive_bytes_total counter\n"
    "container_network_receive_bytes_total{" C0 "} 1048576\n"
    "container_network_receive_bytes_total{" C1 "} 0\n"
    "# HELP container_network_transmit_bytes_total Cumulative bytes transmitted by the "
    "container across all network interfaces.\n"
    "# TYPE container_network_transmit_bytes_total counter\n"
    "container_network_transmit_bytes_total{" C0 "} 2097152\n"
    "container_network_transmit_bytes_total{" C1 "} 18446744073709551615\n";

/* write_page writes the host and container families into ob. */
static void write_page(struct lk_obuf *ob, size_t n_ctrs)
{
	lk_metrics_write_host(ob, &snap, 3723.25, "0.1.0");
	lk_metrics_write_containers(ob, ctrs, n_ctrs);
}

static void test_host_text(void **state)
{
	reset();
	lk_metrics_write_host(&b, &snap, 3723.25, "0.1.0");
	assert_string_equal(text(), host_text);
	assert_null(check_page(text()));

	/* A fresh agent: zeros print as 0, a sub-second uptime as a float. */
	{
		const struct lk_host_snap zero = { 0 };

		reset();
		lk_metrics_write_host(&b, &zero, 0.004, "dev\"build");
		assert_non_null(strstr(text(), "lookout_build_info{version=\"dev\\\"build\"} 1\n"));
		assert_non_null(strstr(text(), "\nlookout_uptime_seconds 0.004\n"));
		assert_non_null(strstr(text(), "\nlookout_host_cpu_usage_percent 0\n"));
		assert_null(check_page(text()));
	}
}

static void test_container_text(void **state)
{
	reset();
	lk_metrics_write_containers(&b, ctrs, 2);
	assert_string_equal(text(), ctr_text);
	assert_null(check_page(text()));

	/* No container answered: not even the HELP lines. */
	reset();
	lk_metrics_write_containers(&b, NULL, 0);
	lk_metrics_write_containers(&b, ctrs, 0);
	assert_int_equal(b.len, 0);

	/* The full page is both parts back to back, and still well formed. */
	reset();
	write_page(&b, 2);
	assert_int_equal(b.len, strlen(host_text) + strlen(ctr_text));
	assert_memory_equal(text(), host_text, strlen(host_text));
	assert_string_equal(text() + strlen(host_text), ctr_text);
	assert_null(check_page(text()));
}

/* ---- overflow ----------------------------------------------------------- */

static void test_overflow(void **state)
{
	static char small[4096];
	struct lk_obuf ob;
	size_t full = strlen(host_text) + strlen(ctr_text);

	lk_obuf_init(&ob, small, 16);
	write_page(&ob, 2);
	assert_true(ob.overflow);
	assert_true(ob.len <= 16);

	/* At every capacity short of the page, overflow is set and what was
	 * written is a prefix of the page; at the exact size it all fits. */
	reset();
	write_page(&b, 2);
	text();
	for (size_t cap = 0; cap <= full; cap++) {
		char *m = malloc(cap + 1);

		assert_non_null(m);
		lk_obuf_init(&ob, m, (uint32_t)cap);
		write_page(&ob, 2);
		assert_true(ob.len <= cap);
		assert_memory_equal(m, mem, ob.len);
		if (cap < full) {
			assert_true(ob.overflow);
		} else {
			assert_false(ob.overflow);
			assert_int_equal(ob.len, full);
		}
		free(m);
	}

	/* Each primitive respects a set flag: nothing more is appended. */
	lk_obuf_init(&ob, small, 4);
	lk_prom_sample_f64(&ob, "lookout_uptime_seconds", NULL, 0, 1.5);
	assert_true(ob.overflow);
	lk_prom_put_f64(&ob, 1);
	lk_prom_put_label_value(&ob, "x");
	assert_int_equal(ob.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker),	       cmocka_unit_test(test_f64_spelling),
		cmocka_unit_test(test_f64_round_trip), cmocka_unit_test(test_u64_exact),
		cmocka_unit_test(test_label_escaping), cmocka_unit_test(test_label_utf8_repair),
		cmocka_unit_test(test_help_escaping),  cmocka_unit_test(test_samples),
		cmocka_unit_test(test_histogram),      cmocka_unit_test(test_host_text),
		cmocka_unit_test(test_container_text), cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
