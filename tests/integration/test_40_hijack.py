#!/usr/bin/env python3
"""Hijacked connections through the agent: exec start and attach.

`POST /exec/{id}/start` and `POST /containers/{id}/attach` with
`Upgrade: tcp` become a raw bidirectional relay after Docker's 101; without
the Upgrade headers Docker answers a legacy `200` raw stream, relayed the same
way. Half-close travels both ways: the client's FIN (or, over TLS, its
close_notify) reaches Docker as shutdown(SHUT_WR) while output keeps flowing,
and Docker's EOF ends the client's side cleanly.

The clients are hand-written so that each half-close is exactly what the test
says it is: a plain socket's shutdown(SHUT_WR); over TLS an ssl.MemoryBIO
client that sends close_notify *without* a TCP FIN, and one that sends a TCP
FIN *without* close_notify, which is what the docker CLI does over TLS
(docker/client/hijack.go: tlsClientCon.CloseWrite half-closes the raw TCP
connection). openssl s_client is not used: it does not half-close reliably on
stdin EOF. The docker CLI's own `run -i` / `exec -i` with piped stdin is run
against every variant as well.

Variants: plaintext with RELAY_MODE=auto (splice) and RELAY_MODE=copy, TLS;
plus the hijack limit, an unreachable Docker, and what Docker receives
(recording relay: no credential headers on the hijacked request).

Run: LOOKOUT_BIN=build/asan/lookout python3 tests/integration/test_40_hijack.py
"""

import json
import os
import secrets
import select
import shutil
import socket
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402

lk.absolute_lookout_bin()

DOCKERD = None
CERTS = None
_TMP = None
START_BODY = b'{"Detach":false,"Tty":false}'


def setUpModule():
    global DOCKERD, CERTS, _TMP
    _TMP = tempfile.mkdtemp(prefix="lk40-")
    CERTS = lk.make_certs(os.path.join(_TMP, "certs"))
    DOCKERD = lk.shared_dockerd()


def tearDownModule():
    lk.stop_shared_dockerd()
    shutil.rmtree(_TMP, ignore_errors=True)


# --------------------------------------------------------------------------
# clients

class PlainClient:
    """TCP (or an already connected unix socket); half_close() sends a FIN."""

    tls = False

    def __init__(self, port=None, sock=None, timeout=30.0):
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.clean_close = None   # True: FIN, False: reset

    def send(self, data):
        self.sock.settimeout(30)
        self.sock.sendall(data)

    def half_close(self, how="fin"):
        assert how == "fin", how
        self.sock.shutdown(socket.SHUT_WR)

    def readable(self):
        return bool(select.select([self.sock], [], [], 0)[0])

    def recv_some(self, deadline):
        """Next bytes; b"" at EOF; socket.timeout past the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(262144)
        except ConnectionResetError:
            self.clean_close = False
            return b""
        if not d:
            self.clean_close = True
        return d

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class TLSClient:
    """TLS over ssl.MemoryBIO, so each half-close is exactly one thing:

    half_close("close_notify"): the close_notify alert, no TCP FIN; reading
    continues (OpenSSL allows SSL_read after SSL_shutdown returned 0).
    half_close("fin"): a TCP FIN without close_notify (the docker CLI).
    clean_close after EOF: True if the agent sent close_notify.
    """

    tls = True

    def __init__(self, port, ca, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = ssl.create_default_context(cafile=ca)
        self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inb, self.outb, server_hostname="localhost")
        self.clean_close = None
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._feed(deadline)
        self._flush()

    def _flush(self):
        d = self.outb.read()
        if d:
            self.sock.sendall(d)

    def _feed(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(262144)
        except ConnectionResetError:
            d = b""
        if d:
            self.inb.write(d)
        else:
            self.inb.write_eof()

    def send(self, data):
        self.obj.write(data)
        self.sock.settimeout(30)
        self._flush()

    def half_close(self, how):
        if how == "close_notify":
            try:
                self.obj.unwrap()
            except ssl.SSLWantReadError:
                pass  # close_notify is queued; the peer's one comes later
            self._flush()
        elif how == "fin":
            self.sock.shutdown(socket.SHUT_WR)
        else:
            raise ValueError(how)

    def readable(self):
        return self.obj.pending() > 0 or bool(select.select([self.sock], [], [], 0)[0])

    def recv_some(self, deadline):
        while True:
            try:
                d = self.obj.read(262144)
                if d:
                    return d
                self.clean_close = True
                return b""
            except ssl.SSLWantReadError:
                self._feed(deadline)
            except ssl.SSLZeroReturnError:
                self.clean_close = True
                return b""
            except (ssl.SSLEOFError, ssl.SSLSyscallError):
                self.clean_close = False
                return b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Session:
    """A hijack request on a client: the response head, then raw bytes."""

    def __init__(self, client):
        self.c = client
        self.buf = b""
        self.eof = False
        self.status = None
        self.headers = {}
        self.raw_head = b""

    def send_request(self, target, token=None, body=b"", upgrade=True, extra=None):
        lines = ["POST %s HTTP/1.1" % target, "Host: localhost"]
        if token:
            lines.append("Authorization: Bearer " + token)
        if body:
            lines += ["Content-Type: application/json", "Content-Length: %d" % len(body)]
        if upgrade:
            lines += ["Connection: Upgrade", "Upgrade: tcp"]
        for k, v in (extra or {}).items():
            lines.append("%s: %s" % (k, v))
        self.c.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def read_head(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            d = self.c.recv_some(deadline)
            if not d:
                raise AssertionError("closed before a response head: %r" % self.buf)
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.raw_head = head + b"\r\n\r\n"
        line, fields = lk.parse_head(self.raw_head)
        self.status_line = line
        self.status = int(line.split(" ", 2)[1])
        self.headers = {k.lower(): v for k, v in fields}
        return self.status

    def body_json(self, timeout=10.0):
        """For a non-hijacked answer: its Content-Length body as JSON."""
        n = int(self.headers.get("content-length", "-1"))
        deadline = time.monotonic() + timeout
        if n < 0:
            self.read_to_eof(timeout)
        while len(self.buf) < n:
            d = self.c.recv_some(deadline)
            if not d:
                break
            self.buf += d
        return json.loads(self.buf[:n] if n >= 0 else self.buf)

    def output(self):
        out, err, _ = lk.demux_docker(self.buf)
        return out, err

    def read_until_output(self, marker, timeout=15.0):
        deadline = time.monotonic() + timeout
        while marker not in self.output()[0]:
            d = self.c.recv_some(deadline)
            if not d:
                self.eof = True
                raise AssertionError("stream ended without %r: %r" % (marker, self.buf[-500:]))
            self.buf += d
        return self.output()[0]

    def drain(self):
        """Take whatever is readable now, without waiting."""
        while not self.eof and self.c.readable():
            d = self.c.recv_some(time.monotonic() + 5)
            if not d:
                self.eof = True
                break
            self.buf += d

    def read_to_eof(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while not self.eof:
            try:
                d = self.c.recv_some(deadline)
            except socket.timeout:
                raise AssertionError("no EOF from the agent within %.0fs (our half-close did not reach "
                                     "Docker, or Docker's EOF was not passed on); got %r" % (
                                         timeout, self.buf[-300:]))
            if not d:
                self.eof = True
            self.buf += d
        return self.buf


# --------------------------------------------------------------------------

def create_exec(cid, cmd, tty=False):
    st, js = DOCKERD.api_json("POST", "/containers/%s/exec" % cid, {
        "AttachStdin": True, "AttachStdout": True, "AttachStderr": True, "Tty": tty, "Cmd": cmd})
    if st != 201:
        raise AssertionError("exec create: %s %r" % (st, js))
    return js["Id"]


def exec_state(eid):
    return DOCKERD.api_json("GET", "/exec/%s/json" % eid)[1]


class HijackBase(lk.TestCase):
    relay_mode = "auto"
    tls = False
    agent_env = {}

    @classmethod
    def setUpClass(cls):
        env = dict(cls.agent_env)
        env["RELAY_MODE"] = cls.relay_mode
        cls.agent = lk.Agent(env=env, dockerd=DOCKERD, certs=CERTS if cls.tls else None).start()
        cls.addClassCleanup(cls.agent._cleanup)
        cls.sleeper = "lk40-sleeper-" + secrets.token_hex(4)
        st, js = DOCKERD.api_json("POST", "/containers/create?name=" + cls.sleeper,
                                  {"Image": "busybox:latest", "Cmd": ["sleep", "3600"]})
        if st != 201:
            raise AssertionError("create sleeper: %s %r" % (st, js))
        cls.addClassCleanup(DOCKERD.remove_container, cls.sleeper)
        if DOCKERD.api_json("POST", "/containers/%s/start" % cls.sleeper)[0] != 204:
            raise AssertionError("start sleeper")
        cls.cfg = tempfile.mkdtemp(prefix="lk40-cli-")
        cls.addClassCleanup(shutil.rmtree, cls.cfg, True)
        with open(os.path.join(cls.cfg, "config.json"), "w") as f:
            json.dump({"HttpHeaders": {"X-Lookout-Token": cls.agent.token}}, f)

    def setUp(self):
        if not self.agent.alive():
            self.fail("shared agent died\n" + self.agent.dump())

        def dump_on_failure():
            if self._failed():
                lk.log("%s failed\n%s" % (self.id(), self.agent.dump(30)))
        self.addCleanup(dump_on_failure)

    def client(self):
        c = TLSClient(self.agent.port, CERTS.ca) if self.tls else PlainClient(self.agent.port)
        self.addCleanup(c.close)
        return c

    def session(self):
        return Session(self.client())

    def container(self, cmd, **cfg):
        body = {"Image": "busybox:latest", "Cmd": cmd}
        body.update(cfg)
        st, js = DOCKERD.api_json("POST", "/containers/create?name=lk40-" + secrets.token_hex(4), body)
        self.assertEqual(st, 201, js)
        self.addCleanup(DOCKERD.remove_container, js["Id"])
        self.assertEqual(DOCKERD.api_json("POST", "/containers/%s/start" % js["Id"])[0], 204)
        return js["Id"]

    def docker(self, *args, input=None, timeout=40):
        tls = None
        if self.tls:
            tls = CERTS
        return lk.docker_cli("tcp://127.0.0.1:%d" % self.agent.port, *args, config_dir=self.cfg,
                             tls=tls, input=input, timeout=timeout)


class HijackTests:
    """Mixed into HijackBase once per transport / relay implementation."""

    half_closes = ("fin",)

    def start_exec(self, cmd, upgrade=True):
        eid = create_exec(self.sleeper, cmd)
        s = self.session()
        s.send_request("/v1.41/exec/%s/start" % eid, self.agent.token, START_BODY, upgrade=upgrade)
        return eid, s

    def assert_raw_stream_head(self, s, status):
        self.assertEqual(s.status, status, s.raw_head)
        self.assertEqual(s.headers.get("content-type"), "application/vnd.docker.raw-stream", s.raw_head)
        if status == 101:
            self.assertEqual(s.headers.get("upgrade", "").lower(), "tcp", s.raw_head)

    def finish(self, s, how, expect_out):
        s.c.half_close(how)
        s.read_to_eof()
        out, err = s.output()
        self.assertEqual(out, expect_out)
        self.assertEqual(err, b"")
        if self.tls:
            self.assertTrue(s.c.clean_close, "the agent ended the TLS stream without close_notify")
        else:
            self.assertTrue(s.c.clean_close, "the agent reset the connection instead of closing it")

    def test_exec_start_half_close(self):
        for how in self.half_closes:
            with self.subTest(half_close=how):
                eid, s = self.start_exec(["sh", "-c", "cat; echo after-eof"])
                s.read_head()
                self.assert_raw_stream_head(s, 101)
                s.c.send(b"hello\n")
                # stdin reached cat while the connection is fully open...
                s.read_until_output(b"hello\n")
                # ...and after our half-close cat sees EOF; output still comes.
                self.finish(s, how, b"hello\nafter-eof\n")
                st = exec_state(eid)
                self.assertEqual((st["Running"], st["ExitCode"]), (False, 0))

    def test_exec_stdin_closed_before_output(self):
        # Nothing is read back before the half-close: everything after it
        # must still arrive.
        for how in self.half_closes:
            with self.subTest(half_close=how):
                eid, s = self.start_exec(["sh", "-c", "cat; sleep 1; echo after-eof; echo err-line >&2"])
                s.read_head()
                self.assertEqual(s.status, 101)
                s.c.send(b"one\ntwo\n")
                s.c.half_close(how)
                s.read_to_eof()
                out, err = s.output()
                self.assertEqual(out, b"one\ntwo\nafter-eof\n")
                self.assertEqual(err, b"err-line\n")

    def test_exec_bulk_both_ways(self):
        data = b"".join(b"%08d %s\n" % (i, secrets.token_hex(24).encode()) for i in range(40000))
        eid, s = self.start_exec(["sh", "-c", "cat; echo bulk-done"])
        s.read_head()
        self.assertEqual(s.status, 101)
        step = 32768
        for i in range(0, len(data), step):
            s.c.send(data[i:i + step])
            s.drain()
        self.finish(s, self.half_closes[-1], data + b"bulk-done\n")
        lk.log("%s: %d bytes each way through one hijacked exec" % (self.__class__.__name__, len(data)))

    def test_exec_start_legacy_200(self):
        eid, s = self.start_exec(["sh", "-c", "cat; echo after-eof"], upgrade=False)
        s.read_head()
        # What Docker answers without Upgrade headers, straight over its socket:
        eid2 = create_exec(self.sleeper, ["true"])
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(DOCKERD.socket)
        d = Session(PlainClient(sock=sock))
        self.addCleanup(d.c.close)
        d.send_request("/v1.41/exec/%s/start" % eid2, None, START_BODY, upgrade=False)
        d.read_head()
        self.assertEqual(d.status, 200)
        self.assertEqual(s.status_line, d.status_line)
        self.assert_raw_stream_head(s, 200)
        s.c.send(b"legacy\n")
        s.read_until_output(b"legacy\n")
        self.finish(s, self.half_closes[0], b"legacy\nafter-eof\n")

    def attach_container(self):
        return self.container(["sh", "-c", "read x; echo got:$x; cat; echo after-eof"],
                              OpenStdin=True, StdinOnce=True, AttachStdin=True,
                              AttachStdout=True, AttachStderr=True)

    def test_attach_upgrade(self):
        cid = self.attach_container()
        s = self.session()
        s.send_request("/v1.41/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1" % cid,
                       self.agent.token)
        s.read_head()
        self.assert_raw_stream_head(s, 101)
        s.c.send(b"abc\n")
        s.read_until_output(b"got:abc\n")
        s.c.send(b"more\n")
        s.read_until_output(b"got:abc\nmore\n")
        self.finish(s, self.half_closes[-1], b"got:abc\nmore\nafter-eof\n")
        def stopped():
            return not DOCKERD.api_json("GET", "/containers/%s/json" % cid)[1]["State"]["Running"]
        lk.wait_until(stopped, 15, "the attached container to exit after stdin closed")

    def test_attach_legacy_200(self):
        cid = self.attach_container()
        s = self.session()
        s.send_request("/v1.41/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1" % cid,
                       self.agent.token, upgrade=False)
        s.read_head()
        cid2 = self.attach_container()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(DOCKERD.socket)
        d = Session(PlainClient(sock=sock))
        self.addCleanup(d.c.close)
        d.send_request("/v1.41/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1" % cid2,
                       None, upgrade=False)
        d.read_head()
        self.assertEqual(s.status_line, d.status_line)
        self.assert_raw_stream_head(s, 200)
        s.c.send(b"abc\n")
        s.read_until_output(b"got:abc\n")
        self.finish(s, self.half_closes[0], b"got:abc\nafter-eof\n")

    def test_cli_run_stdin_half_close(self):
        cp = self.docker("run", "-i", "--rm", "busybox", "sh", "-c", "cat; sleep 1; echo after-eof",
                         input=b"hi\n")
        self.assertEqual(cp.stdout, b"hi\nafter-eof\n")

    def test_cli_exec_stdin_half_close(self):
        data = secrets.token_hex(50000).encode() + b"\n"
        cp = self.docker("exec", "-i", self.sleeper, "sh", "-c", "cat; echo exec-eof", input=data)
        self.assertEqual(cp.stdout, data + b"exec-eof\n")


class HijackPlainSplice(HijackTests, HijackBase):
    relay_mode = "auto"


class HijackPlainCopy(HijackTests, HijackBase):
    relay_mode = "copy"


class HijackTLS(HijackTests, HijackBase):
    tls = True
    half_closes = ("close_notify", "fin")


class HijackTLSZeroCopy(HijackTests, HijackBase):
    """ZERO_COPY=on: the TLS hijack's bytes to the client leave with
    SEND_ZC even to this loopback client (auto skips loopback)."""
    tls = True
    half_closes = ("close_notify", "fin")
    agent_env = {"ZERO_COPY": "on"}

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        recs = cls.agent.find_logs(lambda r: "zc_sends" in r)
        if not recs or recs[-1]["zc_sends"] == 0:
            raise AssertionError("ZERO_COPY=on sent nothing zero-copy: %r" % recs[-1:])
        super().tearDownClass()


class HijackLimit(HijackBase):
    agent_env = {"MAX_HIJACKS": "1"}

    def test_second_hijack_refused(self):
        eid1 = create_exec(self.sleeper, ["sh", "-c", "cat; echo first-done"])
        first = self.session()
        first.send_request("/v1.41/exec/%s/start" % eid1, self.agent.token, START_BODY)
        first.read_head()
        self.assertEqual(first.status, 101)
        first.c.send(b"x\n")
        first.read_until_output(b"x\n")

        eid2 = create_exec(self.sleeper, ["sh", "-c", "cat; echo second-done"])
        second = self.session()
        second.send_request("/v1.41/exec/%s/start" % eid2, self.agent.token, START_BODY)
        second.read_head()
        self.assertEqual(second.status, 429, second.raw_head)
        self.assertEqual(second.body_json(), {"message": "too many concurrent hijacked sessions"})
        self.assertFalse(exec_state(eid2)["Running"])
        # ordinary requests are not hijacks
        st, _, body = self.agent.request("GET", "/_ping", headers=self.agent.auth_headers())
        self.assertEqual((st, body), (200, b"OK"))

        first.c.half_close("fin")
        first.read_to_eof()
        self.assertEqual(first.output()[0], b"x\nfirst-done\n")

        def retry():
            s = self.session()
            s.send_request("/v1.41/exec/%s/start" % eid2, self.agent.token, START_BODY)
            s.read_head()
            if s.status == 101:
                return s
            s.c.close()
            return None
        s = lk.wait_until(retry, 5, "a hijack slot after the first session ended")
        s.c.half_close("fin")
        s.read_to_eof()
        self.assertEqual(s.output()[0], b"second-done\n")


class HijackDockerUnreachable(lk.TestCase):
    def test_hijack_502(self):
        a = self.start_agent({"DOCKER_SOCKET": os.path.join(self.tmpdir(), "missing.sock")})
        s = Session(PlainClient(a.port))
        self.addCleanup(s.c.close)
        s.send_request("/v1.41/exec/%s/start" % ("0" * 64), a.token, START_BODY)
        s.read_head()
        self.assertEqual(s.status, 502, s.raw_head)
        self.assertTrue(s.body_json()["message"].startswith("docker unreachable: "))


class HijackWhatDockerSees(HijackBase):
    """The hijacked request reaches Docker without the agent's credentials."""

    @classmethod
    def setUpClass(cls):
        cls.relay = lk.RecordingRelay(DOCKERD.socket).start()
        cls.addClassCleanup(cls.relay._cleanup)
        cls.agent_env = {"DOCKER_SOCKET": cls.relay.socket}
        super().setUpClass()

    def test_no_credentials_on_hijacked_request(self):
        tok = self.agent.token
        for name, value in (("Authorization", "Bearer " + tok), ("X-Lookout-Token", tok),
                            ("X-Portwing-Token", tok), ("X-Dd-Agent-Secret", tok)):
            with self.subTest(header=name):
                eid = create_exec(self.sleeper, ["sh", "-c", "cat; echo after-eof"])
                s = self.session()
                s.send_request("/v1.41/exec/%s/start" % eid, None, START_BODY, extra={name: value})
                s.read_head()
                self.assertEqual(s.status, 101)
                s.c.send(b"stdin-" + eid.encode()[:8] + b"\n")
                s.read_until_output(b"stdin-")
                s.c.half_close("fin")
                s.read_to_eof()
                conns = self.relay.conns_with(eid)
                self.assertEqual(len(conns), 1)
                data = conns[0].up_bytes()
                head = data[:data.index(b"\r\n\r\n") + 4]
                names = [k.lower() for k, _ in lk.parse_head(head)[1]]
                for n in names:
                    self.assertFalse(n in ("authorization", "x-dd-agent-secret") or
                                     n.startswith(("x-lookout-", "x-portwing-")),
                                     "Docker received %r on a hijacked request" % n)
                fields = [(k.lower(), v.lower()) for k, v in lk.parse_head(head)[1]]
                self.assertIn(("upgrade", "tcp"), fields)
                self.assertNotIn(tok.encode(), data)
                self.assertIn(b"stdin-", data[len(head):])
                # Docker saw our EOF: the relay got it from the agent.
                self.assertTrue(conns[0].agent_gone.wait(5))


if __name__ == "__main__":
    lk.main()
