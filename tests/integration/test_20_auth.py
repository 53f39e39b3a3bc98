"""Failed-authentication limiting on protected routes (issue 4, point 6):
ten failures per client per minute, checked before any credential work,
client identified behind TRUSTED_PROXIES by the rightmost untrusted
forwarded address. Spec lookout-core.md 7, 8 and the 17.1 client-IP
vectors."""
import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

WRONG = {"X-Lookout-Token": "not-the-token"}


def request_from(port, source, path, headers):
    """One HTTP/1.1 request from source address `source` (loopback)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0))
    try:
        lines = ["GET %s HTTP/1.1" % path, "Host: x", "Connection: close"]
        lines += ["%s: %s" % kv for kv in headers.items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


class Limiter(lk.TestCase):
    def test_eleventh_attempt_refused_even_with_the_right_token(self):
        a = self.start_agent({})
        for _ in range(10):
            self.assertEqual(request_from(a.port, "127.0.0.1", "/_ping", WRONG)[0], 401)
        st, body = request_from(a.port, "127.0.0.1", "/_ping", a.auth_headers())
        self.assertEqual(st, 429)
        self.assertEqual(json.loads(body), {"message": "too many failed attempts"})
        # Health endpoints are public: never limited.
        self.assertEqual(request_from(a.port, "127.0.0.1", "/health", {})[0], 200)
        # Another client is not affected.
        st, body = request_from(a.port, "127.0.0.2", "/_ping", a.auth_headers())
        self.assertEqual((st, body), (200, b"OK"))
        # Successes never counted: nine failures, then the right token works.
        for _ in range(9):
            self.assertEqual(request_from(a.port, "127.0.0.3", "/_ping", WRONG)[0], 401)
        self.assertEqual(request_from(a.port, "127.0.0.3", "/_ping", a.auth_headers())[0], 200)

    def test_forwarded_for_ignored_without_trusted_proxies(self):
        # Spec 17.1: ten 401s with rotating X-Forwarded-For from one peer
        # (no trusted proxies) -> the 11th request is 429.
        a = self.start_agent({})
        for i in range(10):
            h = dict(WRONG, **{"X-Forwarded-For": "203.0.113.%d" % i})
            self.assertEqual(request_from(a.port, "127.0.0.1", "/_ping", h)[0], 401)
        h = dict(a.auth_headers(), **{"X-Forwarded-For": "203.0.113.250"})
        self.assertEqual(request_from(a.port, "127.0.0.1", "/_ping", h)[0], 429)

    def test_trusted_proxy_forwarded_client_is_limited(self):
        a = self.start_agent({"TRUSTED_PROXIES": "127.0.0.1/32"})
        bad = dict(WRONG, **{"X-Forwarded-For": "203.0.113.7, 127.0.0.1"})
        for _ in range(10):
            self.assertEqual(request_from(a.port, "127.0.0.1", "/_ping", bad)[0], 401)
        # The forwarded client is limited, even with the right token...
        h = dict(a.auth_headers(), **{"X-Forwarded-For": "203.0.113.7"})
        self.assertEqual(request_from(a.port, "127.0.0.1", "/_ping", h)[0], 429)
        # ...another forwarded client through the same proxy is not...
        h = dict(a.auth_headers(), **{"X-Forwarded-For": "203.0.113.8"})
        self.assertEqual(request_from(a.port, "127.0.0.1", "/_ping", h)[0], 200)
        # ...and a spoofed leftmost entry does not move the blame.
        h = dict(a.auth_headers(), **{"X-Forwarded-For": "203.0.113.9, 203.0.113.7"})
        self.assertEqual(request_from(a.port, "127.0.0.1", "/_ping", h)[0], 429)


if __name__ == "__main__":
    unittest.main(verbosity=2)
