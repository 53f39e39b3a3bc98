#!/usr/bin/env python3
"""Health endpoints and the HTTP/1.1 server's connection handling, against a
private dockerd."""

import json
import os
import select
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

HEALTHY = {"docker": "connected", "status": "healthy"}
UNHEALTHY = {"docker": "disconnected", "status": "unhealthy"}
AGENT_HEALTH = ("/_lookout/health", "/_portwing/health")


def body_json(body):
    try:
        return json.loads(body)
    except ValueError:
        raise AssertionError("body is not JSON: %r" % body[:300])


class Health(lk.TestCase):
    def test_health(self):
        a = self.start_agent()
        st, h, body = a.request("GET", "/health")
        self.assertEqual(st, 200)
        self.assertEqual(body.strip(), b'{"status":"ok"}')
        self.assertIn("application/json", h.get("content-type", ""))

    def test_agent_health_workers(self):
        for workers in ("1", "2"):
            with self.subTest(WORKERS=workers):
                a = self.start_agent({"WORKERS": workers})
                # Fresh connections; with two workers the kernel spreads them.
                for _ in range(4):
                    for path in AGENT_HEALTH:
                        st, h, body = a.request("GET", path)
                        self.assertEqual(st, 200, (path, body))
                        got = body_json(body)
                        self.assertEqual({k: got.get(k) for k in HEALTHY}, HEALTHY, path)
                        self.assertIn("application/json", h.get("content-type", ""))
                self.assertEqual(a.stop(), 0)

    def test_workers_share_one_port(self):
        a = self.start_agent({"WORKERS": "2"})
        ports = {r["port"] for r in a.find_logs("listening")}
        self.assertEqual(ports, {a.port}, "every listener logs the same port")
        self.assertEqual({p for _, p in lk.listening_ports(a.pid)}, {a.port})

    def test_head_health(self):
        a = self.start_agent()
        with a.raw() as c:
            for path in ("/health",) + AGENT_HEALTH:
                r = c.request("HEAD", path)
                self.assertEqual(r.status, 200, path)
                self.assertEqual(r.body, b"")
            # Nothing stray followed the HEAD responses: the next answer parses.
            r = c.request("GET", "/health")
            self.assertEqual(r.status, 200)
            self.assertEqual(body_json(r.body), {"status": "ok"})

    def test_unknown_path_404(self):
        a = self.start_agent()
        # With a credential, an unknown path is a 404 whether the agent answers
        # it or forwards it to Docker; either way the body is JSON.
        for path in ("/_lookout/no-such-endpoint", "/no/such/path"):
            st, h, body = a.request("GET", path, headers=a.auth_headers())
            self.assertEqual(st, 404, (path, body))
            self.assertIsInstance(body_json(body), dict)
            self.assertIn("application/json", h.get("content-type", ""))


class DockerGone(lk.TestCase):
    def test_socket_does_not_exist(self):
        missing = os.path.join(self.tmpdir(), "no-docker.sock")
        a = self.start_agent({"DOCKER_SOCKET": missing})
        for path in AGENT_HEALTH:
            st, _, body = a.request("GET", path, timeout=10)
            self.assertEqual(st, 503, (path, body))
            got = body_json(body)
            self.assertEqual({k: got.get(k) for k in UNHEALTHY}, UNHEALTHY)
        st, _, body = a.request("GET", "/health", timeout=10)
        self.assertEqual((st, body_json(body)), (200, {"status": "ok"}))

    def test_daemon_stops_under_the_agent(self):
        d = self.start_dockerd(import_busybox=False)
        a = self.start_agent(dockerd=d)
        with a.raw() as c:  # a keep-alive client that stays across the outage
            r = c.request("GET", "/_lookout/health")
            self.assertEqual((r.status, body_json(r.body)["status"]), (200, "healthy"))
            d.stop()
            # Each health check is a real /_ping: the very next one says so.
            r = c.request("GET", "/_lookout/health", timeout=10)
            self.assertEqual(r.status, 503, r)
            got = body_json(r.body)
            self.assertEqual({k: got.get(k) for k in UNHEALTHY}, UNHEALTHY)
        for path in AGENT_HEALTH:
            st, _, body = a.request("GET", path, timeout=10)
            self.assertEqual(st, 503, (path, body))
        self.assertEqual(a.request("GET", "/health", timeout=10)[0], 200)
        self.assertEqual(a.stop(), 0)


class Connections(lk.TestCase):
    def test_keep_alive(self):
        a = self.start_agent()
        with a.raw() as c:
            for path in ("/health", "/_lookout/health", "/health"):
                r = c.request("GET", path)
                self.assertEqual(r.status, 200, path)
                self.assertNotEqual(r.headers.get("connection", "").lower(), "close")

    def test_soft_fd_limit_is_raised(self):
        """Started with a soft limit of 256 open files (a login shell's
        usual 1024 scaled down), the agent lifts it to the hard limit and
        serves 400 concurrent keep-alive connections."""
        hard = int(subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True,
                                  text=True, check=True).stdout.strip() or 0)
        if hard < 1024:
            self.fail("hard RLIMIT_NOFILE %d is too low for this test" % hard)
        a = self.start_agent(wrapper=["prlimit", "--nofile=256:", "--"])
        with open("/proc/%d/limits" % a.pid) as f:
            line = [l for l in f if l.startswith("Max open files")][0]
        self.assertEqual(line.split()[3:5], [str(hard), str(hard)], line)
        conns = []
        try:
            for _ in range(400):
                s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
                conns.append(s)
            for s in conns:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            for s in conns:
                got = b""
                while b"\r\n\r\n" not in got:
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, "connection closed before the answer")
                    got += chunk
                self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
        finally:
            for s in conns:
                s.close()

    def test_out_of_descriptors_pauses_accept(self):
        """With its descriptors used up the agent cannot accept; it must not
        spin re-arming an accept that fails at once (the kernel keeps the
        waiting connections in the backlog), and must serve them as soon as
        descriptors come back."""
        a = self.start_agent(wrapper=["prlimit", "--nofile=64:64", "--"])
        req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        conns = []
        try:
            for _ in range(80):
                s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
                s.sendall(req)
                conns.append(s)
            # Served connections answer at once; the rest wait in the
            # backlog. Collect answers until none came for half a second.
            served, waiting = [], list(conns)
            while waiting:
                ready, _, _ = select.select(waiting, [], [], 0.5)
                if not ready:
                    break
                for s in ready:
                    got = s.recv(4096)
                    self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
                    waiting.remove(s)
                    served.append(s)
            self.assertTrue(served, "nothing was served")
            self.assertTrue(waiting, "64 descriptors held all 80 connections")
            before = lk.proc_cpu_seconds(a.pid)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                time.sleep(0.05)
            used = lk.proc_cpu_seconds(a.pid) - before
            self.assertLess(used, 0.3, "the agent spins while it cannot accept")
            for s in served:
                s.close()
            for s in waiting:
                s.settimeout(10)
                got = s.recv(4096)
                self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
        finally:
            for s in conns:
                s.close()

    def test_pipelined(self):
        a = self.start_agent()
        with a.raw() as c:
            c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /_lookout/health HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
            self.assertEqual(body_json(r1.body), {"status": "ok"})
            self.assertEqual(body_json(r2.body)["status"], "healthy")
            self.assertEqual(body_json(r3.body), {"status": "ok"})

    def test_request_in_small_writes(self):
        a = self.start_agent()
        req = (b"GET /health HTTP/1.1\r\nHost: localhost\r\nUser-Agent: lk-split-test\r\n"
               b"Accept: application/json\r\nX-Filler: " + b"f" * 300 + b"\r\n\r\n")
        with a.raw() as c:
            for i in range(len(req)):
                c.send(req[i:i + 1])
            r = c.read_response()
            self.assertEqual((r.status, body_json(r.body)), (200, {"status": "ok"}))
            # and again in three uneven pieces, across the CRLF CRLF boundary
            for piece in (req[:7], req[7:-3], req[-3:]):
                c.send(piece)
            r = c.read_response()
            self.assertEqual(r.status, 200)

    def test_malformed_request_400_and_close(self):
        a = self.start_agent()
        bad = {
            "garbage": b"GARBAGE\r\n\r\n",
            "extra token": b"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n",
            "space in target": b"GET /hea lth HTTP/1.1\r\nHost: x\r\n\r\n",
            "bad version": b"GET /health HTTX/1.1\r\nHost: x\r\n\r\n",
            "control byte": b"G\x01T /health HTTP/1.1\r\nHost: x\r\n\r\n",
            "header without colon": b"GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
        }
        for name, req in bad.items():
            with self.subTest(name), a.raw() as c:
                c.send(req)
                data = c.wait_closed(10)
                self.assertRegex(data[:13], rb"^HTTP/1\.[01] 400", data[:200])
        # the agent is still fine
        self.assertEqual(a.request("GET", "/health")[0], 200)

    def test_header_timeout(self):
        a = self.start_agent({"HEADER_TIMEOUT": "2"})
        head = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"s" * 40 + b"\r\n\r\n"
        with a.raw() as c:
            closed, sent, got = c.trickle(head, gap=1.0, timeout=10)
            self.assertTrue(closed, "a 1 byte/s head was not cut within 10 s (sent %d bytes)" % sent)
            self.assertLess(sent, len(head))
            if got:
                self.assertRegex(got, rb"^HTTP/1\.[01] 408", got[:200])
        self.assertEqual(a.request("GET", "/health")[0], 200)

    def test_silent_client_cut(self):
        a = self.start_agent({"HEADER_TIMEOUT": "2", "IDLE_TIMEOUT": "2"})
        with a.raw() as c:
            data = c.wait_closed(10)
            self.assertNotRegex(data, rb"^HTTP/1\.[01] 200")

    def test_idle_keep_alive_timeout(self):
        a = self.start_agent({"IDLE_TIMEOUT": "2"})
        with a.raw() as c:
            self.assertEqual(c.request("GET", "/health").status, 200)
            data = c.wait_closed(10)
            self.assertNotRegex(data, rb"^HTTP/1\.[01] 200")

    def test_sigterm_with_idle_connection(self):
        a = self.start_agent()
        with a.raw() as c:
            self.assertEqual(c.request("GET", "/health").status, 200)
            self.assertEqual(a.stop(timeout=12), 0)
            c.wait_closed(5)

    def test_sigterm_idle_agent(self):
        a = self.start_agent()
        self.assertEqual(a.stop(timeout=12), 0)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", a.port), timeout=5).close()


if __name__ == "__main__":
    lk.main()
