/* auth/shtab.h - the two tables every worker shares: the nonce table (replay
 * protection for Ed25519-signed requests) and the failed-auth limiter.
 *
 * They are the only mutable state shared across cores (DESIGN.md "Shared
 * state across cores", STYLE.md 12); docs/internals/SHTAB.md has the long
 * form of what follows.
 *
 * Shape. Each is a fixed-size open-addressing table allocated by _new and
 * never resized. An entry expires by timestamp and is overwritten in place by
 * a later claim, so nothing is freed while workers run: no sweeper thread, no
 * memory reclamation problem, no malloc after _new, no locks. A key's home
 * slot comes from SipHash-1-3 under a random key drawn at _new, so a client
 * cannot aim keys at one probe window. Every operation looks at most
 * LK_SHTAB_PROBE_MAX slots from the home per pass, and retries (after a lost
 * CAS, or to let a racing insert of the same key settle) at most
 * LK_SHTAB_RETRY_MAX times in all, backing off with CPU relax hints; out of
 * retries it fails closed (FULL, -ENOSPC).
 *
 * Who. Every worker thread calls lk_nonce_insert, lk_limiter_is_limited and
 * lk_limiter_fail concurrently, for any key. Nobody else writes. _new and
 * _free run at start-up and shutdown while no worker runs; the _stats
 * functions may run at any time (they only load).
 *
 * Slot state machine. Each slot has one 64-bit word: state, a 7-bit version
 * bumped by every claim, and a payload (the nonce table: hash tag bits; the
 * limiter: its counters). The key (two 64-bit words) and, for nonces, the
 * expiry sit beside it.
 *
 *	EMPTY/FREE/expired LIVE --CAS--> CLAIMING --store--> TENT --CAS--> LIVE
 *	                                                         \--CAS--> FREE
 *
 * EMPTY means never used and ends every probe chain: an insert claims a slot
 * no farther than the first EMPTY one it saw, and no slot ever goes back to
 * EMPTY, so no key lives beyond an EMPTY slot of its window. CLAIMING belongs to
 * the one thread whose CAS won it; it writes the key words (release) and then
 * stores TENT (tentative). A TENT slot is a candidate that has not yet
 * decided whether it is the one entry for its key; it becomes LIVE when its
 * owner publishes it, or FREE when it loses a race. FREE and expired LIVE
 * slots are reusable in place.
 *
 * One entry per key (the race: two workers record the same nonce, or the
 * first failure of one IP, at once). After storing TENT its owner walks the
 * window again. For every other TENT or LIVE slot holding the same key: a
 * LIVE one that still counts (unexpired nonce; any limiter entry) means we
 * lost; a TENT one nearer the home means we lost; a TENT one farther from
 * the home we kill (CAS TENT -> FREE). If we did not lose, CAS our own
 * TENT -> LIVE; that CAS and a kill are on the same word, so exactly one of
 * "publish" and "killed" happens. The walk is store-then-load on both sides
 * (our TENT store, then loads of the others' words), which is why every
 * store, CAS and load of a slot word on the insert path is seq_cst: in the
 * single total order of those operations, of two candidates that both
 * stored TENT, at least one loads the other's word after the other's TENT
 * store. That one either sees the other LIVE (and loses), or sees it TENT and
 * loses (other nearer) or kills it (other farther), or fails the kill because
 * the other had published, and then sees LIVE and loses. So two candidates
 * can never both publish: at most one FRESH per nonce, at most one LIVE
 * limiter entry per IP. And at least one publishes: the candidate nearest the
 * home loses only to an already LIVE entry, because only nearer candidates
 * make a candidate lose or kill it. (A limiter insert that meets a settling
 * twin before claiming anything waits for it, within its retry budget,
 * instead of claiming a slot only to lose; a nonce insert answers REPLAY,
 * since one of the twins will win.) A slot read as CLAIMING is skipped: its
 * owner's TENT store comes after our TENT store in that order, so its own
 * walk will see us. A slot whose version changes while we read it is skipped
 * for the same reason (its new owner will see us). Release/acquire alone
 * would not do: it orders nothing between a store and a later load.
 *
 * Memory orders.
 *  - slot word, insert path (lk_nonce_insert, lk_limiter_fail): seq_cst for
 *    every load, store and CAS, for the argument above;
 *  - slot word, lk_limiter_is_limited: acquire loads (it writes nothing and
 *    takes no part in the race; it needs only the key to match its word);
 *  - key and expiry words: written only by a CLAIMING owner, with release
 *    stores after the claim CAS; read with acquire loads between two loads
 *    of the slot word, and used only if both show the same version (a
 *    seqlock: a reader that saw a new key value also sees the new version);
 *  - statistics counters: relaxed (they order nothing).
 *
 * Nothing here logs, allocates after _new, or calls back. */
#ifndef LK_AUTH_SHTAB_H
#define LK_AUTH_SHTAB_H

#include <stdbool.h>
#include <stdint.h>

#define LK_SHTAB_PROBE_MAX	64	   /* slots looked at from a key's home */
#define LK_SHTAB_RETRY_MAX	32	   /* retries per operation (lost CAS, race) */
#define LK_SHTAB_CAPACITY_MAX	(1u << 24) /* largest capacity (NONCE_LRU_SIZE's cap) */
#define LK_LIMITER_FAILURES_MAX 127	   /* largest max_failures: 7-bit counters */
#define LK_LIMITER_WINDOW_S_MAX 86400	   /* largest window_s */

struct lk_nonce_table;
struct lk_limiter;

/* enum lk_nonce_verdict is the outcome of recording a nonce. */
enum lk_nonce_verdict {
	LK_NONCE_FRESH,	 /* not seen within the TTL; now recorded */
	LK_NONCE_REPLAY, /* an unexpired entry (or a racing insert that won) holds it */
	LK_NONCE_FULL,	 /* no slot could be claimed: refuse (503), never accept */
};

/* struct lk_shtab_stats is a snapshot for the metrics endpoint. */
struct lk_shtab_stats {
	uint32_t slots; /* table size */
	uint32_t live;	/* unexpired entries; sampled above 65536 slots, so approximate */
	uint64_t full;	/* operations refused because no slot could be claimed */
};

/* struct lk_ip_key is a limiter key: an IPv6 address in network order, IPv4
 * as v4-mapped IPv6 (::ffff:a.b.c.d), so each address has one key. */
struct lk_ip_key {
	uint8_t b[16];
};

/* lk_nonce_table_new allocates a nonce table that holds at least
 * capacity_hint unexpired nonces (NONCE_LRU_SIZE): it has the next power of
 * two >= 2 * capacity_hint slots (at least 16), 32 bytes each, so a probe
 * window is rarely all live. An entry lives ttl_s seconds; the caller passes
 * 2 * MAX_CLOCK_SKEW_SECONDS (DESIGN.md decision 4: a timestamp may be up to
 * one window in the future, so one window of memory lets a future-dated
 * request be replayed). capacity_hint is 1..LK_SHTAB_CAPACITY_MAX and ttl_s
 * at least 1 (checked by the configuration; asserted here). Returns NULL if
 * memory or randomness is unavailable. */
struct lk_nonce_table *lk_nonce_table_new(uint32_t capacity_hint, uint32_t ttl_s);

/* lk_nonce_table_free frees t (NULL is a no-op). No worker may use t. */
void lk_nonce_table_free(struct lk_nonce_table *t);

/* lk_nonce_insert atomically checks and records nonce (16 raw bytes, the
 * decoded 32 hex characters; borrowed) at now_s, Unix seconds: FRESH if no
 * unexpired entry held it (it is now recorded until now_s + ttl_s), REPLAY if
 * one did or a concurrent insert of the same nonce won, FULL if no slot of
 * its probe window was reusable or contention outlasted the retry bound.
 * FULL is counted in the stats; the caller refuses the request (503) and
 * never treats it as fresh. Call it only after the signature verified, so
 * only a key holder can fill the table. Thread-safe, lock-free, bounded. */
enum lk_nonce_verdict lk_nonce_insert(struct lk_nonce_table *t, const uint8_t nonce[16],
				      uint64_t now_s);

/* lk_nonce_seen tells whether an unexpired entry (or a racing insert) holds
 * nonce at now_s, without recording anything. It only lets the caller refuse
 * a replay early (before reading a signed body); the decision is still
 * lk_nonce_insert's. Thread-safe, lock-free, read-only. */
bool lk_nonce_seen(const struct lk_nonce_table *t, const uint8_t nonce[16], uint64_t now_s);

/* lk_nonce_table_stats fills *out for the metrics endpoint; "live" counts
 * entries unexpired at now_s. Reads at most 65536 slots; thread-safe. */
void lk_nonce_table_stats(const struct lk_nonce_table *t, uint64_t now_s,
			  struct lk_shtab_stats *out);

/* lk_limiter_new allocates a failed-auth limiter: at most max_failures
 * (1..LK_LIMITER_FAILURES_MAX) failures per IP per window_s seconds
 * (1..LK_LIMITER_WINDOW_S_MAX), tracking at least capacity IPs
 * (1..LK_SHTAB_CAPACITY_MAX) in the next power of two >= 2 * capacity
 * slots (at least 16). Out-of-range arguments are a bug (asserted). Returns
 * NULL if memory or randomness is unavailable.
 *
 * The window. Each IP has its own periods of window_s seconds; the first
 * starts at its first failure, and each next one starts window_s after the
 * previous (or afresh at the next failure, once a whole period passed with
 * none). The slot keeps (period start, failures this period, failures last
 * period), updated by CAS as one word (HAProxy's freq_ctr), and reads as the
 * sliding estimate of failures in the last window_s:
 *
 *	estimate = curr + prev * (window - elapsed) / window
 *
 * with elapsed the time since the current period started (integer
 * arithmetic, no rounding: curr * window + prev * (window - elapsed) >=
 * max_failures * window). Ten failures in a burst therefore limit the IP
 * until window_s after the first of them, like the reference's fixed window;
 * after that the limit decays linearly, allowing about max_failures per
 * window_s, where the reference allowed a fresh burst. Counts saturate at
 * LK_LIMITER_FAILURES_MAX, which is >= max_failures, so a saturated IP stays
 * limited. A slot whose last failure period ended more than one window ago
 * counts nothing and is reused in place by any IP.
 *
 * Clock: now_ms is any millisecond clock shared by all workers (the loop's
 * cached CLOCK_MONOTONIC time). A worker whose cached time is a little
 * behind the time stored by another reads "no time has passed". */
struct lk_limiter *lk_limiter_new(uint32_t capacity, uint32_t max_failures, uint32_t window_s);

/* lk_limiter_free frees l (NULL is a no-op). No worker may use l. */
void lk_limiter_free(struct lk_limiter *l);

/* lk_limiter_is_limited returns true when ip (borrowed) has an estimate of
 * at least max_failures at now_ms, and also (fail closed) when ip has no
 * entry and no slot of its window could take one, or when its slots kept
 * changing under the read beyond the retry bound. Call it before any
 * credential work. Thread-safe, lock-free, writes nothing. */
bool lk_limiter_is_limited(struct lk_limiter *l, const struct lk_ip_key *ip, uint64_t now_ms);

/* lk_limiter_fail records one failed authentication for ip (borrowed) at
 * now_ms, claiming a slot for an IP without one (reusing an expired slot).
 * Returns 0, or -ENOSPC when no slot could be claimed or the retry budget ran
 * out (lost CASes, or a racing first failure of the same IP on another worker
 * that did not settle in time, e.g. because that worker was preempted); the
 * caller then treats the IP as limited. -ENOSPC is counted in the stats.
 * Thread-safe, lock-free, bounded. */
int lk_limiter_fail(struct lk_limiter *l, const struct lk_ip_key *ip, uint64_t now_ms);

/* lk_limiter_stats fills *out; "live" counts IPs whose entry still counts a
 * failure at now_ms. Reads at most 65536 slots; thread-safe. */
void lk_limiter_stats(const struct lk_limiter *l, uint64_t now_ms, struct lk_shtab_stats *out);

/* Test hooks (tests/unit/test_shtab.c). Not for production callers. */

/* lk__nonce_table_set_test_hash makes t hash a nonce to its first 8 bytes
 * read little-endian, so a test can aim nonces at chosen slots and give
 * distinct nonces equal hashes. Call before t is shared. */
void lk__nonce_table_set_test_hash(struct lk_nonce_table *t);

/* lk__limiter_set_test_hash does the same for l and its IP keys. */
void lk__limiter_set_test_hash(struct lk_limiter *l);

/* lk__nonce_table_count reports how many slots hold nonce as a LIVE entry
 * unexpired at now_s (the invariant: at most 1). Scans the whole table. */
uint32_t lk__nonce_table_count(const struct lk_nonce_table *t, const uint8_t nonce[16],
			       uint64_t now_s);

/* lk__limiter_peek reports how many slots hold ip as a LIVE entry (the
 * invariant: at most 1) and, if one does, writes its counters rolled to now_ms
 * to *out_curr and *out_prev. Scans the whole table. */
uint32_t lk__limiter_peek(const struct lk_limiter *l, const struct lk_ip_key *ip, uint64_t now_ms,
			  uint32_t *out_curr, uint32_t *out_prev);

/* lk__shtab_race_hook, when set in a build with LK_DEBUG, is called at each
 * point of the insert protocol where a concurrent operation could step in
 * (point numbers are private to shtab.c); a test sets it to a function that
 * sometimes yields the CPU, so that races which take nanoseconds in
 * production happen thousands of times per test run. Set it only while no
 * other thread uses a table. Release builds never call it. */
extern void (*lk__shtab_race_hook)(unsigned point);

/* lk__shtab_siphash is SipHash-c-d of the 16 bytes in under key (k0, k1),
 * exposed so a test can check it against the reference vectors. */
uint64_t lk__shtab_siphash(const uint64_t key[2], const uint8_t in[16], unsigned c_rounds,
			   unsigned d_rounds);

#endif /* LK_AUTH_SHTAB_H */
