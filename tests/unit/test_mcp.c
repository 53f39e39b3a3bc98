/* tests/unit/test_mcp.c - the MCP server (spec lookout-core 13) against a
 * fake docker_get serving answers captured from a real dockerd
 * (tests/unit/data/mcp/, see capture.py there) and synthetic ones for the
 * edges: HTTP method and status, JSON-RPC envelopes and error codes, id
 * echo, tools/list, each tool's output, each tool error, the container
 * reference check, log demultiplexing, and that an environment variable's
 * value never appears in an answer.
 *
 * Every JSON-RPC body is also parsed back and re-serialised: equal bytes
 * mean it is one compact JSON value (plus the "\n" Go's encoder adds). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "adapters/mcp.h"
#include "core/buf.h"
#include "core/dbg.h"
#include "core/json.h"

/* ---- fakes -------------------------------------------------------------- */

/* fake is what the next docker_get answers, and what it was asked. */
static struct {
	int calls;
	char target[512];
	int rc; /* the status to return, or -errno for a transport failure */
	const char *body;
	size_t len;
} fake;

static int fake_get(void *arg, const char *target, char **body, size_t *len)
{
	assert_ptr_equal(arg, &fake);
	fake.calls++;
	assert_true(strlen(target) < sizeof(fake.target));
	snprintf(fake.target, sizeof(fake.target), "%s", target);
	if (fake.rc < 0)
		return fake.rc;
	*body = NULL;
	if (fake.len != 0) {
		*body = malloc(fake.len);
		assert_non_null(*body);
		memcpy(*body, fake.body, fake.len);
	}
	*len = fake.len;
	return fake.rc;
}

static struct lk_mcp_host host_val;
static int host_rc;
static int host_calls;

static int fake_host(void *arg, struct lk_mcp_host *out)
{
	host_calls++;
	*out = host_val;
	return host_rc;
}

static struct lk_mcp_env env = {
	.docker_get = fake_get,
	.host = fake_host,
	.arg = &fake,
	.version = "0.1.0-test",
};

/* serve sets the next Docker answer: status and body[0..len). */
static void serve(int status, const char *body, size_t len)
{
	fake.rc = status;
	fake.body = body;
	fake.len = len;
}

#define SERVE_STR(status, s) serve((status), (s), strlen(s))

/* data loads tests/unit/data/mcp/<name> (cached for the whole run). */
static const char *data(const char *name, size_t *len)
{
	static struct {
		const char *name;
		char *buf;
		size_t len;
	} cache[8];
	size_t i;

	for (i = 0; i < LK_ARRAY_SIZE(cache) && cache[i].name != NULL; i++) {
		if (strcmp(cache[i].name, name) == 0) {
			*len = cache[i].len;
			return cache[i].buf;
		}
	}
	assert_true(i < LK_ARRAY_SIZE(cache));
	char path[512];

	snprintf(path, sizeof(path), "%s/tests/unit/data/mcp/%s", LK_SOURCE_DIR, name);
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		fail_msg("cannot open %s", path);
	cache[i].buf = malloc(1 << 16);
	assert_non_null(cache[i].buf);
	cache[i].len = fread(cache[i].buf, 1, 1 << 16, f);
	assert_true(cache[i].len > 0 && cache[i].len < (1 << 16));
	fclose(f);
	cache[i].name = name;
	*len = cache[i].len;
	return cache[i].buf;
}

static void serve_file(int status, const char *name)
{
	size_t len;
	const char *body = data(name, &len);

	serve(status, body, len);
}

/* ---- calling the handler ------------------------------------------------- */

static char outmem[1 << 18];
static struct lk_obuf out;
static int status;

/* handle runs lk_mcp_handle with an output of cap bytes and returns its
 * result; the body is then NUL-terminated in outmem. */
static int handle_cap(const char *method, const char *body, size_t len, uint32_t cap)
{
	int rc;

	assert_true(cap < sizeof(outmem));
	lk_obuf_init(&out, outmem, cap);
	status = -1;
	rc = lk_mcp_handle(&env, method, body, len, &status, &out);
	outmem[out.len] = '\0';
	return rc;
}

/* check_compact asserts that the body is one compact JSON object and "\n". */
static void check_compact(void)
{
	static char again[sizeof(outmem)];
	struct lk_obuf b;
	char err[128];
	struct lk_jval *v;

	assert_true(out.len > 0 && outmem[out.len - 1] == '\n');
	v = lk_json_parse(outmem, out.len, err, sizeof(err));
	if (v == NULL)
		fail_msg("answer is not JSON (%s): %s", err, outmem);
	assert_int_equal(lk_json_type(v), LK_J_OBJ);
	lk_obuf_init(&b, again, sizeof(again));
	lk_json_put_val(&b, v);
	assert_false(b.overflow);
	assert_int_equal(b.len, out.len - 1);
	assert_memory_equal(again, outmem, b.len);
	lk_json_free(v);
}

/* rpc posts body and returns the answer, checked to be a 200 with one
 * compact JSON object. */
static const char *rpc(const char *body)
{
	assert_int_equal(handle_cap("POST", body, strlen(body), sizeof(outmem) - 1), 0);
	assert_int_equal(status, 200);
	check_compact();
	return outmem;
}

/* call runs tools/call of name with arguments args (JSON text, or NULL for
 * none) under id 7, checks the result envelope and returns its text
 * (static until the next call) and whether it is a tool error. */
static const char *call(const char *name, const char *args, bool *is_error)
{
	static char text[sizeof(outmem)];
	char req[4096];
	struct lk_jval *v;
	const struct lk_jval *res, *content, *item;
	const char *s;
	size_t n;
	int64_t id;

	if (args != NULL)
		snprintf(req, sizeof(req),
			 "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
			 "\"params\":{\"name\":\"%s\",\"arguments\":%s}}",
			 name, args);
	else
		snprintf(req, sizeof(req),
			 "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
			 "\"params\":{\"name\":\"%s\"}}",
			 name);
	rpc(req);
	v = lk_json_parse(outmem, out.len, NULL, 0);
	assert_non_null(v);
	assert_int_equal(lk_json_len(v), 3);
	assert_string_equal(lk_json_key_at(v, 0), "jsonrpc");
	assert_string_equal(lk_json_str(lk_json_at(v, 0)), "2.0");
	assert_string_equal(lk_json_key_at(v, 1), "id");
	assert_true(lk_json_i64(lk_json_at(v, 1), &id));
	assert_int_equal(id, 7);
	assert_string_equal(lk_json_key_at(v, 2), "result");
	res = lk_json_at(v, 2);
	assert_int_equal(lk_json_len(res), 2);
	assert_string_equal(lk_json_key_at(res, 0), "content");
	assert_string_equal(lk_json_key_at(res, 1), "isError");
	assert_int_equal(lk_json_type(lk_json_get(res, "isError")), LK_J_BOOL);
	*is_error = lk_json_is_true(lk_json_get(res, "isError"));
	content = lk_json_get(res, "content");
	assert_int_equal(lk_json_type(content), LK_J_ARR);
	assert_int_equal(lk_json_len(content), 1);
	item = lk_json_at(content, 0);
	assert_int_equal(lk_json_len(item), 2);
	assert_string_equal(lk_json_key_at(item, 0), "text");
	assert_string_equal(lk_json_key_at(item, 1), "type");
	assert_string_equal(lk_json_str(lk_json_get(item, "type")), "text");
	s = lk_json_strn(lk_json_get(item, "text"), &n);
	assert_non_null(s);
	assert_true(n < sizeof(text));
	memcpy(text, s, n);
	text[n] = '\0';
	assert_int_equal(strlen(text), n); /* no NUL inside */
	lk_json_free(v);
	return text;
}

/* call_ok runs call, requires a success and that the text is compact JSON,
 * and returns the text. */
static const char *call_ok(const char *name, const char *args)
{
	static char again[sizeof(outmem)];
	bool is_error;
	const char *text = call(name, args, &is_error);
	struct lk_obuf b;
	char err[128];
	struct lk_jval *v;

	if (is_error)
		fail_msg("%s failed: %s", name, text);
	v = lk_json_parse(text, strlen(text), err, sizeof(err));
	if (v == NULL)
		fail_msg("%s: text is not JSON (%s): %s", name, err, text);
	lk_obuf_init(&b, again, sizeof(again));
	lk_json_put_val(&b, v);
	assert_false(b.overflow);
	/* compact, unless a replaced byte is in it: \ufffd reads back as
	 * U+FFFD, which is written as itself */
	if (strstr(text, "\\ufffd") == NULL) {
		assert_int_equal(b.len, strlen(text));
		assert_memory_equal(again, text, b.len);
	}
	lk_json_free(v);
	return text;
}

/* call_err runs call and requires a tool error, returning its text. */
static const char *call_err(const char *name, const char *args)
{
	bool is_error;
	const char *text = call(name, args, &is_error);

	if (!is_error)
		fail_msg("%s succeeded: %s", name, text);
	return text;
}

static int setup(void **state)
{
	memset(&fake, 0, sizeof(fake));
	fake.rc = -EPROTO; /* a test that forgot to serve fails loudly */
	memset(&host_val, 0, sizeof(host_val));
	host_rc = 0;
	host_calls = 0;
	env.docker_get = fake_get;
	env.host = fake_host;
	env.version = "0.1.0-test";
	return 0;
}

/* ---- HTTP and JSON-RPC -------------------------------------------------- */

static void test_http_method(void **state)
{
	static const char *const methods[] = {
		"GET", "PUT", "DELETE", "HEAD", "OPTIONS", "post", ""
	};
	static const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";

	for (size_t i = 0; i < LK_ARRAY_SIZE(methods); i++) {
		assert_int_equal(handle_cap(methods[i], ping, sizeof(ping) - 1, 1024), 0);
		assert_int_equal(status, 405);
		assert_int_equal(out.len, 0);
	}
	/* even a body that would overflow nothing, and no body at all */
	assert_int_equal(handle_cap("GET", NULL, 0, 0), 0);
	assert_int_equal(status, 405);
	assert_int_equal(fake.calls, 0);
}

static void test_initialize_ping(void **state)
{
	assert_string_equal(
	    rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
		"{\"protocolVersion\":\"2024-11-05\",\"capabilities\":{},"
		"\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"),
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"capabilities\":{\"tools\":{}},"
	    "\"protocolVersion\":\"2025-11-25\",\"serverInfo\":{\"name\":\"lookout\","
	    "\"version\":\"0.1.0-test\"}}}\n");
	env.version = NULL;
	assert_non_null(strstr(rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}"),
			       "\"version\":\"\"}"));
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n");
	/* members in any order, params ignored, whitespace around */
	assert_string_equal(rpc(" \n{\"params\": [1], \"method\": \"ping\", \"id\": \"p\", "
				"\"jsonrpc\": \"2.0\"}\r\n "),
			    "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"result\":{}}\n");
	assert_int_equal(fake.calls, 0);
	assert_int_equal(host_calls, 0);
}

static void test_notifications(void **state)
{
	static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
	static const char with_id[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"notifications/initialized\"}";

	assert_int_equal(handle_cap("POST", note, sizeof(note) - 1, 1024), 0);
	assert_int_equal(status, 202);
	assert_int_equal(out.len, 0);
	assert_int_equal(handle_cap("POST", with_id, sizeof(with_id) - 1, 1024), 0);
	assert_int_equal(status, 202);
	assert_int_equal(out.len, 0);
	/* the jsonrpc check comes first */
	assert_string_equal(rpc("{\"jsonrpc\":\"1.0\",\"method\":\"notifications/initialized\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
			    "\"message\":\"jsonrpc must be \\\"2.0\\\"\"}}\n");
	/* other notifications get an answer (as in the reference) */
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32601,"
			    "\"message\":\"method not found: notifications/cancelled\"}}\n");
}

static void test_id_echo(void **state)
{
	static const struct {
		const char *in, *out;
	} ids[] = {
		{ "7", "7" },
		{ "-0", "-0" },
		{ "1.50e3", "1.50e3" },				    /* numbers as written */
		{ "18446744073709551616", "18446744073709551616" }, /* beyond uint64 */
		{ "\"abc\"", "\"abc\"" },
		{ "\"\"", "\"\"" },
		{ "\"a\\\"<\\u0041\\n\"", "\"a\\\"\\u003cA\\n\"" }, /* re-escaped the Go way */
		{ "null", "null" },
		{ " { \"a\" : [ 1 , true ] } ", "{\"a\":[1,true]}" }, /* compacted */
		{ "[]", "[]" },
	};
	char req[256], want[256];

	for (size_t i = 0; i < LK_ARRAY_SIZE(ids); i++) {
		snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\"}",
			 ids[i].in);
		snprintf(want, sizeof(want), "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}\n",
			 ids[i].out);
		assert_string_equal(rpc(req), want);
	}
	/* absent: null */
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}\n");
	/* a repeated id: the last, as Go keeps */
	assert_string_equal(
	    rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":\"two\",\"method\":\"ping\"}"),
	    "{\"jsonrpc\":\"2.0\",\"id\":\"two\",\"result\":{}}\n");
	/* echoed in errors too */
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":\"e\",\"method\":\"nope\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":\"e\",\"error\":{\"code\":-32601,"
			    "\"message\":\"method not found: nope\"}}\n");
	assert_string_equal(rpc("{\"jsonrpc\":\"2\",\"id\":[1],\"method\":\"ping\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":[1],\"error\":{\"code\":-32600,"
			    "\"message\":\"jsonrpc must be \\\"2.0\\\"\"}}\n");
}

#define PARSE_ERROR                                                                                \
	"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse "         \
	"error\"}}\n"

static void test_parse_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"{",
		"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", /* a batch */
		"[]",
		"null",
		"42",
		"\"ping\"",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} {}", /* trailing data */
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}x",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",}",
		"{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", /* wrong member types */
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":[\"ping\"]}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":true}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"/*c*/}",
		"{\"jsonrpc\":\"2.0\",\"id\":01,\"method\":\"ping\"}",
	};

	for (size_t i = 0; i < LK_ARRAY_SIZE(bad); i++) {
		if (strcmp(rpc(bad[i]), PARSE_ERROR) != 0)
			fail_msg("for %s: %s", bad[i], outmem);
	}
	/* jsonrpc absent, null or not "2.0" is an invalid request, id echoed */
	static const char *const wrong[] = {
		"{\"id\":5,\"method\":\"ping\"}",
		"{\"jsonrpc\":null,\"id\":5,\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0 \",\"id\":5,\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\\u0000\",\"id\":5,\"method\":\"ping\"}",
		"{\"JSONRPC\":\"2.0\",\"id\":5,\"method\":\"ping\"}", /* names match exactly */
		"{}",
	};

	for (size_t i = 0; i < LK_ARRAY_SIZE(wrong); i++) {
		const char *want =
		    i < LK_ARRAY_SIZE(wrong) - 1
			? "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32600,"
			  "\"message\":\"jsonrpc must be \\\"2.0\\\"\"}}\n"
			: "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
			  "\"message\":\"jsonrpc must be \\\"2.0\\\"\"}}\n";

		if (strcmp(rpc(wrong[i]), want) != 0)
			fail_msg("for %s: %s", wrong[i], outmem);
	}
	/* the body could not be read */
	assert_int_equal(handle_cap("POST", NULL, 0, 1024), 0);
	assert_int_equal(status, 200);
	check_compact();
	assert_string_equal(outmem, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
				    "\"message\":\"reading request body\"}}\n");
}

static void test_unknown_method(void **state)
{
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/get\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,"
			    "\"message\":\"method not found: tools/get\"}}\n");
	/* the name is escaped into the message; NUL bytes kept */
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\\"<\\u0000\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,"
			    "\"message\":\"method not found: a\\\"\\u003c\\u0000\"}}\n");
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\u0000\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,"
			    "\"message\":\"method not found: ping\\u0000\"}}\n");
	/* absent or null method: the empty name */
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":1}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,"
			    "\"message\":\"method not found: \"}}\n");
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,"
			    "\"message\":\"method not found: \"}}\n");
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"PING\"}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,"
			    "\"message\":\"method not found: PING\"}}\n");
}

static void test_body_bound(void **state)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"";
	size_t max = LK_MCP_BODY_BYTES_MAX;
	char *body = malloc(max + 1);

	assert_non_null(body);
	/* exactly the bound: whitespace padding, then the closing brace */
	memcpy(body, head, sizeof(head) - 1);
	memset(body + sizeof(head) - 1, ' ', max - sizeof(head));
	body[max - 1] = '}';
	assert_int_equal(handle_cap("POST", body, max, 1024), 0);
	assert_string_equal(outmem, "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}\n");
	/* one byte more: the brace falls past the bound, what is left is cut */
	body[max - 1] = ' ';
	body[max] = '}';
	assert_int_equal(handle_cap("POST", body, max + 1, 1024), 0);
	assert_string_equal(outmem, PARSE_ERROR);
	free(body);
}

/* ---- tools/list and tools/call ------------------------------------------ */

static void test_tools_list(void **state)
{
	static const char want[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":["
	    "{\"description\":\"List all Docker containers (running and stopped) with id, names, "
	    "image, state, status, and labels.\",\"inputSchema\":{\"additionalProperties\":false,"
	    "\"type\":\"object\"},\"name\":\"list_containers\"},"
	    "{\"description\":\"Inspect a container: state, image, env var count (no values), "
	    "mounts, network names, and restart policy.\",\"inputSchema\":{\"properties\":{\"id\":"
	    "{\"description\":\"Container ID or "
	    "name.\",\"type\":\"string\"}},\"required\":[\"id\"],"
	    "\"type\":\"object\"},\"name\":\"inspect_container\"},"
	    "{\"description\":\"Return the last N lines (max 500) of stdout/stderr from a "
	    "container.\",\"inputSchema\":{\"properties\":{\"id\":{\"description\":\"Container ID "
	    "or name.\",\"type\":\"string\"},\"tail\":{\"description\":\"Number of log lines to "
	    "return (1\xe2\x80\x93"
	    "500, default 100).\",\"maximum\":500,\"minimum\":1,\"type\":\"integer\"}},"
	    "\"required\":[\"id\"],\"type\":\"object\"},\"name\":\"container_logs\"},"
	    "{\"description\":\"Return a snapshot of host-level resource metrics: CPU, memory, "
	    "disk, network, and uptime.\",\"inputSchema\":{\"additionalProperties\":false,"
	    "\"type\":\"object\"},\"name\":\"host_metrics\"},"
	    "{\"description\":\"Return a one-shot CPU/memory/network stats snapshot for a single "
	    "container.\",\"inputSchema\":{\"properties\":{\"id\":{\"description\":\"Container ID "
	    "or name.\",\"type\":\"string\"}},\"required\":[\"id\"],\"type\":\"object\"},"
	    "\"name\":\"container_stats\"}]}}\n";
	static const char *const names[] = { "list_containers", "inspect_container",
					     "container_logs", "host_metrics", "container_stats" };

	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}"), want);
	/* and read structurally: five tools, names in order, object schemas */
	struct lk_jval *v = lk_json_parse(outmem, out.len, NULL, 0);
	const struct lk_jval *tools = lk_json_path(v, "result", "tools", NULL);

	assert_int_equal(lk_json_len(tools), LK_ARRAY_SIZE(names));
	for (size_t i = 0; i < LK_ARRAY_SIZE(names); i++) {
		const struct lk_jval *t = lk_json_at(tools, i);

		assert_string_equal(lk_json_str(lk_json_get(t, "name")), names[i]);
		assert_string_equal(lk_json_str(lk_json_path(t, "inputSchema", "type", NULL)),
				    "object");
	}
	lk_json_free(v);
}

#define INVALID_PARAMS(id)                                                                         \
	"{\"jsonrpc\":\"2.0\",\"id\":" id ",\"error\":{\"code\":-32602,\"message\":\"invalid "     \
	"tools/call params\"}}\n"

static void test_tools_call_params(void **state)
{
	static const char *const bad[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\"}", /* no params */
		"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":[]}",
		"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":1}}",
		("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
		 "[\"host_metrics\"]}}"),
	};

	for (size_t i = 0; i < LK_ARRAY_SIZE(bad); i++) {
		if (strcmp(rpc(bad[i]), INVALID_PARAMS("4")) != 0)
			fail_msg("for %s: %s", bad[i], outmem);
	}
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\","
				"\"params\":{\"name\":\"nope\",\"arguments\":{}}}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,"
			    "\"message\":\"unknown tool: nope\"}}\n");
	/* null params or name, or no name: the empty name */
	static const char *const empty[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":null}",
		("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\","
		 "\"params\":{\"name\":null}}"),
		"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{}}",
	};

	for (size_t i = 0; i < LK_ARRAY_SIZE(empty); i++) {
		if (strcmp(rpc(empty[i]),
			   "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,"
			   "\"message\":\"unknown tool: \"}}\n") != 0)
			fail_msg("for %s: %s", empty[i], outmem);
	}
	/* tool names match exactly */
	assert_string_equal(rpc("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\","
				"\"params\":{\"name\":\"Host_Metrics\"}}"),
			    "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,"
			    "\"message\":\"unknown tool: Host_Metrics\"}}\n");
	assert_int_equal(fake.calls, 0);
	assert_int_equal(host_calls, 0);
}

/* ---- the tools, from captured answers ----------------------------------- */

static void test_list_containers(void **state)
{
	serve_file(200, "containers.json");
	assert_string_equal(
	    call_ok("list_containers", NULL),
	    "[{\"id\":\"363514d3ec8071293e7d0b769ebfb1c64e6b71f44d9d40f2040ea2ead779ba40\","
	    "\"names\":[\"/done\"],\"image\":\"busybox\",\"state\":\"exited\","
	    "\"status\":\"Exited (0) Less than a second ago\"},"
	    "{\"id\":\"992bd55d1c9ea217d45623a2aae63d0f6b6f0d112b54f70c10f76eee769249ba\","
	    "\"names\":[\"/web\"],\"image\":\"busybox\",\"state\":\"running\","
	    "\"status\":\"Up 3 seconds "
	    "(healthy)\",\"labels\":{\"app\":\"demo\",\"tier\":\"front\"}}]");
	assert_string_equal(fake.target, "/containers/json?all=1");
	assert_int_equal(fake.calls, 1);
	/* arguments are not read */
	assert_non_null(call_ok("list_containers", "[1, 2]"));
	/* no containers; missing fields read as zero values; labels sorted,
	 * the last of a repeated one kept, omitted when empty */
	SERVE_STR(200, "[]");
	assert_string_equal(call_ok("list_containers", "{}"), "[]");
	SERVE_STR(200,
		  "[{}, {\"Id\":\"x\",\"Names\":[],\"Labels\":{\"z\":\"1\",\"a\":\"2\",\"z\":\"3\","
		  "\"m\":\"<&>\"}}, {\"Labels\":null,\"Names\":null}]");
	assert_string_equal(
	    call_ok("list_containers", NULL),
	    "[{\"id\":\"\",\"names\":null,\"image\":\"\",\"state\":\"\",\"status\":\"\"},"
	    "{\"id\":\"x\",\"names\":[],\"image\":\"\",\"state\":\"\",\"status\":\"\","
	    "\"labels\":{\"a\":\"2\",\"m\":\"\\u003c\\u0026\\u003e\",\"z\":\"3\"}},"
	    "{\"id\":\"\",\"names\":null,\"image\":\"\",\"state\":\"\",\"status\":\"\"}]");
}

/* the inspect of the captured "web" container, as the tool reports it */
#define INSPECT_WEB                                                                                \
	"{\"envCount\":2,\"id\":"                                                                  \
	"\"992bd55d1c9ea217d45623a2aae63d0f6b6f0d112b54f70c10f76eee769249ba\","                    \
	"\"image\":\"busybox\",\"mounts\":[{\"source\":\"/tmp/lk-dockerd-bza2g9f1/data/volumes/"   \
	"cache/_data\",\"destination\":\"/cache\",\"readOnly\":false},{\"source\":"                \
	"\"/tmp/mcpcap/hostdir\",\"destination\":\"/data\",\"readOnly\":true}],\"name\":\"/web\"," \
	"\"networks\":[\"lknet\"],\"restartPolicy\":\"unless-stopped\",\"state\":{\"Status\":"     \
	"\"running\",\"Running\":true,\"Paused\":false,\"Restarting\":false,\"OOMKilled\":false,"  \
	"\"Dead\":false,\"Pid\":17447,\"ExitCode\":0,\"StartedAt\":\"2026-11-29T12:06:11."         \
	"93783935Z\","                                                                             \
	"\"FinishedAt\":\"0001-01-01T00:00:00Z\",\"Health\":{\"Status\":\"healthy\"}}}"

static void test_inspect_container(void **state)
{
	size_t len;
	const char *raw = data("inspect_web.json", &len);

	/* the capture does hold the secret this test looks for */
	assert_non_null(strstr(raw, "API_KEY=s3cr3t-value"));
	serve_file(200, "inspect_web.json");
	assert_string_equal(call_ok("inspect_container", "{\"id\":\"web\"}"), INSPECT_WEB);
	assert_string_equal(fake.target, "/containers/web/json");
	/* env values never appear: not in the text, not in the whole answer */
	assert_null(strstr(outmem, "s3cr3t"));
	assert_null(strstr(outmem, "API_KEY"));
	assert_null(strstr(outmem, "MODE"));
	assert_null(strstr(outmem, "prod"));
	/* Docker's own spelling of a name, with its slash, and a full ID */
	serve_file(200, "inspect_web.json");
	assert_string_equal(call_ok("inspect_container", "{\"id\":\"/web\",\"other\":1}"),
			    INSPECT_WEB);
	assert_string_equal(fake.target, "/containers/web/json");
	serve_file(200, "inspect_web.json");
	call_ok("inspect_container",
		"{\"id\":\"992bd55d1c9ea217d45623a2aae63d0f6b6f0d112b54f70c10f76eee769249ba\"}");
	assert_string_equal(
	    fake.target,
	    "/containers/992bd55d1c9ea217d45623a2aae63d0f6b6f0d112b54f70c10f76eee769249ba/json");
}

static void test_inspect_sparse(void **state)
{
	/* nothing but an exited state: zero values, [] mounts, null networks,
	 * no Health; Env counted whatever its entries hold */
	SERVE_STR(200,
		  "{\"Id\":\"abc\",\"Name\":\"/x\",\"State\":{\"Status\":\"exited\",\"Dead\":true,"
		  "\"ExitCode\":137,\"Pid\":0,\"Health\":null},\"Config\":{\"Env\":[\"A=secret1\","
		  "\"B\",\"\",null]},\"NetworkSettings\":{\"Networks\":{}},\"Mounts\":null}");
	assert_string_equal(
	    call_ok("inspect_container", "{\"id\":\"x\"}"),
	    "{\"envCount\":4,\"id\":\"abc\",\"image\":\"\",\"mounts\":[],\"name\":\"/x\","
	    "\"networks\":null,\"restartPolicy\":\"\",\"state\":{\"Status\":\"exited\","
	    "\"Running\":false,\"Paused\":false,\"Restarting\":false,\"OOMKilled\":false,"
	    "\"Dead\":true,\"Pid\":0,\"ExitCode\":137,\"StartedAt\":\"\",\"FinishedAt\":\"\"}}");
	assert_null(strstr(outmem, "secret1"));
	/* no State at all: Go's zero struct */
	SERVE_STR(200, "{}");
	assert_string_equal(
	    call_ok("inspect_container", "{\"id\":\"x\"}"),
	    "{\"envCount\":0,\"id\":\"\",\"image\":\"\",\"mounts\":[],\"name\":\"\","
	    "\"networks\":null,\"restartPolicy\":\"\",\"state\":{\"Status\":\"\","
	    "\"Running\":false,\"Paused\":false,\"Restarting\":false,\"OOMKilled\":false,"
	    "\"Dead\":false,\"Pid\":0,\"ExitCode\":0,\"StartedAt\":\"\",\"FinishedAt\":\"\"}}");
	/* networks sorted; RW absent means read-only */
	SERVE_STR(200, "{\"NetworkSettings\":{\"Networks\":{\"zeta\":{},\"alpha\":{},\"mid\":{}}},"
		       "\"Mounts\":[{\"Source\":\"/s\",\"Destination\":\"/d\"}]}");
	const char *text = call_ok("inspect_container", "{\"id\":\"x\"}");

	assert_non_null(strstr(text, "\"networks\":[\"alpha\",\"mid\",\"zeta\"]"));
	assert_non_null(strstr(
	    text, "\"mounts\":[{\"source\":\"/s\",\"destination\":\"/d\",\"readOnly\":true}]"));
}

static void test_container_logs(void **state)
{
	serve_file(200, "logs_web.bin");
	assert_string_equal(call_ok("container_logs", "{\"id\":\"web\",\"tail\":5}"),
			    "{\"id\":\"web\",\"lines\":[\"stderr: err1\",\"stderr: err2\","
			    "\"stdout: out1\",\"stdout: out2\",\"stdout: out3\"]}");
	assert_string_equal(fake.target, "/containers/web/logs?stdout=1&stderr=1&tail=5");
	/* the id is echoed as the client wrote it; the target drops the slash */
	serve_file(200, "logs_web.bin");
	assert_non_null(
	    strstr(call_ok("container_logs", "{\"id\":\"/web\"}"), "{\"id\":\"/web\","));
	assert_string_equal(fake.target, "/containers/web/logs?stdout=1&stderr=1&tail=100");
	/* no output: null lines */
	SERVE_STR(200, "");
	assert_string_equal(call_ok("container_logs", "{\"id\":\"web\"}"),
			    "{\"id\":\"web\",\"lines\":null}");
}

static void test_logs_tail(void **state)
{
	static const struct {
		const char *tail;
		int want; /* 0: refused with "id is required" */
	} cases[] = {
		{ NULL, 100 },
		{ "null", 100 },
		{ "0", 100 },
		{ "-5", 100 },
		{ "1", 1 },
		{ "500", 500 },
		{ "501", 500 },
		{ "1000000000000", 500 },
		{ "1.5", 0 },
		{ "5.0", 0 },
		{ "1e2", 0 },
		{ "\"5\"", 0 },
		{ "true", 0 },
		{ "[5]", 0 },
		{ "9223372036854775808", 0 },
		{ "-9223372036854775808", 100 },
	};
	char args[128];

	for (size_t i = 0; i < LK_ARRAY_SIZE(cases); i++) {
		if (cases[i].tail != NULL)
			snprintf(args, sizeof(args), "{\"id\":\"web\",\"tail\":%s}", cases[i].tail);
		else
			snprintf(args, sizeof(args), "{\"id\":\"web\"}");
		SERVE_STR(200, "");
		fake.calls = 0;
		if (cases[i].want == 0) {
			assert_string_equal(call_err("container_logs", args), "id is required");
			assert_int_equal(fake.calls, 0);
			continue;
		}
		call_ok("container_logs", args);
		char want[128];

		snprintf(want, sizeof(want), "/containers/web/logs?stdout=1&stderr=1&tail=%d",
			 cases[i].want);
		if (strcmp(fake.target, want) != 0)
			fail_msg("tail %s: asked %s", cases[i].tail, fake.target);
	}
}

/* frame appends one log frame (stream, declared length n, payload p) to buf
 * at *at. */
static void frame(char *buf, size_t *at, uint8_t stream, uint32_t n, const char *p, size_t p_len)
{
	uint8_t h[8] = {
		stream,	   0, 0, 0, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
		(uint8_t)n
	};

	memcpy(buf + *at, h, 8);
	memcpy(buf + *at + 8, p, p_len);
	*at += 8 + p_len;
}

#define FRAME(buf, at, stream, s) frame((buf), (at), (stream), sizeof(s) - 1, (s), sizeof(s) - 1)

static void test_logs_demux(void **state)
{
	char buf[512];
	size_t at = 0;

	FRAME(buf, &at, 1, "a\nb\n");
	FRAME(buf, &at, 2, "");		     /* empty: skipped */
	FRAME(buf, &at, 2, "c\n\n\n");	     /* trailing newlines trimmed */
	FRAME(buf, &at, 0, "d");	     /* any stream but 2 is stdout */
	FRAME(buf, &at, 3, "e\r\n");	     /* \r kept */
	FRAME(buf, &at, 1, "\n");	     /* trims to nothing: one empty line */
	FRAME(buf, &at, 2, "x\n\ny");	     /* inner empty line kept */
	FRAME(buf, &at, 1, "<\"\x01\xff>");  /* escaped, bad byte replaced */
	memcpy(buf + at, "\x01\0\0\0\0", 5); /* a partial header: ignored */
	serve(200, buf, at + 5);
	assert_string_equal(
	    call_ok("container_logs", "{\"id\":\"c1\"}"),
	    "{\"id\":\"c1\",\"lines\":[\"stdout: a\",\"stdout: b\",\"stderr: c\","
	    "\"stdout: d\",\"stdout: e\\r\",\"stdout: \",\"stderr: x\",\"stderr: \","
	    "\"stderr: y\",\"stdout: \\u003c\\\"\\u0001\\ufffd\\u003e\"]}");
	/* only empty frames: no lines */
	at = 0;
	FRAME(buf, &at, 1, "");
	FRAME(buf, &at, 2, "");
	serve(200, buf, at);
	assert_string_equal(call_ok("container_logs", "{\"id\":\"c1\"}"),
			    "{\"id\":\"c1\",\"lines\":null}");
	/* a payload cut short, by a little or by a length near 4 GiB: the
	 * reference's io.ReadFull error, nothing read past the body (fake_get
	 * hands over a malloc of exactly the body's length, so ASan sees any
	 * read past it) */
	at = 0;
	FRAME(buf, &at, 1, "ok\n");
	frame(buf, &at, 2, 10, "short", 5);
	serve(200, buf, at);
	assert_string_equal(call_err("container_logs", "{\"id\":\"c1\"}"),
			    "demux logs: unexpected EOF");
	at = 0;
	frame(buf, &at, 1, 0xffffffffu, "xyz", 3);
	serve(200, buf, at);
	assert_string_equal(call_err("container_logs", "{\"id\":\"c1\"}"),
			    "demux logs: unexpected EOF");
	/* a header alone, announcing a payload that never came */
	at = 0;
	frame(buf, &at, 1, 1, "", 0);
	serve(200, buf, at);
	assert_string_equal(call_err("container_logs", "{\"id\":\"c1\"}"),
			    "demux logs: unexpected EOF");
	/* just a partial header */
	serve(200, "\x01\0\0", 3);
	assert_string_equal(call_ok("container_logs", "{\"id\":\"c1\"}"),
			    "{\"id\":\"c1\",\"lines\":null}");
}

static void test_container_stats(void **state)
{
	serve_file(200, "stats_web.json");
	assert_string_equal(
	    call_ok("container_stats", "{\"id\":\"web\"}"),
	    "{\"cpuTotalUsage\":87894575,\"id\":\"web\",\"memLimit\":25276059648,"
	    "\"memUsage\":356352,\"networks\":{\"eth0\":{\"rxBytes\":1096,\"txBytes\":0}}}");
	assert_string_equal(fake.target, "/containers/web/stats?stream=false&one-shot=true");
	/* an exited container: empty memory_stats, no networks member */
	serve_file(200, "stats_done.json");
	assert_string_equal(call_ok("container_stats", "{\"id\":\"done\"}"),
			    "{\"cpuTotalUsage\":0,\"id\":\"done\",\"memLimit\":0,\"memUsage\":0,"
			    "\"networks\":{}}");
	/* counters beyond INT64_MAX; interfaces sorted, a repeated one last */
	SERVE_STR(
	    200, "{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":18446744073709551615}},"
		 "\"memory_stats\":{\"usage\":9223372036854775808,\"limit\":18446744073709551615},"
		 "\"networks\":{\"eth1\":{\"rx_bytes\":1,\"tx_bytes\":2},\"eth0\":{\"rx_bytes\":"
		 "18446744073709551615,\"tx_bytes\":18446744073709551614},\"eth1\":{\"rx_bytes\":3,"
		 "\"tx_bytes\":4}}}");
	assert_string_equal(
	    call_ok("container_stats", "{\"id\":\"web\"}"),
	    "{\"cpuTotalUsage\":18446744073709551615,\"id\":\"web\","
	    "\"memLimit\":18446744073709551615,\"memUsage\":9223372036854775808,"
	    "\"networks\":{\"eth0\":{\"rxBytes\":18446744073709551615,"
	    "\"txBytes\":18446744073709551614},\"eth1\":{\"rxBytes\":3,\"txBytes\":4}}}");
}

static void test_host_metrics(void **state)
{
	host_val = (struct lk_mcp_host){
		.cpu_usage = 12.5,
		.cpu_cores = 2,
		.mem_total = 25276059648u,
		.mem_used = 1000,
		.mem_free = 25276058648u,
		.disk_total = UINT64_MAX,
		.disk_used = 1,
		.disk_free = 0,
		.net_rx = 123,
		.net_tx = 456,
		.uptime_s = 86400,
	};
	assert_string_equal(call_ok("host_metrics", NULL),
			    "{\"cpuUsage\":12.5,\"cpuCores\":2,\"memoryTotal\":25276059648,"
			    "\"memoryUsed\":1000,\"memoryFree\":25276058648,"
			    "\"diskTotal\":18446744073709551615,\"diskUsed\":1,\"diskFree\":0,"
			    "\"networkRxBytes\":123,\"networkTxBytes\":456,\"uptime\":86400}");
	assert_int_equal(host_calls, 1);
	host_val.cpu_usage = 0;
	assert_non_null(strstr(call_ok("host_metrics", "{\"x\":1}"), "{\"cpuUsage\":0,"));
	host_val.cpu_usage = 0.1;
	assert_non_null(strstr(call_ok("host_metrics", NULL), "{\"cpuUsage\":0.1,"));
	/* failures */
	host_rc = -EIO;
	assert_string_equal(call_err("host_metrics", NULL), "collect metrics: Input/output error");
	host_rc = 0;
	host_val.cpu_usage = NAN;
	assert_string_equal(call_err("host_metrics", NULL),
			    "marshal result: json: unsupported value: NaN");
	host_val.cpu_usage = INFINITY;
	assert_string_equal(call_err("host_metrics", NULL),
			    "marshal result: json: unsupported value: +Inf");
	host_val.cpu_usage = -INFINITY;
	assert_string_equal(call_err("host_metrics", NULL),
			    "marshal result: json: unsupported value: -Inf");
	env.host = NULL;
	host_calls = 0;
	assert_string_equal(call_err("host_metrics", NULL), "metrics collector not available");
	assert_int_equal(host_calls, 0);
	assert_int_equal(fake.calls, 0);
}

/* ---- tool errors -------------------------------------------------------- */

static void test_bad_ids(void **state)
{
	static const char *const tools[] = { "inspect_container", "container_logs",
					     "container_stats" };
	static const char *const args[] = {
		NULL, /* no arguments */
		"null",
		"[]",
		"\"web\"",
		"{}",
		"{\"id\":null}",
		"{\"id\":\"\"}",
		"{\"id\":5}",
		"{\"id\":[\"web\"]}",
		"{\"ID\":\"web\"}",
		"{\"id\":\"/\"}",
		"{\"id\":\"//web\"}",
		"{\"id\":\"a/b\"}",
		"{\"id\":\"../x\"}",
		"{\"id\":\"..\"}",
		"{\"id\":\".\"}",
		"{\"id\":\"-a\"}",
		"{\"id\":\"_a\"}",
		"{\"id\":\"a b\"}",
		"{\"id\":\"x?y=1\"}",
		"{\"id\":\"x#y\"}",
		"{\"id\":\"a%2Fb\"}",
		"{\"id\":\"a\\u0000\"}",
		"{\"id\":\"a\\nb\"}",
		"{\"id\":\"\xc3\xa9t\xc3\xa9\"}",
		"{\"id\":\"a:b\"}",
		"{\"id\":\"a&stream=true\"}",
	};
	char long_id[LK_MCP_REF_LEN_MAX + 2 + 16];

	for (size_t t = 0; t < LK_ARRAY_SIZE(tools); t++) {
		for (size_t i = 0; i < LK_ARRAY_SIZE(args); i++) {
			const char *text = call_err(tools[t], args[i]);

			if (strcmp(text, "id is required") != 0)
				fail_msg("%s %s: %s", tools[t], args[i] ? args[i] : "(none)", text);
		}
		/* the length bound, with and without the slash */
		snprintf(
		    long_id, sizeof(long_id), "{\"id\":\"%.*s\"}", LK_MCP_REF_LEN_MAX + 1,
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
		assert_string_equal(call_err(tools[t], long_id), "id is required");
	}
	assert_int_equal(fake.calls, 0);
	/* the edges that pass */
	static const char *const good[] = {
		"a",
		"A.b_c-d",
		"0",
		"/x-1",
		("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	};

	for (size_t i = 0; i < LK_ARRAY_SIZE(good); i++) {
		char a[256];

		assert_true(strlen(good[i]) <= LK_MCP_REF_LEN_MAX + 1);
		snprintf(a, sizeof(a), "{\"id\":\"%s\"}", good[i]);
		SERVE_STR(200, "{}");
		call_ok("container_stats", a);
	}
	assert_int_equal(fake.calls, LK_ARRAY_SIZE(good));
}

static void test_docker_errors(void **state)
{
	/* Docker's JSON message, per tool */
	serve_file(404, "inspect_404.json");
	assert_string_equal(call_err("inspect_container", "{\"id\":\"nope\"}"),
			    "inspect container: No such container: nope");
	serve_file(404, "inspect_404.json");
	assert_string_equal(call_err("container_logs", "{\"id\":\"nope\"}"),
			    "container logs: No such container: nope");
	serve_file(404, "inspect_404.json");
	assert_string_equal(call_err("container_stats", "{\"id\":\"nope\"}"),
			    "container stats: No such container: nope");
	SERVE_STR(500, "{\"message\":\"server error: \\\"x\\\" <y>\"}\n");
	assert_string_equal(call_err("list_containers", NULL),
			    "list containers: server error: \"x\" <y>");
	/* no message: the status and the start of the body, trimmed */
	SERVE_STR(500, "  boom\r\n");
	assert_string_equal(call_err("list_containers", NULL), "list containers: status 500: boom");
	SERVE_STR(502, "");
	assert_string_equal(call_err("list_containers", NULL), "list containers: status 502");
	SERVE_STR(400, "{\"message\":\"\"}");
	assert_string_equal(call_err("list_containers", NULL),
			    "list containers: status 400: {\"message\":\"\"}");
	SERVE_STR(204, "");
	assert_string_equal(call_err("list_containers", NULL), "list containers: status 204");
	/* a long body is cut */
	static char big[8192];

	memset(big, 'x', sizeof(big));
	serve(500, big, sizeof(big));
	const char *text = call_err("list_containers", NULL);

	assert_int_equal(strlen(text), strlen("list containers: status 500: ") + 1024);
	/* the transport */
	serve(-ECONNREFUSED, NULL, 0);
	assert_string_equal(call_err("list_containers", NULL),
			    "list containers: Connection refused");
	serve(-ETIMEDOUT, NULL, 0);
	assert_string_equal(call_err("inspect_container", "{\"id\":\"web\"}"),
			    "inspect container: Connection timed out");
	serve(-ECONNRESET, NULL, 0);
	assert_string_equal(call_err("container_logs", "{\"id\":\"web\"}"),
			    "container logs: Connection reset by peer");
	serve(-ENOENT, NULL, 0);
	assert_string_equal(call_err("container_stats", "{\"id\":\"web\"}"),
			    "container stats: No such file or directory");
	/* a 200 that is not the JSON expected */
	SERVE_STR(200, "{\"a\":");
	assert_string_equal(call_err("list_containers", NULL),
			    "list containers: decode response: parse error: premature EOF");
	SERVE_STR(200, "{}");
	assert_string_equal(call_err("list_containers", NULL),
			    "list containers: decode response: not an array");
	SERVE_STR(200, "[]");
	assert_string_equal(call_err("inspect_container", "{\"id\":\"web\"}"),
			    "inspect container: decode response: not an object");
	SERVE_STR(200, "");
	assert_string_equal(call_err("container_stats", "{\"id\":\"web\"}"),
			    "container stats: decode response: parse error: premature EOF");
	/* no Docker client: checked before the arguments, Docker never asked */
	env.docker_get = NULL;
	fake.calls = 0;
	assert_string_equal(call_err("list_containers", NULL), "docker client not available");
	assert_string_equal(call_err("inspect_container", "{\"id\":\"web\"}"),
			    "docker client not available");
	assert_string_equal(call_err("container_logs", NULL), "docker client not available");
	assert_string_equal(call_err("container_stats", "[]"), "docker client not available");
	assert_int_equal(fake.calls, 0);
}

/* ---- bounds ------------------------------------------------------------- */

static void test_output_bound(void **state)
{
	static const char list[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
	static const char logs[] =
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"container_logs\",\"arguments\":{\"id\":\"w\"}}}";
	static const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
	static char big[64 * 1024];
	size_t at = 0, want_len;

	/* what does not fit is -ENOSPC with the overflow flag, never a cut body */
	assert_int_equal(handle_cap("POST", list, sizeof(list) - 1, 100), -ENOSPC);
	assert_true(out.overflow);
	assert_int_equal(status, 200);
	assert_int_equal(handle_cap("POST", ping, sizeof(ping) - 1, 0), -ENOSPC);
	/* the exact size fits, one byte less does not */
	assert_int_equal(handle_cap("POST", ping, sizeof(ping) - 1, 1024), 0);
	want_len = out.len;
	assert_int_equal(handle_cap("POST", ping, sizeof(ping) - 1, (uint32_t)want_len), 0);
	assert_int_equal(handle_cap("POST", ping, sizeof(ping) - 1, (uint32_t)want_len - 1),
			 -ENOSPC);
	/* a tool result larger than the output, in the scratch data already
	 * or only once escaped */
	memset(big + 8, 'x', 40000);
	frame(big, &at, 1, 40000, big + 8, 40000);
	serve(200, big, at);
	assert_int_equal(handle_cap("POST", logs, sizeof(logs) - 1, 30000), -ENOSPC);
	assert_true(out.overflow);
	for (size_t i = 0; i < 40000; i++)
		big[8 + i] = (char)(i % 2 == 0 ? '<' : 'x'); /* 6 bytes escaped, twice */
	serve(200, big, at);
	assert_int_equal(handle_cap("POST", logs, sizeof(logs) - 1, 100000), -ENOSPC);
	serve(200, big, at);
	assert_int_equal(handle_cap("POST", logs, sizeof(logs) - 1, 200000), 0);
	check_compact();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_http_method, setup),
		cmocka_unit_test_setup(test_initialize_ping, setup),
		cmocka_unit_test_setup(test_notifications, setup),
		cmocka_unit_test_setup(test_id_echo, setup),
		cmocka_unit_test_setup(test_parse_errors, setup),
		cmocka_unit_test_setup(test_unknown_method, setup),
		cmocka_unit_test_setup(test_body_bound, setup),
		cmocka_unit_test_setup(test_tools_list, setup),
		cmocka_unit_test_setup(test_tools_call_params, setup),
		cmocka_unit_test_setup(test_list_containers, setup),
		cmocka_unit_test_setup(test_inspect_container, setup),
		cmocka_unit_test_setup(test_inspect_sparse, setup),
		cmocka_unit_test_setup(test_container_logs, setup),
		cmocka_unit_test_setup(test_logs_tail, setup),
		cmocka_unit_test_setup(test_logs_demux, setup),
		cmocka_unit_test_setup(test_container_stats, setup),
		cmocka_unit_test_setup(test_host_metrics, setup),
		cmocka_unit_test_setup(test_bad_ids, setup),
		cmocka_unit_test_setup(test_docker_errors, setup),
		cmocka_unit_test_setup(test_output_bound, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
