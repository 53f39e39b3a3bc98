/* proxy/session_int.h - types shared by proxy/session.c and proxy/server.c
 * only: the per-request context and the per-worker protocol state. */
#ifndef LK_PROXY_SESSION_INT_H
#define LK_PROXY_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/http.h"
#include "core/pool.h"
#include "core/worker.h"
#include "proxy/server.h"

#define LK_SESS_OUT_MAX 4096 /* agent-generated responses: small, fixed */
#define LK_SESS_UP_MAX 2048  /* Docker's answer to /_ping */

/* struct lk_sess_ctx is held by a connection only while a request is in
 * progress (from its first byte to the end of its response). */
struct lk_sess_ctx {
	struct lk_http_parser parser;
	struct lk_http_req req;
	struct lk_http_parser up_parser;
	struct lk_http_resp resp;
	uint32_t in_len;
	uint32_t out_len;
	uint32_t out_off;
	uint32_t up_len;
	uint32_t up_sent;
	bool head_only; /* HEAD request: headers only */
	char in[LK_HTTP_HEAD_MAX];
	char out[LK_SESS_OUT_MAX];
	char up[LK_SESS_UP_MAX];
};

/* Timer queues of a worker, one per configured duration. */
enum lk_tq { LK_TQ_HANDSHAKE, LK_TQ_HEADER, LK_TQ_IDLE, LK_TQ_REQUEST, LK_TQ__COUNT };
#define LK_TQ_NONE 0xffu /* duration 0: that timeout is disabled */

struct lk_sworker {
	struct lk_worker w;
	struct lk_server *srv;
	struct lk_pool ctx_pool;
	struct lk_pool tls_in_pool;  /* TLS ciphertext buffers: only while in use */
	struct lk_pool tls_out_pool;
	struct lk_server_stats stats;
	unsigned tq[LK_TQ__COUNT];
};

extern const struct lk_worker_ops lk_session_ops;

#endif /* LK_PROXY_SESSION_INT_H */
