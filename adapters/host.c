/* adapters/host.c - host and agent-process figures read from /proc.
 *
 * Every file goes through one reader (struct rd) that hands out lines from a
 * fixed buffer and stops after RD_BYTES_MAX bytes, and every number through
 * one checked decimal parser, so nothing here trusts a /proc file's size or
 * shape: a short, truncated or garbled file makes its source read as zeros. */
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/host.h"
#include "core/dbg.h"
#include "core/err.h"

/* RD_BUF_BYTES is the longest line the reader hands out; /proc lines we use
 * are under 200 bytes. RD_BYTES_MAX stops a reader pointed at something
 * endless (a fixture root gone wrong, a FIFO): /proc/net/dev with 10,000
 * veth interfaces is about 1.3 MB. */
#define RD_BUF_BYTES 4096
#define RD_BYTES_MAX (16u << 20)

struct lk_host {
	pthread_mutex_t mu;  /* serialises collects: guards the prev_* fields */
	bool have_prev;	     /* prev_* hold a successful /proc/stat reading */
	uint64_t prev_total; /* jiffies, sum of the 8 CPU fields */
	uint64_t prev_idle;  /* jiffies, idle + iowait */
	bool skip_disk;	     /* SKIP_DF_COLLECTION: disk_path unused */
	char proc_root[PATH_MAX];
	char disk_path[PATH_MAX];
};

/* ---- bounded line reader ------------------------------------------------ */

struct rd {
	int fd;
	bool eof;	   /* read returned 0, or failed */
	bool err;	   /* read failed, or the file passed RD_BYTES_MAX */
	bool skipping;	   /* inside a line longer than the buffer: drop it */
	size_t start, end; /* unconsumed bytes are buf[start..end) */
	size_t total;	   /* bytes read so far */
	char buf[RD_BUF_BYTES];
};

/* path_join writes root/name into dst (cap bytes): 0 or -ENAMETOOLONG. */
static int path_join(char *dst, size_t cap, const char *root, const char *name)
{
	int n = snprintf(dst, cap, "%s/%s", root, name);

	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return 0;
}

/* rd_open opens root/name for reading: 0 or -errno. */
static int rd_open(struct rd *r, const char *root, const char *name)
{
	char path[PATH_MAX];
	int ret = path_join(path, sizeof(path), root, name);

	if (ret < 0)
		return ret;
	r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (r->fd == -1)
		return -errno;
	r->eof = false;
	r->err = false;
	r->skipping = false;
	r->start = 0;
	r->end = 0;
	r->total = 0;
	return 0;
}

static void rd_close(struct rd *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/* rd_fill reads more bytes after compacting the buffer; at end of file or
 * on error it sets eof (and err). A full buffer with no newline in it starts
 * skipping that line. */
static void rd_fill(struct rd *r)
{
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end == sizeof(r->buf)) {
		r->skipping = true;
		r->end = 0;
	}
	for (;;) {
		ssize_t n = read(r->fd, r->buf + r->end, sizeof(r->buf) - r->end);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->err = n < 0;
			r->eof = true;
			return;
		}
		r->end += (size_t)n;
		r->total += (size_t)n;
		if (r->total > RD_BYTES_MAX) {
			r->err = true;
			r->eof = true;
		}
		return;
	}
}

/* rd_line sets *out_p and *out_len to the next line (without its '\n'; a last
 * line without one counts), borrowed from the reader until the next call.
 * Returns false at end of file or on error (check r->err). Lines longer than
 * RD_BUF_BYTES are skipped whole. */
static bool rd_line(struct rd *r, const char **out_p, size_t *out_len)
{
	for (;;) {
		char *line = r->buf + r->start;
		char *nl = memchr(line, '\n', r->end - r->start);

		if (nl != NULL) {
			r->start = (size_t)(nl + 1 - r->buf);
			if (r->skipping) {
				r->skipping = false;
				continue;
			}
			*out_p = line;
			*out_len = (size_t)(nl - line);
			return true;
		}
		if (r->eof) {
			if (r->err || r->skipping || r->start == r->end)
				return false;
			*out_p = line;
			*out_len = r->end - r->start;
			r->start = r->end;
			return true;
		}
		rd_fill(r);
	}
}

/* ---- field parsing ------------------------------------------------------ */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p;
}

/* parse_u64 reads leading blanks then a decimal number from [p, end). Returns
 * the position after its digits, or NULL when there are no digits or the
 * value does not fit in 64 bits. The caller decides what may follow. */
static const char *parse_u64(const char *p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *digits;

	p = skip_blanks(p, end);
	digits = p;
	while (p < end && *p >= '0' && *p <= '9') {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return NULL;
		p++;
	}
	if (p == digits)
		return NULL;
	*out = v;
	return p;
}

/* parse_field reads one blank-separated decimal field: like parse_u64, but
 * the number must end at a blank or at end. */
static const char *parse_field(const char *p, const char *end, uint64_t *out)
{
	p = parse_u64(p, end, out);
	if (p == NULL || (p < end && !is_blank(*p)))
		return NULL;
	return p;
}

/* parse_kv matches a "Key:   123 kB" line of meminfo or status against key:
 * true with the value (times 1024 for a kB unit) when the line is exactly
 * that key followed by a number and an optional unit. */
static bool parse_kv(const char *line, size_t len, const char *key, uint64_t *out)
{
	const char *end = line + len;
	size_t klen = strlen(key);
	const char *p;
	uint64_t v;

	if (len <= klen || memcmp(line, key, klen) != 0 || line[klen] != ':')
		return false;
	p = parse_field(line + klen + 1, end, &v);
	if (p == NULL)
		return false;
	p = skip_blanks(p, end);
	if (end - p == 2 && memcmp(p, "kB", 2) == 0) {
		if (__builtin_mul_overflow(v, 1024, &v))
			return false;
		p += 2;
	}
	if (p != end)
		return false;
	*out = v;
	return true;
}

/* ---- sources ------------------------------------------------------------ */

/* read_cpu reads the aggregate "cpu " line of root/stat into jiffy totals:
 * 0, or a negative errno when the file or the line is missing or short. */
static int read_cpu(const char *root, uint64_t *out_total, uint64_t *out_idle)
{
	struct rd r;
	const char *line;
	size_t len;
	int ret = rd_open(&r, root, "stat");

	if (ret < 0)
		return ret;
	ret = -ENODATA;
	while (rd_line(&r, &line, &len)) {
		const char *p, *end = line + len;
		uint64_t v[8], total = 0;

		if (len < 4 || memcmp(line, "cpu ", 4) != 0)
			continue;
		ret = -EINVAL;
		p = line + 4;
		for (size_t i = 0; i < LK_ARRAY_SIZE(v) && p != NULL; i++) {
			p = parse_field(p, end, &v[i]);
			if (p != NULL && __builtin_add_overflow(total, v[i], &total))
				p = NULL;
		}
		if (p == NULL)
			break;
		*out_total = total;
		*out_idle = v[3] + v[4]; /* cannot overflow: total did not */
		ret = 0;
		break;
	}
	if (r.err)
		ret = -EIO;
	rd_close(&r);
	return ret;
}

/* cpu_percent is the busy share of the jiffies between two readings. */
static double cpu_percent(uint64_t prev_total, uint64_t prev_idle, uint64_t total, uint64_t idle)
{
	double pct;

	/* A counter going backwards (a CPU hot-unplugged, a VM migrated) gives
	 * no meaningful difference; report 0 rather than garbage. */
	if (total <= prev_total || idle < prev_idle)
		return 0;
	pct = (1.0 - (double)(idle - prev_idle) / (double)(total - prev_total)) * 100.0;
	if (pct < 0)
		return 0;
	return pct;
}

/* read_mem fills the memory fields from root/meminfo: 0 or -errno (the
 * fields stay 0) when the file cannot be read or has no MemTotal. */
static int read_mem(const char *root, struct lk_host_snap *out)
{
	enum { TOTAL, AVAIL, FREE, BUFFERS, CACHED, N_KEYS };
	static const char *const keys[N_KEYS] = { "MemTotal", "MemAvailable", "MemFree", "Buffers",
						  "Cached" };
	uint64_t v[N_KEYS] = { 0 };
	bool seen[N_KEYS] = { false };
	struct rd r;
	const char *line;
	size_t len;
	uint64_t free_b;
	int ret = rd_open(&r, root, "meminfo");

	if (ret < 0)
		return ret;
	while (rd_line(&r, &line, &len)) {
		for (size_t i = 0; i < N_KEYS; i++) {
			if (!seen[i] && parse_kv(line, len, keys[i], &v[i])) {
				seen[i] = true;
				break;
			}
		}
	}
	ret = r.err ? -EIO : 0;
	rd_close(&r);
	if (ret < 0)
		return ret;
	if (!seen[TOTAL])
		return -ENODATA;
	if (seen[AVAIL]) {
		free_b = v[AVAIL];
	} else if (__builtin_add_overflow(v[FREE], v[BUFFERS], &free_b) ||
		   __builtin_add_overflow(free_b, v[CACHED], &free_b)) {
		return -ERANGE;
	}
	out->mem_total = v[TOTAL];
	out->mem_free = free_b;
	out->mem_used = v[TOTAL] > free_b ? v[TOTAL] - free_b : 0;
	return 0;
}

/* read_disk fills the disk fields from statfs(path): 0 or -errno. */
static int read_disk(const char *path, struct lk_host_snap *out)
{
	struct statfs st;
	uint64_t unit, total, avail;

	if (statfs(path, &st) == -1)
		return -errno;
	/* Block counts are in f_frsize units (what statvfs and df use); it
	 * equals f_bsize on ext4, xfs and overlayfs, and is 0 only on kernels
	 * before 2.6, where f_bsize was the unit. */
	unit = st.f_frsize != 0 ? (uint64_t)st.f_frsize : (uint64_t)st.f_bsize;
	if (__builtin_mul_overflow((uint64_t)st.f_blocks, unit, &total) ||
	    __builtin_mul_overflow((uint64_t)st.f_bavail, unit, &avail))
		return -ERANGE;
	out->disk_total = total;
	out->disk_free = avail;
	out->disk_used = total > avail ? total - avail : 0;
	return 0;
}

/* net_line adds one interface line of /proc/net/dev to the sums; lines that
 * are lo or do not parse are ignored. */
static void net_line(const char *line, size_t len, uint64_t *rx, uint64_t *tx)
{
	const char *end = line + len;
	const char *colon = memchr(line, ':', len);
	const char *name, *p;
	uint64_t f[9];

	if (colon == NULL)
		return;
	name = skip_blanks(line, colon);
	if (colon - name == 2 && memcmp(name, "lo", 2) == 0)
		return;
	/* Kernels before 3.x glued big receive counters to the colon
	 * ("eth0:1234"); parse_field takes blanks as optional there. */
	p = colon + 1;
	for (size_t i = 0; i < LK_ARRAY_SIZE(f); i++) {
		p = parse_field(p, end, &f[i]);
		if (p == NULL)
			return;
	}
	*rx += f[0];
	*tx += f[8];
}

/* read_net sums the byte counters of root/net/dev: 0 or -errno. */
static int read_net(const char *root, struct lk_host_snap *out)
{
	struct rd r;
	const char *line;
	size_t len, n_lines = 0;
	uint64_t rx = 0, tx = 0;
	int ret = rd_open(&r, root, "net/dev");

	if (ret < 0)
		return ret;
	while (rd_line(&r, &line, &len)) {
		if (n_lines++ < 2)
			continue; /* "Inter-|   Receive ..." and " face |bytes ..." */
		net_line(line, len, &rx, &tx);
	}
	ret = r.err ? -EIO : n_lines < 2 ? -ENODATA : 0;
	rd_close(&r);
	if (ret < 0)
		return ret;
	out->net_rx = rx;
	out->net_tx = tx;
	return 0;
}

/* read_uptime reads the first number of root/uptime, whole seconds. */
static int read_uptime(const char *root, uint64_t *out_s)
{
	struct rd r;
	const char *line, *p, *end;
	size_t len;
	uint64_t v;
	int ret = rd_open(&r, root, "uptime");

	if (ret < 0)
		return ret;
	ret = -ENODATA;
	if (rd_line(&r, &line, &len)) {
		end = line + len;
		p = parse_u64(line, end, &v);
		if (p != NULL && p < end && *p == '.') {
			p++;
			while (p < end && *p >= '0' && *p <= '9')
				p++;
		}
		if (p != NULL && (p == end || is_blank(*p))) {
			*out_s = v;
			ret = 0;
		} else {
			ret = -EINVAL;
		}
	}
	if (r.err)
		ret = -EIO;
	rd_close(&r);
	return ret;
}

/* usable_cpus counts the CPUs this process may run on. */
static uint32_t usable_cpus(void)
{
	cpu_set_t set;
	long n;

	/* cpu_set_t holds 1024 CPUs; on bigger machines the call fails with
	 * EINVAL and the online count is the best cheap answer. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (uint32_t)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1; /* we are running, so there is at least one */
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* ---- collector ---------------------------------------------------------- */

struct lk_host *lk_host_new(const char *proc_root, const char *disk_path)
{
	struct lk_host *h;

	if (proc_root == NULL)
		proc_root = "/proc";
	if (strlen(proc_root) >= PATH_MAX || (disk_path != NULL && strlen(disk_path) >= PATH_MAX))
		return NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	if (pthread_mutex_init(&h->mu, NULL) != 0) {
		free(h);
		return NULL;
	}
	memcpy(h->proc_root, proc_root, strlen(proc_root) + 1);
	h->skip_disk = disk_path == NULL;
	if (disk_path != NULL)
		memcpy(h->disk_path, disk_path, strlen(disk_path) + 1);
	return h;
}

void lk_host_free(struct lk_host *h)
{
	if (h == NULL)
		return;
	pthread_mutex_destroy(&h->mu);
	free(h);
}

int lk_host_collect(struct lk_host *h, struct lk_host_snap *out)
{
	uint64_t total = 0, idle = 0;
	int failed = 0;

	LK_ASSERT(h != NULL);
	LK_ASSERT(out != NULL);
	*out = (struct lk_host_snap){ .cpu_cores = usable_cpus() };

	pthread_mutex_lock(&h->mu);
	if (read_cpu(h->proc_root, &total, &idle) == 0) {
		if (h->have_prev)
			out->cpu_usage = cpu_percent(h->prev_total, h->prev_idle, total, idle);
		h->prev_total = total;
		h->prev_idle = idle;
		h->have_prev = true;
	} else {
		failed |= LK_HOST_F_CPU;
	}
	if (read_mem(h->proc_root, out) < 0)
		failed |= LK_HOST_F_MEM;
	if (!h->skip_disk && read_disk(h->disk_path, out) < 0)
		failed |= LK_HOST_F_DISK;
	if (read_net(h->proc_root, out) < 0)
		failed |= LK_HOST_F_NET;
	if (read_uptime(h->proc_root, &out->uptime_s) < 0)
		failed |= LK_HOST_F_UPTIME;
	pthread_mutex_unlock(&h->mu);
	LK_DASSERT(out->cpu_usage >= 0 && out->cpu_usage <= 100);
	return failed;
}

/* ---- this process ------------------------------------------------------- */

/* read_statm_rss reads the resident page count of root/self/statm. */
static int read_statm_rss(const char *root, uint64_t *out_bytes)
{
	struct rd r;
	const char *line, *p = NULL;
	size_t len;
	uint64_t size, resident;
	long page = sysconf(_SC_PAGESIZE);
	int ret = rd_open(&r, root, "self/statm");

	if (ret < 0)
		return ret;
	if (rd_line(&r, &line, &len)) {
		p = parse_field(line, line + len, &size);
		if (p != NULL)
			p = parse_field(p, line + len, &resident);
	}
	ret = p == NULL || r.err || page < 1 ? -EINVAL : 0;
	rd_close(&r);
	if (ret == 0 && __builtin_mul_overflow(resident, (uint64_t)page, out_bytes))
		ret = -ERANGE;
	return ret;
}

/* read_status picks VmRSS (bytes) and Threads out of root/self/status; a
 * field not found is left alone. */
static int read_status(const char *root, uint64_t *rss, bool *got_rss, uint64_t *threads,
		       bool *got_threads)
{
	struct rd r;
	const char *line;
	size_t len;
	int ret = rd_open(&r, root, "self/status");

	if (ret < 0)
		return ret;
	while (rd_line(&r, &line, &len)) {
		if (!*got_rss && parse_kv(line, len, "VmRSS", rss))
			*got_rss = true;
		else if (!*got_threads && parse_kv(line, len, "Threads", threads))
			*got_threads = true;
	}
	ret = r.err ? -EIO : 0;
	rd_close(&r);
	return ret;
}

/* count_fds counts the entries of root/self/fd: 0 or -errno. */
static int count_fds(const char *root, uint32_t *out_n)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	uint32_t n = 0;
	int fd, ret = path_join(path, sizeof(path), root, "self/fd");

	if (ret < 0)
		return ret;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name, *end = name + strlen(name);
		uint64_t v;

		if (name[0] == '.')
			continue;
		/* The directory we are listing is itself an open fd, which the
		 * caller does not own; a real /proc shows it as a symlink named
		 * by its number. Fixture trees use plain files. */
		if (de->d_type == DT_LNK && parse_u64(name, end, &v) == end && v == (uint64_t)fd)
			continue;
		if (n < UINT32_MAX)
			n++;
	}
	closedir(d);
	*out_n = n;
	return 0;
}

int lk_host_process(const char *proc_root, struct lk_proc_snap *out)
{
	uint64_t rss = 0, threads = 0;
	bool got_rss = false, got_threads = false;
	int failed = 0;

	LK_ASSERT(out != NULL);
	if (proc_root == NULL)
		proc_root = "/proc";
	*out = (struct lk_proc_snap){ 0 };
	if (read_statm_rss(proc_root, &rss) == 0)
		got_rss = true;
	(void)read_status(proc_root, &rss, &got_rss, &threads, &got_threads);
	if (got_rss)
		out->rss_bytes = rss;
	else
		failed |= LK_PROC_F_RSS;
	if (got_threads && threads <= UINT32_MAX)
		out->n_threads = (uint32_t)threads;
	else
		failed |= LK_PROC_F_THREADS;
	if (count_fds(proc_root, &out->n_fds) < 0)
		failed |= LK_PROC_F_FDS;
	return failed;
}
