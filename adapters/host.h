/* adapters/host.h - host and agent-process figures read from /proc (spec
 * lookout-core 12 "Host collector"; docker-drydock-edge 6.5 `metrics`).
 *
 * One collector feeds both the Prometheus endpoint and the edge heartbeat, so
 * the CPU percentage (a difference between two readings) is computed against
 * whichever of them asked last, as the reference did.
 *
 * Sources, all read under a configurable proc root so tests can point the
 * collector at fixture files:
 * - <root>/stat: the first line starting "cpu "; user, nice, system, idle,
 *   iowait, irq, softirq, steal (at least those 8 numbers). total = their
 *   sum, idle = idle + iowait, usage = (1 - didle/dtotal) * 100 against the
 *   previous successful reading; 0 on the first, when dtotal is 0, and when
 *   a counter went backwards.
 * - <root>/meminfo: kB values * 1024; free = MemAvailable if present, else
 *   MemFree + Buffers + Cached; used = total - free when total > free.
 * - statfs(disk_path), not under the root (it is a real mount point): total
 *   = blocks * frsize, free = bavail * frsize (what an unprivileged writer can
 *   still use), used = total - free.
 * - <root>/net/dev: the two header lines skipped, then per interface except
 *   `lo` receive bytes (field 0 after the ':') and transmit bytes (field 8).
 * - <root>/uptime: the first number, truncated to whole seconds.
 * - cores: sched_getaffinity, so a container limited by cpuset sees its own
 *   share rather than the host's count.
 *
 * A source that cannot be read or parsed yields zeros for its fields, never
 * an error: a metrics scrape or heartbeat must not fail because /proc looks
 * odd inside some sandbox. Files are read through a fixed 4 KiB line buffer,
 * so a huge or hostile file costs bounded memory; a line longer than that is
 * skipped.
 *
 * Threads: lk_host_collect takes the collector's mutex for the whole
 * reading. It does blocking file I/O, so it runs on a control thread (the
 * metrics handler's helper, the edge heartbeat), never on a ring thread. */
#ifndef LK_ADAPTERS_HOST_H
#define LK_ADAPTERS_HOST_H

#include <stdint.h>

/* struct lk_host_snap is one reading; byte counts are in bytes. */
struct lk_host_snap {
	double cpu_usage;    /* percent, 0..100, since the previous collect */
	uint32_t cpu_cores;  /* CPUs this process may run on, >= 1 */
	uint64_t mem_total;  /* MemTotal */
	uint64_t mem_used;   /* mem_total - mem_free, or 0 */
	uint64_t mem_free;   /* MemAvailable, else MemFree + Buffers + Cached */
	uint64_t disk_total; /* 0 when disk_path is NULL or statfs failed */
	uint64_t disk_used;
	uint64_t disk_free; /* available to unprivileged users */
	uint64_t net_rx;    /* receive bytes, all interfaces but lo */
	uint64_t net_tx;    /* transmit bytes, all interfaces but lo */
	uint64_t uptime_s;  /* host uptime, whole seconds */
};

/* struct lk_proc_snap describes the agent process itself. */
struct lk_proc_snap {
	uint64_t rss_bytes; /* resident set size */
	uint32_t n_fds;	    /* open file descriptors */
	uint32_t n_threads; /* threads in the process */
};

/* Sources lk_host_collect reports as unreadable (bit set: fields zeroed). */
#define LK_HOST_F_CPU	 (1u << 0) /* <root>/stat */
#define LK_HOST_F_MEM	 (1u << 1) /* <root>/meminfo */
#define LK_HOST_F_DISK	 (1u << 2) /* statfs(disk_path); never set when skipped */
#define LK_HOST_F_NET	 (1u << 3) /* <root>/net/dev */
#define LK_HOST_F_UPTIME (1u << 4) /* <root>/uptime */

/* Sources lk_host_process reports as unreadable. */
#define LK_PROC_F_RSS	  (1u << 0) /* <root>/self/statm and VmRSS of status */
#define LK_PROC_F_FDS	  (1u << 1) /* <root>/self/fd */
#define LK_PROC_F_THREADS (1u << 2) /* Threads: of <root>/self/status */

struct lk_host;

/* lk_host_new returns a collector reading under proc_root (normally "/proc")
 * and taking disk figures from statfs(disk_path) (normally
 * "/var/lib/docker"; NULL skips them, for SKIP_DF_COLLECTION). Both strings
 * are copied. Returns NULL when out of memory or when a path is longer than
 * PATH_MAX. Called at start-up. */
struct lk_host *lk_host_new(const char *proc_root, const char *disk_path);

/* lk_host_free releases h; NULL is fine. No collect may be running. */
void lk_host_free(struct lk_host *h);

/* lk_host_collect fills every field of *out with a fresh reading. Never
 * fails: it returns 0 when every source was read, otherwise the LK_HOST_F_*
 * bits of the sources whose fields it zeroed (worth a debug line, nothing
 * more). Thread-safe (serialised on h's mutex); blocks on file I/O. */
int lk_host_collect(struct lk_host *h, struct lk_host_snap *out);

/* lk_host_process fills *out with the figures of the calling process, read
 * from <proc_root>/self: rss_bytes from statm (resident pages * page size),
 * else VmRSS of status; n_fds by counting the entries of self/fd (the one
 * the count itself opens is left out); n_threads from Threads: of status.
 * Like lk_host_collect it never fails: it returns 0 or the LK_PROC_F_* bits
 * of the fields it zeroed. Stateless and thread-safe; blocks on file I/O. */
int lk_host_process(const char *proc_root, struct lk_proc_snap *out);

#endif /* LK_ADAPTERS_HOST_H */
