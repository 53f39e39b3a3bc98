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
#include "proxy/session.h"

/* out holds agent responses, then the forwarded request head (at most the
 * client's head plus our framing lines) and Docker's rewritten response head;
 * up holds Docker's response head as received. */
#define LK_SESS_OUT_MAX (LK_HTTP_HEAD_MAX + 1024)
#define LK_SESS_UP_MAX LK_HTTP_HEAD_MAX

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
	uint32_t consumed; /* bytes of in[] taken by this request (head, body prefix) */
	bool head_only; /* HEAD request: headers only */
	char in[LK_HTTP_HEAD_MAX];
	char out[LK_SESS_OUT_MAX];
	char up[LK_SESS_UP_MAX];
};

/* Timer queues of a worker, one per configured duration. */
enum lk_tq { LK_TQ_HANDSHAKE, LK_TQ_HEADER, LK_TQ_IDLE, LK_TQ_REQUEST, LK_TQ__COUNT };
#define LK_TQ_NONE 0xffu /* duration 0: that timeout is disabled */

#define LK_UP_POOL_MAX 32 /* idle keep-alive Docker connections per worker */

struct lk_sworker {
	struct lk_worker w;
	int up_pool[LK_UP_POOL_MAX];
	unsigned n_up_pool;
	struct lk_pool xfer_pool;
	struct lk_server *srv;
	struct lk_pool ctx_pool;
	struct lk_pool tls_in_pool;  /* TLS ciphertext buffers: only while in use */
	struct lk_pool tls_out_pool;
	struct lk_server_stats stats;
	unsigned tq[LK_TQ__COUNT];
};

extern const struct lk_worker_ops lk_session_ops;

/* Session helpers used by proxy/fwd.c (defined in proxy/session.c). */
void lk__sess_set_state(struct lk_conn *c, enum lk_conn_state to);
void lk__sess_close(struct lk_conn *c);
void lk__sess_arm_timer(struct lk_conn *c, unsigned which);
void lk__sess_flush(struct lk_conn *c);
void lk__sess_finish_close(struct lk_conn *c);
void lk__sess_next_request(struct lk_conn *c);
void lk__sess_ctx_put(struct lk_conn *c);
/* lk__sess_send_response sends the complete response already written in
 * ctx->out[0, len) and moves c to LK_CS_RESP. */
void lk__sess_send_response(struct lk_conn *c, uint32_t len);

/* The proxy (proxy/fwd.c). */
size_t lk__fwd_xfer_size(void);
void lk__fwd_start(struct lk_conn *c);
void lk__fwd_on_cqe(struct lk_conn *c, enum lk_op op, uint8_t aux, int res, uint32_t flags);
void lk__fwd_on_timer(struct lk_conn *c);
void lk__fwd_on_free(struct lk_conn *c);
void lk__fwd_on_stop(struct lk_worker *w);

#endif /* LK_PROXY_SESSION_INT_H */
