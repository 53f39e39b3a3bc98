/* proxy/rewrite.h - what the Docker proxy decides and writes about one
 * exchange, as pure functions over parsed heads.
 *
 * Classification (streaming, hijack) looks at the request-target only, and
 * always at its path part (up to the first '?'): the query never changes
 * which Docker route serves a request, so it must not change how we relay
 * it. The one exception is the documented stats switch (?stream=false).
 *
 * The head writers copy a parsed head to the other side minus everything
 * that belongs to one hop or to the agent itself: hop-by-hop fields (RFC 9110
 * 7.6.1, plus every field a Connection header names), the agent's own
 * credentials (spec lookout-core 16: a token must never reach the Docker
 * socket, where anything that can read the API could read it back) and the
 * message framing, which is written afresh from the parsed values so that
 * what we forward is exactly what our parser understood. Kept fields keep
 * their order and name casing; values are the parser's OWS-trimmed views.
 *
 * Nothing here allocates, logs or calls back. */
#ifndef LK_PROXY_REWRITE_H
#define LK_PROXY_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fwd.h"

/* enum lk_proxy_hijack says whether a request turns the connection into a
 * raw bidirectional byte pipe once Docker answers 101. */
enum lk_proxy_hijack {
	LK_HIJACK_NONE,    /* ordinary request/response exchange */
	LK_HIJACK_UPGRADE, /* attach or exec start with Upgrade: tcp: relay raw after a 101 */
};

/* struct lk_proxy_req_opts selects the framing of a forwarded request head. */
struct lk_proxy_req_opts {
	bool hijack;       /* add Connection: Upgrade and Upgrade: tcp */
	bool has_body_len; /* the caller buffered (and de-chunked) the body: frame it with
			    * Content-Length: body_len instead of the original framing */
	uint64_t body_len; /* body bytes when has_body_len */
};

/* struct lk_proxy_resp_opts selects the connection handling written into a
 * response head relayed to the client. */
struct lk_proxy_resp_opts {
	bool close_after;   /* the client connection closes after this response (EOF-delimited
			     * body, client asked for close, shutdown): Connection: close */
	bool keep_alive_10; /* HTTP/1.0 client that asked for keep-alive: Connection: keep-alive
			     * (ignored with close_after) */
	bool dechunked;     /* the caller decodes a chunked body before relaying it (for an
			     * HTTP/1.0 client): drop Transfer-Encoding; the body then ends at
			     * close, so Connection: close is written too */
};

/* lk_proxy_is_streaming returns whether the request-target target[0..len)
 * (borrowed) names a Docker route whose response is a stream: no total
 * timeout, flushed as bytes arrive. The path part (up to the first '?') is
 * matched against:
 * - the reference list (spec docker-drydock-edge 1.6), see
 *   lk_proxy_drydock_expects_stream;
 * - Lookout's additions, with an optional /v<version> prefix:
 *   /containers/{id}/wait, /archive, /export, /containers/{id}/stats unless
 *   its query turns streaming off the way dockerd reads it, /images/load,
 *   /images/get, /images/{name}/get and /images/{name}/push.
 * Never calls back. */
bool lk_proxy_is_streaming(const char *target, size_t len);

/* lk_proxy_drydock_expects_stream returns whether target[0..len) (borrowed)
 * is streaming by the reference rule that Drydock's own classifier applies:
 * the path ends with /logs, /attach, /events, /build, /images/create or
 * /images/push, or contains /exec/ and ends with /start. The reference also
 * matches these suffixes followed by '?' anywhere in the target; matching
 * the path only gives the same answer for every target whose first '?'
 * starts the query (all real ones), and differs only for a '?' inside the
 * query (/containers/json?q=/logs? is not streaming), where Drydock, which
 * strips the query first, agrees with us. The edge tunnel must use this one
 * rather than lk_proxy_is_streaming: streaming frames for a request Drydock
 * expects a single answer to would not be understood. */
bool lk_proxy_drydock_expects_stream(const char *target, size_t len);

/* lk_proxy_hijack_kind returns LK_HIJACK_UPGRADE for an HTTP/1.1 POST to
 * /containers/{id}/attach or /exec/{id}/start (optionally /v<version>
 * prefixed) whose Connection lists "upgrade" and whose Upgrade lists "tcp",
 * else LK_HIJACK_NONE. Upgrade: websocket is not claimed: we do no WebSocket
 * handshake (Sec-WebSocket-Accept), so a WebSocket client could not use the
 * pipe; such a request is forwarded without its Upgrade and Docker answers
 * with its legacy raw stream (see lk_proxy_is_attach_or_exec_start). */
enum lk_proxy_hijack lk_proxy_hijack_kind(const struct lk_http_req *r);

/* lk_proxy_is_attach_or_exec_start returns whether the path of target[0..len)
 * (borrowed) is /containers/{id}/attach or /exec/{id}/start, optionally
 * /v<version> prefixed, whatever the method and headers. On those routes
 * dockerd takes the connection over even without an upgrade and answers 200
 * with Content-Type application/vnd.docker.raw-stream or
 * application/vnd.docker.multiplexed-stream and no framing: the caller relays
 * that both ways as it would after a 101. */
bool lk_proxy_is_attach_or_exec_start(const char *target, size_t len);

/* lk_proxy_write_req_head appends the request head to forward to Docker for
 * the parsed request r (borrowed): `<method> <target> HTTP/1.1` with the
 * target exactly as received, `Host: docker`, every other field of r except
 * hop-by-hop ones (Connection, the fields it names, Keep-Alive, TE, Trailer,
 * Upgrade, Proxy-*), the agent's credentials (Authorization, X-Lookout-*,
 * X-Portwing-*, X-Dd-Agent-Secret) and the original Host, Content-Length and
 * Transfer-Encoding; then the framing of r's body as it is relayed
 * (Content-Length: N or Transfer-Encoding: chunked, or o->body_len), the
 * hijack fields when o->hijack, and the blank line. Returns 0, or -ENOSPC if
 * b overflowed (now or before the call); b then holds a partial head the
 * caller discards. */
int lk_proxy_write_req_head(struct lk_obuf *b, const struct lk_http_req *r,
			    const struct lk_proxy_req_opts *o);

/* lk_proxy_write_resp_head appends the head to relay Docker's response r
 * (borrowed) to the client: `HTTP/1.1 <status> <reason as received>`, every
 * field except the ones lk_proxy_write_req_head drops, then the framing:
 * for a 101 `Connection: Upgrade` and `Upgrade: tcp`; for other 1xx nothing;
 * otherwise `Content-Length: N` when r had one (not for 204), r's
 * Transfer-Encoding fields as received (the body is relayed unchanged, so
 * its codings still describe it) unless o->dechunked, and the Connection
 * field o asks for. The caller must set o->close_after for an EOF-delimited
 * body. Returns 0, or -ENOSPC as lk_proxy_write_req_head. */
int lk_proxy_write_resp_head(struct lk_obuf *b, const struct lk_http_resp *r,
			     const struct lk_proxy_resp_opts *o);

/* lk_proxy_write_error appends a complete error response in dockerd's shape,
 * so the docker CLI prints the message: the status line with the standard
 * reason, Content-Type: application/json, Content-Length, Connection: close
 * when close, and the body `{"message":<message JSON-escaped>}` plus the
 * newline dockerd's encoder writes. status must be 400..599 and message a
 * NUL-terminated string (borrowed; peer-derived text is fine). Returns 0, or
 * -ENOSPC if b overflowed (b then holds a partial response). */
int lk_proxy_write_error(struct lk_obuf *b, int status, const char *message, bool close);

#endif /* LK_PROXY_REWRITE_H */
