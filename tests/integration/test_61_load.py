#!/usr/bin/env python3
"""bench/lk-load, the closed-loop keep-alive load generator: its result line
against mock-engine's unix socket, through a real agent over TCP with the
token header, and its streaming mode on a followed log. Short runs, no
timing asserts: this checks that it works, not how fast anything is.

Binaries come from $LK_LOAD and $LK_MOCK_ENGINE (set by tests/CMakeLists.txt),
else bench/ next to $LOOKOUT_BIN's build dir.

Run: LOOKOUT_BIN=build/dev/lookout LK_MOCK_ENGINE=build/dev/bench/mock-engine \\
     LK_LOAD=build/dev/bench/lk-load python3 tests/integration/test_61_load.py
"""

import os
import re
import select
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from test_60_mock_engine import MockEngine  # noqa: E402

lk.absolute_lookout_bin()

LOAD_LINE = re.compile(r"^lk-load: reqs=(\d+) rps=(\d+) p50_us=([\d.]+) p90_us=([\d.]+) "
                       r"p99_us=([\d.]+) errors=(\d+) conns=(\d+) secs=([\d.]+)$")
RATE_LINE = re.compile(r"^lk-load: reqs=(\d+) rps=(\d+) p50_us=([\d.]+) p90_us=([\d.]+) "
                       r"p99_us=([\d.]+) errors=(\d+) conns=(\d+) secs=([\d.]+) rate=([\d.]+)$")
STREAM_LINE = re.compile(r"^lk-load: stream bytes=(\d+) gbps=([\d.]+) secs=([\d.]+)$")
RUN_TIMEOUT = 60.0


def load_bin():
    p = os.environ.get("LK_LOAD")
    if not p:
        p = os.path.join(os.path.dirname(lk.lookout_bin()), "bench", "lk-load")
    if not os.access(p, os.X_OK):
        raise AssertionError("lk-load not found at %s (build the lk-load target)" % p)
    return os.path.abspath(p)


def lk_load(*args):
    """Runs lk-load; returns its one stdout line and stderr."""
    env = {"PATH": lk.SYS_PATH}
    for k in lk.PASS_ENV:
        if k in os.environ:
            env[k] = os.environ[k]
    cp = lk.run([load_bin()] + list(args), timeout=RUN_TIMEOUT, env=env)
    out = cp.stdout.decode().splitlines()
    if len(out) != 1:
        raise AssertionError("want one output line, got %r (stderr %r)" % (out, cp.stderr))
    return out[0], cp.stderr.decode(errors="replace")


def hold(*args, before_close=None):
    """Runs lk-load -hold with stdin on a pipe: waits for its ready line,
    calls before_close(), closes stdin and returns (exit status, last
    line, stderr)."""
    env = {"PATH": lk.SYS_PATH}
    for k in lk.PASS_ENV:
        if k in os.environ:
            env[k] = os.environ[k]
    p = lk.popen([load_bin(), "-hold"] + list(args), stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT + 30
        r, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))
        ready = p.stdout.readline().decode() if r else ""
        if not ready:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("no ready line; exit %s, stderr %r" % (p.returncode, err[-2000:]))
        if before_close is not None:
            before_close(ready.strip())
        p.stdin.close()
        p.stdin = None  # communicate() would flush the closed pipe
        out, err = p.communicate(timeout=RUN_TIMEOUT)
    except BaseException:
        p.kill()
        p.wait()
        raise
    lines = [ready.strip()] + out.decode().splitlines()
    return p.returncode, lines, err.decode(errors="replace")


ENGINE = None


def setUpModule():
    global ENGINE
    ENGINE = MockEngine("-frame-size", "65536")


def tearDownModule():
    global ENGINE
    if ENGINE is not None:
        e, ENGINE = ENGINE, None
        rc = e.stop()
        if rc != 0:
            raise AssertionError("mock-engine exited %d:\n%s" % (rc, "\n".join(e.stderr[-60:])))


class Load(lk.TestCase):
    def check_line(self, line, err, conns, want_errors=0):
        m = LOAD_LINE.match(line)
        self.assertIsNotNone(m, line)
        reqs, _, p50, p90, p99, errors, c, secs = m.groups()
        self.assertGreater(int(reqs), 0, line)
        self.assertEqual(int(errors), want_errors, "%s\n%s" % (line, err))
        self.assertEqual(int(c), conns)
        self.assertGreater(float(secs), 0)
        self.assertLessEqual(float(p50), float(p90), line)
        self.assertLessEqual(float(p90), float(p99), line)
        return int(reqs)

    def test_unix_ping(self):
        line, err = lk_load("-unix", ENGINE.socket, "-path", "/_ping", "-c", "8", "-d", "1",
                            "-warmup", "0")
        self.check_line(line, err, 8)

    def test_unix_threads_chunked(self):
        # a chunked response (logs without follow) on two threads
        line, err = lk_load("-unix", ENGINE.socket, "-path", "/containers/mock-1/logs?stdout=1",
                            "-c", "4", "-threads", "2", "-d", "1", "-warmup", "0")
        self.check_line(line, err, 4)

    def test_non_2xx_are_errors(self):
        line, err = lk_load("-unix", ENGINE.socket, "-path", "/nope", "-c", "2", "-d", "1",
                            "-warmup", "0")
        m = LOAD_LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertGreater(int(m.group(1)), 0, line)
        self.assertEqual(m.group(1), m.group(6), "every 404 is an error: " + line)
        self.assertIn("non-2xx", err)

    def test_through_agent(self):
        a = self.start_agent({"DOCKER_SOCKET": ENGINE.socket})
        line, err = lk_load("-url", "http://127.0.0.1:%d/_ping" % a.port,
                            "-H", "Authorization: Bearer " + a.token,
                            "-c", "8", "-d", "1", "-warmup", "0")
        self.check_line(line, err, 8)
        # without the token every response is a 401: all errors
        line, err = lk_load("-url", "http://127.0.0.1:%d/_ping" % a.port,
                            "-c", "1", "-d", "1", "-warmup", "0")
        m = LOAD_LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m.group(1), m.group(6), line)

    def test_rate(self):
        """-rate paces: the measured rps is the asked rate (within 20%),
        whatever the closed loop could do, and the line says rate=."""
        line, err = lk_load("-unix", ENGINE.socket, "-path", "/_ping", "-c", "8", "-d", "1",
                            "-warmup", "0")
        closed = int(LOAD_LINE.match(line).group(2))
        for rate, conns, threads in ((300, 4, 1), (150, 6, 2)):
            self.assertGreater(closed, 2 * rate, "the engine is too slow to tell: " + line)
            line, err = lk_load("-unix", ENGINE.socket, "-path", "/_ping", "-c", str(conns),
                                "-threads", str(threads), "-rate", str(rate), "-d", "2",
                                "-warmup", "0")
            m = RATE_LINE.match(line)
            self.assertIsNotNone(m, line)
            self.assertEqual(m.group(9), str(rate), line)
            self.assertEqual(int(m.group(6)), 0, "%s\n%s" % (line, err))
            rps = int(m.group(2))
            self.assertTrue(0.8 * rate <= rps <= 1.2 * rate, line)
        cp = lk.run([load_bin(), "-unix", ENGINE.socket, "-stream", "-rate", "10"], check=False)
        self.assertEqual(cp.returncode, 1)
        self.assertIn(b"-rate", cp.stderr)
        cp = lk.run([load_bin(), "-unix", ENGINE.socket, "-rate", "0"], check=False)
        self.assertEqual(cp.returncode, 1)

    def test_stream(self):
        line, err = lk_load("-unix", ENGINE.socket, "-path",
                            "/containers/mock-1/logs?follow=1&stdout=1", "-stream",
                            "-d", "1", "-warmup", "0")
        m = STREAM_LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertGreater(int(m.group(1)), 0, line)
        # -bytes stops the run once that much arrived
        line, err = lk_load("-unix", ENGINE.socket, "-path",
                            "/containers/mock-1/logs?follow=1&stdout=1", "-stream",
                            "-bytes", "1000000", "-d", "30", "-warmup", "0")
        m = STREAM_LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertGreaterEqual(int(m.group(1)), 1000000, line)

    def check_hold(self, conns, *args):
        readys = []
        rc, lines, err = hold("-c", str(conns), "-d", "120", *args,
                              before_close=readys.append)
        self.assertEqual(readys, ["lk-load: hold conns=%d ready" % conns], err)
        self.assertEqual(lines[1:], ["lk-load: hold conns=%d open=%d lost=0" % (conns, conns)],
                         err)
        self.assertEqual(rc, 0, err)

    def test_hold_through_agent(self):
        """300 idle keep-alive connections and 300 quiet log streams held
        through the agent, all still open when stdin closes."""
        a = self.start_agent({"DOCKER_SOCKET": ENGINE.socket, "MAX_STREAMS": "1000"})
        auth = "Authorization: Bearer " + a.token
        base = "http://127.0.0.1:%d" % a.port
        self.check_hold(300, "-url", base + "/_ping", "-H", auth, "-threads", "2")
        self.check_hold(300, "-url", base + "/v1.47/containers/mock-1/logs?follow=1&stdout=1&tail=0",
                        "-H", auth, "-stream")
        # the agent is fine afterwards
        line, err = lk_load("-url", base + "/_ping", "-H", auth, "-c", "2", "-d", "1",
                            "-warmup", "0")
        self.check_line(line, err, 2)

    def test_hold_streams_direct(self):
        """Held streams read and discard what arrives: a normal follow at
        full speed stays held like a quiet one."""
        self.check_hold(50, "-unix", ENGINE.socket, "-path",
                        "/containers/mock-1/logs?follow=1&stdout=1", "-stream")

    def test_hold_counts_losses(self):
        """Connections the peer closes after the ready line are lost: exit 1."""
        e = MockEngine()
        try:
            rc, lines, err = hold("-unix", e.socket, "-path",
                                  "/containers/mock-1/logs?follow=1&tail=0", "-stream",
                                  "-c", "20", "-d", "120",
                                  before_close=lambda line: e.stop())
        finally:
            e.stop()
        self.assertEqual(lines, ["lk-load: hold conns=20 ready",
                                 "lk-load: hold conns=20 open=0 lost=20"], err)
        self.assertEqual(rc, 1)
        self.assertIn("closed by the peer", err)

    def test_hold_cannot_establish(self):
        """A request the server refuses never becomes held: the reason on
        stderr and exit 1 (here quickly: too many descriptors asked for)."""
        cp = lk.run([load_bin(), "-hold", "-unix", ENGINE.socket, "-c", "100000"], check=False)
        self.assertEqual(cp.returncode, 1)
        self.assertIn(b"RLIMIT_NOFILE", cp.stderr)
        self.assertEqual(cp.stdout, b"")

    def keygen(self, tmp):
        """A `lookout keygen` key: (private PEM path, authorized_keys path)."""
        cp = lk.run([lk.lookout_bin(), "keygen", "-comment", "lk-load"])
        out = cp.stdout.decode()
        end = "-----END PRIVATE KEY-----\n"
        pem, _, rest = out.partition(end)
        line = [ln for ln in rest.splitlines() if ln.startswith("ed25519 ")]
        self.assertEqual(len(line), 1, out)
        key = os.path.join(tmp, "client.pem")
        with open(key, "w") as f:
            f.write(pem + end)
        os.chmod(key, 0o600)
        keys = os.path.join(tmp, "authorized_keys")
        lk.write_keys(keys, line[0] + "\n")
        return key, keys

    def test_signed(self):
        """-sign-key: every request carries a fresh signature (a reused
        nonce would be a 401 replay), in both header families, in latency,
        stream and hold modes; without the key every request is a 401."""
        tmp = self.tmpdir()
        key, keys = self.keygen(tmp)
        a = self.start_agent({"DOCKER_SOCKET": ENGINE.socket, "AUTHORIZED_KEYS": keys})
        url = "http://127.0.0.1:%d/_ping" % a.port
        line, err = lk_load("-url", url, "-sign-key", key, "-c", "4", "-d", "1", "-warmup", "0")
        reqs = self.check_line(line, err, 4)
        self.assertGreater(reqs, 1, line)
        line, err = lk_load("-url", url + "?x=1", "-sign-key", key, "-sign-family", "portwing",
                            "-c", "2", "-d", "1", "-warmup", "0")
        self.check_line(line, err, 2)
        line, err = lk_load("-url", "http://127.0.0.1:%d/containers/mock-1/logs?follow=1&stdout=1"
                            % a.port, "-sign-key", key, "-stream", "-bytes", "1000000",
                            "-d", "30", "-warmup", "0")
        m = STREAM_LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertGreaterEqual(int(m.group(1)), 1000000, line)
        self.check_hold(20, "-url", url, "-sign-key", key)
        # last: the failures make the agent's limiter slow this client down
        line, err = lk_load("-url", url, "-c", "2", "-d", "1", "-warmup", "0")
        m = LOAD_LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertGreater(int(m.group(1)), 0, line)
        self.assertEqual(m.group(1), m.group(6), "unsigned: every request a 401: " + line)
        # a key file others can read is refused, as by lookout sign
        os.chmod(key, 0o644)
        cp = lk.run([load_bin(), "-url", url, "-sign-key", key], check=False)
        self.assertEqual(cp.returncode, 1)
        self.assertIn(b"-sign-key", cp.stderr)

    def test_usage(self):
        cp = lk.run([load_bin(), "-h"])
        self.assertIn(b"usage: lk-load", cp.stdout)
        cp = lk.run([load_bin(), "-c", "8"], check=False)
        self.assertEqual(cp.returncode, 2)
        cp = lk.run([load_bin(), "-url", "ftp://127.0.0.1:1/"], check=False)
        self.assertEqual(cp.returncode, 1)
        self.assertIn(b"http[s]://", cp.stderr)
        cp = lk.run([load_bin(), "-unix", "/x", "-cacert", "/y"], check=False)
        self.assertEqual(cp.returncode, 1)
        self.assertIn(b"-cacert", cp.stderr)

    def test_tls(self):
        """-url https://: a full handshake per connection, no verification
        unless -cacert, then against the CA and the URL's IP."""
        tmp = self.tmpdir()
        certs = lk.make_certs(os.path.join(tmp, "a"))
        other = lk.make_certs(os.path.join(tmp, "b"))
        a = self.start_agent({"DOCKER_SOCKET": ENGINE.socket}, certs=certs)
        self.assertTrue(a.tls)
        url = "https://127.0.0.1:%d/_ping" % a.port
        auth = "Authorization: Bearer " + a.token
        line, err = lk_load("-url", url, "-H", auth, "-c", "4", "-d", "1", "-warmup", "0")
        self.check_line(line, err, 4)
        line, err = lk_load("-url", url, "-H", auth, "-cacert", certs.ca, "-c", "2",
                            "-threads", "2", "-d", "1", "-warmup", "0")
        self.check_line(line, err, 2)
        # a CA that did not sign the agent's certificate: every handshake fails
        line, err = lk_load("-url", url, "-H", auth, "-cacert", other.ca, "-c", "2", "-d", "1",
                            "-warmup", "0")
        m = LOAD_LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m.group(1), "0", line)
        self.assertGreater(int(m.group(6)), 0, line)
        self.assertIn("certificate", err)
        # plain HTTP to the TLS port is not TLS: errors, not a hang
        line, err = lk_load("-url", "http://127.0.0.1:%d/_ping" % a.port, "-H", auth,
                            "-c", "1", "-d", "1", "-warmup", "0")
        m = LOAD_LINE.match(line)
        self.assertIsNotNone(m, line)
        # a stream over TLS moves bytes, in more than one TLS record
        line, err = lk_load("-url", "https://127.0.0.1:%d/containers/mock-1/logs?follow=1&stdout=1"
                            % a.port, "-H", auth, "-stream", "-bytes", "4000000", "-d", "30",
                            "-warmup", "0")
        m = STREAM_LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertGreaterEqual(int(m.group(1)), 4000000, line)


if __name__ == "__main__":
    lk.main()
