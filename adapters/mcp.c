/* adapters/mcp.c - the read-only MCP server (see mcp.h; spec lookout-core.md
 * section 13).
 *
 * One request is parsed into a tree, dispatched on its method, and answered
 * into the caller's obuf. Tool data is first written as compact JSON into a
 * scratch obuf as large as the output (its escaped copy can only be longer,
 * so data that overflows the scratch could not have fitted anyway), then
 * escaped into the "text" of the tool result. Running out of memory while
 * parsing the request reads as a parse error (-32700): lk_json_parse does
 * not tell the two apart, and the client may retry either way. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/mcp.h"
#include "core/buf.h"
#include "core/dbg.h"
#include "core/json.h"

/* JSON-RPC 2.0 error codes. */
enum rpc_code {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603
};

/* DOCKER_MSG_MAX bounds how much of Docker's error text a tool error
 * repeats: the message is for a person, the body is unbounded. */
#define DOCKER_MSG_MAX 1024

/* call is one request being answered. */
struct call {
	const struct lk_mcp_env *env;
	const struct lk_jval *id; /* the request's id, echoed; NULL writes null */
	struct lk_obuf *out;
	int rc; /* -ENOMEM when a scratch allocation failed */
};

/* ---- JSON-RPC envelopes ------------------------------------------------- */

static void put_head(struct call *c)
{
	lk_obuf_puts(c->out, "{\"jsonrpc\":\"2.0\",\"id\":");
	lk_json_put_val(c->out, c->id);
}

/* reply_error answers with a JSON-RPC error whose message is what followed
 * by s[0..n) (a method or tool name from the client; may be NULL, 0). */
static void reply_error(struct call *c, enum rpc_code code, const char *what, const char *s,
			size_t n)
{
	put_head(c);
	lk_obuf_puts(c->out, ",\"error\":{\"code\":");
	lk_obuf_put_i64(c->out, code);
	lk_obuf_puts(c->out, ",\"message\":\"");
	lk_json_put_chars(c->out, what, strlen(what));
	lk_json_put_chars(c->out, s, n);
	lk_obuf_puts(c->out, "\"}}\n");
}

static void result_begin(struct call *c)
{
	put_head(c);
	lk_obuf_puts(c->out, ",\"result\":");
}

static void result_end(struct call *c)
{
	lk_obuf_puts(c->out, "}\n");
}

/* text_begin opens a tools/call result up to the inside of its one text
 * block's string; the caller appends escaped pieces, then text_end. The
 * content object's keys are sorted ("text" before "type") because the
 * reference builds it as a Go map. */
static void text_begin(struct call *c)
{
	result_begin(c);
	lk_obuf_puts(c->out, "{\"content\":[{\"text\":\"");
}

static void text_end(struct call *c, bool is_error)
{
	lk_obuf_puts(c->out, "\",\"type\":\"text\"}],\"isError\":");
	lk_json_put_bool(c->out, is_error);
	lk_obuf_puts(c->out, "}");
	result_end(c);
}

/* tool_error answers with a tool-level failure (isError true, still a
 * JSON-RPC result): the text is what followed by detail[0..n). */
static void tool_error(struct call *c, const char *what, const char *detail, size_t n)
{
	text_begin(c);
	lk_json_put_chars(c->out, what, strlen(what));
	lk_json_put_chars(c->out, detail, n);
	text_end(c, true);
}

/* tool_errno is tool_error with the text of errno value e after what. */
static void tool_errno(struct call *c, const char *what, int e)
{
	char buf[128];
	const char *s = strerror_r(e, buf, sizeof(buf));

	tool_error(c, what, s, strlen(s));
}

/* data_begin points d at a fresh scratch buffer for a tool's data, as large
 * as the output. Returns false (and records -ENOMEM) when it cannot. */
static bool data_begin(struct call *c, struct lk_obuf *d)
{
	uint32_t cap = c->out->cap;
	char *mem = malloc(cap != 0 ? cap : 1);

	if (mem == NULL) {
		c->rc = -ENOMEM;
		return false;
	}
	lk_obuf_init(d, mem, cap);
	return true;
}

/* data_end answers with d's data as the text of a successful tool result
 * and frees d. */
static void data_end(struct call *c, struct lk_obuf *d)
{
	LK_ASSERT(d->data != NULL && c->rc == 0);
	if (d->overflow) {
		c->out->overflow = true; /* escaped, it would be longer still */
	} else {
		text_begin(c);
		lk_json_put_chars(c->out, d->data, d->len);
		text_end(c, false);
	}
	free(d->data);
	d->data = NULL;
}

/* ---- reading Docker ----------------------------------------------------- */

/* put_str_of appends v as a JSON string, or "" when v is not a string (a
 * missing field reads as Go's zero value). */
static void put_str_of(struct lk_obuf *b, const struct lk_jval *v)
{
	size_t n = 0;
	const char *s = lk_json_strn(v, &n);

	lk_json_put_str(b, s, s != NULL ? n : 0);
}

static void put_u64_of(struct lk_obuf *b, const struct lk_jval *v)
{
	uint64_t x = 0;

	lk_json_u64(v, &x);
	lk_obuf_put_u64(b, x);
}

static void put_i64_of(struct lk_obuf *b, const struct lk_jval *v)
{
	int64_t x = 0;

	lk_json_i64(v, &x);
	lk_obuf_put_i64(b, x);
}

/* member is one member of a Docker object that the reference decodes into
 * a Go map, which it writes back with sorted keys. */
struct member {
	const char *key;
	size_t i; /* position in the object */
};

static int cmp_member(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int rc = strcmp(x->key, y->key);

	if (rc != 0)
		return rc;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* sorted_members stores obj's members sorted by name (bytewise, as Go sorts
 * map keys) in a malloc'd array *out of *n entries, keeping only the last
 * of a repeated name as a Go map would. *out is NULL when there are none.
 * Returns 0 or -ENOMEM. */
static int sorted_members(const struct lk_jval *obj, struct member **out, size_t *n)
{
	size_t len = lk_json_len(obj), k = 0;
	struct member *m;

	*out = NULL;
	*n = 0;
	if (lk_json_type(obj) != LK_J_OBJ || len == 0)
		return 0;
	m = calloc(len, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++)
		m[i] = (struct member){ .key = lk_json_key_at(obj, i), .i = i };
	qsort(m, len, sizeof(*m), cmp_member);
	for (size_t i = 0; i < len; i++) {
		if (i + 1 < len && strcmp(m[i].key, m[i + 1].key) == 0)
			continue; /* a later one of the same name follows */
		m[k++] = m[i];
	}
	*out = m;
	*n = k;
	return 0;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* docker_failure answers the tool error for a Docker answer other than
 * 200: "<action>: <message>" from Docker's {"message": ...} body, else
 * "<action>: status <code>" and the start of the body, trimmed. */
static void docker_failure(struct call *c, const char *action, int st, const char *body, size_t len)
{
	struct lk_jval *v = lk_json_parse(body, len, NULL, 0);
	size_t n = 0;
	const char *msg = lk_json_strn(lk_json_get(v, "message"), &n);

	text_begin(c);
	lk_json_put_chars(c->out, action, strlen(action));
	lk_json_put_chars(c->out, ": ", 2);
	if (msg != NULL && n != 0) {
		lk_json_put_chars(c->out, msg, LK_MIN(n, (size_t)DOCKER_MSG_MAX));
	} else {
		lk_obuf_puts(c->out, "status ");
		lk_obuf_put_i64(c->out, st);
		while (len > 0 && is_space(body[len - 1]))
			len--;
		while (len > 0 && is_space(body[0])) {
			body++;
			len--;
		}
		if (len != 0) {
			lk_json_put_chars(c->out, ": ", 2);
			lk_json_put_chars(c->out, body, LK_MIN(len, (size_t)DOCKER_MSG_MAX));
		}
	}
	text_end(c, true);
	lk_json_free(v);
}

/* docker_fetch GETs target from Docker. On a 200 it returns 0 and hands
 * over the body (*body, *len; the caller frees it). Otherwise it answers
 * the tool error "<action>: ..." and returns -1. */
static int docker_fetch(struct call *c, const char *action, const char *target, char **body,
			size_t *len)
{
	char *b = NULL;
	size_t n = 0;
	int st = c->env->docker_get(c->env->arg, target, &b, &n);

	if (st < 0) {
		char what[64];

		snprintf(what, sizeof(what), "%s: ", action);
		tool_errno(c, what, -st);
		return -1;
	}
	LK_ASSERT(b != NULL || n == 0);
	if (st != 200) {
		docker_failure(c, action, st, b, n);
		free(b);
		return -1;
	}
	*body = b;
	*len = n;
	return 0;
}

/* docker_json is docker_fetch for a JSON answer of type want: it returns
 * the parsed tree (the caller frees it) or NULL after answering the tool
 * error. */
static struct lk_jval *docker_json(struct call *c, const char *action, const char *target,
				   enum lk_jtype want)
{
	char err[128], what[96];
	char *body;
	size_t len;
	struct lk_jval *v;

	if (docker_fetch(c, action, target, &body, &len) != 0)
		return NULL;
	v = lk_json_parse(body, len, err, sizeof(err));
	free(body);
	snprintf(what, sizeof(what), "%s: decode response: ", action);
	if (v == NULL) {
		tool_error(c, what, err, strlen(err));
		return NULL;
	}
	if (lk_json_type(v) != want) {
		const char *got = want == LK_J_ARR ? "not an array" : "not an object";

		lk_json_free(v);
		tool_error(c, what, got, strlen(got));
		return NULL;
	}
	return v;
}

/* ---- tool arguments ----------------------------------------------------- */

/* ref_check returns whether s[0..n) is a container ID or name we put in a
 * request target, after dropping one leading '/' (*ref, *ref_len): the
 * pattern Docker enforces for names, so no character needs escaping and
 * nothing can add a path segment or a query. */
static bool ref_check(const char *s, size_t n, const char **ref, size_t *ref_len)
{
	if (n != 0 && s[0] == '/') {
		s++;
		n--;
	}
	if (n == 0 || n > LK_MCP_REF_LEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');

		if (!alnum && (i == 0 || (ch != '_' && ch != '.' && ch != '-')))
			return false;
	}
	*ref = s;
	*ref_len = n;
	return true;
}

/* tool_ref is the reference's json.Unmarshal(arguments, &struct{ID string})
 * plus ref_check: arguments absent, null or not an object, an id that is
 * not a string, empty, or not a safe reference, all answer "id is
 * required" and return false. On success *id is the id as the client wrote
 * it (echoed in the output) and *ref the part that goes in the target. */
static bool tool_ref(struct call *c, const struct lk_jval *args, const char **id, size_t *id_len,
		     const char **ref, size_t *ref_len)
{
	*id = lk_json_type(args) == LK_J_OBJ ? lk_json_strn(lk_json_get(args, "id"), id_len) : NULL;
	if (*id == NULL || !ref_check(*id, *id_len, ref, ref_len)) {
		tool_error(c, "id is required", NULL, 0);
		return false;
	}
	return true;
}

/* ---- the tools ---------------------------------------------------------- */

static bool docker_ready(struct call *c)
{
	if (c->env->docker_get != NULL)
		return true;
	tool_error(c, "docker client not available", NULL, 0);
	return false;
}

/* run_list_containers: [{"id","names","image","state","status","labels"?}]
 * from GET /containers/json?all=1; labels omitted when empty. */
static void run_list_containers(struct call *c, const struct lk_jval *args)
{
	struct lk_jval *v;
	struct lk_obuf d;

	if (!docker_ready(c))
		return;
	v = docker_json(c, "list containers", "/containers/json?all=1", LK_J_ARR);
	if (v == NULL || !data_begin(c, &d))
		goto out;
	lk_obuf_puts(&d, "[");
	for (size_t i = 0; i < lk_json_len(v) && c->rc == 0; i++) {
		const struct lk_jval *ct = lk_json_at(v, i);
		const struct lk_jval *names = lk_json_get(ct, "Names");
		struct member *labels;
		size_t n_labels;

		lk_obuf_puts(&d, i == 0 ? "{\"id\":" : ",{\"id\":");
		put_str_of(&d, lk_json_get(ct, "Id"));
		lk_obuf_puts(&d, ",\"names\":");
		if (lk_json_type(names) == LK_J_ARR) {
			lk_obuf_puts(&d, "[");
			for (size_t k = 0; k < lk_json_len(names); k++) {
				if (k != 0)
					lk_obuf_puts(&d, ",");
				put_str_of(&d, lk_json_at(names, k));
			}
			lk_obuf_puts(&d, "]");
		} else {
			lk_json_put_null(&d); /* a nil []string */
		}
		lk_obuf_puts(&d, ",\"image\":");
		put_str_of(&d, lk_json_get(ct, "Image"));
		lk_obuf_puts(&d, ",\"state\":");
		put_str_of(&d, lk_json_get(ct, "State"));
		lk_obuf_puts(&d, ",\"status\":");
		put_str_of(&d, lk_json_get(ct, "Status"));
		const struct lk_jval *lv = lk_json_get(ct, "Labels");

		if (sorted_members(lv, &labels, &n_labels) != 0) {
			c->rc = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < n_labels; k++) {
			lk_obuf_puts(&d, k == 0 ? ",\"labels\":{" : ",");
			lk_json_put_key(&d, labels[k].key);
			put_str_of(&d, lk_json_at(lv, labels[k].i));
		}
		if (n_labels != 0)
			lk_obuf_puts(&d, "}");
		free(labels);
		lk_obuf_puts(&d, "}");
	}
	lk_obuf_puts(&d, "]");
	if (c->rc == 0)
		data_end(c, &d);
	free(d.data);
out:
	lk_json_free(v);
}

/* put_state writes the part of Docker's State the reference decodes, in
 * its struct order; Health only when Docker reports one. */
static void put_state(struct lk_obuf *d, const struct lk_jval *st)
{
	static const char *const bools[] = { "Running", "Paused", "Restarting", "OOMKilled",
					     "Dead" };
	const struct lk_jval *health = lk_json_get(st, "Health");

	lk_obuf_puts(d, "{\"Status\":");
	put_str_of(d, lk_json_get(st, "Status"));
	for (size_t i = 0; i < LK_ARRAY_SIZE(bools); i++) {
		lk_obuf_puts(d, ",");
		lk_json_put_key(d, bools[i]);
		lk_json_put_bool(d, lk_json_is_true(lk_json_get(st, bools[i])));
	}
	lk_obuf_puts(d, ",\"Pid\":");
	put_i64_of(d, lk_json_get(st, "Pid"));
	lk_obuf_puts(d, ",\"ExitCode\":");
	put_i64_of(d, lk_json_get(st, "ExitCode"));
	lk_obuf_puts(d, ",\"StartedAt\":");
	put_str_of(d, lk_json_get(st, "StartedAt"));
	lk_obuf_puts(d, ",\"FinishedAt\":");
	put_str_of(d, lk_json_get(st, "FinishedAt"));
	if (lk_json_type(health) == LK_J_OBJ) {
		lk_obuf_puts(d, ",\"Health\":{\"Status\":");
		put_str_of(d, lk_json_get(health, "Status"));
		lk_obuf_puts(d, "}");
	}
	lk_obuf_puts(d, "}");
}

/* run_inspect_container: {"envCount","id","image","mounts","name",
 * "networks","restartPolicy","state"} (a Go map: sorted keys). Config.Env
 * is only counted: its values are secrets as often as not. */
static void run_inspect_container(struct call *c, const struct lk_jval *args)
{
	const char *id, *ref;
	size_t id_len, ref_len, n_nets;
	char target[64 + LK_MCP_REF_LEN_MAX];
	struct lk_jval *v = NULL;
	struct member *nets = NULL;
	struct lk_obuf d;
	int rc;

	if (!docker_ready(c) || !tool_ref(c, args, &id, &id_len, &ref, &ref_len))
		return;
	snprintf(target, sizeof(target), "/containers/%.*s/json", (int)ref_len, ref);
	v = docker_json(c, "inspect container", target, LK_J_OBJ);
	if (v == NULL)
		return;
	rc = sorted_members(lk_json_path(v, "NetworkSettings", "Networks", NULL), &nets, &n_nets);
	if (rc != 0 || !data_begin(c, &d)) {
		c->rc = -ENOMEM;
		goto out;
	}
	const struct lk_jval *env = lk_json_path(v, "Config", "Env", NULL);
	const struct lk_jval *mounts = lk_json_get(v, "Mounts");

	lk_obuf_puts(&d, "{\"envCount\":");
	lk_obuf_put_u64(&d, lk_json_type(env) == LK_J_ARR ? lk_json_len(env) : 0);
	lk_obuf_puts(&d, ",\"id\":");
	put_str_of(&d, lk_json_get(v, "Id"));
	lk_obuf_puts(&d, ",\"image\":");
	put_str_of(&d, lk_json_path(v, "Config", "Image", NULL));
	lk_obuf_puts(&d, ",\"mounts\":[");
	for (size_t i = 0; lk_json_type(mounts) == LK_J_ARR && i < lk_json_len(mounts); i++) {
		const struct lk_jval *m = lk_json_at(mounts, i);

		lk_obuf_puts(&d, i == 0 ? "{\"source\":" : ",{\"source\":");
		put_str_of(&d, lk_json_get(m, "Source"));
		lk_obuf_puts(&d, ",\"destination\":");
		put_str_of(&d, lk_json_get(m, "Destination"));
		lk_obuf_puts(&d, ",\"readOnly\":");
		lk_json_put_bool(&d, !lk_json_is_true(lk_json_get(m, "RW")));
		lk_obuf_puts(&d, "}");
	}
	lk_obuf_puts(&d, "],\"name\":");
	put_str_of(&d, lk_json_get(v, "Name"));
	lk_obuf_puts(&d, ",\"networks\":");
	for (size_t i = 0; i < n_nets; i++) {
		lk_obuf_puts(&d, i == 0 ? "[" : ",");
		lk_json_put_str(&d, nets[i].key, strlen(nets[i].key));
	}
	lk_obuf_puts(&d, n_nets != 0 ? "]" : "null"); /* a nil []string */
	lk_obuf_puts(&d, ",\"restartPolicy\":");
	put_str_of(&d, lk_json_path(v, "HostConfig", "RestartPolicy", "Name", NULL));
	lk_obuf_puts(&d, ",\"state\":");
	put_state(&d, lk_json_get(v, "State"));
	lk_obuf_puts(&d, "}");
	data_end(c, &d);
out:
	free(nets);
	lk_json_free(v);
}

/* put_log_lines demultiplexes Docker's log stream body[0..len) into the
 * JSON array of "stdout: "/"stderr: " lines, or null when there are none.
 * Each frame is an 8-byte header (byte 0 the stream, 2 for stderr and
 * anything else read as stdout; bytes 4-7 the big-endian payload length)
 * and the payload, whose trailing newlines are dropped before it is split
 * on '\n'. Zero-length frames are skipped, a partial header at the end is
 * ignored (io.ReadFull's ErrUnexpectedEOF ends the reference's loop) and a
 * payload cut short makes it return false. Reads nothing past len. */
static bool put_log_lines(struct lk_obuf *d, const char *body, size_t len)
{
	size_t at = 0, lines = 0;

	/* once the scratch overflowed the answer is -ENOSPC: stop early */
	while (len - at >= 8 && !d->overflow) {
		const uint8_t *h = (const uint8_t *)body + at;
		const char *prefix = h[0] == 2 ? "stderr: " : "stdout: ";
		size_t n = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];

		at += 8;
		if (n == 0)
			continue;
		if (n > len - at)
			return false;
		const char *s = body + at;

		at += n;
		LK_DASSERT(at <= len);
		while (n > 0 && s[n - 1] == '\n')
			n--;
		for (;;) {
			const char *nl = memchr(s, '\n', n);
			size_t line = nl != NULL ? (size_t)(nl - s) : n;

			lk_obuf_puts(d, lines++ == 0 ? "[\"" : ",\"");
			lk_json_put_chars(d, prefix, 8);
			lk_json_put_chars(d, s, line);
			lk_obuf_puts(d, "\"");
			if (nl == NULL)
				break;
			s = nl + 1;
			n -= line + 1;
		}
	}
	lk_obuf_puts(d, lines != 0 ? "]" : "null");
	return true;
}

/* run_container_logs: {"id","lines"} for the last tail lines (default and
 * bounds in mcp.h), no follow. TTY containers' unframed output is not
 * handled (as in the reference). */
static void run_container_logs(struct call *c, const struct lk_jval *args)
{
	const char *id, *ref;
	size_t id_len, ref_len, len;
	char target[96 + LK_MCP_REF_LEN_MAX];
	int64_t tail = 0;
	char *body;
	struct lk_obuf d;

	if (!docker_ready(c) || !tool_ref(c, args, &id, &id_len, &ref, &ref_len))
		return;
	/* Go's decoder into an int refuses 1.5, "5", true and out-of-range
	 * numbers; null leaves the zero value */
	const struct lk_jval *t = lk_json_get(args, "tail");

	if (lk_json_type(t) != LK_J_NULL && !lk_json_i64(t, &tail)) {
		tool_error(c, "id is required", NULL, 0);
		return;
	}
	if (tail <= 0)
		tail = LK_MCP_LOG_TAIL_DEFAULT;
	if (tail > LK_MCP_LOG_TAIL_MAX)
		tail = LK_MCP_LOG_TAIL_MAX;
	snprintf(target, sizeof(target), "/containers/%.*s/logs?stdout=1&stderr=1&tail=%d",
		 (int)ref_len, ref, (int)tail);
	if (docker_fetch(c, "container logs", target, &body, &len) != 0)
		return;
	if (!data_begin(c, &d))
		goto out;
	lk_obuf_puts(&d, "{\"id\":");
	lk_json_put_str(&d, id, id_len);
	lk_obuf_puts(&d, ",\"lines\":");
	if (put_log_lines(&d, body, len)) {
		lk_obuf_puts(&d, "}");
		data_end(c, &d);
	} else {
		free(d.data);
		tool_error(c, "demux logs: unexpected EOF", NULL, 0);
	}
out:
	free(body);
}

/* run_host_metrics: the host snapshot in the reference's struct order.
 * Go's encoder refuses NaN and infinities, which the reference reports as
 * "marshal result: ..."; so do we, rather than invent a spelling. */
static void run_host_metrics(struct call *c, const struct lk_jval *args)
{
	struct lk_mcp_host h = { 0 };
	struct lk_obuf d;
	int rc;

	if (c->env->host == NULL) {
		tool_error(c, "metrics collector not available", NULL, 0);
		return;
	}
	rc = c->env->host(c->env->arg, &h);
	if (rc < 0) {
		tool_errno(c, "collect metrics: ", -rc);
		return;
	}
	if (!isfinite(h.cpu_usage)) {
		const char *s = isnan(h.cpu_usage) ? "NaN" : h.cpu_usage > 0 ? "+Inf" : "-Inf";

		tool_error(c, "marshal result: json: unsupported value: ", s, strlen(s));
		return;
	}
	if (!data_begin(c, &d))
		return;
	const struct {
		const char *key;
		uint64_t v;
	} u[] = {
		{ ",\"cpuCores\":", h.cpu_cores },    { ",\"memoryTotal\":", h.mem_total },
		{ ",\"memoryUsed\":", h.mem_used },   { ",\"memoryFree\":", h.mem_free },
		{ ",\"diskTotal\":", h.disk_total },  { ",\"diskUsed\":", h.disk_used },
		{ ",\"diskFree\":", h.disk_free },    { ",\"networkRxBytes\":", h.net_rx },
		{ ",\"networkTxBytes\":", h.net_tx }, { ",\"uptime\":", h.uptime_s },
	};

	lk_obuf_puts(&d, "{\"cpuUsage\":");
	lk_json_put_f64(&d, h.cpu_usage);
	for (size_t i = 0; i < LK_ARRAY_SIZE(u); i++) {
		lk_obuf_puts(&d, u[i].key);
		lk_obuf_put_u64(&d, u[i].v);
	}
	lk_obuf_puts(&d, "}");
	data_end(c, &d);
}

/* run_container_stats: {"cpuTotalUsage","id","memLimit","memUsage",
 * "networks":{"<if>":{"rxBytes","txBytes"}}} from a one-shot stats call. The
 * counters are read as uint64: they can pass INT64_MAX. */
static void run_container_stats(struct call *c, const struct lk_jval *args)
{
	const char *id, *ref;
	size_t id_len, ref_len, n_nets;
	char target[96 + LK_MCP_REF_LEN_MAX];
	struct lk_jval *v;
	struct member *nets = NULL;
	struct lk_obuf d;

	if (!docker_ready(c) || !tool_ref(c, args, &id, &id_len, &ref, &ref_len))
		return;
	snprintf(target, sizeof(target), "/containers/%.*s/stats?stream=false&one-shot=true",
		 (int)ref_len, ref);
	v = docker_json(c, "container stats", target, LK_J_OBJ);
	if (v == NULL)
		return;
	const struct lk_jval *nv = lk_json_get(v, "networks");

	if (sorted_members(nv, &nets, &n_nets) != 0 || !data_begin(c, &d)) {
		c->rc = -ENOMEM;
		goto out;
	}
	lk_obuf_puts(&d, "{\"cpuTotalUsage\":");
	put_u64_of(&d, lk_json_path(v, "cpu_stats", "cpu_usage", "total_usage", NULL));
	lk_obuf_puts(&d, ",\"id\":");
	lk_json_put_str(&d, id, id_len);
	lk_obuf_puts(&d, ",\"memLimit\":");
	put_u64_of(&d, lk_json_path(v, "memory_stats", "limit", NULL));
	lk_obuf_puts(&d, ",\"memUsage\":");
	put_u64_of(&d, lk_json_path(v, "memory_stats", "usage", NULL));
	lk_obuf_puts(&d, ",\"networks\":{"); /* a non-nil Go map: {} when empty */
	for (size_t i = 0; i < n_nets; i++) {
		const struct lk_jval *ifc = lk_json_at(nv, nets[i].i);

		if (i != 0)
			lk_obuf_puts(&d, ",");
		lk_json_put_key(&d, nets[i].key);
		lk_obuf_puts(&d, "{\"rxBytes\":");
		put_u64_of(&d, lk_json_get(ifc, "rx_bytes"));
		lk_obuf_puts(&d, ",\"txBytes\":");
		put_u64_of(&d, lk_json_get(ifc, "tx_bytes"));
		lk_obuf_puts(&d, "}");
	}
	lk_obuf_puts(&d, "}}");
	data_end(c, &d);
out:
	free(nets);
	lk_json_free(v);
}

/* tool is one entry of tools/list and tools/call. */
struct tool {
	const char *name;
	const char *description;
	const char *schema; /* inputSchema, compact, keys sorted (a Go map) */
	void (*run)(struct call *c, const struct lk_jval *args);
};

#define SCHEMA_NO_ARGS "{\"additionalProperties\":false,\"type\":\"object\"}"
#define SCHEMA_ID_PROP "\"id\":{\"description\":\"Container ID or name.\",\"type\":\"string\"}"
#define SCHEMA_ID_ONLY                                                                             \
	"{\"properties\":{" SCHEMA_ID_PROP "},\"required\":[\"id\"],\"type\":\"object\"}"

static const struct tool tools[] = {
	{
	    .name = "list_containers",
	    .description = "List all Docker containers (running and stopped) with id, names, "
			   "image, state, status, and labels.",
	    .schema = SCHEMA_NO_ARGS,
	    .run = run_list_containers,
	},
	{
	    .name = "inspect_container",
	    .description = "Inspect a container: state, image, env var count (no values), "
			   "mounts, network names, and restart policy.",
	    .schema = SCHEMA_ID_ONLY,
	    .run = run_inspect_container,
	},
	{
	    .name = "container_logs",
	    .description = "Return the last N lines (max 500) of stdout/stderr from a container.",
	    /* the en dash is U+2013, which Go writes unescaped */
	    .schema = "{\"properties\":{" SCHEMA_ID_PROP ",\"tail\":{\"description\":"
		      "\"Number of log lines to return (1\xe2\x80\x93"
		      "500, default 100).\",\"maximum\":500,\"minimum\":1,\"type\":\"integer\"}},"
		      "\"required\":[\"id\"],\"type\":\"object\"}",
	    .run = run_container_logs,
	},
	{
	    .name = "host_metrics",
	    .description = "Return a snapshot of host-level resource metrics: CPU, memory, disk, "
			   "network, and uptime.",
	    .schema = SCHEMA_NO_ARGS,
	    .run = run_host_metrics,
	},
	{
	    .name = "container_stats",
	    .description = "Return a one-shot CPU/memory/network stats snapshot for a single "
			   "container.",
	    .schema = SCHEMA_ID_ONLY,
	    .run = run_container_stats,
	},
};

/* ---- methods ------------------------------------------------------------ */

/* is_str returns whether s[0..n) is exactly the NUL-terminated lit. */
static bool is_str(const char *s, size_t n, const char *lit)
{
	return s != NULL && strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static void do_initialize(struct call *c)
{
	const char *v = c->env->version != NULL ? c->env->version : "";

	result_begin(c);
	lk_obuf_puts(
	    c->out,
	    "{\"capabilities\":{\"tools\":{}},\"protocolVersion\":\"" LK_MCP_PROTOCOL_VERSION
	    "\",\"serverInfo\":{\"name\":\"lookout\",\"version\":");
	lk_json_put_str(c->out, v, strlen(v));
	lk_obuf_puts(c->out, "}}");
	result_end(c);
}

static void do_tools_list(struct call *c)
{
	result_begin(c);
	lk_obuf_puts(c->out, "{\"tools\":[");
	for (size_t i = 0; i < LK_ARRAY_SIZE(tools); i++) {
		const struct tool *t = &tools[i];

		lk_obuf_puts(c->out, i == 0 ? "{\"description\":" : ",{\"description\":");
		lk_json_put_str(c->out, t->description, strlen(t->description));
		lk_obuf_puts(c->out, ",\"inputSchema\":");
		lk_obuf_puts(c->out, t->schema);
		lk_obuf_puts(c->out, ",\"name\":");
		lk_json_put_str(c->out, t->name, strlen(t->name));
		lk_obuf_puts(c->out, "}");
	}
	lk_obuf_puts(c->out, "]}");
	result_end(c);
}

/* do_tools_call decodes params as the reference's json.Unmarshal into
 * struct{Name string; Arguments json.RawMessage} does: absent params or a
 * params that is not an object (or a name that is not a string) is -32602;
 * null params, or a null name, is the empty name, an unknown tool. */
static void do_tools_call(struct call *c, const struct lk_jval *params)
{
	const struct lk_jval *nv = lk_json_get(params, "name");
	const char *name = "";
	size_t n = 0;

	if (params == NULL ||
	    (lk_json_type(params) != LK_J_OBJ && lk_json_type(params) != LK_J_NULL) ||
	    (lk_json_type(nv) != LK_J_NULL && lk_json_type(nv) != LK_J_STR)) {
		reply_error(c, RPC_INVALID_PARAMS, "invalid tools/call params", NULL, 0);
		return;
	}
	if (lk_json_type(nv) == LK_J_STR)
		name = lk_json_strn(nv, &n);
	for (size_t i = 0; i < LK_ARRAY_SIZE(tools); i++) {
		if (is_str(name, n, tools[i].name)) {
			tools[i].run(c, lk_json_get(params, "arguments"));
			return;
		}
	}
	reply_error(c, RPC_INVALID_PARAMS, "unknown tool: ", name, n);
}

int lk_mcp_handle(const struct lk_mcp_env *env, const char *method, const char *body, size_t len,
		  int *status, struct lk_obuf *out)
{
	struct call c = { .env = env, .out = out };
	struct lk_jval *req = NULL;
	const struct lk_jval *rpc, *mv;
	const char *m = "";
	size_t m_len = 0, rpc_len = 0;

	LK_ASSERT(env != NULL && method != NULL);
	LK_ASSERT(status != NULL && out != NULL);
	*status = 200;
	if (strcmp(method, "POST") != 0) {
		*status = 405; /* no SSE stream here, nor anything else */
		return 0;
	}
	if (body == NULL) {
		reply_error(&c, RPC_INTERNAL_ERROR, "reading request body", NULL, 0);
		goto out;
	}
	req = lk_json_parse(body, LK_MIN(len, (size_t)LK_MCP_BODY_BYTES_MAX), NULL, 0);
	rpc = lk_json_get(req, "jsonrpc");
	mv = lk_json_get(req, "method");
	/* one object (a batch is an array), whose string members are strings
	 * or null: Go's decoder fails on anything else */
	if (lk_json_type(req) != LK_J_OBJ ||
	    (lk_json_type(rpc) != LK_J_STR && lk_json_type(rpc) != LK_J_NULL) ||
	    (lk_json_type(mv) != LK_J_STR && lk_json_type(mv) != LK_J_NULL)) {
		reply_error(&c, RPC_PARSE_ERROR, "parse error", NULL, 0);
		goto out;
	}
	c.id = lk_json_get(req, "id");
	const char *rpc_s = lk_json_strn(rpc, &rpc_len);

	if (!is_str(rpc_s, rpc_len, "2.0")) {
		reply_error(&c, RPC_INVALID_REQUEST, "jsonrpc must be \"2.0\"", NULL, 0);
		goto out;
	}
	if (lk_json_type(mv) == LK_J_STR)
		m = lk_json_strn(mv, &m_len);
	if (is_str(m, m_len, "initialize")) {
		do_initialize(&c);
	} else if (is_str(m, m_len, "notifications/initialized")) {
		*status = 202; /* a notification: acknowledged, no body */
	} else if (is_str(m, m_len, "ping")) {
		result_begin(&c);
		lk_obuf_puts(out, "{}");
		result_end(&c);
	} else if (is_str(m, m_len, "tools/list")) {
		do_tools_list(&c);
	} else if (is_str(m, m_len, "tools/call")) {
		do_tools_call(&c, lk_json_get(req, "params"));
	} else {
		/* other notifications too: the reference answers them */
		reply_error(&c, RPC_METHOD_NOT_FOUND, "method not found: ", m, m_len);
	}
out:
	lk_json_free(req);
	if (c.rc != 0)
		return c.rc;
	return out->overflow ? -ENOSPC : 0;
}
