/* auth/audit.c - the audit log (see audit.h for the line format, what is
 * kept out of it, the threads and the memory orders). */
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/audit.h"
#include "core/buf.h"
#include "core/dbg.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"

/* Caps on each value's JSON form (quotes included). */
#define CAP_ACTOR 256
#define CAP_METHOD 64
#define CAP_PATH 1536
#define CAP_FIELD 160 /* operation, stack, container, exec_id, key_id, credential, reason */
#define N_CAP_FIELD 7
/* Everything else on a line, counted generously: keys and punctuation
 * (about 200 bytes), time (at most 30), event, outcome, status (11),
 * duration (at most 24), the truncated flag and the newline. */
#define FIXED_MAX 512
/* Raw actor bytes looked at when a URL's userinfo is taken out. */
#define ACTOR_RAW_MAX 512

LK_STATIC_ASSERT(LK_AUDIT_LINE_MAX <= PIPE_BUF, "an audit line must be one atomic pipe write");
LK_STATIC_ASSERT(FIXED_MAX + CAP_ACTOR + CAP_METHOD + CAP_PATH + N_CAP_FIELD * CAP_FIELD <=
			 LK_AUDIT_LINE_MAX,
		 "the field caps must keep every record within LK_AUDIT_LINE_MAX");
LK_STATIC_ASSERT((LK_AUDIT_RING_MIN & (LK_AUDIT_RING_MIN - 1)) == 0, "ring sizes are 2^n");

#define POLL_MS 100        /* wait for a pipe/socket sink to become writable */
#define IDLE_MS 1000       /* safety-net wake-up of an idle writer */
#define BACKOFF_MIN_MS 10  /* first retry after a failed write */
#define BACKOFF_MAX_MS 1000
#define JOIN_SLACK_MS 1000 /* extra time lk_audit_stop gives the writer to exit */

static const char *const event_names[LK_AUDIT_EVENT__COUNT] = {
	[LK_AUDIT_EVENT_API_REQUEST] = "api_request",
	[LK_AUDIT_EVENT_AUTH_FAILURE] = "auth_failure",
	[LK_AUDIT_EVENT_RATE_LIMITED] = "rate_limited",
	[LK_AUDIT_EVENT_ENROLLMENT] = "enrollment",
	[LK_AUDIT_EVENT_EXEC_START] = "exec_start",
	[LK_AUDIT_EVENT_COMPOSE_OP] = "compose_op",
};

static const char *const outcome_names[LK_AUDIT_OUTCOME__COUNT] = {
	[LK_AUDIT_OUTCOME_ALLOWED] = "allowed",
	[LK_AUDIT_OUTCOME_DENIED] = "denied",
	[LK_AUDIT_OUTCOME_ERROR] = "error",
};

/* struct ring is one producer's SPSC byte ring of whole lines. head and tail
 * count bytes since creation (they never wrap in practice: 2^64 bytes), so
 * head - tail is the fill level. The producer's and the writer's words sit
 * on separate cache lines. */
struct ring {
	_Alignas(64) _Atomic uint64_t head; /* bytes published; stored by the producer */
	_Atomic uint64_t dropped;           /* records refused; stored by the producer */
	char *mem;                          /* ring_size bytes; fixed after lk_audit_new */
	_Alignas(64) _Atomic uint64_t tail; /* bytes written out; stored by the writer */
};

struct lk_audit {
	struct ring *rings;
	unsigned n_rings;
	size_t ring_size; /* a power of two */
	char *path;       /* file sink, for reopen; NULL for stdout/stderr */
	int fd;           /* the sink; the writer thread's once started */
	bool own_fd;      /* fd is ours to close */
	bool chunked;     /* not a regular file: poll, then whole lines <= PIPE_BUF */
	int efd;          /* eventfd that wakes the writer */
	pthread_t thread;
	bool started, joined, abandoned; /* main-thread lifecycle state */

	_Alignas(64) _Atomic int sleeping; /* the writer is (about to be) asleep */
	_Atomic bool stop_req;
	_Atomic bool reopen_req;
	/* stored by the writer only */
	_Atomic uint64_t written, write_errors, reopens, reopen_errors, lost;
};

/* ---- formatting (producer side) ----------------------------------------- */

static size_t put_digits(char *p, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return (size_t)width;
}

/* civil_from_days converts days since 1970-01-01 to a proleptic Gregorian
 * date (Howard Hinnant's algorithm: 400-year eras of 146097 days). */
static void civil_from_days(int64_t days, int64_t *out_y, unsigned *out_m, unsigned *out_d)
{
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*out_d = doy - (153 * mp + 2) / 5 + 1;
	*out_m = mp < 10 ? mp + 3 : mp - 9;
	*out_y = (int64_t)yoe + era * 400 + (*out_m <= 2);
}

size_t lk__audit_format_time(char *out, const struct timespec *ts)
{
	int64_t days = ts->tv_sec / 86400, sod = ts->tv_sec % 86400, y;
	unsigned m, d;
	long ns = ts->tv_nsec;
	size_t n = 0;

	if (sod < 0) {
		sod += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	/* RFC 3339 has four-digit years; a clock outside them is clamped
	 * rather than asserted on (the clock is not ours to trust). */
	n += put_digits(out + n, (unsigned)LK_MIN(LK_MAX(y, 0), 9999), 4);
	out[n++] = '-';
	n += put_digits(out + n, m, 2);
	out[n++] = '-';
	n += put_digits(out + n, d, 2);
	out[n++] = 'T';
	n += put_digits(out + n, (unsigned)(sod / 3600), 2);
	out[n++] = ':';
	n += put_digits(out + n, (unsigned)(sod / 60 % 60), 2);
	out[n++] = ':';
	n += put_digits(out + n, (unsigned)(sod % 60), 2);
	if (ns > 0 && ns < 1000000000) {
		int digits = 9;

		while (ns % 10 == 0) {
			ns /= 10;
			digits--;
		}
		out[n++] = '.';
		n += put_digits(out + n, (unsigned)ns, digits);
	}
	out[n++] = 'Z';
	LK_DASSERT(n <= 30);
	return n;
}

/* put_value appends ,"key":"<s[0..n) escaped>" with the JSON form capped at
 * cap bytes, and sets *cut when that shortened it. */
static void put_value(struct lk_obuf *b, const char *key, const char *s, size_t n, size_t cap,
		      bool *cut)
{
	lk_obuf_puts(b, ",\"");
	lk_obuf_puts(b, key);
	lk_obuf_puts(b, "\":");
	if (lk_json_put_str_max(b, s, n, cap) < n)
		*cut = true;
}

static void put_opt(struct lk_obuf *b, const char *key, const char *s, bool *cut)
{
	if (s != NULL)
		put_value(b, key, s, strlen(s), CAP_FIELD, cut);
}

/* put_actor appends the actor; a URL loses its userinfo ("scheme://u:p@h/"
 * -> "scheme://h/"), because DRYDOCK_URL may carry credentials. */
static void put_actor(struct lk_obuf *b, const char *s, bool *cut)
{
	char raw[ACTOR_RAW_MAX];
	size_t n = s != NULL ? strlen(s) : 0, pre, post;
	const char *sep = n > 0 ? memmem(s, n, "://", 3) : NULL, *host = NULL, *at = NULL;

	if (sep != NULL) {
		host = sep + 3;
		at = memrchr(host, '@', strcspn(host, "/?#"));
	}
	if (at == NULL) {
		put_value(b, "actor", s, n, CAP_ACTOR, cut);
		return;
	}
	pre = LK_MIN((size_t)(host - s), sizeof(raw));
	post = (size_t)(s + n - (at + 1));
	if (pre + post > sizeof(raw)) {
		post = sizeof(raw) - pre;
		*cut = true;
	}
	memcpy(raw, s, pre);
	memcpy(raw + pre, at + 1, post);
	put_value(b, "actor", raw, pre + post, CAP_ACTOR, cut);
}

/* format_record writes r as one line; the caps guarantee it fits. */
static void format_record(struct lk_obuf *b, const struct lk_audit_rec *r)
{
	char tbuf[40];
	struct timespec ts;
	bool cut = false;

	LK_ASSERT((unsigned)r->event < LK_AUDIT_EVENT__COUNT);
	LK_ASSERT((unsigned)r->outcome < LK_AUDIT_OUTCOME__COUNT);
	clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no syscall, no lock */
	lk_obuf_puts(b, "{\"time\":\"");
	lk_obuf_put(b, tbuf, lk__audit_format_time(tbuf, &ts));
	lk_obuf_puts(b, "\",\"level\":\"INFO\",\"msg\":\"\",\"event\":\"");
	lk_obuf_puts(b, event_names[r->event]);
	lk_obuf_puts(b, "\"");
	put_actor(b, r->actor, &cut);
	if (r->method != NULL) {
		size_t n = r->method_len != 0 ? r->method_len : strlen(r->method);

		put_value(b, "method", r->method, n, CAP_METHOD, &cut);
	}
	if (r->path != NULL) {
		size_t n = r->path_len != 0 ? r->path_len : strlen(r->path);
		const char *q = memchr(r->path, '?', n);

		if (q != NULL)
			n = (size_t)(q - r->path);
		put_value(b, "path", r->path, n, CAP_PATH, &cut);
	}
	put_opt(b, "operation", r->operation, &cut);
	put_opt(b, "stack", r->stack, &cut);
	put_opt(b, "container", r->container, &cut);
	put_opt(b, "exec_id", r->exec_id, &cut);
	put_opt(b, "key_id", r->key_id, &cut);
	lk_obuf_puts(b, ",\"outcome\":\"");
	lk_obuf_puts(b, outcome_names[r->outcome]);
	lk_obuf_puts(b, "\"");
	if (r->event == LK_AUDIT_EVENT_API_REQUEST) {
		lk_obuf_puts(b, ",\"status\":");
		lk_obuf_put_i64(b, r->status);
		lk_obuf_puts(b, ",\"duration_ms\":");
		lk_json_put_f64(b, r->duration_ms);
	}
	put_opt(b, "credential", r->cred, &cut);
	put_opt(b, "reason", r->reason, &cut);
	if (cut)
		lk_obuf_puts(b, ",\"truncated\":true");
	lk_obuf_puts(b, "}\n");
	LK_ASSERT(!b->overflow);
	/* escaping leaves the final newline as the only one: lines are framed */
	LK_DASSERT(memchr(b->data, '\n', b->len - 1) == NULL);
}

/* ---- the rings ------------------------------------------------------------ */

static void wake(struct lk_audit *a)
{
	/* Cannot block: EFD_NONBLOCK, and the counter never nears 2^64. */
	(void)eventfd_write(a->efd, 1);
}

/* push copies one line into r and publishes it, or counts it as dropped. */
static int push(struct lk_audit *a, struct ring *r, const char *line, size_t len)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	size_t off = head & (a->ring_size - 1), first;

	LK_DASSERT(head - tail <= a->ring_size);
	if (a->ring_size - (head - tail) < len) {
		uint64_t d = atomic_load_explicit(&r->dropped, memory_order_relaxed);

		atomic_store_explicit(&r->dropped, d + 1, memory_order_relaxed);
		return -ENOBUFS;
	}
	first = LK_MIN(len, a->ring_size - off);
	memcpy(r->mem + off, line, first);
	memcpy(r->mem, line + first, len - first);
	/* seq_cst, not just release: with the load of sleeping below it forms
	 * the store-then-load pair that the writer mirrors in writer_idle. */
	atomic_store(&r->head, head + len);
	if (atomic_load(&a->sleeping) != 0 && atomic_exchange(&a->sleeping, 0) != 0)
		wake(a);
	return 0;
}

int lk_audit_emit(struct lk_audit *a, unsigned producer, const struct lk_audit_rec *r)
{
	char line[LK_AUDIT_LINE_MAX];
	struct lk_obuf b;

	if (a == NULL)
		return 0;
	LK_ASSERT(producer < a->n_rings);
	lk_obuf_init(&b, line, sizeof(line));
	format_record(&b, r);
	return push(a, &a->rings[producer], line, b.len);
}

/* ---- the writer thread ------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void counter_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static bool is_regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static size_t count_nl(const char *p, size_t n)
{
	size_t lines = 0;
	const char *end = p + n;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p++;
	}
	return lines;
}

/* count_iov_nl counts the newlines in the first n bytes of iov[0..2). */
static size_t count_iov_nl(const struct iovec iov[2], size_t n)
{
	size_t first = LK_MIN(n, iov[0].iov_len);

	return count_nl(iov[0].iov_base, first) + count_nl(iov[1].iov_base, n - first);
}

/* span describes the ring bytes [tail, head) as up to two iovecs and returns
 * their length. With chunked, at most PIPE_BUF bytes, cut after a newline:
 * every line is at most LK_AUDIT_LINE_MAX <= PIPE_BUF bytes, so any window
 * of PIPE_BUF bytes from the tail holds a newline. */
static size_t span(const struct lk_audit *a, const struct ring *r, uint64_t tail, uint64_t head,
		   bool chunked, struct iovec iov[2], int *out_cnt)
{
	size_t off = tail & (a->ring_size - 1), len = head - tail, first;

	if (chunked && len > PIPE_BUF) {
		const char *nl;

		len = PIPE_BUF;
		first = LK_MIN(len, a->ring_size - off);
		nl = len > first ? memrchr(r->mem, '\n', len - first) : NULL;
		if (nl != NULL) {
			len = first + (size_t)(nl - r->mem) + 1;
		} else {
			nl = memrchr(r->mem + off, '\n', first);
			LK_ASSERT(nl != NULL);
			len = (size_t)(nl - (r->mem + off)) + 1;
		}
	}
	first = LK_MIN(len, a->ring_size - off);
	iov[0] = (struct iovec){ .iov_base = r->mem + off, .iov_len = first };
	iov[1] = (struct iovec){ .iov_base = r->mem, .iov_len = len - first };
	*out_cnt = len > first ? 2 : 1;
	return len;
}

/* wait_writable returns 0 when the (non-regular) sink can take a write or
 * has an error for write(2) to report, -EAGAIN after POLL_MS without. */
static int wait_writable(const struct lk_audit *a)
{
	struct pollfd p = { .fd = a->fd, .events = POLLOUT };

	if (poll(&p, 1, POLL_MS) <= 0)
		return -EAGAIN;
	return 0;
}

/* write_out writes iov once; only here may a stuck writer be cancelled. */
static ssize_t write_out(const struct lk_audit *a, const struct iovec *iov, int cnt)
{
	ssize_t n;
	int old;

	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
	n = writev(a->fd, iov, cnt);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	return n;
}

/* drain_ring writes r's published lines. Returns 0 when it caught up with
 * the head it saw, -EAGAIN when the sink was not writable, or the -errno of
 * a failed write (counted; the bytes stay for the next try). */
static int drain_ring(struct lk_audit *a, struct ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load(&r->head);

	while (tail != head) {
		struct iovec iov[2];
		int cnt, err;
		size_t len = span(a, r, tail, head, a->chunked, iov, &cnt);
		ssize_t n;

		if (a->chunked && wait_writable(a) != 0)
			return -EAGAIN;
		n = write_out(a, iov, cnt);
		if (n < 0) {
			err = errno;
			if (err == EINTR)
				continue;
			if (err == EAGAIN) {
				/* A non-blocking sink that poll called writable:
				 * nap, so that this cannot turn into a busy loop. */
				(void)poll(NULL, 0, BACKOFF_MIN_MS);
				return -EAGAIN;
			}
			counter_add(&a->write_errors, 1);
			return -err;
		}
		if (n == 0) {
			counter_add(&a->write_errors, 1);
			return -EIO;
		}
		LK_ASSERT((size_t)n <= len);
		counter_add(&a->written, count_iov_nl(iov, (size_t)n));
		tail += (uint64_t)n;
		atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
	return 0;
}

static int drain(struct lk_audit *a)
{
	for (unsigned i = 0; i < a->n_rings; i++) {
		int rc = drain_ring(a, &a->rings[i]);

		if (rc != 0)
			return rc;
	}
	return 0;
}

static bool pending(struct lk_audit *a)
{
	for (unsigned i = 0; i < a->n_rings; i++) {
		struct ring *r = &a->rings[i];

		if (atomic_load(&r->head) != atomic_load_explicit(&r->tail, memory_order_relaxed))
			return true;
	}
	return false;
}

/* sleep_efd waits up to ms for the eventfd and consumes its count. */
static void sleep_efd(struct lk_audit *a, int ms)
{
	struct pollfd p = { .fd = a->efd, .events = POLLIN };
	eventfd_t v;

	(void)poll(&p, 1, ms);
	(void)eventfd_read(a->efd, &v); /* EAGAIN when it was a timeout */
}

/* writer_idle sleeps until a producer, stop or reopen wakes the writer; see
 * the wake-up protocol in audit.h. */
static void writer_idle(struct lk_audit *a)
{
	atomic_store(&a->sleeping, 1);
	if (!pending(a) && !atomic_load(&a->stop_req) && !atomic_load(&a->reopen_req))
		sleep_efd(a, IDLE_MS);
	atomic_store(&a->sleeping, 0);
}

/* reopen_sink replaces the file sink by a fresh open of its path; on failure
 * the old file stays in use. */
static void reopen_sink(struct lk_audit *a)
{
	int fd;

	if (a->path == NULL)
		return;
	fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd == -1) {
		counter_add(&a->reopen_errors, 1);
		LK_LOG(LK_LOG_ERROR, "audit log reopen failed, writing to the old file",
		       LK_LOG_STR("path", a->path), LK_LOG_STR("error", strerror(errno)));
		return;
	}
	close(a->fd);
	a->fd = fd;
	a->chunked = !is_regular(fd);
	counter_add(&a->reopens, 1);
}

/* count_lost adds what is still queued at exit to the dropped total. */
static void count_lost(struct lk_audit *a)
{
	for (unsigned i = 0; i < a->n_rings; i++) {
		struct ring *r = &a->rings[i];
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint64_t head = atomic_load(&r->head);
		struct iovec iov[2];
		int cnt;
		size_t len;

		if (tail == head)
			continue;
		len = span(a, r, tail, head, false, iov, &cnt);
		counter_add(&a->lost, count_iov_nl(iov, len));
	}
}

/* pause_until returns ms, shortened so that a pause ends by deadline. */
static int pause_until(uint64_t deadline, int ms)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)LK_MIN((uint64_t)ms, deadline - now);
}

static void *writer_main(void *arg)
{
	struct lk_audit *a = arg;
	uint64_t deadline = 0;
	int backoff_ms = 0, old;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	for (;;) {
		int rc;

		if (atomic_exchange(&a->reopen_req, false))
			reopen_sink(a);
		if (deadline == 0 && atomic_load(&a->stop_req))
			deadline = now_ms() + LK_AUDIT_STOP_MS;
		rc = drain(a);
		if (deadline != 0 && (rc == 0 || now_ms() >= deadline))
			break;
		if (rc == 0) {
			if (backoff_ms != 0)
				LK_LOG(LK_LOG_WARN, "audit log writes resumed");
			backoff_ms = 0;
			writer_idle(a);
		} else if (rc != -EAGAIN) {
			/* A failed write: retry later, never in a hot loop. Stop
			 * and reopen requests cut the pause short. Logged once
			 * per run of failures (each one is counted). */
			if (backoff_ms == 0)
				LK_LOG(LK_LOG_ERROR, "audit log write failed, retrying",
				       LK_LOG_STR("error", strerror(-rc)));
			backoff_ms = backoff_ms == 0 ? BACKOFF_MIN_MS
						     : LK_MIN(backoff_ms * 2, BACKOFF_MAX_MS);
			sleep_efd(a, deadline != 0 ? pause_until(deadline, backoff_ms)
						   : backoff_ms);
		}
	}
	count_lost(a);
	return NULL;
}

/* ---- lifecycle --------------------------------------------------------------- */

/* open_sink sets a's fd, own_fd, path and chunked for sink. */
static int open_sink(struct lk_audit *a, const char *sink, char *err, size_t err_len)
{
	char ebuf[128];

	if (strcmp(sink, "stdout") == 0 || strcmp(sink, "-") == 0) {
		a->fd = STDOUT_FILENO;
	} else if (strcmp(sink, "stderr") == 0) {
		a->fd = STDERR_FILENO;
	} else {
		a->path = strdup(sink);
		if (a->path == NULL) {
			lk_errf(err, err_len, "AUDIT_LOG: out of memory");
			return -ENOMEM;
		}
		a->fd = open(sink, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
		if (a->fd == -1) {
			int e = errno;

			lk_errf(err, err_len, "AUDIT_LOG: cannot open %s: %s", sink,
			     strerror_r(e, ebuf, sizeof(ebuf)));
			return -e;
		}
		a->own_fd = true;
	}
	a->chunked = !is_regular(a->fd);
	return 0;
}

static size_t ring_size_for(size_t want)
{
	size_t size = LK_AUDIT_RING_MIN;

	while (size < want)
		size *= 2;
	return size;
}

/* alloc_rings allocates n cache-aligned rings of size bytes each. */
static int alloc_rings(struct lk_audit *a, unsigned n, size_t size)
{
	a->rings = aligned_alloc(64, n * sizeof(*a->rings));
	if (a->rings == NULL)
		return -ENOMEM;
	memset(a->rings, 0, n * sizeof(*a->rings));
	a->n_rings = n;
	a->ring_size = size;
	for (unsigned i = 0; i < n; i++) {
		/* Not touched here: pages are faulted in as the ring first
		 * fills, so idle producers cost address space only. */
		a->rings[i].mem = malloc(size);
		if (a->rings[i].mem == NULL)
			return -ENOMEM;
	}
	return 0;
}

struct lk_audit *lk_audit_new(const char *sink, unsigned n_producers, size_t ring_bytes,
			      char *err, size_t err_len)
{
	struct lk_audit *a;
	size_t want = ring_bytes != 0 ? ring_bytes : LK_AUDIT_RING_DEFAULT;

	if (err_len > 0)
		err[0] = '\0';
	if (sink == NULL || sink[0] == '\0')
		return NULL;
	if (n_producers == 0 || n_producers > LK_AUDIT_PRODUCERS_MAX) {
		lk_errf(err, err_len, "AUDIT_LOG: %u producers, want 1..%d", n_producers,
		     LK_AUDIT_PRODUCERS_MAX);
		return NULL;
	}
	if (want > LK_AUDIT_RING_MAX) {
		lk_errf(err, err_len, "AUDIT_LOG: ring of %zu bytes, want at most %u", want,
		     LK_AUDIT_RING_MAX);
		return NULL;
	}
	a = aligned_alloc(64, (sizeof(*a) + 63) / 64 * 64);
	if (a == NULL)
		goto out_nomem;
	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd == -1) {
		char ebuf[128];

		lk_errf(err, err_len, "AUDIT_LOG: eventfd: %s", strerror_r(errno, ebuf, sizeof(ebuf)));
		goto out_free;
	}
	if (alloc_rings(a, n_producers, ring_size_for(want)) != 0)
		goto out_nomem;
	if (open_sink(a, sink, err, err_len) != 0)
		goto out_free;
	return a;

out_nomem:
	lk_errf(err, err_len, "AUDIT_LOG: out of memory");
out_free:
	lk_audit_free(a);
	return NULL;
}

int lk_audit_start(struct lk_audit *a)
{
	sigset_t all, old;
	int rc;

	LK_ASSERT(!a->started);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&a->thread, NULL, writer_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	(void)pthread_setname_np(a->thread, "lk-audit");
	a->started = true;
	return 0;
}

static struct timespec deadline_in(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts); /* pthread_timedjoin_np's clock */
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

void lk_audit_stop(struct lk_audit *a)
{
	struct timespec ts;

	if (a == NULL || !a->started || a->joined)
		return;
	atomic_store(&a->stop_req, true);
	wake(a);
	ts = deadline_in(LK_AUDIT_STOP_MS + JOIN_SLACK_MS);
	if (pthread_timedjoin_np(a->thread, NULL, &ts) != 0) {
		/* Stuck in write(2) beyond poll's reach (a hung file system):
		 * cancel it there (write_out is the only cancellation window). */
		pthread_cancel(a->thread);
		ts = deadline_in(JOIN_SLACK_MS);
		if (pthread_timedjoin_np(a->thread, NULL, &ts) != 0) {
			pthread_detach(a->thread);
			a->abandoned = true;
		}
	}
	a->joined = true;
}

void lk_audit_free(struct lk_audit *a)
{
	if (a == NULL)
		return;
	lk_audit_stop(a);
	if (a->abandoned)
		return; /* a live thread may still touch a: leak it, we are exiting */
	if (a->own_fd && a->fd != -1)
		close(a->fd);
	if (a->efd != -1)
		close(a->efd);
	for (unsigned i = 0; a->rings != NULL && i < a->n_rings; i++)
		free(a->rings[i].mem);
	free(a->rings);
	free(a->path);
	free(a);
}

void lk_audit_reopen(struct lk_audit *a)
{
	if (a == NULL)
		return;
	atomic_store(&a->reopen_req, true);
	wake(a);
}

void lk_audit_stats(const struct lk_audit *a, struct lk_audit_stats *out)
{
	struct lk_audit *m = (struct lk_audit *)a; /* atomics are read only */
	uint64_t dropped = atomic_load_explicit(&m->lost, memory_order_relaxed);

	for (unsigned i = 0; i < a->n_rings; i++)
		dropped += atomic_load_explicit(&m->rings[i].dropped, memory_order_relaxed);
	*out = (struct lk_audit_stats){
		.written = atomic_load_explicit(&m->written, memory_order_relaxed),
		.dropped = dropped,
		.write_errors = atomic_load_explicit(&m->write_errors, memory_order_relaxed),
		.reopens = atomic_load_explicit(&m->reopens, memory_order_relaxed),
		.reopen_errors = atomic_load_explicit(&m->reopen_errors, memory_order_relaxed),
	};
}
