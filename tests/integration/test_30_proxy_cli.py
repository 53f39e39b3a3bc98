#!/usr/bin/env python3
"""The real docker CLI through the agent, plain and with TLS.

Debian's /usr/bin/docker (else docker on PATH) talks to the agent with
`-H tcp://127.0.0.1:PORT`; with TLS it adds `--tlsverify` and the test CA. The
token travels the way an operator would send it: the CLI config's
HttpHeaders (`X-Lookout-Token`), in a temporary config dir so no context or
credential helper of the machine is used. Every command checks its output,
not only its exit code. One private dockerd per module; containers and images
have unique names and are removed straight through dockerd, also on failure.

Run: LOOKOUT_BIN=build/asan/lookout python3 tests/integration/test_30_proxy_cli.py
"""

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402

lk.absolute_lookout_bin()

DOCKERD = None
CERTS = None
_TMP = None


def setUpModule():
    global DOCKERD, CERTS, _TMP
    _TMP = tempfile.mkdtemp(prefix="lk30-")
    CERTS = lk.make_certs(os.path.join(_TMP, "certs"))
    DOCKERD = lk.shared_dockerd()


def tearDownModule():
    lk.stop_shared_dockerd()
    shutil.rmtree(_TMP, ignore_errors=True)


def tar_members(data):
    """{name: bytes} of the regular files in a tar stream."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar.getmembers():
            if m.isfile():
                out[m.name.lstrip("./")] = tar.extractfile(m).read()
    return out


class Background:
    """A docker CLI process whose output is read while it runs."""

    def __init__(self, argv, env, stdin=False):
        self.proc = lk.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        self.out = b""
        self.err = b""
        self.cond = threading.Condition()
        self.threads = [threading.Thread(target=self._read, args=(self.proc.stdout, "out"), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr, "err"), daemon=True)]
        for t in self.threads:
            t.start()

    def _read(self, f, attr):
        for chunk in iter(lambda: f.read1(65536), b""):
            with self.cond:
                setattr(self, attr, getattr(self, attr) + chunk)
                self.cond.notify_all()

    def wait_for(self, marker, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while marker not in self.out:
                left = deadline - time.monotonic()
                if left <= 0 or not any(t.is_alive() for t in self.threads):  # ended without it
                    raise AssertionError(
                        "docker CLI: no %r within %.0fs (exit %s)\nstdout: %r\nstderr: %r" % (
                            marker, timeout, self.proc.poll(), self.out[-2000:], self.err[-2000:]))
                self.cond.wait(min(left, 0.5))
        return self.out

    def wait_exit(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("docker CLI still running after %.0fs\nstdout: %r\nstderr: %r" % (
                timeout, self.out[-2000:], self.err[-2000:]))
        for t in self.threads:
            t.join(10)
        return rc

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self):
        self.proc.stdin.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is None:
                continue
            try:
                f.close()
            except Exception:
                pass


class CliTests:
    """Mixed into a TestCase once per transport (plain, TLS)."""

    tls = False

    @classmethod
    def setUpClass(cls):
        cls.mode = "tls" if cls.tls else "plain"
        cls.agent = lk.Agent(dockerd=DOCKERD, certs=CERTS if cls.tls else None).start()
        cls.addClassCleanup(cls.agent._cleanup)
        cls.cfg = tempfile.mkdtemp(prefix="lk30-cli-")
        cls.addClassCleanup(shutil.rmtree, cls.cfg, True)
        with open(os.path.join(cls.cfg, "config.json"), "w") as f:
            json.dump({"HttpHeaders": {"X-Lookout-Token": cls.agent.token}}, f)
        cls.server_version = DOCKERD.api_json("GET", "/version")[1]["Version"]
        # A long-running container for exec / stats / cp, made straight through dockerd.
        cls.sleeper = "lk30-%s-sleeper-%s" % (cls.mode, secrets.token_hex(4))
        st, js = DOCKERD.api_json("POST", "/containers/create?name=" + cls.sleeper,
                                  {"Image": "busybox:latest", "Cmd": ["sleep", "3600"]})
        if st != 201:
            raise AssertionError("create sleeper: %s %r" % (st, js))
        cls.addClassCleanup(DOCKERD.remove_container, cls.sleeper)
        st, js = DOCKERD.api_json("POST", "/containers/%s/start" % cls.sleeper)
        if st != 204:
            raise AssertionError("start sleeper: %s %r" % (st, js))

    def setUp(self):
        if not self.agent.alive():
            self.fail("shared agent died\n" + self.agent.dump())

        def dump_on_failure():
            if self._failed():
                lk.log("%s failed\n%s" % (self.id(), self.agent.dump(30)))
        self.addCleanup(dump_on_failure)

    # the CLI
    def argv(self, *args):
        a = [lk.docker_cli_path(), "-H", "tcp://127.0.0.1:%d" % self.agent.port]
        if self.tls:
            a += ["--tlsverify", "--tlscacert", CERTS.ca, "--tlscert", CERTS.client_cert,
                  "--tlskey", CERTS.client_key]
        return a + list(args)

    def env(self):
        # DOCKER_BUILDKIT=0: the classic builder (POST /build with a tar
        # body), which is what Debian's CLI without buildx does anyway.
        return {"PATH": lk.SYS_PATH, "HOME": self.cfg, "DOCKER_CONFIG": self.cfg,
                "DOCKER_CLI_HINTS": "false", "DOCKER_BUILDKIT": "0"}

    def docker(self, *args, input=None, timeout=60, check=True):
        return lk.run(self.argv(*args), input=input, timeout=timeout, check=check, env=self.env())

    def out(self, *args, **kw):
        return self.docker(*args, **kw).stdout.decode(errors="replace")

    def background(self, *args, stdin=False):
        b = Background(self.argv(*args), self.env(), stdin=stdin)
        self.addCleanup(b.kill)
        return b

    def name(self, what="c"):
        n = "lk30-%s-%s-%s" % (self.mode, what, secrets.token_hex(4))
        self.addCleanup(DOCKERD.remove_container, n)
        return n

    def image_tag(self, what):
        t = "lk30-%s-%s:%s" % (self.mode, what, secrets.token_hex(4))
        self.addCleanup(DOCKERD.remove_image, t)
        return t

    def state(self, name):
        st, js = DOCKERD.api_json("GET", "/containers/%s/json" % name)
        return js["State"] if st == 200 else None

    def run_detached(self, *cmd):
        name = self.name()
        cid = self.out("run", "-d", "--name", name, "busybox", *cmd)
        self.assertRegex(cid, r"^[0-9a-f]{64}\n$")
        return name

    # ------------------------------------------------------------------
    def test_version(self):
        out = self.out("version")
        self.assertIn("Client:", out)
        server = out.split("Server:", 1)
        self.assertEqual(len(server), 2, "no Server section:\n" + out)
        m = re.search(r"Engine:\s*\n\s*Version:\s*(\S+)", server[1])
        self.assertIsNotNone(m, out)
        self.assertEqual(m.group(1), self.server_version)
        self.assertEqual(self.out("version", "--format", "{{.Server.Version}}").strip(),
                         self.server_version)

    def test_info(self):
        out = self.out("info")
        self.assertIn("Server Version: %s\n" % self.server_version, out)
        self.assertEqual(self.out("info", "--format", "{{.ID}}").strip(),
                         DOCKERD.api_json("GET", "/info")[1]["ID"])

    def test_run_rm(self):
        name = self.name()
        cp = self.docker("run", "--rm", "--name", name, "busybox", "echo", "hello")
        self.assertEqual(cp.stdout, b"hello\n")
        lk.wait_until(lambda: self.state(name) is None, 15, "the --rm container to be removed")

    def test_run_interactive_stdin_closed_early(self):
        # stdin ends after "hi": the CLI half-closes its hijacked connection,
        # cat sees EOF, and output keeps flowing after that.
        cp = self.docker("run", "-i", "--rm", "busybox", "sh", "-c", "cat; sleep 1; echo after-eof",
                         input=b"hi\n", timeout=60)
        self.assertEqual(cp.stdout, b"hi\nafter-eof\n")

    def test_run_detached_and_logs_follow(self):
        name = self.run_detached("sh", "-c",
                                 "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.2; done")
        logs = self.background("logs", "-f", name)
        logs.wait_for(b"line-5\n", 30)
        st, _, _ = DOCKERD.api("POST", "/containers/%s/kill" % name)
        self.assertEqual(st, 204)
        self.assertEqual(logs.wait_exit(30), 0, logs.err)
        lines = logs.out.decode().split()
        self.assertGreaterEqual(len(lines), 6)
        self.assertEqual(lines, ["line-%d" % i for i in range(len(lines))])

    def test_exec(self):
        cp = self.docker("exec", self.sleeper, "sh", "-c", "echo exec-out; echo exec-err >&2")
        self.assertEqual(cp.stdout, b"exec-out\n")
        self.assertIn(b"exec-err\n", cp.stderr)
        cp = self.docker("exec", self.sleeper, "sh", "-c", "exit 5", check=False)
        self.assertEqual(cp.returncode, 5)

    def test_exec_interactive(self):
        data = b"piped line 1\npiped line 2\n" + secrets.token_hex(2000).encode() + b"\n"
        cp = self.docker("exec", "-i", self.sleeper, "sh", "-c", "cat; echo exec-eof",
                         input=data, timeout=60)
        self.assertEqual(cp.stdout, data + b"exec-eof\n")

    def test_attach_with_stdin(self):
        name = self.name()
        cid = self.out("run", "-d", "-i", "--name", name, "busybox", "sh", "-c", "read x; echo got:$x")
        self.assertRegex(cid, r"^[0-9a-f]{64}\n$")
        # stdin stays open until the answer is back: Docker ends an attach
        # session (StdinOnce=false) as soon as the client's stdin ends.
        att = self.background("attach", name, stdin=True)
        att.write(b"abc\n")
        att.wait_for(b"got:abc\n", 30)
        self.assertEqual(att.wait_exit(30), 0, att.err)
        self.assertEqual(att.out, b"got:abc\n")
        self.assertEqual(self.state(name)["ExitCode"], 0)

    def test_attach_output(self):
        name = self.run_detached("sh", "-c", "while true; do echo tick; sleep 0.2; done")
        att = self.background("attach", "--no-stdin", name)
        att.wait_for(b"tick\ntick\n", 30)
        st, _, _ = DOCKERD.api("POST", "/containers/%s/kill" % name)
        self.assertEqual(st, 204)
        att.wait_exit(30)
        self.assertEqual(set(att.out.decode().split()), {"tick"})

    def test_events_since_until(self):
        since = int(time.time()) - 1
        name = self.name()
        self.assertEqual(self.out("run", "--name", name, "busybox", "true"), "")
        until = int(time.time()) + 1
        out = self.out("events", "--since", str(since), "--until", str(until),
                       "--filter", "container=" + name,
                       "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", timeout=60)
        lines = out.splitlines()
        for action in ("create", "start", "die"):
            self.assertIn("container %s %s" % (action, name), lines)
        self.assertLess(lines.index("container create " + name), lines.index("container start " + name))
        self.assertLess(lines.index("container start " + name), lines.index("container die " + name))

    def test_stats_no_stream(self):
        out = self.out("stats", "--no-stream", self.sleeper)
        self.assertIn("CONTAINER ID", out)
        self.assertIn(self.sleeper, out)
        out = self.out("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", self.sleeper)
        self.assertEqual(out.strip(), "%s 1" % self.sleeper)

    def test_cp_both_ways(self):
        d = tempfile.mkdtemp(prefix="lk30-cp-")
        self.addCleanup(shutil.rmtree, d, True)
        data = os.urandom(300 * 1024) + b"\nend-of-file\n"
        src = os.path.join(d, "in.bin")
        with open(src, "wb") as f:
            f.write(data)
        dst = "/tmp/in-%s.bin" % secrets.token_hex(4)
        self.assertEqual(self.docker("cp", src, "%s:%s" % (self.sleeper, dst)).returncode, 0)
        md5 = self.out("exec", self.sleeper, "md5sum", dst).split()[0]
        self.assertEqual(md5, hashlib.md5(data).hexdigest())
        back = os.path.join(d, "back.bin")
        self.docker("cp", "%s:%s" % (self.sleeper, dst), back)
        with open(back, "rb") as f:
            self.assertEqual(f.read(), data)
        token = secrets.token_hex(8)
        self.docker("exec", self.sleeper, "sh", "-c", "echo made-inside-%s > /tmp/made.txt" % token)
        tar = self.docker("cp", "%s:/tmp/made.txt" % self.sleeper, "-").stdout
        self.assertEqual(tar_members(tar), {"made.txt": ("made-inside-%s\n" % token).encode()})

    def test_export_import(self):
        name = self.name()
        mark = "mark-" + secrets.token_hex(8)
        self.docker("run", "--name", name, "busybox", "sh", "-c", "echo %s > /marker" % mark)
        data = self.docker("export", name).stdout
        files = tar_members(data)
        self.assertEqual(files.get("marker"), (mark + "\n").encode())
        self.assertIn("bin/busybox", files)
        tag = self.image_tag("imported")
        out = self.out("import", "-", tag, input=data)
        self.assertRegex(out.strip(), r"^sha256:[0-9a-f]{64}$")
        self.assertEqual(self.out("run", "--rm", tag, "cat", "/marker"), mark + "\n")

    def test_save_load(self):
        tag = self.image_tag("saved")
        self.assertEqual(self.out("tag", "busybox:latest", tag), "")
        data = self.docker("save", tag).stdout
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        self.assertEqual(manifest[0]["RepoTags"], [tag])
        self.assertIn("Untagged: " + tag, self.out("rmi", tag))
        self.assertEqual(DOCKERD.api("GET", "/images/%s/json" % tag)[0], 404)
        out = self.out("load", input=data)
        self.assertIn("Loaded image: " + tag, out)
        self.assertEqual(DOCKERD.api("GET", "/images/%s/json" % tag)[0], 200)

    def test_build_from_scratch(self):
        d = tempfile.mkdtemp(prefix="lk30-build-")
        self.addCleanup(shutil.rmtree, d, True)
        token = secrets.token_hex(8)
        with open(os.path.join(d, "Dockerfile"), "w") as f:
            f.write("FROM scratch\nCOPY hello.txt /hello.txt\nLABEL lk30=%s\n" % token)
        with open(os.path.join(d, "hello.txt"), "w") as f:
            f.write("payload-%s\n" % token)
        tag = self.image_tag("scratch")
        out = self.out("build", "-t", tag, d, timeout=120)
        self.assertIn("Step 1/3 : FROM scratch", out)
        self.assertIn("Successfully built", out)
        self.assertIn("Successfully tagged " + tag, out)
        label = self.out("image", "inspect", "-f", '{{index .Config.Labels "lk30"}}', tag)
        self.assertEqual(label.strip(), token)
        self.assertIn("COPY", self.out("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag))
        name = self.name()
        self.assertRegex(self.out("create", "--name", name, tag, "/none"), r"^[0-9a-f]{64}\n$")
        tar = self.docker("cp", "%s:/hello.txt" % name, "-").stdout
        self.assertEqual(tar_members(tar), {"hello.txt": ("payload-%s\n" % token).encode()})

    def test_pause_unpause(self):
        name = self.run_detached("sleep", "300")
        self.assertEqual(self.out("pause", name), name + "\n")
        fmt = "{{.State.Status}} {{.State.Paused}}"
        self.assertEqual(self.out("inspect", "-f", fmt, name), "paused true\n")
        self.assertTrue(self.state(name)["Paused"])
        self.assertEqual(self.out("unpause", name), name + "\n")
        self.assertEqual(self.out("inspect", "-f", fmt, name), "running false\n")

    def test_kill(self):
        name = self.run_detached("sleep", "300")
        self.assertEqual(self.out("kill", name), name + "\n")
        lk.wait_until(lambda: not self.state(name)["Running"], 15, "the killed container to stop")
        self.assertEqual(self.out("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name),
                         "exited 137\n")

    def test_wait(self):
        name = self.run_detached("sh", "-c", "sleep 2; exit 7")
        self.assertEqual(self.out("wait", name, timeout=60), "7\n")

    def test_rm_force(self):
        name = self.run_detached("sleep", "300")
        self.assertEqual(self.out("rm", "-f", name), name + "\n")
        self.assertIsNone(self.state(name))
        self.assertNotIn(name, self.out("ps", "-a", "--format", "{{.Names}}").split())


class CliPlain(CliTests, lk.TestCase):
    tls = False


class CliTLS(CliTests, lk.TestCase):
    tls = True


if __name__ == "__main__":
    lk.main()
