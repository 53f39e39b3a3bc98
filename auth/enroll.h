/* auth/enroll.h - enrollment: bootstrap one Ed25519 key with a one-shot token
 * (spec lookout-core 6.6, "Model C"; issue 4 point 5).
 *
 * This is the logic only. proxy/session.c owns the HTTP side: the route, the
 * LK_ENROLL_BODY_MAX bound (413), the failed-auth limiter, logging, the audit
 * event and the response body. After LK_ENROLL_OK the caller also reloads the
 * key registry (lk_registry_load, then lk_registry_swap); a failed reload is
 * logged and the request still succeeds (spec 6.6 step 8). Nothing here logs:
 * functions hand back the reason as text for the caller to log.
 *
 * A request goes through two calls, in the spec's order of answers:
 * lk_enroll_parse (step 1: 400 "invalid JSON") then lk_enroll_attempt
 * (steps 4-9: burned, wrong token, bad public_key, write, burn). Parse
 * already decodes public_key, but its verdict is only reported by attempt
 * after the token checks, so a wrong token with a bad key is a 401, as in
 * the reference.
 *
 * Secrets. Only SHA-256 digests of tokens are kept: the configured token's
 * in struct lk_enroll, the presented one's in struct lk_enroll_req (the
 * decoded JSON string is hashed as soon as the parser yields it, and the
 * parser's buffers are wiped). Comparing digests in constant time means
 * neither the token's bytes nor its length leak through timing, and a token
 * of any length can be presented, so no bound on it is needed.
 *
 * The burn survives a restart (DESIGN.md decision 4; the reference re-armed
 * the same token on restart, spec 15 item 21). On success the lower-case hex
 * SHA-256 of the token and a newline are written to the burn file,
 * `<keys_path>` + LK_ENROLL_BURN_SUFFIX, next to the configured
 * authorized_keys path: it needs no configuration of its own, it is on the
 * same file system, and an operator who moves the keys moves it along. At
 * start-up the enroller begins burned if that file holds the digest of the
 * current token; a file holding another digest means the operator issued a
 * new token, which is armed. Deleting the file re-arms the same token.
 *
 * Writing. Both files are replaced atomically, never appended to in place: a
 * temporary file in the same directory (O_CREAT|O_EXCL, mode 0600), fsync,
 * rename over the target, fsync of the directory. A crash leaves the old or
 * the new file, never a torn line, and the registry never sees half a key
 * (at worst a `<name>.tmp-XXXXXX` file is left beside it, which nothing
 * reads).
 * Consequences: the authorized_keys file ends up mode 0600 whatever its mode
 * was (0640 becomes 0600), owned by the agent's user; a symlink at keys_path
 * is followed and its target replaced (as the reference's O_APPEND write did);
 * an edit made by someone else between our read and our rename is lost (the
 * reference's append would have kept it: enrollment is a one-off at setup).
 * The keys file is written first and the burn file second: a crash between
 * the two leaves the key in and the token armed, the same as the reference
 * after any restart.
 *
 * Concurrency contract (STYLE.md 12; the enroller is shared by all workers):
 * - Shared state is one atomic word, ARMED -> BUSY -> BURNED, with BUSY ->
 *   ARMED when writing the key fails. Everything else in struct lk_enroll
 *   (the digest, the paths) is written by lk_enroll_new only and read-only
 *   while workers run.
 * - lk_enroll_attempt may run on any number of threads at once. Readers of
 *   the word use acquire loads. A right-token attempt claims the enroller
 *   with one CAS ARMED -> BUSY (acq_rel); the single winner alone touches the
 *   files and then stores BURNED or ARMED (release). A loser sees BURNED (the
 *   answer is BURNED) or BUSY (the answer is LK_ENROLL_BUSY: the winner may
 *   yet fail, so "already used" would be a lie). Hence, without a lock,
 *   exactly one attempt ever succeeds per token, and the files have one
 *   writer at a time: a winner's release store happens before the next
 *   winner's CAS.
 * - Attempts with a wrong token or a bad key never claim the word, so they
 *   are answered at once even while another enrollment is writing (they are
 *   ordered before it, when the token was not yet burned).
 * - lk_enroll_new and lk_enroll_free run while no attempt can (start-up,
 *   shutdown).
 * lk_enroll_attempt does blocking file I/O with fsync: run it off the ring
 * (e.g. on the verifier pool), or accept that one worker stalls for the few
 * milliseconds of the one enrollment an agent sees. */
#ifndef LK_AUTH_ENROLL_H
#define LK_AUTH_ENROLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/keys.h"
#include "core/crypto.h"

#define LK_ENROLL_BODY_MAX	 (64 * 1024) /* request body bytes; larger is 413 (spec 16) */
#define LK_ENROLL_BURN_SUFFIX	 ".enrolled" /* burn file = keys_path + this */
#define LK_ENROLL_COMMENT_PREFIX "enrolled:" /* comment of an enrolled key: prefix + key ID */
#define LK_ENROLL_MSG_MAX	 1024	     /* a msg/err buffer this size holds any message */

struct lk_enroll;

/* enum lk_enroll_verdict is lk_enroll_attempt's decision. Each value's
 * comment gives the HTTP answer (lk_enroll_status, lk_enroll_message), the
 * spec 6.6 log line and audit outcome the caller emits, and what msg holds. */
enum lk_enroll_verdict {
	LK_ENROLL_OK,	   /* 200 {"key_id":..,"comment":"enrolled:<id>"}; INFO "enrollment
			    * successful", audit allowed with key_id; burned. msg is "" or, when
			    * something is not durable (the burn file could not be written, so
			    * a restart re-arms the token), the reason to log at ERROR */
	LK_ENROLL_BURNED,  /* 401 "enrollment token already used"; WARN "enrollment attempt
			    * after token burned", audit denied, key_id "" */
	LK_ENROLL_WRONG,   /* 401 "unauthorized"; WARN "enrollment failed: wrong token", audit
			    * denied, key_id ""; the token stays armed */
	LK_ENROLL_BAD_KEY, /* 400, msg is the answer ("public_key: invalid base64" or
			    * "public_key: expected 32 bytes, got <n>"); not audited, not burned */
	LK_ENROLL_BUSY,	   /* 503 "enrollment in progress": another thread holds the right
			    * token and is writing; not in the reference (it queued on a mutex);
			    * not audited, not counted as a failure; the client may retry */
	LK_ENROLL_IO,	   /* 500 "internal server error"; ERROR "enrollment failed: cannot
			    * write authorized_keys" with msg as the reason; not audited; the
			    * key is not in the file and the token stays armed */
	LK_ENROLL__COUNT
};

/* struct lk_enroll_req is one parsed request body. The caller embeds it (on
 * the stack), fills it with lk_enroll_parse and wipes it with
 * lk_enroll_req_done; the fields are private. */
struct lk_enroll_req {
	uint8_t _token_sha256[LK_SHA256_LEN]; /* SHA-256 of enrollment_token ("" if absent) */
	uint8_t _pub[LK_ED25519_PUB_LEN];     /* public_key, when _key_state says it decoded */
	uint8_t _key_state;		      /* private enum in enroll.c */
	size_t _key_len;		      /* decoded bytes of public_key, for the message */
};

/* lk_enroll_new returns an enroller for the enrollment token token[0..len)
 * (borrowed; only its SHA-256 is kept) and the authorized_keys file at
 * keys_path (borrowed, copied). It reads the burn file (see above): missing
 * means armed; holding the current token's digest means burned; another
 * digest means armed (a new token). An empty token starts burned (spec 6.6
 * step 4, "or token empty"). Returns NULL with the reason in err (err_len
 * bytes, NUL-terminated when err_len > 0) when keys_path is empty or too
 * long, or when the burn file exists but cannot be read or does not hold 64
 * hex digits: start-up fails closed rather than re-arming a token that may
 * have been used, and err names the file. Blocking I/O; start-up only. */
struct lk_enroll *lk_enroll_new(const char *token, size_t len, const char *keys_path, char *err,
				size_t err_len);

/* lk_enroll_free wipes and frees e. Accepts NULL. No attempt may be running. */
void lk_enroll_free(struct lk_enroll *e);

/* lk_enroll_burned returns true once a token has been used, at start-up
 * (from the burn file) or by a successful attempt. An acquire load; any
 * thread. */
bool lk_enroll_burned(const struct lk_enroll *e);

/* lk_enroll_parse decodes the body body[0..len) (borrowed; the caller wipes
 * it, it holds the token) as {"enrollment_token": "<string>", "public_key":
 * "<standard base64 with padding of 32 bytes>"} into *out, which it fully
 * initialises. Unknown members are ignored; a missing (or null) member is an
 * empty string, as with Go's decoder: the token is then wrong, the key "got
 * 0". public_key is decoded here strictly (no whitespace, canonical padding
 * bits: Go's decoder also skipped CR and LF and ignored those bits) but its
 * verdict is kept for lk_enroll_attempt. Returns 0; -EINVAL with msg
 * "invalid JSON" for anything lk_json_scan_object refuses (syntax, trailing
 * data, not an object, a named member that is not a string); -E2BIG with
 * msg "request body too large" above LK_ENROLL_BODY_MAX (the caller checks
 * first and answers 413); -ENOMEM with msg "out of memory" (a 500). On
 * error *out is wiped. No I/O, thread-safe;
 * allocates inside yajl. */
int lk_enroll_parse(const char *body, size_t len, struct lk_enroll_req *out, char *msg,
		    size_t msg_len);

/* lk_enroll_req_done wipes rq. */
void lk_enroll_req_done(struct lk_enroll_req *rq);

/* lk_enroll_attempt decides the request rq (borrowed) and, for the one
 * attempt that wins, appends `ed25519 <base64> enrolled:<key ID>\n` to the
 * authorized_keys file (after a '\n' if the file did not end with one; the
 * key re-encoded from its bytes), writes the burn file, and marks e burned.
 * Checks in the spec's order: burned, token, public_key. On LK_ENROLL_OK
 * writes the 16-hex-digit key ID and a NUL to out_key_id (not touched
 * otherwise). msg (msg_len bytes, NUL-terminated when msg_len > 0; "" when
 * there is nothing to say) holds what the verdict's comment says: the 400
 * answer, the reason for the 500, or an ERROR to log on success. Safe on any
 * number of threads at once (see the contract above); blocking I/O. */
enum lk_enroll_verdict lk_enroll_attempt(struct lk_enroll *e, const struct lk_enroll_req *rq,
					 char out_key_id[LK_KEYS_ID_LEN + 1], char *msg,
					 size_t msg_len);

/* lk_enroll_status returns the HTTP status for v (200, 400, 401, 500, 503). */
int lk_enroll_status(enum lk_enroll_verdict v);

/* lk_enroll_message returns the text of the error answer for v: msg (the one
 * lk_enroll_attempt filled, borrowed) for LK_ENROLL_BAD_KEY, a static string
 * for the other errors, NULL for LK_ENROLL_OK (whose answer is the key_id
 * and comment object). */
const char *lk_enroll_message(enum lk_enroll_verdict v, const char *msg);

#endif /* LK_AUTH_ENROLL_H */
