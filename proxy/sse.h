/* proxy/sse.h - the Drydock event stream (/api/events; spec
 * docker-drydock-edge 4.4 and 2.4, DESIGN.md "Control plane").
 *
 * Producer: the inventory thread. Each refresh that changed something
 * yields frames (`data: {"type":"dd:container-added",...}\n\n` per change,
 * then one dd:watcher-snapshot), already in chunked framing, in one
 * immutable reference-counted message each, stamped with the inventory
 * generation. They are pushed into every worker's inbox (a single-producer
 * single-consumer ring) and the workers are woken.
 *
 * Consumers: each worker drains its inbox in on_wake and appends every
 * message to each of its subscribers' queues (bounded: LK_SSE_QUEUE
 * messages; a subscriber that falls that far behind is dropped with a
 * counter, never buffered without bound). A subscriber first gets its
 * initial frames (dd:ack and a dd:watcher-snapshot built by the control
 * thread at generation G), then only messages newer than G: it is
 * registered before the control thread takes the snapshot, so no change
 * falls between the two. A comment line keeps idle streams alive every
 * LK_SSE_KEEPALIVE_S seconds.
 *
 * Memory orders: the inbox is core/spsc.h's queue (its header says). A
 * message's
 * reference count is atomic (relaxed increments, acq_rel decrement: the
 * last owner frees it). */
#ifndef LK_PROXY_SSE_H
#define LK_PROXY_SSE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/spsc.h"

#define LK_SSE_INBOX LK_SPSC_CAP /* messages a worker's inbox holds */
#define LK_SSE_QUEUE 64        /* messages a subscriber may have queued */
#define LK_SSE_KEEPALIVE_S 30

struct lk_conn;
struct lk_server;
struct lk_worker;
struct lk_inv_change;

/* Which stream a message belongs to. */
enum lk_sse_kind { LK_SSE_DRYDOCK, LK_SSE_GENERIC };

struct lk_sse_msg {
	_Atomic uint32_t refs;
	uint8_t kind;  /* enum lk_sse_kind */
	uint64_t gen;
	uint32_t len;
	char data[];
};

/* A worker's inbox is a struct lk_spsc (core/spsc.h) of struct
 * lk_sse_msg pointers: the inventory thread pushes, the worker pops. */

/* Inventory-thread side (arg is the struct lk_server). */
void lk__sse_on_change(void *arg, const struct lk_inv_change *ch);
void lk__sse_on_refresh(void *arg, uint64_t generation);
void lk__sse_on_event(void *arg, const struct lk_jval *ev);

/* lk__sse_snapshot_json writes the dd:watcher-snapshot object of the
 * current inventory into b and returns the generation it shows (inventory or
 * control thread). */
struct lk_obuf;
uint64_t lk__sse_snapshot_json(struct lk_server *srv, struct lk_obuf *b);

/* Worker side. */
int lk__sse_subscribe(struct lk_conn *c, enum lk_sse_kind kind); /* drydock: before SSE_START */
void lk__sse_begin(struct lk_conn *c, uint64_t gen, const char *frames, size_t len);
void lk__sse_unsubscribe(struct lk_conn *c);      /* connection closing/freed */
void lk__sse_on_wake(struct lk_worker *w);
void lk__sse_on_cqe(struct lk_conn *c, int op, int res, uint32_t flags, uint8_t aux);
void lk__sse_on_timer(struct lk_conn *c);

/* lk_sse_msg_new builds a message of one SSE frame `data: <json>\n\n` in
 * chunked framing (json borrowed). NULL on allocation failure. */
struct lk_sse_msg *lk_sse_msg_new(const char *json, size_t len, uint64_t gen);
void lk_sse_msg_put(struct lk_sse_msg *m);

#endif /* LK_PROXY_SSE_H */
