#!/usr/bin/env python3
"""TLS on the standard listener: what is offered, what is refused, timeouts,
and start-up errors. Checked with the openssl and curl command-line tools."""

import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402

CERTS = None        # EC P-256 server certificate
RSA_CERTS = None    # RSA-2048 server certificate
_TMP = None

TLS12_AEAD = re.compile(r"^ECDHE-(ECDSA|RSA)-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$")
TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}


def setUpModule():
    global CERTS, RSA_CERTS, _TMP
    _TMP = tempfile.mkdtemp(prefix="lk-tls-")
    CERTS = lk.make_certs(os.path.join(_TMP, "ec"))
    RSA_CERTS = lk.make_certs(os.path.join(_TMP, "rsa"), key_type="rsa")
    lk.shared_dockerd()


def tearDownModule():
    lk.stop_shared_dockerd()
    shutil.rmtree(_TMP, ignore_errors=True)


class Handshake:
    def __init__(self, cp):
        self.out = cp.stdout.decode(errors="replace") + cp.stderr.decode(errors="replace")
        self.code = cp.returncode
        m = re.search(r"New, (\S+), Cipher is (\S+)", self.out)
        self.version, self.cipher = (m.group(1), m.group(2)) if m else (None, None)
        self.ok = self.code == 0 and self.cipher not in (None, "(NONE)")
        self.verified = "Verify return code: 0 (ok)" in self.out
        # "Server Temp Key: X25519, 253 bits" / "Server Temp Key: ECDH, prime256v1, 256 bits"
        m = re.search(r"Server Temp Key: ([^\n]*)", self.out)
        tk = m.group(1) if m else ""
        self.temp_key = ("X25519" if tk.startswith("X25519") else
                         "P-256" if "prime256v1" in tk or "P-256" in tk else tk or None)

    def __repr__(self):
        return "<Handshake ok=%s %s %s>\n%s" % (self.ok, self.version, self.cipher, self.out[-3000:])


def s_client(agent, certs, *opts):
    """openssl s_client with stdin at EOF (so it closes after the handshake)."""
    cp = lk.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % agent.port,
                 "-servername", "localhost", "-CAfile", certs.ca, "-verify_return_error"]
                + list(opts), check=False, timeout=60)
    return Handshake(cp)


def check_groups(tc, agent, certs, ver):
    """X25519 and P-256 are the key-exchange groups; nothing else is accepted."""
    for group in ("X25519", "P-256"):
        with tc.subTest(ver=ver, group=group):
            hs = s_client(agent, certs, ver, "-groups", group)
            tc.assertTrue(hs.ok, hs)
            tc.assertEqual(hs.temp_key, group, hs)
    for group in ("P-384", "P-521", "X448", "ffdhe2048"):
        with tc.subTest(ver=ver, group=group):
            assert_refused(tc, s_client(agent, certs, ver, "-groups", group),
                           "group %s with %s" % (group, ver))


def assert_refused(tc, hs, what):
    tc.assertFalse(hs.ok, "%s was accepted: %r" % (what, hs))
    # The client really offered it: refusal came from the server, not from
    # OpenSSL's own configuration.
    tc.assertNotIn("no protocols available", hs.out, "client did not offer %s" % what)
    tc.assertNotIn("no ciphers available", hs.out, "client did not offer %s" % what)


class TLSAgent(lk.TestCase):
    certs = None

    @classmethod
    def setUpClass(cls):
        cls.agent = lk.Agent(certs=cls.certs or CERTS).start()
        cls.addClassCleanup(cls.agent._cleanup)

    def setUp(self):
        if not self.agent.alive():
            self.fail("shared TLS agent died\n" + self.agent.dump())

        def dump_on_failure():
            if self._failed():
                lk.log("%s failed\n%s" % (self.id(), self.agent.dump(20)))
        self.addCleanup(dump_on_failure)


class Serving(TLSAgent):
    def test_listening_says_tls(self):
        self.assertTrue(self.agent.tls)
        self.assertTrue(self.agent.find_logs("listening")[0]["tls"])

    def test_curl_health(self):
        st, body = self.agent.curl_request("/health")
        self.assertEqual((st, json.loads(body)), (200, {"status": "ok"}))

    def test_curl_agent_health(self):
        for path in ("/_lookout/health", "/_portwing/health"):
            st, body = self.agent.curl_request(path)
            self.assertEqual(st, 200, path)
            got = json.loads(body)
            self.assertEqual((got["status"], got["docker"]), ("healthy", "connected"))

    def test_curl_keep_alive(self):
        cp = self.agent.curl("-v", self.agent.url("/health"), self.agent.url("/_lookout/health"),
                             check=True)
        err = cp.stderr.decode(errors="replace")
        self.assertIn("Re-using existing connection", err)
        self.assertEqual(err.count("SSL connection using"), 1, err)

    def test_curl_without_ca_fails(self):
        # the server's chain really is our test CA, not something curl trusts anyway
        cp = lk.run(["curl", "-sS", "--resolve", "localhost:%d:127.0.0.1" % self.agent.port,
                     self.agent.url("/health")], check=False)
        self.assertEqual(cp.returncode, 60, cp.stderr)

    def test_plaintext_to_tls_port(self):
        with self.agent.raw() as c:
            c.send(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            data = c.wait_closed(10)
            self.assertNotIn(b'{"status":"ok"}', data)

    def test_tls12_ecdhe_aead(self):
        hs = s_client(self.agent, CERTS, "-tls1_2")
        self.assertTrue(hs.ok, hs)
        self.assertTrue(hs.verified, hs)
        self.assertEqual(hs.version, "TLSv1.2")
        self.assertIn("Protocol  : TLSv1.2", hs.out)
        self.assertRegex(hs.cipher, TLS12_AEAD)

    def test_tls12_each_allowed_suite(self):
        for suite in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                      "ECDHE-ECDSA-CHACHA20-POLY1305"):
            with self.subTest(suite):
                hs = s_client(self.agent, CERTS, "-tls1_2", "-cipher", suite)
                self.assertTrue(hs.ok, hs)
                self.assertEqual(hs.cipher, suite)

    def test_tls13(self):
        hs = s_client(self.agent, CERTS, "-tls1_3")
        self.assertTrue(hs.ok, hs)
        self.assertEqual(hs.version, "TLSv1.3")
        self.assertIn(hs.cipher, TLS13_SUITES)

    def test_old_versions_refused(self):
        for flag, name in (("-tls1_1", "TLS 1.1"), ("-tls1", "TLS 1.0")):
            with self.subTest(name):
                hs = s_client(self.agent, CERTS, flag, "-cipher", "DEFAULT@SECLEVEL=0")
                assert_refused(self, hs, name)

    def test_cbc_and_non_ecdhe_refused(self):
        for suite in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
                      "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384"):
            with self.subTest(suite):
                assert_refused(self, s_client(self.agent, CERTS, "-tls1_2", "-cipher", suite), suite)

    def test_groups_tls13(self):
        # TLS 1.3: supported_groups is about key exchange only.
        check_groups(self, self.agent, CERTS, "-tls1_3")

    def test_groups_tls12_ecdsa(self):
        # TLS 1.2 ties the ECDSA certificate's curve to supported_groups too
        # (RFC 8422), so P-256 must be on the list; the key exchange may then
        # use either allowed group (RSACertificate checks them one by one).
        hs = s_client(self.agent, CERTS, "-tls1_2", "-groups", "X25519:P-256")
        self.assertTrue(hs.ok, hs)
        self.assertIn(hs.temp_key, ("X25519", "P-256"), hs)


class RSACertificate(TLSAgent):
    certs = None

    @classmethod
    def setUpClass(cls):
        cls.certs = RSA_CERTS
        super().setUpClass()

    def test_ecdhe_rsa_aead(self):
        hs = s_client(self.agent, RSA_CERTS, "-tls1_2")
        self.assertTrue(hs.ok, hs)
        self.assertRegex(hs.cipher, r"^ECDHE-RSA-")
        self.assertRegex(hs.cipher, TLS12_AEAD)
        st, body = self.agent.curl_request("/health")
        self.assertEqual(st, 200)

    def test_groups_tls12(self):
        # With an RSA certificate the groups list constrains key exchange only.
        check_groups(self, self.agent, RSA_CERTS, "-tls1_2")

    def test_rsa_cbc_and_static_rsa_refused(self):
        for suite in ("ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384",
                      "AES128-GCM-SHA256", "AES256-SHA", "DHE-RSA-AES128-GCM-SHA256"):
            with self.subTest(suite):
                assert_refused(self, s_client(self.agent, RSA_CERTS, "-tls1_2", "-cipher", suite), suite)


class Timeouts(lk.TestCase):
    def test_silent_client_cut_at_handshake_timeout(self):
        a = self.start_agent({"TLS_HANDSHAKE_TIMEOUT": "2"}, certs=CERTS)
        with a.raw() as c:
            c.wait_closed(10)
        # a partial ClientHello (record header only) is cut too
        with a.raw() as c:
            c.send(b"\x16\x03\x01\x02\x00")
            c.wait_closed(10)
        st, _ = a.curl_request("/health")
        self.assertEqual(st, 200)


class StartupErrors(lk.TestCase):
    def assert_fails(self, env, *names):
        code, err = lk.start_expect_fail(env)
        self.assertGreater(code, 0, "expected a clean non-zero exit, got %s\n%s" % (code, err))
        self.assertNotIn("Sanitizer", err)
        for n in names:
            self.assertIn(n, err)
        return err

    def test_cert_without_key(self):
        self.assert_fails({"TLS_CERT": CERTS.cert}, "TLS_CERT", "TLS_KEY")

    def test_key_without_cert(self):
        self.assert_fails({"TLS_KEY": CERTS.key}, "TLS_CERT", "TLS_KEY")

    def test_cert_missing(self):
        self.assert_fails({"TLS_CERT": os.path.join(_TMP, "nope.pem"), "TLS_KEY": CERTS.key},
                          "TLS_CERT")

    def test_key_missing(self):
        self.assert_fails({"TLS_CERT": CERTS.cert, "TLS_KEY": os.path.join(_TMP, "nope.key")},
                          "TLS_KEY")

    def test_cert_not_pem(self):
        d = self.tmpdir()
        bad = os.path.join(d, "garbage.pem")
        with open(bad, "w") as f:
            f.write("this is not a certificate\n")
        self.assert_fails({"TLS_CERT": bad, "TLS_KEY": CERTS.key}, "TLS_CERT")

    def test_cert_is_a_directory(self):
        self.assert_fails({"TLS_CERT": self.tmpdir(), "TLS_KEY": CERTS.key}, "TLS_CERT")

    def test_key_does_not_match_cert(self):
        self.assert_fails({"TLS_CERT": CERTS.cert, "TLS_KEY": CERTS.client_key})


if __name__ == "__main__":
    lk.main()
