"""Enrollment (issue 4, point 5; spec lookout-core 6.6): POST
/api/lookout/enroll (alias /api/portwing/enroll) with the one-shot
ENROLLMENT_TOKEN appends the key to AUTHORIZED_KEYS atomically and loads
it; the burn survives a restart; failed attempts do not burn the token and
count for the failed-auth limiter; every attempt that reaches the token
check is audited."""
import base64
import json
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

ENROLL = "enroll-" + "7" * 24


def audit_lines(path, pred, timeout=10.0):
    """Audit records matching pred, waiting (bounded) until at least one does."""
    out = []

    def have():
        out.clear()
        if os.path.exists(path):
            with open(path) as f:
                out.extend(r for r in (json.loads(ln) for ln in f if ln.strip()) if pred(r))
        return bool(out)
    lk.wait_until(have, timeout, "audit record")
    return list(out)


class Enroll(lk.TestCase):
    def setUp(self):
        self.dir = self.tmpdir()
        self.keys = os.path.join(self.dir, "authorized_keys")
        lk.write_keys(self.keys, "# enrolled keys\n")
        self.audit = os.path.join(self.dir, "audit.log")
        self.key = lk.SigningKey(self.dir, "k")

    def agent(self, token=ENROLL, **env):
        e = {"AUTHORIZED_KEYS": self.keys, "ENROLLMENT_TOKEN": token, "AUDIT_LOG": self.audit}
        e.update(env)
        return self.start_agent(e)

    def enroll(self, a, token, pub=None, path="/api/lookout/enroll"):
        body = json.dumps({"enrollment_token": token,
                           "public_key": pub if pub is not None else
                           base64.b64encode(self.key.pub).decode()}).encode()
        return lk.http_request(a.port, "POST", path, {"Content-Type": "application/json"}, body)

    def signed_ping(self, a):
        return a.request("GET", "/_ping", lk.sign_headers(self.key, "GET", "/_ping"))[0]

    def test_one_shot_enrollment(self):
        a = self.agent()
        self.assertEqual(self.signed_ping(a), 401)
        # Failures do not burn the token.
        st, _, body = self.enroll(a, "wrong")
        self.assertEqual((st, json.loads(body)), (401, {"message": "unauthorized"}))
        st, _, body = lk.http_request(a.port, "POST", "/api/lookout/enroll", {}, b"{not json")
        self.assertEqual((st, json.loads(body)), (400, {"message": "invalid JSON"}))
        st, _, body = self.enroll(a, ENROLL, pub="####")
        self.assertEqual((st, json.loads(body)), (400, {"message": "public_key: invalid base64"}))
        st, _, body = self.enroll(a, ENROLL, pub=base64.b64encode(b"x" * 31).decode())
        self.assertEqual(json.loads(body), {"message": "public_key: expected 32 bytes, got 31"})
        with open(self.keys) as f:
            self.assertEqual(f.read(), "# enrolled keys\n")
        # The right token enrolls the key, which works at once.
        st, _, body = self.enroll(a, ENROLL)
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {"key_id": self.key.key_id,
                                            "comment": "enrolled:" + self.key.key_id})
        with open(self.keys) as f:
            self.assertEqual(f.read(), "# enrolled keys\n" + self.key.line("enrolled:" + self.key.key_id))
        self.assertEqual(stat.S_IMODE(os.stat(self.keys).st_mode), 0o600)
        self.assertEqual(self.signed_ping(a), 200)
        # Burned.
        st, _, body = self.enroll(a, ENROLL)
        self.assertEqual((st, json.loads(body)), (401, {"message": "enrollment token already used"}))
        # Audited: the wrong token, the success, the burned attempt; never
        # the token itself, and not the 400s.
        lk.wait_until(lambda: len(audit_lines(self.audit, lambda r: r.get("event") == "enrollment")) == 3,
                      10, "three enrollment records")
        recs = audit_lines(self.audit, lambda r: r.get("event") == "enrollment")
        self.assertEqual([r["outcome"] for r in recs], ["denied", "allowed", "denied"])
        self.assertEqual(recs[1]["key_id"], self.key.key_id)
        self.assertEqual(recs[0]["actor"], "127.0.0.1")
        with open(self.audit) as f:
            self.assertNotIn(ENROLL, f.read())
        a.stop()
        self.assertFalse(any(ENROLL in ln for ln in a.logs()))
        # The burn survives a restart with the same token.
        b = self.agent()
        self.assertTrue(b.find_logs(lambda r: r and r.get("msg") == "enrollment enabled" and r["burned"]))
        st, _, body = self.enroll(b, ENROLL)
        self.assertEqual((st, json.loads(body)), (401, {"message": "enrollment token already used"}))
        self.assertEqual(self.signed_ping(b), 200)
        # A new token re-arms enrollment (the operator issued it).
        b.stop()
        c = self.agent(token=ENROLL + "-2")
        other = lk.SigningKey(self.dir, "other")
        st, _, body = self.enroll(c, ENROLL + "-2", pub=base64.b64encode(other.pub).decode(),
                                  path="/api/portwing/enroll")
        self.assertEqual(st, 200, body)
        self.assertEqual(c.request("GET", "/_ping", lk.sign_headers(other, "GET", "/_ping"))[0], 200)

    def test_failures_share_the_limiter(self):
        a = self.agent()
        for _ in range(10):
            self.assertEqual(self.enroll(a, "wrong")[0], 401)
        st, _, body = self.enroll(a, ENROLL)
        self.assertEqual((st, json.loads(body)), (429, {"message": "too many requests"}))
        # Still armed: nothing was burned.
        self.assertTrue(os.path.exists(self.keys))
        with open(self.keys) as f:
            self.assertNotIn("enrolled:", f.read())
        # The same client is limited on the proxy too (one table).
        h = lk.sign_headers(self.key, "GET", "/_ping")
        self.assertEqual(a.request("GET", "/_ping", h)[0], 429)

    def test_route_shape(self):
        a = self.agent()
        # Other methods fall through to the proxy, behind authentication.
        self.assertEqual(a.request("GET", "/api/lookout/enroll")[0], 401)
        # Bounded body: 64 KiB.
        big = json.dumps({"enrollment_token": ENROLL, "public_key": "A" * 70000}).encode()
        st, hd, _ = lk.http_request(a.port, "POST", "/api/lookout/enroll", {}, big)
        self.assertEqual(st, 413)
        # Without ENROLLMENT_TOKEN there is no enrollment route at all.
        b = self.start_agent({"AUTHORIZED_KEYS": self.keys})
        st, _, _ = self.enroll(b, ENROLL)
        self.assertEqual(st, 401)
        self.assertEqual(self.signed_ping(b), 401)

    def test_concurrent_attempts_enroll_once(self):
        import threading
        a = self.agent(WORKERS="2")
        keys = [lk.SigningKey(self.dir, "c%d" % i) for i in range(8)]
        results = []
        lock = threading.Lock()
        barrier = threading.Barrier(len(keys))

        def go(k):
            barrier.wait()
            r = self.enroll(a, ENROLL, pub=base64.b64encode(k.pub).decode())
            with lock:
                results.append(r[0])
        ts = [threading.Thread(target=go, args=(k,)) for k in keys]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(results.count(200), 1, results)
        self.assertTrue(set(results) <= {200, 401, 503}, results)
        with open(self.keys) as f:
            self.assertEqual(f.read().count("enrolled:"), 1)


if __name__ == "__main__":
    lk.main()
