/* core/tls.c - TLS over memory: BoringSSL behind a custom BIO.
 *
 * The only file (with core/crypto.c) that includes BoringSSL. BoringSSL reads
 * ciphertext through bio_read from t->in, which lk_tls_feed fills, and writes
 * ciphertext through bio_write into t->out, which the worker drains with
 * lk_tls_out_peek/lk_tls_out_consume. Its 1/0 results, SSL_get_error and its
 * thread-local error queue are converted and emptied here (ssl_fail), so the
 * rest of the program sees 0 / LK_AGAIN / -errno and a static reason string.
 *
 * A custom BIO rather than BIO_new_bio_pair: a pair allocates both of its
 * buffers on first use and keeps them until the BIO is freed, which would pin
 * ~100 KiB to every idle keep-alive connection. Here both buffers are freed as
 * soon as they are empty, and BoringSSL frees its own record buffers when
 * empty (its SSL_MODE_RELEASE_BUFFERS is 0 because that is always on), so an
 * idle connection holds only the SSL object and its negotiated keys.
 * Invariants and the memory budget: docs/internals/TLS.md. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/base.h>
#ifndef OPENSSL_IS_BORINGSSL
#error "core/tls.c needs BoringSSL (-I/usr/include/android), not OpenSSL"
#endif
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/dbg.h"
#include "core/err.h"
#include "core/pool.h"
#include "core/tls.h"

/* Room above LK_TLS_OUT_MAX for records BoringSSL writes on its own (alerts,
 * close_notify, a KeyUpdate acknowledgment, a handshake flight): lk_tls_write
 * stops at LK_TLS_OUT_MAX, so these always fit and a partly written record,
 * which BoringSSL would insist on retrying with the same plaintext, never
 * happens on the lk_tls_write path. */
#define OUT_SLACK (4u * 1024)
#define OUT_CAP (LK_TLS_OUT_MAX + OUT_SLACK)
/* Largest plaintext per record (BoringSSL's default max_send_fragment). */
#define RECORD_PLAIN_MAX 16384u
/* File size bounds: a certificate chain or key, and a CA bundle (Debian's is
 * about 220 KiB). */
#define PEM_FILE_MAX (1u << 20)
#define CA_FILE_MAX (8u << 20)

#define STR_(x) #x
#define STR(x) STR_(x)

LK_STATIC_ASSERT(LK_TLS_IN_MAX >= 5 + RECORD_PLAIN_MAX + 256,
		 "the input buffer must hold one record of maximum size");
LK_STATIC_ASSERT(OUT_CAP <= INT_MAX, "bio_write returns sizes as int");
LK_STATIC_ASSERT(OUT_CAP == LK_TLS_OUT_BUF, "pool objects hold one output queue");

struct lk_tls_ctx {
	SSL_CTX *ssl_ctx;
	bool server;
	bool verify; /* client: peer certificate is verified */
};

struct lk_tls {
	SSL *ssl;	     /* owns the BIO, whose data points back at this */
	uint8_t *in;	     /* NULL or LK_TLS_IN_MAX bytes; unread: [in_off, in_len) */
	uint8_t *out;	     /* NULL or OUT_CAP bytes; pending: [0, out_len) */
	uint32_t in_off;
	uint32_t in_len;
	uint32_t out_len;
	int fatal;	     /* 0, or the sticky negative error */
	uint32_t err_packed; /* BoringSSL error that made t fail, 0 if none */
	long verify_result;  /* X509_V_OK unless verification failed */
	const char *why;     /* our own failure reason (static), or NULL */
	bool eof;	     /* close_notify received */
	bool shut_sent;	     /* close_notify queued */
	bool oom;	     /* bio_write could not allocate */
	bool http;	     /* peer spoke plaintext HTTP */
	struct lk_pool *in_pool;  /* per-worker buffer pools, or NULL: malloc */
	struct lk_pool *out_pool;
};

/* buf_get/buf_put take I/O buffers from the worker's pools when the
 * connection has them (ring threads never malloc per request), else from
 * the heap (one-shot clients such as healthcheck). */
static void *buf_get(struct lk_pool *p, size_t size)
{
	if (p == NULL)
		return malloc(size);
	LK_ASSERT(p->obj_size >= size);
	return lk_pool_get(p);
}

static void buf_put(struct lk_pool *p, void *buf)
{
	if (buf == NULL)
		return;
	if (p == NULL)
		free(buf);
	else
		lk_pool_put(p, buf);
}

/* The BIO method is process-wide and immutable once built. */
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *bio_method;

/* The six TLS 1.2 suites of the spec (ECDHE + AEAD). The strict setter fails
 * on any unknown name, so a typo cannot silently drop a suite. TLS 1.3 suites
 * are fixed by BoringSSL (AES-GCM and ChaCha20-Poly1305 only). */
static const char k_tls12_suites[] = "ECDHE-ECDSA-AES256-GCM-SHA384:"
				     "ECDHE-RSA-AES256-GCM-SHA384:"
				     "ECDHE-ECDSA-AES128-GCM-SHA256:"
				     "ECDHE-RSA-AES128-GCM-SHA256:"
				     "ECDHE-ECDSA-CHACHA20-POLY1305:"
				     "ECDHE-RSA-CHACHA20-POLY1305";
static const char k_groups[] = "X25519:P-256";
/* ALPN wire format: one length-prefixed name. We speak HTTP/1.1 only. */
static const uint8_t k_alpn_h11[] = "\x08http/1.1";

/* Where Go (and so the reference agent) looks for the system CA bundle. */
static const char *const k_system_ca_files[] = {
	"/etc/ssl/certs/ca-certificates.crt",		    /* Debian, Ubuntu, Gentoo */
	"/etc/pki/tls/certs/ca-bundle.crt",		    /* Fedora, RHEL 6 */
	"/etc/ssl/ca-bundle.pem",			    /* OpenSUSE */
	"/etc/pki/tls/cacert.pem",			    /* OpenELEC */
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* CentOS, RHEL 7 */
	"/etc/ssl/cert.pem",				    /* Alpine */
};

/* ---- custom BIO: BoringSSL's only view of the connection ---- */

/* bio_read serves BoringSSL from t->in. An empty buffer is "retry", which
 * BoringSSL reports as SSL_ERROR_WANT_READ: wait for the next recv. */
static int bio_read(BIO *bio, char *out, int len)
{
	struct lk_tls *t = BIO_get_data(bio);

	BIO_clear_retry_flags(bio);
	LK_DASSERT(len >= 0 && t->in_off <= t->in_len);
	size_t n = LK_MIN((size_t)len, (size_t)(t->in_len - t->in_off));
	if (n == 0) {
		BIO_set_retry_read(bio);
		return -1;
	}
	memcpy(out, t->in + t->in_off, n);
	t->in_off += (uint32_t)n;
	return (int)n;
}

/* bio_write appends ciphertext to t->out, allocating it on first use. A full
 * queue is "retry" (SSL_ERROR_WANT_WRITE: flush first); BoringSSL keeps the
 * unwritten part of a record and retries it. Failing to allocate is an error
 * without retry, which surfaces as SSL_ERROR_SYSCALL. */
static int bio_write(BIO *bio, const char *data, int len)
{
	struct lk_tls *t = BIO_get_data(bio);

	BIO_clear_retry_flags(bio);
	LK_DASSERT(len >= 0 && t->out_len <= OUT_CAP);
	size_t n = LK_MIN((size_t)len, (size_t)(OUT_CAP - t->out_len));
	if (n == 0) {
		BIO_set_retry_write(bio);
		return -1;
	}
	if (t->out == NULL) {
		t->out = buf_get(t->out_pool, OUT_CAP);
		if (t->out == NULL) {
			t->oom = true;
			return -1;
		}
	}
	memcpy(t->out + t->out_len, data, n);
	t->out_len += (uint32_t)n;
	return (int)n;
}

/* bio_ctrl: BoringSSL flushes after each flight; the queue needs nothing. */
static long bio_ctrl(BIO *bio, int cmd, long larg, void *parg)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static void lib_init_once(void)
{
	CRYPTO_library_init();
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lk_tls");
	if (m == NULL)
		return;
	if (!BIO_meth_set_read(m, bio_read) || !BIO_meth_set_write(m, bio_write) ||
	    !BIO_meth_set_ctrl(m, bio_ctrl)) {
		BIO_meth_free(m);
		return;
	}
	bio_method = m;
}

int lk_tls_lib_init(void)
{
	pthread_once(&lib_once, lib_init_once);
	ERR_clear_error();
	return bio_method != NULL ? 0 : -ENOMEM;
}

const char *lk_tls_lib_version(void)
{
	return "BoringSSL (API " STR(BORINGSSL_API_VERSION) ")";
}

/* ---- context construction (start-up only: reads files, may be slow) ---- */

/* drain_reason empties the error queue and returns the reason of its newest
 * entry as a static string, for "(...)" suffixes of start-up messages. */
static const char *drain_reason(void)
{
	uint32_t e = ERR_peek_last_error();
	const char *s = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return s != NULL ? s : "unknown error";
}

/* read_file reads the whole regular file at path, at most max bytes, into
 * *out_data (malloc'd, caller frees and wipes if secret). Returns 0 or
 * -errno (-EFBIG when larger than max). */
static int read_file(const char *path, size_t max, uint8_t **out_data, size_t *out_len)
{
	struct stat st;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = 0;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1) {
		rc = -errno;
		goto out_close;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out_close;
	}
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, data + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = -errno;
			explicit_bzero(data, len);
			free(data);
			goto out_close;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out_data = data;
	*out_len = len;
out_close:
	close(fd);
	return rc;
}

/* file_err formats the message for a file that could not be read. */
static void file_err(char *err, size_t err_len, const char *var, const char *path, int rc)
{
	char buf[128];

	if (rc == -EFBIG)
		lk_errf(err, err_len, "%s: %s: cannot read: file too large", var, path);
	else
		lk_errf(err, err_len, "%s: %s: cannot read: %s", var, path,
			strerror_r(-rc, buf, sizeof(buf)));
}

/* pem_at_eof says whether the last failed PEM read only hit the end of the
 * data (as opposed to a malformed block), and empties the error queue. */
static bool pem_at_eof(void)
{
	uint32_t e = ERR_peek_last_error();

	ERR_clear_error();
	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* use_chain installs the leaf and chain certificates PEM-encoded in mem on
 * sc and stores a new reference to the leaf in *out_leaf. Returns 0, -ENOENT
 * (no certificate), -EBADMSG (a malformed certificate) or -ENOMEM. */
static int use_chain(SSL_CTX *sc, BIO *mem, X509 **out_leaf)
{
	X509 *leaf = PEM_read_bio_X509(mem, NULL, NULL, NULL);
	if (leaf == NULL)
		return pem_at_eof() ? -ENOENT : -EBADMSG;
	if (!SSL_CTX_use_certificate(sc, leaf)) {
		X509_free(leaf);
		return -EBADMSG;
	}
	/* Intermediates follow the leaf; other PEM blocks (say, a key in the
	 * same file) are skipped by the PEM reader. Bounded by the file size. */
	for (;;) {
		X509 *x = PEM_read_bio_X509(mem, NULL, NULL, NULL);
		if (x == NULL)
			break;
		if (!SSL_CTX_add0_chain_cert(sc, x)) {
			X509_free(x);
			X509_free(leaf);
			return -ENOMEM;
		}
	}
	if (!pem_at_eof()) {
		X509_free(leaf);
		return -EBADMSG;
	}
	*out_leaf = leaf;
	return 0;
}

/* load_chain reads TLS_CERT into sc. Returns a reference to the leaf (for the
 * key check) or NULL with a message in err. */
static X509 *load_chain(SSL_CTX *sc, const char *path, char *err, size_t err_len)
{
	uint8_t *data;
	size_t len;
	X509 *leaf = NULL;

	int rc = read_file(path, PEM_FILE_MAX, &data, &len);
	if (rc != 0) {
		file_err(err, err_len, "TLS_CERT", path, rc);
		return NULL;
	}
	BIO *mem = BIO_new_mem_buf(data, (int)len);
	rc = mem != NULL ? use_chain(sc, mem, &leaf) : -ENOMEM;
	if (rc == -ENOENT)
		lk_errf(err, err_len, "TLS_CERT: %s: no PEM certificate found", path);
	else if (rc != 0)
		lk_errf(err, err_len, "TLS_CERT: %s: invalid certificate (%s)", path,
			drain_reason());
	BIO_free(mem);
	free(data);
	ERR_clear_error();
	return leaf;
}

/* no_password refuses to decrypt: an encrypted key would need a prompt. */
static int no_password(char *buf, int size, int rwflag, void *userdata)
{
	return 0;
}

/* load_key reads the private key at path. Returns it or NULL with a message
 * in err. The file's bytes are wiped before they are freed. */
static EVP_PKEY *load_key(const char *path, char *err, size_t err_len)
{
	uint8_t *data;
	size_t len;

	int rc = read_file(path, PEM_FILE_MAX, &data, &len);
	if (rc != 0) {
		file_err(err, err_len, "TLS_KEY", path, rc);
		return NULL;
	}
	BIO *mem = BIO_new_mem_buf(data, (int)len);
	EVP_PKEY *pkey = mem != NULL ? PEM_read_bio_PrivateKey(mem, NULL, no_password, NULL) : NULL;
	if (pkey == NULL)
		lk_errf(err, err_len,
			"TLS_KEY: %s: no usable PEM private key (%s; encrypted keys are not "
			"supported)",
			path, drain_reason());
	BIO_free(mem);
	OPENSSL_cleanse(data, len);
	free(data);
	ERR_clear_error();
	return pkey;
}

/* alpn_select picks http/1.1 when the client offers it; otherwise the
 * handshake goes on without ALPN (a client offering only h2 then falls back
 * to HTTP/1.1, which is what it gets). in is BoringSSL-validated wire format;
 * the walk is bounded by in_len anyway. */
static int alpn_select(SSL *ssl, const uint8_t **out, uint8_t *out_len, const uint8_t *in,
		       unsigned in_len, void *arg)
{
	const uint8_t *p = in, *end = in + in_len;

	while (p < end) {
		size_t n = *p++;
		if (n > (size_t)(end - p))
			break;
		if (n == sizeof(k_alpn_h11) - 2 && memcmp(p, k_alpn_h11 + 1, n) == 0) {
			*out = p;
			*out_len = (uint8_t)n;
			return SSL_TLSEXT_ERR_OK;
		}
		p += n;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* ctx_alloc builds a context with the policy shared by both roles.
 *
 * No session resumption, on purpose: BoringSSL's server session cache is one
 * locked table shared by every worker (against shared-nothing), tickets would
 * need process-wide keys and, for TLS 1.2, resumption skips ECDHE and so
 * weakens forward secrecy; our clients (Docker CLI, controller) keep
 * connections alive, so a full handshake is rare. Clients do not resume
 * either: the edge tunnel dials once and stays up. */
static struct lk_tls_ctx *ctx_alloc(bool server, char *err, size_t err_len)
{
	if (lk_tls_lib_init() != 0) {
		lk_errf(err, err_len, "TLS: out of memory");
		return NULL;
	}
	struct lk_tls_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		lk_errf(err, err_len, "TLS: out of memory");
		return NULL;
	}
	ctx->server = server;
	ctx->ssl_ctx = SSL_CTX_new(TLS_method());
	SSL_CTX *sc = ctx->ssl_ctx;
	if (sc == NULL || !SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION) ||
	    !SSL_CTX_set_strict_cipher_list(sc, k_tls12_suites) ||
	    !SSL_CTX_set1_curves_list(sc, k_groups)) {
		lk_errf(err, err_len, "TLS: cannot configure the TLS policy (%s)", drain_reason());
		lk_tls_ctx_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
	if (server) {
		SSL_CTX_set_num_tickets(sc, 0);
		SSL_CTX_set_alpn_select_cb(sc, alpn_select, NULL);
		/* No client certificates: a server's default is SSL_VERIFY_NONE,
		 * which does not send a CertificateRequest. */
	} else if (SSL_CTX_set_alpn_protos(sc, k_alpn_h11, sizeof(k_alpn_h11) - 1) != 0) {
		/* Note the inverted convention: 0 is success. */
		lk_errf(err, err_len, "TLS: out of memory");
		lk_tls_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

struct lk_tls_ctx *lk_tls_ctx_new_server(const char *cert_path, const char *key_path, char *err,
					 size_t err_len)
{
	lk_errf(err, err_len, "%s", "");
	struct lk_tls_ctx *ctx = ctx_alloc(true, err, err_len);
	if (ctx == NULL)
		return NULL;
	X509 *leaf = load_chain(ctx->ssl_ctx, cert_path, err, err_len);
	if (leaf == NULL)
		goto out_free_ctx;
	EVP_PKEY *pkey = load_key(key_path, err, err_len);
	if (pkey == NULL)
		goto out_free_leaf;
	/* Checked here, not left to SSL_CTX_use_PrivateKey, so the message
	 * says which file is wrong in words an operator understands. */
	if (!X509_check_private_key(leaf, pkey)) {
		lk_errf(err, err_len, "TLS_KEY: %s: key does not match the certificate in "
				      "TLS_CERT (%s)",
			key_path, cert_path);
		goto out_free_key;
	}
	if (!SSL_CTX_use_PrivateKey(ctx->ssl_ctx, pkey)) {
		lk_errf(err, err_len, "TLS_KEY: %s: key rejected (%s)", key_path, drain_reason());
		goto out_free_key;
	}
	EVP_PKEY_free(pkey);
	X509_free(leaf);
	ERR_clear_error();
	return ctx;

out_free_key:
	EVP_PKEY_free(pkey);
out_free_leaf:
	X509_free(leaf);
out_free_ctx:
	lk_tls_ctx_free(ctx);
	ERR_clear_error();
	return NULL;
}

/* add_ca_certs adds every PEM certificate in mem to st. Returns how many, or
 * -EBADMSG for a malformed block. */
static int add_ca_certs(X509_STORE *st, BIO *mem)
{
	int n = 0;

	for (;;) {
		X509 *x = PEM_read_bio_X509(mem, NULL, NULL, NULL);
		if (x == NULL)
			break;
		/* A duplicate in a bundle is harmless; only a real failure
		 * (allocation) aborts the load. */
		if (!X509_STORE_add_cert(st, x) &&
		    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
			X509_free(x);
			return -ENOMEM;
		}
		ERR_clear_error();
		X509_free(x);
		n++;
	}
	return pem_at_eof() ? n : -EBADMSG;
}

/* load_ca loads the bundle at path (named var in messages) into sc's store.
 * Returns false with a message in err. */
static bool load_ca(SSL_CTX *sc, const char *var, const char *path, char *err, size_t err_len)
{
	uint8_t *data;
	size_t len;

	int rc = read_file(path, CA_FILE_MAX, &data, &len);
	if (rc != 0) {
		file_err(err, err_len, var, path, rc);
		return false;
	}
	BIO *mem = BIO_new_mem_buf(data, (int)len);
	rc = mem != NULL ? add_ca_certs(SSL_CTX_get_cert_store(sc), mem) : -ENOMEM;
	if (rc == 0)
		lk_errf(err, err_len, "%s: %s: no PEM certificate found", var, path);
	else if (rc < 0)
		lk_errf(err, err_len, "%s: %s: invalid certificate (%s)", var, path,
			drain_reason());
	BIO_free(mem);
	free(data);
	ERR_clear_error();
	return rc > 0;
}

/* system_ca_file returns $SSL_CERT_FILE if set (as Go honours it), else the
 * first readable well-known bundle, else NULL. */
static const char *system_ca_file(const char **out_var)
{
	const char *env = getenv("SSL_CERT_FILE");

	if (env != NULL && env[0] != '\0') {
		*out_var = "SSL_CERT_FILE";
		return env;
	}
	*out_var = "CA_CERT";
	for (size_t i = 0; i < LK_ARRAY_SIZE(k_system_ca_files); i++)
		if (access(k_system_ca_files[i], R_OK) == 0)
			return k_system_ca_files[i];
	return NULL;
}

struct lk_tls_ctx *lk_tls_ctx_new_client(const char *ca_path, bool skip_verify, char *err,
					 size_t err_len)
{
	const char *var = "CA_CERT";

	lk_errf(err, err_len, "%s", "");
	struct lk_tls_ctx *ctx = ctx_alloc(false, err, err_len);
	if (ctx == NULL)
		return NULL;
	ctx->verify = !skip_verify;
	SSL_CTX_set_verify(ctx->ssl_ctx, skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	/* An explicit CA_CERT is loaded (and its errors reported) even with
	 * skip_verify, as the reference does; the system bundle only when it
	 * will be used. Loaded into memory now, never looked up on disk later:
	 * X509 hash-dir lookups would read files on the ring thread. */
	if (ca_path == NULL && !skip_verify) {
		ca_path = system_ca_file(&var);
		if (ca_path == NULL) {
			lk_errf(err, err_len, "CA_CERT: unset and no system CA bundle found "
					      "(set CA_CERT or SSL_CERT_FILE)");
			goto out_free_ctx;
		}
	}
	if (ca_path != NULL && !load_ca(ctx->ssl_ctx, var, ca_path, err, err_len))
		goto out_free_ctx;
	ERR_clear_error();
	return ctx;

out_free_ctx:
	lk_tls_ctx_free(ctx);
	ERR_clear_error();
	return NULL;
}

int lk_tls_ctx_set_max_version(struct lk_tls_ctx *ctx, int v)
{
	uint16_t version;

	if (v == 12)
		version = TLS1_2_VERSION;
	else if (v == 13)
		version = TLS1_3_VERSION;
	else
		return -EINVAL;
	if (!SSL_CTX_set_max_proto_version(ctx->ssl_ctx, version)) {
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

void lk_tls_ctx_free(struct lk_tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

/* ---- connections ---- */

/* set_peer_name configures SNI and the name the certificate must carry. IP
 * literals get no SNI (RFC 6066 section 3) and are matched against IP SANs.
 * Returns 0 or -EINVAL. */
static int set_peer_name(SSL *ssl, const char *host, bool verify)
{
	uint8_t addr[16];

	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
		if (verify && !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host))
			return -EINVAL;
		return 0;
	}
	if (!SSL_set_tlsext_host_name(ssl, host))
		return -EINVAL;
	if (!verify)
		return 0;
	/* Like Go: names come only from SANs, never from the subject CN. */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	return SSL_set1_host(ssl, host) ? 0 : -EINVAL;
}

struct lk_tls *lk_tls_new(struct lk_tls_ctx *ctx, const char *sni_host)
{
	LK_ASSERT(bio_method != NULL); /* a ctx exists, so lk_tls_lib_init ran */
	LK_ASSERT(ctx->server ? sni_host == NULL : (sni_host != NULL || !ctx->verify));

	struct lk_tls *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->verify_result = X509_V_OK;
	t->ssl = SSL_new(ctx->ssl_ctx);
	BIO *bio = BIO_new(bio_method);
	if (t->ssl == NULL || bio == NULL) {
		BIO_free(bio);
		goto out_free;
	}
	BIO_set_data(bio, t);
	BIO_set_init(bio, 1);
	SSL_set_bio(t->ssl, bio, bio); /* one reference, owned by the SSL */
	/* Drop the copied configuration (certificate, key, suite list) once the
	 * handshake is done: it is the bulk of an idle connection otherwise. */
	SSL_set_shed_handshake_config(t->ssl, 1);
	if (ctx->server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (sni_host != NULL && set_peer_name(t->ssl, sni_host, ctx->verify) != 0)
			goto out_free;
	}
	return t;

out_free:
	ERR_clear_error();
	lk_tls_free(t);
	return NULL;
}

void lk_tls_free(struct lk_tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl); /* frees the BIO; BoringSSL wipes its own state */
	/* The buffers hold only ciphertext (wire bytes), so they are not wiped. */
	buf_put(t->in_pool, t->in);
	buf_put(t->out_pool, t->out);
	explicit_bzero(t, sizeof(*t));
	free(t);
}

void lk_tls_set_pools(struct lk_tls *t, struct lk_pool *in, struct lk_pool *out)
{
	LK_ASSERT(t->in == NULL && t->out == NULL);
	t->in_pool = in;
	t->out_pool = out;
}

/* in_release_if_empty frees the input buffer once BoringSSL has read all of
 * it, so idle connections hold none. Called after every SSL_* call. */
static void in_release_if_empty(struct lk_tls *t)
{
	LK_DASSERT(t->in_off <= t->in_len);
	if (t->in != NULL && t->in_off == t->in_len) {
		buf_put(t->in_pool, t->in);
		t->in = NULL;
		t->in_off = 0;
		t->in_len = 0;
	}
}

ssize_t lk_tls_feed(struct lk_tls *t, const void *buf, size_t len)
{
	if (t->fatal != 0)
		return t->fatal;
	uint32_t held = t->in_len - t->in_off;
	size_t n = LK_MIN(len, (size_t)(LK_TLS_IN_MAX - held));
	if (n == 0)
		return 0;
	if (t->in == NULL) {
		t->in = buf_get(t->in_pool, LK_TLS_IN_MAX);
		if (t->in == NULL)
			return -ENOMEM;
	}
	/* Compact only when the tail lacks room: BoringSSL reads records in
	 * order, so the unread bytes are usually few by then. */
	if (t->in_len + n > LK_TLS_IN_MAX) {
		memmove(t->in, t->in + t->in_off, held);
		t->in_off = 0;
		t->in_len = held;
	}
	memcpy(t->in + t->in_len, buf, n);
	t->in_len += (uint32_t)n;
	return (ssize_t)n;
}

/* error_code classifies the failure in BoringSSL's error queue, records it in
 * t for lk_tls_last_error and empties the queue. The newest SSL-library entry
 * is the most specific one (lower layers push first). */
static int error_code(struct lk_tls *t)
{
	uint32_t e, pick = 0;

	while ((e = ERR_get_error()) != 0) {
		bool ssl_lib = ERR_GET_LIB(e) == ERR_LIB_SSL;
		if (pick == 0 || ssl_lib || ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
			pick = e;
	}
	t->err_packed = pick;
	int reason = ERR_GET_REASON(pick);
	if (pick == 0)
		return -EPROTO;
	if (reason == ERR_R_MALLOC_FAILURE)
		return -ENOMEM;
	if (ERR_GET_LIB(pick) != ERR_LIB_SSL)
		return -EPROTO;
	if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		t->verify_result = SSL_get_verify_result(t->ssl);
		return -EKEYREJECTED;
	}
	if (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST) {
		t->http = true;
		return -EPROTO;
	}
	/* BoringSSL reports a received alert as SSL_AD_REASON_OFFSET + alert. */
	if (reason >= SSL_AD_REASON_OFFSET)
		return -ECONNRESET;
	return -EPROTO;
}

/* ssl_fail converts the failed result ret of an SSL_* call on t: want-read
 * and want-write become LK_AGAIN, a received close_notify 0; anything else is
 * recorded, made sticky and returned as -errno. Always empties the queue. */
static int ssl_fail(struct lk_tls *t, int ret)
{
	int rc;

	switch (SSL_get_error(t->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		ERR_clear_error();
		return LK_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		/* Our BIO fails without a retry flag only when out of memory. */
		ERR_clear_error();
		rc = t->oom ? -ENOMEM : -EIO;
		t->why = t->oom ? "out of memory" : "I/O error";
		break;
	case SSL_ERROR_SSL:
		rc = error_code(t);
		break;
	default:
		/* Callback-driven modes we never enable (X509 lookup, async). */
		ERR_clear_error();
		rc = -EPROTO;
		t->why = "unexpected BoringSSL state";
		break;
	}
	LK_DASSERT(rc < 0);
	t->fatal = rc;
	return rc;
}

int lk_tls_handshake(struct lk_tls *t)
{
	if (t->fatal != 0)
		return t->fatal;
	if (!SSL_in_init(t->ssl))
		return 0;
	ERR_clear_error();
	int ret = SSL_do_handshake(t->ssl);
	in_release_if_empty(t);
	if (ret == 1)
		return 0;
	int rc = ssl_fail(t, ret);
	if (rc == 0) {
		/* close_notify before the handshake finished: not a clean EOF. */
		t->why = "peer closed during the handshake";
		t->fatal = rc = -ECONNRESET;
	}
	return rc;
}

ssize_t lk_tls_read(struct lk_tls *t, void *buf, size_t len)
{
	LK_ASSERT(len > 0); /* 0 would be indistinguishable from EOF */
	if (t->fatal != 0)
		return t->fatal;
	if (t->eof)
		return 0;
	ERR_clear_error();
	int ret = SSL_read(t->ssl, buf, (int)LK_MIN(len, (size_t)INT_MAX));
	in_release_if_empty(t);
	if (ret > 0)
		return ret;
	int rc = ssl_fail(t, ret);
	if (rc == 0)
		t->eof = true;
	return rc;
}

/* write_room returns how much plaintext lk_tls_write may take so that all of
 * its records fit in the queue below LK_TLS_OUT_MAX: each record carries at
 * most RECORD_PLAIN_MAX bytes plus SSL_max_seal_overhead (header, explicit
 * nonce, tag, TLS 1.3 content type). */
static size_t write_room(const struct lk_tls *t)
{
	if (t->out_len >= LK_TLS_OUT_MAX)
		return 0;
	size_t room = LK_TLS_OUT_MAX - t->out_len;
	size_t ov = SSL_max_seal_overhead(t->ssl);
	size_t full = room / (RECORD_PLAIN_MAX + ov);
	size_t rest = room % (RECORD_PLAIN_MAX + ov);

	return full * RECORD_PLAIN_MAX + (rest > ov ? rest - ov : 0);
}

ssize_t lk_tls_write(struct lk_tls *t, const void *buf, size_t len)
{
	LK_ASSERT(len > 0);
	if (t->fatal != 0)
		return t->fatal;
	if (t->shut_sent)
		return -EPIPE;
	if (SSL_in_init(t->ssl)) {
		int rc = lk_tls_handshake(t);
		if (rc != 0)
			return rc;
	}
	size_t n = LK_MIN(len, write_room(t));
	if (n == 0)
		return LK_AGAIN;
	ERR_clear_error();
	int ret = SSL_write(t->ssl, buf, (int)n);
	if (ret > 0) {
		LK_DASSERT((size_t)ret == n);
		return ret;
	}
	int rc = ssl_fail(t, ret);
	if (rc == LK_AGAIN || rc == 0) {
		/* write_room reserved space for every record, so only a wrong
		 * overhead estimate gets here. BoringSSL would now insist on being
		 * called again with the same plaintext, which we promised never
		 * to hold on to: fail the connection instead. */
		LK_DASSERT(rc != LK_AGAIN);
		t->why = "output queue overflow";
		t->fatal = rc = -ENOBUFS;
	}
	return rc;
}

size_t lk_tls_out_peek(struct lk_tls *t, const void **out)
{
	*out = t->out;
	return t->out_len;
}

void lk_tls_out_consume(struct lk_tls *t, size_t n)
{
	LK_ASSERT(n <= t->out_len);
	t->out_len -= (uint32_t)n;
	if (t->out_len == 0) {
		buf_put(t->out_pool, t->out);
		t->out = NULL;
		return;
	}
	/* A partial send: keep the queue contiguous from the front, so peek
	 * stays a single pointer and appends never move pending bytes. */
	memmove(t->out, t->out + n, t->out_len);
}

int lk_tls_shutdown(struct lk_tls *t)
{
	if (t->fatal != 0)
		return t->fatal;
	if (SSL_in_init(t->ssl))
		return -ENOTCONN;
	/* A second SSL_shutdown would go on to wait for the peer's close_notify,
	 * which is the read side's business. */
	if (t->shut_sent)
		return 0;
	ERR_clear_error();
	int ret = SSL_shutdown(t->ssl);
	if (ret >= 0) {
		t->shut_sent = true;
		return 0;
	}
	return ssl_fail(t, ret);
}

bool lk_tls_handshake_done(const struct lk_tls *t)
{
	return !SSL_in_init(t->ssl);
}

const char *lk_tls_version(const struct lk_tls *t)
{
	return SSL_get_version(t->ssl);
}

const char *lk_tls_cipher(const struct lk_tls *t)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);

	return c != NULL ? SSL_CIPHER_standard_name(c) : "";
}

const char *lk_tls_alpn(const struct lk_tls *t)
{
	const uint8_t *p;
	unsigned len;

	SSL_get0_alpn_selected(t->ssl, &p, &len);
	if (len == sizeof(k_alpn_h11) - 2 && memcmp(p, k_alpn_h11 + 1, len) == 0)
		return "http/1.1";
	return "";
}

const char *lk_tls_last_error(const struct lk_tls *t)
{
	if (t->why != NULL)
		return t->why;
	if (t->verify_result != X509_V_OK)
		return X509_verify_cert_error_string(t->verify_result);
	if (t->err_packed != 0) {
		const char *s = ERR_reason_error_string(t->err_packed);
		return s != NULL ? s : "TLS error";
	}
	return "";
}

bool lk_tls_peer_sent_http(const struct lk_tls *t)
{
	return t->http;
}
