#!/usr/bin/env python3
"""Self-test of lkharness: private dockerd, busybox image, clean-up on every
exit path, certificates, and the Agent plumbing (driven by a stand-in
process, since no lookout binary is involved here)."""

import json
import os
import signal
import subprocess
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402

DOCKERD = None


def setUpModule():
    global DOCKERD
    DOCKERD = lk.shared_dockerd()


def tearDownModule():
    lk.stop_shared_dockerd()


def gone(pid):
    return lk.wait_pid_gone(pid, 0)


class SharedDaemon(lk.TestCase):
    def test_run_echo(self):
        cp = DOCKERD.docker("run", "--rm", "busybox", "echo", "hi")
        self.assertEqual(cp.stdout, b"hi\n")

    def test_run_stdin_closed(self):
        cp = DOCKERD.docker("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo after-eof",
                            input=b"hi\n")
        self.assertEqual(cp.stdout, b"hi\nafter-eof\n")

    def test_applets(self):
        cp = DOCKERD.docker("run", "--rm", "busybox", "sh", "-c",
                            "id -u; seq 3 | wc -l; printf abc | sha256sum; "
                            "echo x | tr x y; ls /bin/top /bin/yes /bin/dd /bin/head")
        out = cp.stdout.decode().split("\n")
        self.assertEqual(out[0], "0")
        self.assertEqual(out[1].strip(), "3")
        self.assertTrue(out[2].startswith(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), out[2])
        self.assertEqual(out[3], "y")

    def test_failing_command_raises(self):
        with self.assertRaises(AssertionError) as cm:
            DOCKERD.docker("run", "--rm", "busybox", "sh", "-c", "echo oops >&2; exit 3")
        self.assertIn("oops", str(cm.exception))
        cp = DOCKERD.docker("run", "--rm", "busybox", "false", check=False)
        self.assertEqual(cp.returncode, 1)

    def test_api(self):
        st, v = DOCKERD.api_json("GET", "/version")
        self.assertEqual(st, 200)
        self.assertIn("ApiVersion", v)
        st, _, body = DOCKERD.api("GET", "/_ping")
        self.assertEqual((st, body), (200, b"OK"))
        st, img = DOCKERD.api_json("GET", "/images/busybox:latest/json")
        self.assertEqual(st, 200)
        self.assertEqual(img["Config"]["Cmd"], ["sh"])
        st, _ = DOCKERD.api_json("GET", "/containers/does-not-exist/json")
        self.assertEqual(st, 404)

    def test_certs(self):
        d = self.tmpdir()
        for kt in ("ec", "rsa"):
            c = lk.make_certs(os.path.join(d, kt), key_type=kt)
            for cert in (c.cert, c.client_cert):
                cp = lk.run(["openssl", "verify", "-CAfile", c.ca, cert])
                self.assertIn(b": OK", cp.stdout)
            cp = lk.run(["openssl", "x509", "-in", c.cert, "-noout", "-text"])
            self.assertIn(b"DNS:localhost", cp.stdout)
            self.assertIn(b"IP Address:127.0.0.1", cp.stdout)
            self.assertIn(b"TLS Web Server Authentication", cp.stdout)
            self.assertIn(b"prime256v1" if kt == "ec" else b"rsaEncryption", cp.stdout)
            cp = lk.run(["openssl", "x509", "-in", c.client_cert, "-noout", "-text"])
            self.assertIn(b"TLS Web Client Authentication", cp.stdout)


class Lifecycle(lk.TestCase):
    def assert_clean(self, d_dir, pids):
        for pid in pids:
            self.assertTrue(gone(pid), "pid %d still alive" % pid)
        self.assertEqual(lk.pids_referencing(d_dir), [])
        self.assertEqual(lk.mounts_under(d_dir), [])
        self.assertFalse(os.path.exists(d_dir))

    def test_stop_leaves_nothing(self):
        d = lk.DockerD().start()
        try:
            d.docker("run", "-d", "--name", "sleeper", "busybox", "sleep", "1000")
            self.assertEqual(d.docker("ps", "-q", "--filter", "name=sleeper").stdout.count(b"\n"), 1)
            pids = lk.pids_referencing(d.dir)
            self.assertIn(d.pid, pids)
            self.assertGreaterEqual(len(pids), 3, "dockerd, containerd, shim, container")
            self.assertTrue(lk.mounts_under(d.dir), "a running container has mounts")
        finally:
            d_dir = d.dir
            d.stop()
        self.assert_clean(d_dir, pids)

    def test_exception_in_body_cleans_up(self):
        with self.assertRaises(RuntimeError):
            with lk.DockerD(import_busybox=False) as d:
                d_dir, pid = d.dir, d.pid
                self.assertTrue(d.ping())
                raise RuntimeError("test body failed")
        self.assert_clean(d_dir, [pid])

    def test_kill_then_restart(self):
        with lk.DockerD() as d:
            d.docker("run", "-d", "busybox", "sleep", "1000")
            old = lk.pids_referencing(d.dir)
            d.kill()  # crash: SIGKILL; leftovers (containerd, shim, container) are killed
            for pid in old:
                self.assertTrue(gone(pid), "pid %d survived kill()" % pid)
            self.assertEqual(lk.mounts_under(d.dir), [])
            self.assertFalse(d.ping())
            sock = d.socket
            d.start_daemon()
            self.assertEqual(d.socket, sock)
            cp = d.docker("run", "--rm", "busybox", "echo", "again")
            self.assertEqual(cp.stdout, b"again\n")
            pid1 = d.pid
            d.restart()
            self.assertNotEqual(d.pid, pid1)
            self.assertTrue(gone(pid1))
            self.assertEqual(d.docker("run", "--rm", "busybox", "echo", "twice").stdout, b"twice\n")

    def _child(self, body):
        """A python child that starts a DockerD, prints its dir and pid, then runs body."""
        code = textwrap.dedent("""
            import json, os, sys, time
            sys.path.insert(0, %r)
            import lkharness as lk
            d = lk.DockerD(import_busybox=False).start()
            print(json.dumps({"dir": d.dir, "pid": d.pid}), flush=True)
        """ % os.path.dirname(os.path.abspath(__file__))) + textwrap.dedent(body)
        p = lk.popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE)
        def fin():
            if p.poll() is None:
                p.kill()
            p.wait()
            for s in (p.stdin, p.stdout, p.stderr):
                s.close()
        self.addCleanup(fin)
        line = p.stdout.readline()
        if not line:
            p.kill()
            _, err = p.communicate(timeout=30)
            self.fail("child failed: %s" % err.decode(errors="replace"))
        info = json.loads(line)
        self.addCleanup(lk.scrub_dir, info["dir"])
        return p, info

    def test_sigterm_of_test_process_cleans_up(self):
        p, info = self._child("sys.stdin.read()\n")
        p.send_signal(signal.SIGTERM)
        p.wait(lk.DOCKERD_STOP_TIMEOUT + 30)
        self.assertTrue(gone(info["pid"]))
        self.assertFalse(os.path.exists(info["dir"]))
        self.assertEqual(lk.pids_referencing(info["dir"]), [])

    def test_sigkill_of_test_process(self):
        # pdeathsig stops dockerd; the next DockerD start sweeps the stale dir.
        p, info = self._child("sys.stdin.read()\n")
        p.kill()
        p.wait()
        self.assertTrue(lk.wait_pid_gone(info["pid"], lk.DOCKERD_STOP_TIMEOUT),
                        "dockerd outlived its test process")
        self.assertTrue(os.path.exists(info["dir"]))
        lk._sweep_stale_dirs()
        self.assertFalse(os.path.exists(info["dir"]))
        self.assertEqual(lk.mounts_under(info["dir"]), [])


FAKE_AGENT = r'''
import http.server, json, os, signal, socketserver, sys, threading
def log(**kw):
    kw = dict({"time": "2026-01-01T00:00:00Z", "level": "INFO"}, **kw)
    sys.stderr.write(json.dumps(kw) + "\n"); sys.stderr.flush()
if os.environ.get("PORT") == "bad":
    sys.stderr.write("invalid PORT\n"); sys.exit(1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        b = json.dumps({"status": "ok", "token_seen": self.headers.get("Authorization")}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(b)))
        self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
srv = socketserver.ThreadingTCPServer((os.environ["BIND_ADDRESS"], int(os.environ["PORT"])), H)
srv.daemon_threads = True
log(msg="starting lookout", version="0", mode="standard")
def term(*a):
    log(msg="shutting down..."); os._exit(0)
signal.signal(signal.SIGTERM, term)
log(msg="listening", address="127.0.0.1", port=srv.server_address[1], tls=False)
srv.serve_forever()
'''


class AgentPlumbing(lk.TestCase):
    """Agent/start_expect_fail/RawConn against a stand-in that speaks the log contract."""

    def setUp(self):
        d = self.tmpdir()
        path = os.path.join(d, "fake-lookout")
        with open(path, "w") as f:
            f.write("#!%s\n%s" % (sys.executable, FAKE_AGENT))
        os.chmod(path, 0o755)
        old = os.environ.get("LOOKOUT_BIN")
        os.environ["LOOKOUT_BIN"] = path
        self.addCleanup(lambda: os.environ.__setitem__("LOOKOUT_BIN", old) if old is not None
                        else os.environ.pop("LOOKOUT_BIN", None))

    def test_agent(self):
        a = self.start_agent()
        self.assertTrue(a.port > 0)
        self.assertEqual(a.env["DOCKER_SOCKET"], DOCKERD.socket)
        self.assertEqual(a.env["BIND_ADDRESS"], "127.0.0.1")
        self.assertTrue(a.token)
        st, h, body = a.request("GET", "/health", headers=a.auth_headers())
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["token_seen"], "Bearer " + a.token)
        with a.raw() as c:
            r1 = c.request("GET", "/health")
            r2 = c.request("GET", "/x")
            self.assertEqual((r1.status, r2.status), (200, 200))
        st, body = a.curl_request("/health")
        self.assertEqual(st, 200)
        self.assertEqual(a.wait_log("starting lookout")["mode"], "standard")
        with self.assertRaises(AssertionError):
            a.wait_log("never logged", timeout=0.2)
        self.assertEqual(lk.listening_ports(a.pid), {("127.0.0.1", a.port)})
        self.assertEqual(a.stop(), 0)
        self.assertFalse(a.alive())
        self.assertTrue(all(json.loads(l) for l in a.logs()))
        self.assertEqual(a.find_logs("shutting down...")[0]["level"], "INFO")

    def test_env_override_and_fail(self):
        code, err = lk.start_expect_fail({"PORT": "bad"})
        self.assertEqual(code, 1)
        self.assertIn("invalid PORT", err)
        a = lk.Agent(env={"TOKEN_FILE": "/x", "DOCKER_SOCKET": None})
        self.assertIsNone(a.token)
        a.home = "/h"
        env = a.build_env()
        self.assertNotIn("TOKEN", env)
        self.assertNotIn("DOCKER_SOCKET", env)
        self.assertEqual(env["TOKEN_FILE"], "/x")
        with self.assertRaises(AssertionError):
            lk.start_expect_fail({}, timeout=3)  # the stand-in starts fine: must be reported

    def test_ready_by_socket_in_netns(self):
        a = self.start_agent({"BIND_ADDRESS": "0.0.0.0"}, ready="socket",
                             wrapper=["unshare", "--net", "--"])
        self.assertEqual(lk.listening_ports(a.pid), {("0.0.0.0", a.port)})
        self.assertEqual(a.wait_log("listening")["port"], a.port)
        self.assertEqual(a.stop(), 0)


if __name__ == "__main__":
    lk.main()
