/* adapters/metrics.h - Prometheus text exposition (format 0.0.4) into a
 * bounded buffer, and the agent's metric families (spec lookout-core 12).
 *
 * The writers append to a struct lk_obuf; like every obuf append, output that
 * does not fit sets the buffer's overflow flag, so a handler writes the whole
 * page and checks once (then answers 500 or retries with a bigger buffer).
 *
 * Text rules (the 0.0.4 format, as Prometheus's own parser reads it):
 * - A family is "# HELP <name> <help>\n# TYPE <name> <type>\n" followed by its
 *   samples; HELP text escapes `\` as `\\` and newline as `\n`.
 * - A sample is `name{k="v",...} value\n`, or `name value\n` without labels.
 *   Label values escape `\` `"` and newline as `\\` `\"` `\n`; they come from
 *   Docker (container names, image references) and so from users, and a byte
 *   that is not valid UTF-8 would make Prometheus reject the whole scrape, so
 *   each such byte is written as U+FFFD instead.
 * - Integers are plain decimal (a u64 counter prints exactly, all 20 digits).
 *   Floats print like Go's strconv.FormatFloat(v, 'g', -1, 64), which the
 *   reference and client_golang use: the shortest digits that read back as
 *   the same double, in exponent form when the decimal exponent is < -4 or
 *   >= 6 (0.1, 12.5, 1.2345675e+06, 1e-05), and `+Inf`, `-Inf`, `NaN`.
 *
 * Metric and label names are our own constants, not peer input: an invalid
 * one is a bug and trips an assertion. */
#ifndef LK_ADAPTERS_METRICS_H
#define LK_ADAPTERS_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct lk_host_snap; /* adapters/host.h */
struct lk_obuf;	     /* core/buf.h */

/* LK_PROM_CONTENT_TYPE is the Content-Type of a page these writers build. */
#define LK_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum lk_prom_type {
	LK_PROM_TYPE_COUNTER,
	LK_PROM_TYPE_GAUGE,
	LK_PROM_TYPE_HISTOGRAM,
	LK_PROM_TYPE_SUMMARY,
	LK_PROM_TYPE_UNTYPED,
	LK_PROM_TYPE__COUNT
};

/* struct lk_prom_label is one label of a sample; both strings borrowed and
 * NUL-terminated. name matches [a-zA-Z_][a-zA-Z0-9_]*; value is any text. */
struct lk_prom_label {
	const char *name;
	const char *value;
};

/* struct lk_ctr_stats is one running container's figures for the container_*
 * families, taken from its list entry and its one-shot stats. The strings
 * are borrowed for the duration of the write. */
struct lk_ctr_stats {
	const char *id;	    /* full ID */
	const char *name;   /* first name without the leading '/', or the ID */
	const char *image;  /* the list's Image field */
	uint64_t cpu_ns;    /* cpu_stats.cpu_usage.total_usage, nanoseconds */
	uint64_t mem_usage; /* memory_stats.usage, bytes */
	uint64_t mem_limit; /* memory_stats.limit, bytes; 0 = no sample */
	uint64_t net_rx;    /* sum of networks.*.rx_bytes */
	uint64_t net_tx;    /* sum of networks.*.tx_bytes */
};

/* ---- exposition primitives --------------------------------------------- */

/* lk_prom_family appends the HELP and TYPE lines that open family name.
 * help is free text (escaped here). Borrows both strings. */
void lk_prom_family(struct lk_obuf *b, const char *name, const char *help, enum lk_prom_type type);

/* lk_prom_sample_u64 appends one sample line of name with labels[0..n_labels)
 * (in that order; labels may be NULL when n_labels is 0) and integer value v.
 * Borrows everything. */
void lk_prom_sample_u64(struct lk_obuf *b, const char *name, const struct lk_prom_label *labels,
			size_t n_labels, uint64_t v);

/* lk_prom_sample_f64 is lk_prom_sample_u64 for a float value. */
void lk_prom_sample_f64(struct lk_obuf *b, const char *name, const struct lk_prom_label *labels,
			size_t n_labels, double v);

/* lk_prom_histogram appends the samples of one histogram series (after its
 * lk_prom_family(..., LK_PROM_TYPE_HISTOGRAM)): name_bucket for each upper
 * bound bounds[0..n_bounds) (finite, strictly increasing) and for le="+Inf",
 * with cumulative counts, then name_sum (sum) and name_count. counts holds
 * n_bounds + 1 per-bucket (not cumulative) counts: counts[i] observations in
 * (bounds[i-1], bounds[i]], counts[n_bounds] those above the last bound.
 * labels must not include "le", which is appended last. Borrows everything. */
void lk_prom_histogram(struct lk_obuf *b, const char *name, const struct lk_prom_label *labels,
		       size_t n_labels, const double *bounds, const uint64_t *counts,
		       size_t n_bounds, double sum);

/* lk_prom_put_f64 appends v in the float format above (no quoting). */
void lk_prom_put_f64(struct lk_obuf *b, double v);

/* lk_prom_put_label_value appends s escaped for use between a label's
 * quotes (without the quotes). Borrows s. */
void lk_prom_put_label_value(struct lk_obuf *b, const char *s);

/* ---- the agent's families (spec lookout-core 12, in output order) ------- */

/* lk_metrics_write_host appends the first nine families: lookout_build_info
 * {version} 1, lookout_uptime_seconds (uptime_s: the agent's, not the
 * host's), then host CPU percent, memory total/used, disk total/used, and
 * network receive/transmit from *snap. Borrows snap and version. */
void lk_metrics_write_host(struct lk_obuf *b, const struct lk_host_snap *snap, double uptime_s,
			   const char *version);

/* lk_metrics_write_containers appends the five container_* families, each
 * with one sample per arr[0..n) in array order, labelled id, name, image.
 * A container whose mem_limit is 0 has no container_spec_memory_limit_bytes
 * sample (the family's HELP and TYPE still appear). n == 0 (no container
 * answered) writes nothing at all. Borrows arr. */
void lk_metrics_write_containers(struct lk_obuf *b, const struct lk_ctr_stats *arr, size_t n);

#endif /* LK_ADAPTERS_METRICS_H */
