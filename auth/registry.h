/* auth/registry.h - the authorized_keys registry: immutable snapshots of the
 * Ed25519 keys allowed to sign requests, and the cell that publishes the
 * current snapshot to every worker with lock-free hot reload.
 *
 * A snapshot (struct lk_registry) is built once by lk_registry_load, never
 * modified afterwards, and looked up by key ID with a binary search. Building
 * does blocking file I/O and allocates, so it runs at start-up and on SIGHUP
 * (off the rings), never on the request path.
 *
 * Concurrency contract of struct lk_registry_cell (DESIGN.md "Shared state
 * across cores"; one of the few cross-core mutable objects):
 * - Writer: exactly one reloader thread calls lk_registry_swap. It publishes
 *   the new snapshot with a seq_cst exchange of the current pointer, bumps
 *   the global epoch (seq_cst), then waits until every reader slot is either
 *   quiescent (0) or carries an epoch at least the bumped one, and only then
 *   frees the old snapshot.
 * - Readers: worker i (one slot each, no sharing of an index between
 *   threads) brackets each use with lk_registry_enter/lk_registry_leave. Enter
 *   stores the epoch it observed into its slot (seq_cst) before loading the
 *   current pointer (seq_cst): that store->load order is what lets the writer
 *   know a reader that still sees 0 cannot pick up the old pointer. Leave
 *   stores 0 with release order, so the reader's last use of the snapshot
 *   happens before the writer's free.
 * - Slots are one cache line each, so readers never share a written line.
 * The request path therefore takes no lock and does two atomic stores and
 * two atomic loads per use. Nothing here logs. */
#ifndef LK_AUTH_REGISTRY_H
#define LK_AUTH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/keys.h"

#define LK_REGISTRY_KEYS_MAX	8192		    /* key lines in one file, duplicates included */
#define LK_REGISTRY_FILE_MAX	(64u * 1024 * 1024) /* bytes read from an authorized_keys file */
#define LK_REGISTRY_READERS_MAX 1024		    /* reader slots in one cell */
#define LK_REGISTRY_ERR_MAX	1024		    /* an err buffer this size holds any message */

struct lk_registry;
struct lk_registry_cell;

/* lk_registry_diff_cb receives one difference found by lk_registry_diff:
 * added is true for a key only in the new snapshot, false for one only in
 * the old. k is borrowed for the duration of the call. */
typedef void (*lk_registry_diff_cb)(void *arg, bool added, const struct lk_pubkey *k);

/* lk_registry_load builds a snapshot from the authorized_keys file at path
 * (borrowed). The file is opened through lk_keys_open_credential (regular
 * file, not world-readable, not group/world-writable) and read line by line:
 * a line (without its '\n') must be shorter than LK_KEYS_LINE_MAX bytes, as
 * with the reference's 64 KiB scanner; blank lines and lines whose first
 * field starts with '#' are skipped; CRLF endings are fine. Unlike the
 * reference, which skipped them with a warning, a malformed line fails the
 * whole load and err names it: `authorized_keys "<path>" line <n>: <why>`
 * (so a typo cannot silently lock a controller out after a reload). A key
 * whose ID is already present is dropped, the first occurrence wins, and
 * the drop is counted (lk_registry_duplicates). At most LK_REGISTRY_KEYS_MAX
 * key lines and LK_REGISTRY_FILE_MAX bytes (the reference has no limit).
 * Returns a new snapshot owned by the caller (free with lk_registry_free, or
 * hand to a cell), or NULL with the reason in err (err_len bytes,
 * NUL-terminated when err_len > 0). Blocking I/O and allocation: start-up
 * and the reloader thread only. */
struct lk_registry *lk_registry_load(const char *path, char *err, size_t err_len);

/* lk__registry_parse is lk_registry_load without the file: for tests and
 * fuzzers. It parses buf[0..len) (borrowed; any bytes, need not be
 * NUL-terminated) with the same line reader, limits and error texts, name
 * (borrowed, NUL-terminated) standing in for the path in messages. Returns a
 * new snapshot owned by the caller, or NULL with the reason in err. No I/O;
 * allocates. */
struct lk_registry *lk__registry_parse(const char *buf, size_t len, const char *name, char *err,
				       size_t err_len);

/* lk_registry_free releases a snapshot that no cell owns. Accepts NULL. */
void lk_registry_free(struct lk_registry *r);

/* lk_registry_find returns the key whose ID equals key_id[0..len) exactly
 * (case-sensitive, no trimming), or NULL. r may be NULL (no registry: nothing
 * is found). The result is borrowed from r and valid as long as r is: for a
 * snapshot obtained from lk_registry_enter, until lk_registry_leave. O(log n),
 * no allocation; key_id is peer data and may hold any bytes. */
const struct lk_pubkey *lk_registry_find(const struct lk_registry *r, const char *key_id,
					 size_t len);

/* lk_registry_count returns the number of distinct keys in r (0 for NULL). */
size_t lk_registry_count(const struct lk_registry *r);

/* lk_registry_duplicates returns how many key lines of the file behind r
 * were dropped because their key ID was already loaded (0 for NULL), so the
 * caller can warn like the reference. */
size_t lk_registry_duplicates(const struct lk_registry *r);

/* lk_registry_diff calls cb synchronously, in key-ID order, once for each
 * key of new_r missing from old_r (added = true) and each key of old_r
 * missing from new_r (added = false). A key ID present in both with
 * different key bytes is reported as removed then added. Either snapshot may
 * be NULL (empty). Both are borrowed; used to log "key added/removed" on
 * reload. */
void lk_registry_diff(const struct lk_registry *old_r, const struct lk_registry *new_r,
		      lk_registry_diff_cb cb, void *arg);

/* lk_registry_cell_new returns a cell publishing initial (may be NULL: no
 * keys) to n_readers readers (1..LK_REGISTRY_READERS_MAX), or NULL on
 * allocation failure. Takes ownership of initial on success only. */
struct lk_registry_cell *lk_registry_cell_new(struct lk_registry *initial, unsigned n_readers);

/* lk_registry_enter marks reader (its own index, < n_readers) as inside a
 * critical section and returns the current snapshot (may be NULL if the cell
 * holds none). The snapshot, and every pointer found in it, stays valid until
 * the matching lk_registry_leave. Sections must be short and must not nest
 * or block (no I/O, no waiting on another reader): lk_registry_swap waits for
 * them. Lock-free, never blocks. */
const struct lk_registry *lk_registry_enter(struct lk_registry_cell *c, unsigned reader);

/* lk_registry_leave ends reader's critical section; pointers obtained since
 * lk_registry_enter must not be used afterwards. Never blocks. */
void lk_registry_leave(struct lk_registry_cell *c, unsigned reader);

/* lk_registry_swap publishes next (may be NULL) as the current snapshot,
 * taking ownership of it, then frees the previous one once every reader that
 * may have obtained it has left its critical section. Must only be called by
 * one thread at a time (the reloader). Blocks while it waits: it spins
 * briefly, then yields, then sleeps in steps of at most 1 ms; the wait is
 * bounded by the longest reader critical section in progress at the swap
 * (readers that enter after the swap do not delay it), which the enter
 * contract keeps to a lookup. */
void lk_registry_swap(struct lk_registry_cell *c, struct lk_registry *next);

/* lk_registry_cell_free frees the cell and its current snapshot. No reader
 * may be inside a critical section or use the cell afterwards. Accepts NULL. */
void lk_registry_cell_free(struct lk_registry_cell *c);

#endif /* LK_AUTH_REGISTRY_H */
