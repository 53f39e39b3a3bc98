#!/usr/bin/env python3
"""bench/mock-engine, the Docker Engine stand-in for load tests: every
endpoint's status and shape, the streams (log frames, events, stats), the exec
hijack's half-close order, 2000 idle keep-alive connections, and the real
agent in front of it.

The binary comes from $LK_MOCK_ENGINE (set by tests/CMakeLists.txt), else
bench/mock-engine next to $LOOKOUT_BIN's build dir.

Run: LOOKOUT_BIN=build/asan/lookout python3 tests/integration/test_60_mock_engine.py
"""

import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402

lk.absolute_lookout_bin()

CONNS = 2000
FRAME_SIZE = 4096
LOG_FRAMES = 7
CONTAINERS = 50
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def mock_engine_bin():
    p = os.environ.get("LK_MOCK_ENGINE")
    if not p:
        p = os.path.join(os.path.dirname(lk.lookout_bin()), "bench", "mock-engine")
    if not os.access(p, os.X_OK):
        raise AssertionError("mock-engine not found at %s (build the mock-engine target)" % p)
    return os.path.abspath(p)


class MockEngine:
    """mock-engine as a child process on a private socket."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="lk-mock-")
        self.socket = os.path.join(self.dir, "docker.sock")
        env = {"PATH": lk.SYS_PATH}
        for k in lk.PASS_ENV:
            if k in os.environ:
                env[k] = os.environ[k]
        self.proc = lk.popen([mock_engine_bin(), "-socket", self.socket] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.stderr = []
        line = self.proc.stdout.readline().decode()
        if line.strip() != "mock-engine: listening on %s" % self.socket:
            self.proc.kill()
            raise AssertionError("mock-engine did not start: %r %r" % (
                line, self.proc.stderr.read().decode(errors="replace")))
        t = threading.Thread(target=self._drain, daemon=True)
        t.start()
        self._t = t

    def _drain(self):
        for ln in iter(self.proc.stderr.readline, b""):
            self.stderr.append(ln.decode(errors="replace").rstrip("\n"))

    def stop(self):
        """SIGTERM; returns the exit status (sanitizer findings make it non-zero)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._t.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, True)
        return rc

    def conn(self, timeout=10.0):
        return lk.UnixHTTPConnection(self.socket, timeout)

    def raw(self, timeout=10.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.socket)
        return s


ENGINE = None


def setUpModule():
    global ENGINE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, CONNS + 1024))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    ENGINE = MockEngine("-containers", str(CONTAINERS), "-frame-size", str(FRAME_SIZE),
                        "-log-frames", str(LOG_FRAMES), "-events-per-sec", "50")


def tearDownModule():
    global ENGINE
    if ENGINE is not None:
        e, ENGINE = ENGINE, None
        rc = e.stop()
        if rc != 0:
            raise AssertionError("mock-engine exited %d:\n%s" % (rc, "\n".join(e.stderr[-60:])))


def get(c, path, method="GET", body=None, headers=None):
    hdrs = dict(headers or {})
    if body is not None:
        body = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=hdrs)
    r = c.getresponse()
    return r.status, r, r.read()


def read_frames(r, want):
    """Read docker frames from a streaming http.client response until `want`
    complete frames arrived; returns their (stream, payload) list."""
    buf = b""
    frames = []
    while len(frames) < want:
        d = r.read1(65536)
        if not d:
            raise AssertionError("log stream ended after %d frames" % len(frames))
        buf += d
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if buf[1:4] != b"\0\0\0" or buf[0] not in (1, 2):
                raise AssertionError("bad frame header %r" % buf[:8])
            if len(buf) < 8 + size:
                break
            frames.append((buf[0], buf[8:8 + size]))
            buf = buf[8 + size:]
    return frames


def read_lines(r, want, timeout):
    """JSON lines from a streaming response, at least `want` of them."""
    deadline = time.monotonic() + timeout
    buf = b""
    out = []
    while len(out) < want:
        if time.monotonic() > deadline:
            raise AssertionError("got %d of %d lines in %ss" % (len(out), want, timeout))
        d = r.read1(65536)
        if not d:
            raise AssertionError("stream ended after %d lines" % len(out))
        buf += d
        while b"\n" in buf:
            ln, buf = buf.split(b"\n", 1)
            out.append(json.loads(ln))
    return out


def recv_until_eof(s, timeout=10.0):
    s.settimeout(timeout)
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            return data
        data += d


def recv_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(4096)
        if not d:
            raise AssertionError("EOF before the response head: %r" % data)
        data += d
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


class Endpoints(unittest.TestCase):
    def test_ping(self):
        c = ENGINE.conn()
        for path in ("/_ping", "/v1.47/_ping", "/v1.24/_ping"):
            st, r, body = get(c, path)
            self.assertEqual((st, body), (200, b"OK"), path)
            self.assertEqual(r.getheader("Api-Version"), "1.47")
            self.assertEqual(r.getheader("Docker-Experimental"), "false")
            self.assertTrue(r.getheader("Server", "").startswith("Docker/"))
        st, r, body = get(c, "/_ping", method="HEAD")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(r.getheader("Content-Length"), "2")
        c.close()

    def test_version_info(self):
        c = ENGINE.conn()
        st, _, body = get(c, "/v1.47/version")
        self.assertEqual(st, 200)
        v = json.loads(body)
        self.assertEqual(v["ApiVersion"], "1.47")
        self.assertIn("Version", v)
        st, _, body = get(c, "/info")
        self.assertEqual(st, 200)
        info = json.loads(body)
        self.assertEqual(info["Containers"], CONTAINERS)
        self.assertIn("ServerVersion", info)
        c.close()

    def test_containers(self):
        c = ENGINE.conn()
        st, r, body = get(c, "/v1.47/containers/json?all=1")
        self.assertEqual(st, 200)
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        lst = json.loads(body)
        self.assertEqual(len(lst), CONTAINERS)
        ids = {x["Id"] for x in lst}
        self.assertEqual(len(ids), CONTAINERS, "ids are unique")
        for x in lst:
            self.assertRegex(x["Id"], HEX64)
            for k in ("Names", "Image", "State", "Status", "Labels", "NetworkSettings"):
                self.assertIn(k, x)
        first = lst[3]
        for ref in (first["Id"], first["Id"][:12], first["Names"][0].lstrip("/")):
            st, _, body = get(c, "/containers/%s/json" % ref)
            self.assertEqual(st, 200, ref)
            doc = json.loads(body)
            self.assertEqual(doc["Id"], first["Id"])
            self.assertEqual(doc["Name"], first["Names"][0])
            self.assertTrue(doc["State"]["Running"])
        st, _, body = get(c, "/containers/nosuch/json")
        self.assertEqual(st, 404)
        self.assertIn("No such container", json.loads(body)["message"])
        c.close()

    def test_not_found(self):
        c = ENGINE.conn()
        for method, path in (("GET", "/nope"), ("POST", "/containers/json"),
                             ("GET", "/v1.47/images/json"), ("DELETE", "/containers/mock-1")):
            st, r, body = get(c, path, method=method)
            self.assertEqual(st, 404, path)
            self.assertEqual(json.loads(body), {"message": "page not found"})
        c.close()

    def test_logs(self):
        c = ENGINE.conn()
        st, r, body = get(c, "/containers/mock-1/logs?stdout=1&stderr=1")
        self.assertEqual(st, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        self.assertIn("docker", r.getheader("Content-Type"))
        out, err, rest = lk.demux_docker(body)
        self.assertEqual((len(out), err, rest), (FRAME_SIZE * LOG_FRAMES, b"", b""))
        self.assertTrue(out.endswith(b"\n"))
        # the connection is kept alive after a finite stream
        st, _, body = get(c, "/_ping")
        self.assertEqual((st, body), (200, b"OK"))
        c.close()

    def test_logs_follow(self):
        c = ENGINE.conn()
        c.request("GET", "/v1.47/containers/mock-2/logs?follow=1&stdout=1&stderr=1&tail=all")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        # far more than a non-follow response: the stream keeps coming
        frames = read_frames(r, LOG_FRAMES * 20)
        for kind, payload in frames:
            self.assertEqual((kind, len(payload)), (1, FRAME_SIZE))
        c.close()

    def test_logs_follow_quiet(self):
        """follow=1 with tail=0 is a quiet stream: Docker's 200 head, then no
        byte at all while the connection stays open, even as a normal follow
        on the same engine streams (what bench/run holds 10000 of)."""
        import select
        q = ENGINE.raw()
        q.sendall(b"GET /v1.47/containers/mock-3/logs?stdout=1&follow=1&stderr=1&tail=0 "
                  b"HTTP/1.1\r\nHost: docker\r\n\r\n")
        head, rest = recv_head(q)
        self.assertTrue(head.startswith("HTTP/1.1 200 "), head)
        self.assertIn("transfer-encoding: chunked", head.lower())
        self.assertIn("application/vnd.docker.raw-stream", head)
        self.assertEqual(rest, b"", "a quiet stream sends no body bytes")
        c = ENGINE.conn()
        c.request("GET", "/containers/mock-2/logs?follow=1&stdout=1&tail=all")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        for round in range(3):
            # the other stream moves while the quiet one gets nothing in a
            # bounded wait (select's timeout bounds the check, orders nothing)
            frames = read_frames(r, LOG_FRAMES)
            self.assertEqual(len(frames[0][1]), FRAME_SIZE)
            readable, _, _ = select.select([q], [], [], 0.2)
            self.assertEqual(readable, [], "quiet stream became readable (round %d)" % round)
        c.close()
        # still open: no EOF, nothing to read
        q.setblocking(False)
        with self.assertRaises(BlockingIOError):
            q.recv(1)
        q.close()
        # the engine noticed nothing wrong: a new request works
        c = ENGINE.conn()
        st, _, body = get(c, "/_ping")
        self.assertEqual((st, body), (200, b"OK"))
        c.close()

    def test_logs_tail_not_quiet(self):
        """Only tail=0 (with follow) is quiet: tail=10 and follow without
        tail stream frames as before."""
        for q in ("follow=1&stdout=1&tail=10", "follow=1&tail=00", "follow=true"):
            c = ENGINE.conn()
            c.request("GET", "/containers/mock-1/logs?" + q)
            r = c.getresponse()
            self.assertEqual(r.status, 200, q)
            self.assertEqual(len(read_frames(r, 2)), 2, q)
            c.close()

    def test_events(self):
        c = ENGINE.conn()
        c.request("GET", "/events?filters=%7B%7D")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        evs = read_lines(r, 1, 10.0)
        self.assertGreaterEqual(len(evs), 1)
        for e in evs:
            self.assertEqual(e["Type"], "container")
            self.assertRegex(e["Actor"]["ID"], HEX64)
            self.assertIn("Action", e)
            self.assertIn("timeNano", e)
        c.close()

    def test_stats(self):
        c = ENGINE.conn()
        st, _, body = get(c, "/containers/mock-4/stats?stream=false")
        self.assertEqual(st, 200)
        s = json.loads(body)
        self.assertEqual(s["name"], "/mock-4")
        for k in ("cpu_stats", "precpu_stats", "memory_stats", "networks", "read"):
            self.assertIn(k, s)
        c.request("GET", "/containers/mock-4/stats?stream=true")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        docs = read_lines(r, 2, 10.0)
        self.assertTrue(all(d["name"] == "/mock-4" for d in docs))
        c.close()

    def test_exec_half_close(self):
        c = ENGINE.conn()
        st, _, body = get(c, "/v1.47/containers/mock-0/exec", method="POST",
                          body={"AttachStdout": True, "AttachStdin": True, "Cmd": ["cat"]})
        self.assertEqual(st, 201)
        eid = json.loads(body)["Id"]
        self.assertRegex(eid, HEX64)
        st, _, _ = get(c, "/exec/%s/resize?h=24&w=80" % eid, method="POST")
        self.assertEqual(st, 201)
        c.close()

        s = ENGINE.raw()
        start = json.dumps({"Detach": False, "Tty": False}).encode()
        s.sendall(b"POST /v1.47/exec/%s/start HTTP/1.1\r\nHost: docker\r\n"
                  b"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (eid.encode(), len(start), start))
        head, rest = recv_head(s)
        self.assertTrue(head.startswith("HTTP/1.1 101 "), head)
        self.assertIn("upgrade: tcp", head.lower())
        got = rest
        s.sendall(b"hello\n")
        while len(got) < 6:
            got += s.recv(4096)
        self.assertEqual(got, b"hello\n")
        s.sendall(b"x" * 100000)
        s.shutdown(socket.SHUT_WR)
        got += recv_until_eof(s)
        s.close()
        self.assertEqual(got, b"hello\n" + b"x" * 100000 + b"EOF\n")

    def test_pipelined(self):
        s = ENGINE.raw()
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n" * 3 +
                  b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = recv_until_eof(s)
        s.close()
        self.assertEqual(data.count(b"HTTP/1.1 200 OK\r\n"), 4)
        self.assertTrue(data.endswith(b"OK"))

    def test_request_bodies_skipped(self):
        """Content-Length and chunked bodies (split across sends) are
        discarded; the next request on the connection is answered."""
        s = ENGINE.raw()
        body = b'{"Cmd":["true"]}'
        s.sendall(b"POST /containers/mock-1/exec HTTP/1.1\r\nHost: d\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        head, _ = recv_head(s)
        self.assertTrue(head.startswith("HTTP/1.1 201"), head)
        s.sendall(b"POST /containers/mock-1/exec HTTP/1.1\r\nHost: d\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n7;ext=1\r\n{\"Cmd")
        time.sleep(0.05)  # not for ordering: makes the body arrive in two reads
        s.sendall(b"\":\r\nb\r\n[\"true\"]}xx\r\n0\r\nX-Trailer: 1\r\n\r\n"
                  b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        data = recv_until_eof(s)
        s.close()
        self.assertEqual(data.count(b"HTTP/1.1 201 Created\r\n"), 1, data)
        self.assertTrue(data.endswith(b"\r\n\r\nOK"), data[-200:])

    def test_many_idle_keepalive(self):
        req = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
        socks = []
        try:
            for _ in range(CONNS):
                socks.append(ENGINE.raw(timeout=30.0))
            for rnd in range(2):  # the second round reuses the now idle connections
                for s in socks:
                    s.sendall(req)
                for i, s in enumerate(socks):
                    head, rest = recv_head(s)
                    while len(rest) < 2:
                        rest += s.recv(16)
                    self.assertTrue(head.startswith("HTTP/1.1 200"), (rnd, i, head))
                    self.assertEqual(rest, b"OK", (rnd, i))
        finally:
            for s in socks:
                s.close()


class BehindAgent(lk.TestCase):
    def test_agent_in_front(self):
        a = self.start_agent({"DOCKER_SOCKET": ENGINE.socket})
        auth = {"Authorization": "Bearer " + a.token}
        st, _, body = a.request("GET", "/_ping", headers=auth)
        self.assertEqual((st, body), (200, b"OK"))
        st, _, body = a.request("GET", "/v1.47/containers/json", headers=auth)
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(len(json.loads(body)), CONTAINERS)


    def test_tls_finite_answers_not_zero_copy(self):
        """A zero-copy send completes only once the client ACKed it, and a
        client waiting for the rest of an answer delays that ACK by 40 ms:
        every TLS answer over 16 KiB took 40 ms more. Finite answers must go
        out with copying sends (zc_sends in the shutdown summary stays 0);
        twenty 44 KB container lists on one keep-alive TLS connection."""
        certs = lk.make_certs(self.tmpdir())
        a = self.start_agent({"DOCKER_SOCKET": ENGINE.socket}, certs=certs)
        ctx = ssl.create_default_context(cafile=certs.ca)
        raw = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            req = ("GET /v1.47/containers/json HTTP/1.1\r\nHost: localhost\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % a.token).encode()
            f = s.makefile("rb")
            for _ in range(20):
                s.sendall(req)
                status = f.readline()
                self.assertTrue(status.startswith(b"HTTP/1.1 200"), status)
                length = None
                while True:
                    line = f.readline()
                    if line in (b"\r\n", b""):
                        break
                    k, _, v = line.decode().partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v)
                self.assertIsNotNone(length, "a container list has a Content-Length")
                self.assertGreater(length, 32768)
                self.assertEqual(len(json.loads(f.read(length))), CONTAINERS)
        self.assertEqual(a.stop(), 0)
        recs = [r for r in a.find_logs(lambda r: "zc_sends" in r)]
        self.assertTrue(recs, "the shutdown summary carries zc_sends")
        self.assertEqual(recs[-1]["zc_sends"], 0, recs[-1])


if __name__ == "__main__":
    lk.main()
