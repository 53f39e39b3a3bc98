/* adapters/inventory.h - the container inventory the controller surfaces
 * serve (spec docker-drydock-edge 4.1; DESIGN.md "Control plane").
 *
 * One inventory thread owns the cache: it lists every container
 * (all=1), inspects only those whose `State|Status|ImageID` changed since
 * the last refresh, and shapes each into the Drydock wire shape and the
 * generic shape once (adapters/shape.h). It refreshes every poll_s seconds
 * and at once when Docker reports a container event on its one /events
 * subscription (allowlisted actions, `health_status: ...` matched by
 * prefix), which reconnects with a 5 s -> 60 s backoff, reset after 30 s of
 * stable connection.
 *
 * Readers (the control thread, serving /api/containers) copy the current
 * snapshot out under a mutex: the data path never touches it. Each refresh
 * that changed something reports the differences (added, updated when the
 * status string changed, removed) to on_change, on the inventory thread. */
#ifndef LK_ADAPTERS_INVENTORY_H
#define LK_ADAPTERS_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/shape.h"

struct lk_obuf;
struct lk_inventory;

#define LK_INV_CONTAINERS_MAX 10000 /* containers kept; beyond, the rest are left out (logged) */

enum lk_inv_change_kind { LK_INV_ADDED, LK_INV_UPDATED, LK_INV_REMOVED };

/* struct lk_inv_change is one difference; the JSON texts are borrowed for
 * the callback only. */
struct lk_inv_change {
	enum lk_inv_change_kind kind;
	const char *id;
	const char *name;
	const char *drydock; /* the container in the Drydock wire shape */
	size_t drydock_len;
};

struct lk_inv_opts {
	const char *docker_socket;
	int timeout_ms;          /* per Docker call */
	unsigned poll_s;         /* DD_POLL_INTERVAL */
	struct lk_shape_opts shape;
	void (*on_change)(void *arg, const struct lk_inv_change *ch); /* may be NULL */
	void (*on_refresh)(void *arg, uint64_t generation);           /* after each refresh; may be NULL */
	/* on_event gets each allowlisted container event as Docker sent it
	 * (borrowed for the call), as soon as it is read; may be NULL. */
	void (*on_event)(void *arg, const struct lk_jval *ev);
	void *arg;
};

struct lk_inv_counts {
	size_t total;
	size_t running;
	size_t images; /* distinct image IDs */
	uint64_t generation; /* bumped by every refresh that changed something */
	uint64_t refreshes;
	uint64_t event_reconnects;
};

/* lk_inventory_new prepares the inventory (no thread yet). o is copied. */
struct lk_inventory *lk_inventory_new(const struct lk_inv_opts *o, char *err, size_t err_len);
/* lk_inventory_start runs the inventory thread: an initial refresh, then
 * events and polling. Returns 0 or -errno. */
int lk_inventory_start(struct lk_inventory *inv);
/* lk_inventory_free stops and joins the thread (bounded by one Docker
 * call's timeout) and frees everything. NULL is fine. */
void lk_inventory_free(struct lk_inventory *inv);

/* lk_inventory_write appends the current inventory as a JSON array in the
 * Drydock wire shape (generic = false) or the generic shape to b, and
 * returns the generation it shows. Any thread (mutex). */
uint64_t lk_inventory_write(struct lk_inventory *inv, bool generic, struct lk_obuf *b);
/* lk_inventory_counts copies the counts of the current snapshot. */
void lk_inventory_counts(struct lk_inventory *inv, struct lk_inv_counts *out);
/* lk_inventory_refresh_now asks the thread for an immediate refresh. */
void lk_inventory_refresh_now(struct lk_inventory *inv);

/* lk__inv_action_allowed tells whether a Docker event action triggers a
 * refresh (exposed for tests). */
bool lk__inv_action_allowed(const char *action);

#endif /* LK_ADAPTERS_INVENTORY_H */
