/* proxy/sse.c - the Drydock event stream (see sse.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/inventory.h"
#include "adapters/shape.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/dbg.h"
#include "core/json.h"
#include "core/log.h"
#include "core/tls.h"
#include "core/worker.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/session_int.h"
#include "proxy/sse.h"

#define LK_SSE_SNAPSHOT_MAX (16u << 20) /* one dd:watcher-snapshot (Drydock's own limit) */

static const char sse_head[] = "HTTP/1.1 200 OK\r\n"
			       "Content-Type: text/event-stream\r\n"
			       "Cache-Control: no-cache\r\n"
			       "Connection: keep-alive\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n";

/* struct sse_sub is one subscriber: its queue of messages and where the
 * current one is. Owned by its connection (c->ext), on its worker's list. */
struct sse_sub {
	uint8_t kind; /* enum lk_sse_kind */
	struct sse_sub *next;
	struct sse_sub **pprev;
	struct lk_conn *c;
	bool started;	 /* the initial frames are out (or going): queue is live */
	bool sending;	 /* a client send is queued */
	uint64_t gen_min; /* messages up to this generation are in the initial snapshot */
	char *initial;	  /* head + initial frames, sent first */
	size_t initial_len, initial_off;
	struct lk_sse_msg *q[LK_SSE_QUEUE];
	unsigned qh, qn;
	uint32_t off;	  /* sent bytes of q[qh] */
};

struct lk_sse_msg *lk_sse_msg_new(const char *json, size_t len, uint64_t gen)
{
	char head[32];
	size_t payload = 6 + len + 2; /* "data: " json "\n\n" */
	int hl = snprintf(head, sizeof(head), "%zx\r\n", payload);
	struct lk_sse_msg *m = malloc(sizeof(*m) + (size_t)hl + payload + 2);

	if (m == NULL)
		return NULL;
	atomic_init(&m->refs, 1);
	m->kind = LK_SSE_DRYDOCK;
	m->gen = gen;
	char *p = m->data;
	memcpy(p, head, (size_t)hl);
	p += hl;
	memcpy(p, "data: ", 6);
	memcpy(p + 6, json, len);
	memcpy(p + 6 + len, "\n\n\r\n", 4);
	m->len = (uint32_t)((size_t)hl + payload + 2);
	return m;
}

void lk_sse_msg_put(struct lk_sse_msg *m)
{
	if (m != NULL && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		free(m);
}

/* ---- the producer (inventory thread) ------------------------------------------- */

static void hub_add(struct lk_server *srv, struct lk_sse_msg *m)
{
	struct lk_sse_hub *h = &srv->sse;

	if (m == NULL)
		return;
	if (h->n == h->cap) {
		size_t cap = h->cap != 0 ? h->cap * 2 : 16;
		struct lk_sse_msg **p = realloc(h->pend, cap * sizeof(*p));

		if (p == NULL) {
			lk_sse_msg_put(m);
			h->lost++;
			return;
		}
		h->pend = p;
		h->cap = cap;
	}
	h->pend[h->n++] = m;
}

void lk__sse_on_change(void *arg, const struct lk_inv_change *ch)
{
	struct lk_server *srv = arg;
	static const char *const types[] = {
		[LK_INV_ADDED] = "dd:container-added",
		[LK_INV_UPDATED] = "dd:container-updated",
		[LK_INV_REMOVED] = "dd:container-removed",
	};
	size_t cap = ch->drydock_len + 512;
	char *buf;
	struct lk_obuf b;

	if (srv->cfg->adapter == LK_ADAPTER_GENERIC)
		return; /* the generic stream carries Docker's events instead */
	buf = malloc(cap);
	if (buf == NULL)
		return;
	lk_obuf_init(&b, buf, (uint32_t)cap);
	lk_obuf_puts(&b, "{\"type\":\"");
	lk_obuf_puts(&b, types[ch->kind]);
	lk_obuf_puts(&b, "\",\"data\":");
	if (ch->kind == LK_INV_REMOVED) {
		lk_obuf_puts(&b, "{\"id\":");
		lk_json_put_str(&b, ch->id, strlen(ch->id));
		lk_obuf_puts(&b, ",\"name\":");
		lk_json_put_str(&b, ch->name, strlen(ch->name));
		lk_obuf_puts(&b, "}");
	} else {
		lk_obuf_put(&b, ch->drydock, ch->drydock_len);
	}
	lk_obuf_puts(&b, "}");
	if (!b.overflow)
		hub_add(srv, lk_sse_msg_new(b.data, b.len, 0));
	free(buf);
}

/* lk__sse_snapshot_json writes {"type":"dd:watcher-snapshot","data":{...}}
 * of the current inventory into b and returns its generation. */
uint64_t lk__sse_snapshot_json(struct lk_server *srv, struct lk_obuf *b)
{
	char wbuf[1024];
	struct lk_obuf w;

	lk_obuf_init(&w, wbuf, sizeof(wbuf));
	lk_shape_watcher(&w);
	lk_obuf_puts(b, "{\"type\":\"dd:watcher-snapshot\",\"data\":{\"watcher\":");
	lk_obuf_put(b, wbuf, w.len);
	lk_obuf_puts(b, ",\"containers\":");
	uint64_t gen = lk_inventory_write(srv->inventory, false, b);
	lk_obuf_puts(b, "}}");
	return gen;
}

/* publish pushes m[0..n) into every worker's inbox, wakes the workers, and
 * drops the producer's references. */
static void publish(struct lk_server *srv, struct lk_sse_msg *const *m, size_t n)
{
	struct lk_sworker *sws = srv->sworkers;

	for (unsigned w = 0; w < srv->n_workers; w++) {
		for (size_t i = 0; i < n; i++) {
			/* The reference goes with the message: taken before the
			 * push publishes it. */
			atomic_fetch_add_explicit(&m[i]->refs, 1, memory_order_relaxed);
			if (!lk_spsc_push(&sws[w].sse_inbox, m[i])) {
				atomic_fetch_sub_explicit(&m[i]->refs, 1, memory_order_relaxed);
				srv->sse.lost++; /* that worker is far behind: its subscribers resync on the next snapshot */
			}
		}
		uint64_t one = 1;
		(void)!write(sws[w].w.wake_fd, &one, sizeof(one));
	}
	for (size_t i = 0; i < n; i++)
		lk_sse_msg_put(m[i]);
}

/* generic_labels_skip lists the Actor attributes that are not labels
 * (spec docker-drydock-edge 5). */
static bool generic_labels_skip(const char *k)
{
	static const char *const skip[] = {
		"name", "image", "exitCode", "signal", "execID", "maintainer",
		"org.opencontainers.image.created", "org.opencontainers.image.revision",
		"org.opencontainers.image.source", "org.opencontainers.image.title",
		"org.opencontainers.image.url", "org.opencontainers.image.version",
	};
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strcmp(k, skip[i]) == 0)
			return true;
	return false;
}

void lk__sse_on_event(void *arg, const struct lk_jval *ev)
{
	struct lk_server *srv = arg;
	const struct lk_jval *attrs = lk_json_path(ev, "Actor", "Attributes", NULL);
	char buf[8192], ts[32] = "";
	struct lk_obuf b;
	int64_t t = 0;

	if (srv->cfg->adapter != LK_ADAPTER_GENERIC)
		return;
	if (lk_json_i64(lk_json_get(ev, "time"), &t)) {
		time_t tt = (time_t)t;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	lk_obuf_init(&b, buf, sizeof(buf));
	lk_obuf_puts(&b, "{\"ts\":");
	lk_json_put_str(&b, ts, strlen(ts));
	static const char *const keys[][2] = {
		{ "type", "Type" }, { "action", "Action" },
	};
	for (size_t i = 0; i < 2; i++) {
		const char *v = lk_json_str(lk_json_get(ev, keys[i][1]));
		lk_obuf_puts(&b, ",\"");
		lk_obuf_puts(&b, keys[i][0]);
		lk_obuf_puts(&b, "\":");
		lk_json_put_str(&b, v != NULL ? v : "", v != NULL ? strlen(v) : 0);
	}
	const char *id = lk_json_str(lk_json_path(ev, "Actor", "ID", NULL));
	const char *name = lk_json_str(lk_json_get(attrs, "name"));
	const char *image = lk_json_str(lk_json_get(attrs, "image"));
	lk_obuf_puts(&b, ",\"containerId\":");
	lk_json_put_str(&b, id != NULL ? id : "", id != NULL ? strlen(id) : 0);
	lk_obuf_puts(&b, ",\"name\":");
	lk_json_put_str(&b, name != NULL ? name : "", name != NULL ? strlen(name) : 0);
	lk_obuf_puts(&b, ",\"image\":");
	lk_json_put_str(&b, image != NULL ? image : "", image != NULL ? strlen(image) : 0);
	size_t n_labels = 0;
	for (size_t i = 0; i < lk_json_len(attrs); i++) {
		const char *k = lk_json_key_at(attrs, i);
		const char *v = lk_json_str(lk_json_at(attrs, i));

		if (k == NULL || v == NULL || generic_labels_skip(k))
			continue;
		lk_obuf_puts(&b, n_labels++ == 0 ? ",\"labels\":{" : ",");
		lk_json_put_str(&b, k, strlen(k));
		lk_obuf_puts(&b, ":");
		lk_json_put_str(&b, v, strlen(v));
	}
	if (n_labels != 0)
		lk_obuf_puts(&b, "}");
	lk_obuf_puts(&b, "}");
	if (b.overflow)
		return;
	struct lk_sse_msg *m = lk_sse_msg_new(b.data, b.len, 0);
	if (m == NULL)
		return;
	m->kind = LK_SSE_GENERIC;
	/* Events go out as they come, not with a refresh. */
	publish(srv, &m, 1);
}

void lk__sse_on_refresh(void *arg, uint64_t generation)
{
	struct lk_server *srv = arg;
	struct lk_sse_hub *h = &srv->sse;

	/* The Drydock stream only: a generic agent has no snapshot frames. */
	if (srv->cfg->adapter == LK_ADAPTER_GENERIC) {
		for (size_t i = 0; i < h->n; i++)
			lk_sse_msg_put(h->pend[i]);
		h->n = 0;
		return;
	}
	if (generation == h->last_gen && h->n == 0)
		return;
	h->last_gen = generation;
	char *buf = malloc(LK_SSE_SNAPSHOT_MAX);
	if (buf != NULL) {
		struct lk_obuf b;

		lk_obuf_init(&b, buf, LK_SSE_SNAPSHOT_MAX);
		(void)lk__sse_snapshot_json(srv, &b);
		if (!b.overflow)
			hub_add(srv, lk_sse_msg_new(b.data, b.len, 0));
		free(buf);
	}
	for (size_t i = 0; i < h->n; i++)
		h->pend[i]->gen = generation;
	publish(srv, h->pend, h->n);
	h->n = 0;
}

/* ---- subscribers (worker thread) ------------------------------------------------ */

static struct lk_sworker *sw_of(struct lk_conn *c)
{
	return c->w->data;
}

static void sub_kick(struct sse_sub *s);

int lk__sse_subscribe(struct lk_conn *c, enum lk_sse_kind kind)
{
	struct lk_sworker *sw = sw_of(c);
	struct sse_sub *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->c = c;
	s->kind = (uint8_t)kind;
	s->next = sw->sse_subs;
	if (s->next != NULL)
		s->next->pprev = &s->next;
	s->pprev = &sw->sse_subs;
	sw->sse_subs = s;
	c->ext = s;
	return 0;
}

void lk__sse_unsubscribe(struct lk_conn *c)
{
	struct sse_sub *s = c->ext;

	if (s == NULL)
		return;
	*s->pprev = s->next;
	if (s->next != NULL)
		s->next->pprev = s->pprev;
	for (unsigned i = 0; i < s->qn; i++)
		lk_sse_msg_put(s->q[(s->qh + i) % LK_SSE_QUEUE]);
	free(s->initial);
	free(s);
	c->ext = NULL;
}

/* enqueue adds m for s, or drops the subscriber when its queue is full. */
static void enqueue(struct sse_sub *s, struct lk_sse_msg *m)
{
	if (m->kind != s->kind || (s->started && m->gen != 0 && m->gen <= s->gen_min))
		return;
	if (s->qn == LK_SSE_QUEUE) {
		sw_of(s->c)->stats.sse_dropped++;
		LK_LOG(LK_LOG_WARN, "event stream client too slow, dropped");
		lk__sess_close(s->c);
		return;
	}
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	s->q[(s->qh + s->qn) % LK_SSE_QUEUE] = m;
	s->qn++;
}

void lk__sse_on_wake(struct lk_worker *w)
{
	struct lk_sworker *sw = w->data;
	struct lk_sse_msg *m;
	bool any = false;

	while ((m = lk_spsc_pop(&sw->sse_inbox)) != NULL) {
		any = true;
		for (struct sse_sub *s = sw->sse_subs; s != NULL; s = s->next)
			if (!lk_conn_is_closing(s->c))
				enqueue(s, m);
		lk_sse_msg_put(m);
	}
	if (!any)
		return;
	for (struct sse_sub *s = sw->sse_subs; s != NULL; s = s->next)
		if (s->started && !lk_conn_is_closing(s->c))
			sub_kick(s);
}

/* sub_next returns the bytes to send next, or 0. */
static size_t sub_next(struct sse_sub *s, const char **p)
{
	if (s->initial != NULL) {
		*p = s->initial + s->initial_off;
		return s->initial_len - s->initial_off;
	}
	if (s->qn == 0)
		return 0;
	struct lk_sse_msg *m = s->q[s->qh];
	*p = m->data + s->off;
	return m->len - s->off;
}

static void sub_advance(struct sse_sub *s, size_t n)
{
	if (s->initial != NULL) {
		s->initial_off += n;
		if (s->initial_off == s->initial_len) {
			free(s->initial);
			s->initial = NULL;
		}
		return;
	}
	struct lk_sse_msg *m = s->q[s->qh];
	s->off += (uint32_t)n;
	if (s->off == m->len) {
		lk_sse_msg_put(m);
		s->qh = (s->qh + 1) % LK_SSE_QUEUE;
		s->qn--;
		s->off = 0;
	}
}

/* sub_kick queues the next send when none is in flight. With TLS, the
 * plaintext goes through the engine first. */
static void sub_kick(struct sse_sub *s)
{
	struct lk_conn *c = s->c;
	const char *p;
	size_t n;

	if (s->sending)
		return;
	if (c->tls != NULL) {
		while ((n = sub_next(s, &p)) != 0) {
			ssize_t k = lk_tls_write(c->tls, p, n);

			if (k == LK_AGAIN)
				break;
			if (k < 0) {
				lk__sess_close(c);
				return;
			}
			sub_advance(s, (size_t)k);
		}
		const void *out;
		n = lk_tls_out_peek(c->tls, &out);
		p = out;
	} else {
		n = sub_next(s, &p);
	}
	if (n == 0)
		return;
	if (lk_conn_send(c, LK_AUX_CLI, p, (unsigned)LK_MIN(n, (size_t)1 << 30)) < 0) {
		lk__sess_close(c);
		return;
	}
	s->sending = true;
}

void lk__sse_begin(struct lk_conn *c, uint64_t gen, const char *frames, size_t len)
{
	struct sse_sub *s = c->ext;

	LK_ASSERT(s != NULL);
	s->initial = malloc(sizeof(sse_head) - 1 + len);
	if (s->initial == NULL) {
		lk__sess_close(c);
		return;
	}
	memcpy(s->initial, sse_head, sizeof(sse_head) - 1);
	if (len != 0)
		memcpy(s->initial + sizeof(sse_head) - 1, frames, len);
	s->initial_len = sizeof(sse_head) - 1 + len;
	s->initial_off = 0;
	s->gen_min = gen;
	s->started = true;
	/* Changes queued while the snapshot was built, and already in it. */
	unsigned keep = 0;
	for (unsigned i = 0; i < s->qn; i++) {
		struct lk_sse_msg *m = s->q[(s->qh + i) % LK_SSE_QUEUE];

		if (m->gen <= gen)
			lk_sse_msg_put(m);
		else
			s->q[(s->qh + keep++) % LK_SSE_QUEUE] = m;
	}
	s->qn = keep;
	lk__sess_set_state(c, LK_CS_SSE);
	/* The stream holds no request context, only its subscriber state. */
	lk__sess_ctx_put(c);
	lk__sess_arm_timer(c, LK_TQ_SSE);
	if (lk_conn_recv_pbuf(c, LK_AUX_CLI, 0) == 0)
		c->flags |= LK_SF_RECV;
	sub_kick(s);
}

void lk__sse_on_cqe(struct lk_conn *c, int op, int res, uint32_t flags, uint8_t aux)
{
	struct sse_sub *s = c->ext;

	if (op == LK_OP_RECV) {
		c->flags &= ~LK_SF_RECV;
		if (flags & LK_CQE_F_BUFFER)
			lk_worker_pbuf_put(c->w, aux, flags);
		/* The client has nothing to say on an event stream: its EOF or
		 * error ends it; bytes are ignored. */
		if (res <= 0 && res != -ENOBUFS) {
			lk__sess_close(c);
			return;
		}
		if (lk_conn_recv_pbuf(c, LK_AUX_CLI, 0) == 0)
			c->flags |= LK_SF_RECV;
		return;
	}
	if (op != LK_OP_SEND || s == NULL)
		return;
	s->sending = false;
	if (res < 0) {
		lk__sess_close(c);
		return;
	}
	if (c->tls != NULL)
		lk_tls_out_consume(c->tls, (size_t)res);
	else
		sub_advance(s, (size_t)res);
	sub_kick(s);
}

void lk__sse_on_timer(struct lk_conn *c)
{
	struct sse_sub *s = c->ext;
	struct lk_sse_hub *h = &sw_of(c)->srv->sse;

	/* A comment line every LK_SSE_KEEPALIVE_S seconds (DESIGN.md decision
	 * 4): the reference sent none, and idle proxies cut quiet streams. */
	struct lk_sse_msg *ka = s != NULL && s->kind == LK_SSE_GENERIC ? h->heartbeat : h->keepalive;

	if (s != NULL && ka != NULL && s->qn < LK_SSE_QUEUE) {
		atomic_fetch_add_explicit(&ka->refs, 1, memory_order_relaxed);
		s->q[(s->qh + s->qn) % LK_SSE_QUEUE] = ka;
		s->qn++;
		sub_kick(s);
	}
	lk__sess_arm_timer(c, LK_TQ_SSE);
}
