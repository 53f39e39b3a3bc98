/* adapters/mcp.h - the read-only MCP (Model Context Protocol) server.
 *
 * JSON-RPC 2.0 over "Streamable HTTP" in stateless single-request mode
 * (spec lookout-core.md section 13): one POST carries one request object and
 * gets one answer; no SSE, no sessions, no batches. Five tools read Docker
 * (list, inspect, logs without follow, one-shot stats) and the host; none
 * mutates anything. Environment variable values never leave: inspect
 * returns only their count.
 *
 * This module is pure logic. It does no I/O of its own: Docker answers come
 * through env->docker_get and host figures through env->host, both called
 * synchronously from lk_mcp_handle, so the caller decides where they block
 * (a control thread, or a fake in the unit tests). It allocates (the parsed
 * request and Docker answers, a scratch buffer the size of out) and belongs
 * on a cold path.
 *
 * Answers follow Go's encoding of the reference: maps come out with sorted
 * keys, structs in declaration order, every JSON-RPC body ends with "\n".
 * Fields missing from a Docker answer, or of the wrong type, read as zero
 * values ("", 0, false) instead of failing the tool. */
#ifndef LK_ADAPTERS_MCP_H
#define LK_ADAPTERS_MCP_H

#include <stddef.h>
#include <stdint.h>

struct lk_obuf; /* core/buf.h */

/* LK_MCP_BODY_BYTES_MAX bounds the request body: bytes past it are ignored,
 * as the reference's truncating read does (the rest then usually fails to
 * parse). The caller need not read more than this. */
#define LK_MCP_BODY_BYTES_MAX (1u << 20)

/* LK_MCP_PROTOCOL_VERSION is the MCP revision announced by initialize,
 * whatever the client asks for. */
#define LK_MCP_PROTOCOL_VERSION "2025-11-25"

/* container_logs: lines asked of Docker when tail is absent or <= 0, and
 * the most that will be asked. */
#define LK_MCP_LOG_TAIL_DEFAULT 100
#define LK_MCP_LOG_TAIL_MAX	500

/* LK_MCP_REF_LEN_MAX bounds a container ID or name from the client. */
#define LK_MCP_REF_LEN_MAX 128

/* struct lk_mcp_host is one host snapshot for the host_metrics tool (the
 * collector shared with /metrics fills it). Bytes unless named otherwise. */
struct lk_mcp_host {
	double cpu_usage;   /* percent busy since the previous collection */
	uint32_t cpu_cores; /* usable CPUs */
	uint64_t mem_total, mem_used, mem_free;
	uint64_t disk_total, disk_used, disk_free;
	uint64_t net_rx, net_tx; /* all interfaces but lo, since boot */
	uint64_t uptime_s;
};

/* struct lk_mcp_env is what the tools may reach, borrowed for the duration
 * of one lk_mcp_handle call. */
struct lk_mcp_env {
	/* docker_get sends GET target to Docker and waits for the whole
	 * answer. target is an unversioned path and query such as
	 * "/containers/json?all=1" (it may add the negotiated /v1.xx prefix);
	 * every part from the client has been checked to be URL-safe. On an
	 * answer it returns the HTTP status (>= 100) and sets *body and *len
	 * to a malloc'd body (NULL with 0 when empty) that the MCP code frees;
	 * on a transport failure it returns -errno and sets nothing. NULL:
	 * the Docker tools answer "docker client not available". */
	int (*docker_get)(void *arg, const char *target, char **body, size_t *len);
	/* host fills *out and returns 0, or returns -errno. NULL: host_metrics
	 * answers "metrics collector not available". */
	int (*host)(void *arg, struct lk_mcp_host *out);
	void *arg;	     /* passed to both callbacks */
	const char *version; /* agent version for serverInfo; NULL reads as "" */
};

/* lk_mcp_handle answers one HTTP request to the MCP endpoint: method is the
 * HTTP method ("POST"; anything else gets 405 and an empty body), body[0..len)
 * the request body (borrowed; need not be NUL-terminated; only the first
 * LK_MCP_BODY_BYTES_MAX bytes are read). body NULL means the caller could not
 * read the body, which is answered with JSON-RPC error -32603 "reading
 * request body". The HTTP status (200, 202 or 405) goes into *status and the
 * response body (possibly empty; when not, it is application/json) is
 * appended to out. Calls env's callbacks synchronously, at most once per
 * request.
 *
 * A container ID or name from the client must match
 * [A-Za-z0-9][A-Za-z0-9_.-]* and be at most LK_MCP_REF_LEN_MAX bytes, after
 * dropping one leading '/' (Docker's own spelling of names, as
 * list_containers returns them); anything else is the tool error "id is
 * required", so nothing needs escaping in the targets built from it. Docker
 * answering other than 200 is the tool error "<action>: <message>" with the
 * "message" of Docker's JSON error body (or "status <code>" and the start of
 * a body that has none; either cut at 1 KiB); a transport failure is
 * "<action>: <strerror>".
 *
 * Returns 0; -ENOSPC when the response did not fit in out (out->overflow is
 * set, *status is what it would have been, and out holds a partial body not
 * to be sent); -ENOMEM when a scratch buffer could not be allocated. */
int lk_mcp_handle(const struct lk_mcp_env *env, const char *method, const char *body, size_t len,
		  int *status, struct lk_obuf *out);

#endif /* LK_ADAPTERS_MCP_H */
