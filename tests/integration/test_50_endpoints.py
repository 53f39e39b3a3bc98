"""Agent endpoints (issue 5, point 4): /health, /ready, /_lookout/health,
/_lookout/info with the /_portwing/ aliases, against the private dockerd;
the control thread answers the authenticated ones."""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)


class Endpoints(lk.TestCase):
    def test_ready(self):
        d = self.start_dockerd()
        a = self.start_agent({}, dockerd=d)
        st, hd, body = a.request("GET", "/ready")
        self.assertEqual(st, 200)
        j = json.loads(body)
        self.assertEqual((j["status"], j["live"], j["ready"], j["mode"], j["docker"], j["controller"]),
                         ("healthy", True, True, "standard", "connected", "not_applicable"))
        self.assertIsInstance(j["uptimeSeconds"], float)
        self.assertEqual(j["version"], a.find_logs("starting lookout")[0]["version"])
        d.stop_daemon()
        st, _, body = a.request("GET", "/ready")
        self.assertEqual(st, 503)
        j = json.loads(body)
        self.assertEqual((j["status"], j["ready"], j["docker"]), ("unhealthy", False, "disconnected"))
        # /health stays up: liveness has no dependency.
        self.assertEqual(a.request("GET", "/health")[0], 200)

    def test_info(self):
        a = self.start_agent({"AGENT_NAME": "edge-7", "AGENT_ID": "agent-1234"})
        self.assertEqual(a.request("GET", "/_lookout/info")[0], 401)
        for path in ("/_lookout/info", "/_portwing/info"):
            st, hd, body = a.request("GET", path, a.auth_headers())
            self.assertEqual(st, 200, body)
            self.assertEqual(hd["content-type"], "application/json")
            j = json.loads(body)
            self.assertEqual(list(j), sorted(j))  # a Go map: keys sorted
            self.assertEqual(j["agentName"], "edge-7")
            self.assertEqual(j["agentId"], "agent-1234")
            self.assertEqual(j["mode"], "standard")
            self.assertEqual(j["adapter"], "drydock")
            self.assertEqual(j["capabilities"][:4], ["compose", "exec", "metrics", "events"])
            self.assertIn("dd:container-sync", j["capabilities"])
            _, ver = lk.shared_dockerd().api_json("GET", "/version")
            self.assertEqual(j["dockerVersion"], ver["Version"])
            self.assertEqual(j["hostname"], os.uname().nodename)
            self.assertRegex(j["uptime"], r"^(\d+h)?(\d+m)?\d+(\.\d+)?s$|^\d+(\.\d+)?(ms|µs)$")
            self.assertEqual(j["version"], a.find_logs("starting lookout")[0]["version"])
        # HEAD: headers only.
        st, hd, body = a.request("HEAD", "/_lookout/info", a.auth_headers())
        self.assertEqual((st, body), (200, b""))
        # Keep-alive across control-thread answers and proxied requests.
        with a.raw() as c:
            for _ in range(3):
                r = c.request("GET", "/_lookout/info", a.auth_headers())
                self.assertEqual(r.status, 200)
                r = c.request("GET", "/_ping", a.auth_headers())
                self.assertEqual((r.status, r.body), (200, b"OK"))

    def test_info_generic_adapter_and_docker_down(self):
        d = self.start_dockerd()
        a = self.start_agent({"ADAPTER": "generic"}, dockerd=d)
        j = json.loads(a.request("GET", "/_lookout/info", a.auth_headers())[2])
        self.assertEqual(j["adapter"], "generic")
        self.assertEqual(j["capabilities"][4:], ["containers", "logs", "events", "version"])
        d.stop_daemon()
        st, _, body = a.request("GET", "/_lookout/info", a.auth_headers())
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["dockerVersion"], "unknown")

    def test_control_queue_is_bounded(self):
        # A Docker that accepts and never answers holds the control thread:
        # 64 jobs queue at most, the rest are told to retry (503, Retry-After),
        # and waiting ones are cut at REQUEST_TIMEOUT; nothing hangs.
        import socket as so
        path = os.path.join(self.tmpdir(), "silent.sock")
        srv = so.socket(so.AF_UNIX, so.SOCK_STREAM)
        srv.bind(path)
        srv.listen(512)
        held = []
        stop = threading.Event()

        def accept():
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(srv.accept()[0])
                except OSError:
                    pass
        t = threading.Thread(target=accept, daemon=True)
        t.start()

        def cleanup():
            stop.set()
            t.join(5)
            for c in held:
                c.close()
            srv.close()
        self.addCleanup(cleanup)
        a = self.start_agent({"DOCKER_SOCKET": path, "REQUEST_TIMEOUT": "3"})
        answers = []
        lock = threading.Lock()

        def go():
            st, hd, body = a.request("GET", "/_lookout/info", a.auth_headers(), timeout=60)
            with lock:
                answers.append((st, hd.get("retry-after"), json.loads(body).get("message")))
        ts = [threading.Thread(target=go) for _ in range(80)]
        for th in ts:
            th.start()
        for th in ts:
            th.join(90)
        self.assertEqual(len(answers), 80)
        busy = [x for x in answers if x[2] == "control plane busy, retry"]
        slow = [x for x in answers if x[2] == "the control plane did not answer in time"]
        # The control thread's own Docker call gives up after REQUEST_TIMEOUT
        # too: the job it was on when that happened may still beat the
        # worker's timer with a 200 (Docker version "unknown"). Only that one.
        done = [x for x in answers if x[0] == 200]
        self.assertLessEqual(len(done), 1, answers)
        self.assertEqual(len(busy) + len(slow) + len(done), 80, answers)
        self.assertGreaterEqual(len(busy), 80 - 64)
        self.assertTrue(all(st == 503 and ra == "1" for st, ra, _ in busy))
        self.assertTrue(all(st == 503 for st, _, _ in slow))

    def test_many_concurrent_control_requests(self):
        a = self.start_agent({"WORKERS": "2"})
        codes = []
        lock = threading.Lock()

        def go():
            for _ in range(10):
                st = a.request("GET", "/_lookout/info", a.auth_headers())[0]
                with lock:
                    codes.append(st)
        ts = [threading.Thread(target=go) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual(len(codes), 80)
        # Every request is answered; beyond 64 queued jobs a 503 says retry.
        self.assertTrue(set(codes) <= {200, 503}, codes)
        self.assertGreater(codes.count(200), 40)


if __name__ == "__main__":
    lk.main()
