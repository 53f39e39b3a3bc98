#!/usr/bin/env python3
"""Start-up configuration: fail closed, name the variable, never listen on a
configuration error."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

# A structurally valid Argon2id PHC string (spec §17.2: token "supersecret").
PHC = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$Vf1+b01ndMBnHKyLYw5ScGMmant1xMbhyCCYSWbTQCo"
# The agent must not be reachable from outside while it binds a wildcard
# address: those cases run in a fresh network namespace (only a down `lo`).
NETNS = ["unshare", "--net", "--"]


class Config(lk.TestCase):
    def assert_fails(self, env, *needles, token=lk.AUTO, wrapper=()):
        """Start must fail cleanly (exit > 0, no sanitizer report, never listened)
        and stderr must contain every needle."""
        code, err = lk.start_expect_fail(env, token=token, wrapper=wrapper)
        self.assertGreater(code, 0, "expected a clean non-zero exit, got %s\n%s" % (code, err))
        self.assertNotIn("Sanitizer", err)
        for n in needles:
            self.assertIn(n, err)
        return err

    def test_no_credentials(self):
        # The message names the way out (and test_23_routes.py relies on
        # this test for the refusal).
        self.assert_fails({}, "no authentication configured", "ALLOW_UNAUTHENTICATED=true",
                          token=None)

    def test_unauthenticated_loopback_starts(self):
        a = self.start_agent({"ALLOW_UNAUTHENTICATED": "true"})
        self.assertIsNone(a.token)
        a.wait_log(lambda r: r.get("level") == "WARN", timeout=5)  # running open deserves a WARN
        self.assertEqual(a.request("GET", "/health")[0], 200)
        self.assertEqual(a.stop(), 0)

    def test_unauthenticated_non_loopback_refused(self):
        self.assert_fails({"ALLOW_UNAUTHENTICATED": "true", "BIND_ADDRESS": "0.0.0.0"},
                          "refusing unauthenticated non-loopback bind",
                          "ALLOW_UNAUTHENTICATED_REMOTE=true", wrapper=NETNS)

    def test_unauthenticated_remote_opt_in_starts(self):
        a = self.start_agent({"ALLOW_UNAUTHENTICATED": "true",
                              "ALLOW_UNAUTHENTICATED_REMOTE": "true",
                              "BIND_ADDRESS": "0.0.0.0"}, wrapper=NETNS)
        self.assertEqual(a.find_logs("listening")[0].get("address"), "0.0.0.0")
        self.assertEqual({ip for ip, _ in lk.listening_ports(a.pid)}, {"0.0.0.0"})
        self.assertEqual(a.stop(), 0)

    def test_token_and_hash_exclusive(self):
        self.assert_fails({"TOKEN": "lk-some-token", "TOKEN_HASH": PHC}, "mutually exclusive")

    def test_token_hash_alone_starts(self):
        a = self.start_agent({"TOKEN_HASH": PHC})
        self.assertEqual(a.stop(), 0)

    def test_bad_values_name_the_variable(self):
        cases = [
            ("PORT", "abc"),
            ("PORT", "70000"),
            ("WORKERS", "0"),
            ("WORKERS", "many"),
            ("LOG_LEVEL", "loud"),
            ("ADAPTER", "foo"),
            ("TRUSTED_PROXIES", "bad"),
            ("TRUSTED_PROXIES", "10.0.0.0/8,300.1.1.1"),
            ("TOKEN_FILE", "/nonexistent/lookout-token"),
            ("TOKEN_HASH", "notaphcstring"),
            ("TOKEN_HASH", "$argon2id$v=18$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA"),
        ]
        for var, value in cases:
            with self.subTest(var=var, value=value):
                env = {var: value}
                if var.startswith("TOKEN"):
                    env["TOKEN"] = None  # the only credential is the bad one
                self.assert_fails(env, var)

    def test_token_file_trailing_newline(self):
        d = self.tmpdir()
        path = os.path.join(d, "token")
        with open(path, "w") as f:
            f.write("lk-file-token-7f3a\n")
        os.chmod(path, 0o600)
        a = self.start_agent({"TOKEN_FILE": path})
        self.assertEqual(a.request("GET", "/health")[0], 200)
        self.assertEqual(a.stop(), 0)

    def test_empty_token_file_is_no_credential(self):
        d = self.tmpdir()
        path = os.path.join(d, "token")
        with open(path, "w") as f:
            f.write("\n")
        err = self.assert_fails({"TOKEN_FILE": path})
        self.assertTrue("TOKEN_FILE" in err or "no authentication configured" in err, err)


if __name__ == "__main__":
    lk.main()
