/* proxy/session.h - the HTTP/1.1 connection state machine of standard mode.
 *
 * One enum, ordered; every transition goes through conn_set_state() in
 * session.c, which asserts it is legal. What is valid in each state: */
#ifndef LK_PROXY_SESSION_H
#define LK_PROXY_SESSION_H

#include <stdint.h>

#include "core/fwd.h"

enum lk_conn_state {
	LK_CS_FREE,          /* slot unused */
	LK_CS_TLS_HANDSHAKE, /* tls valid, ctx NULL; handshake timer armed */
	LK_CS_READ_HEAD,     /* waiting for a request head; ctx NULL while idle between
			      * requests (idle timer), else partial head in ctx (header timer) */
	LK_CS_AUTH,          /* ctx valid, no op queued: an Argon2id verdict is awaited from the
			      * verifier pool (request timer); the body waits in the socket */
	LK_CS_BODY,          /* ctx valid: the body of a signed request or an enrollment is
			      * read into the ctx's body buffer before anything is decided */
	LK_CS_CONTROL,       /* ctx valid, no op queued: the control thread builds the answer
			      * (proxy/control.h; request timer) */
	LK_CS_UPSTREAM,      /* ctx valid, up_fd valid: asking Docker for the client */
	LK_CS_PROXY,         /* ctx and xfer valid: forwarding a request to Docker, waiting for
			      * and sending back its response head (proxy/fwd.c) */
	LK_CS_RELAY,         /* xfer valid, ctx only if pipelined bytes wait: bodies or a
			      * hijacked stream flow through proxy/relay.c */
	LK_CS_RESP,          /* ctx valid: the response is being flushed */
	LK_CS_SSE,           /* ext valid, ctx NULL: an event stream (proxy/sse.c) until the
			      * client leaves or falls behind */
	LK_CS_CLOSING,       /* lk_conn_close ran; waiting for the reap */
	LK_CS__COUNT
};

/* Session flags, above core's LK_CONN_F_* bits. */
#define LK_SF_RECV (1u << 8)        /* a client recv is queued */
#define LK_SF_SEND (1u << 9)        /* a client send is queued */
#define LK_SF_CLOSE_AFTER (1u << 10) /* close once the current response is out */
#define LK_SF_TLS_BYE (1u << 11)    /* close_notify queued: flush, then close */
#define LK_SF_IDLE (1u << 12)       /* between requests, idle timer armed */
#define LK_SF_CLI_EOF (1u << 13)    /* client closed its side (FIN or close_notify) */
#define LK_SF_CONTINUE (1u << 14)   /* plaintext: the send in flight is a 100 Continue */

/* lk_conn_state_str returns a short name for logs. */
const char *lk_conn_state_str(enum lk_conn_state s);

#endif /* LK_PROXY_SESSION_H */
