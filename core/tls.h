/* core/tls.h - TLS over memory (BoringSSL behind a custom BIO).
 *
 * The engine never touches a socket. The worker hands it ciphertext from recv
 * completions (lk_tls_feed), drives it (lk_tls_handshake, lk_tls_read,
 * lk_tls_write, lk_tls_shutdown) and sends whatever lk_tls_out_peek shows,
 * then drops it with lk_tls_out_consume. Every call returns our codes
 * (core/err.h); BoringSSL's 1/0 and its error queue stop in core/tls.c.
 *
 * Bounds: per connection, at most LK_TLS_IN_MAX bytes of unprocessed
 * ciphertext are held, and lk_tls_write stops accepting plaintext once the
 * output queue would pass LK_TLS_OUT_MAX. Both buffers are allocated on first
 * use and released as soon as they are empty, so an idle keep-alive connection
 * holds only BoringSSL's post-handshake state (see docs/internals/TLS.md).
 *
 * An lk_tls belongs to one worker thread; an lk_tls_ctx is built at start-up,
 * shared read-only by every worker, and outlives the lk_tls made from it. */
#ifndef LK_CORE_TLS_H
#define LK_CORE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/fwd.h"

/* Unprocessed ciphertext held per connection: two records of the largest size
 * BoringSSL accepts (16 KiB plaintext + 256 overhead + 5 header), rounded up.
 * At least one whole record always fits, so feeding can always progress. */
#define LK_TLS_IN_MAX (34u * 1024)
/* Ciphertext queued for sending beyond which lk_tls_write returns LK_AGAIN. */
#define LK_TLS_OUT_MAX (64u * 1024)

/* lk_tls_lib_init prepares the library once per process (idempotent, thread
 * safe). Returns 0 or -ENOMEM. The ctx constructors call it too. */
int lk_tls_lib_init(void);
/* lk_tls_lib_version returns a static string naming the TLS library, for
 * `lookout version`. */
const char *lk_tls_lib_version(void);

/* lk_tls_ctx_new_server loads a PEM certificate chain (leaf first) and a PEM
 * private key and returns a server context: TLS 1.2 minimum, no maximum, the
 * six ECDHE+AEAD TLS 1.2 suites, X25519 and P-256, ALPN http/1.1, no client
 * certificates, no session resumption. Returns NULL on failure with a message
 * in err (always NUL-terminated when err_len > 0) that names the variable,
 * the file and the reason, e.g. "TLS_CERT: /p: cannot read: No such file or
 * directory" or "TLS_KEY: /k: key does not match the certificate in TLS_CERT
 * (/c)". Reads files: call at start-up, never on a ring thread. */
struct lk_tls_ctx *lk_tls_ctx_new_server(const char *cert_path, const char *key_path, char *err,
					 size_t err_len);
/* lk_tls_ctx_new_client returns a client context (edge dial): TLS 1.2
 * minimum, the same AEAD suites and groups, ALPN http/1.1. Peers are verified
 * against the PEM bundle at ca_path (messages say "CA_CERT"), or when ca_path
 * is NULL against the system bundle ($SSL_CERT_FILE, then the usual
 * distribution paths), unless skip_verify. Bundles are loaded into memory
 * here so that verification never reads files on a ring thread. Returns NULL
 * with a message in err on failure. */
struct lk_tls_ctx *lk_tls_ctx_new_client(const char *ca_path, bool skip_verify, char *err,
					 size_t err_len);
/* lk_tls_ctx_set_max_version caps the protocol version of connections made
 * from ctx afterwards: v is 12 (TLS 1.2) or 13 (TLS 1.3). Returns 0 or
 * -EINVAL. For tests and edge configuration. */
int lk_tls_ctx_set_max_version(struct lk_tls_ctx *ctx, int v);
/* lk_tls_ctx_free frees ctx. NULL is a no-op. Every lk_tls made from ctx must
 * have been freed first. */
void lk_tls_ctx_free(struct lk_tls_ctx *ctx);

/* lk_tls_new returns a connection in the role of ctx. For a client ctx,
 * sni_host (borrowed, copied) is the peer's name: a DNS name is sent as SNI
 * and checked against the certificate; an IP literal (no brackets) is checked
 * against IP SANs and sent without SNI. A verifying client ctx requires
 * sni_host. Servers pass NULL. Returns NULL on OOM or an unusable sni_host. */
struct lk_tls *lk_tls_new(struct lk_tls_ctx *ctx, const char *sni_host);
/* lk_tls_free frees t and everything it holds, wiping its state. NULL ok. */
void lk_tls_free(struct lk_tls *t);
/* LK_TLS_OUT_BUF is the size of one output buffer (LK_TLS_OUT_MAX plus room
 * for records BoringSSL writes on its own). */
#define LK_TLS_OUT_BUF (LK_TLS_OUT_MAX + 4096u)
/* lk_tls_set_pools makes t take its input (LK_TLS_IN_MAX bytes) and output
 * (LK_TLS_OUT_BUF bytes) buffers from per-worker pools instead of malloc, so
 * a ring thread never allocates per request. Both pools belong to the
 * thread that uses t; call right after lk_tls_new. An empty pool is an
 * operating error for that connection (-ENOMEM). */
void lk_tls_set_pools(struct lk_tls *t, struct lk_pool *in, struct lk_pool *out);

/* lk_tls_feed hands ciphertext received from the peer to t. Borrows buf only
 * for the call: the bytes are copied into t's input buffer. Returns the bytes
 * accepted, which is less than len (possibly 0) when LK_TLS_IN_MAX would be
 * passed: the caller keeps the rest and feeds it again after lk_tls_read or
 * lk_tls_handshake consumed input. Returns the sticky error once t failed, or
 * -ENOMEM. Feeding never runs the engine, so it never produces output. */
ssize_t lk_tls_feed(struct lk_tls *t, const void *buf, size_t len);
/* lk_tls_handshake advances the handshake. Returns 0 once it is complete
 * (output may still be pending: flush it), LK_AGAIN when it needs more input
 * and/or has output to flush (check lk_tls_out_peek), or a negative error:
 * -EPROTO (protocol error, bad peer data), -ECONNRESET (peer sent a fatal
 * alert or closed during the handshake), -EKEYREJECTED (client: certificate
 * verification failed), -ENOMEM. Errors are sticky; after one, lk_tls_out_peek
 * may still hold an alert worth sending before the socket is closed. */
int lk_tls_handshake(struct lk_tls *t);
/* lk_tls_read decrypts plaintext into buf (borrowed, len > 0). Returns >0
 * bytes, 0 when the peer sent close_notify (clean EOF, sticky; writing stays
 * possible for half-close), LK_AGAIN when it needs more ciphertext or (rarely)
 * output flushed first, or a negative error as for lk_tls_handshake. Call it
 * until LK_AGAIN: plaintext of a record already decrypted is only returned
 * by lk_tls_read. Drives the handshake if it is not complete. */
ssize_t lk_tls_read(struct lk_tls *t, void *buf, size_t len);
/* lk_tls_write encrypts up to len bytes (len > 0) of buf (borrowed) into the
 * output queue. Returns the bytes accepted (>0, possibly < len), LK_AGAIN when
 * the queue is too full for even one byte (flush first), -EPIPE after
 * lk_tls_shutdown, or a negative error. Drives the handshake first if it is
 * not complete (LK_AGAIN until it is). Never accepts bytes it cannot queue:
 * nothing is retained from buf. */
ssize_t lk_tls_write(struct lk_tls *t, const void *buf, size_t len);
/* lk_tls_out_peek stores in *out a borrowed pointer to all pending ciphertext
 * (contiguous) and returns its length, 0 if none. The pointer stays valid
 * across lk_tls_feed, lk_tls_read, lk_tls_write, lk_tls_handshake and
 * lk_tls_shutdown (they only append), until lk_tls_out_consume or
 * lk_tls_free; so one send may be in flight while t keeps working. */
size_t lk_tls_out_peek(struct lk_tls *t, const void **out);
/* lk_tls_out_consume drops the first n (<= pending) bytes after they were
 * sent; the remainder moves to the front, and an emptied queue is freed. */
void lk_tls_out_consume(struct lk_tls *t, size_t n);
/* lk_tls_shutdown queues close_notify; the output must then be flushed. It
 * does not wait for the peer's close_notify. Returns 0 (also when already
 * sent), LK_AGAIN when the output queue is full (flush, call again),
 * -ENOTCONN before the handshake completed, or the sticky error. */
int lk_tls_shutdown(struct lk_tls *t);

/* lk_tls_handshake_done says whether the handshake has completed. */
bool lk_tls_handshake_done(const struct lk_tls *t);
/* lk_tls_version returns a static string such as "TLSv1.3" (for logs). */
const char *lk_tls_version(const struct lk_tls *t);
/* lk_tls_cipher returns the IETF name of the negotiated suite, such as
 * "TLS_AES_128_GCM_SHA256", or "" before the handshake (static string). */
const char *lk_tls_cipher(const struct lk_tls *t);
/* lk_tls_alpn returns "http/1.1" if ALPN selected it, else "" (static). */
const char *lk_tls_alpn(const struct lk_tls *t);
/* lk_tls_last_error returns a static string describing the error that made t
 * fail, e.g. "Hostname mismatch", "WRONG_VERSION_NUMBER", or "" if none. For
 * the connection's finish-path log line. */
const char *lk_tls_last_error(const struct lk_tls *t);
/* lk_tls_peer_sent_http says whether t failed because the peer sent a
 * plaintext HTTP request to the TLS port, so the caller may answer with a
 * plaintext 400 as Go's server does. */
bool lk_tls_peer_sent_http(const struct lk_tls *t);

#endif /* LK_CORE_TLS_H */
