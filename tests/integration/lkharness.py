"""Integration-test harness for Lookout: real processes, real sockets.

Standard library only. What it provides:

  DockerD     a private dockerd (own socket, data-root and exec-root under a
              temp dir, no bridge, no iptables) with busybox-static imported
              as busybox:latest, so containers run without any registry.
  Agent       the built lookout binary ($LOOKOUT_BIN) as `lookout serve`,
              its JSON log captured line by line, its port taken from the
              `listening` log line (PORT=0).
  make_certs  a test CA plus server and client certificates (openssl CLI).
  RawConn     a plain TCP client that speaks HTTP/1.1 by hand, for tests that
              need control over bytes, pacing and connection reuse.
  TestCase    unittest.TestCase that dumps agent/dockerd logs of a failed test.

Rules this file follows (and tests built on it should too):
  * Waiting is always for a condition (a log line, a socket accepting, an API
    answer, a process exit) with a deadline; never a fixed sleep.
  * Every process started here dies with the test process (PR_SET_PDEATHSIG)
    and is stopped by pid on every exit path: context managers, atexit, and
    SIGTERM (turned into KeyboardInterrupt so unwinding runs). A test process
    that was SIGKILLed leaves its dockerd dir behind; the next DockerD start
    sweeps such dirs whose owner process is gone.
  * Loopback only.
"""

import atexit
import ctypes
import http.client
import io
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

DOCKERD_START_TIMEOUT = 60.0
DOCKERD_STOP_TIMEOUT = 40.0
AGENT_START_TIMEOUT = 30.0
AGENT_STOP_TIMEOUT = 15.0
CMD_TIMEOUT = 120.0

SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DIR_PREFIX = "lk-dockerd-"
# Sanitizer settings travel from ctest to the agent through the minimal env.
PASS_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS",
            "MSAN_OPTIONS", "ASAN_SYMBOLIZER_PATH", "LLVM_SYMBOLIZER_PATH")
CREDENTIAL_VARS = ("TOKEN", "TOKEN_FILE", "DD_AGENT_SECRET", "DD_AGENT_SECRET_FILE",
                   "TOKEN_HASH", "TOKEN_HASH_FILE", "AUTHORIZED_KEYS",
                   "AUTHORIZED_KEYS_FILE", "ALLOW_UNAUTHENTICATED")


def log(msg):
    sys.stderr.write("[lkharness] %s\n" % msg)
    sys.stderr.flush()


# --------------------------------------------------------------------------
# process hygiene

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _child_setup(sig):
    """preexec_fn: die with `sig` when the test process goes away."""
    parent = os.getpid()

    def fn():
        _libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # parent died before prctl took effect
            os._exit(127)
    return fn


def popen(argv, sig=signal.SIGKILL, **kw):
    """subprocess.Popen whose child gets `sig` when the test process dies.

    PR_SET_PDEATHSIG fires when the *thread* that forked exits: start
    long-lived children from the main thread (or a thread that outlives them).
    """
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(argv, preexec_fn=_child_setup(sig), **kw)


def run(argv, input=None, timeout=CMD_TIMEOUT, check=True, env=None, cwd=None):
    """subprocess.run with pdeathsig, captured output (bytes) and a deadline.

    check=True raises AssertionError carrying stdout/stderr on a non-zero exit.
    """
    p = popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError("command timed out after %ss: %r\nstdout: %s\nstderr: %s" % (
            timeout, argv, out.decode(errors="replace")[-4000:], err.decode(errors="replace")[-4000:]))
    except BaseException:
        p.kill()
        p.wait()
        raise
    cp = subprocess.CompletedProcess(argv, p.returncode, out, err)
    if check and p.returncode != 0:
        raise AssertionError("command failed (exit %d): %r\nstdout: %s\nstderr: %s" % (
            p.returncode, argv, out.decode(errors="replace")[-4000:], err.decode(errors="replace")[-4000:]))
    return cp


def wait_until(pred, timeout, what="condition", interval=0.05, fail=None):
    """Poll pred() until it returns a true value (returned) or the deadline.

    fail(), if given, is checked on every round and may raise to abort early
    (e.g. the process we wait for has exited).
    """
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if fail is not None:
            fail()
        now = time.monotonic()
        if now >= deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        # Waiting for a condition: the short pause bounds CPU, it orders nothing.
        time.sleep(min(interval, deadline - now))


def wait_pid_gone(pid, timeout):
    """Wait for a process that is not our child to exit (pidfd). True if gone."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError:
        fd = None
    if fd is None:
        try:
            wait_until(lambda: not os.path.exists("/proc/%d" % pid), timeout, "pid %d" % pid)
            return True
        except AssertionError:
            return False
    try:
        r, _, _ = select.select([fd], [], [], timeout)
        return bool(r)
    finally:
        os.close(fd)


def _proc_start_time(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
        return int(data[data.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def pids_referencing(path):
    """Pids (not ours) whose cmdline, root or cwd lies in/under `path`.

    Covers dockerd, its containerd, containerd-shims (their -address names the
    exec-root) and container processes (their root is an overlay mount under
    the data-root).
    """
    path = os.path.realpath(path)
    bpath = os.fsencode(path)
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me:
            continue
        hit = False
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if bpath in f.read():
                    hit = True
        except OSError:
            continue
        if not hit:
            for link in ("root", "cwd"):
                try:
                    t = os.readlink("/proc/%d/%s" % (pid, link))
                except OSError:
                    continue
                if t == path or t.startswith(path + "/"):
                    hit = True
                    break
        if hit:
            found.append(pid)
    return found


def kill_pids_referencing(path, timeout=15.0):
    """SIGKILL everything referencing `path`, repeat until none is left."""
    deadline = time.monotonic() + timeout
    while True:
        pids = pids_referencing(path)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            wait_pid_gone(pid, max(0.1, deadline - time.monotonic()))
        if time.monotonic() >= deadline:
            left = pids_referencing(path)
            if left:
                log("processes still referencing %s: %r" % (path, left))
            return


def _unescape_mount(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mounts_under(path):
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = _unescape_mount(line.split()[4])
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def unmount_under(path):
    """Lazily unmount everything under `path`, deepest first."""
    for _ in range(5):
        mps = mounts_under(path)
        if not mps:
            return
        for mp in sorted(set(mps), key=lambda p: (-p.count("/"), p)):
            subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
    left = mounts_under(path)
    if left:
        log("mounts still present under %s: %r" % (path, left))


def scrub_dir(path, remove=True):
    """Kill what references `path`, unmount what is under it, then rm -rf."""
    kill_pids_referencing(path)
    unmount_under(path)
    if remove:
        shutil.rmtree(path, ignore_errors=True)
        if os.path.exists(path):
            # chattr'd or busy leftovers: one more pass after another unmount
            unmount_under(path)
            shutil.rmtree(path, ignore_errors=True)


# Everything live is tracked so atexit / SIGTERM can stop it.
_live = []
_live_lock = threading.Lock()


def _track(obj):
    with _live_lock:
        _live.append(obj)


def _untrack(obj):
    with _live_lock:
        if obj in _live:
            _live.remove(obj)


def cleanup_all():
    with _live_lock:
        objs = list(reversed(_live))
    for o in objs:
        try:
            o._cleanup()
        except Exception as e:  # keep going: everything must be stopped
            log("cleanup of %r failed: %s" % (o, e))


atexit.register(cleanup_all)


def _on_sigterm(signum, frame):
    # KeyboardInterrupt is the one exception unittest lets through, so the
    # with-blocks unwind and atexit runs.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt("SIGTERM")


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_sigterm)


# --------------------------------------------------------------------------
# HTTP helpers

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30.0):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self._unix_path)
        except BaseException:
            s.close()
            raise
        self.sock = s


def _do_request(conn, method, path, headers=None, body=None):
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


class Response:
    """A parsed HTTP/1.1 response read by RawConn."""

    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers          # lower-case name -> last value
        self.body = body
        self.raw_head = raw_head

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:200])


class RawConn:
    """Hand-driven HTTP/1.1 over one TCP connection to 127.0.0.1:port."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, nodelay=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send_request(self, method, path, headers=None, body=b"", host="localhost"):
        if isinstance(body, str):
            body = body.encode()
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        if body:
            lines.append("Content-Length: %d" % len(body))
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        self.sock.settimeout(self.timeout)
        if not chunk:
            raise EOFError("connection closed by peer")
        self.buf += chunk

    def _read_until(self, marker, deadline):
        while marker not in self.buf:
            self._fill(deadline)
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_n(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_request=False, timeout=None):
        """Read one response (Content-Length, chunked, or until close)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        raw = self._read_until(b"\r\n\r\n", deadline)
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError("bad status line %r" % lines[0])
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = {}
        for ln in lines[1:]:
            if not ln:
                continue
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        body = b""
        no_body = head_request or status in (204, 304) or 100 <= status < 200
        if not no_body:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                while True:
                    size_line = self._read_until(b"\r\n", deadline)
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        self._read_until(b"\r\n", deadline)  # no trailers expected
                        break
                    body += self._read_n(size, deadline)
                    self._read_n(2, deadline)
            elif "content-length" in headers:
                body = self._read_n(int(headers["content-length"]), deadline)
            else:
                body = self.read_until_close(timeout=deadline - time.monotonic())
        return Response(status, reason, headers, body, raw)

    def request(self, method, path, headers=None, body=b"", timeout=None):
        self.send_request(method, path, headers, body)
        return self.read_response(head_request=(method == "HEAD"), timeout=timeout)

    def read_until_close(self, timeout=10.0):
        """All bytes until the peer closes (EOF or reset). Raises on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except EOFError:
                break
            except ConnectionResetError:
                break
        out, self.buf = self.buf, b""
        return out

    def trickle(self, data, gap=1.0, timeout=10.0):
        """Send `data` one byte at a time, waiting up to `gap` seconds between
        bytes for the peer to answer or close (the wait is on the socket, so a
        close is seen at once).

        Returns (closed, sent, received): closed is True if the peer closed
        (EOF, reset or broken pipe) before the deadline.
        """
        if isinstance(data, str):
            data = data.encode()
        deadline = time.monotonic() + timeout
        sent = 0
        received = b""
        while time.monotonic() < deadline:
            if sent < len(data):
                try:
                    self.sock.sendall(data[sent:sent + 1])
                    sent += 1
                except (BrokenPipeError, ConnectionResetError):
                    return True, sent, received
            wait = min(gap, deadline - time.monotonic())
            if wait <= 0:
                break
            r, _, _ = select.select([self.sock], [], [], wait)
            if r:
                try:
                    chunk = self.sock.recv(65536)
                except ConnectionResetError:
                    return True, sent, received
                if not chunk:
                    return True, sent, received
                received += chunk
        return False, sent, received

    def wait_closed(self, timeout=10.0):
        """Wait until the peer closes; returns whatever bytes came first.

        Raises AssertionError if the connection is still open at the deadline.
        """
        try:
            return self.read_until_close(timeout)
        except socket.timeout:
            raise AssertionError("connection still open after %.0fs" % timeout)


def http_request(port, method, path, headers=None, body=None, host="127.0.0.1", timeout=30.0):
    """One request on a fresh plain connection: (status, headers, body)."""
    return _do_request(http.client.HTTPConnection(host, port, timeout=timeout),
                       method, path, headers, body)


def proc_cpu_seconds(pid):
    """utime + stime of process pid (all its threads), from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_ports(pid):
    """{(ip, port)} of TCP sockets in LISTEN state held by process `pid`.

    Read from /proc (the process's own network namespace), so it works
    without any log line and inside `unshare --net`.
    """
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
    except OSError:
        return set()
    found = set()
    for fam in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, fam)) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] != "0A" or parts[9] not in inodes:
                        continue
                    addr, port = parts[1].split(":")
                    if fam == "tcp":
                        ip = socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1])
                    else:
                        raw = bytes.fromhex(addr)
                        ip = socket.inet_ntop(socket.AF_INET6, b"".join(
                            raw[i:i + 4][::-1] for i in range(0, 16, 4)))
                    found.add((ip, int(port, 16)))
        except OSError:
            pass
    return found


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# Docker

def docker_cli_path():
    """The docker CLI from docker.io (/usr/bin/docker), else docker on PATH."""
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    p = shutil.which("docker")
    if not p:
        raise AssertionError("docker CLI not found (apt-get install docker.io)")
    return p


def dockerd_path():
    p = shutil.which("dockerd", path=SYS_PATH)
    if not p:
        raise AssertionError("dockerd not found (apt-get install docker.io)")
    return p


def busybox_path():
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.access(p, os.X_OK):
            return p
    raise AssertionError("busybox not found (apt-get install busybox-static)")


def busybox_rootfs_tar():
    """A tar stream of a busybox-static root filesystem with applet links."""
    bb = busybox_path()
    applets = subprocess.run([bb, "--list"], stdout=subprocess.PIPE, check=True,
                             timeout=30).stdout.decode().split()
    if "sh" not in applets:
        raise AssertionError("%s has no sh applet" % bb)
    out = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=out, mode="w") as tar:
        def add_dir(name, mode=0o755):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, now
            tar.addfile(ti)

        def add_file(name, data, mode=0o644):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), mode, now
            tar.addfile(ti, io.BytesIO(data))

        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root",
                  "home", "var", "var/tmp", "proc", "sys", "dev", "run", "mnt"):
            add_dir(d, 0o700 if d == "root" else 0o755)
        add_dir("tmp", 0o1777)
        with open(bb, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        for a in sorted(set(applets)):
            if a == "busybox" or "/" in a:
                continue
            ti = tarfile.TarInfo("bin/" + a)
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, "busybox", 0o777, now
            tar.addfile(ti)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                 b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
        add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    return out.getvalue()


def _dockerd_base():
    """Where daemon dirs go: $TMPDIR unless that is too long for unix sockets."""
    tmp = tempfile.gettempdir()
    return tmp if len(tmp) <= 40 else "/tmp"


def _sweep_stale_dirs():
    """Remove lk-dockerd-* dirs whose owning test process is gone (SIGKILLed)."""
    base = _dockerd_base()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(DIR_PREFIX):
            continue
        d = os.path.join(base, name)
        try:
            with open(os.path.join(d, "owner")) as f:
                pid, start = (int(x) for x in f.read().split())
        except (OSError, ValueError):
            continue  # being created right now, or not ours
        if _proc_start_time(pid) == start:
            continue  # owner alive
        log("removing stale %s (owner pid %d gone)" % (d, pid))
        scrub_dir(d)


def docker_cli(host, *args, config_dir=None, tls=None, input=None, timeout=CMD_TIMEOUT,
               check=True, env_extra=None):
    """Run the docker CLI against `host` (unix://... or tcp://...).

    tls: a Certs (from make_certs) to use --tlsverify with its CA and client cert.
    """
    env = {"PATH": SYS_PATH, "HOME": config_dir or tempfile.gettempdir(),
           "DOCKER_CLI_HINTS": "false"}
    if config_dir:
        env["DOCKER_CONFIG"] = config_dir
    env.update(env_extra or {})
    argv = [docker_cli_path(), "-H", host]
    if tls is not None:
        argv += ["--tlsverify", "--tlscacert", tls.ca, "--tlscert", tls.client_cert,
                 "--tlskey", tls.client_key]
    argv += list(args)
    if isinstance(input, str):
        input = input.encode()
    return run(argv, input=input, timeout=timeout, check=check, env=env)


class DockerD:
    """A private dockerd. Use as a context manager or call start()/stop()."""

    def __init__(self, import_busybox=True, extra_args=()):
        self.import_busybox = import_busybox
        self.extra_args = list(extra_args)
        self.dir = None
        self.proc = None
        self.pid = None

    def __repr__(self):
        return "<DockerD %s pid=%s>" % (self.dir, self.pid)

    # paths
    @property
    def socket(self):
        return os.path.join(self.dir, "docker.sock")

    @property
    def host(self):
        return "unix://" + self.socket

    @property
    def logfile(self):
        return os.path.join(self.dir, "dockerd.log")

    def log_tail(self, n=80):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no dockerd log)"

    def start(self):
        _sweep_stale_dirs()
        self.dir = tempfile.mkdtemp(prefix=DIR_PREFIX, dir=_dockerd_base())
        with open(os.path.join(self.dir, "owner"), "w") as f:
            f.write("%d %d\n" % (os.getpid(), _proc_start_time(os.getpid())))
        if len(os.fsencode(os.path.join(self.dir, "x", "containerd", "containerd-debug.sock"))) > 100:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise AssertionError("temp dir path too long for unix sockets: %s" % self.dir)
        for sub in ("data", "x", "cli"):
            os.mkdir(os.path.join(self.dir, sub), 0o700)
        with open(os.path.join(self.dir, "daemon.json"), "w") as f:
            f.write("{}\n")
        _track(self)
        try:
            self._spawn()
            if self.import_busybox:
                self.import_image()
        except BaseException:
            log("dockerd failed to start; log tail:\n" + self.log_tail())
            self._cleanup()
            raise
        return self

    def _spawn(self):
        argv = [dockerd_path(),
                "--host", self.host,
                "--data-root", os.path.join(self.dir, "data"),
                "--exec-root", os.path.join(self.dir, "x"),
                "--pidfile", os.path.join(self.dir, "docker.pid"),
                "--config-file", os.path.join(self.dir, "daemon.json"),
                "--bridge", "none", "--iptables=false", "--ip6tables=false",
                "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false",
                "--shutdown-timeout", "5"] + self.extra_args
        logf = open(self.logfile, "ab")
        try:
            # SIGTERM on parent death: dockerd then stops its containers and
            # unmounts what it mounted.
            self.proc = popen(argv, sig=signal.SIGTERM, stdout=logf, stderr=subprocess.STDOUT,
                              env={"PATH": SYS_PATH, "HOME": self.dir}, cwd=self.dir)
        finally:
            logf.close()
        self.pid = self.proc.pid

        def died():
            if self.proc.poll() is not None:
                raise AssertionError("dockerd exited with %s during start-up" % self.proc.returncode)
        wait_until(self.ping, DOCKERD_START_TIMEOUT, "dockerd /_ping on " + self.socket, fail=died)

    def ping(self):
        try:
            st, _, body = self.api("GET", "/_ping", timeout=5)
            return st == 200 and body.strip() == b"OK"
        except (OSError, http.client.HTTPException):
            return False

    def remove_container(self, ref):
        """Best-effort forced removal (with volumes) for test cleanup."""
        try:
            self.api("DELETE", "/containers/%s?force=1&v=1" % ref, timeout=60)
        except Exception as e:  # cleanup goes on
            log("removing container %s: %s" % (ref, e))

    def remove_image(self, ref):
        """Best-effort forced image removal for test cleanup."""
        try:
            self.api("DELETE", "/images/%s?force=1" % ref, timeout=60)
        except Exception as e:  # cleanup goes on
            log("removing image %s: %s" % (ref, e))

    def api(self, method, path, body=None, headers=None, timeout=30.0):
        """Raw HTTP over the unix socket: (status, lower-case headers, body)."""
        return _do_request(UnixHTTPConnection(self.socket, timeout), method, path, headers, body)

    def api_json(self, method, path, body=None, headers=None, timeout=30.0):
        st, _, data = self.api(method, path, body, headers, timeout)
        return st, (json.loads(data) if data.strip() else None)

    def docker(self, *args, input=None, timeout=CMD_TIMEOUT, check=True):
        return docker_cli(self.host, *args, config_dir=os.path.join(self.dir, "cli"),
                          input=input, timeout=timeout, check=check)

    def import_image(self, tag="busybox:latest"):
        st, _, _ = self.api("GET", "/images/%s/json" % tag)
        if st == 200:
            return
        self.docker("import", "--change", 'CMD ["sh"]', "-", tag, input=busybox_rootfs_tar())

    def stop_daemon(self, timeout=DOCKERD_STOP_TIMEOUT):
        """SIGTERM by pid, bounded wait, SIGKILL; then kill and unmount leftovers."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log("dockerd %d ignored SIGTERM for %ss, killing" % (self.proc.pid, timeout))
                self.proc.kill()
                self.proc.wait()
        if self.dir:
            kill_pids_referencing(self.dir)
            unmount_under(self.dir)
            # A killed containerd may linger as a zombie until init reaps it;
            # its pid file would then make the next dockerd wait for it.
            for pf in (os.path.join(self.dir, "x", "containerd", "containerd.pid"),
                       os.path.join(self.dir, "docker.pid")):
                try:
                    os.unlink(pf)
                except FileNotFoundError:
                    pass

    def kill(self):
        """SIGKILL the daemon (a crash), keeping its data; leftovers are killed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop_daemon()

    def stop(self):
        self._cleanup()

    def start_daemon(self):
        """Start the daemon again (after stop_daemon/kill) on the same socket."""
        if self.proc is not None and self.proc.poll() is None:
            raise AssertionError("dockerd is already running")
        try:
            self._spawn()
        except BaseException:
            log("dockerd failed to restart; log tail:\n" + self.log_tail())
            raise

    def restart(self):
        """Stop the daemon keeping its data, start again on the same socket."""
        self.stop_daemon()
        self.start_daemon()

    def _cleanup(self):
        try:
            self.stop_daemon()
        finally:
            if self.dir:
                scrub_dir(self.dir)
            _untrack(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.dir:
            log("dockerd log tail (%s):\n%s" % (self.logfile, self.log_tail()))
        self._cleanup()


_shared_dockerd = None


def shared_dockerd():
    """One daemon per test module: start on first use."""
    global _shared_dockerd
    if _shared_dockerd is None:
        _shared_dockerd = DockerD().start()
    return _shared_dockerd


def stop_shared_dockerd():
    global _shared_dockerd
    d, _shared_dockerd = _shared_dockerd, None
    if d is not None:
        d.stop()


def setUpModule():
    """`from lkharness import setUpModule, tearDownModule` shares one dockerd."""
    shared_dockerd()


def tearDownModule():
    stop_shared_dockerd()


# --------------------------------------------------------------------------
# certificates

class Certs:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return "<Certs %r>" % self.__dict__


def make_certs(dir, key_type="ec"):
    """Test CA, server cert (localhost, 127.0.0.1) and client cert via openssl.

    key_type "ec" (P-256) or "rsa" (2048). Returns a Certs with paths
    ca, ca_key, cert, key, client_cert, client_key.
    """
    dir = os.path.abspath(dir)
    os.makedirs(dir, exist_ok=True)
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec" \
        else ["-newkey", "rsa:2048"]
    p = lambda n: os.path.join(dir, n)
    env = {"PATH": SYS_PATH, "HOME": dir, "RANDFILE": p(".rnd")}

    def ossl(*args):
        run(["openssl"] + list(args), env=env, cwd=dir)

    ossl("req", "-x509", *newkey, "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"),
         "-days", "3", "-subj", "/CN=Lookout Test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, ext in (
            ("server", "localhost",
             "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
            ("client", "lookout-test-client", "extendedKeyUsage=clientAuth\n")):
        with open(p(name + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature%s\n%s" % (
                ",keyEncipherment" if key_type == "rsa" else "", ext))
        ossl("req", "-new", *newkey, "-nodes", "-keyout", p(name + ".key"),
             "-out", p(name + ".csr"), "-subj", "/CN=" + cn)
        ossl("x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
             "-set_serial", str(secrets.randbits(63)), "-days", "3",
             "-extfile", p(name + ".ext"), "-out", p(name + ".pem"))
    for n in ("ca.key", "server.key", "client.key"):
        os.chmod(p(n), 0o600)
    return Certs(dir=dir, ca=p("ca.pem"), ca_key=p("ca.key"), cert=p("server.pem"),
                 key=p("server.key"), client_cert=p("client.pem"), client_key=p("client.key"),
                 key_type=key_type)


# --------------------------------------------------------------------------
# the agent

def lookout_bin():
    b = os.environ.get("LOOKOUT_BIN")
    if b:
        if not os.access(b, os.X_OK):
            raise AssertionError("LOOKOUT_BIN=%s is not an executable" % b)
        # The agent runs with its own cwd: a relative path must not break.
        return os.path.abspath(b)
    for cand in ("build/asan/lookout", "build/release/lookout"):
        c = os.path.join(REPO, cand)
        if os.access(c, os.X_OK):
            return c
    raise AssertionError("no lookout binary: set LOOKOUT_BIN (make test sets it), "
                         "or build build/asan/lookout")


AUTO = object()


class Agent:
    """`lookout serve` as a child process.

    ready: "log" waits for the first `listening` record and takes port/tls
    from it; "socket" waits until the process holds a listening TCP socket
    (for LOG_LEVEL=error runs); None returns right after spawning.
    wrapper: argv prefix that execs the agent (e.g. ["unshare", "--net", "--"]).

    env: variables added to the minimal environment; a value of None removes
    a variable. Unless env sets one of the credential variables (or
    ALLOW_UNAUTHENTICATED), a random TOKEN is set and kept in self.token.
    certs: a Certs; sets TLS_CERT/TLS_KEY (unless env sets them) and makes
    curl()/docker() verify against its CA.
    """

    def __init__(self, env=None, dockerd=None, certs=None, token=AUTO, args=("serve",),
                 ready="log", wrapper=()):
        self.user_env = dict(env or {})
        self.dockerd = dockerd
        self.certs = certs
        self.args = list(args)
        self.ready = ready
        self.wrapper = list(wrapper)
        self.token = None
        if token is AUTO:
            if not any(k in self.user_env for k in CREDENTIAL_VARS):
                self.token = "lk-test-" + secrets.token_hex(16)
        else:
            self.token = token
        self.home = None
        self.proc = None
        self.pid = None
        self.port = None
        self.tls = None
        self.returncode = None
        self._lines = []            # raw stderr lines (str, no newline)
        self._records = []          # parsed JSON objects or None, same index
        self._stdout = []
        self._cond = threading.Condition()
        self._eof = False
        self._threads = []

    def __repr__(self):
        return "<Agent pid=%s port=%s>" % (self.pid, self.port)

    def build_env(self):
        env = {"PATH": SYS_PATH, "HOME": self.home, "PORT": "0", "BIND_ADDRESS": "127.0.0.1",
               "STACKS_DIR": os.path.join(self.home, "stacks")}
        for k in PASS_ENV:
            if k in os.environ:
                env[k] = os.environ[k]
        if self.dockerd is not None:
            env["DOCKER_SOCKET"] = self.dockerd.socket
        elif _shared_dockerd is not None:
            env["DOCKER_SOCKET"] = _shared_dockerd.socket
        if self.token is not None:
            env["TOKEN"] = self.token
        if self.certs is not None:
            env["TLS_CERT"] = self.certs.cert
            env["TLS_KEY"] = self.certs.key
        for k, v in self.user_env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def start(self):
        self.home = tempfile.mkdtemp(prefix="lk-agent-")
        os.makedirs(os.path.join(self.home, "stacks"), exist_ok=True)
        self.env = self.build_env()
        _track(self)
        try:
            self.proc = popen(self.wrapper + [lookout_bin()] + self.args, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=self.env, cwd=self.home)
            self.pid = self.proc.pid
            for stream, fn in ((self.proc.stderr, self._on_stderr), (self.proc.stdout, self._on_stdout)):
                t = threading.Thread(target=self._reader, args=(stream, fn), daemon=True)
                t.start()
                self._threads.append(t)
            if self.ready == "log":
                rec = self.wait_log("listening", AGENT_START_TIMEOUT)
                self.port = int(rec["port"])
                self.tls = bool(rec.get("tls", False))
            elif self.ready == "socket":
                def died():
                    if self.proc.poll() is not None:
                        raise AssertionError("agent exited with %s before listening" % self.proc.returncode)
                ports = wait_until(lambda: listening_ports(self.pid), AGENT_START_TIMEOUT,
                                   "agent listening socket", fail=died)
                self.port = sorted(ports)[0][1]
                self.tls = self.certs is not None or bool(self.env.get("TLS_CERT"))
        except BaseException:
            log("agent failed to start:\n" + self.dump())
            self._cleanup()
            raise
        return self

    # log capture
    def _reader(self, stream, fn):
        try:
            for raw in iter(stream.readline, b""):
                fn(raw.decode("utf-8", errors="replace").rstrip("\n"))
        finally:
            if fn == self._on_stderr:
                with self._cond:
                    self._eof = True
                    self._cond.notify_all()

    def _on_stderr(self, line):
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                rec = None
        except ValueError:
            rec = None
        with self._cond:
            self._lines.append(line)
            self._records.append(rec)
            self._cond.notify_all()

    def _on_stdout(self, line):
        with self._cond:
            self._stdout.append(line)

    def logs(self):
        """All stderr lines so far (str)."""
        with self._cond:
            return list(self._lines)

    def records(self):
        """Parsed stderr JSON objects so far (non-JSON lines skipped)."""
        with self._cond:
            return [r for r in self._records if r is not None]

    def stdout_lines(self):
        with self._cond:
            return list(self._stdout)

    def dump(self, n=60):
        lines = self.logs()[-n:]
        out = self.stdout_lines()[-n:]
        s = "agent stderr (last %d lines):\n  %s" % (len(lines), "\n  ".join(lines))
        if out:
            s += "\nagent stdout:\n  " + "\n  ".join(out)
        if self.proc is not None and self.proc.poll() is not None:
            s += "\nagent exit status: %s" % self.proc.returncode
        return s

    @staticmethod
    def _matcher(pred):
        if callable(pred):
            return pred
        return lambda r: r is not None and r.get("msg") == pred

    def find_logs(self, pred):
        m = self._matcher(pred)
        return [r for r in self.records() if m(r)]

    def wait_log(self, pred, timeout=10.0, start=0):
        """Wait for a log record matching pred (msg string or callable(dict)).

        Searches records from index `start`. Raises AssertionError (with the
        log) on timeout or if the agent's stderr ends first.
        """
        m = self._matcher(pred)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self._records):
                    r = self._records[i]
                    i += 1
                    if r is not None and m(r):
                        return r
                if self._eof:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        what = pred if isinstance(pred, str) else "matching record"
        raise AssertionError("agent log: no %r within %.0fs%s\n%s" % (
            what, timeout, " (stderr closed)" if self._eof else "", self.dump()))

    def mark(self):
        """Index to pass as wait_log(start=...) to only see later records."""
        with self._cond:
            return len(self._records)

    # lifecycle
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=AGENT_STOP_TIMEOUT):
        """Wait for exit; returns the exit code or raises AssertionError."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("agent did not exit within %ss\n%s" % (timeout, self.dump()))
        for t in self._threads:
            t.join(10)
        self.check_sanitizers()
        return self.returncode

    SANITIZER_MARKS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "WARNING: ThreadSanitizer")

    def check_sanitizers(self):
        """Raises AssertionError if a sanitizer reported anything on stderr
        (an exit status alone cannot tell a start-up refusal from an abort)."""
        bad = [ln for ln in self.logs() if any(m in ln for m in self.SANITIZER_MARKS)]
        if bad:
            raise AssertionError("sanitizer report from the agent:\n%s" % "\n".join(self.logs()[-80:]))

    def stop(self, sig=signal.SIGTERM, timeout=AGENT_STOP_TIMEOUT):
        """Send sig by pid and wait (bounded); returns the exit code.

        If the agent does not exit in time it is SIGKILLed and AssertionError
        is raised.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            return self.wait(timeout)
        except AssertionError:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._cleanup()

    def _cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            self.returncode = self.proc.returncode
            for t in self._threads:
                t.join(5)
            for s in (self.proc.stdout, self.proc.stderr):
                try:
                    s.close()
                except Exception:
                    pass
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)
        _untrack(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            log("test failed with the agent running\n" + self.dump())
        self._cleanup()

    # clients
    def auth_headers(self):
        return {"Authorization": "Bearer " + self.token} if self.token else {}

    def request(self, method, path, headers=None, body=None, timeout=30.0):
        """Plain HTTP/1.1 to 127.0.0.1:port: (status, lower-case headers, body)."""
        return http_request(self.port, method, path, headers, body, timeout=timeout)

    def raw(self, timeout=10.0):
        return RawConn(self.port, timeout=timeout)

    def url(self, path="/"):
        return "%s://localhost:%d%s" % ("https" if self.tls else "http", self.port, path)

    def curl(self, *args, timeout=60.0, check=False):
        """curl against this agent: --resolve localhost to 127.0.0.1, --cacert."""
        argv = ["curl", "-sS", "--max-time", str(int(timeout) - 5),
                "--resolve", "localhost:%d:127.0.0.1" % self.port]
        if self.certs is not None:
            argv += ["--cacert", self.certs.ca]
        return run(argv + list(args), timeout=timeout, check=check,
                   env={"PATH": SYS_PATH, "HOME": self.home or tempfile.gettempdir()})

    def curl_request(self, path, *args, timeout=60.0):
        """(status, body bytes) of curl on url(path); raises if curl fails."""
        cp = self.curl("-w", "\n%{http_code}", *args, self.url(path), timeout=timeout)
        if cp.returncode != 0:
            raise AssertionError("curl failed (%d): %s" % (cp.returncode, cp.stderr.decode(errors="replace")))
        body, _, code = cp.stdout.rpartition(b"\n")
        return int(code), body

    def docker(self, *args, input=None, timeout=CMD_TIMEOUT, check=True, config_dir=None):
        """The docker CLI through this agent (token sent via config HttpHeaders)."""
        if config_dir is None:
            config_dir = os.path.join(self.home, "docker-config")
            os.makedirs(config_dir, exist_ok=True)
            headers = {"X-Lookout-Token": self.token} if self.token else {}
            with open(os.path.join(config_dir, "config.json"), "w") as f:
                json.dump({"HttpHeaders": headers}, f)
        host = "tcp://127.0.0.1:%d" % self.port  # the test certificate names 127.0.0.1 too
        return docker_cli(host, *args, config_dir=config_dir,
                          tls=self.certs if self.tls else None,
                          input=input, timeout=timeout, check=check)


def start_expect_fail(env, dockerd=None, token=AUTO, args=("serve",), timeout=30.0, wrapper=()):
    """Run the agent expecting it to exit non-zero before listening.

    Returns (exit code, stderr text). Raises AssertionError if it keeps
    running past the deadline (it is killed) or logged `listening`.
    """
    a = Agent(env=env, dockerd=dockerd, token=token, args=args, ready=None, wrapper=wrapper)
    a.start()
    try:
        code = a.wait(timeout)
    except AssertionError as e:
        a._cleanup()
        if a.returncode is not None:
            raise  # it exited, with a sanitizer report
        raise AssertionError("agent did not exit (expected a start-up failure)\n%s\n%s" % (e, a.dump()))
    a._cleanup()
    err = "\n".join(a.logs())
    if a.find_logs("listening"):
        raise AssertionError("agent logged `listening` before failing\n" + a.dump())
    return code, err


Agent.start_expect_fail = staticmethod(start_expect_fail)


# --------------------------------------------------------------------------
# unittest glue

class TestCase(unittest.TestCase):
    """Adds start_agent()/dockerd() that clean up and dump logs on failure."""

    maxDiff = None

    def _failed(self):
        """Has this test (or one of its subtests) failed so far?"""
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        for t, _ in list(getattr(result, "errors", [])) + list(getattr(result, "failures", [])):
            if t is self or getattr(t, "test_case", None) is self:
                return True
        return False

    def start_agent(self, env=None, **kw):
        a = Agent(env=env, **kw).start()

        def fin():
            if self._failed():
                log("%s failed\n%s" % (self.id(), a.dump()))
            a._cleanup()
            a.check_sanitizers()
        self.addCleanup(fin)
        return a

    def start_dockerd(self, **kw):
        d = DockerD(**kw).start()

        def fin():
            if self._failed():
                log("%s failed; dockerd log tail:\n%s" % (self.id(), d.log_tail()))
            d._cleanup()
        self.addCleanup(fin)
        return d

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="lk-test-")
        self.addCleanup(shutil.rmtree, d, True)
        return d


def main():
    unittest.main(verbosity=2)


# --------------------------------------------------------------------------
# proxy-test helpers: a recording relay in front of dockerd, a streaming body
# reader, Docker's stream demultiplexer, RSS sampling

class RelayConn:
    """One connection accepted by a RecordingRelay.

    up: bytes the agent sent towards Docker; down: bytes Docker sent back.
    agent_gone: set once the agent's side reached EOF, errored, or refused
    bytes (the agent closed or half-closed it). closed: both directions done.
    """

    def __init__(self, idx):
        self.idx = idx
        self.up = bytearray()
        self.down = bytearray()
        self.lock = threading.Lock()
        self.accepted_at = time.monotonic()
        self.agent_gone = threading.Event()
        self.upstream_failed = False
        self.closed = threading.Event()

    def up_bytes(self):
        with self.lock:
            return bytes(self.up)

    def __repr__(self):
        return "<RelayConn %d up=%d down=%d gone=%s>" % (
            self.idx, len(self.up), len(self.down), self.agent_gone.is_set())


def split_request_heads(data):
    """Yield the request heads in a recorded client->server byte stream,
    stepping over each message's body by its framing (Content-Length or
    chunked). Stops at the first incomplete message."""
    pos = 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return
        head = data[pos:end + 4]
        yield head
        pos = end + 4
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            if b":" in line:
                k, v = line.split(b":", 1)
                fields[k.strip().lower()] = v.strip()
        if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    return
                size = int(data[pos:eol].split(b";")[0], 16)
                pos = eol + 2 + size + 2
                if size == 0:
                    break  # the tests send no trailers
        else:
            pos += int(fields.get(b"content-length", b"0") or 0)


class RecordingRelay:
    """A unix-socket relay between the agent and dockerd that records bytes.

    Point the agent's DOCKER_SOCKET at `relay.socket`. Every accepted
    connection opens a new connection to `upstream` (a socket path, re-opened
    by path each time, so a restarted daemon is reached) and copies bytes
    both ways, propagating half-close (EOF on one side becomes SHUT_WR on the
    other). Counts and keeps every connection (`conns`), so a test can show
    what Docker received, how many upstream connections the agent opened, and
    when the agent closed one. Threads are daemons; stop() closes everything.
    """

    def __init__(self, upstream):
        self.upstream = upstream
        self.dir = None
        self.sock = None
        self.conns = []
        self._lock = threading.Condition()
        self._socks = []
        self._stopping = False

    @property
    def socket(self):
        return os.path.join(self.dir, "relay.sock")

    @property
    def accepted(self):
        with self._lock:
            return len(self.conns)

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="lk-relay-", dir=_dockerd_base())
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.socket)
        self.sock.listen(512)
        _track(self)
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        return self

    def _accept_loop(self):
        while True:
            try:
                a, _ = self.sock.accept()
            except OSError:
                return  # listener shut down by stop()
            with self._lock:
                if self._stopping:
                    a.close()
                    return
                c = RelayConn(len(self.conns))
                self.conns.append(c)
                self._socks.append(a)
                self._lock.notify_all()
            threading.Thread(target=self._serve, args=(c, a), daemon=True).start()

    def _serve(self, c, a):
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            u.connect(self.upstream)
        except OSError:
            c.upstream_failed = True
            c.agent_gone.set()
            c.closed.set()
            a.close()
            u.close()
            return
        with self._lock:
            self._socks.append(u)
        done = []

        def pump(src, dst, rec, src_is_agent):
            while True:
                try:
                    data = src.recv(262144)
                except OSError:
                    data = b""
                if not data:
                    if src_is_agent:
                        c.agent_gone.set()
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    break
                with c.lock:
                    rec.extend(data)
                try:
                    dst.sendall(data)
                except OSError:
                    if not src_is_agent:
                        c.agent_gone.set()
                    # The receiver is gone: stop both directions.
                    for s in (src, dst):
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                    break
            with c.lock:
                done.append(src_is_agent)
                if len(done) == 2:
                    for s in (a, u):
                        try:
                            s.close()
                        except OSError:
                            pass
                    c.closed.set()

        t = threading.Thread(target=pump, args=(a, u, c.up, True), daemon=True)
        t.start()
        pump(u, a, c.down, False)

    def wait_conns(self, n, timeout=10.0):
        """Wait until at least n connections were accepted."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.conns) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("relay: %d connections after %.0fs, wanted %d" % (
                        len(self.conns), timeout, n))
                self._lock.wait(left)

    def all_up(self):
        """Everything the agent sent to Docker, connection by connection."""
        with self._lock:
            conns = list(self.conns)
        return b"".join(c.up_bytes() for c in conns)

    def conns_with(self, marker):
        """Connections whose agent->Docker bytes contain `marker`."""
        if isinstance(marker, str):
            marker = marker.encode()
        with self._lock:
            conns = list(self.conns)
        return [c for c in conns if marker in c.up_bytes()]

    def request_head(self, marker):
        """The request head (bytes up to CRLFCRLF) Docker received that
        contains `marker`, or None. Walks each recorded connection message
        by message, skipping Content-Length and chunked bodies, so pooled
        connections that carried earlier requests with bodies are fine."""
        if isinstance(marker, str):
            marker = marker.encode()
        for c in self.conns_with(marker):
            for head in split_request_heads(c.up_bytes()):
                if marker in head:
                    return head
        return None

    def stop(self):
        self._cleanup()

    def _cleanup(self):
        with self._lock:
            self._stopping = True
            socks = list(self._socks)
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        _untrack(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self._cleanup()


def parse_head(raw):
    """(first line, [(name, value)]) of an HTTP head given as bytes."""
    lines = raw.decode("latin-1").split("\r\n")
    fields = []
    for ln in lines[1:]:
        if not ln:
            continue
        k, _, v = ln.partition(":")
        fields.append((k.strip(), v.strip()))
    return lines[0], fields


class BodyReader:
    """Incremental reader of one response body on a RawConn (after
    read_head()): chunked, Content-Length or until close, for streams that
    must be consumed while they are still open.

    read_some(deadline) returns the next decoded bytes (b"" at the end of the
    body); read_until(marker, timeout) accumulates into self.data.
    """

    def __init__(self, conn, headers, head_request=False, status=200):
        self.c = conn
        self.data = b""
        self.eof = False
        self.need_crlf = False
        if head_request or status in (204, 304) or 100 <= status < 200:
            self.mode, self.left = "none", 0
            self.eof = True
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self.mode, self.left = "chunked", 0
        elif "content-length" in headers:
            self.mode, self.left = "length", int(headers["content-length"])
            self.eof = self.left == 0
        else:
            self.mode, self.left = "close", 0

    def read_some(self, deadline):
        if self.eof:
            return b""
        c = self.c
        if self.mode == "length":
            if not c.buf:
                c._fill(deadline)
            n = min(self.left, len(c.buf))
            out, c.buf = c.buf[:n], c.buf[n:]
            self.left -= n
            self.eof = self.left == 0
            return out
        if self.mode == "close":
            if not c.buf:
                try:
                    c._fill(deadline)
                except (EOFError, ConnectionResetError):
                    self.eof = True
                    return b""
            out, c.buf = c.buf, b""
            return out
        # chunked: left = data bytes left in the current chunk
        if self.left == 0:
            if self.need_crlf:
                if c._read_n(2, deadline) != b"\r\n":
                    raise AssertionError("chunk data not followed by CRLF")
                self.need_crlf = False
            line = c._read_until(b"\r\n", deadline)
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while c._read_until(b"\r\n", deadline) != b"\r\n":
                    pass  # trailer fields
                self.eof = True
                return b""
            self.left, self.need_crlf = size, True
        if not c.buf:
            c._fill(deadline)
        n = min(self.left, len(c.buf))
        out, c.buf = c.buf[:n], c.buf[n:]
        self.left -= n
        return out

    def read_until(self, marker, timeout=10.0):
        """Read until self.data contains marker; returns self.data."""
        if isinstance(marker, str):
            marker = marker.encode()
        deadline = time.monotonic() + timeout
        while marker not in self.data:
            if self.eof:
                raise AssertionError("body ended without %r; got %r" % (marker, self.data[-500:]))
            self.data += self.read_some(deadline)
        return self.data

    def read_all(self, timeout=30.0, sink=None):
        """Read to the end of the body; returns the byte count. Data goes to
        sink(bytes) if given (not kept), else into self.data."""
        deadline = time.monotonic() + timeout
        n = 0
        while not self.eof:
            d = self.read_some(deadline)
            n += len(d)
            if sink is not None:
                sink(d)
            else:
                self.data += d
        return n


def read_head(conn, timeout=None):
    """Read only a response head from a RawConn: (status, headers, raw)."""
    deadline = time.monotonic() + (timeout or conn.timeout)
    raw = conn._read_until(b"\r\n\r\n", deadline)
    line, fields = parse_head(raw)
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise AssertionError("bad status line %r" % line)
    return int(parts[1]), {k.lower(): v for k, v in fields}, raw


def demux_docker(data):
    """Split Docker's multiplexed stream (8-byte frame headers) into
    (stdout, stderr, leftover bytes of an incomplete frame)."""
    out, err = bytearray(), bytearray()
    i = 0
    while len(data) - i >= 8:
        kind, size = data[i], int.from_bytes(data[i + 4:i + 8], "big")
        if kind not in (0, 1, 2) or data[i + 1:i + 4] != b"\0\0\0":
            raise AssertionError("not a Docker multiplexed stream at %d: %r" % (i, data[i:i + 16]))
        if len(data) - i - 8 < size:
            break
        (err if kind == 2 else out).extend(data[i + 8:i + 8 + size])
        i += 8 + size
    return bytes(out), bytes(err), data[i:]


def vm_rss_kib(pid):
    """VmRSS of `pid` in KiB (0 if the process is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples a process's VmRSS in a thread; `with RssSampler(pid) as s:`
    then s.base, s.peak, s.last (KiB)."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.interval = interval
        self.base = vm_rss_kib(pid)
        self.peak = self.base
        self.last = self.base
        self.samples = 0
        self._stop = threading.Event()
        self._t = None

    def _run(self):
        while not self._stop.wait(self.interval):
            v = vm_rss_kib(self.pid)
            if v:
                self.last = v
                self.peak = max(self.peak, v)
                self.samples += 1

    def __enter__(self):
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join(5)
        v = vm_rss_kib(self.pid)
        if v:
            self.last = v
            self.peak = max(self.peak, v)

    @property
    def growth(self):
        return self.peak - self.base


def absolute_lookout_bin():
    """Make a relative $LOOKOUT_BIN absolute (the agent runs in its own cwd)."""
    b = os.environ.get("LOOKOUT_BIN")
    if b and not os.path.isabs(b):
        os.environ["LOOKOUT_BIN"] = os.path.abspath(b)


class UnixRawConn(RawConn):
    """RawConn over a unix socket (e.g. straight to dockerd, for comparing
    the agent's answers with Docker's own)."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except BaseException:
            self.sock.close()
            raise
        self.buf = b""
        self.timeout = timeout


class TLSRawConn(RawConn):
    """RawConn over TLS (verifying the agent's certificate against `ca`)."""

    def __init__(self, port, ca, host="127.0.0.1", server_hostname="localhost", timeout=10.0):
        import ssl
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = ssl.create_default_context(cafile=ca)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
        except BaseException:
            raw.close()
            raise
        self.buf = b""
        self.timeout = timeout


# --------------------------------------------------------------------------
# Ed25519 signed requests, made with the openssl CLI (independent of the
# agent's own code; spec lookout-core 6.4 and 16 "Signature version 2").

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class SigningKey:
    """An Ed25519 key pair: a PKCS#8 PEM (mode 0600) from
    `openssl genpkey -algorithm ed25519`, or an existing PEM at `path`."""

    def __init__(self, dir, name="key", path=None):
        import hashlib
        if path is None:
            path = os.path.join(dir, name + ".pem")
            run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", path])
        os.chmod(path, 0o600)
        self.path = path
        der = run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"]).stdout
        self.pub = der[-32:]
        self.key_id = hashlib.sha256(self.pub).hexdigest()[:16]

    def line(self, comment=""):
        import base64
        return "ed25519 %s%s\n" % (base64.b64encode(self.pub).decode(), (" " + comment) if comment else "")

    def sign(self, data):
        """Raw 64-byte Ed25519 signature of data (bytes)."""
        with tempfile.NamedTemporaryFile(prefix="lk-sig-") as f:
            f.write(data)
            f.flush()
            return run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", self.path,
                        "-in", f.name]).stdout


def canonical(method, target, body, ts, nonce, version=2):
    import hashlib
    import urllib.parse
    if version == 2:
        t = target
    else:
        t = urllib.parse.unquote(target.split("?", 1)[0])
    return "\n".join([method, t, hashlib.sha256(body).hexdigest(), str(ts), nonce]).encode()


def sign_headers(key, method, target, body=b"", ts=None, nonce=None, family="Lookout",
                 version=2, key_id=None):
    """The headers of one signed request."""
    import base64
    ts = int(time.time()) if ts is None else ts
    nonce = secrets.token_hex(16) if nonce is None else nonce
    sig = key.sign(canonical(method, target, body, ts, nonce, version))
    h = {
        "X-%s-Key-ID" % family: key_id or key.key_id,
        "X-%s-Timestamp" % family: str(ts),
        "X-%s-Nonce" % family: nonce,
        "X-%s-Signature" % family: base64.urlsafe_b64encode(sig).decode().rstrip("="),
    }
    if version == 2:
        h["X-%s-Signature-Version" % family] = "2"
    return h


def write_keys(path, *lines):
    """Writes an authorized_keys file atomically (mode 0600)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(lines))
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)
