"""TOKEN_HASH (issue 4, point 1): the Argon2id hash from `lookout hash-token`
verified on the verifier pool, never on a ring thread; successes cached by
token digest; a wrong token always pays the full derivation (counted by the
verifier's statistics in the stop log); every token header accepted."""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

TOKEN = "lk-hash-" + "5" * 24


def phc_of(token):
    return lk.run([lk.lookout_bin(), "hash-token"], input=token.encode()).stdout.decode().strip()


class TokenHash(lk.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.phc = phc_of(TOKEN)

    def test_headers_cache_and_wrong_tokens(self):
        a = self.start_agent({"TOKEN_HASH": self.phc})
        for h in ({"Authorization": "Bearer " + TOKEN}, {"X-Lookout-Token": TOKEN},
                  {"X-Portwing-Token": TOKEN}, {"X-Dd-Agent-Secret": TOKEN}):
            st, _, body = a.request("GET", "/_ping", h)
            self.assertEqual((st, body), (200, b"OK"), h)
        st, _, body = a.request("GET", "/_ping", {"Authorization": "Bearer nope"})
        self.assertEqual(st, 401)
        self.assertEqual(json.loads(body), {"message": "unauthorized"})
        self.assertEqual(a.request("GET", "/_ping", {})[0], 401)
        # Two headers that disagree are refused even if one is right.
        self.assertEqual(a.request("GET", "/_ping", {"X-Lookout-Token": TOKEN,
                                                     "X-Dd-Agent-Secret": "other"})[0], 401)
        # A body waits in the socket while the verdict is computed, then is
        # forwarded intact.
        name = "lk-hash-%d" % os.getpid()
        self.addCleanup(lk.shared_dockerd().remove_container, name)
        body = json.dumps({"Image": "busybox:latest", "Cmd": ["true"]}).encode()
        st, _, rb = a.request("POST", "/containers/create?name=" + name,
                              {"X-Lookout-Token": TOKEN, "Content-Type": "application/json"}, body)
        self.assertEqual(st, 201, rb)
        # Many concurrent requests with the right token: all pass.
        codes = []
        lock = threading.Lock()

        def go():
            c = a.request("GET", "/_ping", {"Authorization": "Bearer " + TOKEN})[0]
            with lock:
                codes.append(c)
        ts = [threading.Thread(target=go) for _ in range(32)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(codes, [200] * 32)
        # Wrong tokens after a success still run the derivation: 3 wrong
        # ones above the (at most one per right token) derivations.
        for i in range(3):
            self.assertEqual(a.request("GET", "/_ping", {"X-Lookout-Token": "bad%d" % i})[0], 401)
        a.stop()
        rec = a.find_logs("argon2id verifier stopped")[0]
        # 1 + 1 + 3 wrong derivations at least; rights mostly from the cache.
        self.assertGreaterEqual(rec["derivations"], 5)
        self.assertGreaterEqual(rec["cache_hits"], 30)
        # The verifier ran off the ring threads: the workers' CPU time is
        # not what this checks; the log says the pool did the work.
        self.assertEqual(rec["busy"], 0)

    def test_token_and_hash_together_refused(self):
        code, out = lk.start_expect_fail({"TOKEN": TOKEN, "TOKEN_HASH": self.phc}, token=None)
        self.assertNotEqual(code, 0)
        self.assertIn("TOKEN_HASH", out)

    def test_hostile_hash_cost_refused(self):
        # Parameters above the verification cap are a start-up error.
        hostile = self.phc.replace("m=19456", "m=4194304")
        code, out = lk.start_expect_fail({"TOKEN_HASH": hostile})
        self.assertNotEqual(code, 0)
        self.assertIn("TOKEN_HASH", out)


if __name__ == "__main__":
    lk.main()
