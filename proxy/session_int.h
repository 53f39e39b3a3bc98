/* proxy/session_int.h - types shared by proxy/session.c and proxy/server.c
 * only: the per-request context and the per-worker protocol state. */
#ifndef LK_PROXY_SESSION_INT_H
#define LK_PROXY_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/shtab.h"
#include "auth/sigv.h"
#include "core/http.h"
#include "core/pool.h"
#include "core/worker.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/sse.h"

/* out holds agent responses, then the forwarded request head (at most the
 * client's head plus our framing lines) and Docker's rewritten response head;
 * up holds Docker's response head as received (at most LK_HTTP_HEAD_MAX, the
 * parser's bound) and the body bytes that came with it: 64 KiB, so a
 * container list arrives in one receive and leaves in one send. Only the
 * pages an answer fills are touched. */
#define LK_SESS_OUT_MAX (LK_HTTP_HEAD_MAX + 1024)
#define LK_SESS_UP_MAX (64u * 1024)

/* enum lk_cred is the kind of credential a request presented: the one that
 * admitted it, or the one that was refused (the audit's "credential"). */
enum lk_cred { LK_CRED_NONE, LK_CRED_TOKEN, LK_CRED_ARGON2, LK_CRED_ED25519 };

/* What a buffered request body is for (struct lk_sess_ctx.body_use). */
enum lk_body_use { LK_BODY_SIGNED = 1, LK_BODY_ENROLL, LK_BODY_CONTROL };

/* struct lk_sess_ctx is held by a connection only while a request is in
 * progress (from its first byte to the end of its response). */
struct lk_sess_ctx {
	uint8_t route;         /* enum lk_route of the request */
	bool counted;          /* its response was counted (lk__sess_count) */
	uint64_t t0_us;        /* request head complete (latency) */
	/* A response too large for out (control-thread answers): malloc'd,
	 * sent instead of out while set, freed with the request. */
	char *big;
	/* Admission (proxy/admit.c). */
	uint64_t t0_ms;        /* request head complete: audit duration */
	uint64_t auth_cookie;  /* identifies the verdict awaited in LK_CS_AUTH */
	uint8_t cred;          /* enum lk_cred, LK_CRED_NONE when none was presented */
	bool audit_pending;    /* a mutating request passed: audit it with its status */
	char actor[48];        /* client IP as text (audit), "" when not looked up */
	struct lk_ip_key ipkey; /* the client in the failed-auth limiter */
	char key_id[LK_KEYS_ID_LEN + 1];
	struct lk_sig_req sig;
	/* A body read whole before anything is decided (signed requests,
	 * enrollment): malloc'd, counted in srv->spool_bytes, freed with the
	 * request. After a chunked body completes it holds the decoded bytes. */
	char *body;
	uint32_t body_len;
	uint32_t body_cap;
	uint32_t body_max;     /* framed body bytes allowed (413 above) */
	uint8_t body_use;      /* enum lk_body_use, 0 when no body is buffered */
	bool body_chunked;
	bool body_end;         /* the whole body is in */
	uint8_t cont_sent;     /* bytes of a plaintext 100 Continue sent */
	uint64_t body_left;    /* Content-Length body: bytes still to come */
	struct lk_http_chunked body_ch;

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
enum lk_tq { LK_TQ_HANDSHAKE, LK_TQ_HEADER, LK_TQ_IDLE, LK_TQ_REQUEST, LK_TQ_SSE, LK_TQ__COUNT };
#define LK_TQ_NONE 0xffu /* duration 0: that timeout is disabled */

#define LK_UP_POOL_MAX 256 /* idle keep-alive Docker connections per worker */
#define LK_UP_PEEK_MS 1000 /* a pooled connection idle longer is checked before use */

struct lk_sworker {
	struct lk_worker w;
	int up_pool[LK_UP_POOL_MAX];
	uint64_t up_pool_ms[LK_UP_POOL_MAX]; /* when each was pooled (w.now_ms) */
	unsigned n_up_pool;
	struct lk_pool xfer_pool;
	struct lk_server *srv;
	struct lk_pool ctx_pool;
	struct lk_pool tls_in_pool;  /* TLS ciphertext buffers: only while in use */
	struct lk_pool tls_out_pool;
	struct lk_server_stats stats;
	unsigned tq[LK_TQ__COUNT];
	uint64_t cookie_seq; /* requests parked for another thread's answer */
	struct lk_spsc sse_inbox;      /* event-stream messages from the inventory thread */
	struct sse_sub *sse_subs;      /* this worker's event-stream subscribers */
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
void lk__sess_send_response(struct lk_conn *c, int status, uint32_t len);

/* Admission (proxy/admit.c): credentials, signed bodies, enrollment, audit.
 * lk__admit_request takes over a request for a protected route (or
 * enrollment) and ends in lk__fwd_start or a response. */
void lk__admit_request(struct lk_conn *c, bool enroll);
/* lk__admit_body takes n bytes (borrowed) that arrived in LK_CS_BODY. */
void lk__admit_body(struct lk_conn *c, const char *p, size_t n);
/* lk__admit_body_more continues LK_CS_BODY after input: decide or read on. */
void lk__admit_body_more(struct lk_conn *c);
void lk__admit_on_timer(struct lk_conn *c);
void lk__admit_on_wake(struct lk_worker *w);
/* lk__admit_body_free releases a buffered body (request end). */
void lk__admit_body_free(struct lk_conn *c);
/* lk__admit_audit_status records an admitted mutating request once its
 * status is known (response head, or the proxy's own error), or with status
 * 0 when the request ends without one. No-op when nothing is pending. */
void lk__admit_audit_status(struct lk_conn *c, int status);
/* lk__sess_respond_json sends a complete JSON response with an optional
 * extra header line ("Name: value\r\n"), closing afterwards when asked. */
void lk__sess_respond_json(struct lk_conn *c, int status, const char *extra, const char *json);
void lk__sess_arm_recv(struct lk_conn *c);
/* lk__sess_count records the request's response (status, class, latency
 * since its head) once. */
void lk__sess_count(struct lk_conn *c, int status, enum lk_rclass cls);
/* lk__sess_send_continue sends "100 Continue" ahead of any response. */
void lk__sess_send_continue(struct lk_conn *c);
/* lk__sess_respond sends a complete response: status, ctype (NULL: none)
 * and body[0..len) (borrowed, copied; NULL for none), from the context's
 * out buffer or, when the body does not fit there, from a heap copy. */
void lk__sess_respond(struct lk_conn *c, int status, const char *ctype, const char *body,
		      size_t len);

/* The proxy (proxy/fwd.c). */
size_t lk__fwd_xfer_size(void);
void lk__fwd_start(struct lk_conn *c);
void lk__fwd_on_cqe(struct lk_conn *c, enum lk_op op, uint8_t aux, int res, uint32_t flags);
void lk__fwd_on_timer(struct lk_conn *c);
void lk__fwd_on_free(struct lk_conn *c);
void lk__fwd_on_stop(struct lk_worker *w);

#endif /* LK_PROXY_SESSION_INT_H */
