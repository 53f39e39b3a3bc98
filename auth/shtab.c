/* auth/shtab.c - the nonce table and the failed-auth limiter (see auth/shtab.h
 * for the concurrency contract and docs/internals/SHTAB.md for the
 * invariants). Both tables share one engine: a slot array, the claim/settle
 * protocol that keeps one entry per key, and a seqlock-style slot read. */
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/types.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/shtab.h"
#include "core/dbg.h"
#include "core/err.h"

#define CACHE_LINE   64
#define SLOTS_MIN    16u
#define STATS_SAMPLE 65536u /* slots the _stats functions read at most */

/* Slot word: bits 0-2 state, 3-9 version, 10-63 payload. */
enum slot_state {
	ST_EMPTY = 0, /* never used; ends every probe chain */
	ST_CLAIMING,  /* owned by the thread whose CAS won it; key being written */
	ST_TENT,      /* key visible; its owner is settling a possible race */
	ST_LIVE,      /* the entry for its key (until it expires) */
	ST_FREE,      /* a candidate that lost or was killed; reusable */
};

#define W_STATE_MASK	0x7ull
#define W_VER_SHIFT	3
#define W_VER_MAX	0x7full
#define W_PAYLOAD_SHIFT 10
#define W_PAYLOAD_MASK	(~0ull << W_PAYLOAD_SHIFT)

/* Limiter payload: failures this period (7 bits), last period (7 bits) and
 * the period start, in ms modulo 2^40 (34 years). */
#define LIM_CURR_SHIFT	10
#define LIM_PREV_SHIFT	17
#define LIM_START_SHIFT 24
#define LIM_COUNT_MASK	0x7full
#define LIM_T_MASK	((1ull << 40) - 1)

LK_STATIC_ASSERT(LK_LIMITER_FAILURES_MAX == LIM_COUNT_MASK, "counter width");
LK_STATIC_ASSERT(LIM_START_SHIFT + 40 == 64, "limiter payload fills the word");
LK_STATIC_ASSERT(LIM_CURR_SHIFT == W_PAYLOAD_SHIFT, "limiter payload starts after the version");
LK_STATIC_ASSERT(2ull * LK_LIMITER_WINDOW_S_MAX * 1000 < (LIM_T_MASK >> 1),
		 "window fits the clock");

/* struct slot is 32 bytes, two per cache line. k and aux are atomics
 * because a reader may load them while a new owner stores them: the read is
 * validated afterwards (snap_read), and a plain access would be a data race. */
struct slot {
	_Atomic uint64_t w;
	_Atomic uint64_t k[2];
	_Atomic uint64_t aux; /* nonce: expiry, Unix seconds; limiter: unused */
};

LK_STATIC_ASSERT(sizeof(struct slot) == 32, "slot size");

/* struct shtab is the engine both tables embed. Everything above n_full is
 * written once by _new; n_full has its own cache line so counting refusals
 * does not evict the read-mostly fields from other cores. */
struct shtab {
	struct slot *slots;
	uint32_t mask;	 /* slot count - 1 */
	uint32_t probe;	 /* min(LK_SHTAB_PROBE_MAX, slot count) */
	uint64_t sip[2]; /* SipHash key from getrandom */
	bool test_hash;	 /* lk__*_set_test_hash: home and tag from the key's first word */
	_Alignas(CACHE_LINE) _Atomic uint64_t n_full;
};

struct lk_nonce_table {
	struct shtab tab;
	uint64_t ttl_s;
};

struct lk_limiter {
	struct shtab tab;
	uint64_t window_ms;
	uint32_t max_failures;
};

/* Both are allocated with aligned_alloc, whose size must be a multiple of the
 * alignment (n_full's cache line). */
LK_STATIC_ASSERT(sizeof(struct lk_nonce_table) % CACHE_LINE == 0, "nonce table size");
LK_STATIC_ASSERT(sizeof(struct lk_limiter) % CACHE_LINE == 0, "limiter size");

enum kind {
	KIND_NONCE,
	KIND_LIMITER,
};

/* struct op is one lookup or insert: the key, its home slot, and the word
 * payload and aux a claim would write. */
struct op {
	enum kind kind;
	uint64_t k0, k1;
	uint32_t home;
	uint64_t payload; /* nonce: the hash tag; limiter: the first failure's counters */
	uint64_t aux;	  /* nonce: expiry */
	uint64_t now;	  /* nonce: Unix seconds; limiter: ms */
	uint64_t window_ms;
	uint32_t retries; /* retries done; at most LK_SHTAB_RETRY_MAX per operation */
};

/* struct snap is one consistent read of a slot (see snap_read). */
struct snap {
	uint64_t w, k0, k1, aux;
};

/* struct hit names a slot of the probe window: index, distance from the
 * home, and the word last seen there. */
struct hit {
	uint32_t idx;
	uint32_t dist;
	uint64_t w;
};

enum scan {
	SCAN_FOUND,   /* an entry for the key */
	SCAN_PENDING, /* limiter: a first failure for the key is settling */
	SCAN_CAND,    /* none, but a reusable slot */
	SCAN_NONE,    /* none, and no reusable slot: full */
};

enum claim {
	CLAIM_FOUND,   /* an entry for the key exists (hit) */
	CLAIM_WON,     /* we published a new entry (hit) */
	CLAIM_LOST,    /* a racing insert of the same key won */
	CLAIM_FULL,    /* no reusable slot in the window */
	CLAIM_BUSY,    /* every claim CAS failed: contention beyond the bound */
	CLAIM_PENDING, /* limiter: wait for the settling twin, then look again */
};

/* Race points: the protocol's windows, where a debug build lets a test
 * yield the CPU to make other threads run in the middle of an operation
 * (tests/unit/test_shtab.c). Release builds never call the hook. */
enum race_point {
	RP_CLAIMED, /* claim CAS won, key not yet written */
	RP_TENT,    /* TENT stored, settle walk not started */
	RP_SETTLE,  /* between two slots of the settle walk */
	RP_PUBLISH, /* walk done, before the publish or withdraw CAS */
	RP_SNAP,    /* between a slot's first word load and its key loads */
	RP_BUMP,    /* limiter counters computed, before their CAS */
};

void (*lk__shtab_race_hook)(unsigned point);

#if defined(LK_DEBUG) && LK_DEBUG
#define RACE_POINT(p)                                                                              \
	do {                                                                                       \
		if (lk__shtab_race_hook != NULL)                                                   \
			lk__shtab_race_hook(p);                                                    \
	} while (0)
#else
#define RACE_POINT(p) ((void)0)
#endif

/* cpu_relax tells the core we are spinning on a contended word (PAUSE on
 * x86 frees pipeline resources for the sibling hyperthread and softens the
 * cache-line ping-pong); a no-op where we know no hint. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline enum slot_state w_state(uint64_t w)
{
	return (enum slot_state)(w & W_STATE_MASK);
}

static inline uint64_t w_ver(uint64_t w)
{
	return (w >> W_VER_SHIFT) & W_VER_MAX;
}

static inline uint64_t w_make(enum slot_state st, uint64_t ver, uint64_t payload)
{
	return (uint64_t)st | (ver & W_VER_MAX) << W_VER_SHIFT | (payload & W_PAYLOAD_MASK);
}

static inline uint64_t w_with_state(uint64_t w, enum slot_state st)
{
	return (w & ~W_STATE_MASK) | (uint64_t)st;
}

static inline bool cas(_Atomic uint64_t *p, uint64_t *expect, uint64_t desired)
{
	return atomic_compare_exchange_strong_explicit(p, expect, desired, memory_order_seq_cst,
						       memory_order_seq_cst);
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static inline void sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13) ^ v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17) ^ v[2];
	v[2] = ROTL(v[2], 32);
}

/* siphash hashes the 16-byte message (m0, m1) (little-endian words) with
 * SipHash-c-d. The tables use 1-3: the fast variant meant for hash tables,
 * keyed so that hash flooding needs the key. */
static uint64_t siphash(const uint64_t key[2], uint64_t m0, uint64_t m1, unsigned c, unsigned d)
{
	uint64_t v[4] = {
		key[0] ^ 0x736f6d6570736575ull,
		key[1] ^ 0x646f72616e646f6dull,
		key[0] ^ 0x6c7967656e657261ull,
		key[1] ^ 0x7465646279746573ull,
	};
	const uint64_t m[3] = { m0, m1, 16ull << 56 }; /* the last block carries the length */

	for (unsigned i = 0; i < 3; i++) {
		v[3] ^= m[i];
		for (unsigned r = 0; r < c; r++)
			sipround(v);
		v[0] ^= m[i];
	}
	v[2] ^= 0xff;
	for (unsigned r = 0; r < d; r++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t lk__shtab_siphash(const uint64_t key[2], const uint8_t in[16], unsigned c_rounds,
			   unsigned d_rounds)
{
	return siphash(key, load_le64(in), load_le64(in + 8), c_rounds, d_rounds);
}

/* op_key fills the key, home and tag part of op from 16 key bytes. */
static void op_key(const struct shtab *t, struct op *op, const uint8_t key[16])
{
	uint64_t h;

	op->k0 = load_le64(key);
	op->k1 = load_le64(key + 8);
	h = t->test_hash ? op->k0 : siphash(t->sip, op->k0, op->k1, 1, 3);
	op->home = (uint32_t)(h & t->mask);
	op->payload = h & W_PAYLOAD_MASK;
}

static int fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* shtab_init allocates next_pow2(2 * capacity) slots (at least SLOTS_MIN),
 * all EMPTY, and draws the hash key. Returns 0 or -errno. */
static int shtab_init(struct shtab *t, uint32_t capacity)
{
	uint64_t want = 2ull * capacity;
	uint64_t n = SLOTS_MIN;
	int ret;

	LK_ASSERT(capacity >= 1 && capacity <= LK_SHTAB_CAPACITY_MAX);
	while (n < want)
		n <<= 1;
	ret = fill_random(t->sip, sizeof(t->sip));
	if (ret != 0)
		return ret;
	/* An anonymous mapping is zero, which is every slot's initial state
	 * (ST_EMPTY, version 0, no key): the table costs RSS only as slots are
	 * used (the limiter's 1 MiB and the nonce table's 4+ MiB at start-up
	 * were written whole before). Page-aligned, so cache-line aligned. */
	LK_STATIC_ASSERT(ST_EMPTY == 0, "an all-zero slot is empty");
	void *m = mmap(NULL, n * sizeof(struct slot), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	t->slots = m;
	t->mask = (uint32_t)(n - 1);
	t->probe = (uint32_t)LK_MIN(n, (uint64_t)LK_SHTAB_PROBE_MAX);
	t->test_hash = false;
	atomic_init(&t->n_full, 0);
	return 0;
}

static void shtab_done(struct shtab *t)
{
	if (t->slots != NULL)
		munmap(t->slots, ((size_t)t->mask + 1) * sizeof(struct slot));
	t->slots = NULL;
}

/* snap_read reads slot s into *out: the word with order mo, and for a TENT
 * or LIVE word the key and aux with acquire loads, then the word again.
 * Returns false when the version changed in between (the slot was claimed
 * anew, so the key read may be torn). The key words are stored with release
 * after the claim CAS, so a reader that loaded a new key value also sees the
 * new version on the second load; same version means the key belongs to the
 * word. The returned word is the second one (it may have moved on within
 * the same version: TENT to LIVE or FREE, or new limiter counters). */
static bool snap_read(const struct slot *s, struct snap *out, memory_order mo)
{
	uint64_t w1 = atomic_load_explicit(&s->w, mo);
	uint64_t w2;

	out->w = w1;
	if (w_state(w1) != ST_TENT && w_state(w1) != ST_LIVE)
		return true;
	RACE_POINT(RP_SNAP);
	out->k0 = atomic_load_explicit(&s->k[0], memory_order_acquire);
	out->k1 = atomic_load_explicit(&s->k[1], memory_order_acquire);
	out->aux = atomic_load_explicit(&s->aux, memory_order_acquire);
	w2 = atomic_load_explicit(&s->w, mo);
	if (w_ver(w2) != w_ver(w1))
		return false;
	LK_DASSERT(w_state(w2) != ST_EMPTY && w_state(w2) != ST_CLAIMING);
	out->w = w2;
	return true;
}

/* snap_is_key says whether s is a TENT or LIVE entry for op's key. */
static bool snap_is_key(const struct op *op, const struct snap *s)
{
	enum slot_state st = w_state(s->w);

	if (st != ST_TENT && st != ST_LIVE)
		return false;
	if (op->kind == KIND_NONCE && ((s->w ^ op->payload) & W_PAYLOAD_MASK) != 0)
		return false; /* tag mismatch: skip the key compare */
	return s->k0 == op->k0 && s->k1 == op->k1;
}

/* lim_elapsed is now_ms - start on the 40-bit clock. A start "in the future"
 * (another worker's cached time is ahead of ours) reads as no time passed;
 * otherwise a lagging clock would look like a long silence and reset the
 * counters. */
static uint64_t lim_elapsed(uint64_t start, uint64_t now_ms)
{
	uint64_t e = (now_ms - start) & LIM_T_MASK;

	return e > (LIM_T_MASK >> 1) ? 0 : e;
}

static inline uint64_t lim_start(uint64_t w)
{
	return w >> LIM_START_SHIFT;
}

/* lim_stale says whether limiter word w counts nothing at now: its current
 * period ended at least one window ago, so both counts are out of the
 * window. */
static bool lim_stale(uint64_t w, uint64_t now_ms, uint64_t window_ms)
{
	return lim_elapsed(lim_start(w), now_ms) >= 2 * window_ms;
}

/* struct lim_ctr is a limiter payload unpacked. */
struct lim_ctr {
	uint64_t start; /* ms, modulo 2^40 */
	uint64_t curr;
	uint64_t prev;
};

/* lim_roll unpacks w and rolls it to now_ms: the same period, the next one
 * (the current count becomes the previous), or a new one starting now after
 * a whole period without failures. */
static struct lim_ctr lim_roll(uint64_t w, uint64_t now_ms, uint64_t window_ms)
{
	struct lim_ctr c = {
		.start = lim_start(w),
		.curr = (w >> LIM_CURR_SHIFT) & LIM_COUNT_MASK,
		.prev = (w >> LIM_PREV_SHIFT) & LIM_COUNT_MASK,
	};
	uint64_t e = lim_elapsed(c.start, now_ms);

	if (e < window_ms)
		return c;
	if (e < 2 * window_ms)
		return (struct lim_ctr){
			.start = (c.start + window_ms) & LIM_T_MASK,
			.curr = 0,
			.prev = c.curr,
		};
	return (struct lim_ctr){ .start = now_ms & LIM_T_MASK, .curr = 0, .prev = 0 };
}

static uint64_t lim_payload(struct lim_ctr c)
{
	LK_DASSERT(c.curr <= LIM_COUNT_MASK && c.prev <= LIM_COUNT_MASK);
	return c.curr << LIM_CURR_SHIFT | c.prev << LIM_PREV_SHIFT |
	       (c.start & LIM_T_MASK) << LIM_START_SHIFT;
}

/* live_counts says whether a LIVE entry still counts at op->now: an
 * unexpired nonce; any limiter entry (even stale, it is the IP's one slot and
 * gets rolled over in place). */
static bool live_counts(const struct op *op, const struct snap *s)
{
	LK_DASSERT(w_state(s->w) == ST_LIVE);
	if (op->kind == KIND_NONCE)
		return s->aux > op->now;
	return true;
}

/* reusable says whether op may claim the slot read as s; mine says whether
 * it holds op's key. */
static bool reusable(const struct op *op, const struct snap *s, bool mine)
{
	switch (w_state(s->w)) {
	case ST_EMPTY:
	case ST_FREE:
		return true;
	case ST_LIVE:
		if (op->kind == KIND_NONCE)
			return s->aux <= op->now;
		return !mine && lim_stale(s->w, op->now, op->window_ms);
	case ST_CLAIMING:
	case ST_TENT:
		return false;
	}
	LK_UNREACHABLE();
}

/* retry spends one of op's LK_SHTAB_RETRY_MAX retries, after a lost CAS or a
 * race to wait out: false when none is left, else true after a backoff of
 * 2^n relax hints (at most 64). A settling twin needs a few hundred
 * nanoseconds; the budget (about 1700 hints and 33 passes in all) keeps even
 * a pathological operation well under a millisecond: a ring thread must not
 * spin. */
static bool retry(struct op *op)
{
	if (op->retries >= LK_SHTAB_RETRY_MAX)
		return false;
	for (uint32_t i = 0; i < (1u << LK_MIN(op->retries, 6u)); i++)
		cpu_relax();
	op->retries++;
	return true;
}

/* prescan walks op's window up to the first EMPTY slot. Returns SCAN_FOUND
 * with the entry in *found (a LIVE entry that counts; for a nonce also a
 * racing TENT twin, which settles to a winner either way, so the answer is
 * REPLAY), SCAN_PENDING for a limiter TENT twin (claiming a slot of our own
 * would only lose to it or kill it: better wait until it is LIVE), else
 * SCAN_CAND with the first reusable slot in *cand, else SCAN_NONE. A slot
 * that changes version under the read is skipped: settle() catches a twin
 * that hid there. */
static enum scan prescan(const struct shtab *t, const struct op *op, struct hit *found,
			 struct hit *cand)
{
	bool have_cand = false;

	for (uint32_t d = 0; d < t->probe; d++) {
		uint32_t idx = (op->home + d) & t->mask;
		struct snap s;
		bool mine;

		if (!snap_read(&t->slots[idx], &s, memory_order_seq_cst))
			continue;
		mine = snap_is_key(op, &s);
		if (mine && w_state(s.w) == ST_TENT) {
			*found = (struct hit){ .idx = idx, .dist = d, .w = s.w };
			return op->kind == KIND_NONCE ? SCAN_FOUND : SCAN_PENDING;
		}
		if (mine && live_counts(op, &s)) {
			*found = (struct hit){ .idx = idx, .dist = d, .w = s.w };
			return SCAN_FOUND;
		}
		if (!have_cand && reusable(op, &s, mine)) {
			*cand = (struct hit){ .idx = idx, .dist = d, .w = s.w };
			have_cand = true;
		}
		if (w_state(s.w) == ST_EMPTY)
			break;
	}
	return have_cand ? SCAN_CAND : SCAN_NONE;
}

/* kill_twin tries to retire the farther TENT twin read as tent_w (CAS to
 * FREE). Returns the word to judge the twin by: FREE if it is gone (killed
 * by us or someone else, or the slot was claimed anew), or its LIVE word if
 * it published before our CAS. */
static uint64_t kill_twin(struct slot *s, uint64_t tent_w)
{
	uint64_t cur = tent_w;

	if (cas(&s->w, &cur, w_with_state(tent_w, ST_FREE)))
		return w_with_state(tent_w, ST_FREE);
	if (w_ver(cur) != w_ver(tent_w))
		return w_with_state(tent_w, ST_FREE);
	LK_ASSERT(w_state(cur) == ST_LIVE || w_state(cur) == ST_FREE);
	return cur;
}

/* settle decides the race for our TENT slot *mine (see auth/shtab.h): walk
 * the window again, lose to a counting LIVE twin or a nearer TENT twin, kill
 * farther TENT twins, then publish (CAS TENT -> LIVE) or withdraw (CAS
 * TENT -> FREE). Our publish CAS fails only if a nearer twin killed us. */
static enum claim settle(struct shtab *t, const struct op *op, struct hit *mine)
{
	struct slot *own = &t->slots[mine->idx];
	uint64_t cur = mine->w;
	bool lost = false;

	for (uint32_t d = 0; d < t->probe && !lost; d++) {
		uint32_t idx = (op->home + d) & t->mask;
		struct snap s;

		RACE_POINT(RP_SETTLE);
		if (d == mine->dist || !snap_read(&t->slots[idx], &s, memory_order_seq_cst))
			continue;
		if (w_state(s.w) == ST_EMPTY)
			break;
		if (!snap_is_key(op, &s))
			continue;
		if (w_state(s.w) == ST_TENT) {
			if (d < mine->dist) {
				lost = true;
				continue;
			}
			s.w = kill_twin(&t->slots[idx], s.w);
		}
		if (w_state(s.w) == ST_LIVE && live_counts(op, &s))
			lost = true;
	}
	RACE_POINT(RP_PUBLISH);
	if (!lost && cas(&own->w, &cur, w_with_state(mine->w, ST_LIVE))) {
		mine->w = w_with_state(mine->w, ST_LIVE);
		return CLAIM_WON;
	}
	if (lost && cas(&own->w, &cur, w_with_state(mine->w, ST_FREE)))
		return CLAIM_LOST;
	/* Only a kill moves our TENT word, and only to FREE; the slot may be
	 * claimed again since, under a new version. */
	LK_ASSERT(w_ver(cur) != w_ver(mine->w) || w_state(cur) == ST_FREE);
	return CLAIM_LOST;
}

/* claim finds op's entry or makes one: CLAIM_FOUND or CLAIM_WON with the
 * slot in *out, CLAIM_LOST when a racing twin won, CLAIM_PENDING when a
 * limiter twin is settling, CLAIM_FULL, or CLAIM_BUSY when lost claim CASes
 * used up op's retry budget. */
static enum claim claim(struct shtab *t, struct op *op, struct hit *out)
{
	for (;;) {
		struct hit cand;
		struct slot *s;
		uint64_t ver;
		uint64_t cur;

		switch (prescan(t, op, out, &cand)) {
		case SCAN_FOUND:
			return CLAIM_FOUND;
		case SCAN_PENDING:
			return CLAIM_PENDING;
		case SCAN_NONE:
			return CLAIM_FULL;
		case SCAN_CAND:
			break;
		}
		s = &t->slots[cand.idx];
		ver = (w_ver(cand.w) + 1) & W_VER_MAX;
		cur = cand.w;
		if (!cas(&s->w, &cur, w_make(ST_CLAIMING, ver, op->payload))) {
			if (!retry(op))
				return CLAIM_BUSY;
			continue;
		}
		RACE_POINT(RP_CLAIMED);
		/* Release: whoever loads these values also sees the new version
		 * (snap_read's check). */
		atomic_store_explicit(&s->k[0], op->k0, memory_order_release);
		atomic_store_explicit(&s->k[1], op->k1, memory_order_release);
		atomic_store_explicit(&s->aux, op->aux, memory_order_release);
		cand.w = w_make(ST_TENT, ver, op->payload);
		atomic_store_explicit(&s->w, cand.w, memory_order_seq_cst);
		RACE_POINT(RP_TENT);
		*out = cand;
		return settle(t, op, out);
	}
}

/* count_live counts the slots live at now (with "live" per kind), reading
 * at most STATS_SAMPLE slots at an even stride and scaling up. Relaxed
 * loads: a statistic, possibly torn, orders nothing. */
static uint32_t count_live(const struct shtab *t, enum kind kind, uint64_t now, uint64_t window_ms)
{
	uint64_t n = (uint64_t)t->mask + 1;
	uint64_t stride = n > STATS_SAMPLE ? n / STATS_SAMPLE : 1;
	uint64_t live = 0;

	for (uint64_t i = 0; i < n; i += stride) {
		const struct slot *s = &t->slots[i];
		uint64_t w = atomic_load_explicit(&s->w, memory_order_relaxed);

		if (w_state(w) != ST_LIVE)
			continue;
		if (kind == KIND_NONCE ? atomic_load_explicit(&s->aux, memory_order_relaxed) > now
				       : !lim_stale(w, now, window_ms))
			live++;
	}
	return (uint32_t)(live * stride);
}

/* Nonce table */

struct lk_nonce_table *lk_nonce_table_new(uint32_t capacity_hint, uint32_t ttl_s)
{
	struct lk_nonce_table *t;

	LK_ASSERT(ttl_s >= 1);
	t = aligned_alloc(CACHE_LINE, sizeof(*t));
	if (t == NULL)
		return NULL;
	*t = (struct lk_nonce_table){ .ttl_s = ttl_s };
	if (shtab_init(&t->tab, capacity_hint) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

void lk_nonce_table_free(struct lk_nonce_table *t)
{
	if (t == NULL)
		return;
	shtab_done(&t->tab);
	free(t);
}

enum lk_nonce_verdict lk_nonce_insert(struct lk_nonce_table *t, const uint8_t nonce[16],
				      uint64_t now_s)
{
	struct op op = {
		.kind = KIND_NONCE,
		.now = now_s,
		.aux = now_s > UINT64_MAX - t->ttl_s ? UINT64_MAX : now_s + t->ttl_s,
	};
	struct hit h;

	op_key(&t->tab, &op, nonce);
	switch (claim(&t->tab, &op, &h)) {
	case CLAIM_WON:
		LK_DASSERT(w_state(h.w) == ST_LIVE);
		return LK_NONCE_FRESH;
	case CLAIM_FOUND:
	case CLAIM_LOST:
		return LK_NONCE_REPLAY;
	case CLAIM_FULL:
	case CLAIM_BUSY:
		atomic_fetch_add_explicit(&t->tab.n_full, 1, memory_order_relaxed);
		return LK_NONCE_FULL;
	case CLAIM_PENDING: /* the limiter's alone */
		break;
	}
	LK_UNREACHABLE();
}

bool lk_nonce_seen(const struct lk_nonce_table *t, const uint8_t nonce[16], uint64_t now_s)
{
	struct op op = { .kind = KIND_NONCE, .now = now_s };
	struct hit found, cand;

	op_key(&t->tab, &op, nonce);
	/* A racing insert of the same nonce (TENT) settles to a winner either
	 * way, so it counts as seen, as in lk_nonce_insert. */
	return prescan(&t->tab, &op, &found, &cand) == SCAN_FOUND;
}

void lk_nonce_table_stats(const struct lk_nonce_table *t, uint64_t now_s,
			  struct lk_shtab_stats *out)
{
	*out = (struct lk_shtab_stats){
		.slots = t->tab.mask + 1,
		.live = count_live(&t->tab, KIND_NONCE, now_s, 0),
		.full = atomic_load_explicit(&t->tab.n_full, memory_order_relaxed),
	};
}

void lk__nonce_table_set_test_hash(struct lk_nonce_table *t)
{
	t->tab.test_hash = true;
}

uint32_t lk__nonce_table_count(const struct lk_nonce_table *t, const uint8_t nonce[16],
			       uint64_t now_s)
{
	struct op op = { .kind = KIND_NONCE, .now = now_s };
	uint32_t n = 0;

	op_key(&t->tab, &op, nonce);
	for (uint64_t i = 0; i <= t->tab.mask; i++) {
		struct snap s;

		if (snap_read(&t->tab.slots[i], &s, memory_order_acquire) &&
		    w_state(s.w) == ST_LIVE && snap_is_key(&op, &s) && live_counts(&op, &s))
			n++;
	}
	return n;
}

/* Limiter */

struct lk_limiter *lk_limiter_new(uint32_t capacity, uint32_t max_failures, uint32_t window_s)
{
	struct lk_limiter *l;

	LK_ASSERT(max_failures >= 1 && max_failures <= LK_LIMITER_FAILURES_MAX);
	LK_ASSERT(window_s >= 1 && window_s <= LK_LIMITER_WINDOW_S_MAX);
	l = aligned_alloc(CACHE_LINE, sizeof(*l));
	if (l == NULL)
		return NULL;
	*l = (struct lk_limiter){
		.window_ms = (uint64_t)window_s * 1000,
		.max_failures = max_failures,
	};
	if (shtab_init(&l->tab, capacity) != 0) {
		free(l);
		return NULL;
	}
	return l;
}

void lk_limiter_free(struct lk_limiter *l)
{
	if (l == NULL)
		return;
	shtab_done(&l->tab);
	free(l);
}

static void lim_op(const struct lk_limiter *l, const struct lk_ip_key *ip, uint64_t now_ms,
		   struct op *op)
{
	*op = (struct op){ .kind = KIND_LIMITER, .now = now_ms, .window_ms = l->window_ms };
	op_key(&l->tab, op, ip->b);
	/* The tag bits op_key put in payload mean nothing to the limiter: its
	 * payload is the counters of a first failure. */
	op->payload = lim_payload((struct lim_ctr){ .start = now_ms, .curr = 1 });
}

/* lim_over applies the sliding estimate to limiter word w at now_ms. */
static bool lim_over(const struct lk_limiter *l, uint64_t w, uint64_t now_ms)
{
	struct lim_ctr c = lim_roll(w, now_ms, l->window_ms);
	uint64_t e = lim_elapsed(c.start, now_ms);

	LK_DASSERT(e < l->window_ms);
	return c.curr * l->window_ms + c.prev * (l->window_ms - e) >=
	       (uint64_t)l->max_failures * l->window_ms;
}

bool lk_limiter_is_limited(struct lk_limiter *l, const struct lk_ip_key *ip, uint64_t now_ms)
{
	const struct shtab *t = &l->tab;
	bool room = false;
	struct op op;

	lim_op(l, ip, now_ms, &op);
	for (uint32_t d = 0; d < t->probe; d++) {
		const struct slot *sl = &t->slots[(op.home + d) & t->mask];
		uint32_t tries = 0;
		struct snap s;
		bool mine;

		while (!snap_read(sl, &s, memory_order_acquire)) {
			if (++tries == LK_SHTAB_RETRY_MAX)
				return true; /* cannot tell: fail closed */
			cpu_relax();
		}
		if (w_state(s.w) == ST_EMPTY)
			return false; /* end of chain: unknown, and a claim would fit */
		mine = snap_is_key(&op, &s);
		if (mine && w_state(s.w) == ST_LIVE)
			return lim_over(l, s.w, now_ms);
		/* A TENT twin is a first failure still settling: not counted yet. */
		room = room || reusable(&op, &s, mine);
	}
	return !room;
}

/* bump adds one failure to the LIVE entry last read as w in slot s. Returns
 * false when the slot stopped being that entry (claimed anew; the caller
 * looks again) or op's retry budget ran out. */
static bool bump(const struct lk_limiter *l, struct op *op, struct slot *s, uint64_t w)
{
	uint64_t ver = w_ver(w);

	for (;;) {
		struct lim_ctr c;

		if (w_state(w) != ST_LIVE || w_ver(w) != ver)
			return false;
		c = lim_roll(w, op->now, l->window_ms);
		if (c.curr < LIM_COUNT_MASK)
			c.curr++;
		RACE_POINT(RP_BUMP);
		if (cas(&s->w, &w, w_make(ST_LIVE, ver, lim_payload(c))))
			return true;
		if (!retry(op))
			return false;
	}
}

int lk_limiter_fail(struct lk_limiter *l, const struct lk_ip_key *ip, uint64_t now_ms)
{
	struct op op;

	lim_op(l, ip, now_ms, &op);
	for (;;) {
		struct hit h;
		enum claim rc = claim(&l->tab, &op, &h);

		if (rc == CLAIM_WON)
			return 0; /* published with this failure counted */
		if (rc == CLAIM_FOUND && bump(l, &op, &l->tab.slots[h.idx], h.w))
			return 0;
		if (rc == CLAIM_FULL || rc == CLAIM_BUSY || !retry(&op))
			break;
		/* LOST: the twin that won holds the entry, count there; PENDING:
		 * wait for the twin; FOUND: the entry was claimed anew. */
	}
	atomic_fetch_add_explicit(&l->tab.n_full, 1, memory_order_relaxed);
	return -ENOSPC;
}

void lk_limiter_stats(const struct lk_limiter *l, uint64_t now_ms, struct lk_shtab_stats *out)
{
	*out = (struct lk_shtab_stats){
		.slots = l->tab.mask + 1,
		.live = count_live(&l->tab, KIND_LIMITER, now_ms, l->window_ms),
		.full = atomic_load_explicit(&l->tab.n_full, memory_order_relaxed),
	};
}

void lk__limiter_set_test_hash(struct lk_limiter *l)
{
	l->tab.test_hash = true;
}

uint32_t lk__limiter_peek(const struct lk_limiter *l, const struct lk_ip_key *ip, uint64_t now_ms,
			  uint32_t *out_curr, uint32_t *out_prev)
{
	uint32_t n = 0;
	struct op op;

	lim_op(l, ip, now_ms, &op);
	for (uint64_t i = 0; i <= l->tab.mask; i++) {
		struct snap s;
		struct lim_ctr c;

		if (!snap_read(&l->tab.slots[i], &s, memory_order_acquire) ||
		    w_state(s.w) != ST_LIVE || !snap_is_key(&op, &s))
			continue;
		c = lim_roll(s.w, now_ms, l->window_ms);
		*out_curr = (uint32_t)c.curr;
		*out_prev = (uint32_t)c.prev;
		n++;
	}
	return n;
}
