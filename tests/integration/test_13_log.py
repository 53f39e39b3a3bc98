#!/usr/bin/env python3
"""The operational log: JSON lines on stderr, level threshold, no secrets."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

LEVELS = {"DEBUG", "INFO", "WARN", "ERROR"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def exercise(tc, a, extra_headers=None):
    """A few requests of every kind, then SIGTERM; returns the exit code."""
    h = dict(extra_headers or {})
    tc.assertEqual(a.request("GET", "/health", headers=h)[0], 200)
    tc.assertEqual(a.request("GET", "/_lookout/health", headers=h)[0], 200)
    # Proxied to Docker (which has no such path) with whichever credential
    # this agent was given.
    tc.assertEqual(a.request("GET", "/_lookout/no-such-endpoint", headers=h or a.auth_headers())[0], 404)
    a.request("GET", "/_lookout/info", headers=h)       # whatever it answers
    with a.raw() as c:
        c.send(b"GARBAGE\r\n\r\n")
        c.wait_closed(10)
    return a.stop()


class Log(lk.TestCase):
    def check_lines(self, lines):
        self.assertTrue(lines, "the agent logged nothing")
        recs = []
        for ln in lines:
            try:
                rec = json.loads(ln)
            except ValueError:
                self.fail("stderr line is not JSON: %r" % ln)
            self.assertIsInstance(rec, dict, ln)
            for k in ("time", "level", "msg"):
                self.assertIn(k, rec, ln)
            self.assertRegex(rec["time"], RFC3339)
            self.assertIn(rec["level"], LEVELS)
            self.assertIsInstance(rec["msg"], str)
            self.assertTrue(rec["msg"])
            recs.append(rec)
        return recs

    def test_every_line_is_json(self):
        a = self.start_agent()
        self.assertEqual(exercise(self, a), 0)
        recs = self.check_lines(a.logs())
        msgs = [r["msg"] for r in recs]
        self.assertIn("starting lookout", msgs)
        self.assertIn("listening", msgs)
        self.assertEqual(a.stdout_lines(), [], "the log belongs on stderr")

    def test_debug_is_json_too(self):
        a = self.start_agent({"LOG_LEVEL": "debug"})
        self.assertEqual(exercise(self, a), 0)
        self.check_lines(a.logs())

    def test_starting_line(self):
        a = self.start_agent()
        rec = a.wait_log("starting lookout")
        self.assertIsInstance(rec.get("version"), str)
        self.assertTrue(rec["version"])
        self.assertEqual(rec.get("mode"), "standard")
        self.assertEqual(rec["level"], "INFO")
        msgs = [r["msg"] for r in a.records()]
        self.assertLess(msgs.index("starting lookout"), msgs.index("listening"))

    def test_level_error_has_no_info(self):
        a = self.start_agent({"LOG_LEVEL": "error"}, ready="socket")
        self.assertEqual(exercise(self, a), 0)
        recs = self.check_lines(a.logs()) if a.logs() else []
        bad = [r for r in recs if r["level"] != "ERROR"]
        self.assertEqual(bad, [], "LOG_LEVEL=error logged below ERROR")

    def test_level_is_case_insensitive(self):
        a = self.start_agent({"LOG_LEVEL": "WARN"}, ready="socket")
        self.assertEqual(exercise(self, a), 0)
        recs = self.check_lines(a.logs()) if a.logs() else []
        self.assertEqual([r for r in recs if r["level"] in ("DEBUG", "INFO")], [])

    def assert_secret_absent(self, a, *secrets):
        out = "\n".join(a.logs() + a.stdout_lines())
        for s in secrets:
            self.assertNotIn(s, out, "a secret reached the log")

    def test_token_never_logged(self):
        token = "lk-SECRET-token-4b1d7e9a0c2f"
        wrong = "lk-WRONG-token-93e0aa71c5d4"
        a = self.start_agent({"TOKEN": token, "LOG_LEVEL": "debug"})
        exercise(self, a, {"Authorization": "Bearer " + token})
        self.assert_secret_absent(a, token)
        a = self.start_agent({"TOKEN": token, "LOG_LEVEL": "debug"})
        for hdr in ({"Authorization": "Bearer " + wrong}, {"X-Lookout-Token": wrong},
                    {"X-Portwing-Token": wrong}, {"X-Dd-Agent-Secret": wrong},
                    {"X-Lookout-Token": token}):
            a.request("GET", "/_lookout/info", headers=hdr)
            a.request("GET", "/containers/json", headers=hdr)
        self.assertEqual(a.stop(), 0)
        self.assert_secret_absent(a, token, wrong)

    def test_token_file_contents_never_logged(self):
        secret = "lk-FILE-secret-5e22c0d8b7a1"
        path = os.path.join(self.tmpdir(), "token")
        with open(path, "w") as f:
            f.write(secret + "\n")
        os.chmod(path, 0o600)
        a = self.start_agent({"TOKEN_FILE": path, "LOG_LEVEL": "debug"})
        exercise(self, a, {"X-Lookout-Token": secret})
        self.assert_secret_absent(a, secret)

    def test_token_not_in_startup_error(self):
        secret = "lk-ERR-secret-0d9c1b7a6e55"
        code, err = lk.start_expect_fail({"TOKEN": secret, "TOKEN_HASH": "notaphcstring"})
        self.assertGreater(code, 0)
        self.assertNotIn(secret, err)


if __name__ == "__main__":
    lk.main()
