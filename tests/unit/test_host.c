/* tests/unit/test_host.c - the /proc host collector against fixture trees
 * written into a temp dir: CPU percentage across several /proc/stat
 * snapshots, meminfo with and without MemAvailable, net/dev with lo and
 * several interfaces, malformed and truncated files (zeros, flagged), the
 * agent's own process figures; then a sanity pass over the real /proc. */
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "adapters/host.h"

static char g_root[64];

static const char stat_hdr_rest[] = "cpu0 1 2 3 4 5 6 7 8 0 0\n"
				    "intr 12345 0 0 0\n"
				    "ctxt 999\n";

static const char meminfo_avail[] = "MemTotal:       16000000 kB\n"
				    "MemFree:         1000000 kB\n"
				    "MemAvailable:    6000000 kB\n"
				    "Buffers:          200000 kB\n"
				    "Cached:          3000000 kB\n"
				    "SwapCached:            0 kB\n";

static const char net_dev[] =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo: 5000000   40000    0    0    0     0          0         0  5000000   40000    0 "
    "   0    0     0       0          0\n"
    "  eth0: 1000000    9000    0    0    0     0          0         0   200000    1500    0 "
    "   0    0     0       0          0\n"
    "docker0:    3000      30    0    0    0     0          0         0     4000      40    0 "
    "   0    0     0       0          0\n";

/* path_of returns g_root/rel in a static buffer (one at a time). */
static const char *path_of(const char *rel)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/%s", g_root, rel);
	return p;
}

/* put writes content to g_root/rel, replacing the file. */
static void put(const char *rel, const char *content)
{
	FILE *f = fopen(path_of(rel), "w");

	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
	assert_int_equal(fclose(f), 0);
}

/* put_stat writes a /proc/stat whose aggregate line is cpu_line. */
static void put_stat(const char *cpu_line)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s\n%s", cpu_line, stat_hdr_rest);
	put("stat", buf);
}

/* put_healthy writes a complete, well-formed fixture tree. */
static void put_healthy(void)
{
	put_stat("cpu  100 0 100 700 100 0 0 0 0 0");
	put("meminfo", meminfo_avail);
	put("net/dev", net_dev);
	put("uptime", "350735.47 234388.90\n");
}

static int setup(void **state)
{
	snprintf(g_root, sizeof(g_root), "/tmp/lk_test_host.XXXXXX");
	if (mkdtemp(g_root) == NULL)
		return -1;
	if (mkdir(path_of("net"), 0700) != 0 || mkdir(path_of("self"), 0700) != 0 ||
	    mkdir(path_of("self/fd"), 0700) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_root);
	return system(cmd) == 0 ? 0 : -1;
}

/* Remove every fixture file so each test starts from an empty root. */
static int clear(void **state)
{
	static const char *const files[] = { "stat",   "meminfo",    "net/dev",
					     "uptime", "self/statm", "self/status" };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(path_of(files[i]));
	return 0;
}

static uint32_t affinity_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	return (uint32_t)CPU_COUNT(&set);
}

/* ---- CPU ---------------------------------------------------------------- */

static void test_cpu_percent(void **state)
{
	struct lk_host *h = lk_host_new(g_root, NULL);
	struct lk_host_snap s;

	assert_non_null(h);
	put_healthy();
	/* First reading: no previous one, so 0 by definition. */
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_true(s.cpu_usage == 0);
	assert_int_equal(s.cpu_cores, affinity_cpus());

	/* total 1000 -> 1900, idle+iowait 800 -> 1500: 1 - 700/900. */
	put_stat("cpu  200 0 200 1300 200 0 0 0 0 0");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_float_equal(s.cpu_usage, (1.0 - 700.0 / 900.0) * 100.0, 1e-9);

	/* Nothing moved: dtotal = 0 gives 0, not NaN. */
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_true(s.cpu_usage == 0);

	/* nice, irq, softirq and steal count as busy; the two fields after
	 * steal (guest, guest_nice, already inside user) are ignored.
	 * total 1900 -> 2400 (+500), idle 1500 -> 1600 (+100): 80%. */
	put_stat("cpu  450 50 250 1380 220 10 20 20 777 777");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_float_equal(s.cpu_usage, 80.0, 1e-9);

	/* Fully busy: idle unchanged. */
	put_stat("cpu  550 50 250 1380 220 10 20 20");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_float_equal(s.cpu_usage, 100.0, 1e-9);

	/* Counters going backwards (restored VM): 0, and the new reading
	 * becomes the reference. */
	put_stat("cpu  10 0 10 80 0 0 0 0");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_true(s.cpu_usage == 0);
	put_stat("cpu  60 0 10 130 0 0 0 0");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_float_equal(s.cpu_usage, 50.0, 1e-9);

	/* A short line (7 numbers) is a failed reading: 0, flagged, and the
	 * previous good reading stays the reference. */
	put_stat("cpu  70 0 10 130 0 0 0");
	assert_int_equal(lk_host_collect(h, &s), LK_HOST_F_CPU);
	assert_true(s.cpu_usage == 0);
	put_stat("cpu  75 0 10 135 0 0 0 0");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_float_equal(s.cpu_usage, 75.0, 1e-9);
	lk_host_free(h);
}

static void test_cpu_malformed(void **state)
{
	static const char *const bad[] = {
		"",					     /* empty file */
		"cpu0 1 2 3 4 5 6 7 8\nintr 1\n",	     /* no aggregate line */
		"cpu  1 2 3",				     /* truncated */
		"cpu  1 2 3 4 5 6 7 x\n",		     /* not a number */
		"cpu  1 2 3 4 5 6 7 -8\n",		     /* negative */
		"cpu  1 2 3 4 5 6 7 8x\n",		     /* junk glued on */
		"cpu  99999999999999999999 2 3 4 5 6 7 8\n", /* > 2^64 */
		"cpu  18446744073709551615 1 0 0 0 0 0 0\n", /* sum overflows */
		"cpu\t1 2 3 4 5 6 7 8\n",		     /* "cpu " needs the space */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lk_host *h = lk_host_new(g_root, NULL);
		struct lk_host_snap s;

		assert_non_null(h);
		put_healthy();
		put("stat", bad[i]);
		assert_int_equal(lk_host_collect(h, &s), LK_HOST_F_CPU);
		/* A good reading after a bad one is still a first reading. */
		put_stat("cpu  100 0 100 700 100 0 0 0");
		assert_int_equal(lk_host_collect(h, &s), 0);
		assert_true(s.cpu_usage == 0);
		lk_host_free(h);
	}
}

/* ---- memory ------------------------------------------------------------- */

static void test_mem(void **state)
{
	struct lk_host *h = lk_host_new(g_root, NULL);
	struct lk_host_snap s;

	assert_non_null(h);
	put_healthy();
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_int_equal(s.mem_total, 16000000ull * 1024);
	assert_int_equal(s.mem_free, 6000000ull * 1024);
	assert_int_equal(s.mem_used, 10000000ull * 1024);

	/* Before Linux 3.14 there is no MemAvailable: MemFree + Buffers +
	 * Cached, and SwapCached (listed first here) is not Cached. */
	put("meminfo", "MemTotal:       16000000 kB\n"
		       "MemFree:         1000000 kB\n"
		       "SwapCached:       555555 kB\n"
		       "Buffers:          200000 kB\n"
		       "Cached:          3000000 kB\n");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_int_equal(s.mem_total, 16000000ull * 1024);
	assert_int_equal(s.mem_free, 4200000ull * 1024);
	assert_int_equal(s.mem_used, 11800000ull * 1024);

	/* free above total (a container's view can do that): used 0. */
	put("meminfo", "MemTotal: 1000 kB\nMemAvailable: 2000 kB\n");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_int_equal(s.mem_total, 1000 * 1024);
	assert_int_equal(s.mem_free, 2000 * 1024);
	assert_int_equal(s.mem_used, 0);

	/* Missing fields count as 0; no trailing newline is fine. */
	put("meminfo", "MemTotal: 1000 kB\nCached: 100 kB");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_int_equal(s.mem_free, 100 * 1024);
	assert_int_equal(s.mem_used, 900 * 1024);

	/* A line longer than the reader's buffer is skipped whole, and what
	 * follows it still counts. */
	{
		static char big[10000];

		memset(big, 'x', sizeof(big) - 64);
		snprintf(big + sizeof(big) - 64, 64, "\nMemTotal: 10 kB\nMemAvailable: 4 kB\n");
		put("meminfo", big);
		assert_int_equal(lk_host_collect(h, &s), 0);
		assert_int_equal(s.mem_total, 10 * 1024);
		assert_int_equal(s.mem_used, 6 * 1024);
	}
	lk_host_free(h);
}

static void test_mem_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"MemFree: 100 kB\nMemAvailable: 50 kB\n", /* no MemTotal */
		"MemTotal 1000 kB\n",			  /* no colon */
		"MemTotal: kB\n",			  /* no number */
		"MemTotal: 12abc kB\n",
		"MemTotal: 1000 MB\n",		    /* unknown unit */
		"MemTotal: 18014398509481984 kB\n", /* * 1024 overflows */
		"MemTotalX: 1000 kB\n",
		"MemTot", /* truncated */
	};
	struct lk_host *h = lk_host_new(g_root, NULL);

	assert_non_null(h);
	put_healthy();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lk_host_snap s;

		put("meminfo", bad[i]);
		assert_int_equal(lk_host_collect(h, &s), LK_HOST_F_MEM);
		assert_int_equal(s.mem_total, 0);
		assert_int_equal(s.mem_used, 0);
		assert_int_equal(s.mem_free, 0);
	}
	lk_host_free(h);
}

/* ---- network ------------------------------------------------------------ */

static void test_net(void **state)
{
	struct lk_host *h = lk_host_new(g_root, NULL);
	struct lk_host_snap s;

	assert_non_null(h);
	put_healthy();
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_int_equal(s.net_rx, 1000000 + 3000);
	assert_int_equal(s.net_tx, 200000 + 4000);

	/* Old kernels glue the receive counter to the colon; a name that
	 * merely starts with "lo" is not lo; broken lines are skipped. */
	put("net/dev", "h1\nh2\n"
		       "eth0:4294967296 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n"
		       "  lo0: 10 1 0 0 0 0 0 0 20 1 0 0 0 0 0 0\n"
		       "  lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n"
		       "  eth1: 5 1 0 0 0 0 0 0\n"		  /* too few fields */
		       "  eth2 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n" /* no colon */
		       "  eth3: 5 1 0 0 0 0 0 0 x 1 0 0 0 0 0 0\n"
		       "  eth4: 100 1 0 0 0 0 0 0 200"); /* truncated after tx */
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_int_equal(s.net_rx, 4294967296ull + 10 + 100);
	assert_int_equal(s.net_tx, 7 + 20 + 200);

	/* A Docker host with hundreds of veths: lines cross the reader's
	 * buffer boundaries many times over. */
	{
		static char many[64 * 1024];
		size_t len = (size_t)snprintf(many, sizeof(many), "h1\nh2\n");

		for (int i = 0; i < 400; i++) {
			len += (size_t)snprintf(many + len, sizeof(many) - len,
						"veth%07x: %8d 1 0 0 0 0 0 0 %8d 1 0 0 0 0 0 0\n",
						i, i, 2 * i);
			assert_true(len < sizeof(many));
		}
		put("net/dev", many);
		assert_int_equal(lk_host_collect(h, &s), 0);
		assert_int_equal(s.net_rx, 399 * 400 / 2);
		assert_int_equal(s.net_tx, 399 * 400);
	}

	/* Only lo: zeros, which is a valid reading. */
	put("net/dev", "h1\nh2\n  lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_int_equal(s.net_rx, 0);
	assert_int_equal(s.net_tx, 0);

	/* Headers only, or not even that. */
	put("net/dev", "Inter-|\n face |\n");
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_int_equal(s.net_rx, 0);
	put("net/dev", "Inter-|\n");
	assert_int_equal(lk_host_collect(h, &s), LK_HOST_F_NET);
	assert_int_equal(s.net_rx, 0);
	assert_int_equal(s.net_tx, 0);
	put("net/dev", "");
	assert_int_equal(lk_host_collect(h, &s), LK_HOST_F_NET);
	lk_host_free(h);
}

/* ---- uptime, disk, missing files ---------------------------------------- */

static void test_uptime(void **state)
{
	static const struct {
		const char *text;
		uint64_t want;
		int flags;
	} cases[] = {
		{ "350735.47 234388.90\n", 350735, 0 },
		{ "12 34\n", 12, 0 },
		{ "7.", 7, 0 },
		{ "", 0, LK_HOST_F_UPTIME },
		{ "abc 1\n", 0, LK_HOST_F_UPTIME },
		{ "12x 1\n", 0, LK_HOST_F_UPTIME },
		{ ".5 1\n", 0, LK_HOST_F_UPTIME },
		{ "-5 1\n", 0, LK_HOST_F_UPTIME },
	};
	struct lk_host *h = lk_host_new(g_root, NULL);

	assert_non_null(h);
	put_healthy();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lk_host_snap s;

		put("uptime", cases[i].text);
		assert_int_equal(lk_host_collect(h, &s), cases[i].flags);
		assert_int_equal(s.uptime_s, cases[i].want);
	}
	lk_host_free(h);
}

static void test_disk(void **state)
{
	struct lk_host *h;
	struct lk_host_snap s;

	put_healthy();
	/* Any directory will do: the temp dir's file system has space. */
	h = lk_host_new(g_root, g_root);
	assert_non_null(h);
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_true(s.disk_total > 0);
	assert_true(s.disk_free <= s.disk_total);
	assert_int_equal(s.disk_used + s.disk_free, s.disk_total);
	lk_host_free(h);

	/* Skipped (SKIP_DF_COLLECTION): zeros, not a failure. */
	h = lk_host_new(g_root, NULL);
	assert_non_null(h);
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_int_equal(s.disk_total, 0);
	assert_int_equal(s.disk_used, 0);
	assert_int_equal(s.disk_free, 0);
	lk_host_free(h);

	/* A path that does not exist: zeros, flagged. */
	h = lk_host_new(g_root, path_of("no/such/dir"));
	assert_non_null(h);
	assert_int_equal(lk_host_collect(h, &s), LK_HOST_F_DISK);
	assert_int_equal(s.disk_total, 0);
	assert_int_equal(s.disk_used, 0);
	assert_int_equal(s.disk_free, 0);
	lk_host_free(h);
}

static void test_missing_everything(void **state)
{
	struct lk_host *h = lk_host_new(path_of("nothing-here"), path_of("nothing-here"));
	struct lk_host_snap s;

	assert_non_null(h);
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(lk_host_collect(h, &s), LK_HOST_F_CPU | LK_HOST_F_MEM | LK_HOST_F_DISK |
						     LK_HOST_F_NET | LK_HOST_F_UPTIME);
	assert_true(s.cpu_usage == 0);
	assert_int_equal(s.cpu_cores, affinity_cpus()); /* not from /proc */
	assert_int_equal(s.mem_total, 0);
	assert_int_equal(s.mem_used, 0);
	assert_int_equal(s.mem_free, 0);
	assert_int_equal(s.disk_total, 0);
	assert_int_equal(s.disk_used, 0);
	assert_int_equal(s.disk_free, 0);
	assert_int_equal(s.net_rx, 0);
	assert_int_equal(s.net_tx, 0);
	assert_int_equal(s.uptime_s, 0);
	lk_host_free(h);

	/* A directory where a file should be: open works, read fails. */
	assert_int_equal(mkdir(path_of("dirs"), 0700), 0);
	assert_int_equal(mkdir(path_of("dirs/stat"), 0700), 0);
	assert_int_equal(mkdir(path_of("dirs/meminfo"), 0700), 0);
	h = lk_host_new(path_of("dirs"), NULL);
	assert_non_null(h);
	assert_int_equal(lk_host_collect(h, &s) & (LK_HOST_F_CPU | LK_HOST_F_MEM),
			 LK_HOST_F_CPU | LK_HOST_F_MEM);
	lk_host_free(h);

	/* An endless file with no newline: the reader gives up after its byte
	 * bound instead of spinning. */
	put_healthy();
	unlink(path_of("stat"));
	assert_int_equal(symlink("/dev/zero", path_of("stat")), 0);
	h = lk_host_new(g_root, NULL);
	assert_non_null(h);
	assert_int_equal(lk_host_collect(h, &s), LK_HOST_F_CPU);
	assert_int_equal(s.mem_total, 16000000ull * 1024);
	lk_host_free(h);
}

static void test_new_limits(void **state)
{
	static char long_path[5000];

	memset(long_path, 'a', sizeof(long_path) - 1);
	assert_null(lk_host_new(long_path, NULL));
	assert_null(lk_host_new("/proc", long_path));
	lk_host_free(NULL);
}

/* ---- concurrency -------------------------------------------------------- */

static void *collect_loop(void *arg)
{
	struct lk_host *h = arg;

	for (int i = 0; i < 200; i++) {
		struct lk_host_snap s;

		if (lk_host_collect(h, &s) != 0 || s.cpu_usage < 0 || s.cpu_usage > 100 ||
		    s.mem_total != 16000000ull * 1024)
			return (void *)1;
	}
	return NULL;
}

/* The metrics handler and the edge heartbeat share one collector. */
static void test_threads(void **state)
{
	struct lk_host *h = lk_host_new(g_root, NULL);
	pthread_t t[4];

	assert_non_null(h);
	put_healthy();
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, collect_loop, h), 0);
	for (size_t i = 0; i < 4; i++) {
		void *ret;

		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	lk_host_free(h);
}

/* ---- this process ------------------------------------------------------- */

static void test_process_fixture(void **state)
{
	struct lk_proc_snap p;
	char name[32];

	put("self/statm", "5000 250 100 10 0 300 0\n");
	put("self/status", "Name:\tlookout\nVmRSS:\t    4000 kB\nThreads:\t7\n");
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "self/fd/%d", i);
		put(name, "");
	}
	assert_int_equal(lk_host_process(g_root, &p), 0);
	assert_int_equal(p.rss_bytes, 250 * (uint64_t)sysconf(_SC_PAGESIZE)); /* statm wins */
	assert_int_equal(p.n_fds, 5);
	assert_int_equal(p.n_threads, 7);

	/* No statm (or a broken one): VmRSS of status. */
	put("self/statm", "5000 x\n");
	assert_int_equal(lk_host_process(g_root, &p), 0);
	assert_int_equal(p.rss_bytes, 4000 * 1024);
	unlink(path_of("self/statm"));
	assert_int_equal(lk_host_process(g_root, &p), 0);
	assert_int_equal(p.rss_bytes, 4000 * 1024);

	/* Neither: zeros, flagged per field. */
	put("self/status", "Name:\tlookout\nThreads: many\n");
	assert_int_equal(lk_host_process(g_root, &p), LK_PROC_F_RSS | LK_PROC_F_THREADS);
	assert_int_equal(p.rss_bytes, 0);
	assert_int_equal(p.n_threads, 0);
	assert_int_equal(p.n_fds, 5);

	assert_int_equal(lk_host_process(path_of("nothing-here"), &p),
			 LK_PROC_F_RSS | LK_PROC_F_FDS | LK_PROC_F_THREADS);
	assert_int_equal(p.rss_bytes, 0);
	assert_int_equal(p.n_fds, 0);
	assert_int_equal(p.n_threads, 0);
}

/* ---- the real /proc ----------------------------------------------------- */

/* open_fds counts our descriptors independently of /proc. */
static uint32_t open_fds(void)
{
	uint32_t n = 0;
	long max = sysconf(_SC_OPEN_MAX);

	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 0; fd < max; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	}
	return n;
}

static void test_real_proc(void **state)
{
	struct lk_host *h;
	struct lk_host_snap s;
	struct lk_proc_snap p;

	if (access("/proc/stat", R_OK) != 0)
		skip();
	h = lk_host_new("/proc", "/");
	assert_non_null(h);
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_true(s.mem_total > 0);
	assert_true(s.mem_used <= s.mem_total);
	assert_true(s.cpu_cores >= 1);
	assert_true(s.uptime_s > 0);
	assert_true(s.disk_total > 0);
	usleep(20000);
	assert_int_equal(lk_host_collect(h, &s), 0);
	assert_true(s.cpu_usage >= 0 && s.cpu_usage <= 100);
	lk_host_free(h);

	assert_int_equal(lk_host_process("/proc", &p), 0);
	assert_true(p.rss_bytes > 0);
	assert_true(p.n_threads >= 1);
	/* The directory listing's own descriptor is not counted. */
	assert_int_equal(p.n_fds, open_fds());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_cpu_percent, clear),
		cmocka_unit_test_setup(test_cpu_malformed, clear),
		cmocka_unit_test_setup(test_mem, clear),
		cmocka_unit_test_setup(test_mem_malformed, clear),
		cmocka_unit_test_setup(test_net, clear),
		cmocka_unit_test_setup(test_uptime, clear),
		cmocka_unit_test_setup(test_disk, clear),
		cmocka_unit_test_setup(test_missing_everything, clear),
		cmocka_unit_test(test_new_limits),
		cmocka_unit_test_setup(test_threads, clear),
		cmocka_unit_test_setup(test_process_fixture, clear),
		cmocka_unit_test(test_real_proc),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
