/* auth/registry.c - authorized_keys snapshots and their epoch-protected cell.
 *
 * Loading streams the file through one LK_KEYS_LINE_MAX buffer, so memory
 * does not grow with comment lines; keys go into a growable array that is
 * sorted by key ID once at the end (ties broken by line number, so "first
 * occurrence wins" survives qsort's instability) and then deduplicated in
 * place. The reclamation scheme of the cell is described in registry.h. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/keys.h"
#include "auth/registry.h"
#include "core/crypto.h"
#include "core/dbg.h"
#include "core/err.h"

#define PATH_SHOW_MAX 256 /* bytes of the path echoed into an error */
#define CACHE_LINE    64

/* reg_entry keeps the line a key came from: it orders duplicates. */
struct reg_entry {
	struct lk_pubkey key;
	uint32_t line;
};

struct lk_registry {
	struct reg_entry *e; /* n entries sorted by key.id, IDs unique */
	size_t n;
	size_t cap;
	size_t n_dups; /* key lines dropped as duplicate IDs */
};

/* reader_slot is one reader's announcement: 0 while quiescent, otherwise the
 * global epoch it observed when it entered. Alone on its cache line. */
struct reader_slot {
	_Alignas(CACHE_LINE) _Atomic uint64_t epoch;
};

struct lk_registry_cell {
	_Atomic(struct lk_registry *) cur;
	_Atomic uint64_t epoch; /* starts at 1 so that 0 can mean quiescent */
	unsigned n_readers;
	struct reader_slot *slots; /* n_readers, cache-line aligned */
};

LK_STATIC_ASSERT(sizeof(struct reader_slot) == CACHE_LINE, "one reader slot per cache line");

/* show_path copies path for an error message with control bytes and quotes
 * replaced by '?', so a hostile file name cannot forge log lines. */
static const char *show_path(char dst[PATH_SHOW_MAX], const char *path)
{
	size_t i;

	for (i = 0; path[i] != '\0' && i + 1 < PATH_SHOW_MAX; i++) {
		unsigned char c = (unsigned char)path[i];

		dst[i] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
	}
	dst[i] = '\0';
	return dst;
}

/* ---- reading lines ------------------------------------------------------ */

/* line_reader streams '\n'-terminated lines through buf, from fd or, when
 * fd is -1, from the memory src[0..src_len) (lk__registry_parse). Memory
 * input is copied through buf like file input, so both go through the same
 * line splitting and hit the same limits at the same bytes. */
struct line_reader {
	int fd;
	const char *src; /* fd == -1: the input, borrowed */
	size_t src_len, src_off;
	char *buf; /* LK_KEYS_LINE_MAX bytes */
	size_t start, end;
	uint64_t total; /* bytes read so far */
	bool eof;
};

/* read_some reads up to cap bytes of lr's source into dst; returns the
 * number read (0 at the end) or -errno. */
static ssize_t read_some(struct line_reader *lr, char *dst, size_t cap)
{
	ssize_t n;

	if (lr->fd == -1) {
		size_t k;

		LK_ASSERT(lr->src_off <= lr->src_len);
		k = LK_MIN(cap, lr->src_len - lr->src_off);

		if (k != 0)
			memcpy(dst, lr->src + lr->src_off, k);
		lr->src_off += k;
		return (ssize_t)k;
	}
	do {
		n = read(lr->fd, dst, cap);
	} while (n == -1 && errno == EINTR);
	return n == -1 ? -errno : n;
}

/* fill reads more bytes after compacting; returns 0, -EFBIG or -errno. */
static int fill(struct line_reader *lr)
{
	ssize_t n;

	if (lr->start != 0) {
		memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
		lr->end -= lr->start;
		lr->start = 0;
	}
	n = read_some(lr, lr->buf + lr->end, LK_KEYS_LINE_MAX - lr->end);
	if (n < 0)
		return (int)n;
	if (n == 0)
		lr->eof = true;
	lr->end += (size_t)n;
	lr->total += (uint64_t)n;
	return lr->total > LK_REGISTRY_FILE_MAX ? -EFBIG : 0;
}

/* next_line returns 1 with the next line (without '\n') in *out_p and *out_len,
 * 0 at the end of the file, -E2BIG when a line does not fit the buffer
 * with its '\n' (Go's bufio.Scanner with a 64 KiB cap fails the same
 * lines), -EFBIG past LK_REGISTRY_FILE_MAX, or -errno from read. */
static int next_line(struct line_reader *lr, const char **out_p, size_t *out_len)
{
	for (;;) {
		char *s = lr->buf + lr->start;
		char *nl = memchr(s, '\n', lr->end - lr->start);
		int rc;

		if (nl != NULL || (lr->eof && lr->start < lr->end)) {
			size_t len = nl != NULL ? (size_t)(nl - s) : lr->end - lr->start;

			lr->start += len + (nl != NULL);
			*out_p = s;
			*out_len = len;
			return 1;
		}
		if (lr->eof)
			return 0;
		if (lr->start == 0 && lr->end == LK_KEYS_LINE_MAX)
			return -E2BIG;
		rc = fill(lr);
		if (rc != 0)
			return rc;
	}
}

/* ---- building a snapshot ------------------------------------------------ */

/* push appends k (read from line) to r, growing the array geometrically.
 * Returns 0, -E2BIG past LK_REGISTRY_KEYS_MAX key lines, or -ENOMEM. */
static int push(struct lk_registry *r, const struct lk_pubkey *k, uint32_t line)
{
	if (r->n == LK_REGISTRY_KEYS_MAX)
		return -E2BIG;
	if (r->n == r->cap) {
		size_t cap = r->cap == 0 ? 16 : LK_MIN(r->cap * 2, (size_t)LK_REGISTRY_KEYS_MAX);
		struct reg_entry *e;

		e = realloc(r->e, cap * sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		r->e = e;
		r->cap = cap;
	}
	r->e[r->n++] = (struct reg_entry){ .key = *k, .line = line };
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct reg_entry *x = a, *y = b;
	int c = memcmp(x->key.id, y->key.id, LK_KEYS_ID_LEN);

	if (c != 0)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/* finish sorts r by ID and keeps the first line of each ID. */
static void finish(struct lk_registry *r)
{
	size_t o = 0;

	if (r->n > 1)
		qsort(r->e, r->n, sizeof(r->e[0]), cmp_entry);
	for (size_t i = 0; i < r->n; i++) {
		if (o != 0 && memcmp(r->e[o - 1].key.id, r->e[i].key.id, LK_KEYS_ID_LEN) == 0) {
			r->n_dups++;
			continue;
		}
		if (o != i)
			r->e[o] = r->e[i];
		o++;
	}
	r->n = o;
}

/* load_lines parses every line of lr into r; on failure writes the reason
 * (naming the line) into err. Returns 0 or a negative errno. */
static int load_lines(struct line_reader *lr, struct lk_registry *r, const char *qpath, char *err,
		      size_t err_len)
{
	char why[256];
	struct lk_pubkey k;
	uint32_t line = 0;
	const char *p = NULL;
	size_t len = 0;
	int rc;

	while ((rc = next_line(lr, &p, &len)) == 1) {
		line++;
		rc = lk_keys_parse_line(p, len, &k, why, sizeof(why));
		if (rc == -ENOENT)
			continue;
		if (rc != 0) {
			lk_errf(err, err_len, "authorized_keys \"%s\" line %u: %s", qpath, line, why);
			return rc;
		}
		rc = push(r, &k, line);
		if (rc == -E2BIG)
			lk_errf(err, err_len, "authorized_keys \"%s\" line %u: more than %d keys",
			     qpath, line, LK_REGISTRY_KEYS_MAX);
		else if (rc != 0)
			lk_errf(err, err_len, "authorized_keys \"%s\": out of memory", qpath);
		if (rc != 0)
			return rc;
	}
	if (rc == -E2BIG)
		lk_errf(err, err_len, "authorized_keys \"%s\" line %u: line longer than %d bytes",
		     qpath, line + 1, LK_KEYS_LINE_MAX - 1);
	else if (rc == -EFBIG)
		lk_errf(err, err_len, "authorized_keys \"%s\" is larger than %u bytes", qpath,
		     LK_REGISTRY_FILE_MAX);
	else if (rc != 0)
		lk_errf(err, err_len, "reading authorized_keys \"%s\": %s", qpath, strerror(-rc));
	return rc;
}

/* load_from builds a snapshot from every line of lr, whose source is set;
 * qname is the sanitised file name for errors. Returns the snapshot, or NULL
 * with the reason in err. */
static struct lk_registry *load_from(struct line_reader *lr, const char *qname, char *err,
				     size_t err_len)
{
	struct lk_registry *r = calloc(1, sizeof(*r));
	int rc;

	lr->buf = malloc(LK_KEYS_LINE_MAX);
	if (r == NULL || lr->buf == NULL) {
		lk_errf(err, err_len, "loading authorized_keys \"%s\": out of memory", qname);
		goto out_free;
	}
	rc = load_lines(lr, r, qname, err, err_len);
	if (rc != 0)
		goto out_free;
	finish(r);
	free(lr->buf);
	lr->buf = NULL;
	return r;
out_free:
	free(lr->buf);
	lr->buf = NULL;
	lk_registry_free(r);
	return NULL;
}

struct lk_registry *lk_registry_load(const char *path, char *err, size_t err_len)
{
	char qpath[PATH_SHOW_MAX];
	struct line_reader lr = { .fd = -1 };
	struct lk_registry *r;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	show_path(qpath, path);
	if (lk_keys_open_credential(path, LK_KEYS_CRED_AUTHORIZED_KEYS, &lr.fd, err, err_len) != 0)
		return NULL;
	r = load_from(&lr, qpath, err, err_len);
	close(lr.fd);
	return r;
}

struct lk_registry *lk__registry_parse(const char *buf, size_t len, const char *name, char *err,
				       size_t err_len)
{
	char qname[PATH_SHOW_MAX];
	struct line_reader lr = { .fd = -1, .src = buf, .src_len = len };

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	return load_from(&lr, show_path(qname, name), err, err_len);
}

void lk_registry_free(struct lk_registry *r)
{
	if (r == NULL)
		return;
	free(r->e);
	free(r);
}

/* find_entry binary-searches r for key_id[0..len); NULL if absent. */
static const struct reg_entry *find_entry(const struct lk_registry *r, const char *key_id,
					  size_t len)
{
	size_t lo = 0, hi;

	if (r == NULL || len != LK_KEYS_ID_LEN)
		return NULL; /* every stored ID has exactly this length */
	hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(key_id, r->e[mid].key.id, LK_KEYS_ID_LEN);

		if (c == 0)
			return &r->e[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct lk_pubkey *lk_registry_find(const struct lk_registry *r, const char *key_id,
					 size_t len)
{
	const struct reg_entry *e = find_entry(r, key_id, len);

	return e != NULL ? &e->key : NULL;
}

size_t lk_registry_count(const struct lk_registry *r)
{
	return r != NULL ? r->n : 0;
}

size_t lk_registry_duplicates(const struct lk_registry *r)
{
	return r != NULL ? r->n_dups : 0;
}

void lk_registry_diff(const struct lk_registry *old_r, const struct lk_registry *new_r,
		      lk_registry_diff_cb cb, void *arg)
{
	size_t no = lk_registry_count(old_r), nn = lk_registry_count(new_r);
	size_t i = 0, j = 0;

	/* Merge walk over two ID-sorted arrays. */
	while (i < no || j < nn) {
		const struct lk_pubkey *a = i < no ? &old_r->e[i].key : NULL;
		const struct lk_pubkey *b = j < nn ? &new_r->e[j].key : NULL;
		int c = a == NULL ? 1 : b == NULL ? -1 : memcmp(a->id, b->id, LK_KEYS_ID_LEN);

		if (c < 0) {
			cb(arg, false, a);
			i++;
		} else if (c > 0) {
			cb(arg, true, b);
			j++;
		} else {
			if (memcmp(a->key, b->key, LK_ED25519_PUB_LEN) != 0) {
				cb(arg, false, a);
				cb(arg, true, b);
			}
			i++;
			j++;
		}
	}
}

/* ---- the cell ------------------------------------------------------------ */

struct lk_registry_cell *lk_registry_cell_new(struct lk_registry *initial, unsigned n_readers)
{
	struct lk_registry_cell *c;

	LK_ASSERT(n_readers >= 1 && n_readers <= LK_REGISTRY_READERS_MAX);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->slots = aligned_alloc(CACHE_LINE, n_readers * sizeof(c->slots[0]));
	if (c->slots == NULL) {
		free(c);
		return NULL;
	}
	for (unsigned i = 0; i < n_readers; i++)
		atomic_init(&c->slots[i].epoch, 0);
	atomic_init(&c->epoch, 1);
	atomic_init(&c->cur, initial);
	c->n_readers = n_readers;
	return c;
}

const struct lk_registry *lk_registry_enter(struct lk_registry_cell *c, unsigned reader)
{
	struct reader_slot *s;
	uint64_t e;

	LK_ASSERT(reader < c->n_readers);
	s = &c->slots[reader];
	LK_DASSERT(atomic_load_explicit(&s->epoch, memory_order_relaxed) == 0); /* no nesting */
	e = atomic_load_explicit(&c->epoch, memory_order_acquire);
	/* The announcement must be globally visible before the pointer is read
	 * (store->load ordering): only seq_cst on both gives that. */
	atomic_store_explicit(&s->epoch, e, memory_order_seq_cst);
	return atomic_load_explicit(&c->cur, memory_order_seq_cst);
}

void lk_registry_leave(struct lk_registry_cell *c, unsigned reader)
{
	LK_ASSERT(reader < c->n_readers);
	LK_DASSERT(atomic_load_explicit(&c->slots[reader].epoch, memory_order_relaxed) != 0);
	atomic_store_explicit(&c->slots[reader].epoch, 0, memory_order_release);
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* backoff waits a little longer on each call: spin, then yield, then sleep
 * (capped at 1 ms so a swap never oversleeps a short section by much). */
static void backoff(unsigned *round)
{
	unsigned r = (*round)++;

	if (r < 64) {
		cpu_relax();
	} else if (r < 128) {
		sched_yield();
	} else {
		long ns = 1000L << LK_MIN(r - 128, 10u); /* 1 us .. ~1 ms */
		struct timespec ts = { .tv_sec = 0, .tv_nsec = ns };

		nanosleep(&ts, NULL);
	}
}

/* wait_readers returns once no reader can still hold a snapshot published
 * before epoch target was set. */
static void wait_readers(struct lk_registry_cell *c, uint64_t target)
{
	for (unsigned i = 0; i < c->n_readers; i++) {
		unsigned round = 0;

		for (;;) {
			uint64_t e = atomic_load_explicit(&c->slots[i].epoch, memory_order_seq_cst);

			/* 0: quiescent. >= target: entered after the epoch bump,
			 * so its pointer load saw the new snapshot. */
			if (e == 0 || e >= target)
				break;
			backoff(&round);
		}
	}
}

void lk_registry_swap(struct lk_registry_cell *c, struct lk_registry *next)
{
	struct lk_registry *old;
	uint64_t target;

	old = atomic_exchange_explicit(&c->cur, next, memory_order_seq_cst);
	target = atomic_fetch_add_explicit(&c->epoch, 1, memory_order_seq_cst) + 1;
	LK_ASSERT(target > 1); /* 64-bit epoch: wrapping would take centuries */
	if (old == NULL)
		return;
	wait_readers(c, target);
	lk_registry_free(old);
}

void lk_registry_cell_free(struct lk_registry_cell *c)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->n_readers; i++)
		LK_ASSERT(atomic_load_explicit(&c->slots[i].epoch, memory_order_acquire) == 0);
	lk_registry_free(atomic_load_explicit(&c->cur, memory_order_acquire));
	free(c->slots);
	free(c);
}
