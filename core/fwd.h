/* core/fwd.h - forward declarations of every struct lk_*, so headers that
 * only need a pointer include this instead of each other. */
#ifndef LK_CORE_FWD_H
#define LK_CORE_FWD_H

struct lk_obuf;
struct lk_pool;
struct lk_config;
struct lk_conn;
struct lk_cqe;
struct lk_http_chunked;
struct lk_http_parser;
struct lk_http_req;
struct lk_http_resp;
struct lk_jval;
struct lk_ring;
struct lk_server;
struct lk_timer;
struct lk_timer_wheel;
struct lk_tls;
struct lk_tls_ctx;
struct lk_worker;

#endif /* LK_CORE_FWD_H */
