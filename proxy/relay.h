/* proxy/relay.h - moving a body or a hijacked stream in one direction.
 *
 * One API, two implementations: Docker -> client goes through a pipe with
 * io_uring splice on plaintext client connections (the bytes never enter
 * user space; a splice is issued only after POLLIN on the Docker socket, so
 * none is ever parked on an idle socket), and through provided buffers
 * (copy) otherwise: TLS needs the bytes to encrypt them, and a framed body
 * (Content-Length, chunked) on a pooled Docker connection needs them to find
 * where the response ends. Client -> Docker is always copy.
 *
 * A direction is a small state machine driven by its completions: each step
 * function takes the completion (or LK_OP_NONE to start), queues at most one
 * operation, and says whether the direction is still running, done, or
 * failed. At most one operation per direction is in flight. Ops carry the
 * direction's tag in their aux byte so the session can route completions. */
#ifndef LK_PROXY_RELAY_H
#define LK_PROXY_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/http.h"
#include "core/worker.h"

/* Tags (aux bits 3-5) of the operations the proxy queues on a connection. */
#define LK_TAG_SESS 0 /* session: request/response heads, health ping */
#define LK_TAG_U2C 1  /* relay Docker -> client */
#define LK_TAG_C2U 2  /* relay client -> Docker */
#define LK_TAG_HUP 3  /* watch for the client hanging up during a stream */

#define LK_RELAY_SPLICE_TURN 4 /* pipefuls spliced per readiness before yielding */

enum lk_relay_framing {
	LK_RELAY_EOF,     /* until the source closes (streams, hijack) */
	LK_RELAY_LENGTH,  /* exactly `remaining` bytes */
	LK_RELAY_CHUNKED, /* chunked framing, relayed as is, scanned for its end */
};

enum lk_relay_ev {
	LK_RELAY_MORE, /* an operation is queued; wait for its completion */
	LK_RELAY_DONE, /* the body ended and every byte was handed on */
	LK_RELAY_FAIL, /* error on either socket, or a truncated framed body */
};

struct lk_relay_dir {
	uint8_t framing;    /* enum lk_relay_framing */
	bool splice;        /* Docker -> client through the pipe */
	bool busy;          /* one operation of this direction is queued */
	bool eof;           /* the source ended (or the framing did) */
	bool excess;        /* the source sent bytes past the framed body */
	bool readable;      /* splice: Docker's socket polled readable, or the last splice
			     * filled a chunk (more is likely waiting) */
	bool cli_full;      /* the client's socket refused the last splice: wait for POLLOUT */
	bool up_small;      /* copy: the large buffers ran out; the next receive takes a small one */
	bool shut;          /* client -> Docker: SHUT_WR queued after EOF */
	uint8_t aux;        /* of the held provided buffer */
	uint32_t cqe_flags; /* of the held provided buffer */
	char *buf;          /* held provided buffer (borrowed from the ring), or NULL */
	uint32_t off;       /* sent part of buf */
	uint32_t len;       /* bytes of buf to send */
	uint32_t pipe_fill; /* bytes sitting in the pipe */
	uint64_t remaining; /* LK_RELAY_LENGTH: bytes still to come */
	uint64_t bytes;     /* relayed so far */
	struct lk_http_chunked ch;
	/* Demultiplexing (the adapters' follow logs): Docker -> client, copy
	 * relay only. Docker's chunked framing is decoded and its stream
	 * frames' 8-byte headers dropped, so the client gets the text. */
	bool demux;
	uint8_t dm;         /* 0 undecided, 1 framed, 2 raw (a TTY's output is not framed) */
	uint8_t hdr_have;   /* bytes of the current frame header collected */
	uint8_t hdr[8];
	uint32_t pay_left;  /* payload bytes of the current frame still to come */
	struct lk_http_chunked dech;
};

/* lk_relay_init prepares d for a body of the given framing (len for
 * LK_RELAY_LENGTH). splice is honoured for Docker -> client only. */
void lk_relay_init(struct lk_relay_dir *d, enum lk_relay_framing framing, uint64_t len,
		   bool splice);
/* lk_relay_u2c advances the Docker -> client direction with a completion of
 * its own (op, aux, res, flags), or starts it with op LK_OP_NONE. May queue
 * one operation; never calls back. */
enum lk_relay_ev lk_relay_u2c(struct lk_conn *c, struct lk_relay_dir *d, enum lk_op op,
			      uint8_t aux, int res, uint32_t flags);
/* lk_relay_c2u advances the client -> Docker direction likewise. With framing
 * LK_RELAY_EOF (hijack), the client's end of stream (FIN, or close_notify on
 * TLS) becomes shutdown(SHUT_WR) on the Docker socket before DONE. */
enum lk_relay_ev lk_relay_c2u(struct lk_conn *c, struct lk_relay_dir *d, enum lk_op op,
			      uint8_t aux, int res, uint32_t flags);
/* lk_relay_release gives back a held buffer (connection closing). */
void lk_relay_release(struct lk_conn *c, struct lk_relay_dir *d);
/* lk_relay_demux turns n body bytes at p (already accounted) into what the
 * client gets, in place, when d->demux is set: returns the new length, or
 * -EPROTO for bad chunked framing. */
ssize_t lk_relay_demux(struct lk_relay_dir *d, char *p, size_t n);
/* lk_relay_account applies d's framing to n bytes (borrowed) that were or
 * will be relayed outside the step functions (body bytes that arrived with a
 * head): returns how many belong to the body, sets d->eof when it ended there
 * (and d->excess when bytes follow it), or LK_HTTP_EPARSE. */
ssize_t lk_relay_account(struct lk_relay_dir *d, const char *p, size_t n);

#endif /* LK_PROXY_RELAY_H */
