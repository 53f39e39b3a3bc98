/* adapters/inventory.c - the container inventory thread (see inventory.h). */
#include <sys/eventfd.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/docker.h"
#include "adapters/inventory.h"
#include "adapters/shape.h"
#include "core/buf.h"
#include "core/dbg.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timer.h"

#define BACKOFF_MIN_MS	 5000
#define BACKOFF_MAX_MS	 60000
#define STABLE_MS	 30000
/* Docker announces some transitions (pause) a moment before its state
 * shows them: an event refreshes after this delay, which also folds a
 * burst of events (create, start, ...) into one refresh. */
#define EVENT_SETTLE_MS	 250
#define LINE_BUF	 (256u * 1024) /* one Docker event is far smaller */
#define SHAPE_BUF	 (256u * 1024) /* one shaped container */
#define EVENTS_TARGET	 "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D"

struct entry {
	char *id;
	char *key;    /* State|Status|ImageID|Names of the list entry: re-inspect when it changes */
	char *name;
	char *status; /* lk_shape_status */
	char *image_id;
	char *drydock;
	size_t drydock_len;
	char *generic;
	size_t generic_len;
	bool running;
};

struct snapshot {
	struct entry *e; /* sorted by id */
	size_t n;
};

struct lk_inventory {
	struct lk_inv_opts o;
	struct lk_docker docker;
	pthread_mutex_t mu; /* guards snap and counts for readers */
	struct snapshot snap;
	struct lk_inv_counts counts;
	int efd;            /* wakes the thread: stop, refresh now */
	atomic_bool stop;
	atomic_bool refresh_req;
	pthread_t thread;
	bool started;
	char *shape_buf;
};

static const char *const allowed_actions[] = {
	"create", "start", "stop", "die", "kill", "restart", "pause", "unpause",
	"destroy", "rename", "update", "oom", "health_status",
};

bool lk__inv_action_allowed(const char *action)
{
	if (action == NULL)
		return false;
	for (size_t i = 0; i < sizeof(allowed_actions) / sizeof(allowed_actions[0]); i++)
		if (strcmp(action, allowed_actions[i]) == 0)
			return true;
	/* Docker 1.12+ says "health_status: healthy": the reference's exact
	 * match never saw these (DESIGN.md decision 4). */
	return strncmp(action, "health_status:", 14) == 0;
}

static void entry_free(struct entry *e)
{
	free(e->id);
	free(e->key);
	free(e->name);
	free(e->status);
	free(e->image_id);
	free(e->drydock);
	free(e->generic);
	*e = (struct entry){ 0 };
}

static void snap_free(struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		entry_free(&s->e[i]);
	free(s->e);
	*s = (struct snapshot){ 0 };
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->id, ((const struct entry *)b)->id);
}

static struct entry *find(struct snapshot *s, const char *id)
{
	struct entry k = { .id = (char *)id };

	return s->n != 0 ? bsearch(&k, s->e, s->n, sizeof(k), cmp_entry) : NULL;
}

static char *dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

/* list_key is what decides a re-inspection (HEAD's State|Status|ImageID,
 * plus Names so that a rename shows). */
static char *list_key(const struct lk_jval *item)
{
	char buf[1024];
	struct lk_obuf b;

	lk_obuf_init(&b, buf, sizeof(buf) - 1);
	lk_obuf_puts(&b, lk_json_str(lk_json_get(item, "State")) ?: "");
	lk_obuf_puts(&b, "|");
	lk_obuf_puts(&b, lk_json_str(lk_json_get(item, "Status")) ?: "");
	lk_obuf_puts(&b, "|");
	lk_obuf_puts(&b, lk_json_str(lk_json_get(item, "ImageID")) ?: "");
	const struct lk_jval *names = lk_json_get(item, "Names");
	for (size_t i = 0; i < lk_json_len(names); i++) {
		lk_obuf_puts(&b, "|");
		lk_obuf_puts(&b, lk_json_str(lk_json_at(names, i)) ?: "");
	}
	buf[b.len] = '\0';
	return strdup(buf);
}

static char *shape(struct lk_inventory *inv, bool generic, const struct lk_jval *item,
		   const struct lk_jval *ins, size_t *len)
{
	struct lk_obuf b;

	lk_obuf_init(&b, inv->shape_buf, SHAPE_BUF);
	if (generic)
		lk_shape_generic(&b, item, ins, &inv->o.shape);
	else
		lk_shape_drydock(&b, item, ins, &inv->o.shape);
	if (b.overflow)
		return NULL;
	char *p = malloc(b.len + 1);
	if (p != NULL) {
		memcpy(p, b.data, b.len);
		p[b.len] = '\0';
		*len = b.len;
	}
	return p;
}

/* build_entry inspects one listed container and shapes it. Returns 0, or
 * -1 when it vanished or could not be inspected (left out this round). */
static int build_entry(struct lk_inventory *inv, const struct lk_jval *item, const char *id,
		       struct entry *e)
{
	char target[128], *body = NULL;
	size_t len = 0;

	snprintf(target, sizeof(target), "/containers/%s/json", id);
	int st = lk_docker_get(&inv->docker, target, &body, &len);
	struct lk_jval *ins = st == 200 ? lk_json_parse(body, len, NULL, 0) : NULL;
	free(body);
	if (ins == NULL)
		return -1;
	const char *name = lk_json_str(lk_json_get(ins, "Name"));
	const char *status = lk_shape_status(ins, item);

	*e = (struct entry){
		.id = strdup(id),
		.key = list_key(item),
		.name = dup_or_empty(name != NULL && name[0] == '/' ? name + 1 : name),
		.status = dup_or_empty(status),
		.image_id = dup_or_empty(lk_json_str(lk_json_get(item, "ImageID"))),
		.running = status != NULL && strcmp(status, "running") == 0,
	};
	e->drydock = shape(inv, false, item, ins, &e->drydock_len);
	e->generic = shape(inv, true, item, ins, &e->generic_len);
	lk_json_free(ins);
	if (e->id == NULL || e->key == NULL || e->name == NULL || e->status == NULL ||
	    e->image_id == NULL || e->drydock == NULL || e->generic == NULL) {
		entry_free(e);
		return -1;
	}
	return 0;
}

static void report(struct lk_inventory *inv, enum lk_inv_change_kind kind, const struct entry *e)
{
	if (inv->o.on_change == NULL)
		return;
	struct lk_inv_change ch = {
		.kind = kind, .id = e->id, .name = e->name,
		.drydock = e->drydock, .drydock_len = e->drydock_len,
	};
	inv->o.on_change(inv->o.arg, &ch);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t distinct_images(const struct snapshot *s)
{
	if (s->n == 0)
		return 0;
	const char **ids = malloc(s->n * sizeof(*ids));
	size_t n = 0;

	if (ids == NULL)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		ids[i] = s->e[i].image_id;
	qsort(ids, s->n, sizeof(*ids), cmp_str);
	for (size_t i = 0; i < s->n; i++)
		if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
			n++;
	free(ids);
	return n;
}

/* refresh rebuilds the snapshot. Returns 0, or -errno when Docker could not
 * be listed (the old snapshot stays). */
static int refresh(struct lk_inventory *inv)
{
	char *body = NULL;
	size_t len = 0;
	int st = lk_docker_get(&inv->docker, "/containers/json?all=1", &body, &len);
	struct lk_jval *list = st == 200 ? lk_json_parse(body, len, NULL, 0) : NULL;

	free(body);
	if (list == NULL)
		return st < 0 ? st : -EPROTO;
	size_t n_items = lk_json_len(list);
	if (n_items > LK_INV_CONTAINERS_MAX) {
		LK_LOG(LK_LOG_WARN, "inventory: too many containers, keeping the first",
		       LK_LOG_UINT("containers", n_items), LK_LOG_UINT("kept", LK_INV_CONTAINERS_MAX));
		n_items = LK_INV_CONTAINERS_MAX;
	}
	struct snapshot next = { .e = calloc(n_items != 0 ? n_items : 1, sizeof(struct entry)) };
	struct snapshot *old = &inv->snap;

	if (next.e == NULL) {
		lk_json_free(list);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_items; i++) {
		const struct lk_jval *item = lk_json_at(list, i);
		const char *id = lk_json_str(lk_json_get(item, "Id"));

		if (id == NULL || strlen(id) > 64)
			continue;
		/* The old snapshot is only read here (and by readers under the
		 * mutex); reuse copies, so it stays intact until the swap. */
		struct entry *prev = find(old, id);
		char *key = list_key(item);
		if (prev != NULL && key != NULL && strcmp(prev->key, key) == 0) {
			struct entry *e = &next.e[next.n];
			*e = (struct entry){
				.id = strdup(prev->id), .key = key, .name = strdup(prev->name),
				.status = strdup(prev->status), .image_id = strdup(prev->image_id),
				.drydock = malloc(prev->drydock_len + 1), .drydock_len = prev->drydock_len,
				.generic = malloc(prev->generic_len + 1), .generic_len = prev->generic_len,
				.running = prev->running,
			};
			if (e->id == NULL || e->name == NULL || e->status == NULL || e->image_id == NULL ||
			    e->drydock == NULL || e->generic == NULL) {
				entry_free(e);
				continue;
			}
			memcpy(e->drydock, prev->drydock, prev->drydock_len + 1);
			memcpy(e->generic, prev->generic, prev->generic_len + 1);
			next.n++;
			continue;
		}
		free(key);
		if (build_entry(inv, item, id, &next.e[next.n]) == 0)
			next.n++;
	}
	lk_json_free(list);
	qsort(next.e, next.n, sizeof(*next.e), cmp_entry);

	/* Differences, in the order the reference broadcasts them. */
	bool changed = next.n != old->n;
	for (size_t i = 0; i < next.n; i++) {
		struct entry *prev = find(old, next.e[i].id);

		if (prev == NULL) {
			report(inv, LK_INV_ADDED, &next.e[i]);
			changed = true;
		}
	}
	for (size_t i = 0; i < next.n; i++) {
		struct entry *prev = find(old, next.e[i].id);

		if (prev != NULL && strcmp(prev->key, next.e[i].key) != 0) {
			changed = true;
			if (strcmp(prev->status, next.e[i].status) != 0)
				report(inv, LK_INV_UPDATED, &next.e[i]);
		}
	}
	for (size_t i = 0; i < old->n; i++) {
		if (find(&next, old->e[i].id) == NULL) {
			report(inv, LK_INV_REMOVED, &old->e[i]);
			changed = true;
		}
	}
	size_t running = 0;
	for (size_t i = 0; i < next.n; i++)
		running += next.e[i].running;
	size_t images = distinct_images(&next);

	struct snapshot gone;
	pthread_mutex_lock(&inv->mu);
	gone = inv->snap;
	inv->snap = next;
	inv->counts.total = next.n;
	inv->counts.running = running;
	inv->counts.images = images;
	inv->counts.refreshes++;
	if (changed)
		inv->counts.generation++;
	uint64_t gen = inv->counts.generation;
	pthread_mutex_unlock(&inv->mu);
	snap_free(&gone);
	if (inv->o.on_refresh != NULL)
		inv->o.on_refresh(inv->o.arg, gen);
	return 0;
}

/* ---- the thread ----------------------------------------------------------------- */

static void drain_efd(struct lk_inventory *inv)
{
	eventfd_t v;

	(void)eventfd_read(inv->efd, &v);
}

/* scan_events looks at the complete lines in buf[0..*len) and keeps the
 * unfinished rest. Returns true if one of them asks for a refresh. */
static bool scan_events(struct lk_inventory *inv, char *buf, size_t *len)
{
	bool dirty = false;
	size_t start = 0;

	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n')
			continue;
		struct lk_jval *ev = lk_json_parse(buf + start, i - start, NULL, 0);
		const char *type = lk_json_str(lk_json_get(ev, "Type"));
		const char *action = lk_json_str(lk_json_get(ev, "Action"));

		if (type != NULL && strcmp(type, "container") == 0 && lk__inv_action_allowed(action)) {
			dirty = true;
			if (inv->o.on_event != NULL)
				inv->o.on_event(inv->o.arg, ev);
		}
		lk_json_free(ev);
		start = i + 1;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
	return dirty;
}

static void count_reconnect(struct lk_inventory *inv)
{
	pthread_mutex_lock(&inv->mu);
	inv->counts.event_reconnects++;
	pthread_mutex_unlock(&inv->mu);
}

static void *inv_main(void *arg)
{
	struct lk_inventory *inv = arg;
	struct lk_docker_stream es = { .fd = -1 };
	char *line = malloc(LINE_BUF);
	size_t line_len = 0;
	uint64_t now = lk_time_ms(), next_poll = 0, next_connect = now, connected_at = 0;
	uint64_t settle_at = 0;	 /* an event asked for a refresh at this time (0: none) */
	uint64_t confirm_at = 0; /* one more look after an event refresh (0: none) */
	uint64_t backoff = BACKOFF_MIN_MS;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (line != NULL && !atomic_load(&inv->stop)) {
		now = lk_time_ms();
		bool dirty = atomic_exchange(&inv->refresh_req, false);

		if (es.fd < 0 && now >= next_connect) {
			int rc = lk_docker_stream_open(&inv->docker, EVENTS_TARGET, &es);

			if (rc == 0 && es.status == 200) {
				connected_at = now;
				line_len = 0;
				/* Whatever happened while we were away. */
				dirty = true;
			} else {
				lk_docker_stream_close(&es);
				next_connect = now + backoff;
				backoff = LK_MIN(backoff * 2, (uint64_t)BACKOFF_MAX_MS);
				count_reconnect(inv);
			}
		}
		if (settle_at != 0 && now >= settle_at) {
			dirty = true;
			settle_at = 0;
			/* and once more a second later, for a state Docker
			 * committed after its event */
			confirm_at = now + 4 * EVENT_SETTLE_MS;
		} else if (confirm_at != 0 && now >= confirm_at) {
			dirty = true;
			confirm_at = 0;
		}
		if (dirty || now >= next_poll) {
			if (refresh(inv) < 0 && next_poll == 0)
				LK_LOG(LK_LOG_WARN, "inventory: docker not reachable, will retry");
			next_poll = lk_time_ms() + (uint64_t)inv->o.poll_s * 1000;
			continue;
		}
		uint64_t wake = next_poll;
		if (settle_at != 0)
			wake = LK_MIN(wake, settle_at);
		if (confirm_at != 0)
			wake = LK_MIN(wake, confirm_at);
		if (es.fd < 0)
			wake = LK_MIN(wake, next_connect);
		int timeout = (int)LK_MIN(wake > now ? wake - now : 0, (uint64_t)60000);
		struct pollfd pf[2] = { { .fd = inv->efd, .events = POLLIN },
					{ .fd = es.fd, .events = POLLIN } };
		int pr = poll(pf, es.fd >= 0 ? 2 : 1, timeout);
		if (pr <= 0)
			continue;
		if (pf[0].revents & POLLIN)
			drain_efd(inv);
		if (es.fd < 0 || !(pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (LINE_BUF - line_len < LK_HTTP_HEAD_MAX)
			line_len = 0; /* an event line this long is not Docker's: drop it */
		int rc = lk_docker_stream_read(&es, 0, line, LINE_BUF, &line_len);
		if (rc < 0) {
			/* The subscription ended: reconnect with backoff, reset when
			 * it had been stable. */
			lk_docker_stream_close(&es);
			if (lk_time_ms() - connected_at > STABLE_MS)
				backoff = BACKOFF_MIN_MS;
			next_connect = lk_time_ms() + backoff;
			backoff = LK_MIN(backoff * 2, (uint64_t)BACKOFF_MAX_MS);
			count_reconnect(inv);
			continue;
		}
		if (scan_events(inv, line, &line_len) && settle_at == 0)
			settle_at = lk_time_ms() + EVENT_SETTLE_MS;
	}
	lk_docker_stream_close(&es);
	free(line);
	return NULL;
}

struct lk_inventory *lk_inventory_new(const struct lk_inv_opts *o, char *err, size_t err_len)
{
	struct lk_inventory *inv = calloc(1, sizeof(*inv));

	if (inv == NULL)
		goto oom;
	inv->o = *o;
	if (inv->o.poll_s == 0)
		inv->o.poll_s = 300;
	inv->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	inv->shape_buf = malloc(SHAPE_BUF);
	if (inv->efd < 0 || inv->shape_buf == NULL || pthread_mutex_init(&inv->mu, NULL) != 0) {
		if (inv->efd >= 0)
			close(inv->efd);
		free(inv->shape_buf);
		free(inv);
		goto oom;
	}
	if (lk_docker_init(&inv->docker, o->docker_socket, o->timeout_ms) < 0) {
		snprintf(err, err_len, "DOCKER_SOCKET: path too long");
		lk_inventory_free(inv);
		return NULL;
	}
	return inv;
oom:
	snprintf(err, err_len, "inventory: out of memory");
	return NULL;
}

int lk_inventory_start(struct lk_inventory *inv)
{
	int rc = pthread_create(&inv->thread, NULL, inv_main, inv);

	inv->started = rc == 0;
	return -rc;
}

void lk_inventory_free(struct lk_inventory *inv)
{
	if (inv == NULL)
		return;
	if (inv->started) {
		atomic_store(&inv->stop, true);
		(void)eventfd_write(inv->efd, 1);
		pthread_join(inv->thread, NULL);
	}
	snap_free(&inv->snap);
	pthread_mutex_destroy(&inv->mu);
	close(inv->efd);
	free(inv->shape_buf);
	free(inv);
}

uint64_t lk_inventory_write(struct lk_inventory *inv, bool generic, struct lk_obuf *b)
{
	pthread_mutex_lock(&inv->mu);
	uint64_t gen = inv->counts.generation;
	lk_obuf_put(b, "[", 1);
	for (size_t i = 0; i < inv->snap.n; i++) {
		const struct entry *e = &inv->snap.e[i];

		if (i != 0)
			lk_obuf_put(b, ",", 1);
		if (generic)
			lk_obuf_put(b, e->generic, e->generic_len);
		else
			lk_obuf_put(b, e->drydock, e->drydock_len);
	}
	lk_obuf_put(b, "]", 1);
	pthread_mutex_unlock(&inv->mu);
	return gen;
}

void lk_inventory_counts(struct lk_inventory *inv, struct lk_inv_counts *out)
{
	pthread_mutex_lock(&inv->mu);
	*out = inv->counts;
	pthread_mutex_unlock(&inv->mu);
}

void lk_inventory_refresh_now(struct lk_inventory *inv)
{
	atomic_store(&inv->refresh_req, true);
	(void)eventfd_write(inv->efd, 1);
}
