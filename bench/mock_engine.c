/*
 * mock-engine: a Docker Engine API stand-in on a unix socket, for load tests
 * of the agent. Its job is to never be the bottleneck, so:
 *
 *   - one epoll loop, level-triggered, every fd non-blocking;
 *   - every connection slot is preallocated at start (an mmap that is only
 *     touched as slots are used), with a fixed input and output buffer, so
 *     memory per connection is bounded and the request path never mallocs;
 *   - everything that does not depend on the request (ping, version, info,
 *     the container list, a log frame) is rendered once at start and sent
 *     from that shared copy;
 *   - a writer gets a bounded number of bytes per wakeup, so one fast log
 *     reader cannot starve the others.
 *
 * It speaks HTTP/1.1 with keep-alive and pipelining, Content-Length and
 * chunked request bodies (skipped), chunked streams like Docker's (logs, events, stats), and
 * the exec hijack with Docker's half-close order: after the client's EOF it
 * sends "EOF\n" and only then closes.
 */
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define API_VERSION    "1.47"
#define ENGINE_VERSION "27.3.1"

#define IBUF_SIZE	(8 * 1024)	   /* request head bound -> 431 */
#define OBUF_SIZE	(16 * 1024)	   /* per-connection dynamic output */
#define WRITE_BUDGET	(256 * 1024)	   /* bytes per connection per wakeup */
#define BODY_MAX	(1ull << 30)	   /* request Content-Length bound -> 413 */
#define BLOB_MIN	(64 * 1024)	   /* small log frames are batched to this */
#define TICK_NS		(10 * 1000 * 1000) /* events/stats timer */
#define STATS_PERIOD_NS (1000 * 1000 * 1000)
#define EPOLL_BATCH	256
#define ROUNDS_MAX	64 /* read/parse/write rounds per wakeup */

#define CONTAINERS_MAX	   100000
#define FRAME_MAX	   (16u << 20)
#define LOG_FRAMES_MAX	   1000000
#define EVENTS_PER_SEC_MAX 1000000
#define CONNS_MAX	   (1u << 20)

#define TOK_LISTEN   UINT32_MAX
#define TOK_TIMER    (UINT32_MAX - 1)
#define TOK_SIGNAL   (UINT32_MAX - 2)
#define NIL	     UINT32_MAX
#define LEFT_FOREVER UINT64_MAX

enum stream {
	STREAM_NONE,   /* request/response; keep-alive */
	STREAM_LOGS,   /* follow: the frame blob forever */
	STREAM_QUIET,  /* follow with tail=0: the head, then nothing until the client leaves */
	STREAM_EVENTS, /* ticked: event lines */
	STREAM_STATS,  /* ticked: one stats document per second */
	STREAM_ECHO    /* hijacked exec: echo, then "EOF\n" after the client's EOF */
};

/* Where a chunked request body being discarded is (RFC 9112 7.1). */
enum chunk_state {
	CHUNK_NONE,   /* no chunked body */
	CHUNK_SIZE,   /* before a chunk-size line; data goes to skip */
	CHUNK_CRLF,   /* the CRLF after chunk data */
	CHUNK_TRAILER /* trailer lines up to the empty one */
};

struct conn {
	int fd;	       /* -1 when the slot is free */
	uint32_t next; /* free list, or ticked-stream list */
	uint32_t prev;
	uint32_t mask; /* epoll events currently registered */
	enum stream stream;
	bool busy;		 /* a response is being sent; input waits */
	bool close_after;	 /* close once the response is out */
	bool head_only;		 /* HEAD: no body bytes */
	bool rd_eof;		 /* echo: the client half-closed */
	bool eof_sent;		 /* echo: "EOF\n" queued */
	uint64_t skip;		 /* request body bytes still to discard */
	enum chunk_state chunks; /* chunked request body being discarded */
	uint64_t next_ns;	 /* stats: next document due */
	uint32_t cidx;		 /* stats: the container */
	size_t ilen;
	size_t ooff, olen;
	const char *blob; /* shared bytes sent after obuf, cyclically */
	size_t blob_len, blob_off;
	uint64_t blob_left; /* bytes of blob still to send (LEFT_FOREVER) */
	const char *tail;   /* appended to obuf when the blob is done */
	char ibuf[IBUF_SIZE];
	char obuf[OBUF_SIZE];
};

struct blob {
	char *p;
	size_t len;
	size_t head_len;
};

struct opts {
	const char *socket;
	uint32_t containers;
	uint32_t frame_size;
	uint32_t log_frames;
	uint32_t events_per_sec;
	uint32_t max_conns;
};

static struct opts opt = {
	.containers = 50,
	.frame_size = 65536,
	.log_frames = 16,
	.events_per_sec = 10,
	.max_conns = 16384,
};

static int epfd = -1;
static struct conn *conns;
static uint32_t free_head = NIL;
static uint32_t conns_used; /* slots ever handed out; the rest untouched */
static uint32_t ticked_head = NIL;
static uint64_t start_ns;
static uint64_t events_sent;
static uint64_t exec_seq;
static uint64_t dropped_events;
static uint64_t refused_conns; /* accepted and closed: every slot was taken */
static int listen_fd = -1;
static bool accept_paused; /* out of descriptors: the listener is off until a close */
static uint32_t id_inv;

static struct blob b_ping, b_version, b_info, b_list, b_notfound, b_frames;

static const char usage_text[] =
    "usage: mock-engine -socket PATH [options]\n"
    "\n"
    "A Docker Engine API stand-in on a unix socket for load tests. Prints\n"
    "\"mock-engine: listening on PATH\" when ready; SIGINT/SIGTERM stop it.\n"
    "\n"
    "  -socket PATH          unix socket to listen on (required; a stale socket is replaced)\n"
    "  -containers N         containers in GET /containers/json (default 50, max 100000)\n"
    "  -frame-size BYTES     log frame payload size (default 65536, max 16777216)\n"
    "  -log-frames N         frames of a non-follow logs response (default 16)\n"
    "  -events-per-sec R     GET /events rate (default 10, 0 = none)\n"
    "  -max-conns N          connection slots, preallocated (default 16384)\n"
    "  -h, --help            this text\n"
    "\n"
    "Flags also take the --flag and -flag=VALUE forms.\n"
    "\n"
    "Endpoints (optionally prefixed by /v1.NN):\n"
    "  GET  /_ping (also HEAD), /version, /info\n"
    "  GET  /containers/json, /containers/{id}/json\n"
    "  GET  /containers/{id}/logs?follow=1   multiplexed frames, chunked\n"
    "       (with tail=0: the head, then no frame until the client closes,\n"
    "       as Docker following a quiet container)\n"
    "  GET  /containers/{id}/stats?stream=0|1\n"
    "  GET  /events                          one JSON object per line, chunked\n"
    "  POST /containers/{id}/exec, /exec/{id}/start (hijack: echo, then EOF\\n\n"
    "       after the client's half-close), /exec/{id}/resize; GET /exec/{id}/json\n"
    "Container ids are those of the list (or any 8+ hex prefix) and names mock-N.\n";

/* --- start-up helpers (malloc is fine here) ------------------------------ */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("mock-engine: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

struct sb {
	char *p;
	size_t len, cap;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("vsnprintf failed");
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			die("out of memory");
		b->p = p;
		b->cap = cap;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Ids look random but are a bijection of the index: the first 8 hex digits
 * are index * odd constant (mod 2^32), so a lookup multiplies by the inverse
 * and regenerates instead of searching. */
#define ID_MUL 0x9e3779b1u

static void make_id(uint32_t n, uint64_t salt, char out[65])
{
	char tmp[80];

	snprintf(tmp, sizeof(tmp),
		 "%08" PRIx32 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64,
		 (uint32_t)((n + 1) * ID_MUL), splitmix(n ^ salt), splitmix(n + 1 + salt),
		 splitmix(n + 2 + salt), splitmix(n + 3 + salt));
	memcpy(out, tmp, 64);
	out[64] = '\0';
}

static void container_id(uint32_t n, char out[65])
{
	make_id(n, 0, out);
}

static void blob_finish(struct blob *b, struct sb *body, const char *status, const char *ctype)
{
	struct sb r = { 0 };

	sb_printf(&r,
		  "HTTP/1.1 %s\r\n"
		  "Api-Version: " API_VERSION "\r\n"
		  "Content-Type: %s\r\n"
		  "Docker-Experimental: false\r\n"
		  "Ostype: linux\r\n"
		  "Server: Docker/" ENGINE_VERSION " (linux)\r\n"
		  "Content-Length: %zu\r\n"
		  "\r\n",
		  status, ctype, body->len);
	b->head_len = r.len;
	sb_printf(&r, "%.*s", (int)body->len, body->p ? body->p : "");
	free(body->p);
	b->p = r.p;
	b->len = r.len;
}

static void build_ping(void)
{
	struct sb r = { 0 };

	sb_printf(&r, "HTTP/1.1 200 OK\r\n"
		      "Api-Version: " API_VERSION "\r\n"
		      "Builder-Version: 2\r\n"
		      "Cache-Control: no-cache, no-store, must-revalidate\r\n"
		      "Content-Type: text/plain; charset=utf-8\r\n"
		      "Docker-Experimental: false\r\n"
		      "Ostype: linux\r\n"
		      "Pragma: no-cache\r\n"
		      "Server: Docker/" ENGINE_VERSION " (linux)\r\n"
		      "Content-Length: 2\r\n"
		      "\r\n");
	b_ping.head_len = r.len;
	sb_printf(&r, "OK");
	b_ping.p = r.p;
	b_ping.len = r.len;
}

static void build_static(void)
{
	struct sb s = { 0 };

	build_ping();

	sb_printf(
	    &s, "{\"Platform\":{\"Name\":\"Docker Engine - Community\"},\"Components\":[{\"Name\":"
		"\"Engine\",\"Version\":\"" ENGINE_VERSION
		"\",\"Details\":{\"ApiVersion\":\"" API_VERSION
		"\",\"Arch\":\"amd64\",\"BuildTime\":\"2024-09-20T11:41:11.000000000+00:00\","
		"\"Experimental\":\"false\",\"GitCommit\":\"41ca978\",\"GoVersion\":\"go1.22.7\","
		"\"KernelVersion\":\"6.1.0-mock\",\"MinAPIVersion\":\"1.24\",\"Os\":\"linux\"}}],"
		"\"Version\":\"" ENGINE_VERSION "\",\"ApiVersion\":\"" API_VERSION "\","
		"\"MinAPIVersion\":\"1.24\",\"GitCommit\":\"41ca978\",\"GoVersion\":\"go1.22.7\","
		"\"Os\":\"linux\",\"Arch\":\"amd64\",\"KernelVersion\":\"6.1.0-mock\","
		"\"BuildTime\":\"2024-09-20T11:41:11.000000000+00:00\"}\n");
	blob_finish(&b_version, &s, "200 OK", "application/json");

	s = (struct sb){ 0 };
	sb_printf(
	    &s,
	    "{\"ID\":\"MOCK:ENGI:NE00:0000:0000:0000:0000:0000:0000:0000:0000:0000\","
	    "\"Containers\":%" PRIu32 ",\"ContainersRunning\":%" PRIu32 ",\"ContainersPaused\":0,"
	    "\"ContainersStopped\":0,\"Images\":1,\"Driver\":\"overlay2\",\"DriverStatus\":"
	    "[[\"Backing Filesystem\",\"extfs\"],[\"Supports d_type\",\"true\"]],"
	    "\"MemoryLimit\":true,\"SwapLimit\":true,\"CpuCfsPeriod\":true,\"CpuCfsQuota\":true,"
	    "\"IPv4Forwarding\":true,\"Debug\":false,\"NFd\":%" PRIu32 ",\"NGoroutines\":42,"
	    "\"SystemTime\":\"2024-10-01T12:00:00.000000000Z\",\"LoggingDriver\":\"json-file\","
	    "\"CgroupDriver\":\"systemd\",\"CgroupVersion\":\"2\",\"NEventsListener\":0,"
	    "\"KernelVersion\":\"6.1.0-mock\",\"OperatingSystem\":\"Mock Linux\",\"OSVersion\":"
	    "\"1\",\"OSType\":\"linux\",\"Architecture\":\"x86_64\",\"IndexServerAddress\":"
	    "\"https://index.docker.io/v1/\",\"NCPU\":8,\"MemTotal\":16777216000,"
	    "\"DockerRootDir\":\"/var/lib/docker\",\"Name\":\"mock-engine\",\"Labels\":[],"
	    "\"ExperimentalBuild\":false,\"ServerVersion\":\"" ENGINE_VERSION "\","
	    "\"Runtimes\":{\"runc\":{\"path\":\"runc\"}},\"DefaultRuntime\":\"runc\","
	    "\"Swarm\":{\"NodeID\":\"\",\"NodeAddr\":\"\",\"LocalNodeState\":\"inactive\","
	    "\"ControlAvailable\":false,\"Error\":\"\",\"RemoteManagers\":null},"
	    "\"LiveRestoreEnabled\":false,\"Isolation\":\"\",\"InitBinary\":\"docker-init\","
	    "\"SecurityOptions\":[\"name=seccomp,profile=builtin\",\"name=cgroupns\"],"
	    "\"Warnings\":null}\n",
	    opt.containers, opt.containers, 20 + opt.containers);
	blob_finish(&b_info, &s, "200 OK", "application/json");

	s = (struct sb){ 0 };
	sb_printf(&s, "[");
	for (uint32_t i = 0; i < opt.containers; i++) {
		char id[65], net[65];

		container_id(i, id);
		make_id(i, 0x6e6574, net);
		sb_printf(
		    &s,
		    "%s{\"Id\":\"%s\",\"Names\":[\"/mock-%" PRIu32
		    "\"],\"Image\":\"busybox:latest\","
		    "\"ImageID\":\"sha256:"
		    "6fd955f66c231c1a946653170d096214afcf8a0c4a62b2d3c4d56a4a3c4d2b6d\","
		    "\"Command\":\"sleep infinity\",\"Created\":%" PRIu32 ",\"Ports\":[],"
		    "\"Labels\":{\"com.docker.compose.project\":\"mock\",\"com.docker.compose."
		    "service\":"
		    "\"svc%" PRIu32 "\"},\"State\":\"running\",\"Status\":\"Up 2 hours\","
		    "\"HostConfig\":{\"NetworkMode\":\"bridge\"},\"NetworkSettings\":{\"Networks\":"
		    "{\"bridge\":{\"IPAMConfig\":null,\"Links\":null,\"Aliases\":null,"
		    "\"MacAddress\":\"02:42:ac:11:%02x:%02x\",\"DriverOpts\":null,\"NetworkID\":"
		    "\"%.64s\",\"EndpointID\":\"%s\",\"Gateway\":\"172.17.0.1\",\"IPAddress\":"
		    "\"172.17.%u.%u\",\"IPPrefixLen\":16,\"IPv6Gateway\":\"\","
		    "\"GlobalIPv6Address\":\"\","
		    "\"GlobalIPv6PrefixLen\":0,\"DNSNames\":null}}},\"Mounts\":[]}",
		    i ? "," : "", id, i, 1700000000u + i, i % 10, (i + 2) >> 8 & 0xff,
		    (i + 2) & 0xff, net, net, (i + 2) >> 8 & 0xff, (i + 2) & 0xff);
	}
	sb_printf(&s, "]\n");
	blob_finish(&b_list, &s, "200 OK", "application/json");

	s = (struct sb){ 0 };
	sb_printf(&s, "{\"message\":\"page not found\"}\n");
	blob_finish(&b_notfound, &s, "404 Not Found", "application/json");

	/* One chunk per frame, as Docker flushes each write; small frames are
	 * repeated into one blob so a writev carries many of them. */
	struct sb f = { 0 };
	uint32_t fs = opt.frame_size;
	sb_printf(&f, "%" PRIx32 "\r\n", fs + 8);
	size_t hdr = f.len;
	size_t chunk = hdr + 8 + fs + 2;
	size_t reps = chunk >= BLOB_MIN ? 1 : (BLOB_MIN + chunk - 1) / chunk;
	char *p = malloc(chunk * reps);
	if (p == NULL)
		die("out of memory");
	memcpy(p, f.p, hdr);
	free(f.p);
	char *fr = p + hdr;
	fr[0] = 1;
	fr[1] = fr[2] = fr[3] = 0;
	fr[4] = (char)(fs >> 24);
	fr[5] = (char)(fs >> 16);
	fr[6] = (char)(fs >> 8);
	fr[7] = (char)fs;
	static const char line[] =
	    "mock-engine log line: the quick brown fox jumps over the lazy dog\n";
	for (uint32_t i = 0; i < fs; i++)
		fr[8 + i] = line[i % (sizeof(line) - 1)];
	if (fs > 0)
		fr[8 + fs - 1] = '\n';
	memcpy(fr + 8 + fs, "\r\n", 2);
	for (size_t i = 1; i < reps; i++)
		memcpy(p + i * chunk, p, chunk);
	b_frames.p = p;
	b_frames.len = chunk * reps;
	b_frames.head_len = chunk; /* here: one frame's chunk */
}

/* --- connections ---------------------------------------------------------- */

static void conn_set_mask(struct conn *c, uint32_t mask)
{
	if (mask == c->mask)
		return;
	struct epoll_event ev = { .events = mask, .data.u32 = (uint32_t)(c - conns) };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		die("epoll_ctl MOD: %s", strerror(errno));
	c->mask = mask;
}

static bool is_ticked(enum stream s)
{
	return s == STREAM_EVENTS || s == STREAM_STATS;
}

static void ticked_add(struct conn *c)
{
	uint32_t i = (uint32_t)(c - conns);

	c->prev = NIL;
	c->next = ticked_head;
	if (ticked_head != NIL)
		conns[ticked_head].prev = i;
	ticked_head = i;
}

static void ticked_del(struct conn *c)
{
	if (c->prev != NIL)
		conns[c->prev].next = c->next;
	else
		ticked_head = c->next;
	if (c->next != NIL)
		conns[c->next].prev = c->prev;
}

static void conn_close(struct conn *c)
{
	if (is_ticked(c->stream))
		ticked_del(c);
	close(c->fd); /* also removes it from the epoll set */
	c->fd = -1;
	c->next = free_head;
	free_head = (uint32_t)(c - conns);
	if (accept_paused) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TOK_LISTEN };
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev) == -1)
			die("epoll_ctl MOD listener: %s", strerror(errno));
		accept_paused = false;
	}
}

static bool out_pending(const struct conn *c)
{
	return c->olen > c->ooff || c->blob_left > 0;
}

static size_t out_room(const struct conn *c)
{
	return OBUF_SIZE - c->olen;
}

static void out_reset_if_drained(struct conn *c)
{
	if (c->ooff == c->olen)
		c->ooff = c->olen = 0;
}

static bool out_append(struct conn *c, const void *p, size_t len)
{
	out_reset_if_drained(c);
	if (len > out_room(c))
		return false;
	memcpy(c->obuf + c->olen, p, len);
	c->olen += len;
	return true;
}

static bool out_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool out_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	out_reset_if_drained(c);
	va_start(ap, fmt);
	int n = vsnprintf(c->obuf + c->olen, out_room(c), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= out_room(c))
		return false;
	c->olen += (size_t)n;
	return true;
}

/* out_chunk appends data as one HTTP chunk; false (nothing appended) if it
 * does not fit. */
static bool out_chunk(struct conn *c, const char *data, size_t len)
{
	char hdr[24];
	int n = snprintf(hdr, sizeof(hdr), "%zx\r\n", len);

	out_reset_if_drained(c);
	if ((size_t)n + len + 2 > out_room(c))
		return false;
	out_append(c, hdr, (size_t)n);
	out_append(c, data, len);
	out_append(c, "\r\n", 2);
	return true;
}

static void send_blob(struct conn *c, const struct blob *b)
{
	c->blob = b->p;
	c->blob_len = c->head_only ? b->head_len : b->len;
	c->blob_off = 0;
	c->blob_left = c->blob_len;
	c->tail = NULL;
}

/* flush writes pending output; 0 when drained or the socket is full (or the
 * per-wakeup budget is spent), -1 when the connection is dead. */
static int flush(struct conn *c)
{
	size_t budget = WRITE_BUDGET;

	while (out_pending(c) && budget > 0) {
		struct iovec iov[2];
		int n = 0;

		if (c->olen > c->ooff)
			iov[n++] = (struct iovec){ c->obuf + c->ooff, c->olen - c->ooff };
		if (c->blob_left > 0) {
			size_t len = c->blob_len - c->blob_off;
			if (len > c->blob_left)
				len = (size_t)c->blob_left;
			iov[n++] = (struct iovec){ (void *)(c->blob + c->blob_off), len };
		}
		ssize_t w = writev(c->fd, iov, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		size_t left = (size_t)w;
		budget = left >= budget ? 0 : budget - left;
		size_t o = c->olen - c->ooff;
		if (left < o) {
			c->ooff += left;
			continue;
		}
		left -= o;
		c->ooff = c->olen = 0;
		if (left == 0)
			continue;
		c->blob_off += left;
		if (c->blob_left != LEFT_FOREVER)
			c->blob_left -= left;
		if (c->blob_off == c->blob_len)
			c->blob_off = 0;
		if (c->blob_left == 0 && c->tail != NULL) {
			out_append(c, c->tail, strlen(c->tail));
			c->tail = NULL;
		}
	}
	return 0;
}

/* --- requests ------------------------------------------------------------- */

struct req {
	const char *method;
	size_t method_len;
	const char *path; /* without the /v1.NN prefix and the query */
	size_t path_len;
	const char *query; /* after '?', or NULL */
	size_t query_len;
	uint64_t content_length;
	bool close;
	bool upgrade;
	bool chunked;
};

static bool mem_is(const char *p, size_t len, const char *s)
{
	size_t n = strlen(s);

	return len == n && memcmp(p, s, n) == 0;
}

static bool mem_has_token(const char *p, size_t len, const char *tok)
{
	size_t n = strlen(tok);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(p + i, tok, n) == 0)
			return true;
	return false;
}

/* parse_head parses the head in buf[0..head_len); false if malformed. */
static bool parse_head(const char *buf, size_t head_len, struct req *r)
{
	const char *p = buf, *end = buf + head_len;
	const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p));

	*r = (struct req){ 0 };
	if (sp1 == NULL || sp1 == p)
		return false;
	const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return false;
	r->method = p;
	r->method_len = (size_t)(sp1 - p);
	const char *t = sp1 + 1;
	size_t tlen = (size_t)(sp2 - t);
	if (mem_is(sp2 + 1, (size_t)(eol - sp2 - 1), "HTTP/1.0"))
		r->close = true;
	else if (!mem_is(sp2 + 1, (size_t)(eol - sp2 - 1), "HTTP/1.1"))
		return false;
	const char *q = memchr(t, '?', tlen);
	r->path = t;
	r->path_len = q ? (size_t)(q - t) : tlen;
	if (q != NULL) {
		r->query = q + 1;
		r->query_len = tlen - r->path_len - 1;
	}
	/* /v1.NN/... -> /... */
	if (r->path_len > 3 && r->path[1] == 'v' && r->path[2] >= '0' && r->path[2] <= '9') {
		size_t i = 2;
		while (i < r->path_len &&
		       ((r->path[i] >= '0' && r->path[i] <= '9') || r->path[i] == '.'))
			i++;
		if (i < r->path_len && r->path[i] == '/') {
			r->path += i;
			r->path_len -= i;
		}
	}

	bool keepalive10 = false;
	for (p = eol + 2; p < end;) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL || eol == p)
			break;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL)
			return false;
		size_t nlen = (size_t)(colon - p);
		const char *v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		size_t vlen = (size_t)(eol - v);
		if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0) {
			uint64_t n = 0;
			if (vlen == 0 || vlen > 19)
				return false;
			for (size_t i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9')
					return false;
				n = n * 10 + (uint64_t)(v[i] - '0');
			}
			r->content_length = n;
		} else if (nlen == 10 && strncasecmp(p, "connection", 10) == 0) {
			if (mem_has_token(v, vlen, "close"))
				r->close = true;
			if (mem_has_token(v, vlen, "keep-alive"))
				keepalive10 = true;
			if (mem_has_token(v, vlen, "upgrade"))
				r->upgrade = true;
		} else if (nlen == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
			r->chunked = true;
		}
		p = eol + 2;
	}
	if (keepalive10 && mem_is(sp2 + 1, 8, "HTTP/1.0"))
		r->close = false;
	return true;
}

/* query_flag: value of a boolean query parameter, or def when absent. */
static bool query_flag(const struct req *r, const char *name, bool def)
{
	size_t n = strlen(name);
	const char *p = r->query, *end = r->query + r->query_len;

	if (p == NULL)
		return def;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if ((size_t)(e - p) > n && memcmp(p, name, n) == 0 && p[n] == '=') {
			const char *v = p + n + 1;
			size_t vlen = (size_t)(e - v);
			return mem_is(v, vlen, "1") || mem_is(v, vlen, "true") ||
			       mem_is(v, vlen, "True");
		}
		if (mem_is(p, (size_t)(e - p), name))
			return true;
		p = e + 1;
	}
	return def;
}

/* query_is: true when the query has name=value exactly (no decoding). */
static bool query_is(const struct req *r, const char *name, const char *value)
{
	size_t n = strlen(name);
	const char *p = r->query, *end = r->query + r->query_len;

	if (p == NULL)
		return false;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if ((size_t)(e - p) > n && memcmp(p, name, n) == 0 && p[n] == '=' &&
		    mem_is(p + n + 1, (size_t)(e - p - n - 1), value))
			return true;
		p = e + 1;
	}
	return false;
}

/* lookup_container: index of the container named by id (full id, 8+ hex
 * prefix, mock-N or /mock-N), or -1. */
static int64_t lookup_container(const char *s, size_t len)
{
	if (len > 0 && s[0] == '/') {
		s++;
		len--;
	}
	if (len > 5 && memcmp(s, "mock-", 5) == 0 && len < 5 + 11) {
		uint64_t n = 0;
		for (size_t i = 5; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return -1;
			n = n * 10 + (uint64_t)(s[i] - '0');
		}
		return n < opt.containers ? (int64_t)n : -1;
	}
	if (len < 8 || len > 64)
		return -1;
	uint32_t h = 0;
	for (size_t i = 0; i < 8; i++) {
		char ch = s[i];
		uint32_t d;
		if (ch >= '0' && ch <= '9')
			d = (uint32_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (uint32_t)(ch - 'a' + 10);
		else
			return -1;
		h = h << 4 | d;
	}
	uint32_t n = h * id_inv - 1;
	if (n >= opt.containers)
		return -1;
	char id[65];
	container_id(n, id);
	return memcmp(id, s, len) == 0 ? (int64_t)n : -1;
}

static void respond_dynamic(struct conn *c, const char *status, const char *ctype, const char *body,
			    size_t len)
{
	bool ok = out_printf(c,
			     "HTTP/1.1 %s\r\n"
			     "Api-Version: " API_VERSION "\r\n"
			     "Content-Type: %s\r\n"
			     "Docker-Experimental: false\r\n"
			     "Ostype: linux\r\n"
			     "Server: Docker/" ENGINE_VERSION " (linux)\r\n"
			     "Content-Length: %zu\r\n"
			     "\r\n",
			     status, ctype, len);
	if (ok && !c->head_only)
		ok = out_append(c, body, len);
	if (!ok) /* a bug: every dynamic document is far below OBUF_SIZE */
		die("response does not fit the output buffer");
}

static void respond_stream_head(struct conn *c, const char *ctype)
{
	if (!out_printf(c,
			"HTTP/1.1 200 OK\r\n"
			"Api-Version: " API_VERSION "\r\n"
			"Content-Type: %s\r\n"
			"Docker-Experimental: false\r\n"
			"Ostype: linux\r\n"
			"Server: Docker/" ENGINE_VERSION " (linux)\r\n"
			"Transfer-Encoding: chunked\r\n"
			"\r\n",
			ctype))
		die("stream head does not fit the output buffer");
}

static void respond_no_such(struct conn *c, const char *what, const char *id, size_t len)
{
	char body[256];
	bool safe = len <= 80;

	for (size_t i = 0; safe && i < len; i++)
		safe = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
		       (id[i] >= 'A' && id[i] <= 'Z') || id[i] == '-' || id[i] == '_' ||
		       id[i] == '.';
	int n = snprintf(body, sizeof(body), "{\"message\":\"No such %s: %.*s\"}\n", what,
			 safe ? (int)len : 0, id);
	respond_dynamic(c, "404 Not Found", "application/json", body, (size_t)n);
}

static void rfc3339_now(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%09ldZ", base, ts.tv_nsec);
}

static size_t render_stats(char *buf, size_t cap, uint32_t n)
{
	char id[65], now[48];
	uint64_t t = now_ns() - start_ns;
	uint64_t cpu = t / 4 + (uint64_t)n * 1000000u;

	container_id(n, id);
	rfc3339_now(now, sizeof(now));
	int len = snprintf(
	    buf, cap,
	    "{\"read\":\"%s\",\"preread\":\"0001-01-01T00:00:00Z\",\"pids_stats\":{\"current\":3,"
	    "\"limit\":4915},\"blkio_stats\":{\"io_service_bytes_recursive\":[{\"major\":8,"
	    "\"minor\":0,\"op\":\"read\",\"value\":1290240},{\"major\":8,\"minor\":0,\"op\":"
	    "\"write\",\"value\":4096}],\"io_serviced_recursive\":null,\"io_queue_recursive\":null,"
	    "\"io_service_time_recursive\":null,\"io_wait_time_recursive\":null,"
	    "\"io_merged_recursive\":null,\"io_time_recursive\":null,\"sectors_recursive\":null},"
	    "\"num_procs\":0,\"storage_stats\":{},\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":"
	    "%" PRIu64 ",\"usage_in_kernelmode\":%" PRIu64 ",\"usage_in_usermode\":%" PRIu64 "},"
	    "\"system_cpu_usage\":%" PRIu64 ",\"online_cpus\":8,\"throttling_data\":{\"periods\":0,"
	    "\"throttled_periods\":0,\"throttled_time\":0}},\"precpu_stats\":{\"cpu_usage\":"
	    "{\"total_usage\":0,\"usage_in_kernelmode\":0,\"usage_in_usermode\":0},"
	    "\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}},"
	    "\"memory_stats\":{\"usage\":%" PRIu64
	    ",\"stats\":{\"active_anon\":4096,\"active_file\":"
	    "1290240,\"anon\":655360,\"file\":1290240,\"inactive_anon\":651264,\"inactive_file\":0,"
	    "\"kernel_stack\":49152,\"pgfault\":1234,\"pgmajfault\":3,\"shmem\":0,\"slab\":180000,"
	    "\"sock\":0}, \"limit\":16777216000},\"name\":\"/mock-%" PRIu32 "\",\"id\":\"%s\","
	    "\"networks\":{\"eth0\":{\"rx_bytes\":%" PRIu64 ",\"rx_packets\":%" PRIu64
	    ",\"rx_errors\":0,"
	    "\"rx_dropped\":0,\"tx_bytes\":%" PRIu64 ",\"tx_packets\":%" PRIu64 ",\"tx_errors\":0,"
	    "\"tx_dropped\":0}}}\n",
	    now, cpu, cpu / 3, cpu - cpu / 3, t * 8, 2048000u + (uint64_t)n * 4096u, n, id,
	    t / 1000, t / 1000000, t / 2000, t / 2000000);
	if (len < 0 || (size_t)len >= cap)
		die("stats document does not fit");
	return (size_t)len;
}

static size_t render_inspect(char *buf, size_t cap, uint32_t n)
{
	char id[65], net[65];

	container_id(n, id);
	make_id(n, 0x6e6574, net);
	int len = snprintf(
	    buf, cap,
	    "{\"Id\":\"%s\",\"Created\":\"2024-10-01T10:00:00.000000000Z\",\"Path\":\"sleep\","
	    "\"Args\":[\"infinity\"],\"State\":{\"Status\":\"running\",\"Running\":true,"
	    "\"Paused\":false,\"Restarting\":false,\"OOMKilled\":false,\"Dead\":false,\"Pid\":"
	    "%" PRIu32
	    ",\"ExitCode\":0,\"Error\":\"\",\"StartedAt\":\"2024-10-01T10:00:01.000000000Z\","
	    "\"FinishedAt\":\"0001-01-01T00:00:00Z\"},\"Image\":\"sha256:"
	    "6fd955f66c231c1a946653170d096"
	    "214afcf8a0c4a62b2d3c4d56a4a3c4d2b6d\",\"ResolvConfPath\":\"/var/lib/docker/containers/"
	    "%s"
	    "/resolv.conf\",\"HostnamePath\":\"/var/lib/docker/containers/%s/hostname\","
	    "\"HostsPath\":\"/var/lib/docker/containers/%s/hosts\",\"LogPath\":\"/var/lib/docker/"
	    "containers/%s/%s-json.log\",\"Name\":\"/mock-%" PRIu32 "\",\"RestartCount\":0,"
	    "\"Driver\":\"overlay2\",\"Platform\":\"linux\",\"MountLabel\":\"\",\"ProcessLabel\":"
	    "\"\","
	    "\"AppArmorProfile\":\"\",\"ExecIDs\":null,\"HostConfig\":{\"Binds\":null,"
	    "\"NetworkMode\":\"bridge\",\"PortBindings\":{},\"RestartPolicy\":{\"Name\":\"no\","
	    "\"MaximumRetryCount\":0},\"AutoRemove\":false,\"Privileged\":false,\"Memory\":0,"
	    "\"NanoCpus\":0,\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{}}},"
	    "\"Mounts\":[],\"Config\":{\"Hostname\":\"%.12s\",\"Domainname\":\"\",\"User\":\"\","
	    "\"AttachStdin\":false,\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":false,"
	    "\"OpenStdin\":false,\"StdinOnce\":false,\"Env\":[\"PATH=/usr/local/sbin:/usr/local/"
	    "bin:"
	    "/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[\"sleep\",\"infinity\"],\"Image\":"
	    "\"busybox:latest\",\"Volumes\":null,\"WorkingDir\":\"\",\"Entrypoint\":null,"
	    "\"OnBuild\":null,\"Labels\":{\"com.docker.compose.project\":\"mock\","
	    "\"com.docker.compose.service\":\"svc%" PRIu32
	    "\"}},\"NetworkSettings\":{\"Bridge\":\"\","
	    "\"SandboxID\":\"%s\",\"SandboxKey\":\"/var/run/docker/netns/%.12s\",\"Ports\":{},"
	    "\"Gateway\":\"172.17.0.1\",\"IPAddress\":\"172.17.%u.%u\",\"IPPrefixLen\":16,"
	    "\"MacAddress\":\"02:42:ac:11:%02x:%02x\",\"Networks\":{\"bridge\":{\"IPAMConfig\":"
	    "null,"
	    "\"Links\":null,\"Aliases\":null,\"NetworkID\":\"%s\",\"EndpointID\":\"%s\","
	    "\"Gateway\":\"172.17.0.1\",\"IPAddress\":\"172.17.%u.%u\",\"IPPrefixLen\":16,"
	    "\"MacAddress\":\"02:42:ac:11:%02x:%02x\",\"DriverOpts\":null,\"DNSNames\":null}}}}\n",
	    id, 1000 + n, id, id, id, id, id, n, id, n % 10, net, net, (n + 2) >> 8 & 0xff,
	    (n + 2) & 0xff, (n + 2) >> 8 & 0xff, (n + 2) & 0xff, net, net, (n + 2) >> 8 & 0xff,
	    (n + 2) & 0xff, (n + 2) >> 8 & 0xff, (n + 2) & 0xff);
	if (len < 0 || (size_t)len >= cap)
		die("inspect document does not fit");
	return (size_t)len;
}

/* split "/<prefix>/<id>/<action>": true with id and action views. */
static bool split_id_action(const struct req *r, const char *prefix, const char **id,
			    size_t *id_len, const char **act, size_t *act_len)
{
	size_t pl = strlen(prefix);

	if (r->path_len <= pl || memcmp(r->path, prefix, pl) != 0)
		return false;
	const char *s = r->path + pl, *end = r->path + r->path_len;
	const char *slash = memchr(s, '/', (size_t)(end - s));
	if (slash == NULL || slash == s)
		return false;
	*id = s;
	*id_len = (size_t)(slash - s);
	*act = slash + 1;
	*act_len = (size_t)(end - slash - 1);
	return true;
}

static void start_echo(struct conn *c, size_t rest_off);

/* handle routes one request; the head is ibuf[0..head_len). */
static void handle(struct conn *c, const struct req *r, size_t head_len)
{
	bool get = mem_is(r->method, r->method_len, "GET");
	bool head = mem_is(r->method, r->method_len, "HEAD");
	bool post = mem_is(r->method, r->method_len, "POST");
	const char *id, *act;
	size_t id_len, act_len;
	char body[OBUF_SIZE - 512];

	c->head_only = head;
	if (head)
		get = true;

	if (get && mem_is(r->path, r->path_len, "/_ping")) {
		send_blob(c, &b_ping);
	} else if (get && mem_is(r->path, r->path_len, "/version")) {
		send_blob(c, &b_version);
	} else if (get && mem_is(r->path, r->path_len, "/info")) {
		send_blob(c, &b_info);
	} else if (get && mem_is(r->path, r->path_len, "/containers/json")) {
		send_blob(c, &b_list);
	} else if (get && !head && mem_is(r->path, r->path_len, "/events")) {
		respond_stream_head(c, "application/json");
		c->stream = STREAM_EVENTS;
		ticked_add(c);
	} else if (split_id_action(r, "/containers/", &id, &id_len, &act, &act_len)) {
		int64_t n = lookup_container(id, id_len);
		bool known = get && (mem_is(act, act_len, "json") || mem_is(act, act_len, "logs") ||
				     mem_is(act, act_len, "stats"));
		known = known || (post && mem_is(act, act_len, "exec"));
		if (!known) {
			send_blob(c, &b_notfound);
		} else if (n < 0) {
			respond_no_such(c, "container", id, id_len);
		} else if (mem_is(act, act_len, "json")) {
			size_t len = render_inspect(body, sizeof(body), (uint32_t)n);
			respond_dynamic(c, "200 OK", "application/json", body, len);
		} else if (mem_is(act, act_len, "logs")) {
			respond_stream_head(c, "application/vnd.docker.raw-stream");
			if (head)
				; /* HEAD: no frames, no chunks */
			else if (query_flag(r, "follow", false) && query_is(r, "tail", "0"))
				c->stream = STREAM_QUIET; /* the head only: memory per idle stream */
			else if (query_flag(r, "follow", false)) {
				c->stream = STREAM_LOGS;
				c->blob = b_frames.p;
				c->blob_len = b_frames.len;
				c->blob_off = 0;
				c->blob_left = LEFT_FOREVER;
			} else {
				c->blob = b_frames.p;
				c->blob_len = b_frames.len;
				c->blob_off = 0;
				c->blob_left = (uint64_t)opt.log_frames * b_frames.head_len;
				c->tail = "0\r\n\r\n";
				if (c->blob_left == 0)
					out_append(c, "0\r\n\r\n", 5);
			}
		} else if (mem_is(act, act_len, "stats")) {
			if (!head && query_flag(r, "stream", true)) {
				respond_stream_head(c, "application/json");
				size_t len = render_stats(body, sizeof(body), (uint32_t)n);
				out_chunk(c, body, len);
				c->stream = STREAM_STATS;
				c->next_ns = now_ns() + STATS_PERIOD_NS;
				c->cidx = (uint32_t)n;
				ticked_add(c);
			} else {
				size_t len = render_stats(body, sizeof(body), (uint32_t)n);
				respond_dynamic(c, "200 OK", "application/json", body, len);
			}
		} else { /* exec create */
			char eid[65];
			make_id((uint32_t)exec_seq, 0x65786563 + (exec_seq >> 32), eid);
			exec_seq++;
			int len = snprintf(body, sizeof(body), "{\"Id\":\"%s\"}\n", eid);
			respond_dynamic(c, "201 Created", "application/json", body, (size_t)len);
		}
	} else if (split_id_action(r, "/exec/", &id, &id_len, &act, &act_len)) {
		if (post && mem_is(act, act_len, "start")) {
			if (r->chunked) { /* Docker's clients send a Content-Length here */
				static const char msg[] = "{\"message\":\"chunked exec start\"}\n";
				respond_dynamic(c, "400 Bad Request", "application/json", msg,
						sizeof(msg) - 1);
				c->close_after = true;
				return;
			}
			if (r->upgrade)
				out_printf(c, "HTTP/1.1 101 UPGRADED\r\n"
					      "Content-Type: application/vnd.docker.raw-stream\r\n"
					      "Connection: Upgrade\r\n"
					      "Upgrade: tcp\r\n"
					      "\r\n");
			else
				out_printf(c, "HTTP/1.1 200 OK\r\n"
					      "Content-Type: application/vnd.docker.raw-stream\r\n"
					      "\r\n");
			start_echo(c, head_len);
		} else if (post && mem_is(act, act_len, "resize")) {
			respond_dynamic(c, "201 Created", "text/plain; charset=utf-8", "", 0);
		} else if (get && mem_is(act, act_len, "json")) {
			int len = snprintf(
			    body, sizeof(body),
			    "{\"ID\":\"%.*s\",\"Running\":false,\"ExitCode\":0,\"ProcessConfig\":"
			    "{\"tty\":false,\"entrypoint\":\"sh\",\"arguments\":[],\"privileged\":"
			    "false},"
			    "\"OpenStdin\":true,\"OpenStderr\":true,\"OpenStdout\":true,"
			    "\"CanRemove\":false,\"ContainerID\":\"\",\"DetachKeys\":\"\",\"Pid\":"
			    "0}\n",
			    id_len <= 64 ? (int)id_len : 0, id);
			respond_dynamic(c, "200 OK", "application/json", body, (size_t)len);
		} else {
			send_blob(c, &b_notfound);
		}
	} else {
		send_blob(c, &b_notfound);
	}
}

/* start_echo switches to the hijacked stream: the request body is skipped,
 * bytes already read after it are the first to echo. */
static void start_echo(struct conn *c, size_t rest_off)
{
	size_t rest = c->ilen - rest_off;
	const char *p = c->ibuf + rest_off;
	size_t sk = c->skip < rest ? (size_t)c->skip : rest;

	c->skip -= sk;
	p += sk;
	rest -= sk;
	c->stream = STREAM_ECHO;
	if (!out_append(c, p, rest))
		die("echo start does not fit the output buffer");
	c->ilen = 0;
}

static void in_consume(struct conn *c, size_t n)
{
	memmove(c->ibuf, c->ibuf + n, c->ilen - n);
	c->ilen -= n;
}

/* skip_body discards the previous request's body from ibuf: 0 when it is
 * gone, 1 when more input is needed, -1 when a chunked body is malformed
 * (the connection can only be closed). */
static int skip_body(struct conn *c)
{
	for (;;) {
		if (c->skip > 0) {
			size_t sk = c->skip < c->ilen ? (size_t)c->skip : c->ilen;
			in_consume(c, sk);
			c->skip -= sk;
			if (c->skip > 0)
				return 1;
		}
		if (c->chunks == CHUNK_NONE)
			return 0;
		const char *eol = memmem(c->ibuf, c->ilen, "\r\n", 2);
		if (c->chunks == CHUNK_CRLF) {
			if (c->ilen < 2)
				return 1;
			if (eol != c->ibuf)
				return -1;
			in_consume(c, 2);
			c->chunks = CHUNK_SIZE;
			continue;
		}
		if (eol == NULL)
			return c->ilen == IBUF_SIZE ? -1 : 1;
		size_t line = (size_t)(eol - c->ibuf);
		if (c->chunks == CHUNK_TRAILER) {
			in_consume(c, line + 2);
			if (line == 0)
				c->chunks = CHUNK_NONE;
			continue;
		}
		uint64_t n = 0;
		size_t i;
		for (i = 0; i < line && i < 16; i++) {
			char ch = c->ibuf[i] | 0x20;
			if (ch >= '0' && ch <= '9')
				n = n << 4 | (uint64_t)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				n = n << 4 | (uint64_t)(ch - 'a' + 10);
			else
				break;
		}
		if (i == 0 ||
		    (i < line && c->ibuf[i] != ';' && c->ibuf[i] != ' ' && c->ibuf[i] != '\t') ||
		    n > BODY_MAX)
			return -1;
		in_consume(c, line + 2);
		c->skip = n;
		c->chunks = n == 0 ? CHUNK_TRAILER : CHUNK_CRLF;
	}
}

/* process_input parses and answers one request from ibuf: 1 if it did, 0 if
 * there is not a complete head yet, -1 if the connection must close. */
static int process_input(struct conn *c)
{
	int rc = skip_body(c);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (c->ilen == 0)
		return 0;
	/* RFC 9112 2.2: tolerate empty lines before a request */
	size_t lead = 0;
	while (lead + 1 < c->ilen && c->ibuf[lead] == '\r' && c->ibuf[lead + 1] == '\n')
		lead += 2;
	if (lead > 0) {
		memmove(c->ibuf, c->ibuf + lead, c->ilen - lead);
		c->ilen -= lead;
	}
	const char *end = memmem(c->ibuf, c->ilen, "\r\n\r\n", 4);
	if (end == NULL) {
		if (c->ilen == IBUF_SIZE) {
			out_printf(c, "HTTP/1.1 431 Request Header Fields Too Large\r\n"
				      "Content-Length: 0\r\nConnection: close\r\n\r\n");
			c->busy = true;
			c->close_after = true;
			c->ilen = 0;
			return 1;
		}
		return 0;
	}
	size_t head_len = (size_t)(end - c->ibuf) + 4;
	struct req r;
	c->busy = true;
	c->head_only = false;
	if (!parse_head(c->ibuf, head_len, &r)) {
		out_printf(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
			      "Connection: close\r\n\r\n");
		c->close_after = true;
		c->ilen = 0;
		return 1;
	}
	if (r.content_length > BODY_MAX) {
		out_printf(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n"
			      "Connection: close\r\n\r\n");
		c->close_after = true;
		c->ilen = 0;
		return 1;
	}
	c->close_after = r.close;
	/* RFC 9112 6.3: chunked wins over Content-Length */
	c->skip = r.chunked ? 0 : r.content_length;
	c->chunks = r.chunked ? CHUNK_SIZE : CHUNK_NONE;
	handle(c, &r, head_len);
	if (c->stream == STREAM_ECHO)
		return 1;
	in_consume(c, head_len);
	return 1;
}

/* read_some reads into buf; >0 bytes, 0 EOF, -1 would block, -2 error. */
static ssize_t read_some(int fd, char *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? -1 : -2;
	}
}

/* conn_run advances a connection as far as it can without blocking, then
 * registers the events it waits for. */
static void conn_run(struct conn *c)
{
	int rounds;

	for (rounds = 0; rounds < ROUNDS_MAX; rounds++) {
		if (flush(c) < 0) {
			conn_close(c);
			return;
		}
		if (out_pending(c))
			break;

		if (c->stream == STREAM_ECHO) {
			if (c->eof_sent) {
				shutdown(c->fd, SHUT_WR);
				conn_close(c);
				return;
			}
			if (c->rd_eof) {
				/* Docker's order: the client's EOF first, then ours */
				out_append(c, "EOF\n", 4);
				c->eof_sent = true;
				continue;
			}
			ssize_t n = read_some(c->fd, c->obuf, OBUF_SIZE);
			if (n == -1)
				break;
			if (n == -2) {
				conn_close(c);
				return;
			}
			if (n == 0) {
				c->rd_eof = true;
				continue;
			}
			size_t sk = c->skip < (uint64_t)n ? (size_t)c->skip : (size_t)n;
			c->skip -= sk;
			c->ooff = sk;
			c->olen = (size_t)n;
			continue;
		}
		if (c->stream != STREAM_NONE) {
			/* endless streams: only watch for the client going away */
			ssize_t n = read_some(c->fd, c->ibuf, IBUF_SIZE);
			if (n == -1)
				break;
			if (n <= 0) {
				conn_close(c);
				return;
			}
			continue;
		}
		if (c->busy) {
			c->busy = false;
			if (c->close_after) {
				conn_close(c);
				return;
			}
		}
		int rc = process_input(c);
		if (rc < 0) {
			conn_close(c);
			return;
		}
		if (rc > 0)
			continue;
		ssize_t n = read_some(c->fd, c->ibuf + c->ilen, IBUF_SIZE - c->ilen);
		if (n == -1)
			break;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->ilen += (size_t)n;
	}

	uint32_t mask = 0;
	if (out_pending(c))
		mask |= EPOLLOUT;
	if (c->stream == STREAM_LOGS || c->stream == STREAM_QUIET || c->stream == STREAM_EVENTS ||
	    c->stream == STREAM_STATS)
		mask |= EPOLLIN; /* to see the client leave */
	else if (c->stream == STREAM_ECHO ? !out_pending(c) && !c->rd_eof : !out_pending(c))
		mask |= EPOLLIN;
	if (rounds == ROUNDS_MAX) /* out of rounds, maybe with input parsed: come back */
		mask |= EPOLLOUT;
	conn_set_mask(c, mask);
}

/* --- loop ------------------------------------------------------------------ */

static void on_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				/* Level-triggered: a listener left on would spin. It
				 * comes back when a connection closes (conn_close). */
				fprintf(stderr, "mock-engine: accept: %s (RLIMIT_NOFILE): "
						"not accepting until a connection closes\n",
					strerror(errno));
				struct epoll_event ev = { .events = 0, .data.u32 = TOK_LISTEN };
				if (epoll_ctl(epfd, EPOLL_CTL_MOD, lfd, &ev) == -1)
					die("epoll_ctl MOD listener: %s", strerror(errno));
				accept_paused = true;
				return;
			}
			die("accept: %s", strerror(errno));
		}
		uint32_t i;
		if (free_head != NIL) {
			i = free_head;
			free_head = conns[i].next;
		} else if (conns_used < opt.max_conns) {
			i = conns_used++;
		} else {
			/* every slot is taken: the bound, not a crash; said once */
			if (refused_conns++ == 0)
				fprintf(stderr,
					"mock-engine: all %" PRIu32 " connection slots in use: "
					"closing new connections (raise -max-conns)\n",
					opt.max_conns);
			close(fd);
			continue;
		}
		struct conn *c = &conns[i];
		/* not a full reset: the two buffers need no clearing */
		c->fd = fd;
		c->next = c->prev = NIL;
		c->mask = EPOLLIN;
		c->stream = STREAM_NONE;
		c->busy = c->close_after = c->head_only = c->rd_eof = c->eof_sent = false;
		c->skip = c->next_ns = 0;
		c->chunks = CHUNK_NONE;
		c->ilen = c->ooff = c->olen = 0;
		c->blob = NULL;
		c->blob_len = c->blob_off = 0;
		c->blob_left = 0;
		c->tail = NULL;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
			die("epoll_ctl ADD: %s", strerror(errno));
	}
}

static const char *const event_actions[] = { "create", "start", "die", "stop", "destroy" };
#define N_EVENT_ACTIONS (sizeof(event_actions) / sizeof(event_actions[0]))

static void on_tick(int tfd)
{
	uint64_t expirations;
	static char batch[OBUF_SIZE - 64];

	if (read(tfd, &expirations, sizeof(expirations)) == -1 && errno != EAGAIN)
		die("timerfd read: %s", strerror(errno));
	uint64_t now = now_ns();

	/* Every subscriber gets the same batch: the events due since the last
	 * tick, as many as fit one output buffer (the rest are dropped). */
	size_t blen = 0;
	uint64_t due = (uint64_t)((double)(now - start_ns) / 1e9 * opt.events_per_sec);
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	if (ticked_head == NIL)
		events_sent = due; /* nobody listens: nothing to render */
	while (events_sent < due) {
		uint32_t n = opt.containers
				 ? (uint32_t)((events_sent / N_EVENT_ACTIONS) % opt.containers)
				 : 0;
		const char *a = event_actions[events_sent % N_EVENT_ACTIONS];
		char id[65];
		container_id(n, id);
		int len = snprintf(
		    batch + blen, sizeof(batch) - blen,
		    "{\"status\":\"%s\",\"id\":\"%s\",\"from\":\"busybox:latest\",\"Type\":"
		    "\"container\",\"Action\":\"%s\",\"Actor\":{\"ID\":\"%s\",\"Attributes\":"
		    "{\"image\":\"busybox:latest\",\"name\":\"mock-%" PRIu32
		    "\"}},\"scope\":\"local\","
		    "\"time\":%lld,\"timeNano\":%lld%09ld}\n",
		    a, id, a, id, n, (long long)rt.tv_sec, (long long)rt.tv_sec, rt.tv_nsec);
		if (len < 0 || (size_t)len >= sizeof(batch) - blen) {
			dropped_events += due - events_sent;
			events_sent = due;
			break;
		}
		blen += (size_t)len;
		events_sent++;
	}

	char doc[OBUF_SIZE - 512];
	for (uint32_t i = ticked_head, next; i != NIL; i = next) {
		struct conn *c = &conns[i];
		next = c->next; /* conn_run may close c */
		if (c->stream == STREAM_EVENTS) {
			if (blen == 0)
				continue;
			if (!out_chunk(c, batch, blen))
				dropped_events++;
		} else {
			if (now < c->next_ns)
				continue;
			c->next_ns += STATS_PERIOD_NS;
			if (c->next_ns < now)
				c->next_ns = now + STATS_PERIOD_NS;
			out_chunk(c, doc, render_stats(doc, sizeof(doc), c->cidx));
		}
		conn_run(c);
	}
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("-socket: path longer than %zu bytes", sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			die("-socket: %s exists and is not a socket", path);
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die("bind %s: %s", path, strerror(errno));
	if (listen(fd, 4096) == -1)
		die("listen: %s", strerror(errno));
	return fd;
}

static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

static void parse_args(int argc, char **argv)
{
	static const struct {
		const char *name;
		uint32_t *val;
		uint32_t min, max;
	} nums[] = {
		{ "containers", &opt.containers, 0, CONTAINERS_MAX },
		{ "frame-size", &opt.frame_size, 1, FRAME_MAX },
		{ "log-frames", &opt.log_frames, 0, LOG_FRAMES_MAX },
		{ "events-per-sec", &opt.events_per_sec, 0, EVENTS_PER_SEC_MAX },
		{ "max-conns", &opt.max_conns, 1, CONNS_MAX },
	};

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-')
			goto bad;
		a += a[1] == '-' ? 2 : 1;
		if (strcmp(a, "h") == 0 || strcmp(a, "help") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		}
		char name[32];
		const char *val;
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
		if (nlen >= sizeof(name))
			goto bad;
		memcpy(name, a, nlen);
		name[nlen] = '\0';
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			die("%s: missing value\n%s", argv[i], usage_text);
		if (strcmp(name, "socket") == 0) {
			if (*val == '\0')
				die("-socket: empty path");
			opt.socket = val;
			continue;
		}
		size_t k;
		for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
			if (strcmp(name, nums[k].name) == 0)
				break;
		if (k == sizeof(nums) / sizeof(nums[0]))
			goto bad;
		if (!parse_u32(val, nums[k].min, nums[k].max, nums[k].val))
			die("-%s: want an integer in [%" PRIu32 ", %" PRIu32 "], got \"%s\"", name,
			    nums[k].min, nums[k].max, val);
		continue;
	bad:
		fprintf(stderr, "mock-engine: unknown argument \"%s\"\n%s", argv[i], usage_text);
		exit(2);
	}
	if (opt.socket == NULL) {
		fprintf(stderr, "mock-engine: -socket is required\n%s", usage_text);
		exit(2);
	}
}

/* raise_nofile lifts the soft descriptor limit to the hard one, so 10000+
 * held streams fit, and says so up front when -max-conns still cannot. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			die("setrlimit RLIMIT_NOFILE to %llu: %s", (unsigned long long)rl.rlim_max,
			    strerror(errno));
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)opt.max_conns + 16)
		fprintf(stderr,
			"mock-engine: RLIMIT_NOFILE is %llu (hard limit): fewer than the %" PRIu32
			" connections of -max-conns fit; accept will fail with EMFILE beyond it\n",
			(unsigned long long)rl.rlim_cur, opt.max_conns);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	id_inv = ID_MUL; /* Newton: each step doubles the correct low bits */
	for (int i = 0; i < 5; i++)
		id_inv *= 2 - ID_MUL * id_inv;
	start_ns = now_ns();
	build_static();

	/* Slots are touched only when first used (conns_used), so a large
	 * -max-conns costs address space, not memory. */
	size_t bytes = (size_t)opt.max_conns * sizeof(struct conn);
	conns = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (conns == MAP_FAILED)
		die("mmap %zu bytes: %s", bytes, strerror(errno));

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1)
		die("epoll_create1: %s", strerror(errno));
	int lfd = listen_unix(opt.socket);
	listen_fd = lfd;
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd == -1)
		die("timerfd_create: %s", strerror(errno));
	struct itimerspec its = { .it_interval.tv_nsec = TICK_NS, .it_value.tv_nsec = TICK_NS };
	if (timerfd_settime(tfd, 0, &its, NULL) == -1)
		die("timerfd_settime: %s", strerror(errno));
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd == -1)
		die("signalfd: %s", strerror(errno));
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TOK_LISTEN };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	ev.data.u32 = TOK_TIMER;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	ev.data.u32 = TOK_SIGNAL;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));

	printf("mock-engine: listening on %s\n", opt.socket);
	fflush(stdout);

	for (bool running = true; running;) {
		struct epoll_event evs[EPOLL_BATCH];
		int n = epoll_wait(epfd, evs, EPOLL_BATCH, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			uint32_t tok = evs[i].data.u32;
			if (tok == TOK_LISTEN) {
				on_accept(lfd);
			} else if (tok == TOK_TIMER) {
				on_tick(tfd);
			} else if (tok == TOK_SIGNAL) {
				running = false;
			} else if (conns[tok].fd != -1) {
				conn_run(&conns[tok]);
			}
		}
	}

	for (uint32_t i = 0; i < conns_used; i++)
		if (conns[i].fd != -1)
			close(conns[i].fd);
	munmap(conns, bytes);
	close(lfd);
	close(tfd);
	close(sfd);
	close(epfd);
	unlink(opt.socket);
	free(b_ping.p);
	free(b_version.p);
	free(b_info.p);
	free(b_list.p);
	free(b_notfound.p);
	free(b_frames.p);
	if (refused_conns > 0)
		fprintf(stderr, "mock-engine: %" PRIu64 " connections refused: no free slot\n",
			refused_conns);
	if (dropped_events > 0)
		fprintf(stderr, "mock-engine: %" PRIu64 " events dropped for slow readers\n",
			dropped_events);
	return 0;
}
