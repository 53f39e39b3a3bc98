#!/usr/bin/env python3
"""Fail closed, route by route (issue 4, point 8; spec lookout-core.md 4.3,
4.4, 6.1 and 16): with TOKEN set, only GET/HEAD of /health,
/_lookout/health and /_portwing/health are public (their query ignored);
every other method and path, including agent paths this build does not
serve yet (/_lookout/info, /metrics, /api/...), near-misses of the health
paths and dot-segment tricks, needs the credential: 401 without it,
something else (Docker's answer) with it. The four token headers each work;
two that disagree are refused.

Each check comes from its own loopback source address: the failed-auth
limiter (10 failures per client) must not turn a later 401 into a 429.

Start-up refusals are in test_12_config.py: no credential and no
ALLOW_UNAUTHENTICATED (test_no_credentials), ALLOW_UNAUTHENTICATED on a
non-loopback bind without ALLOW_UNAUTHENTICATED_REMOTE
(test_unauthenticated_non_loopback_refused, and the opt-in in
test_unauthenticated_remote_opt_in_starts), TOKEN with TOKEN_HASH
(test_token_and_hash_exclusive). Here: what ALLOW_UNAUTHENTICATED on
loopback actually serves, and that it never overrides a configured
credential."""

import http.client
import itertools
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

UNAUTHORIZED = {"message": "unauthorized"}

# Public: 200 without any credential (GET; HEAD is in test_10_health.py).
PUBLIC = [
    "/health",
    "/_lookout/health",
    "/_portwing/health",
    "/_lookout/health?x=1",   # the query is not part of the route
    "/_portwing/health?x=1",
    "/health?",
    "/ready",
]

# Protected: (method, target, Docker's status with the token or None for
# "anything but 401/429"). The agent serves none of these itself.
PROTECTED = [
    # the agent's own authenticated routes (the control thread answers)
    ("GET", "/_lookout/info", 200),
    ("GET", "/_portwing/info", 200),
    ("GET", "/metrics", 200),
    ("GET", "/_lookout/metrics", 200),
    ("GET", "/_portwing/metrics", 200),
    ("HEAD", "/metrics", 200),
    # the Drydock adapter's routes (the event stream is in test_53_drydock)
    ("GET", "/api/containers", 200),
    ("GET", "/api/watchers", 200),
    ("GET", "/api/triggers", 200),
    ("POST", "/api/triggers/docker/update", 501),
    # enrollment is POST only, and only with ENROLLMENT_TOKEN+AUTHORIZED_KEYS:
    # otherwise these are proxied paths like any other
    ("GET", "/api/lookout/enroll", 404),
    ("POST", "/api/lookout/enroll", 404),
    ("GET", "/api/portwing/enroll", 404),
    # the Docker API
    ("GET", "/v1.41/containers/json", 200),
    ("GET", "/containers/json", 200),
    ("GET", "/_ping", 200),
    ("GET", "/version", 200),
    ("GET", "/info", 200),
    ("POST", "/containers/create", None),   # no body: Docker refuses it
    ("DELETE", "/containers/lk-routes-no-such-container", 404),
    ("HEAD", "/_ping", 200),
    ("OPTIONS", "/", None),
    # the health routes only take GET/HEAD
    ("POST", "/health", None),
    ("PUT", "/_lookout/health", None),
    ("DELETE", "/_portwing/health", None),
    # near-misses of the health paths
    ("GET", "/health/", 404),
    ("GET", "/healthz", 404),
    ("GET", "/HEALTH", 404),
    ("GET", "/health;x", 404),
    ("GET", "/health%00", 404),
    ("GET", "/_lookout/health/", 404),
    ("GET", "/_lookout//health", None),
    ("GET", "//health", None),
    # dot segments, escaped or not, that a decoding router would clean into
    # a public path (or out of one)
    ("GET", "/health/%2e%2e/_ping", None),
    ("GET", "/health/%2E%2E/containers/json", None),
    ("GET", "/_lookout/%2e%2e/health", None),
    ("GET", "/%2e%2e/health", None),
    ("GET", "/health/../_ping", None),
    ("GET", "/_lookout/health/%2e%2e/%2e%2e/version", None),
]

_sources = itertools.count(1)


def fresh_source():
    """A loopback address no other check in this process used (127.0.x.y)."""
    n = next(_sources)
    return "127.0.%d.%d" % (10 + n // 250, 1 + n % 250)


def request(port, method, target, headers=(), source=None):
    """One request from `source` with header pairs (repeats allowed); the
    target is sent as is. Returns (status, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                   source_address=(source or fresh_source(), 0))
    try:
        c.putrequest(method, target, skip_accept_encoding=True)
        for k, v in headers:
            c.putheader(k, v)
        if method in ("POST", "PUT"):
            c.putheader("Content-Length", "0")
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Routes(lk.TestCase):
    def setUp(self):
        self.a = self.start_agent()  # TOKEN set by the harness
        self.tok = [("X-Lookout-Token", self.a.token)]

    def test_public_routes(self):
        for target in PUBLIC:
            with self.subTest(target=target):
                st, body = request(self.a.port, "GET", target)
                self.assertEqual(st, 200, body)
                self.assertIn(json.loads(body)["status"], ("ok", "healthy"))
                # A wrong credential on a public route is ignored, not refused.
                st, _ = request(self.a.port, "GET", target, [("X-Lookout-Token", "wrong")])
                self.assertEqual(st, 200)

    def test_everything_else_needs_the_credential(self):
        for method, target, want in PROTECTED:
            with self.subTest(method=method, target=target):
                src = fresh_source()
                st, body = request(self.a.port, method, target, source=src)
                self.assertEqual(st, 401, body)
                if method != "HEAD":
                    self.assertEqual(json.loads(body), UNAUTHORIZED)
                st, body = request(self.a.port, method, target, self.tok, source=src)
                self.assertNotIn(st, (401, 429), body)
                if want is not None:
                    self.assertEqual(st, want, body)

    def test_each_token_header(self):
        t = self.a.token
        for headers in ([("Authorization", "Bearer " + t)],
                        [("Authorization", "bearer  %s " % t)],  # scheme case, spaces
                        [("X-Lookout-Token", t)],
                        [("X-Portwing-Token", t)],
                        [("X-Dd-Agent-Secret", t)],
                        # the same token twice is not a conflict
                        [("Authorization", "Bearer " + t), ("X-Dd-Agent-Secret", t)],
                        # an empty header carries no token
                        [("X-Lookout-Token", ""), ("X-Portwing-Token", t)],
                        # another Authorization scheme carries no token
                        [("Authorization", "Basic Zm9vOmJhcg=="), ("X-Lookout-Token", t)]):
            with self.subTest(headers=[k for k, _ in headers]):
                self.assertEqual(request(self.a.port, "GET", "/_ping", headers), (200, b"OK"))

    def test_wrong_or_conflicting_tokens(self):
        t, w = self.a.token, self.a.token + "x"
        for headers in ([("Authorization", "Bearer " + w)],
                        [("X-Lookout-Token", w)],
                        [("X-Portwing-Token", t[:-1])],
                        [("X-Dd-Agent-Secret", " " + t + "x")],
                        [("Authorization", "Basic " + t)],
                        [("Authorization", t)],          # no scheme
                        [("Authorization", "Bearer")],
                        # two headers, two tokens: refused whichever is right
                        [("Authorization", "Bearer " + t), ("X-Lookout-Token", w)],
                        [("Authorization", "Bearer " + w), ("X-Lookout-Token", t)],
                        [("X-Lookout-Token", t), ("X-Portwing-Token", w)],
                        [("X-Portwing-Token", w), ("X-Dd-Agent-Secret", t)],
                        [("X-Dd-Agent-Secret", t), ("Authorization", "Bearer " + w)],
                        # the same header twice, differently
                        [("X-Lookout-Token", t), ("X-Lookout-Token", w)],
                        [("Authorization", "Bearer " + w), ("Authorization", "Bearer " + t)]):
            with self.subTest(headers=[k for k, _ in headers]):
                st, body = request(self.a.port, "GET", "/_ping", headers)
                self.assertEqual(st, 401, body)
                self.assertEqual(json.loads(body), UNAUTHORIZED)


class Unauthenticated(lk.TestCase):
    def test_loopback_opt_in_serves_without_credentials(self):
        a = self.start_agent({"ALLOW_UNAUTHENTICATED": "true"})
        self.assertIsNone(a.token)
        src = fresh_source()
        self.assertEqual(request(a.port, "GET", "/_ping", source=src), (200, b"OK"))
        st, body = request(a.port, "GET", "/containers/json", source=src)
        self.assertEqual(st, 200, body)
        self.assertIsInstance(json.loads(body), list)
        # Nothing to check means nothing to fail: no limiter either.
        for _ in range(11):
            st, _ = request(a.port, "GET", "/version", [("X-Lookout-Token", "whatever")], src)
            self.assertEqual(st, 200)

    def test_opt_in_never_overrides_a_credential(self):
        tok = "lk-routes-" + os.urandom(8).hex()
        a = self.start_agent({"ALLOW_UNAUTHENTICATED": "true", "TOKEN": tok})
        src = fresh_source()
        st, body = request(a.port, "GET", "/_ping", source=src)
        self.assertEqual((st, json.loads(body)), (401, UNAUTHORIZED))
        self.assertEqual(request(a.port, "GET", "/_ping", [("X-Lookout-Token", tok)], src),
                         (200, b"OK"))


if __name__ == "__main__":
    lk.main()
