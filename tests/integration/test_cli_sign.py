#!/usr/bin/env python3
"""`lookout sign` end to end (spec lookout-core 6.4, 16 "Signature version 2",
17.2): the spec's signatures byte for byte, signatures from `lookout keygen`
and `openssl genpkey` keys verified by OpenSSL over a canonical string rebuilt
here, both header families, the headers as curl really sends them, and every
refusal.

Run: LOOKOUT_BIN=build/dev/lookout python3 tests/integration/test_cli_sign.py
Standard library only; openssl and curl are used when present. Starts no
agent and no dockerd.
"""
import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

LOOKOUT = os.environ.get("LOOKOUT_BIN", "")
OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
TIMEOUT = 60

# Spec 17.2 key A (RFC 8032 section 7.1 test 1) and key B (the HEAD fuzz seed).
KEY_A_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n"
)
KEY_A_ID = "21fe31dfa154a261"
KEY_B_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIHBvcnR3aW5nLWF1dGgtZnV6ei1zZWVkLTAwMDAwMDAx\n"
    "-----END PRIVATE KEY-----\n"
)
KEY_B_ID = "453eb1222a9a1412"
TS = "1749600000"
NONCE1 = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
NONCE2 = "00112233445566778899aabbccddeeff"
BODY_COMPOSE = b'{"operation":"ps","stackName":"myapp"}'
BODY_FOLLOW = b'{"follow":true}'
SIG_COMPOSE = "TzDMSbYDSL71GgP7OEn6ljKunk393Fj_IEfSLfdEJ-2ZVzX5CFUyVKRJVAah5PdYOpaGA2QfpLfjbO742DUMAg"
SIG_GET_TEST = "_oMOv6hj2ZyiIZ6UqD1Ehds28EJoqaFQmm2QRZi9kJl5Ema8D9ds-o_B08FspQs6kLGxWLTFBIS96rdZY1IeDQ"
SIG_WS = "Nbt6UxsAL1X4gh4eB7VtdkUZgUdf01gtXjh-3Gki7-2h3kovh-5VwAsEQ9jYfdUXOewot2aDOcrCHad3F35WBQ"
SIG_DECODED = "koCt50uzxkDBdR9_EYw75Y9kp-U_YDq--oVpS2C24nMIHHUnBYVf06j-9uWsDpm_gaieCDZzzhKEFkqRkhCNDQ"
SIG_CJSON = "2JYBhsOPglgtrXoUCwBu5l41zTtVZ8cTx4GFxayAb0ze4xfoO8LCKh8ACF8jYHdjta2mo_SA7ghzL3WDPajkCw"
SIG_CJSON_ALL = "9vlsPhwmnySemlJ7A7WUDxLQtRQu9zu2OylHeZfYQDZcgl52RFcyM9GH7NTWrcwchc0XOSgFvwZdm47q8-7yAw"
SIG_B = "lLdbyO4Q-0ZyerD0hd6gyBT_66rlNhNlPsWtfBgHfz0TMum-LVrHwE_9L8Zk_aYRixj9WLsONgqIL22t57YFCw"
BODY_MAX = 64 * 1024 * 1024  # LK_SIG_BODY_MAX
LINE_MAX = 8 * 1024  # LK_HTTP_LINE_MAX, request line with its CRLF
SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")
FIELDS = ("Key-ID", "Timestamp", "Nonce", "Signature", "Signature-Version")


def run(args, stdin=b"", **kw):
    return subprocess.run(
        [LOOKOUT, "sign"] + list(args), input=stdin, capture_output=True, timeout=TIMEOUT, **kw
    )


def openssl(*args):
    return subprocess.run(
        [OPENSSL] + list(args), capture_output=True, timeout=TIMEOUT, check=True
    )


def write_file(path, data, mode):
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def expected(family, kid, ts, nonce, sig, v2):
    """The exact stdout of `lookout sign` for these values."""
    out = "".join(f"X-{family}-{n}: {v}\n" for n, v in
                  (("Key-ID", kid), ("Timestamp", ts), ("Nonce", nonce), ("Signature", sig)))
    if v2:
        out += f"X-{family}-Signature-Version: 2\n"
    return out.encode()


def parse_headers(out):
    """Checks the output shape (LF-terminated `Name: value` lines, no CR) and
    returns the headers as an ordered list of (name, value)."""
    text = out.decode("ascii")
    assert "\r" not in text, out
    assert text.endswith("\n"), out
    pairs = []
    for line in text[:-1].split("\n"):
        m = re.fullmatch(r"([A-Za-z-]+): (\S+)", line)
        assert m, line
        pairs.append((m.group(1), m.group(2)))
    return pairs


def canonical(method, target, body, ts, nonce, legacy):
    """The canonical string of spec 6.4/16, built independently of sigv.c:
    Go's url.PathUnescape of the path for legacy, the target as is for v2."""
    line2 = urllib.parse.unquote_to_bytes(target) if legacy else target.encode()
    return b"\n".join([method.encode(), line2, hashlib.sha256(body).hexdigest().encode(),
                       str(ts).encode(), nonce.encode()])


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def openssl_verify(tmp, key, msg, sig_b64):
    """True iff `openssl pkeyutl -verify -rawin` accepts the base64url
    signature sig_b64 over msg under the public half of key (a PEM file)."""
    pub, m, s = (os.path.join(tmp, n) for n in ("pub.pem", "msg", "sig"))
    openssl("pkey", "-in", key, "-pubout", "-out", pub)
    write_file(m, msg, 0o644)
    write_file(s, b64url_decode(sig_b64), 0o644)
    r = subprocess.run([OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin",
                        "-in", m, "-sigfile", s], capture_output=True, timeout=TIMEOUT)
    return r.returncode == 0


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lk_cli_sign.")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.key_a = self.path("a.pem")
        write_file(self.key_a, KEY_A_PEM, 0o600)
        self.key_b = self.path("b.pem")
        write_file(self.key_b, KEY_B_PEM, 0o600)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def sign_ok(self, *args, stdin=b""):
        r = run(args, stdin)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        return r.stdout

    def sign_fails(self, args, status, *needles, stdin=b""):
        r = run(args, stdin)
        self.assertEqual(r.returncode, status, (args, r.stderr))
        self.assertEqual(r.stdout, b"", args)
        err = r.stderr.decode()
        self.assertTrue(err.startswith("lookout sign: "), err)
        for n in needles:
            self.assertIn(n, err, args)
        return err


class Vectors(Base):
    def test_worked_example_legacy(self):
        """Spec 6.4's worked example, byte for byte, from a file and stdin."""
        body = self.path("compose.json")
        write_file(body, BODY_COMPOSE, 0o644)
        self.assertEqual(len(BODY_COMPOSE), 38)
        want = expected("Lookout", KEY_A_ID, TS, NONCE2, SIG_COMPOSE, False)
        flags = ["-key", self.key_a, "-legacy", "-timestamp", TS, "-nonce", NONCE2]
        self.assertEqual(self.sign_ok(*flags, "POST", "/_lookout/compose", body), want)
        self.assertEqual(self.sign_ok(*flags, "POST", "/_lookout/compose", "-",
                                      stdin=BODY_COMPOSE), want)

    def test_key_a_vectors(self):
        """Every key A signature of 17.2, in the form(s) it is valid in."""
        for method, target, nonce, sig, forms in (
            ("GET", "/api/test", NONCE1, SIG_GET_TEST, ("legacy", "v2")),
            ("GET", "/api/lookout/ws", NONCE1, SIG_WS, ("legacy", "v2")),
            ("GET", "/containers/a%2Fb/json", NONCE1, SIG_DECODED, ("legacy",)),
            ("GET", "/v1.44/containers/json", NONCE1, SIG_CJSON, ("legacy", "v2")),
            ("GET", "/v1.44/containers/json?all=1", NONCE1, SIG_CJSON_ALL, ("v2",)),
        ):
            for form in forms:
                legacy = ["-legacy"] if form == "legacy" else []
                out = self.sign_ok("-key", self.key_a, *legacy, "-timestamp", TS,
                                   "-nonce", nonce, method, target)
                self.assertEqual(out, expected("Lookout", KEY_A_ID, TS, nonce, sig,
                                               form == "v2"), (target, form))
        # the decoded-path vector signed as v2 covers the escaped target instead
        out = self.sign_ok("-key", self.key_a, "-timestamp", TS, "-nonce", NONCE1,
                           "GET", "/containers/a%2Fb/json")
        self.assertNotIn(SIG_DECODED.encode(), out)

    def test_key_b_portwing_v2(self):
        """17.2 key B: version 2, X-Portwing-* headers, query and body."""
        body = self.path("follow.json")
        write_file(body, BODY_FOLLOW, 0o644)
        out = self.sign_ok("-key", self.key_b, "-header-family", "portwing", "-timestamp", TS,
                           "-nonce", NONCE2, "GET",
                           "/v1.44/containers/a%2Fb/logs?tail=10&stdout=1", body)
        self.assertEqual(out, expected("Portwing", KEY_B_ID, TS, NONCE2, SIG_B, True))

    def test_header_families(self):
        """-header-family picks the names only; the values are the same."""
        for legacy in ([], ["-legacy"]):
            args = ["-key", self.key_a, *legacy, "-timestamp", TS, "-nonce", NONCE1,
                    "GET", "/api/test"]
            lk = parse_headers(self.sign_ok(*args))
            lk2 = parse_headers(self.sign_ok("-header-family", "lookout", *args))
            pw = parse_headers(self.sign_ok("-header-family=portwing", *args))
            n = 4 if legacy else 5
            self.assertEqual([k for k, _ in lk], ["X-Lookout-" + f for f in FIELDS[:n]])
            self.assertEqual([k for k, _ in pw], ["X-Portwing-" + f for f in FIELDS[:n]])
            self.assertEqual(lk, lk2)
            self.assertEqual([v for _, v in lk], [v for _, v in pw])

    def test_timestamp_and_nonce_as_given(self):
        """The nonce is signed as given (either case passes at the agent) and
        the timestamp covers the int64 range, printed as in the canonical
        string."""
        upper = NONCE1.upper()
        for ts in ("0", "-5", "9223372036854775807", "-9223372036854775808"):
            h = dict(parse_headers(self.sign_ok("-key", self.key_a, "-timestamp", ts,
                                                "-nonce", upper, "GET", "/x")))
            self.assertEqual(h["X-Lookout-Timestamp"], ts)
            self.assertEqual(h["X-Lookout-Nonce"], upper)


class OpenSSLVerifies(Base):
    def keygen_key(self):
        r = subprocess.run([LOOKOUT, "keygen"], capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        pem = r.stdout.decode().split("-----END PRIVATE KEY-----\n")[0]
        p = self.path("keygen.pem")
        write_file(p, pem + "-----END PRIVATE KEY-----\n", 0o600)
        return p

    def openssl_key(self):
        p = self.path("openssl.pem")
        openssl("genpkey", "-algorithm", "ed25519", "-out", p)
        os.chmod(p, 0o600)
        return p

    def verify(self, key, msg, sig_b64):
        return openssl_verify(self.tmp, key, msg, sig_b64)

    def key_id(self, key):
        der = openssl("pkey", "-in", key, "-pubout", "-outform", "DER").stdout
        self.assertEqual(der[:12], SPKI_ED25519_PREFIX)
        return hashlib.sha256(der[12:]).hexdigest()[:16]

    def check_key(self, key):
        body = b'{"Image":"alpine",\n"Cmd":["true"]}\x00\xff'
        bodyfile = self.path("body")
        write_file(bodyfile, body, 0o644)
        for method, target, legacy, b in (
            ("POST", "/v1.44/containers/create?name=a%20b&x=", False, body),
            ("GET", "/v1.44/containers/json?", False, b""),
            ("DELETE", "/v1.44/containers/a%2Fb%20c", True, b""),
            ("POST", "/_lookout/compose", True, body),
        ):
            args = ["-key", key] + (["-legacy"] if legacy else []) + [method, target]
            if b:
                args.append(bodyfile)
            before = int(time.time())
            h = parse_headers(self.sign_ok(*args))
            after = int(time.time())
            d = dict(h)
            self.assertEqual(len(h), 4 if legacy else 5)
            self.assertEqual(d["X-Lookout-Key-ID"], self.key_id(key))
            ts = int(d["X-Lookout-Timestamp"])
            self.assertTrue(before <= ts <= after, (before, ts, after))
            nonce = d["X-Lookout-Nonce"]
            self.assertRegex(nonce, r"^[0-9a-f]{32}$")
            sig = d["X-Lookout-Signature"]
            self.assertRegex(sig, r"^[A-Za-z0-9_-]{86}$")
            if not legacy:
                self.assertEqual(d["X-Lookout-Signature-Version"], "2")
            msg = canonical(method, target, b, ts, nonce, legacy)
            self.assertTrue(self.verify(key, msg, sig), (target, msg))
            # OpenSSL is not just saying yes: other bytes fail, among them
            # the other form's canonical string when an escape makes it differ
            self.assertFalse(self.verify(key, msg + b"x", sig))
            if "%" in target:
                other = canonical(method, target, b, ts, nonce, not legacy)
                self.assertFalse(self.verify(key, other, sig), other)

    def test_keygen_key(self):
        self.check_key(self.keygen_key())

    def test_openssl_genpkey_key(self):
        """PKCS#8 from `openssl genpkey -algorithm ed25519` loads and signs."""
        key = self.openssl_key()
        self.check_key(key)
        os.chmod(key, 0o640)  # group-readable is allowed, as for keygen -pub-from
        self.sign_ok("-key", key, "GET", "/x")

    def test_fresh_nonce_each_run(self):
        nonces = {dict(parse_headers(self.sign_ok("-key", self.key_a, "GET", "/x")))
                  ["X-Lookout-Nonce"] for _ in range(3)}
        self.assertEqual(len(nonces), 3)


class _Capture(threading.Thread):
    """Accepts one HTTP/1.1 request on loopback, keeps its bytes, answers 204."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.raw = b""

    def run(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            while b"\r\n\r\n" not in self.raw:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                self.raw += chunk
            head = self.raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            m = re.search(r"(?im)^content-length: *(\d+)", head)
            need = len(head) + 4 + (int(m.group(1)) if m else 0)
            while len(self.raw) < need:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                self.raw += chunk
            conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        self.sock.close()


class Curl(Base):
    def test_curl_sends_a_verifiable_request(self):
        """`curl -H @file` puts the printed headers on the wire unchanged, and
        the canonical string rebuilt from what arrived verifies."""
        body = b'{"a": 1}\n{"b": 2}\n'
        bodyfile, hfile = self.path("body"), self.path("headers.txt")
        write_file(bodyfile, body, 0o644)
        target = "/v1.44/build?t=x%3Ay&q=%2F"
        out = self.sign_ok("-key", self.key_a, "POST", target, bodyfile)
        write_file(hfile, out, 0o644)
        cap = _Capture()
        cap.start()
        r = subprocess.run([CURL, "-sS", "--noproxy", "*", "-o", "/dev/null", "-H", "@" + hfile,
                            "--data-binary", "@" + bodyfile,
                            f"http://127.0.0.1:{cap.port}{target}"],
                           capture_output=True, timeout=TIMEOUT)
        cap.join(TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, got_body = cap.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, got_target, _ = lines[0].split(" ")
        self.assertEqual((method, got_target, got_body), ("POST", target, body))
        sent = [tuple(l.split(": ", 1)) for l in lines[1:]]
        printed = parse_headers(out)
        self.assertEqual([h for h in sent if h[0].startswith("X-Lookout-")], printed)
        d = dict(printed)
        msg = canonical(method, got_target, got_body, d["X-Lookout-Timestamp"],
                        d["X-Lookout-Nonce"], False)
        self.assertTrue(openssl_verify(self.tmp, self.key_a, msg, d["X-Lookout-Signature"]))


class Errors(Base):
    def test_key_problems(self):
        self.sign_fails(["GET", "/x"], 2, "-key <private.pem> is required", "Usage:")
        self.sign_fails(["-key", "", "GET", "/x"], 2, "-key <private.pem> is required")
        missing = self.path("missing.pem")
        self.sign_fails(["-key", missing, "GET", "/x"], 1, missing, "no such file or directory")
        os.chmod(self.key_a, 0o644)
        self.sign_fails(["-key", self.key_a, "GET", "/x"], 1,
                        f'private key "{self.key_a}" has unsafe permissions',
                        "is world-readable (mode 0644)")
        os.chmod(self.key_a, 0o620)
        self.sign_fails(["-key", self.key_a, "GET", "/x"], 1, "is group/world-writable")
        self.sign_fails(["-key", self.tmp, "GET", "/x"], 1, "is not a regular file")
        bad = self.path("bad.pem")
        write_file(bad, "not a key\n", 0o600)
        self.sign_fails(["-key", bad, "GET", "/x"], 1, "no PEM block found in private key data")
        if OPENSSL:
            x = self.path("x25519.pem")
            openssl("genpkey", "-algorithm", "x25519", "-out", x)
            os.chmod(x, 0o600)
            self.sign_fails(["-key", x, "GET", "/x"], 1, "private key is not Ed25519")

    def test_legacy_refusals(self):
        for target in ("/v1.44/containers/json?all=1", "/x?"):
            self.sign_fails(["-key", self.key_a, "-legacy", "GET", target], 2,
                            f'-legacy cannot sign TARGET "{target}"', "query")
        for target in ("/a%zz", "/a%4", "/a%"):
            self.sign_fails(["-key", self.key_a, "-legacy", "GET", target], 2,
                            "malformed %-escape")
        # without -legacy both are fine: v2 signs the target as sent
        self.sign_ok("-key", self.key_a, "GET", "/x?")
        self.sign_ok("-key", self.key_a, "GET", "/a%zz")
        self.sign_fails(["-key", self.key_a, "-legacy=maybe", "GET", "/x"], 2,
                        'invalid boolean value "maybe" for -legacy')

    def test_bad_nonce_timestamp_family(self):
        for nonce in ("", "abc", NONCE1[:-1], NONCE1 + "0", "g" * 32, " " + NONCE1[1:],
                      "0x" + NONCE1[2:]):
            self.sign_fails(["-key", self.key_a, "-nonce", nonce, "GET", "/x"], 2,
                            f'invalid -nonce "{nonce}"', "32 hex digits")
        for ts in ("", "abc", "1.5", "+1", " 1", "1e9", "9223372036854775808",
                   "-9223372036854775809", "0x10"):
            self.sign_fails(["-key", self.key_a, "-timestamp", ts, "GET", "/x"], 2,
                            f'invalid -timestamp "{ts}"')
        for fam in ("", "Lookout", "docker"):
            self.sign_fails(["-key", self.key_a, "-header-family", fam, "GET", "/x"], 2,
                            f'invalid -header-family "{fam}"', "lookout or portwing")

    def test_bad_method_or_target(self):
        for method, target, why in (
            ("GET", "x", "request target not in origin-form"),
            ("GET", "http://h/x", "request target not in origin-form"),
            ("GET", "", "request target not in origin-form"),
            ("GET", "/a b", "must not contain spaces, tabs or line breaks"),
            ("GET", "/a\tb", "must not contain spaces, tabs or line breaks"),
            ("GET", "/a\nHost: x", "must not contain spaces, tabs or line breaks"),
            ("GE T", "/x", "must not contain spaces, tabs or line breaks"),
            ("GET", "/caf\u00e9", "invalid byte in request target"),
            ("GET", "/a#b", "invalid byte in request target"),
            ("GET", "/a\x7f", "invalid byte in request target"),
            ("GET", "*", "request target not in origin-form"),  # OPTIONS only
            ("G(T", "/x", "invalid method"),
            ("", "/x", "invalid method"),
            ("CONNECT", "/x", "CONNECT not supported"),
            ("\r\nGET", "/x", "must not contain spaces, tabs or line breaks"),
        ):
            self.sign_fails(["-key", self.key_a, method, target], 2, why)
        self.sign_ok("-key", self.key_a, "OPTIONS", "*")
        # the request line (with " HTTP/1.1\r\n") may be exactly LK_HTTP_LINE_MAX
        fixed = len("GET ") + len(" HTTP/1.1\r\n")
        self.sign_ok("-key", self.key_a, "GET", "/" + "a" * (LINE_MAX - fixed - 1))
        self.sign_fails(["-key", self.key_a, "GET", "/" + "a" * (LINE_MAX - fixed)], 2,
                        "request line over 8192 bytes")

    def test_body_problems(self):
        big = self.path("big")
        with open(big, "wb") as f:
            f.truncate(BODY_MAX + 1)  # sparse: no 64 MiB written to disk
        want = f'body "{big}" is larger than 67108864 bytes (64 MiB)'
        self.sign_fails(["-key", self.key_a, "PUT", "/x", big], 1, want)
        # through a pipe the size is only known by reading
        r = subprocess.run(f"cat '{big}' | '{LOOKOUT}' sign -key '{self.key_a}' PUT /x -",
                           shell=True, capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b'lookout sign: body "stdin" is larger than 67108864 bytes', r.stderr)
        # exactly 64 MiB is allowed, and hashed in full
        with open(big, "r+b") as f:
            f.truncate(BODY_MAX)
        h = dict(parse_headers(self.sign_ok("-key", self.key_a, "-timestamp", TS, "-nonce",
                                            NONCE1, "PUT", "/x", big)))
        if OPENSSL:
            digest = hashlib.sha256(b"\0" * BODY_MAX).hexdigest()
            msg = f"PUT\n/x\n{digest}\n{TS}\n{NONCE1}".encode()
            self.assertTrue(openssl_verify(self.tmp, self.key_a, msg, h["X-Lookout-Signature"]))
        missing = self.path("nobody")
        self.sign_fails(["-key", self.key_a, "PUT", "/x", missing], 1,
                        f'opening body "{missing}"', "no such file or directory")
        self.sign_fails(["-key", self.key_a, "PUT", "/x", self.tmp], 1,
                        f'reading body "{self.tmp}"', "is a directory")

    def test_command_line(self):
        for args, why in (
            (["-bogus"], "flag provided but not defined: -bogus"),
            (["--bogus=1", "GET", "/x"], "flag provided but not defined: --bogus=1"),
            (["-key"], "flag needs an argument: -key"),
            (["---key", "k"], "bad flag syntax: ---key"),
            (["-key", "k"], "missing METHOD and TARGET"),
            (["-key", "k", "GET"], "missing TARGET"),
            (["-key", "k", "GET", "/x", "body", "extra"], "unexpected argument: extra"),
        ):
            err = self.sign_fails(args, 2, why)
            self.assertIn("Usage: lookout sign", err)

    def test_flag_forms(self):
        """Go-style forms, flags after the positionals, and "--"."""
        want = expected("Lookout", KEY_A_ID, TS, NONCE1, SIG_GET_TEST, True)
        for args in (
            ["-key", self.key_a, "-timestamp", TS, "-nonce", NONCE1, "GET", "/api/test"],
            ["--key=" + self.key_a, "--timestamp=" + TS, "--nonce=" + NONCE1, "GET", "/api/test"],
            ["GET", "/api/test", "-key", self.key_a, "-timestamp", TS, "-nonce", NONCE1],
            ["-key", self.key_a, "-timestamp", TS, "-nonce", NONCE1, "--", "GET", "/api/test"],
            ["-key", self.key_a, "-legacy=false", "-timestamp", TS, "-nonce", NONCE1, "GET",
             "/api/test"],
        ):
            self.assertEqual(self.sign_ok(*args), want, args)
        out = self.sign_ok("-key", self.key_a, "-legacy=true", "-timestamp", TS, "-nonce", NONCE1,
                           "GET", "/api/test")
        self.assertEqual(out, expected("Lookout", KEY_A_ID, TS, NONCE1, SIG_GET_TEST, False))

    def test_help(self):
        for flag in ("-h", "--help", "-help", "--h"):
            r = run([flag])
            self.assertEqual(r.returncode, 0, flag)
            self.assertEqual(r.stderr, b"")
            self.assertTrue(r.stdout.startswith(
                b"Usage: lookout sign -key <private.pem> [-header-family lookout|portwing]\n"))
            self.assertIn(b"METHOD TARGET [BODYFILE]\n", r.stdout)
        r = subprocess.run([LOOKOUT, "--help"], capture_output=True, timeout=TIMEOUT)
        self.assertIn(b"\n  sign ", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
