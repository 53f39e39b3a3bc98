/* tests/unit/test_tls.c - core/tls: BoringSSL over memory.
 *
 * An in-process client lk_tls and server lk_tls talk to each other: the test
 * moves lk_tls_out_peek bytes of one into lk_tls_feed of the other, in chunks
 * from one byte to whole queues, so every partial-record path is exercised.
 * Certificates come from the `openssl` command at group setup (this file links
 * no TLS library; only core/tls.c includes BoringSSL). A last group runs
 * `openssl s_client` against the server over loopback TCP for ALPN and
 * refusal checks that our own client cannot produce. Heap held by an idle
 * connection is measured and printed, never asserted. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/dbg.h"
#include "core/err.h"
#include "core/tls.h"

/* Present when built with ASan (its malloc does not feed mallinfo2). */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

#define DIR_LEN 64
#define PATH_LEN 128
#define MIB (1024u * 1024)

static struct {
	char dir[DIR_LEN];
	char ec_cert[PATH_LEN], ec_key[PATH_LEN];
	char rsa_cert[PATH_LEN], rsa_key[PATH_LEN];
	char other_key[PATH_LEN], enc_key[PATH_LEN], garbage[PATH_LEN];
	struct lk_tls_ctx *srv_ec, *srv_rsa; /* servers */
	struct lk_tls_ctx *cli_skip;	     /* client, no verification */
	struct lk_tls_ctx *cli_ca;	     /* client trusting the EC cert */
	bool have_openssl;
} g;

/* ---- helpers ---- */

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* pat is the byte at offset i of the stream identified by seed, so the
 * receiver can check any slice without keeping a copy. */
static uint8_t pat(uint32_t seed, size_t i)
{
	return (uint8_t)(((uint64_t)(i + seed) * 2654435761u) >> 13);
}

static int run(const char *cmd)
{
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void path_in_dir(char *out, const char *name)
{
	snprintf(out, PATH_LEN, "%s/%s", g.dir, name);
}

static void make_ctx(struct lk_tls_ctx **out, struct lk_tls_ctx *ctx, const char *err)
{
	if (ctx == NULL)
		fprintf(stderr, "ctx: %s\n", err);
	*out = ctx;
}

/* gen_certs creates the EC and RSA self-signed pairs, a second EC key, an
 * encrypted copy of the EC key and a garbage file. */
static int gen_certs(void)
{
	static const char req[] = "openssl req -x509 -nodes -subj /CN=localhost "
				  "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2";
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "%s -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout %s -out %s 2>/dev/null",
		 req, g.ec_key, g.ec_cert);
	if (run(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s -newkey rsa:2048 -keyout %s -out %s 2>/dev/null", req,
		 g.rsa_key, g.rsa_cert);
	if (run(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s "
		 "2>/dev/null",
		 g.other_key);
	if (run(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "openssl pkey -in %s -aes256 -passout pass:secret -out %s 2>/dev/null", g.ec_key,
		 g.enc_key);
	if (run(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "printf 'not a certificate\\n' > %s", g.garbage);
	return run(cmd);
}

static int group_setup(void **state)
{
	char err[256];

	snprintf(g.dir, sizeof(g.dir), "/tmp/lk_test_tls.XXXXXX");
	if (mkdtemp(g.dir) == NULL)
		return -1;
	path_in_dir(g.ec_cert, "ec.crt");
	path_in_dir(g.ec_key, "ec.key");
	path_in_dir(g.rsa_cert, "rsa.crt");
	path_in_dir(g.rsa_key, "rsa.key");
	path_in_dir(g.other_key, "other.key");
	path_in_dir(g.enc_key, "enc.key");
	path_in_dir(g.garbage, "garbage.pem");
	if (gen_certs() != 0) {
		fprintf(stderr, "openssl could not generate test certificates\n");
		return -1;
	}
	if (lk_tls_lib_init() != 0)
		return -1;
	make_ctx(&g.srv_ec, lk_tls_ctx_new_server(g.ec_cert, g.ec_key, err, sizeof(err)), err);
	make_ctx(&g.srv_rsa, lk_tls_ctx_new_server(g.rsa_cert, g.rsa_key, err, sizeof(err)), err);
	make_ctx(&g.cli_skip, lk_tls_ctx_new_client(NULL, true, err, sizeof(err)), err);
	make_ctx(&g.cli_ca, lk_tls_ctx_new_client(g.ec_cert, false, err, sizeof(err)), err);
	if (!g.srv_ec || !g.srv_rsa || !g.cli_skip || !g.cli_ca)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[DIR_LEN + 16];

	lk_tls_ctx_free(g.srv_ec);
	lk_tls_ctx_free(g.srv_rsa);
	lk_tls_ctx_free(g.cli_skip);
	lk_tls_ctx_free(g.cli_ca);
	if (g.dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", g.dir);
		run(cmd);
	}
	return 0;
}

struct pair {
	struct lk_tls *c, *s;
};

static void pair_new(struct pair *p, struct lk_tls_ctx *cctx, const char *host,
		     struct lk_tls_ctx *sctx)
{
	p->c = lk_tls_new(cctx, host);
	p->s = lk_tls_new(sctx, NULL);
	assert_non_null(p->c);
	assert_non_null(p->s);
}

static void pair_free(struct pair *p)
{
	lk_tls_free(p->c);
	lk_tls_free(p->s);
	p->c = p->s = NULL;
}

/* move hands up to max pending bytes of from to to, like one send/recv round
 * trip. Returns the bytes accepted (or to's feed error); *out_short is set
 * when to's input buffer refused part of them. */
static ssize_t move(struct lk_tls *from, struct lk_tls *to, size_t max, bool *out_short)
{
	const void *p;
	size_t n = LK_MIN(lk_tls_out_peek(from, &p), max);

	if (n == 0)
		return 0;
	ssize_t a = lk_tls_feed(to, p, n);
	if (a > 0)
		lk_tls_out_consume(from, (size_t)a);
	if (out_short != NULL && a >= 0 && (size_t)a < n)
		*out_short = true;
	return a;
}

/* handshake drives both ends until both are done and nothing is in flight,
 * moving at most chunk bytes per direction per round. Returns 0, or the first
 * error with *out_side set to 'c' or 's'. */
static int handshake(struct pair *p, size_t chunk, char *out_side)
{
	for (int round = 0; round < 1000000; round++) {
		int rc = lk_tls_handshake(p->c);
		if (rc < 0 && rc != LK_AGAIN) {
			*out_side = 'c';
			return rc;
		}
		rc = lk_tls_handshake(p->s);
		if (rc < 0 && rc != LK_AGAIN) {
			*out_side = 's';
			return rc;
		}
		ssize_t a = move(p->c, p->s, chunk, NULL);
		ssize_t b = move(p->s, p->c, chunk, NULL);
		assert_true(a >= 0 && b >= 0);
		bool done = lk_tls_handshake_done(p->c) && lk_tls_handshake_done(p->s);
		if (a == 0 && b == 0) {
			/* Nothing moved after both ran: done, or stuck. */
			assert_true(done);
			return 0;
		}
	}
	fail_msg("handshake did not converge");
	return -1;
}

static void handshake_ok(struct pair *p, size_t chunk)
{
	char side = '?';
	int rc = handshake(p, chunk, &side);

	if (rc != 0)
		fail_msg("handshake failed on %c: %d (%s / %s)", side, rc, lk_tls_last_error(p->c),
			 lk_tls_last_error(p->s));
}

struct pump_opts {
	size_t total;	     /* bytes each way */
	size_t write_max;    /* plaintext per lk_tls_write call */
	size_t move_max;     /* ciphertext per move */
	size_t read_len;     /* lk_tls_read buffer */
	int reads_per_round; /* fewer reads than moves lets the input back up */
	bool vary;	     /* randomise sizes below the maxima */
};

struct pump_stats {
	unsigned write_again; /* lk_tls_write said LK_AGAIN */
	bool feed_short;      /* lk_tls_feed took less than offered */
};

struct end {
	struct lk_tls *t;
	uint32_t seed; /* pattern of the bytes this end sends */
	size_t sent, recvd;
};

/* pump_write lets e write its next bytes; returns the bytes accepted. */
static size_t pump_write(struct end *e, const struct pump_opts *o, uint32_t *rng,
			 struct pump_stats *st)
{
	static uint8_t tmp[64 * 1024];
	size_t n = LK_MIN(o->total - e->sent, o->write_max);

	if (n == 0)
		return 0;
	if (o->vary)
		n = 1 + xorshift(rng) % n;
	for (size_t i = 0; i < n; i++)
		tmp[i] = pat(e->seed, e->sent + i);
	ssize_t r = lk_tls_write(e->t, tmp, n);
	if (r == LK_AGAIN) {
		st->write_again++;
		return 0;
	}
	assert_true(r > 0 && (size_t)r <= n);
	e->sent += (size_t)r;
	return (size_t)r;
}

/* pump_read lets e read what from sent and checks every byte. */
static size_t pump_read(struct end *e, const struct end *from, const struct pump_opts *o)
{
	static uint8_t buf[64 * 1024];
	size_t got = 0;

	for (int i = 0; i < o->reads_per_round; i++) {
		ssize_t r = lk_tls_read(e->t, buf, LK_MIN(o->read_len, sizeof(buf)));
		if (r == LK_AGAIN)
			break;
		if (r <= 0)
			fail_msg("read: %zd (%s)", r, lk_tls_last_error(e->t));
		for (ssize_t k = 0; k < r; k++)
			if (buf[k] != pat(from->seed, e->recvd + (size_t)k))
				fail_msg("byte %zu differs", e->recvd + (size_t)k);
		e->recvd += (size_t)r;
		got += (size_t)r;
	}
	return got;
}

/* pump sends o->total bytes each way at once, with backpressure on both the
 * output queues and the input buffers, until both ends received everything. */
static void pump(struct pair *p, const struct pump_opts *o, struct pump_stats *st)
{
	struct end e[2] = { { .t = p->c, .seed = 0x1234 }, { .t = p->s, .seed = 0xbeef } };
	uint32_t rng = 0x9e3779b9;

	while (e[0].recvd < o->total || e[1].recvd < o->total) {
		size_t progress = 0;
		for (int i = 0; i < 2; i++) {
			struct end *me = &e[i], *peer = &e[1 - i];
			progress += pump_write(me, o, &rng, st);
			size_t max = o->vary ? 1 + xorshift(&rng) % o->move_max : o->move_max;
			ssize_t a = move(me->t, peer->t, max, &st->feed_short);
			assert_true(a >= 0);
			progress += (size_t)a;
			progress += pump_read(peer, me, o);
		}
		if (progress == 0)
			fail_msg("pump stalled at %zu/%zu", e[0].recvd, e[1].recvd);
	}
	assert_int_equal(e[0].sent, o->total);
	assert_int_equal(e[1].sent, o->total);
}

/* close_both sends close_notify both ways and checks the clean EOFs. */
static void close_both(struct pair *p, size_t chunk)
{
	uint8_t buf[64];

	assert_int_equal(lk_tls_shutdown(p->c), 0);
	while (move(p->c, p->s, chunk, NULL) > 0)
		;
	assert_int_equal(lk_tls_read(p->s, buf, sizeof(buf)), 0);
	assert_int_equal(lk_tls_shutdown(p->s), 0);
	while (move(p->s, p->c, chunk, NULL) > 0)
		;
	assert_int_equal(lk_tls_read(p->c, buf, sizeof(buf)), 0);
}

/* exchange sends msg client -> server and back, through whole moves. */
static void exchange(struct pair *p, const char *msg)
{
	char buf[256];
	size_t len = strlen(msg);

	assert_int_equal(lk_tls_write(p->c, msg, len), (ssize_t)len);
	while (move(p->c, p->s, SIZE_MAX, NULL) > 0)
		;
	assert_int_equal(lk_tls_read(p->s, buf, sizeof(buf)), (ssize_t)len);
	assert_memory_equal(buf, msg, len);
	assert_int_equal(lk_tls_read(p->s, buf, sizeof(buf)), LK_AGAIN);
	assert_int_equal(lk_tls_write(p->s, msg, len), (ssize_t)len);
	while (move(p->s, p->c, SIZE_MAX, NULL) > 0)
		;
	assert_int_equal(lk_tls_read(p->c, buf, sizeof(buf)), (ssize_t)len);
	assert_memory_equal(buf, msg, len);
}

static struct lk_tls_ctx *client_max(int v)
{
	char err[256];
	struct lk_tls_ctx *ctx = lk_tls_ctx_new_client(NULL, true, err, sizeof(err));

	assert_non_null(ctx);
	assert_int_equal(lk_tls_ctx_set_max_version(ctx, v), 0);
	return ctx;
}

/* ---- handshakes and suites ---- */

static void check_session(struct pair *p, const char *version, const char *cipher_prefix)
{
	for (int i = 0; i < 2; i++) {
		struct lk_tls *t = i == 0 ? p->c : p->s;
		assert_string_equal(lk_tls_version(t), version);
		assert_non_null(strstr(lk_tls_cipher(t), cipher_prefix));
		/* AEAD only: GCM or ChaCha20-Poly1305. */
		const char *cipher = lk_tls_cipher(t);
		assert_true(strstr(cipher, "GCM") || strstr(cipher, "CHACHA20"));
		assert_string_equal(lk_tls_alpn(t), "http/1.1");
		assert_string_equal(lk_tls_last_error(t), "");
	}
}

static void test_tls13_ec(void **state)
{
	struct pair p;

	pair_new(&p, g.cli_skip, "localhost", g.srv_ec);
	assert_false(lk_tls_handshake_done(p.s));
	assert_string_equal(lk_tls_cipher(p.s), "");
	handshake_ok(&p, SIZE_MAX);
	check_session(&p, "TLSv1.3", "TLS_");
	exchange(&p, "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n");
	close_both(&p, SIZE_MAX);
	pair_free(&p);
}

static void test_tls13_rsa(void **state)
{
	struct pair p;

	pair_new(&p, g.cli_skip, "localhost", g.srv_rsa);
	handshake_ok(&p, SIZE_MAX);
	check_session(&p, "TLSv1.3", "TLS_");
	exchange(&p, "ping");
	close_both(&p, SIZE_MAX);
	pair_free(&p);
}

static void test_tls12_ec(void **state)
{
	struct lk_tls_ctx *cctx = client_max(12);
	struct pair p;

	pair_new(&p, cctx, "localhost", g.srv_ec);
	handshake_ok(&p, SIZE_MAX);
	check_session(&p, "TLSv1.2", "TLS_ECDHE_ECDSA_WITH_");
	exchange(&p, "ping");
	close_both(&p, SIZE_MAX);
	pair_free(&p);
	lk_tls_ctx_free(cctx);
}

static void test_tls12_rsa(void **state)
{
	struct lk_tls_ctx *cctx = client_max(12);
	struct pair p;

	pair_new(&p, cctx, "localhost", g.srv_rsa);
	handshake_ok(&p, SIZE_MAX);
	check_session(&p, "TLSv1.2", "TLS_ECDHE_RSA_WITH_");
	exchange(&p, "ping");
	close_both(&p, SIZE_MAX);
	pair_free(&p);
	lk_tls_ctx_free(cctx);
}

static void test_max_version_invalid(void **state)
{
	assert_int_equal(lk_tls_ctx_set_max_version(g.cli_skip, 11), -EINVAL);
	assert_int_equal(lk_tls_ctx_set_max_version(g.cli_skip, 14), -EINVAL);
	assert_non_null(strstr(lk_tls_lib_version(), "BoringSSL"));
}

/* ---- delivery patterns ---- */

static void byte_at_a_time(struct lk_tls_ctx *cctx, struct lk_tls_ctx *sctx)
{
	struct pump_opts o = { .total = 3000, .write_max = 700, .move_max = 1, .read_len = 5,
			       .reads_per_round = 1 };
	struct pump_stats st = { 0 };
	struct pair p;

	pair_new(&p, cctx, "localhost", sctx);
	handshake_ok(&p, 1);
	pump(&p, &o, &st);
	close_both(&p, 1);
	pair_free(&p);
}

static void test_byte_at_a_time_tls13(void **state)
{
	byte_at_a_time(g.cli_skip, g.srv_ec);
	byte_at_a_time(g.cli_skip, g.srv_rsa);
}

static void test_byte_at_a_time_tls12(void **state)
{
	struct lk_tls_ctx *cctx = client_max(12);

	byte_at_a_time(cctx, g.srv_ec);
	byte_at_a_time(cctx, g.srv_rsa);
	lk_tls_ctx_free(cctx);
}

/* large moves 1 MiB each way. Moves bigger than the reads let the receiver's
 * input fill (partial feeds) and its peer's output queue fill (write
 * LK_AGAIN): both backpressure paths must be taken. */
static void large(struct lk_tls_ctx *cctx, bool vary)
{
	struct pump_opts o = { .total = MIB, .write_max = 40000, .move_max = 48 * 1024,
			       .read_len = 4096, .reads_per_round = 2, .vary = vary };
	struct pump_stats st = { 0 };
	struct pair p;

	pair_new(&p, cctx, "localhost", g.srv_ec);
	handshake_ok(&p, SIZE_MAX);
	pump(&p, &o, &st);
	printf("  1 MiB each way (%s, %s): write LK_AGAIN %u times, short feed %s\n",
	       lk_tls_version(p.s), vary ? "random sizes" : "fixed sizes", st.write_again,
	       st.feed_short ? "yes" : "no");
	assert_true(st.write_again > 0);
	assert_true(st.feed_short);
	close_both(&p, SIZE_MAX);
	pair_free(&p);
}

static void test_large_tls13(void **state)
{
	large(g.cli_skip, false);
	large(g.cli_skip, true);
}

static void test_large_tls12(void **state)
{
	struct lk_tls_ctx *cctx = client_max(12);

	large(cctx, false);
	large(cctx, true);
	lk_tls_ctx_free(cctx);
}

/* The output queue never takes more than LK_TLS_OUT_MAX of plaintext's
 * records, and a peeked pointer survives further writes. */
static void test_write_bounded(void **state)
{
	static uint8_t data[256 * 1024];
	struct pump_opts o = { .read_len = 16384, .reads_per_round = 1000 };
	struct end rx = { 0 }, tx = { .seed = 7 };
	struct pair p;
	const void *q1, *q2;

	pair_new(&p, g.cli_skip, "localhost", g.srv_ec);
	handshake_ok(&p, SIZE_MAX);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = pat(tx.seed, i);
	ssize_t r = lk_tls_write(p.c, data, 100);
	assert_int_equal(r, 100);
	size_t n1 = lk_tls_out_peek(p.c, &q1);
	uint8_t first[128];
	memcpy(first, q1, n1);
	size_t total = 100;
	while ((r = lk_tls_write(p.c, data + total, sizeof(data) - total)) > 0)
		total += (size_t)r;
	assert_int_equal(r, LK_AGAIN);
	size_t n2 = lk_tls_out_peek(p.c, &q2);
	assert_ptr_equal(q1, q2);
	assert_memory_equal(q2, first, n1);
	assert_true(n2 <= LK_TLS_OUT_MAX);
	assert_true(total < LK_TLS_OUT_MAX && total > LK_TLS_OUT_MAX - 1024);
	/* A partial send keeps the rest at the front. */
	lk_tls_out_consume(p.c, 10);
	assert_int_equal(lk_tls_out_peek(p.c, &q2), n2 - 10);
	assert_int_equal(lk_tls_feed(p.s, first, 10), 10);
	rx.t = p.s;
	for (int i = 0; rx.recvd < total && i < 1000; i++) {
		assert_true(move(p.c, p.s, SIZE_MAX, NULL) >= 0);
		pump_read(&rx, &tx, &o);
	}
	assert_int_equal(rx.recvd, total);
	pair_free(&p);
}

/* ---- close_notify and half-close ---- */

static void test_close_notify(void **state)
{
	struct pair p;
	char buf[64];

	pair_new(&p, g.cli_skip, "localhost", g.srv_ec);
	assert_int_equal(lk_tls_shutdown(p.c), -ENOTCONN);
	handshake_ok(&p, SIZE_MAX);
	assert_int_equal(lk_tls_write(p.c, "ping", 4), 4);
	assert_int_equal(lk_tls_shutdown(p.c), 0);
	assert_int_equal(lk_tls_shutdown(p.c), 0);
	assert_int_equal(lk_tls_write(p.c, "more", 4), -EPIPE);
	while (move(p.c, p.s, SIZE_MAX, NULL) > 0)
		;
	assert_int_equal(lk_tls_read(p.s, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(lk_tls_read(p.s, buf, sizeof(buf)), 0);
	assert_int_equal(lk_tls_read(p.s, buf, sizeof(buf)), 0);
	/* Half-close: the server still writes after the client's EOF. */
	assert_int_equal(lk_tls_write(p.s, "pong", 4), 4);
	assert_int_equal(lk_tls_shutdown(p.s), 0);
	while (move(p.s, p.c, SIZE_MAX, NULL) > 0)
		;
	assert_int_equal(lk_tls_read(p.c, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_int_equal(lk_tls_read(p.c, buf, sizeof(buf)), 0);
	pair_free(&p);
}

/* ---- hostile input ---- */

static void test_garbage_http(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	struct lk_tls *s = lk_tls_new(g.srv_ec, NULL);

	assert_non_null(s);
	assert_int_equal(lk_tls_feed(s, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	assert_int_equal(lk_tls_handshake(s), -EPROTO);
	assert_true(lk_tls_peer_sent_http(s));
	printf("  plaintext HTTP: %s\n", lk_tls_last_error(s));
	assert_string_not_equal(lk_tls_last_error(s), "");
	/* Sticky. */
	assert_int_equal(lk_tls_feed(s, req, 4), -EPROTO);
	assert_int_equal(lk_tls_handshake(s), -EPROTO);
	lk_tls_free(s);
}

static void test_garbage_random(void **state)
{
	uint8_t junk[4096];
	uint32_t rng = 42;
	struct pair p;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)xorshift(&rng);
	/* Looks like a handshake record header, then noise. */
	junk[0] = 0x16, junk[1] = 0x03, junk[2] = 0x01, junk[3] = 0x02, junk[4] = 0x00;
	struct lk_tls *s = lk_tls_new(g.srv_ec, NULL);
	assert_int_equal(lk_tls_feed(s, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	int rc = lk_tls_handshake(s);
	printf("  random after a record header: %d (%s)\n", rc, lk_tls_last_error(s));
	assert_true(rc < 0 && rc != LK_AGAIN);
	lk_tls_free(s);

	/* A client that sent its ClientHello gets noise back. */
	pair_new(&p, g.cli_skip, "localhost", g.srv_ec);
	assert_int_equal(lk_tls_handshake(p.c), LK_AGAIN);
	assert_int_equal(lk_tls_feed(p.c, junk + 5, sizeof(junk) - 5), (ssize_t)sizeof(junk) - 5);
	rc = lk_tls_handshake(p.c);
	assert_true(rc < 0 && rc != LK_AGAIN);
	pair_free(&p);
}

/* A flipped bit in an application record fails the read; the alert the
 * server then sends fails the client's read as a reset. */
static void test_corrupt_record(void **state)
{
	uint8_t rec[256], buf[64];
	const void *q;
	struct pair p;

	pair_new(&p, g.cli_skip, "localhost", g.srv_ec);
	handshake_ok(&p, SIZE_MAX);
	assert_int_equal(lk_tls_write(p.c, "hello world", 11), 11);
	size_t n = lk_tls_out_peek(p.c, &q);
	assert_true(n > 11 && n <= sizeof(rec));
	memcpy(rec, q, n);
	rec[n - 3] ^= 0x40;
	lk_tls_out_consume(p.c, n);
	assert_int_equal(lk_tls_feed(p.s, rec, n), (ssize_t)n);
	assert_int_equal(lk_tls_read(p.s, buf, sizeof(buf)), -EPROTO);
	printf("  corrupt record: %s\n", lk_tls_last_error(p.s));
	assert_int_equal(lk_tls_read(p.s, buf, sizeof(buf)), -EPROTO);
	assert_int_equal(lk_tls_write(p.s, "x", 1), -EPROTO);
	move(p.s, p.c, SIZE_MAX, NULL);
	assert_int_equal(lk_tls_read(p.c, buf, sizeof(buf)), -ECONNRESET);
	printf("  client after the alert: %s\n", lk_tls_last_error(p.c));
	pair_free(&p);
}

/* The input buffer is bounded, and feeding resumes after the engine read. */
static void test_feed_bounded(void **state)
{
	static uint8_t zeros[100 * 1024];
	struct lk_tls *s = lk_tls_new(g.srv_ec, NULL);

	assert_int_equal(lk_tls_feed(s, zeros, sizeof(zeros)), (ssize_t)LK_TLS_IN_MAX);
	assert_int_equal(lk_tls_feed(s, zeros, sizeof(zeros)), 0);
	int rc = lk_tls_handshake(s);
	assert_true(rc < 0 && rc != LK_AGAIN);
	assert_int_equal(lk_tls_feed(s, zeros, 1), rc);
	lk_tls_free(s);
}

/* ---- certificate verification (client) ---- */

static int verify_against(struct lk_tls_ctx *cctx, const char *host, struct lk_tls_ctx *sctx,
			  char *out_side, char *why, size_t why_len)
{
	struct pair p;

	pair_new(&p, cctx, host, sctx);
	int rc = handshake(&p, SIZE_MAX, out_side);
	snprintf(why, why_len, "%s", lk_tls_last_error(*out_side == 's' ? p.s : p.c));
	if (rc == -EKEYREJECTED) {
		/* The client's alert reaches the server as a reset. */
		move(p.c, p.s, SIZE_MAX, NULL);
		assert_int_equal(lk_tls_handshake(p.s), -ECONNRESET);
	}
	pair_free(&p);
	return rc;
}

static void test_verify_ca(void **state)
{
	char side = '?', why[128];

	int rc = verify_against(g.cli_ca, "localhost", g.srv_ec, &side, why, sizeof(why));
	assert_int_equal(rc, 0);
	rc = verify_against(g.cli_ca, "127.0.0.1", g.srv_ec, &side, why, sizeof(why));
	assert_int_equal(rc, 0);
}

static void test_verify_hostname_mismatch(void **state)
{
	char side = '?', why[128];

	int rc = verify_against(g.cli_ca, "example.com", g.srv_ec, &side, why, sizeof(why));
	printf("  wrong name: %d on %c (%s)\n", rc, side, why);
	assert_int_equal(rc, -EKEYREJECTED);
	assert_int_equal(side, 'c');
	assert_non_null(strstr(why, "ostname"));
	rc = verify_against(g.cli_ca, "10.0.0.1", g.srv_ec, &side, why, sizeof(why));
	assert_int_equal(rc, -EKEYREJECTED);
}

static void test_verify_untrusted(void **state)
{
	char side = '?', why[128];
	char err[256];

	int rc = verify_against(g.cli_ca, "localhost", g.srv_rsa, &side, why, sizeof(why));
	printf("  untrusted: %d on %c (%s)\n", rc, side, why);
	assert_int_equal(rc, -EKEYREJECTED);
	/* The system store does not know our self-signed certificate either. */
	struct lk_tls_ctx *sys = lk_tls_ctx_new_client(NULL, false, err, sizeof(err));
	if (sys == NULL) {
		printf("  no system CA bundle here: %s\n", err);
		return;
	}
	rc = verify_against(sys, "localhost", g.srv_ec, &side, why, sizeof(why));
	assert_int_equal(rc, -EKEYREJECTED);
	lk_tls_ctx_free(sys);
}

/* ---- context errors name the variable, the file and the reason ---- */

static void expect_server_err(const char *cert, const char *key, const char *want1,
			      const char *want2)
{
	char err[256];
	struct lk_tls_ctx *ctx = lk_tls_ctx_new_server(cert, key, err, sizeof(err));

	printf("  %s\n", err);
	assert_null(ctx);
	assert_non_null(strstr(err, want1));
	assert_non_null(strstr(err, want2));
}

static void test_ctx_errors(void **state)
{
	char missing[PATH_LEN], err[256];

	snprintf(missing, sizeof(missing), "%s/missing.pem", g.dir);
	expect_server_err(missing, g.ec_key, "TLS_CERT: ", "missing.pem: cannot read");
	expect_server_err(g.ec_cert, missing, "TLS_KEY: ", "missing.pem: cannot read");
	expect_server_err(g.ec_cert, g.other_key, "TLS_KEY: ", "does not match");
	expect_server_err(g.rsa_cert, g.ec_key, "TLS_KEY: ", "does not match");
	expect_server_err(g.garbage, g.ec_key, "TLS_CERT: ", "no PEM certificate");
	expect_server_err(g.ec_key, g.ec_key, "TLS_CERT: ", "no PEM certificate");
	expect_server_err(g.ec_cert, g.ec_cert, "TLS_KEY: ", "no usable PEM private key");
	expect_server_err(g.ec_cert, g.enc_key, "TLS_KEY: ", "encrypted");
	expect_server_err(g.dir, g.ec_key, "TLS_CERT: ", "cannot read");
	/* A zero-length message buffer is allowed. */
	assert_null(lk_tls_ctx_new_server(missing, g.ec_key, err, 0));

	assert_null(lk_tls_ctx_new_client(missing, false, err, sizeof(err)));
	printf("  %s\n", err);
	assert_non_null(strstr(err, "CA_CERT: "));
	assert_non_null(strstr(err, "cannot read"));
	assert_null(lk_tls_ctx_new_client(g.garbage, true, err, sizeof(err)));
	assert_non_null(strstr(err, "CA_CERT: "));
	/* A good pair yields an empty message. */
	struct lk_tls_ctx *ctx = lk_tls_ctx_new_server(g.ec_cert, g.ec_key, err, sizeof(err));
	assert_non_null(ctx);
	assert_string_equal(err, "");
	lk_tls_ctx_free(ctx);
	lk_tls_ctx_free(NULL);
	lk_tls_free(NULL);
}

/* ---- memory held by an idle connection (printed, not asserted) ---- */

static size_t heap_bytes(void)
{
	if (__sanitizer_get_current_allocated_bytes != NULL)
		return __sanitizer_get_current_allocated_bytes();
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* idle_cost measures one end (server if measure_server) after a handshake
 * and one request/response, i.e. a keep-alive connection between requests. */
static void idle_cost(const char *label, struct lk_tls_ctx *cctx, struct lk_tls_ctx *sctx,
		      bool measure_server)
{
	struct pair p;

	/* Warm up: the first handshake on a ctx builds lazily cached state. */
	pair_new(&p, cctx, "localhost", sctx);
	handshake_ok(&p, SIZE_MAX);
	pair_free(&p);

	size_t base = heap_bytes();
	struct lk_tls *mine =
		measure_server ? lk_tls_new(sctx, NULL) : lk_tls_new(cctx, "localhost");
	size_t fresh = heap_bytes() - base;
	struct lk_tls *other =
		measure_server ? lk_tls_new(cctx, "localhost") : lk_tls_new(sctx, NULL);
	p.c = measure_server ? other : mine;
	p.s = measure_server ? mine : other;
	handshake_ok(&p, SIZE_MAX);
	exchange(&p, "GET /containers/json HTTP/1.1\r\nHost: x\r\n\r\n");
	lk_tls_free(other);
	size_t idle = heap_bytes() - base;
	printf("  idle %s %-22s fresh %6zu B, after handshake + 1 request %6zu B (%.1f KiB)\n",
	       measure_server ? "server" : "client", label, fresh, idle, idle / 1024.0);
	lk_tls_free(mine);
}

static void test_idle_memory(void **state)
{
	struct lk_tls_ctx *c12 = client_max(12);

	bool asan = __sanitizer_get_current_allocated_bytes != NULL;
	printf("  heap counter: %s\n", asan ? "ASan allocated bytes" : "mallinfo2");
	idle_cost("TLS1.3 ECDSA P-256", g.cli_skip, g.srv_ec, true);
	idle_cost("TLS1.3 RSA-2048", g.cli_skip, g.srv_rsa, true);
	idle_cost("TLS1.2 ECDSA P-256", c12, g.srv_ec, true);
	idle_cost("TLS1.2 RSA-2048", c12, g.srv_rsa, true);
	idle_cost("TLS1.3 ECDSA (verify)", g.cli_ca, g.srv_ec, false);
	idle_cost("TLS1.3 RSA (no verify)", g.cli_skip, g.srv_rsa, false);
	lk_tls_ctx_free(c12);
}

/* ---- interop with `openssl s_client` over loopback TCP ---- */

static int listen_loopback(uint16_t *out_port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*out_port = ntohs(sa.sin_port);
	return fd;
}

static pid_t spawn_s_client(uint16_t port, const char *a1, const char *a2, const char *a3)
{
	char connect[32];

	snprintf(connect, sizeof(connect), "127.0.0.1:%u", port);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0), dup2(nul, 1), dup2(nul, 2);
		execlp("openssl", "openssl", "s_client", "-connect", connect, "-servername",
		       "localhost", a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void flush_to(int fd, struct lk_tls *t)
{
	const void *q;
	size_t n;

	while ((n = lk_tls_out_peek(t, &q)) > 0) {
		ssize_t w = send(fd, q, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		lk_tls_out_consume(t, (size_t)w);
	}
}

/* serve_one accepts one connection and runs the server handshake over it.
 * Returns the handshake result; the caller frees *out_t. */
static int serve_one(int lfd, struct lk_tls **out_t)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	uint8_t buf[16384];
	int rc = -ETIMEDOUT;

	assert_int_equal(poll(&pfd, 1, 10000), 1);
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	struct lk_tls *t = lk_tls_new(g.srv_ec, NULL);
	for (int i = 0; i < 200; i++) {
		rc = lk_tls_handshake(t);
		flush_to(fd, t);
		if (rc != LK_AGAIN)
			break;
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) != 1)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0) {
			rc = -ECONNRESET;
			break;
		}
		assert_int_equal(lk_tls_feed(t, buf, (size_t)n), n);
	}
	close(fd);
	*out_t = t;
	return rc;
}

static void reap(pid_t pid)
{
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* s_client runs one s_client with up to three extra arguments (NULL ends)
 * and returns our server's handshake result, the server in *out_t. */
static int s_client(const char *a1, const char *a2, const char *a3, struct lk_tls **out_t)
{
	uint16_t port;
	int lfd = listen_loopback(&port);
	pid_t pid = spawn_s_client(port, a1, a2, a3);
	int rc = serve_one(lfd, out_t);

	close(lfd);
	reap(pid);
	return rc;
}

static void test_s_client(void **state)
{
	struct lk_tls *t;

	if (!g.have_openssl)
		skip();
	assert_int_equal(s_client("-alpn", "h2", NULL, &t), 0);
	printf("  s_client -alpn h2: %s %s, ALPN \"%s\"\n", lk_tls_version(t), lk_tls_cipher(t),
	       lk_tls_alpn(t));
	assert_string_equal(lk_tls_alpn(t), "");
	lk_tls_free(t);

	assert_int_equal(s_client("-alpn", "h2,http/1.1", NULL, &t), 0);
	assert_string_equal(lk_tls_alpn(t), "http/1.1");
	lk_tls_free(t);

	int rc = s_client("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", &t);
	printf("  s_client -tls1_1: %d (%s)\n", rc, lk_tls_last_error(t));
	assert_int_equal(rc, -EPROTO);
	lk_tls_free(t);

	rc = s_client("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA", &t);
	printf("  s_client -tls1_2 CBC: %d (%s)\n", rc, lk_tls_last_error(t));
	assert_int_equal(rc, -EPROTO);
	lk_tls_free(t);

	rc = s_client("-tls1_2", "-curves", "P-384", &t);
	printf("  s_client -tls1_2 -curves P-384: %d (%s)\n", rc, lk_tls_last_error(t));
	assert_true(rc < 0 && rc != LK_AGAIN);
	lk_tls_free(t);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls13_ec),
		cmocka_unit_test(test_tls13_rsa),
		cmocka_unit_test(test_tls12_ec),
		cmocka_unit_test(test_tls12_rsa),
		cmocka_unit_test(test_max_version_invalid),
		cmocka_unit_test(test_byte_at_a_time_tls13),
		cmocka_unit_test(test_byte_at_a_time_tls12),
		cmocka_unit_test(test_large_tls13),
		cmocka_unit_test(test_large_tls12),
		cmocka_unit_test(test_write_bounded),
		cmocka_unit_test(test_close_notify),
		cmocka_unit_test(test_garbage_http),
		cmocka_unit_test(test_garbage_random),
		cmocka_unit_test(test_corrupt_record),
		cmocka_unit_test(test_feed_bounded),
		cmocka_unit_test(test_verify_ca),
		cmocka_unit_test(test_verify_hostname_mismatch),
		cmocka_unit_test(test_verify_untrusted),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_idle_memory),
		cmocka_unit_test(test_s_client),
	};

	/* Without the openssl command there are no certificates: skip. */
	if (run("openssl version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "openssl command not found: skipping\n");
		return 77;
	}
	g.have_openssl = true;
	/* glibc's tcache keeps freed chunks counted as in use by mallinfo2,
	 * which makes the idle-memory deltas meaningless: without ASan (whose
	 * counter is exact), re-run once with the tcache off. If exec fails the
	 * figures are merely approximate. */
	if (__sanitizer_get_current_allocated_bytes == NULL && getenv("GLIBC_TUNABLES") == NULL) {
		setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
		execv("/proc/self/exe", argv);
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
