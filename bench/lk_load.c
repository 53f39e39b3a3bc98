/*
 * lk-load: a closed-loop HTTP/1.1 keep-alive load generator, for measuring
 * small-request throughput and latency through proxies (Lookout, HAProxy,
 * nginx) and against a unix socket directly. Standalone: libc + pthread.
 *
 * Each connection sends a request, reads the whole response (Content-Length,
 * chunked, or until EOF) and sends the next one. One epoll loop per thread,
 * each thread owning its share of the connections, its counters and its
 * latency histogram, so the threads share nothing but the phase flag.
 * With -rate the loop opens: each connection sends at its own schedule
 * (conns/R seconds apart, connections staggered by 1/R), never earlier, and
 * a request's latency starts at its scheduled time, so a stalled server
 * shows as latency instead of as fewer samples (coordinated omission). A
 * per-thread min-heap of waiting connections and a timerfd do the pacing.
 *
 * -hold measures memory per idle connection or stream: N connections each
 * send one request and then sit, idle (keep-alive) or reading and
 * discarding a stream, until stdin closes; lost ones are counted.
 *
 * -sign-key signs every request as `lookout sign` does (same canonical
 * builder, key loader and Ed25519 code, from lk_auth and lk_core): a fresh
 * timestamp and random nonce each time, rendered into the connection's
 * own fixed request buffer.
 *
 * Everything is allocated at start: the request is rendered once, every
 * connection has a fixed input buffer, and latencies go into a log-linear
 * histogram, so the request path never mallocs.
 *
 * TLS (-url https://...) is BoringSSL, driven non-blocking inside the same
 * epoll loop: SSL_ERROR_WANT_READ/WANT_WRITE become the connection's epoll
 * interest, and plaintext that BoringSSL already decrypted but we had no
 * room or rounds for (SSL_pending) is revisited from a per-thread "again"
 * list, because epoll cannot see it. One SSL_CTX per process, no session
 * cache: every (re)opened connection pays a full handshake, and the
 * handshake is never part of a request's latency. BoringSSL is used here
 * directly rather than through core/tls.h, which is the agent's server side.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#if !defined(OPENSSL_IS_BORINGSSL)
#error "lk-load is built against BoringSSL (the bssl target), never OpenSSL"
#endif

#include "auth/keys.h"
#include "auth/sigv.h"
#include "core/crypto.h"

#define REQ_MAX	       (8 * 1024)   /* rendered request bound */
#define HEADERS_MAX    32	    /* -H count bound */
#define IBUF_SIZE      (16 * 1024)  /* response head bound in latency mode */
#define IBUF_STREAM    (256 * 1024) /* read size in stream mode */
#define IBUF_HOLD      (4 * 1024)   /* -hold: response head bound, per connection */
#define SCRATCH_SIZE   (64 * 1024)  /* -hold: per-thread sink for held streams */
#define HOLD_INFLIGHT  256	    /* -hold: connections being set up at once */
#define HOLD_SETUP_SECS 60	    /* -hold: all must be established by then */
#define FD_MARGIN      64	    /* descriptors besides the connections */
#define LINE_MAX_BYTES 1024	    /* chunk-size and trailer line bound */
#define READS_PER_WAKE 16	    /* recv rounds per connection per wakeup */
#define EPOLL_BATCH    256
#define TICK_MS	       10		  /* how soon threads notice a phase change */
#define RETRY_NS       (10 * 1000 * 1000) /* reconnect delay after an error */

#define ERR_MAX	       256 /* first-error description */
#define SIG_HDRS_MAX   512 /* the five signature headers, rendered */

#define RATE_MAX    10000000.0 /* -rate bound, requests/s */
#define NO_HEAP	    UINT32_MAX

#define CONNS_MAX   100000
#define THREADS_MAX 256
#define SECS_MAX    86400

/*
 * Histogram of nanoseconds: values below HIST_SUB are exact; above, each
 * power of two is split into HIST_SUB / 2 linear buckets, so a bucket is
 * at most 1/16 of its value wide (reported at its midpoint: within ~3%).
 * Values are clamped to 2^HIST_MSB_MAX ns (about 18 minutes).
 */
#define HIST_SUB     32
#define HIST_HALF    (HIST_SUB / 2)
#define HIST_MSB_MAX 40
#define HIST_N	     (HIST_SUB + (HIST_MSB_MAX - 4) * HIST_HALF)

enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };

enum cstate {
	C_IDLE,	      /* closed; reopens at retry_ns */
	C_CONNECTING, /* waiting for EPOLLOUT */
	C_HANDSHAKE,  /* TLS handshake, waiting for c->want */
	C_WAIT,	      /* -rate: idle until sched_ns (in the worker's heap) */
	C_SENDING,    /* request partly written, waiting for EPOLLOUT */
	C_HEAD,	      /* reading the response head */
	C_BODY_LEN,   /* Content-Length body */
	C_CHUNK_SIZE,
	C_CHUNK_DATA,
	C_CHUNK_CRLF,
	C_TRAILER,
	C_BODY_EOF, /* no length: the body ends with the connection */
	C_HELD,	    /* -hold: response (or stream head) read; idle or discarding */
	C_LOST	    /* -hold: closed after the ready line; never reopened */
};

/* feed() results */
#define FEED_AGAIN 0
#define FEED_DONE  1
#define FEED_ERROR (-1)
#define FEED_HEAD  2 /* -hold -stream: the head is enough */

/* io_read()/io_write() results besides a byte count (> 0) */
#define IO_EOF	 0
#define IO_AGAIN (-1) /* c->want says which epoll event to wait for */
#define IO_ERROR (-2) /* c->err_what and c->err_no say why */

struct conn {
	int fd;
	enum cstate st;
	bool close_after; /* Connection: close, or HTTP/1.0 */
	bool status_ok;	  /* 2xx */
	unsigned status;
	bool in_again;	  /* on the worker's again list */
	uint32_t events;  /* current epoll interest */
	uint32_t want;	  /* after IO_AGAIN: EPOLLIN or EPOLLOUT */
	SSL *ssl;	  /* TLS, or NULL */
	const char *err_what; /* after IO_ERROR */
	int err_no;
	char *req; /* the request: shared, or its own when signed */
	size_t req_len;
	size_t req_off;
	size_t ilen;
	uint64_t remaining; /* body or chunk bytes left */
	uint64_t sent_ns;  /* latency starts here */
	uint64_t sched_ns; /* -rate: when the next request is due */
	uint64_t ready_ns; /* when the connection (and TLS) last came up */
	uint32_t heap_idx; /* -rate: position in the worker's heap, or NO_HEAP */
	uint64_t retry_ns;
	char *ibuf;
};

struct worker {
	pthread_t tid;
	int epfd;
	unsigned n_conns;
	unsigned n_idle; /* closed connections waiting to reopen */
	struct conn *conns;
	unsigned n_again;
	struct conn **again; /* 2 * n_conns: TLS plaintext epoll cannot see */
	unsigned n_heap;
	struct conn **heap; /* -rate: C_WAIT connections by sched_ns (n_conns) */
	int tfd;	    /* -rate: fires at heap[0]->sched_ns */
	uint64_t armed_ns;
	unsigned inflight;  /* -hold: opened, not yet held */
	unsigned hold_cap;  /* -hold: its share of HOLD_INFLIGHT */
	unsigned held_open; /* -hold: counted at the end */
	char *scratch;	    /* -hold: SCRATCH_SIZE */
	uint64_t reqs, errors, bytes;
	bool have_error;
	char first_error[ERR_MAX];
	uint64_t hist[HIST_N];
};

static struct {
	const char *url;
	const char *cacert;
	const char *unix_path;
	const char *path;
	const char *headers[HEADERS_MAX];
	unsigned n_headers;
	uint32_t conns;
	uint32_t threads;
	uint32_t secs;
	uint32_t warmup_secs;
	double rate; /* requests/s over all connections; 0 = closed loop */
	bool stream;
	bool hold;
	const char *sign_key;
	const char *sign_prefix; /* "X-Lookout-" or "X-Portwing-" */
	uint64_t bytes_max; /* stream mode: stop after this many bytes, 0 = no cap */
	bool conns_set;
} opt = {
	.conns = 64,
	.threads = 1,
	.secs = 5,
	.warmup_secs = 1,
	.sign_prefix = "X-Lookout-",
};

static struct sockaddr_storage target;
static socklen_t target_len;
static char req[REQ_MAX];
static size_t req_len;
static const char *req_target; /* the request target as sent, for signing */
static size_t req_cap;	       /* -sign-key: per-connection request buffer */
static uint8_t sign_priv[LK_ED25519_PRIV_LEN];
static char sign_kid[LK_KEYS_ID_LEN + 1];
static uint8_t empty_sha256[LK_SHA256_LEN];
static size_t ibuf_size;
static uint64_t rate_interval_ns; /* -rate: per connection, conns / rate */

static SSL_CTX *tls_ctx;	/* -url https://: one per process */
static char tls_host[256];	/* the URL's host, for SNI and -cacert checks */
static bool tls_host_is_ip;

static _Atomic int phase;
static _Atomic uint64_t stream_bytes; /* stream mode, for -bytes */
static _Atomic uint64_t stop_ns;      /* set by whoever stops the run */
static _Atomic uint32_t held_total;   /* -hold: connections in C_HELD */
static _Atomic bool hold_ready;	      /* -hold: the ready line is out; losses are final */

static const char usage_text[] =
    "usage: lk-load (-url http://HOST:PORT/PATH | -unix SOCKET -path /PATH) [options]\n"
    "\n"
    "Closed-loop HTTP/1.1 keep-alive load: each connection sends a GET, reads the\n"
    "whole response (Content-Length, chunked or until EOF) and sends the next.\n"
    "Prints one line:\n"
    "  lk-load: reqs=N rps=R p50_us=X p90_us=Y p99_us=Z errors=E conns=C secs=S\n"
    "reqs counts completed responses; errors counts non-2xx responses plus\n"
    "transport errors (refused, reset, EOF mid-response, malformed response).\n"
    "Only the -d seconds after the warmup count. Latency is from the request's\n"
    "first byte sent to the response's last byte read (histogram, within ~3%).\n"
    "With -rate R the line ends in rate=R and latency starts at each request's\n"
    "scheduled send time instead (coordinated-omission corrected: a late send\n"
    "counts its wait), or when its connection was (re)established if later.\n"
    "\n"
    "  -url URL          http://HOST[:PORT]/PATH over TCP, or https://... over\n"
    "                    TLS (1.2 or later, BoringSSL; a full handshake per\n"
    "                    connection, not counted in latency; the certificate\n"
    "                    is not verified unless -cacert is given)\n"
    "  -cacert FILE      with https: verify the agent's certificate against the\n"
    "                    CA certificates (PEM) in FILE and the URL's host name/IP\n"
    "  -unix PATH        unix socket instead of -url\n"
    "  -path /PATH       request path with -unix (default /_ping)\n"
    "  -H 'Name: value'  extra request header, repeatable (max 32); a Host\n"
    "                    header replaces the default one\n"
    "  -c CONNS          connections (default 64; 1 with -stream)\n"
    "  -threads N        threads, connections spread evenly (default 1)\n"
    "  -d SECONDS        measured duration (default 5)\n"
    "  -warmup SECONDS   unmeasured run before it (default 1)\n"
    "  -rate R           open loop at R requests/s in total (latency mode only):\n"
    "                    each connection sends every CONNS/R seconds, starts\n"
    "                    staggered, never before its time; a late response makes\n"
    "                    the next request late, not skipped\n"
    "  -stream           streaming mode: read responses (e.g. logs?follow=1) as\n"
    "                    fast as possible and print instead\n"
    "                    lk-load: stream bytes=B gbps=G secs=S\n"
    "                    (B counts body payload bytes, not chunk framing; a\n"
    "                    response that ends is re-requested)\n"
    "  -bytes N          with -stream: stop once N bytes were read (default 0:\n"
    "                    run for -d seconds)\n"
    "  -hold             open -c connections (at most 256 being set up at once),\n"
    "                    each sends ONE request: without -stream it reads the\n"
    "                    whole response and then stays open idle; with -stream\n"
    "                    it reads the response head and then reads and discards\n"
    "                    whatever arrives. When all are there it prints\n"
    "                      lk-load: hold conns=N ready\n"
    "                    then waits for EOF on stdin or -d seconds, whichever is\n"
    "                    first, and prints\n"
    "                      lk-load: hold conns=N open=M lost=L\n"
    "                    (closed by the peer or failed = lost); exit status 0\n"
    "                    if L is 0, else 1. Not all established within 60 s:\n"
    "                    the reason on stderr, exit status 1\n"
    "  -sign-key FILE    sign every request (also with -hold and -stream) with\n"
    "                    this Ed25519 private key PEM (from lookout keygen), as\n"
    "                    lookout sign does: current timestamp, fresh random\n"
    "                    nonce, signature version 2 over the request target\n"
    "  -sign-family F    header names: lookout (X-Lookout-*, default) or\n"
    "                    portwing (X-Portwing-*)\n"
    "  -h, --help        this text\n"
    "\n"
    "Flags also take the --flag and -flag=VALUE forms. Exit status: 0 after the\n"
    "result line, 1 on a setup error, 2 on a usage error.\n";

/* --- start-up helpers ----------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("lk-load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static void render_request(const char *path, const char *host)
{
	bool have_host = false;
	int n;

	for (unsigned i = 0; i < opt.n_headers; i++)
		if (strncasecmp(opt.headers[i], "host:", 5) == 0)
			have_host = true;
	req_target = path;
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n", path);
	if (n < 0 || (size_t)n >= sizeof(req))
		die("request too long (max %d bytes)", REQ_MAX);
	req_len = (size_t)n;
	if (!have_host) {
		n = snprintf(req + req_len, sizeof(req) - req_len, "Host: %s\r\n", host);
		if (n < 0 || (size_t)n >= sizeof(req) - req_len)
			die("request too long (max %d bytes)", REQ_MAX);
		req_len += (size_t)n;
	}
	for (unsigned i = 0; i <= opt.n_headers; i++) {
		const char *h = i < opt.n_headers ? opt.headers[i] : "";
		n = snprintf(req + req_len, sizeof(req) - req_len, "%s\r\n", h);
		if (n < 0 || (size_t)n >= sizeof(req) - req_len)
			die("request too long (max %d bytes)", REQ_MAX);
		req_len += (size_t)n;
	}
}

/* http://HOST[:PORT]/PATH, HOST a name, an IPv4 address or [IPv6]. */
static void resolve_url(const char *url)
{
	char host[256], port[8] = "80";
	const char *p, *hend, *path;

	if (strncmp(url, "https://", 8) == 0) {
		tls_ctx = (SSL_CTX *)1; /* marker until tls_init() makes it */
		memcpy(port, "443", 4);
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else {
		die("-url: want http[s]://HOST[:PORT]/PATH, got \"%s\"", url);
	}
	path = strchr(p, '/');
	if (path == NULL)
		path = p + strlen(p);
	const char *authority_end = path;
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(authority_end - p));
		if (hend == NULL)
			die("-url: unterminated [");
		p++;
	} else {
		hend = memchr(p, ':', (size_t)(authority_end - p));
		if (hend == NULL)
			hend = authority_end;
	}
	if (hend == p || (size_t)(hend - p) >= sizeof(host))
		die("-url: bad host in \"%s\"", url);
	memcpy(host, p, (size_t)(hend - p));
	host[hend - p] = '\0';
	memcpy(tls_host, host, sizeof(host));
	const char *colon = memchr(hend, ':', (size_t)(authority_end - hend));
	if (colon != NULL) {
		size_t plen = (size_t)(authority_end - colon - 1);
		if (plen == 0 || plen >= sizeof(port))
			die("-url: bad port in \"%s\"", url);
		memcpy(port, colon + 1, plen);
		port[plen] = '\0';
	}

	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	tls_host_is_ip = rc == 0;
	if (rc == 0)
		freeaddrinfo(ai);
	hints.ai_flags = 0;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		die("-url: %s:%s: %s", host, port, gai_strerror(rc));
	memcpy(&target, ai->ai_addr, ai->ai_addrlen);
	target_len = ai->ai_addrlen;
	freeaddrinfo(ai);

	char hosthdr[300];
	const char *mid = p[-1] == '[' ? "[" : "";
	snprintf(hosthdr, sizeof(hosthdr), "%s%s%s%s%s", mid, host, *mid ? "]" : "",
		 colon ? ":" : "", colon ? port : "");
	render_request(*path ? path : "/", hosthdr);
}

static void resolve_unix(const char *path)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&target;

	if (strlen(path) >= sizeof(sun->sun_path))
		die("-unix: path too long");
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	target_len = sizeof(*sun);
	/* Docker's own client sends this Host over the socket. */
	render_request(opt.path ? opt.path : "/_ping", "api.moby.localhost");
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			goto bad;
		a += a[1] == '-' ? 2 : 1;
		if (strcmp(a, "h") == 0 || strcmp(a, "help") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (strcmp(a, "stream") == 0) {
			opt.stream = true;
			continue;
		}
		if (strcmp(a, "hold") == 0) {
			opt.hold = true;
			continue;
		}
		char name[32];
		const char *val;
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
		if (nlen >= sizeof(name))
			goto bad;
		memcpy(name, a, nlen);
		name[nlen] = '\0';
		if (eq != NULL) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "lk-load: %s: missing value\n%s", argv[i], usage_text);
			exit(2);
		}

		uint64_t v;
		if (strcmp(name, "url") == 0) {
			opt.url = val;
		} else if (strcmp(name, "sign-key") == 0) {
			opt.sign_key = val;
		} else if (strcmp(name, "sign-family") == 0) {
			if (strcmp(val, "lookout") == 0)
				opt.sign_prefix = "X-Lookout-";
			else if (strcmp(val, "portwing") == 0)
				opt.sign_prefix = "X-Portwing-";
			else
				die("-sign-family: want lookout or portwing, got \"%s\"", val);
		} else if (strcmp(name, "cacert") == 0) {
			opt.cacert = val;
		} else if (strcmp(name, "unix") == 0) {
			opt.unix_path = val;
		} else if (strcmp(name, "path") == 0) {
			if (val[0] != '/' || strpbrk(val, " \r\n") != NULL)
				die("-path: want /PATH without spaces, got \"%s\"", val);
			opt.path = val;
		} else if (strcmp(name, "H") == 0) {
			if (opt.n_headers == HEADERS_MAX)
				die("-H: at most %d headers", HEADERS_MAX);
			const char *colon = strchr(val, ':');
			if (colon == NULL || colon == val || strpbrk(val, "\r\n") != NULL)
				die("-H: want 'Name: value', got \"%s\"", val);
			opt.headers[opt.n_headers++] = val;
		} else if (strcmp(name, "c") == 0) {
			if (!parse_u64(val, 1, CONNS_MAX, &v))
				die("-c: want an integer in [1, %d], got \"%s\"", CONNS_MAX, val);
			opt.conns = (uint32_t)v;
			opt.conns_set = true;
		} else if (strcmp(name, "threads") == 0) {
			if (!parse_u64(val, 1, THREADS_MAX, &v))
				die("-threads: want an integer in [1, %d], got \"%s\"", THREADS_MAX,
				    val);
			opt.threads = (uint32_t)v;
		} else if (strcmp(name, "d") == 0) {
			if (!parse_u64(val, 1, SECS_MAX, &v))
				die("-d: want an integer in [1, %d], got \"%s\"", SECS_MAX, val);
			opt.secs = (uint32_t)v;
		} else if (strcmp(name, "warmup") == 0) {
			if (!parse_u64(val, 0, SECS_MAX, &v))
				die("-warmup: want an integer in [0, %d], got \"%s\"", SECS_MAX,
				    val);
			opt.warmup_secs = (uint32_t)v;
		} else if (strcmp(name, "rate") == 0) {
			char *end;
			errno = 0;
			double r = strtod(val, &end);
			if (errno != 0 || end == val || *end != '\0' || !(r > 0) || r > RATE_MAX)
				die("-rate: want requests/s in (0, %.0f], got \"%s\"", RATE_MAX, val);
			opt.rate = r;
		} else if (strcmp(name, "bytes") == 0) {
			if (!parse_u64(val, 0, UINT64_MAX / 2, &v))
				die("-bytes: want a non-negative integer, got \"%s\"", val);
			opt.bytes_max = v;
		} else {
			goto bad;
		}
		continue;
	bad:
		fprintf(stderr, "lk-load: unknown argument \"%s\"\n%s", argv[i], usage_text);
		exit(2);
	}
	if ((opt.url == NULL) == (opt.unix_path == NULL)) {
		fprintf(stderr, "lk-load: give exactly one of -url and -unix\n%s", usage_text);
		exit(2);
	}
	if (opt.cacert != NULL && (opt.url == NULL || strncmp(opt.url, "https://", 8) != 0))
		die("-cacert goes with -url https://...");
	if (opt.url != NULL && opt.path != NULL)
		die("-path goes with -unix; with -url the path is part of the URL");
	if (opt.bytes_max != 0 && !opt.stream)
		die("-bytes needs -stream");
	if (opt.rate > 0 && (opt.stream || opt.hold))
		die("-rate is for latency mode, not -stream or -hold");
	if (opt.bytes_max != 0 && opt.hold)
		die("-bytes does not go with -hold");
	if (opt.stream && !opt.hold && !opt.conns_set)
		opt.conns = 1;
	if (opt.threads > opt.conns)
		opt.threads = opt.conns;
}

/* --- histogram ------------------------------------------------------------ */

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	if (v >= (1ull << HIST_MSB_MAX))
		v = (1ull << HIST_MSB_MAX) - 1;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - 4; /* v >> shift is in [HIST_HALF, HIST_SUB) */
	return HIST_SUB + (shift - 1) * HIST_HALF + (unsigned)((v >> shift) - HIST_HALF);
}

/* The midpoint of bucket i, in ns. */
static double hist_value(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	unsigned shift = (i - HIST_SUB) / HIST_HALF + 1;
	uint64_t m = (i - HIST_SUB) % HIST_HALF + HIST_HALF;
	return (double)(m << shift) + (double)(1ull << shift) / 2.0;
}

static double hist_percentile(const uint64_t *h, uint64_t total, double p)
{
	if (total == 0)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)total + 0.999999);
	uint64_t seen = 0;

	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_N; i++) {
		seen += h[i];
		if (seen >= rank)
			return hist_value(i);
	}
	return hist_value(HIST_N - 1);
}

/* --- connections ---------------------------------------------------------- */

static bool measuring(void)
{
	return atomic_load_explicit(&phase, memory_order_relaxed) == PHASE_MEASURE;
}

static void set_interest(struct worker *w, struct conn *c, uint32_t ev)
{
	if (c->events == ev)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e) != 0)
		die("epoll_ctl: %s", strerror(errno));
	c->events = ev;
}

/* again_add queues c to be read again after this round of events: BoringSSL
 * holds decrypted bytes of it that epoll cannot report. */
static void again_add(struct worker *w, struct conn *c)
{
	if (c->in_again)
		return;
	c->in_again = true;
	w->again[w->n_again++] = c; /* bounded: see run_again */
}

/* --- -rate: the heap of waiting connections -------------------------------- */

static void heap_set(struct worker *w, uint32_t i, struct conn *c)
{
	w->heap[i] = c;
	c->heap_idx = i;
}

static void heap_up(struct worker *w, uint32_t i)
{
	struct conn *c = w->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (w->heap[parent]->sched_ns <= c->sched_ns)
			break;
		heap_set(w, i, w->heap[parent]);
		i = parent;
	}
	heap_set(w, i, c);
}

static void heap_down(struct worker *w, uint32_t i)
{
	struct conn *c = w->heap[i];

	for (;;) {
		uint32_t k = 2 * i + 1;
		if (k >= w->n_heap)
			break;
		if (k + 1 < w->n_heap && w->heap[k + 1]->sched_ns < w->heap[k]->sched_ns)
			k++;
		if (c->sched_ns <= w->heap[k]->sched_ns)
			break;
		heap_set(w, i, w->heap[k]);
		i = k;
	}
	heap_set(w, i, c);
}

/* heap_push: each connection is in the heap at most once (heap_idx), so
 * n_conns slots always suffice. */
static void heap_push(struct worker *w, struct conn *c)
{
	if (c->heap_idx != NO_HEAP || w->n_heap >= w->n_conns)
		die("bug: heap push of a queued connection or past %u", w->n_conns);
	w->n_heap++;
	heap_set(w, w->n_heap - 1, c);
	heap_up(w, w->n_heap - 1);
}

static void heap_remove(struct worker *w, struct conn *c)
{
	uint32_t i = c->heap_idx;

	if (i == NO_HEAP)
		return;
	c->heap_idx = NO_HEAP;
	w->n_heap--;
	if (i == w->n_heap)
		return;
	struct conn *moved = w->heap[w->n_heap];
	heap_set(w, i, moved);
	heap_up(w, i);
	heap_down(w, moved->heap_idx);
}

/* timer_arm makes the timerfd fire when the earliest waiting request is due. */
static void timer_arm(struct worker *w)
{
	if (w->n_heap == 0 || w->heap[0]->sched_ns == w->armed_ns)
		return;
	uint64_t t = w->heap[0]->sched_ns;
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(t / 1000000000u),
						.tv_nsec = (long)(t % 1000000000u) } };
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1; /* all zero would disarm */
	if (timerfd_settime(w->tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
		die("timerfd_settime: %s", strerror(errno));
	w->armed_ns = t;
}

static void conn_close(struct worker *w, struct conn *c)
{
	if (c->st == C_IDLE || c->st == C_LOST)
		return;
	if (opt.hold && c->st == C_HELD)
		atomic_fetch_sub(&held_total, 1);
	else if (opt.hold)
		w->inflight--;
	if (c->ssl != NULL)
		SSL_free(c->ssl); /* no close_notify: we are done with the peer */
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd); /* also drops it from the epoll set */
	c->fd = -1;
	c->in_again = false;
	heap_remove(w, c);
	c->st = C_IDLE;
	w->n_idle++;
}

/* note_error keeps the first error of the thread for the stderr line. */
static void note_error(struct worker *w, const char *what, int err)
{
	if (w->have_error)
		return;
	w->have_error = true;
	snprintf(w->first_error, sizeof(w->first_error), "%s%s%s", what, err ? ": " : "",
		 err ? strerror(err) : "");
}

static void conn_fail(struct worker *w, struct conn *c, const char *what, int err)
{
	if (measuring()) {
		w->errors++;
		note_error(w, what, err);
	}
	conn_close(w, c);
	c->retry_ns = now_ns() + RETRY_NS;
}

/* tls_result turns a failed SSL_* call (ret <= 0) into IO_AGAIN, IO_EOF or
 * IO_ERROR, and drains BoringSSL's error queue (never branched on). */
static ssize_t tls_result(struct conn *c, int ret, const char *what)
{
	int e = SSL_get_error(c->ssl, ret);
	uint32_t code;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		c->want = EPOLLIN;
		return IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->want = EPOLLOUT;
		return IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return IO_EOF;
	case SSL_ERROR_SYSCALL:
		c->err_no = ret == 0 ? 0 : errno;
		ERR_clear_error();
		if (c->err_no == 0)
			return IO_EOF; /* EOF without close_notify */
		c->err_what = what;
		return IO_ERROR;
	default:
		code = ERR_peek_error();
		c->err_no = 0;
		c->err_what = what;
		if (ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED)
			c->err_what = X509_verify_cert_error_string(SSL_get_verify_result(c->ssl));
		else if (code != 0)
			c->err_what = ERR_reason_error_string(code);
		if (c->err_what == NULL)
			c->err_what = what;
		ERR_clear_error();
		return IO_ERROR;
	}
}

/* io_read reads into buf: > 0 bytes, IO_EOF, IO_AGAIN or IO_ERROR. */
static ssize_t io_read(struct conn *c, char *buf, size_t len)
{
	if (c->ssl != NULL) {
		int n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
		return n > 0 ? n : tls_result(c, n, "TLS read");
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			c->want = EPOLLIN;
			return IO_AGAIN;
		}
		c->err_what = "recv";
		c->err_no = errno;
		return IO_ERROR;
	}
}

/* io_write writes from buf: > 0 bytes, IO_AGAIN or IO_ERROR. With TLS a
 * retry after IO_AGAIN must pass the same bytes (SSL_write's rule; the
 * request buffer never changes while it is being sent). */
static ssize_t io_write(struct conn *c, const char *buf, size_t len)
{
	if (c->ssl != NULL) {
		int n = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
		if (n > 0)
			return n;
		ssize_t r = tls_result(c, n, "TLS write");
		if (r == IO_EOF) {
			c->err_what = "TLS write: peer closed";
			return IO_ERROR;
		}
		return r;
	}
	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			c->want = EPOLLOUT;
			return IO_AGAIN;
		}
		c->err_what = "send";
		c->err_no = errno;
		return IO_ERROR;
	}
}

/* sign_render writes the signature headers of a fresh timestamp and nonce
 * after the request's fixed part in c->req (req_cap bytes), then the
 * empty line. The body is empty (a GET). */
static void sign_render(struct conn *c)
{
	char canon[LK_SIG_CANONICAL_MAX], nonce[2 * LK_SIG_NONCE_LEN + 1], sig_b64[96];
	uint8_t raw[LK_SIG_NONCE_LEN], sig[LK_ED25519_SIG_LEN];
	size_t base = req_len - 2, len;
	const char *pf = opt.sign_prefix;

	if (lk_crypto_random(raw, sizeof(raw)) != 0)
		die("-sign-key: no randomness for a nonce");
	if (lk_crypto_hex_encode(raw, sizeof(raw), nonce, sizeof(nonce)) != 0)
		die("bug: nonce buffer");
	long long ts = (long long)time(NULL);
	if (lk_sig_canonical_raw("GET", 3, req_target, strlen(req_target), 2, empty_sha256, ts,
				 nonce, canon, sizeof(canon), &len) != 0)
		die("bug: canonical string checked at start");
	if (lk_crypto_ed25519_sign(sign_priv, canon, len, sig) != 0)
		die("-sign-key: signing failed");
	if (lk_crypto_b64_encode(LK_B64_URL_NOPAD, sig, sizeof(sig), sig_b64, sizeof(sig_b64)) != 0)
		die("bug: signature buffer");
	int n = snprintf(c->req + base, req_cap - base,
			 "%sKey-ID: %s\r\n%sTimestamp: %lld\r\n%sNonce: %s\r\n%sSignature: %s\r\n"
			 "%sSignature-Version: 2\r\n\r\n",
			 pf, sign_kid, pf, ts, pf, nonce, pf, sig_b64, pf);
	if (n < 0 || (size_t)n >= req_cap - base)
		die("bug: signature headers over %d bytes", SIG_HDRS_MAX);
	c->req_len = base + (size_t)n;
}

static void conn_send(struct worker *w, struct conn *c)
{
	if (c->st != C_SENDING) {
		if (opt.sign_key != NULL)
			sign_render(c);
		c->st = C_SENDING;
		c->req_off = 0;
		c->ilen = 0;
		c->sent_ns = now_ns();
		if (opt.rate > 0) {
			/* Latency from the schedule (late sends count), but not
			 * from before the connection and its handshake were up. */
			c->sent_ns = c->sched_ns > c->ready_ns ? c->sched_ns : c->ready_ns;
			c->sched_ns += rate_interval_ns;
		}
	}
	while (c->req_off < c->req_len) {
		ssize_t n = io_write(c, c->req + c->req_off, c->req_len - c->req_off);
		if (n == IO_AGAIN) {
			set_interest(w, c, c->want);
			return;
		}
		if (n < 0) {
			conn_fail(w, c, c->err_what, c->err_no);
			return;
		}
		c->req_off += (size_t)n;
	}
	c->st = C_HEAD;
	set_interest(w, c, EPOLLIN);
}

/* conn_next sends the next request now, or with -rate at its time. */
static void conn_next(struct worker *w, struct conn *c)
{
	if (opt.rate > 0 && now_ns() < c->sched_ns) {
		c->st = C_WAIT;
		set_interest(w, c, EPOLLIN); /* to see the peer close */
		heap_push(w, c);
		return;
	}
	conn_send(w, c);
}

/* conn_ready runs once the connection (and its TLS session) is up. */
static void conn_ready(struct worker *w, struct conn *c)
{
	c->ready_ns = now_ns();
	conn_next(w, c);
}

static void conn_handshake(struct worker *w, struct conn *c)
{
	int ret = SSL_do_handshake(c->ssl);

	if (ret == 1) {
		conn_ready(w, c);
		return;
	}
	ssize_t r = tls_result(c, ret, "TLS handshake");
	if (r == IO_AGAIN) {
		set_interest(w, c, c->want);
		return;
	}
	if (r == IO_EOF)
		conn_fail(w, c, "TLS handshake: the peer closed the connection", 0);
	else
		conn_fail(w, c, c->err_what, c->err_no);
}

/* conn_connected follows a completed connect: TLS first, if any. */
static void conn_connected(struct worker *w, struct conn *c)
{
	if (tls_ctx == NULL) {
		conn_ready(w, c);
		return;
	}
	c->ssl = SSL_new(tls_ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		die("SSL_new: out of memory");
	SSL_set_connect_state(c->ssl);
	if (!tls_host_is_ip && SSL_set_tlsext_host_name(c->ssl, tls_host) != 1)
		die("SSL_set_tlsext_host_name failed");
	if (opt.cacert != NULL) {
		int ok = tls_host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
									  tls_host)
					: SSL_set1_host(c->ssl, tls_host);
		if (ok != 1)
			die("cannot set the name to verify (%s)", tls_host);
	}
	c->st = C_HANDSHAKE;
	conn_handshake(w, c);
}

static void conn_open(struct worker *w, struct conn *c)
{
	int fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	w->n_idle--;
	if (opt.hold)
		w->inflight++;
	c->st = C_CONNECTING;
	if (fd < 0) {
		conn_fail(w, c, "socket", errno);
		return;
	}
	if (target.ss_family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	c->fd = fd;
	c->events = EPOLLOUT;
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) != 0)
		die("epoll_ctl: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&target, target_len) == 0) {
		conn_connected(w, c);
		return;
	}
	/* A unix socket whose backlog is full says EAGAIN: an error, retried later. */
	if (errno != EINPROGRESS)
		conn_fail(w, c, "connect", errno);
}

static bool head_has(const char *v, const char *vend, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = v; p + wl <= vend; p++)
		if (strncasecmp(p, word, wl) == 0)
			return true;
	return false;
}

/* Parses the head in ibuf[0, head_len) and sets the body state. */
static int parse_head(struct conn *c, size_t head_len)
{
	const char *p = c->ibuf, *end = c->ibuf + head_len;

	if (head_len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return FEED_ERROR;
	bool http10 = p[7] == '0';
	unsigned status = 0;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return FEED_ERROR;
		status = status * 10 + (unsigned)(p[i] - '0');
	}
	c->status_ok = status >= 200 && status < 300;
	c->status = status;
	c->close_after = http10;
	bool chunked = false, have_len = false;
	uint64_t len = 0;

	p = memchr(p, '\n', (size_t)(end - p));
	while (p != NULL && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			break;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (colon != NULL) {
			const char *v = colon + 1;
			size_t nl = (size_t)(colon - p);
			if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
				while (v < eol && (*v == ' ' || *v == '\t'))
					v++;
				len = 0;
				have_len = v < eol && *v >= '0' && *v <= '9';
				for (; v < eol && *v >= '0' && *v <= '9'; v++) {
					if (len > (UINT64_MAX - 9) / 10)
						return FEED_ERROR;
					len = len * 10 + (uint64_t)(*v - '0');
				}
			} else if (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
				chunked = head_has(v, eol, "chunked");
			} else if (nl == 10 && strncasecmp(p, "connection", 10) == 0) {
				if (head_has(v, eol, "close"))
					c->close_after = true;
				else if (head_has(v, eol, "keep-alive"))
					c->close_after = false;
			}
		}
		p = eol;
	}
	if (status < 200)
		return FEED_ERROR; /* we never ask for 1xx (no Expect, no Upgrade) */
	if (status == 204 || status == 304)
		return FEED_DONE;
	if (chunked) {
		c->st = C_CHUNK_SIZE;
	} else if (have_len) {
		if (len == 0)
			return FEED_DONE;
		c->remaining = len;
		c->st = C_BODY_LEN;
	} else {
		c->close_after = true;
		c->st = C_BODY_EOF;
	}
	return FEED_AGAIN;
}

/* Counts body payload bytes (stream mode). */
static void count_bytes(struct worker *w, uint64_t n)
{
	if (!opt.stream || !measuring())
		return;
	w->bytes += n;
	if (opt.bytes_max == 0)
		return;
	uint64_t total = atomic_fetch_add(&stream_bytes, n) + n;
	if (total >= opt.bytes_max) {
		uint64_t zero = 0;
		atomic_compare_exchange_strong(&stop_ns, &zero, now_ns());
		atomic_store(&phase, PHASE_STOP);
	}
}

/*
 * Runs the response state machine over ibuf[0, ilen); keeps any unconsumed
 * partial line at the front of ibuf. Returns FEED_DONE (a whole response
 * was read), FEED_AGAIN or FEED_ERROR.
 */
static int feed(struct worker *w, struct conn *c)
{
	char *p = c->ibuf, *end = c->ibuf + c->ilen;
	int ret = FEED_AGAIN;

	while (ret == FEED_AGAIN && p < end) {
		switch (c->st) {
		case C_HEAD: {
			char *h = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
			if (h == NULL)
				goto partial;
			size_t hl = (size_t)(h + 4 - p);
			ret = parse_head(c, hl); /* p == ibuf here */
			p += hl;
			if (opt.hold && opt.stream && ret != FEED_ERROR) {
				c->ilen = 0; /* body bytes: discarded */
				return FEED_HEAD;
			}
			break;
		}
		case C_BODY_LEN: {
			uint64_t take = (uint64_t)(end - p);
			if (take > c->remaining)
				take = c->remaining;
			p += take;
			c->remaining -= take;
			count_bytes(w, take);
			if (c->remaining == 0)
				ret = FEED_DONE;
			break;
		}
		case C_CHUNK_SIZE: {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL)
				goto partial;
			uint64_t sz = 0;
			char *q = p;
			for (;; q++) {
				int d;
				if (*q >= '0' && *q <= '9')
					d = *q - '0';
				else if ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'f')
					d = (*q | 0x20) - 'a' + 10;
				else
					break;
				if (sz >> 59)
					return FEED_ERROR;
				sz = sz * 16 + (uint64_t)d;
			}
			if (q == p)
				return FEED_ERROR;
			p = nl + 1;
			c->remaining = sz;
			c->st = sz == 0 ? C_TRAILER : C_CHUNK_DATA;
			break;
		}
		case C_CHUNK_DATA: {
			uint64_t take = (uint64_t)(end - p);
			if (take > c->remaining)
				take = c->remaining;
			p += take;
			c->remaining -= take;
			count_bytes(w, take);
			if (c->remaining == 0)
				c->st = C_CHUNK_CRLF;
			break;
		}
		case C_CHUNK_CRLF:
			if (end - p < 2)
				goto partial;
			if (p[0] != '\r' || p[1] != '\n')
				return FEED_ERROR;
			p += 2;
			c->st = C_CHUNK_SIZE;
			break;
		case C_TRAILER: {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL)
				goto partial;
			bool empty = nl == p || (nl == p + 1 && p[0] == '\r');
			p = nl + 1;
			if (empty)
				ret = FEED_DONE;
			break;
		}
		case C_BODY_EOF:
			count_bytes(w, (uint64_t)(end - p));
			p = end;
			break;
		default:
			return FEED_ERROR;
		}
	}
	if (ret == FEED_DONE && p != end)
		return FEED_ERROR; /* bytes nobody asked for: not a closed loop */
	c->ilen = 0;
	return ret;
partial:
	if (c->st == C_HEAD ? p == c->ibuf && c->ilen == ibuf_size
			    : (size_t)(end - p) > LINE_MAX_BYTES)
		return FEED_ERROR;
	c->ilen = (size_t)(end - p);
	memmove(c->ibuf, p, c->ilen);
	return FEED_AGAIN;
}

/* hold_lose closes a held connection: before the ready line it is set
 * up again, after it the loss is final and counted. */
static void hold_lose(struct worker *w, struct conn *c, const char *what, int err)
{
	if (!atomic_load(&hold_ready)) {
		conn_fail(w, c, what, err);
		return;
	}
	note_error(w, what, err);
	conn_close(w, c);
	w->n_idle--;
	c->st = C_LOST;
}

/* on_held: the one request of -hold was answered (or, with -stream, its
 * head read): the connection now only sits. */
static void on_held(struct worker *w, struct conn *c)
{
	char why[64];

	if (!c->status_ok) {
		snprintf(why, sizeof(why), "non-2xx response (%u)", c->status);
		conn_fail(w, c, why, 0);
		return;
	}
	if (c->close_after && !opt.stream) {
		conn_fail(w, c, "the server closes the connection after the response", 0);
		return;
	}
	w->inflight--;
	c->st = C_HELD;
	c->ilen = 0;
	set_interest(w, c, EPOLLIN);
	atomic_fetch_add(&held_total, 1);
}

/* on_held_readable: a held stream's bytes are discarded; an idle
 * keep-alive connection should get none. EOF or an error: lost. */
static void on_held_readable(struct worker *w, struct conn *c)
{
	for (int round = 0; round < READS_PER_WAKE; round++) {
		ssize_t n = io_read(c, w->scratch, SCRATCH_SIZE);
		if (n == IO_AGAIN) {
			set_interest(w, c, c->want);
			return;
		}
		if (n == IO_EOF) {
			hold_lose(w, c, "held connection closed by the peer", 0);
			return;
		}
		if (n == IO_ERROR) {
			hold_lose(w, c, c->err_what, c->err_no);
			return;
		}
		if (!opt.stream) {
			hold_lose(w, c, "bytes after the response on an idle connection", 0);
			return;
		}
	}
	if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
		again_add(w, c);
}

static void on_response(struct worker *w, struct conn *c)
{
	uint64_t t = now_ns();

	if (opt.hold) {
		on_held(w, c);
		return;
	}

	if (measuring()) {
		w->reqs++;
		w->hist[hist_index(t - c->sent_ns)]++;
		if (!c->status_ok) {
			w->errors++;
			note_error(w, "non-2xx response", 0);
		}
	}
	if (c->close_after) {
		conn_close(w, c);
		c->retry_ns = 0;
		return;
	}
	conn_next(w, c);
}

/* on_wait_readable: input on a connection waiting for its send time. EOF
 * is a keep-alive connection the server let go (reopened, no error). */
static void on_wait_readable(struct worker *w, struct conn *c)
{
	char b[1];
	ssize_t n = io_read(c, b, sizeof(b));

	if (n == IO_AGAIN) {
		set_interest(w, c, c->want);
		return;
	}
	if (n == IO_EOF) {
		conn_close(w, c);
		c->retry_ns = 0;
		return;
	}
	if (n == IO_ERROR)
		conn_fail(w, c, c->err_what, c->err_no);
	else
		conn_fail(w, c, "bytes from the server before a request", 0);
}

/* run_due sends the requests whose time has come. */
static void run_due(struct worker *w)
{
	uint64_t t = now_ns();

	while (w->n_heap > 0 && w->heap[0]->sched_ns <= t) {
		struct conn *c = w->heap[0];
		heap_remove(w, c);
		conn_send(w, c);
	}
	timer_arm(w);
}

static void on_readable(struct worker *w, struct conn *c)
{
	for (int round = 0; round < READS_PER_WAKE; round++) {
		ssize_t n = io_read(c, c->ibuf + c->ilen, ibuf_size - c->ilen);
		if (n == IO_AGAIN) {
			set_interest(w, c, c->want);
			return;
		}
		if (n == IO_ERROR) {
			conn_fail(w, c, c->err_what, c->err_no);
			return;
		}
		if (n == IO_EOF) {
			if (c->st == C_BODY_EOF && c->ilen == 0) {
				on_response(w, c);
				return;
			}
			conn_fail(w, c, "EOF before the end of the response", 0);
			return;
		}
		c->ilen += (size_t)n;
		int rc = feed(w, c);
		if (rc == FEED_ERROR) {
			conn_fail(w, c, "malformed or unexpected response", 0);
			return;
		}
		if (rc == FEED_DONE || rc == FEED_HEAD) {
			on_response(w, c);
			return;
		}
	}
	if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
		again_add(w, c); /* out of rounds with plaintext buffered */
}

static void on_event(struct worker *w, struct conn *c)
{
	switch (c->st) {
	case C_CONNECTING: {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			conn_fail(w, c, "connect", err);
			return;
		}
		conn_connected(w, c);
		return;
	}
	case C_HANDSHAKE:
		conn_handshake(w, c);
		return;
	case C_SENDING:
		conn_send(w, c);
		return;
	case C_WAIT:
		on_wait_readable(w, c);
		return;
	case C_HELD:
		on_held_readable(w, c);
		return;
	case C_IDLE:
	case C_LOST:
		return;
	default:
		/* Level-triggered: a call without data just finds IO_AGAIN. */
		on_readable(w, c);
		return;
	}
}

/* run_again revisits the connections again_add queued. Entries of closed
 * connections are skipped (in_again was cleared); a connection queued
 * again while this runs lands after the processed part, so the list never
 * holds more than 2 * n_conns entries. */
static void run_again(struct worker *w)
{
	unsigned n = w->n_again;

	for (unsigned i = 0; i < n; i++) {
		struct conn *c = w->again[i];
		if (!c->in_again)
			continue;
		c->in_again = false;
		if (c->fd >= 0)
			on_event(w, c);
	}
	memmove(w->again, w->again + n, (w->n_again - n) * sizeof(w->again[0]));
	w->n_again -= n;
}

/* run_events waits at most timeout_ms and handles what epoll reports;
 * returns the number of events. */
static int run_events(struct worker *w, int timeout_ms)
{
	struct epoll_event evs[EPOLL_BATCH];
	int n = epoll_wait(w->epfd, evs, EPOLL_BATCH, timeout_ms);

	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;
		if (c == NULL) { /* the -rate timer */
			uint64_t exp;
			if (read(w->tfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN)
				die("timerfd read: %s", strerror(errno));
			w->armed_ns = 0;
			continue;
		}
		if (c->fd >= 0)
			on_event(w, c);
	}
	run_again(w);
	return n < 0 ? 0 : n;
}

/* hold_finish takes in what already arrived (a peer's close must not go
 * unseen because the stop came first), then counts the held connections. */
static void hold_finish(struct worker *w)
{
	for (unsigned round = 0; round < w->n_conns / EPOLL_BATCH + 2; round++)
		if (run_events(w, 0) == 0 && w->n_again == 0)
			break;
	for (unsigned i = 0; i < w->n_conns; i++)
		w->held_open += w->conns[i].st == C_HELD;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	w->n_idle = w->n_conns;
	if (!opt.hold)
		for (unsigned i = 0; i < w->n_conns; i++)
			conn_open(w, &w->conns[i]);
	while (atomic_load_explicit(&phase, memory_order_relaxed) != PHASE_STOP) {
		run_events(w, w->n_again > 0 ? 0 : TICK_MS);
		if (opt.rate > 0)
			run_due(w);
		uint64_t t = 0;
		for (unsigned i = 0; w->n_idle > 0 && i < w->n_conns; i++) {
			struct conn *c = &w->conns[i];
			if (c->st != C_IDLE)
				continue;
			if (opt.hold && w->inflight >= w->hold_cap)
				break; /* -hold paces its connects */
			if (t == 0)
				t = now_ns();
			if (t >= c->retry_ns)
				conn_open(w, c);
		}
	}
	if (opt.hold)
		hold_finish(w);
	for (unsigned i = 0; i < w->n_conns; i++)
		conn_close(w, &w->conns[i]);
	return NULL;
}

/* --- main ----------------------------------------------------------------- */

/* tls_init makes the one SSL_CTX: TLS 1.2 or later, no session cache (a
 * full handshake per connection), and verification only with -cacert. */
static void tls_init(void)
{
	tls_ctx = SSL_CTX_new(TLS_method());
	if (tls_ctx == NULL)
		die("SSL_CTX_new failed");
	if (SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION) != 1)
		die("SSL_CTX_set_min_proto_version failed");
	SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
	/* Partial writes let req_off advance like send(2)'s count. */
	SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (opt.cacert == NULL) {
		SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
		return;
	}
	if (SSL_CTX_load_verify_locations(tls_ctx, opt.cacert, NULL) != 1) {
		uint32_t code = ERR_peek_error();
		const char *why = ERR_reason_error_string(code);
		die("-cacert %s: cannot load CA certificates: %s", opt.cacert,
		    why != NULL ? why : "unknown error");
	}
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
}

static void sleep_until_stop(uint64_t deadline_ns)
{
	for (;;) {
		if (atomic_load(&phase) == PHASE_STOP)
			return;
		uint64_t t = now_ns();
		if (t >= deadline_ns)
			return;
		uint64_t d = deadline_ns - t;
		if (d > TICK_MS * 1000000ull)
			d = TICK_MS * 1000000ull;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)d };
		nanosleep(&ts, NULL);
	}
}

/* sign_init loads -sign-key (the permission rules of `lookout sign`) and
 * checks once that the target canonicalises. */
static void sign_init(void)
{
	uint8_t seed[LK_ED25519_SEED_LEN], pub[LK_ED25519_PUB_LEN];
	char err[2048], canon[LK_SIG_CANONICAL_MAX];
	size_t len;

	if (lk_keys_load_private_key(opt.sign_key, seed, err, sizeof(err)) != 0)
		die("-sign-key: %s", err);
	lk_crypto_ed25519_keypair(seed, pub, sign_priv);
	lk_crypto_cleanse(seed, sizeof(seed));
	lk_keys_id(pub, sign_kid);
	lk_crypto_sha256("", 0, empty_sha256);
	if (lk_sig_canonical_raw("GET", 3, req_target, strlen(req_target), 2, empty_sha256, 0,
				 "00000000000000000000000000000000", canon, sizeof(canon), &len) != 0)
		die("-sign-key: the request target is too long to sign");
	req_cap = req_len + SIG_HDRS_MAX;
}

/* fd_setup keeps fds 0-2 taken (a socket on fd 0 would read as -hold's
 * stdin) and lifts the descriptor soft limit to the hard one, failing
 * clearly when -c cannot fit. */
static void fd_setup(void)
{
	struct rlimit rl;

	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			continue;
		int nfd = open("/dev/null", O_RDWR);
		if (nfd != fd)
			die("cannot open /dev/null as fd %d", fd);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			die("setrlimit RLIMIT_NOFILE to %llu: %s", (unsigned long long)rl.rlim_max,
			    strerror(errno));
	}
	uint64_t need = (uint64_t)opt.conns + FD_MARGIN + 2u * opt.threads;
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur)
		die("-c %" PRIu32 " needs about %" PRIu64 " file descriptors, but RLIMIT_NOFILE "
		    "allows %llu (the hard limit); raise it (ulimit -Hn) or lower -c",
		    opt.conns, need, (unsigned long long)rl.rlim_cur);
}

/* hold_wait returns at EOF on stdin or at deadline_ns, whichever is first. */
static void hold_wait(uint64_t deadline_ns)
{
	char buf[4096];

	for (;;) {
		uint64_t t = now_ns();
		if (t >= deadline_ns)
			return;
		uint64_t ms = (deadline_ns - t) / 1000000u + 1;
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int n = poll(&p, 1, ms > 1000 ? 1000 : (int)ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (p.revents & POLLNVAL))
			return;
		if (n == 0)
			continue;
		ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			return; /* EOF, or a stdin we cannot wait on */
	}
}

/* hold_run is -hold's main thread: wait for every connection, say ready,
 * hold, count. Returns the exit status. */
static int hold_run(struct worker *ws, uint64_t t0)
{
	uint64_t setup_deadline = t0 + HOLD_SETUP_SECS * 1000000000ull;
	uint32_t held;

	while ((held = atomic_load(&held_total)) < opt.conns && now_ns() < setup_deadline) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = TICK_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (held < opt.conns) {
		atomic_store(&phase, PHASE_STOP);
		const char *why = NULL;
		for (uint32_t i = 0; i < opt.threads; i++) {
			pthread_join(ws[i].tid, NULL);
			if (why == NULL && ws[i].have_error)
				why = ws[i].first_error;
		}
		fprintf(stderr,
			"lk-load: hold: only %" PRIu32 " of %" PRIu32 " connections established "
			"within %d s; first error: %s\n",
			held, opt.conns, HOLD_SETUP_SECS, why != NULL ? why : "none (too slow)");
		return 1;
	}
	atomic_store(&hold_ready, true);
	printf("lk-load: hold conns=%" PRIu32 " ready\n", opt.conns);
	fflush(stdout);
	hold_wait(now_ns() + opt.secs * 1000000000ull);
	atomic_store(&phase, PHASE_STOP);
	uint32_t open_n = 0;
	const char *why = NULL;
	for (uint32_t i = 0; i < opt.threads; i++) {
		pthread_join(ws[i].tid, NULL);
		open_n += ws[i].held_open;
		if (why == NULL && ws[i].have_error)
			why = ws[i].first_error;
	}
	uint32_t lost = opt.conns - open_n;
	if (lost > 0 && why != NULL)
		fprintf(stderr, "lk-load: hold: first error: %s\n", why);
	printf("lk-load: hold conns=%" PRIu32 " open=%" PRIu32 " lost=%" PRIu32 "\n", opt.conns,
	       open_n, lost);
	fflush(stdout);
	return lost == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	fd_setup();
	signal(SIGPIPE, SIG_IGN);
	if (opt.url != NULL)
		resolve_url(opt.url);
	else
		resolve_unix(opt.unix_path);
	ibuf_size = opt.hold ? IBUF_HOLD : opt.stream ? IBUF_STREAM : IBUF_SIZE;
	if (tls_ctx != NULL)
		tls_init();
	if (opt.sign_key != NULL)
		sign_init();

	struct worker *ws = calloc(opt.threads, sizeof(*ws));
	struct conn *conns = calloc(opt.conns, sizeof(*conns));
	char *bufs = malloc((size_t)opt.conns * ibuf_size);
	char *reqs_buf = opt.sign_key != NULL ? malloc((size_t)opt.conns * req_cap) : NULL;
	if (ws == NULL || conns == NULL || bufs == NULL || (opt.sign_key != NULL && reqs_buf == NULL))
		die("out of memory for %" PRIu32 " connections", opt.conns);
	/* -hold has no warmup: its setup is its own */
	atomic_store(&phase, opt.warmup_secs > 0 && !opt.hold ? PHASE_WARMUP : PHASE_MEASURE);
	uint64_t t0 = now_ns();
	rate_interval_ns = opt.rate > 0 ? (uint64_t)((double)opt.conns * 1e9 / opt.rate) : 0;
	if (opt.rate > 0 && rate_interval_ns == 0)
		rate_interval_ns = 1;
	for (uint32_t i = 0; i < opt.conns; i++) {
		if (reqs_buf != NULL) /* the fixed part; sign_render adds the rest */
			memcpy(reqs_buf + i * req_cap, req, req_len);
		conns[i] = (struct conn){
			.fd = -1,
			.st = C_IDLE,
			.heap_idx = NO_HEAP,
			.ibuf = bufs + i * ibuf_size,
			.req = reqs_buf != NULL ? reqs_buf + i * req_cap : req,
			.req_len = req_len,
			/* staggered: connection i starts i/R seconds in */
			.sched_ns = opt.rate > 0 ? t0 + (uint64_t)((double)i * 1e9 / opt.rate) : 0,
		};
	}
	uint32_t next = 0;
	for (uint32_t i = 0; i < opt.threads; i++) {
		struct worker *w = &ws[i];
		w->n_conns = opt.conns / opt.threads + (i < opt.conns % opt.threads ? 1 : 0);
		w->conns = conns + next;
		next += w->n_conns;
		w->again = calloc(2 * (size_t)w->n_conns, sizeof(w->again[0]));
		if (w->again == NULL)
			die("out of memory for %u connections", w->n_conns);
		if (opt.hold) {
			w->hold_cap = HOLD_INFLIGHT / opt.threads ? HOLD_INFLIGHT / opt.threads : 1;
			w->scratch = malloc(SCRATCH_SIZE);
			if (w->scratch == NULL)
				die("out of memory");
		}
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0)
			die("epoll_create1: %s", strerror(errno));
		w->tfd = -1;
		if (opt.rate > 0) {
			w->heap = calloc(w->n_conns, sizeof(w->heap[0]));
			w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
			if (w->heap == NULL || w->tfd < 0)
				die("-rate timer: %s", strerror(errno));
			struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &e) != 0)
				die("epoll_ctl: %s", strerror(errno));
		}
		int rc = pthread_create(&w->tid, NULL, worker_run, w);
		if (rc != 0)
			die("pthread_create: %s", strerror(rc));
	}
	if (opt.hold) {
		int status = hold_run(ws, t0);
		for (uint32_t i = 0; i < opt.threads; i++) {
			close(ws[i].epfd);
			free(ws[i].scratch);
			free(ws[i].again);
		}
		free(bufs);
		free(reqs_buf);
		free(conns);
		free(ws);
		SSL_CTX_free(tls_ctx);
		return status;
	}
	if (opt.warmup_secs > 0) {
		sleep_until_stop(t0 + opt.warmup_secs * 1000000000ull);
		atomic_store(&phase, PHASE_MEASURE);
	}
	uint64_t t_start = now_ns();
	sleep_until_stop(t_start + opt.secs * 1000000000ull);
	uint64_t zero = 0;
	atomic_compare_exchange_strong(&stop_ns, &zero, now_ns());
	atomic_store(&phase, PHASE_STOP);
	for (uint32_t i = 0; i < opt.threads; i++) {
		pthread_join(ws[i].tid, NULL);
		close(ws[i].epfd);
		if (ws[i].tfd >= 0)
			close(ws[i].tfd);
		free(ws[i].heap);
		free(ws[i].again);
	}
	double secs = (double)(atomic_load(&stop_ns) - t_start) / 1e9;

	uint64_t reqs = 0, errors = 0, bytes = 0;
	static uint64_t hist[HIST_N];
	bool told = false;
	for (uint32_t i = 0; i < opt.threads; i++) {
		struct worker *w = &ws[i];
		reqs += w->reqs;
		errors += w->errors;
		bytes += w->bytes;
		for (unsigned k = 0; k < HIST_N; k++)
			hist[k] += w->hist[k];
		if (w->have_error && !told) {
			told = true;
			fprintf(stderr, "lk-load: first error: %s\n", w->first_error);
		}
	}
	if (opt.stream) {
		printf("lk-load: stream bytes=%" PRIu64 " gbps=%.3f secs=%.3f\n", bytes,
		       secs > 0 ? (double)bytes * 8 / secs / 1e9 : 0.0, secs);
	} else {
		char rate[48] = "";
		if (opt.rate > 0)
			snprintf(rate, sizeof(rate), " rate=%.*f", opt.rate == (double)(uint64_t)opt.rate ? 0 : 3,
				 opt.rate);
		printf("lk-load: reqs=%" PRIu64 " rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
		       "errors=%" PRIu64 " conns=%" PRIu32 " secs=%.3f%s\n",
		       reqs, secs > 0 ? (double)reqs / secs : 0.0,
		       hist_percentile(hist, reqs, 0.50) / 1e3,
		       hist_percentile(hist, reqs, 0.90) / 1e3,
		       hist_percentile(hist, reqs, 0.99) / 1e3, errors, opt.conns, secs, rate);
	}
	free(bufs);
	free(reqs_buf);
	free(conns);
	free(ws);
	SSL_CTX_free(tls_ctx);
	lk_crypto_cleanse(sign_priv, sizeof(sign_priv));
	return 0;
}
