/* auth/audit.h - the audit log (spec lookout-core 11 and 16): one JSON object
 * per line to AUDIT_LOG, written off the ring threads.
 *
 * Line format (Go slog's JSON handler, which the reference used), fields in
 * this order, each one present only when the record sets it:
 *
 *   {"time":"2026-01-15T10:23:45.123456789Z","level":"INFO","msg":"",
 *    "event":"api_request","actor":"203.0.113.42","method":"POST",
 *    "path":"/_lookout/compose","operation":..,"stack":..,"container":..,
 *    "exec_id":..,"key_id":..,"outcome":"allowed","status":200,
 *    "duration_ms":3.14,"credential":..,"reason":..,"truncated":true}
 *
 * time is UTC RFC 3339 with the nanoseconds' trailing zeros trimmed (as
 * core/log.h), taken when the record is emitted. That one order reproduces
 * every per-event field order of spec 11 (api_request: actor, method, path,
 * outcome, status, duration_ms; compose_op: actor, operation, stack,
 * outcome; exec_start: actor, container, exec_id, outcome; enrollment:
 * actor, key_id, outcome). status and duration_ms belong to api_request
 * only. credential and reason are Lookout additions (which credential kind
 * authenticated or failed, and the failure reason of spec 6.4 / 16, e.g.
 * "replay"); "truncated":true says a value was shortened to keep the line
 * under LK_AUDIT_LINE_MAX.
 *
 * What never reaches the file (the log is read by more people than the
 * secrets are meant for):
 * - Headers. A record has named fields only; there is no way to hand it a
 *   header block, so tokens, signatures and X-Registry-Auth cannot leak
 *   through it.
 * - Query strings. path is cut at its first '?' (spec 11 logs the path
 *   without query): queries carry values such as /build?buildargs=... that
 *   may hold secrets. The path is kept as sent (percent-escapes intact),
 *   unlike the reference's decoded path: the escaped form tells
 *   /containers/a%2Fb from /containers/a/b, which is what an auditor needs.
 * - URL credentials. An actor that is a URL (edge mode: DRYDOCK_URL) loses
 *   its userinfo ("https://u:p@host/" is logged as "https://host/").
 * - Line breaks and control bytes: every value goes through JSON string
 *   escaping (CR/LF become \r \n, spec 16 "Sanitize"), invalid UTF-8 becomes
 *   \ufffd, so a value can neither end a line nor forge another record.
 *
 * Threads (DESIGN: file I/O never on a ring thread):
 * - Each producer (a worker thread, or any other thread given its own index)
 *   formats its record on its stack and copies it into its own bounded
 *   single-producer/single-consumer byte ring. A full ring drops the record
 *   and counts it; lk_audit_emit never blocks and never makes a syscall
 *   except, at most once per writer sleep, an eventfd write to wake it.
 * - One writer thread drains every ring into the sink with write(2). A write
 *   that fails is counted and retried later (with a backoff from 10 ms to
 *   1 s): the bytes stay in the ring, so records are lost only when the ring
 *   fills meanwhile, and those are counted as dropped. Pipes, terminals and
 *   sockets get whole lines of at most PIPE_BUF bytes per write (so lines
 *   from other writers to the same stdout never interleave with ours) after
 *   a poll for writability, which keeps the writer responsive to stop even
 *   when nobody reads the pipe; regular files get everything at once.
 * - Wake-up protocol: the writer announces it is about to sleep (sleeping =
 *   1), re-checks every ring, then sleeps on the eventfd; a producer that
 *   publishes a record and finds sleeping set claims it (exchange to 0) and
 *   writes the eventfd. Both sides use seq_cst for publish/check, so either
 *   the writer sees the record or the producer sees the flag (no lost
 *   wake-up); a 1 s idle poll is the safety net.
 * Memory orders: ring head is stored by its producer (seq_cst, releasing the
 * bytes) and loaded by the writer (seq_cst, acquiring them); ring tail is
 * stored by the writer (release: it is done with the bytes) and loaded by the
 * producer (acquire). Counters are relaxed. */
#ifndef LK_AUTH_AUDIT_H
#define LK_AUTH_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* LK_AUDIT_LINE_MAX is the longest line, newline included: PIPE_BUF (checked
 * in audit.c), the largest write a pipe keeps whole. Field caps make every
 * record fit; longer values are shortened and flagged "truncated". */
#define LK_AUDIT_LINE_MAX 4096
/* LK_AUDIT_RING_DEFAULT is the per-producer ring size when 0 is asked for:
 * about 250 typical records, or 16 of the largest. */
#define LK_AUDIT_RING_DEFAULT (64 * 1024)
/* Ring sizes are rounded up to a power of two within these bounds. */
#define LK_AUDIT_RING_MIN (2 * LK_AUDIT_LINE_MAX)
#define LK_AUDIT_RING_MAX (64u << 20)
/* LK_AUDIT_PRODUCERS_MAX bounds the producer count (workers + helpers). */
#define LK_AUDIT_PRODUCERS_MAX 256
/* LK_AUDIT_STOP_MS bounds how long lk_audit_stop keeps draining. */
#define LK_AUDIT_STOP_MS 1000

/* enum lk_audit_event is what happened (spec 11 table). */
enum lk_audit_event {
	LK_AUDIT_EVENT_API_REQUEST,  /* request passed (or needed no) authentication */
	LK_AUDIT_EVENT_AUTH_FAILURE, /* token or Ed25519 failure, or no credentials */
	LK_AUDIT_EVENT_RATE_LIMITED, /* refused by the failed-auth limiter */
	LK_AUDIT_EVENT_ENROLLMENT,   /* enrollment attempt that reached the token check */
	LK_AUDIT_EVENT_EXEC_START,   /* exec hijack begins */
	LK_AUDIT_EVENT_COMPOSE_OP,   /* a compose operation finished */
	LK_AUDIT_EVENT__COUNT
};

/* enum lk_audit_outcome is the record's outcome field. */
enum lk_audit_outcome {
	LK_AUDIT_OUTCOME_ALLOWED,
	LK_AUDIT_OUTCOME_DENIED,
	LK_AUDIT_OUTCOME_ERROR,
	LK_AUDIT_OUTCOME__COUNT
};

/* struct lk_audit_rec is one record; every pointer is borrowed for the call.
 * Strings are NUL-terminated unless a length is given; NULL omits the field,
 * except actor, which is always written (NULL as ""; spec 11 writes "" when
 * authentication is disabled). Any bytes are accepted: values are escaped,
 * and shortened to fixed caps (actor 256, method 64, path 1536, others 160
 * bytes of JSON). Build it with designated initializers so unset fields are
 * NULL. */
struct lk_audit_rec {
	enum lk_audit_event event;
	enum lk_audit_outcome outcome;
	const char *actor;     /* client IP (auth/clientip.h), or the edge URL */
	const char *method;    /* HTTP method */
	size_t method_len;     /* bytes of method; 0 = NUL-terminated */
	const char *path;      /* request target as sent; cut at its first '?' */
	size_t path_len;       /* bytes of path; 0 = NUL-terminated */
	const char *operation; /* compose_op: the operation */
	const char *stack;     /* compose_op: the stack name */
	const char *container; /* exec_start: container id or name */
	const char *exec_id;   /* exec_start: exec id */
	const char *key_id;    /* Ed25519 key id (enrollment: "" when denied) */
	const char *cred;      /* written as "credential": token, argon2id, ed25519 .. */
	const char *reason;    /* failure reason */
	int status;            /* api_request: HTTP status; 0 when Docker's never came */
	double duration_ms;    /* api_request: handling time */
};

/* struct lk_audit_stats are running totals since lk_audit_new. */
struct lk_audit_stats {
	uint64_t written;       /* lines fully written to the sink */
	uint64_t dropped;       /* records lost: ring full at emit, or unwritten at stop */
	uint64_t write_errors;  /* failed write(2) calls (each retried later) */
	uint64_t reopens;       /* successful reopens of a file sink */
	uint64_t reopen_errors; /* reopens that failed (the old file stays in use) */
};

struct lk_audit; /* opaque */

/* lk_audit_new opens the sink and allocates n_producers rings of ring_bytes
 * each (0 = LK_AUDIT_RING_DEFAULT; rounded up to a power of two, at least
 * LK_AUDIT_RING_MIN). sink (borrowed) is "stdout" or "-" (fd 1), "stderr"
 * (fd 2), or a file path opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC with mode
 * 0600 when created. Returns the log, not yet writing (see lk_audit_start),
 * or NULL with a message in err (NUL-terminated when err_len > 0):
 * - sink NULL or "": err is "" and the caller runs without an audit log
 *   (spec 11: unset or empty AUDIT_LOG disables it);
 * - "AUDIT_LOG: cannot open <path>: <strerror>" when the file cannot be
 *   opened, or another "AUDIT_LOG: ..." text for bad sizes or no memory.
 * Boot-time only (opens files, allocates). */
struct lk_audit *lk_audit_new(const char *sink, unsigned n_producers, size_t ring_bytes,
			      char *err, size_t err_len);

/* lk_audit_start spawns the writer thread (all signals blocked in it, so
 * SIGHUP and friends stay with the main thread). Returns 0 or -errno. Call
 * it once. Records emitted before it wait in the rings. */
int lk_audit_start(struct lk_audit *a);

/* lk_audit_stop asks the writer to drain every ring and exit, and joins it.
 * Draining stops after LK_AUDIT_STOP_MS even if the sink does not take the
 * bytes (a stalled pipe, a full disk): what is left is counted as dropped.
 * The join itself is bounded too: a writer stuck in a write(2) that poll
 * cannot guard (a hung file system) is cancelled, or abandoned as a last
 * resort (lk_audit_free then leaks the log rather than free memory a live
 * thread uses). Call after the producers have stopped emitting; records
 * emitted later are never written. Safe when not started, and twice. */
void lk_audit_stop(struct lk_audit *a);

/* lk_audit_free stops the writer if needed, closes a file sink and frees a.
 * Accepts NULL. */
void lk_audit_free(struct lk_audit *a);

/* lk_audit_emit formats record r (borrowed) and queues it in producer's
 * ring. producer must be below the n_producers given to lk_audit_new, and
 * each index must be used by one thread at a time. Returns 0, or -ENOBUFS
 * when the ring is full: the record is dropped and counted. Never blocks,
 * never allocates, never calls back; safe on ring threads. a may be NULL (no
 * audit log), which returns 0 and does nothing. */
int lk_audit_emit(struct lk_audit *a, unsigned producer, const struct lk_audit_rec *r);

/* lk_audit_reopen asks the writer to reopen a file sink by its path at its
 * next iteration (for logrotate-style rename + SIGHUP): lines still queued
 * go to the new file. No-op for stdout/stderr. It only sets a flag and
 * writes the eventfd, so it is async-signal-safe too; meant for the main
 * thread's signal loop. */
void lk_audit_reopen(struct lk_audit *a);

/* lk_audit_stats copies the running totals into *out. Any thread. */
void lk_audit_stats(const struct lk_audit *a, struct lk_audit_stats *out);

/* lk__audit_format_time writes ts as the time field's text (no quotes, no
 * NUL) to out, which must hold 40 bytes, and returns its length. Civil
 * calendar arithmetic rather than gmtime_r(3): glibc takes a process-wide
 * lock in gmtime_r, and this runs on ring threads. Exposed for tests. */
size_t lk__audit_format_time(char *out, const struct timespec *ts);

#endif /* LK_AUTH_AUDIT_H */
