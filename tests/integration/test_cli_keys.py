#!/usr/bin/env python3
"""`lookout keygen` and `lookout hash-token` end to end (spec lookout-core 2.1,
2.2, 16, 17.2), with OpenSSL as the independent check that the keys and
signatures interoperate.

Run: LOOKOUT_BIN=build/asan/lookout python3 tests/integration/test_cli_keys.py
Standard library only; the openssl CLI is used when present.
"""
import base64
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

LOOKOUT = os.environ.get("LOOKOUT_BIN", "")
OPENSSL = shutil.which("openssl")

KEY_A_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n"
)
KEY_A_LINE = "ed25519 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
PUB_FROM_HEADER = "# authorized_keys line (add to AUTHORIZED_KEYS file on agent host):\n"
GEN_STDERR = (
    "Generating Ed25519 keypair...\n"
    "# Private key (PKCS#8 PEM) \u2014 store securely; set as PRIVATE_KEY_FILE on the client:\n"
    "# authorized_keys line \u2014 add to AUTHORIZED_KEYS file on agent host:\n"
)
PHC_RE = re.compile(
    r"^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}\n$"
)
PEM_RE = re.compile(
    r"^-----BEGIN PRIVATE KEY-----\n(MC4CAQAwBQYDK2VwBCIEI[A-Za-z0-9+/]{43})\n"
    r"-----END PRIVATE KEY-----\n"
)
SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")
TIMEOUT = 60


def run(args, stdin=b"", **kw):
    return subprocess.run(
        [LOOKOUT] + args, input=stdin, capture_output=True, timeout=TIMEOUT, **kw
    )


def openssl(*args, stdin=None):
    return subprocess.run(
        [OPENSSL] + list(args), input=stdin, capture_output=True, timeout=TIMEOUT, check=True
    )


def line_key(line):
    """Raw public key bytes from an authorized_keys line."""
    fields = line.split()
    assert fields[0] == "ed25519", line
    raw = base64.b64decode(fields[1], validate=True)
    assert len(raw) == 32, line
    return raw


def write_file(path, text, mode):
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
    os.chmod(path, mode)


@unittest.skipUnless(LOOKOUT and os.access(LOOKOUT, os.X_OK), "LOOKOUT_BIN not set or not executable")
class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lk_cli_keys.")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)


class Keygen(Base):
    def generate(self, *args):
        r = run(["keygen"] + list(args))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.decode(), GEN_STDERR)
        out = r.stdout.decode()
        m = PEM_RE.match(out)
        self.assertIsNotNone(m, out)
        pem = out[: m.end()]
        rest = out[m.end():]
        self.assertTrue(rest.endswith("\n") and rest.count("\n") == 1, rest)
        return pem, rest[:-1]

    def test_generate_layout(self):
        pem, line = self.generate("-comment", "test")
        fields = line.split(" ")
        self.assertEqual(len(fields), 3)
        self.assertEqual(fields[0], "ed25519")
        self.assertEqual(len(fields[1]), 44)
        self.assertEqual(fields[2], "test")
        # the DER inside is the fixed 48-byte v0 PKCS#8 form
        der = base64.b64decode(pem.splitlines()[1])
        self.assertEqual(len(der), 48)
        self.assertEqual(der[:16], bytes.fromhex("302e020100300506032b657004220420"))

    def test_generate_no_comment_and_flag_forms(self):
        _, line = self.generate()
        self.assertEqual(len(line.split(" ")), 2)
        for args in (["--comment", "x y"], ["-comment=x y"], ["--comment=x y"]):
            _, line = self.generate(*args)
            self.assertTrue(line.endswith(" x y"), (args, line))
        # two runs never give the same key
        self.assertNotEqual(self.generate()[1], self.generate()[1])

    @unittest.skipUnless(OPENSSL, "openssl not installed")
    def test_openssl_reads_generated_key(self):
        pem, line = self.generate("-comment", "test")
        p = self.path("k.pem")
        write_file(p, pem, 0o600)
        der = openssl("pkey", "-in", p, "-pubout", "-outform", "DER").stdout
        self.assertEqual(der[:12], SPKI_ED25519_PREFIX)
        self.assertEqual(der[-32:], line_key(line))
        text = openssl("pkey", "-in", p, "-text", "-noout").stdout.decode()
        self.assertIn("ED25519 Private-Key", text)

    def test_pub_from_reproduces_line(self):
        pem, line = self.generate("-comment", "test")
        p = self.path("k.pem")
        write_file(p, pem, 0o600)
        for args in (["-pub-from", p, "-comment", "test"], ["--pub-from=" + p, "--comment=test"]):
            r = run(["keygen"] + args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.decode(), PUB_FROM_HEADER)
            self.assertEqual(r.stdout.decode(), line + "\n")
        os.chmod(p, 0o640)  # group-readable is allowed
        r = run(["keygen", "-pub-from", p])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), " ".join(line.split(" ")[:2]) + "\n")

    def test_pub_from_refuses_unsafe_modes(self):
        p = self.path("k.pem")
        write_file(p, KEY_A_PEM, 0o644)
        r = run(["keygen", "-pub-from", p])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        self.assertEqual(
            r.stderr.decode(),
            f'keygen: private key "{p}" has unsafe permissions: private key "{p}" is '
            "world-readable (mode 0644): restrict permissions to 0600 or 0640 before loading\n",
        )
        os.chmod(p, 0o620)
        r = run(["keygen", "-pub-from", p])
        self.assertEqual(r.returncode, 1)
        self.assertIn("is group/world-writable (mode 0620)", r.stderr.decode())
        r = run(["keygen", "-pub-from", self.tmp])
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a regular file", r.stderr.decode())
        r = run(["keygen", "-pub-from", self.path("missing.pem")])
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such file or directory", r.stderr.decode())

    def test_pub_from_rfc8032_key_a(self):
        p = self.path("a.pem")
        write_file(p, KEY_A_PEM, 0o600)
        r = run(["keygen", "-pub-from", p])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), KEY_A_LINE + "\n")
        r = run(["keygen", "-pub-from", p, "-comment", "enrolled:21fe31dfa154a261"])
        self.assertEqual(r.stdout.decode(), KEY_A_LINE + " enrolled:21fe31dfa154a261\n")

    def test_pub_from_bad_contents(self):
        p = self.path("bad.pem")
        write_file(p, "not a key\n", 0o600)
        r = run(["keygen", "-pub-from", p])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(), "keygen: no PEM block found in private key data\n")
        write_file(p, KEY_A_PEM.replace("PRIVATE KEY", "PUBLIC KEY"), 0o600)
        r = run(["keygen", "-pub-from", p])
        self.assertEqual(
            r.stderr.decode(),
            'keygen: expected PEM type "PRIVATE KEY", got "PUBLIC KEY"\n',
        )

    @unittest.skipUnless(OPENSSL, "openssl not installed")
    def test_openssl_keys_accepted(self):
        for alg, ok in (("ed25519", True), ("x25519", False), ("ed448", False)):
            p = self.path(alg + ".pem")
            openssl("genpkey", "-algorithm", alg, "-out", p)
            os.chmod(p, 0o600)
            r = run(["keygen", "-pub-from", p])
            if not ok:
                self.assertEqual(r.returncode, 1, alg)
                self.assertTrue(r.stderr.startswith(b"keygen: "), r.stderr)
                continue
            self.assertEqual(r.returncode, 0, r.stderr)
            der = openssl("pkey", "-in", p, "-pubout", "-outform", "DER").stdout
            self.assertEqual(line_key(r.stdout.decode()), der[-32:])

    @unittest.skipUnless(OPENSSL, "openssl not installed")
    def test_openssl_signature_verifies_against_line(self):
        """A signature made by OpenSSL with a lookout key verifies against the
        public key lookout printed (and a tampered message does not)."""
        pem, line = self.generate()
        key = self.path("k.pem")
        write_file(key, pem, 0o600)
        spki = SPKI_ED25519_PREFIX + line_key(line)
        pub = self.path("pub.pem")
        write_file(
            pub,
            "-----BEGIN PUBLIC KEY-----\n"
            + base64.b64encode(spki).decode()
            + "\n-----END PUBLIC KEY-----\n",
            0o644,
        )
        msg, sig = self.path("msg"), self.path("sig")
        with open(msg, "wb") as f:
            f.write(b"GET\n/api/test\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                    b"\n1749600000\na1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6")
        openssl("pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", msg, "-out", sig)
        self.assertEqual(os.path.getsize(sig), 64)
        openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", msg, "-sigfile", sig)
        with open(msg, "ab") as f:
            f.write(b"x")
        r = subprocess.run(
            [OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", msg,
             "-sigfile", sig],
            capture_output=True, timeout=TIMEOUT,
        )
        self.assertNotEqual(r.returncode, 0)

    def test_comment_with_newline_refused(self):
        r = run(["keygen", "-comment", "a\nb"])
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"keygen: comment must not contain a line break", r.stderr)
        self.assertNotIn(b"ed25519", r.stdout)

    def test_help_and_bad_flags(self):
        for flag in ("-h", "--help", "-help", "--h"):
            r = run(["keygen", flag])
            self.assertEqual(r.returncode, 0, flag)
            self.assertTrue(r.stdout.startswith(b"Usage: lookout keygen [-comment <text>]\n"))
            self.assertIn(b"       lookout keygen -pub-from <private.pem> [-comment <text>]\n",
                          r.stdout)
            self.assertEqual(r.stderr, b"")
        for args, msg in (
            (["-bogus"], b"flag provided but not defined: -bogus\n"),
            (["--bogus=1"], b"flag provided but not defined: --bogus=1\n"),
            (["-comment"], b"flag needs an argument: -comment\n"),
            (["---comment", "x"], b"bad flag syntax: ---comment\n"),
            (["extra"], b"unexpected argument: extra\n"),
        ):
            r = run(["keygen"] + args)
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(r.stdout, b"")
            self.assertTrue(r.stderr.startswith(msg), r.stderr)
            self.assertIn(b"Usage: lookout keygen", r.stderr)


class HashToken(Base):
    def test_hash(self):
        r = run(["hash-token"], b"supersecret")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"Enter token: ")
        self.assertRegex(r.stdout.decode(), PHC_RE)
        r2 = run(["hash-token"], b"supersecret\n")
        self.assertRegex(r2.stdout.decode(), PHC_RE)
        self.assertNotEqual(r.stdout, r2.stdout)  # fresh salt
        r = run(["hash-token"], b"  supersecret \r\nsecond line ignored\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.decode(), PHC_RE)

    def test_empty_and_missing_input(self):
        for data in (b"\n", b"   ", b" \t\r\n", b"\nsupersecret\n"):
            r = run(["hash-token"], data)
            self.assertEqual(r.returncode, 1, data)
            self.assertEqual(r.stderr, b"Enter token: token must not be empty\n")
            self.assertEqual(r.stdout, b"")
        r = run(["hash-token"], b"")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, b"Enter token: no input provided\n")
        r = subprocess.run([LOOKOUT, "hash-token"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, b"Enter token: no input provided\n")

    def test_line_cap(self):
        ok = b"x" * 65535 + b"\n"
        r = run(["hash-token"], ok)
        self.assertEqual(r.returncode, 0, r.stderr[:200])
        r = run(["hash-token"], b"x" * 65536 + b"\n")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith(b"Enter token: error reading input: "), r.stderr)

    def test_help(self):
        for flag in ("-h", "--help", "-help"):
            r = run(["hash-token", flag])
            self.assertEqual(r.returncode, 0)
            self.assertTrue(r.stdout.startswith(b"Usage: lookout hash-token\n"))
            self.assertEqual(r.stderr, b"")
        r = run(["hash-token", "--bogus"])
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"Usage: lookout hash-token", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
