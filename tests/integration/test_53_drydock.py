"""The Drydock adapter against a real dockerd (issue 5, points 1, 2 and 7):
the inventory follows containers as they are created, started, paused,
stopped, renamed and removed; /api/events streams dd:ack, the snapshot and
every transition; the REST routes answer as a Drydock controller expects
(spec docker-drydock-edge 4 and 7.1). The test plays the controller with
X-Dd-Agent-Secret, like Drydock 1.7 in standard mode."""
import json
import os
import queue
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

REQUIRED = ("id", "name", "watcher")


def check_container(t, c):
    """The Joi rules of spec 4.2 that Drydock enforces."""
    for k in REQUIRED:
        t.assertIsInstance(c[k], str)
        t.assertTrue(c[k], k)
    img = c["image"]
    for k in ("id", "name", "architecture", "os"):
        t.assertIsInstance(img[k], str)
        t.assertTrue(img[k], "image." + k)
    t.assertEqual(img["registry"]["name"], "unknown")
    t.assertTrue(img["registry"]["url"])
    t.assertTrue(img["tag"]["value"])
    t.assertIsInstance(img["digest"], dict)
    t.assertIn(c["updateKind"]["kind"], ("tag", "digest", "unknown"))
    t.assertIn(c["status"], ("running", "paused", "restarting", "dead", "created", "stopped"))
    if "details" in c:
        d = c["details"]
        t.assertIsInstance(d["ports"], list)
        t.assertTrue(all(isinstance(p, str) for p in d["ports"]))
        t.assertIsInstance(d["volumes"], list)
        t.assertEqual(d["env"], [])
    if "health" in c:
        t.assertIn(c["health"], ("starting", "healthy", "unhealthy"))


class EventStream:
    """A reader of /api/events on its own socket: frames go to a queue."""

    def __init__(self, agent, headers, path="/api/events"):
        self.s = socket.create_connection(("127.0.0.1", agent.port), timeout=60)
        req = "GET %s HTTP/1.1\r\nHost: x\r\n" % path + "".join(
            "%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
        self.s.sendall(req.encode())
        self.q = queue.Queue()
        self.head = None
        self.raw = b""
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        buf = b""
        try:
            while True:
                b = self.s.recv(65536)
                if not b:
                    break
                buf += b
                if self.head is None and b"\r\n\r\n" in buf:
                    self.head, _, buf = buf.partition(b"\r\n\r\n")
                # chunked: size line, data, CRLF
                while self.head is not None:
                    line, sep, rest = buf.partition(b"\r\n")
                    if not sep:
                        break
                    n = int(line, 16)
                    if len(rest) < n + 2:
                        break
                    self.raw += rest[:n]
                    buf = rest[n + 2:]
                    while b"\n\n" in self.raw:
                        ev, _, self.raw = self.raw.partition(b"\n\n")
                        self.q.put(ev.decode())
        except OSError:
            pass
        self.q.put(None)

    def next(self, pred=lambda e: True, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching event within %ss" % timeout)
            ev = self.q.get(timeout=left)
            if ev is None:
                raise AssertionError("event stream ended")
            if ev.startswith(":"):
                continue  # keepalive comment
            assert ev.startswith("data: "), ev
            j = json.loads(ev[6:])
            if pred(j):
                return j

    def close(self):
        self.s.close()


class Drydock(lk.TestCase):
    def setUp(self):
        self.d = self.start_dockerd()
        self.secret = "dd-" + os.urandom(8).hex()
        self.a = self.start_agent({"DD_AGENT_SECRET": self.secret, "AGENT_NAME": "host-1",
                                   "DD_POLL_INTERVAL": "300"}, dockerd=self.d, token=None)
        self.h = {"X-Dd-Agent-Secret": self.secret}

    def get(self, path):
        st, hd, body = self.a.request("GET", path, self.h)
        return st, hd, body

    def test_controller_session(self):
        a, d = self.a, self.d
        self.assertEqual(a.request("GET", "/api/containers")[0], 401)
        # 1. SSE first.
        es = EventStream(a, self.h)
        self.addCleanup(es.close)
        ack = es.next()
        self.assertEqual(ack["type"], "dd:ack")
        self.assertIn(b"text/event-stream", es.head)
        data = ack["data"]
        self.assertEqual(data["os"], "linux")
        self.assertGreaterEqual(data["cpus"], 1)
        self.assertGreater(data["memoryGb"], 0)
        self.assertEqual(data["containers"], {"total": 0, "running": 0, "stopped": 0})
        snap = es.next()
        self.assertEqual(snap["type"], "dd:watcher-snapshot")
        self.assertEqual(snap["data"]["containers"], [])
        self.assertEqual(snap["data"]["watcher"]["configuration"]["transport"], "docker-api")
        # 2. The handshake calls.
        st, _, body = self.get("/api/containers")
        self.assertEqual((st, json.loads(body)), (200, []))
        st, _, body = self.get("/api/watchers")
        w = json.loads(body)
        self.assertEqual((st, w[0]["type"], w[0]["name"]), (200, "docker", "docker"))
        self.assertEqual(w[0]["configuration"]["execution"], "controller")
        self.assertEqual(w[0]["configuration"]["events"], "portwing")
        self.assertEqual(self.get("/api/watchers/Docker/DOCKER")[0], 200)
        self.assertEqual(self.get("/api/watchers/docker/other")[0], 404)
        self.assertEqual(json.loads(self.get("/api/triggers")[2]), [])
        self.assertEqual(json.loads(self.get("/api/log/entries?level=info")[2]), [])
        st, _, body = a.request("POST", "/api/watchers/docker/docker", self.h, b"")
        self.assertEqual(st, 501)
        self.assertEqual(json.loads(body)["error"], "not implemented in v1.0")

        # 3. Containers change underneath; every transition arrives.
        name = "lk-dd-web"
        d.docker("create", "--name", name, "--label", "dd.display.name=Web", "busybox:latest",
                 "sleep", "300")
        ev = es.next(lambda e: e["type"] == "dd:container-added")
        c = ev["data"]
        check_container(self, c)
        self.assertEqual((c["name"], c["displayName"], c["status"], c["agent"]),
                         (name, "Web", "created", "host-1"))
        cid = c["id"]
        d.docker("start", name)
        ev = es.next(lambda e: e["type"] == "dd:container-updated" and e["data"]["status"] == "running")
        check_container(self, ev["data"])
        d.docker("pause", name)
        ev = es.next(lambda e: e["type"] == "dd:container-updated" and e["data"]["status"] != "running")
        self.assertEqual(ev["data"]["status"], "paused")  # not "running" (DESIGN.md decision 4)
        d.docker("unpause", name)
        es.next(lambda e: e["type"] == "dd:container-updated" and e["data"]["status"] == "running")
        d.docker("rename", name, name + "-2")
        snap = es.next(lambda e: e["type"] == "dd:watcher-snapshot" and
                       any(x["name"] == name + "-2" for x in e["data"]["containers"]))
        d.docker("stop", "-t", "1", name + "-2")
        es.next(lambda e: e["type"] == "dd:container-updated" and e["data"]["status"] == "stopped")
        # The REST inventory matches, served from the cache.
        st, _, body = self.get("/api/containers")
        lst = json.loads(body)
        self.assertEqual([x["id"] for x in lst], [cid])
        check_container(self, lst[0])
        # Docker calls through the proxy, as the controller's bridge sends them.
        st, _, body = self.get("/containers/json?all=1")
        self.assertEqual((st, json.loads(body)[0]["Id"]), (200, cid))
        st, _, body = self.get("/images/busybox:latest/json")
        self.assertEqual(st, 200)
        self.assertEqual(self.get("/info")[0], 200)
        # Logs (not TTY: demultiplexed; tail=0 allowed).
        st, hd, body = self.get("/api/containers/%s/logs?tail=0" % cid)
        self.assertEqual(st, 200)
        self.assertEqual(self.get("/api/containers/%s/logs?tail=-1" % cid)[0], 400)
        # Delete through the adapter, then the event.
        st, _, _ = a.request("DELETE", "/api/containers/" + cid, self.h)
        self.assertEqual(st, 204)
        ev = es.next(lambda e: e["type"] == "dd:container-removed")
        self.assertEqual(ev["data"]["id"], cid)
        st, _, body = a.request("DELETE", "/api/containers/" + cid, self.h)
        self.assertEqual(st, 404)
        self.assertEqual(json.loads(self.get("/api/containers")[2]), [])

    def test_logs_demultiplexed_and_tty(self):
        d = self.d
        d.docker("run", "--name", "lk-dd-logs", "busybox:latest", "sh", "-c",
                 "echo out1; echo err1 >&2; echo out2")
        d.docker("run", "-t", "--name", "lk-dd-tty", "busybox:latest", "echo", "tty-line")
        st, hd, body = self.get("/api/containers/lk-dd-logs/logs")
        self.assertEqual(st, 200)
        self.assertEqual(hd["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(sorted(body.decode().split()), ["err1", "out1", "out2"])
        st, _, body = self.get("/api/containers/lk-dd-logs/logs?tail=1")
        # One line (Docker orders the two streams by their timestamps).
        self.assertEqual(len(body.decode().split()), 1)
        self.assertIn(body.decode().split()[0], ("out1", "err1", "out2"))
        st, _, body = self.get("/api/containers/lk-dd-tty/logs")
        self.assertIn(b"tty-line", body)
        self.assertNotIn(b"\x01\x00\x00\x00", body)
        self.assertEqual(self.get("/api/containers/lk-no-such/logs")[0], 404)

    def follow(self, ref, want, extra=""):
        """Reads /api/containers/{ref}/logs?follow=1 until want (bytes, or a
        tuple of bytes that must all show) is in what arrived."""
        wants = want if isinstance(want, tuple) else (want,)
        s = socket.create_connection(("127.0.0.1", self.a.port), timeout=30)
        try:
            s.sendall(("GET /api/containers/%s/logs?follow=1%s HTTP/1.1\r\nHost: x\r\n"
                       "X-Dd-Agent-Secret: %s\r\n\r\n" % (ref, extra, self.secret)).encode())
            data = b""
            while not all(w in data for w in wants):
                b = s.recv(65536)
                if not b:
                    break
                data += b
            return data
        finally:
            s.close()

    def test_follow_logs_stream_demultiplexed(self):
        d = self.d
        d.docker("run", "-d", "--name", "lk-dd-follow", "busybox:latest", "sh", "-c",
                 "i=0; while true; do echo out$i; echo err$i >&2; i=$((i+1)); sleep 0.2; done")
        self.addCleanup(d.remove_container, "lk-dd-follow")
        # stdout and stderr are two streams: either may be ahead.
        data = self.follow("lk-dd-follow", (b"out5\n", b"err5\n"))
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"200 OK", head)
        self.assertIn(b"text/plain; charset=utf-8", head)
        lines = body.decode().split()
        # Text only: every line is ours, no frame headers in between.
        self.assertTrue(all(ln.startswith(("out", "err")) and ln[3:].isdigit() for ln in lines), lines)
        self.assertIn("out5", lines)
        # A TTY container's output is not framed: passed through.
        d.docker("run", "-d", "-t", "--name", "lk-dd-follow-tty", "busybox:latest", "sh", "-c",
                 "while true; do echo ttyline; sleep 0.2; done")
        self.addCleanup(d.remove_container, "lk-dd-follow-tty")
        data = self.follow("lk-dd-follow-tty", b"ttyline\r\nttyline")
        self.assertIn(b"ttyline\r\nttyline", data)
        # The bad tail is refused before Docker is asked.
        st, _, _ = self.get("/api/containers/lk-dd-follow/logs?follow=1&tail=x")
        self.assertEqual(st, 400)

    def test_keepalive_and_events_reconnect(self):
        es = EventStream(self.a, self.h)
        self.addCleanup(es.close)
        es.next(lambda e: e["type"] == "dd:watcher-snapshot")
        # A quiet stream gets a comment at least every 30 s.
        t0 = time.monotonic()
        while True:
            ev = es.q.get(timeout=45)
            self.assertIsNotNone(ev, "stream ended")
            if ev.startswith(":"):
                break
        self.assertLess(time.monotonic() - t0, 40)
        # Docker restarts: the events subscription comes back by itself
        # and the next change arrives.
        self.d.restart()
        self.d.docker("create", "--name", "lk-dd-after", "busybox:latest", "true")
        ev = es.next(lambda e: e["type"] == "dd:container-added", timeout=90)
        self.assertEqual(ev["data"]["name"], "lk-dd-after")

    def test_slow_client_is_dropped(self):
        # A subscriber that stops reading: its socket buffers fill, then its
        # 64-message queue, then it is dropped and counted; the agent's
        # memory does not grow with it.
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", self.a.port))
        self.addCleanup(s.close)
        s.sendall(("GET /api/events HTTP/1.1\r\nHost: x\r\nX-Dd-Agent-Secret: %s\r\n\r\n"
                   % self.secret).encode())
        # A well-behaved reader alongside keeps working.
        good = EventStream(self.a, self.h)
        self.addCleanup(good.close)
        good.next(lambda e: e["type"] == "dd:watcher-snapshot")

        def dropped():
            st, _, body = self.get("/metrics")
            for ln in body.decode().splitlines():
                if ln.startswith("lookout_sse_dropped_total "):
                    return float(ln.split()[1]) >= 1
            return False
        n = 0
        while not dropped():
            self.assertLess(n, 200, "the slow client was never dropped")
            self.d.docker("create", "--name", "lk-dd-slow-%d" % n, "--label", "pad=" + "x" * 16000,
                          "busybox:latest", "true")
            n += 1
        last = "lk-dd-slow-%d" % (n - 1)
        good.next(lambda e: e["type"] == "dd:container-added" and e["data"]["name"] == last, timeout=60)

    def test_over_tls(self):
        # The stream, a large control-thread answer and a demultiplexed
        # follow stream all go through the TLS engine.
        certs = lk.make_certs(self.tmpdir())
        a = self.start_agent({}, dockerd=self.d, certs=certs)
        auth = "Authorization: Bearer " + a.token
        self.d.docker("run", "--name", "lk-dd-tls", "busybox:latest", "sh", "-c", "echo tls-out; echo tls-err >&2")
        cp = a.curl("-N", "-s", "--max-time", "3", "-H", auth, a.url("/api/events"), timeout=30)
        frames = [f for f in cp.stdout.decode().split("\n\n") if f.startswith("data: ")]
        types = [json.loads(f[6:])["type"] for f in frames]
        self.assertEqual(types[:2], ["dd:ack", "dd:watcher-snapshot"])
        code, body = a.curl_request("/metrics", "-H", auth)
        self.assertEqual(code, 200)
        self.assertGreater(len(body), 8192)  # beyond the head buffer: sent from the heap
        self.assertTrue(body.endswith(b"\n"))
        cp = a.curl("-N", "-s", "--max-time", "3", "-H", auth,
                    a.url("/api/containers/lk-dd-tls/logs?follow=1"), timeout=30)
        self.assertEqual(sorted(cp.stdout.decode().split()), ["tls-err", "tls-out"])

    def test_generic_adapter(self):
        a = self.start_agent({"ADAPTER": "generic"}, dockerd=self.d)
        self.d.docker("create", "--name", "lk-gen", "busybox:latest", "true")
        h = a.auth_headers()
        st, _, body = a.request("GET", "/api/v1/version", h)
        self.assertEqual(json.loads(body)["adapter"], "generic")
        lk.wait_until(lambda: len(json.loads(a.request("GET", "/api/v1/containers", h)[2])) == 1,
                      30, "inventory refresh")
        c = json.loads(a.request("GET", "/api/v1/containers", h)[2])[0]
        self.assertEqual((c["name"], c["status"]), ("lk-gen", "created"))
        # Drydock routes are not served by the generic adapter: proxied.
        self.assertEqual(a.request("GET", "/api/containers", h)[0], 404)
        # The generic event stream: Docker's container events as they come.
        es = EventStream(a, h, "/api/v1/events")
        self.addCleanup(es.close)
        lk.wait_until(lambda: es.head is not None, 10, "event stream head")
        self.assertIn(b"text/event-stream", es.head)
        self.d.docker("start", "lk-gen")
        ev = es.next(lambda e: e["action"] == "start")
        self.assertEqual((ev["type"], ev["name"], ev["image"]), ("container", "lk-gen", "busybox:latest"))
        self.assertRegex(ev["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(len(ev["containerId"]), 64)
        self.assertNotIn("labels", ev)
        # The inventory metric follows.
        st, _, body = a.request("GET", "/metrics", h)
        self.assertIn(b"lookout_inventory_containers 1\n", body)


if __name__ == "__main__":
    lk.main()
