#!/usr/bin/env python3
"""Standard mode's transparent Docker API proxy, driven by hand.

What Docker receives is shown by a recording relay (lkharness.RecordingRelay)
between the agent and a private dockerd: credential and hop-by-hop headers
never arrive, the request-target arrives verbatim, malformed requests arrive
not at all. Around it: response pass-through compared with Docker's own
answers, bodiless responses, chunked and Content-Length request bodies, the
upstream pool (few connections, healing after a daemon restart, 502 when
Docker is gone), streaming routes without a total timeout and finite routes
with one, the stream limit, 1 GiB bodies with the agent's RSS sampled, header
timeouts and many idle connections.

Run: LOOKOUT_BIN=build/asan/lookout python3 tests/integration/test_31_proxy.py
"""

import hashlib
import io
import json
import os
import resource
import secrets
import shutil
import socket
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402

lk.absolute_lookout_bin()

DOCKERD = None
IDLE_CONNS = int(os.environ.get("LK_IDLE_CONNS", "2000"))
RSS_GROWTH_MAX_KIB = 64 * 1024          # big bodies: the agent's RSS stays flat
PER_CONN_RSS_MAX = 64 * 1024            # bytes per idle connection (ASan build included)
# A 23-byte line (prime length): lost, repeated or reordered blocks of any
# power-of-two size break the pattern at the offset where they happen.
PATTERN = b"lookout-relay-01234567\n"
BLOCK_LINES = 45591                      # 23 * 45591 = 1048593 bytes, just over 1 MiB
BLOCK = PATTERN * BLOCK_LINES
_big = {}


def setUpModule():
    global DOCKERD
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, IDLE_CONNS + 1024))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    DOCKERD = lk.shared_dockerd()


def tearDownModule():
    lk.stop_shared_dockerd()


# --------------------------------------------------------------------------
# helpers

def unique(prefix="lk31"):
    return "%s-%s" % (prefix, secrets.token_hex(4))


def dapi(method, path, body=None, timeout=60.0):
    """Straight to dockerd (not through the agent): (status, JSON or None)."""
    return DOCKERD.api_json(method, path, body=body, timeout=timeout)


def direct(method, target, headers=None, body=b""):
    """One request straight to dockerd over its socket, read by hand."""
    with lk.UnixRawConn(DOCKERD.socket, timeout=30) as c:
        return c.request(method, target, headers, body)


def dexec(cid, cmd):
    """Run cmd in a container, detached, straight through dockerd."""
    st, js = dapi("POST", "/containers/%s/exec" % cid, {"Cmd": cmd})
    if st != 201:
        raise AssertionError("exec create: %s %r" % (st, js))
    st, js = dapi("POST", "/exec/%s/start" % js["Id"], {"Detach": True})
    if st != 200:
        raise AssertionError("exec start: %s %r" % (st, js))


def json_body(r):
    try:
        return json.loads(r.body)
    except ValueError:
        raise AssertionError("body is not JSON: %r" % r.body[:300])


def tar_bytes(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, int(time.time())
            tar.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def big_container():
    """A running container holding /big1024 and /big256: BLOCK repeated
    1024 and 256 times (made once per module, straight through dockerd)."""
    if "cid" not in _big:
        name = unique("lk31-big")
        st, js = dapi("POST", "/containers/create?name=" + name,
                      {"Image": "busybox:latest", "Cmd": ["sleep", "3600"]})
        if st != 201:
            raise AssertionError("create: %s %r" % (st, js))
        cid = js["Id"]
        _big["cid"] = cid
        st, _ = dapi("POST", "/containers/%s/start" % cid)
        if st != 204:
            raise AssertionError("start big container: %s" % st)
        script = ("yes lookout-relay-01234567 | head -c %d > /blk && "
                  "i=0; while [ $i -lt 256 ]; do cat /blk; i=$((i+1)); done > /big256 && "
                  "cat /big256 /big256 /big256 /big256 > /big1024 && rm /blk && "
                  "wc -c /big256 /big1024") % len(BLOCK)
        cp = DOCKERD.docker("exec", cid, "sh", "-c", script, timeout=300)
        out = cp.stdout.decode()
        if str(256 * len(BLOCK)) not in out or str(1024 * len(BLOCK)) not in out:
            raise AssertionError("making the big files: %r" % out)
    return _big["cid"]


class StreamCheck:
    """Checks a tar stream of one pattern file as it arrives: header, the
    file's bytes against PATTERN at their offsets, zero padding after it."""

    def __init__(self, size):
        self.size = size
        self.head = bytearray()
        self.off = 0
        self.bad = None
        self.ref = PATTERN * ((1 << 20) // len(PATTERN) + 2)

    def feed(self, d):
        o = self.off
        self.off += len(d)
        if self.bad is not None:
            return
        mv = memoryview(d)
        i = 0
        end = 512 + self.size
        while i < len(d):
            pos = o + i
            if pos < 512:
                n = min(len(d) - i, 512 - pos)
                self.head.extend(mv[i:i + n])
            elif pos < end:
                n = min(len(d) - i, end - pos, 1 << 20)
                k = (pos - 512) % len(PATTERN)
                if mv[i:i + n] != self.ref[k:k + n]:
                    self.bad = pos
                    return
            else:
                n = len(d) - i
                if bytes(mv[i:]).count(0) != n:
                    self.bad = pos
                    return
            i += n


class Base(lk.TestCase):
    """One agent per class (env from agent_env), optionally behind a relay."""

    agent_env = {}
    use_relay = False
    certs = None

    @classmethod
    def setUpClass(cls):
        env = dict(cls.agent_env)
        cls.relay = None
        if cls.use_relay:
            cls.relay = lk.RecordingRelay(DOCKERD.socket).start()
            cls.addClassCleanup(cls.relay._cleanup)
            env["DOCKER_SOCKET"] = cls.relay.socket
        cls.agent = lk.Agent(env=env, dockerd=DOCKERD, certs=cls.certs).start()
        cls.addClassCleanup(cls.agent._cleanup)

    def setUp(self):
        if not self.agent.alive():
            self.fail("shared agent died\n" + self.agent.dump())

        def dump_on_failure():
            if self._failed():
                lk.log("%s failed\n%s" % (self.id(), self.agent.dump(30)))
        self.addCleanup(dump_on_failure)

    # agent access
    def auth(self, extra=None):
        h = dict(self.agent.auth_headers())
        h.update(extra or {})
        return h

    def conn(self, timeout=30.0):
        if self.agent.tls:
            c = lk.TLSRawConn(self.agent.port, self.certs.ca, timeout=timeout)
        else:
            c = self.agent.raw(timeout=timeout)
        self.addCleanup(c.close)
        return c

    def req(self, method, target, headers=None, body=b"", auth=True, timeout=30.0):
        h = self.auth(headers) if auth else dict(headers or {})
        c = self.conn(timeout)
        try:
            return c.request(method, target, h, body, timeout=timeout)
        finally:
            c.close()

    def open_stream(self, target, method="GET", headers=None, body=b"", timeout=10.0):
        """Send a request, read only the head: (conn, status, headers, BodyReader)."""
        c = self.conn(timeout)
        c.send_request(method, target, self.auth(headers), body)
        st, hd, _ = lk.read_head(c, timeout)
        return c, st, hd, lk.BodyReader(c, hd, head_request=(method == "HEAD"), status=st)

    # containers, straight through dockerd
    def container(self, cmd, start=True, name=None, **cfg):
        body = {"Image": "busybox:latest", "Cmd": cmd}
        body.update(cfg)
        st, js = dapi("POST", "/containers/create?name=" + (name or unique()), body)
        self.assertEqual(st, 201, js)
        cid = js["Id"]
        self.addCleanup(DOCKERD.remove_container, cid)
        if start:
            st, js = dapi("POST", "/containers/%s/start" % cid)
            self.assertEqual(st, 204, js)
        return cid

    def assert_docker_never_saw(self, marker):
        if isinstance(marker, str):
            marker = marker.encode()
        got = self.relay.conns_with(marker)
        self.assertEqual(got, [], "Docker received bytes containing %r" % marker)


def header_names(head):
    return [k.lower() for k, _ in lk.parse_head(head)[1]]


CREDENTIAL_PREFIXES = ("x-lookout-", "x-portwing-")
CREDENTIAL_NAMES = ("authorization", "x-dd-agent-secret")
HOP_BY_HOP = ("keep-alive", "te", "trailer", "upgrade", "transfer-encoding")


# --------------------------------------------------------------------------
# what Docker receives

class Forwarding(Base):
    use_relay = True
    agent_env = {"WORKERS": "2"}

    def head_for(self, mark):
        head = self.relay.request_head(mark)
        self.assertIsNotNone(head, "the request never reached Docker (relay saw %r)" % self.relay.conns)
        return head

    def assert_no_agent_headers(self, head, what):
        for name in header_names(head):
            self.assertFalse(name.startswith(CREDENTIAL_PREFIXES) or name in CREDENTIAL_NAMES,
                             "%s: Docker received %r\n%s" % (what, name, head.decode("latin-1")))

    def test_credential_and_hop_by_hop_headers_not_forwarded(self):
        mark = "mark-" + secrets.token_hex(8)
        target = "/v1.41/containers/json?all=1&filters=%7B%7D"
        headers = {
            "Authorization": "Bearer " + self.agent.token,
            "Proxy-Authorization": "Basic cHJveHk6cHJveHktc2VjcmV0",
            "Proxy-Connection": "keep-alive",
            "Keep-Alive": "timeout=5, max=100",
            "Connection": "close, X-Hop",
            "X-Hop": "hop-value-must-not-arrive",
            "TE": "trailers",
            "Trailer": "X-Trailer-Field",
            "Upgrade": "tcp",
            "X-Lookout-Request": "lookout-private",
            "X-Portwing-Agent": "portwing-private",
            "X-Custom-Harmless": "keep-me-" + mark,
            "User-Agent": "lk-test/1.0",
        }
        r = self.req("GET", target, headers, auth=False)
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(json_body(r), list)
        head = self.head_for(mark)
        line, fields = lk.parse_head(head)
        self.assertEqual(line, "GET %s HTTP/1.1" % target, "request-target must arrive verbatim")
        names = [k.lower() for k, _ in fields]
        for bad in ("proxy-authorization", "proxy-connection", "x-hop") + HOP_BY_HOP:
            self.assertNotIn(bad, names, head.decode("latin-1"))
        self.assert_no_agent_headers(head, "Bearer + hop-by-hop")
        conn_tokens = {t.strip().lower() for k, v in fields if k.lower() == "connection"
                       for t in v.split(",")}
        self.assertLessEqual(conn_tokens, {"keep-alive"},
                             "the client's Connection header leaked: %r" % conn_tokens)
        self.assertIn(("x-custom-harmless", "keep-me-" + mark),
                      [(k.lower(), v) for k, v in fields])
        self.assertIn(("user-agent", "lk-test/1.0"), [(k.lower(), v) for k, v in fields])
        everything = self.relay.all_up()
        for secret in (self.agent.token.encode(), b"cHJveHk6cHJveHktc2VjcmV0",
                       b"hop-value-must-not-arrive", b"lookout-private", b"portwing-private"):
            self.assertNotIn(secret, everything)

    def test_each_token_header_is_stripped(self):
        tok = self.agent.token
        for name, value in (("Authorization", "Bearer " + tok), ("Authorization", "bearer " + tok),
                            ("X-Lookout-Token", tok), ("X-Portwing-Token", tok),
                            ("X-Dd-Agent-Secret", tok)):
            with self.subTest(header=name, scheme=value.split()[0] if " " in value else "-"):
                mark = "mark-" + secrets.token_hex(8)
                r = self.req("GET", "/v1.41/info", {name: value, "X-Lk-Mark": mark}, auth=False)
                self.assertEqual(r.status, 200, r)
                head = self.head_for(mark)
                self.assert_no_agent_headers(head, name)
                self.assertNotIn(tok.encode(), head)
        self.assertNotIn(tok.encode(), self.relay.all_up())

    def test_signature_headers_never_forwarded(self):
        # With only a token configured the signature headers are not a
        # credential; whether the agent answers 200 or refuses them, Docker
        # must not see any of them.
        mark = "mark-" + secrets.token_hex(8)
        sig = "A" * 86
        nonce = secrets.token_hex(16)
        headers = {"X-Lk-Mark": mark}
        for fam in ("X-Lookout-", "X-Portwing-"):
            headers.update({fam + "Key-ID": "0123456789abcdef", fam + "Timestamp": str(int(time.time())),
                            fam + "Nonce": nonce, fam + "Signature": sig,
                            fam + "Signature-Version": "2"})
        r = self.req("GET", "/v1.41/version", headers)
        self.assertIn(r.status, (200, 401), r)
        if r.status == 200:
            self.assert_no_agent_headers(self.head_for(mark), "signature headers")
        else:
            self.assert_docker_never_saw(mark)
        everything = self.relay.all_up()
        self.assertNotIn(sig.encode(), everything)
        self.assertNotIn(nonce.encode(), everything)

    def test_unauthenticated_requests_never_reach_docker(self):
        for label, headers in (("no credential", {}),
                               ("wrong bearer", {"Authorization": "Bearer nope-123"}),
                               ("wrong X-Lookout-Token", {"X-Lookout-Token": "nope"}),
                               ("wrong X-Portwing-Token", {"X-Portwing-Token": "nope"}),
                               ("wrong X-Dd-Agent-Secret", {"X-Dd-Agent-Secret": "nope"})):
            with self.subTest(label):
                mark = "mark-" + secrets.token_hex(8)
                headers = dict(headers, **{"X-Lk-Mark": mark})
                r = self.req("GET", "/v1.41/containers/json?m=" + mark, headers, auth=False)
                self.assertEqual(r.status, 401, r)
                self.assertEqual(json_body(r), {"message": "unauthorized"})
                self.assert_docker_never_saw(mark)

    def test_request_target_verbatim(self):
        targets = (
            "/v1.41/containers/json?all=1&filters=%7B%7D",
            "/containers/json?all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D&limit=3",
            "/v1.41/images/json?filters=%7B%22reference%22%3A%5B%22busybox%3Alatest%22%5D%7D",
            "/v1.41/containers/no%2Dsuch%20thing/json",
            "/v1.41/version?a=1&a=2&b=%2F%3F%26&c=",
            "/v1.41/info?",
            "/_ping",
        )
        for t in targets:
            with self.subTest(target=t):
                mark = "mark-" + secrets.token_hex(8)
                r = self.req("GET", t, {"X-Lk-Mark": mark})
                want = direct("GET", t)
                self.assertEqual(r.status, want.status, r)
                line = lk.parse_head(self.head_for(mark))[0]
                self.assertEqual(line, "GET %s HTTP/1.1" % t)

    def test_content_length_body_forwarded(self):
        name = unique()
        body = json.dumps({"Image": "busybox:latest", "Cmd": ["echo", "cl-body-" + name],
                           "Labels": {"lk31": name}}).encode()
        r = self.req("POST", "/v1.41/containers/create?name=" + name,
                     {"Content-Type": "application/json"}, body)
        self.assertEqual(r.status, 201, r)
        cid = json_body(r)["Id"]
        self.addCleanup(DOCKERD.remove_container, cid)
        st, js = dapi("GET", "/containers/%s/json" % cid)
        self.assertEqual(st, 200)
        self.assertEqual(js["Config"]["Cmd"], ["echo", "cl-body-" + name])
        self.assertEqual(js["Config"]["Labels"].get("lk31"), name)

    def test_chunked_request_body_build(self):
        tag = "lk31-chunked:" + secrets.token_hex(4)
        self.addCleanup(DOCKERD.remove_image, tag)
        payload = ("chunked-payload-%s\n" % secrets.token_hex(8)).encode()
        ctx = tar_bytes({"Dockerfile": b"FROM scratch\nCOPY data.txt /data.txt\nLABEL lk31=chunked\n",
                         "data.txt": payload + os.urandom(30000).hex().encode()})
        c = self.conn(60)
        head = ("POST /v1.41/build?t=%s&rm=1 HTTP/1.1\r\nHost: localhost\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/x-tar\r\n"
                "Transfer-Encoding: chunked\r\n\r\n" % (tag, self.agent.token)).encode()
        c.send(head)
        step = 7777
        for i in range(0, len(ctx), step):
            piece = ctx[i:i + step]
            c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        c.send(b"0\r\n\r\n")
        st, hd, _ = lk.read_head(c, 60)
        self.assertEqual(st, 200, hd)
        br = lk.BodyReader(c, hd, status=st)
        br.read_all(timeout=60)
        self.assertIn(b"Successfully built", br.data, br.data[-2000:])
        self.assertIn(("Successfully tagged %s" % tag).encode(), br.data)
        st, js = dapi("GET", "/images/%s/json" % tag)
        self.assertEqual(st, 200)
        self.assertEqual(js["Config"]["Labels"].get("lk31"), "chunked")
        # The connection still works after a chunked upload, unless the
        # agent said it would close it (then it must really be closed).
        if "close" in hd.get("connection", "").lower():
            lk.log("the agent closes the connection after a chunked upload (Connection: close)")
            self.assertEqual(c.wait_closed(10), b"")
            c = self.conn()
        r = c.request("GET", "/_ping", self.auth())
        self.assertEqual((r.status, r.body), (200, b"OK"))

    def test_upstream_connections_reused(self):
        before = self.relay.accepted
        with self.agent.raw() as c:
            for _ in range(50):
                r = c.request("GET", "/_ping", self.auth())
                self.assertEqual((r.status, r.body), (200, b"OK"))
        for _ in range(20):
            r = self.req("GET", "/v1.41/version")
            self.assertEqual(r.status, 200)
        used = self.relay.accepted - before
        lk.log("70 sequential requests (50 on one keep-alive connection, 20 on fresh ones) "
               "opened %d upstream connections (WORKERS=2)" % used)
        self.assertLessEqual(used, 2 + 2)


class PassThrough(Base):
    """Responses come back as Docker sent them (Date aside)."""

    IGNORE = {"date", "connection", "keep-alive"}

    def assert_same(self, method, target, body=b"", headers=None):
        r = self.req(method, target, headers, body)
        want = direct(method, target, headers, body)
        self.assertEqual((r.status, r.reason), (want.status, want.reason), r)
        strip = lambda h: {k: v for k, v in h.items() if k not in self.IGNORE}  # noqa: E731
        self.assertEqual(strip(r.headers), strip(want.headers))
        self.assertEqual(r.body, want.body)
        return r

    def test_version(self):
        r = self.assert_same("GET", "/v1.41/version")
        self.assertEqual(json_body(r)["Version"], DOCKERD.api_json("GET", "/version")[1]["Version"])

    def test_image_inspect(self):
        self.assert_same("GET", "/v1.41/images/busybox:latest/json")

    def test_docker_404(self):
        r = self.assert_same("GET", "/v1.41/containers/no-such-%s/json" % secrets.token_hex(4))
        self.assertEqual(r.status, 404)
        self.assertIn("No such container", json_body(r)["message"])

    def test_docker_400_with_body(self):
        r = self.assert_same("POST", "/v1.41/containers/create", b"{not json",
                             {"Content-Type": "application/json"})
        self.assertGreaterEqual(r.status, 400)

    def test_head_has_no_body(self):
        with self.agent.raw() as c:
            for target, status in (("/_ping", 200), ("/v1.41/version", 404)):
                with self.subTest(target=target):
                    r = c.request("HEAD", target, self.auth())
                    want = direct("HEAD", target)
                    self.assertEqual(r.status, status)
                    self.assertEqual(r.status, want.status)
                    self.assertEqual(r.body, b"")
                    self.assertEqual(r.headers.get("content-length"), want.headers.get("content-length"))
            # Nothing stray followed the HEAD answers on this connection.
            r = c.request("GET", "/_ping", self.auth())
            self.assertEqual((r.status, r.body), (200, b"OK"))

    def test_204_and_304_have_no_body(self):
        cid = self.container(["sleep", "600"], start=False)
        with self.agent.raw() as c:
            r = c.request("POST", "/v1.41/containers/%s/start" % cid, self.auth())
            self.assertEqual((r.status, r.body), (204, b""))
            r = c.request("POST", "/v1.41/containers/%s/start" % cid, self.auth())
            self.assertEqual((r.status, r.body), (304, b""))
            r = c.request("GET", "/_ping", self.auth())
            self.assertEqual((r.status, r.body), (200, b"OK"))
        st, js = dapi("GET", "/containers/%s/json" % cid)
        self.assertTrue(js["State"]["Running"])


# --------------------------------------------------------------------------
# the upstream pool and an unreachable Docker

class DockerUnreachable(lk.TestCase):
    def assert_502(self, agent, what):
        with agent.raw(timeout=15) as c:
            t0 = time.monotonic()
            r = c.request("GET", "/v1.41/version", agent.auth_headers(), timeout=15)
            took = time.monotonic() - t0
        self.assertEqual(r.status, 502, "%s: %r" % (what, r))
        self.assertIn("application/json", r.headers.get("content-type", ""))
        msg = json_body(r).get("message", "")
        self.assertTrue(msg.startswith("docker unreachable: "), msg)
        lk.log("%s: 502 after %.3fs: %s" % (what, took, msg))

    def test_socket_missing_or_refusing(self):
        d = self.tmpdir()
        stale = os.path.join(d, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)          # a socket file nobody listens on: ECONNREFUSED
        s.close()
        for label, path in (("missing", os.path.join(d, "missing.sock")), ("refusing", stale)):
            with self.subTest(label):
                a = self.start_agent({"DOCKER_SOCKET": path})
                self.assert_502(a, label)
                # A body-carrying request is refused the same way.
                with a.raw(timeout=15) as c:
                    r = c.request("POST", "/v1.41/containers/create", a.auth_headers(
                    ), b'{"Image":"busybox"}', timeout=15)
                self.assertEqual(r.status, 502, r)
                self.assertTrue(json_body(r)["message"].startswith("docker unreachable: "))

    def test_daemon_restart_heals(self):
        d = self.start_dockerd(import_busybox=False)
        a = self.start_agent({"WORKERS": "2"}, dockerd=d)
        want = d.api_json("GET", "/version")[1]["Version"]

        def ok_version(c=None):
            if c is None:
                with a.raw(timeout=15) as c2:
                    r = c2.request("GET", "/v1.41/version", a.auth_headers(), timeout=15)
            else:
                r = c.request("GET", "/v1.41/version", a.auth_headers(), timeout=15)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(json_body(r)["Version"], want)

        for _ in range(10):          # fill both workers' pools
            ok_version()
        kept = a.raw(timeout=15)
        self.addCleanup(kept.close)
        ok_version(kept)
        # Inode numbers are reused by the filesystem: identify the socket
        # file by inode and change time together.
        st = os.stat(d.socket)
        ident = (st.st_ino, st.st_ctime_ns)

        d.stop_daemon()
        for _ in range(3):
            with a.raw(timeout=15) as c:
                r = c.request("GET", "/v1.41/version", a.auth_headers(), timeout=15)
            self.assertEqual(r.status, 502, r)
            self.assertTrue(json_body(r)["message"].startswith("docker unreachable: "), r)

        d.start_daemon()
        st = os.stat(d.socket)
        self.assertNotEqual((st.st_ino, st.st_ctime_ns), ident, "the restarted daemon has a new socket")
        # Every request after the restart succeeds: stale pooled connections
        # are noticed (Docker closed them) and the socket is re-opened by path.
        for _ in range(10):
            ok_version()
        ok_version(kept)
        self.assertTrue(a.alive())


# --------------------------------------------------------------------------
# streaming and timeouts

QUIET_THEN_TWO_LINES = ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo first; "
                        "sleep 6; echo second; exec sleep 600"]


class Streaming(Base):
    use_relay = True
    agent_env = {"REQUEST_TIMEOUT": "2", "IDLE_TIMEOUT": "2"}

    def test_follow_stream_survives_quiet_period(self):
        cid = self.container(QUIET_THEN_TWO_LINES)
        c, st, hd, br = self.open_stream(
            "/v1.41/containers/%s/logs?follow=1&stdout=1&stderr=1" % cid, timeout=5)
        # Headers arrived while the container has written nothing at all.
        self.assertEqual(st, 200, hd)
        self.assertEqual(c.buf, b"", "body bytes before the container wrote any")
        dexec(cid, ["touch", "/tmp/go"])
        br.read_until(b"first\n", timeout=15)
        t_first = time.monotonic()
        br.read_until(b"second\n", timeout=30)
        quiet = time.monotonic() - t_first
        out, err, rest = lk.demux_docker(br.data)
        self.assertEqual((out, err, rest), (b"first\nsecond\n", b"", b""))
        lk.log("follow stream quiet for %.1fs (REQUEST_TIMEOUT=2, IDLE_TIMEOUT=2), still open" % quiet)
        self.assertGreater(quiet, 4.0, "the container was not quiet long enough to test anything")
        self.assertFalse(br.eof)

    def test_each_chunk_arrives_as_it_is_written(self):
        cid = self.container(["sh", "-c", "i=0; while [ $i -lt 3 ]; do while [ ! -e /tmp/go$i ]; do "
                              "sleep 0.05; done; echo line$i; i=$((i+1)); done; exec sleep 600"])
        c, st, hd, br = self.open_stream("/v1.41/containers/%s/logs?follow=1&stdout=1" % cid)
        self.assertEqual(st, 200)
        for i in range(3):
            # line i+1 is not written before we ask, so line i must arrive alone
            dexec(cid, ["touch", "/tmp/go%d" % i])
            br.read_until(("line%d\n" % i).encode(), timeout=10)
            self.assertNotIn(("line%d" % (i + 1)).encode(), br.data)

    def test_finite_route_bounded_by_request_timeout(self):
        cid = self.container(["sh", "-c", "trap '' TERM; while true; do sleep 1; done"])
        t0 = time.monotonic()
        r = self.req("POST", "/v1.41/containers/%s/stop?t=10" % cid, timeout=30)
        took = time.monotonic() - t0
        lk.log("stop?t=10 under REQUEST_TIMEOUT=2: %d after %.1fs" % (r.status, took))
        self.assertIn(r.status, (502, 504), r)
        self.assertIsInstance(json_body(r).get("message"), str)
        # Docker itself answers only after its 10 s grace period.
        self.assertLess(took, 9.0, "the agent waited for Docker instead of REQUEST_TIMEOUT")

    def test_streaming_routes_have_no_total_timeout(self):
        cid = self.container(["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; sleep 4; exit 3"])
        ev_filter = "%7B%22container%22%3A%5B%22" + cid + "%22%5D%7D"
        wc, wst, _, wbr = self.open_stream("/v1.41/containers/%s/wait" % cid, method="POST")
        sc, sst, _, sbr = self.open_stream("/v1.41/containers/%s/stats" % cid)
        ec, est, _, ebr = self.open_stream("/v1.41/events?filters=" + ev_filter)
        self.assertEqual((wst, sst, est), (200, 200, 200))
        dexec(cid, ["touch", "/tmp/go"])
        t0 = time.monotonic()
        # stats: one object a second; three of them outlive REQUEST_TIMEOUT
        deadline = time.monotonic() + 20
        while sbr.data.count(b"\n") < 3:
            sbr.data += sbr.read_some(deadline)
        for line in sbr.data.split(b"\n")[:3]:
            self.assertIn("read", json.loads(line))
        wbr.read_all(timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(json.loads(wbr.data).get("StatusCode"), 3)
        self.assertGreater(took, 2.5, "wait returned too early to prove anything")
        ebr.read_until(b'"die"', timeout=15)
        actions = [json.loads(x).get("Action") for x in ebr.data.split(b"\n") if x.strip()]
        self.assertIn("die", actions)

    def test_client_disconnect_closes_upstream(self):
        cid = self.container(["sleep", "600"])
        mark = "mark-" + secrets.token_hex(8)
        c, st, hd, br = self.open_stream(
            "/v1.41/containers/%s/logs?follow=1&stdout=1" % cid, headers={"X-Lk-Mark": mark})
        self.assertEqual(st, 200)
        conns = lk.wait_until(lambda: self.relay.conns_with(mark), 5, "the stream's upstream connection")
        self.assertEqual(len(conns), 1)
        up = conns[0]
        self.assertFalse(up.agent_gone.is_set())
        t0 = time.monotonic()
        c.close()
        self.assertTrue(up.agent_gone.wait(5.0),
                        "the agent kept the upstream connection of a closed client open")
        lk.log("upstream closed %.3fs after the client disconnected" % (time.monotonic() - t0))


class SlowReader(Base):
    """A client that reads a fast stream slowly must cost the agent (almost)
    nothing while it waits: the relay sleeps on POLLOUT / the send, it does
    not re-issue a refused splice in a loop (which burned half a core)."""
    relay_mode = "auto"

    @classmethod
    def setUpClass(cls):
        cls.agent_env = {"RELAY_MODE": cls.relay_mode, "WORKERS": "1"}
        super().setUpClass()

    def test_stalled_reader_costs_no_cpu(self):
        name = unique("lk31-fast")
        st, js = dapi("POST", "/containers/create?name=" + name,
                      {"Image": "busybox:latest", "Cmd": ["yes", "x" * 70]})
        self.assertEqual(st, 201, js)
        cid = js["Id"]
        self.addCleanup(DOCKERD.remove_container, cid)
        self.assertEqual(dapi("POST", "/containers/%s/start" % cid)[0], 204)
        s = socket.create_connection(("127.0.0.1", self.agent.port), timeout=30)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(("GET /v1.41/containers/%s/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
                   "X-Lookout-Token: %s\r\n\r\n" % (cid, self.agent.token)).encode())
        self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 200"))
        # Let the pipe and both socket buffers fill, then sample while
        # reading 1 KiB every 50 ms for 3 s (wall clock), ~60 KiB in all.
        got, t_end = 0, time.monotonic() + 1.0
        while time.monotonic() < t_end:
            got += len(s.recv(1024))
            time.sleep(0.05)
        c0, t0 = lk.proc_cpu_seconds(self.agent.pid), time.monotonic()
        while time.monotonic() - t0 < 3.0:
            got += len(s.recv(1024))
            time.sleep(0.05)
        used = lk.proc_cpu_seconds(self.agent.pid) - c0
        lk.log("%s: stalled reader got %d bytes; agent used %.2fs CPU in 3s" % (
            self.__class__.__name__, got, used))
        self.assertGreater(got, 0)
        self.assertLess(used, 0.5, "the relay spins while the client is slow")


class SlowReaderCopyRelay(SlowReader):
    relay_mode = "copy"


class StreamLimit(Base):
    agent_env = {"MAX_STREAMS": "2"}

    def test_third_stream_refused(self):
        cid = self.container(["sleep", "600"])
        target = "/v1.41/containers/%s/logs?follow=1&stdout=1" % cid
        streams = []
        for _ in range(2):
            c, st, _, _ = self.open_stream(target)
            self.assertEqual(st, 200)
            streams.append(c)
        c, st, hd, br = self.open_stream(target)
        self.assertEqual(st, 429, hd)
        br.read_all(timeout=10)
        self.assertEqual(json.loads(br.data), {"message": "too many concurrent streams"})
        c.close()
        # Finite requests are not streams: still served at the limit.
        r = self.req("GET", "/v1.41/version")
        self.assertEqual(r.status, 200)
        streams[0].close()

        def another():
            c, st, _, _ = self.open_stream(target)
            if st == 200:
                return c
            c.close()
            return None
        lk.wait_until(another, 5, "a stream slot after closing one")


# --------------------------------------------------------------------------
# big bodies: streamed, not buffered

class BigBodies(Base):
    relay_mode = "auto"
    download_blocks = 1024
    upload_mib = 256
    certs = None

    @classmethod
    def setUpClass(cls):
        # /containers/*/archive is a streaming route: a transfer longer than
        # REQUEST_TIMEOUT must not be cut.
        cls.agent_env = {"RELAY_MODE": cls.relay_mode, "REQUEST_TIMEOUT": "2"}
        # Streams over TLS leave zero-copy only to remote clients unless
        # forced (ZERO_COPY=auto skips loopback): force it, so the
        # registered-buffer path is what these transfers exercise.
        if cls.certs is not None or cls.__name__.endswith("TLS"):
            cls.agent_env["ZERO_COPY"] = "on"
        # ASan parks freed memory in a 256 MiB quarantine: BoringSSL's
        # per-record buffers would show up as RSS growth that a release
        # build does not have (measured: +371 MiB vs +5.8 MiB). Keep the
        # quarantine small so the RSS figure is the agent's own.
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.agent_env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=8"

        super().setUpClass()

    def test_download(self):
        cid = big_container()
        size = self.download_blocks * len(BLOCK)
        c = self.conn(60)
        # warm the agent so its steady-state buffers are in the baseline
        r = c.request("GET", "/_ping", self.auth())
        self.assertEqual(r.status, 200)
        chk = StreamCheck(size)
        with lk.RssSampler(self.agent.pid) as rss:
            t0 = time.monotonic()
            c.send_request("GET", "/v1.41/containers/%s/archive?path=/big%d" % (
                cid, self.download_blocks), self.auth())
            st, hd, _ = lk.read_head(c, 60)
            self.assertEqual(st, 200, hd)
            self.assertIn("x-docker-container-path-stat", hd)
            n = lk.BodyReader(c, hd, status=st).read_all(timeout=600, sink=chk.feed)
            took = time.monotonic() - t0
        lk.log("%s download (REQUEST_TIMEOUT=2): %d bytes in %.1fs (%.0f MB/s); agent RSS %d KiB "
               "-> peak %d KiB (+%d KiB)" % (
            self.__class__.__name__, n, took, n / took / 1e6, rss.base, rss.peak, rss.growth))
        ti = tarfile.TarInfo.frombuf(bytes(chk.head), "utf-8", "surrogateescape")
        self.assertEqual((ti.name, ti.size), ("big%d" % self.download_blocks, size))
        self.assertIsNone(chk.bad, "stream corrupt at offset %s" % chk.bad)
        self.assertGreaterEqual(n, 512 + size)
        self.assertLessEqual(n, 512 + size + 10240)
        self.assertLess(rss.growth, RSS_GROWTH_MAX_KIB)
        # the connection is reusable after a 1 GiB chunked body
        r = c.request("GET", "/_ping", self.auth())
        self.assertEqual((r.status, r.body), (200, b"OK"))

    def test_upload(self):
        if not self.upload_mib:
            self.skipTest("no upload in this variant")
        cid = self.container(["sleep", "600"])
        size = self.upload_mib * len(BLOCK)
        hdr = tarfile.TarInfo("up.bin")
        hdr.size, hdr.mode, hdr.mtime = size, 0o644, int(time.time())
        head = hdr.tobuf(format=tarfile.USTAR_FORMAT)
        tail = b"\0" * ((512 - size % 512) % 512) + b"\0" * 1024
        md5 = hashlib.md5()
        c = self.conn(60)
        r = c.request("GET", "/_ping", self.auth())
        self.assertEqual(r.status, 200)
        with lk.RssSampler(self.agent.pid) as rss:
            t0 = time.monotonic()
            c.send(("PUT /v1.41/containers/%s/archive?path=/tmp HTTP/1.1\r\nHost: localhost\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/x-tar\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n" % (cid, self.agent.token)).encode())
            c.send(b"%x\r\n%s\r\n" % (len(head), head))
            for _ in range(self.upload_mib):
                md5.update(BLOCK)
                c.send(b"%x\r\n" % len(BLOCK))
                c.send(BLOCK)
                c.send(b"\r\n")
            c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
            r = c.read_response(timeout=300)
            took = time.monotonic() - t0
        lk.log("%s upload: %d bytes in %.1fs; agent RSS %d KiB -> peak %d KiB (+%d KiB)" % (
            self.__class__.__name__, size, took, rss.base, rss.peak, rss.growth))
        self.assertEqual(r.status, 200, r)
        cp = DOCKERD.docker("exec", cid, "md5sum", "/tmp/up.bin", timeout=120)
        self.assertEqual(cp.stdout.decode().split()[0], md5.hexdigest())
        self.assertLess(rss.growth, RSS_GROWTH_MAX_KIB)


class BigBodiesCopyRelay(BigBodies):
    relay_mode = "copy"


class BigBodiesTLS(BigBodies):
    download_blocks = 256
    upload_mib = 64

    def test_zz_tls_output_leaves_zero_copy(self):
        # Named to run last in the class: it stops the shared agent to read
        # the counters of its "lookout stopped" line.
        c = self.conn(60)
        c.send_request("GET", "/v1.41/images/get?names=busybox%3Alatest", self.auth())
        st, hd, _ = lk.read_head(c, 60)
        self.assertEqual(st, 200, hd)
        want = direct("GET", "/v1.41/images/get?names=busybox%3Alatest").body
        got = bytearray()
        lk.BodyReader(c, hd, status=st).read_all(timeout=120, sink=got.extend)
        self.assertEqual(bytes(got), want)
        self.assertEqual(self.agent.stop(), 0)
        done = [r for r in self.agent.records() if r.get("msg") == "lookout stopped"]
        self.assertEqual(len(done), 1, self.agent.dump())
        lk.log("TLS: %d zero-copy sends from registered buffers" % done[0]["zc_sends"])
        self.assertGreater(done[0]["zc_sends"], 0, "TLS output never left from registered buffers")

    @classmethod
    def setUpClass(cls):
        cls.certs = lk.make_certs(os.path.join(tempfile.mkdtemp(prefix="lk31-certs-"), "c"))
        cls.addClassCleanup(shutil.rmtree, os.path.dirname(cls.certs.dir), True)
        super().setUpClass()


# --------------------------------------------------------------------------
# bad input never reaches Docker

class BadInput(Base):
    use_relay = True
    agent_env = {"HEADER_TIMEOUT": "2"}

    def cases(self, mark, tok):
        auth = "Authorization: Bearer %s\r\n" % tok
        host = "Host: localhost\r\n"
        return (
            ("CL+TE", "POST /v1.41/containers/create?name=%s HTTP/1.1\r\n%s%s"
             "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (
                 mark, host, auth), (400,)),
            ("conflicting CL", "POST /v1.41/containers/create?name=%s HTTP/1.1\r\n%s%s"
             "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}" % (mark, host, auth), (400,)),
            ("negative CL", "POST /v1.41/containers/create?name=%s HTTP/1.1\r\n%s%s"
             "Content-Length: -1\r\n\r\n" % (mark, host, auth), (400,)),
            ("gzip TE", "POST /v1.41/containers/create?name=%s HTTP/1.1\r\n%s%s"
             "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" % (mark, host, auth), (400, 501)),
            ("20 KiB header", "GET /v1.41/version?m=%s HTTP/1.1\r\n%s%sX-Big: %s\r\n\r\n" % (
                mark, host, auth, "a" * 20480), (431,)),
            ("9 KiB target", "GET /v1.41/version?m=%s&pad=%s HTTP/1.1\r\n%s%s\r\n" % (
                mark, "b" * 9216, host, auth), (414,)),
            ("HTTP/3.7", "GET /v1.41/version?m=%s HTTP/3.7\r\n%s%s\r\n" % (mark, host, auth),
             (400, 505)),
            ("obs-fold", "GET /v1.41/version?m=%s HTTP/1.1\r\n%s%sX-Fold: a\r\n b\r\n\r\n" % (
                mark, host, auth), (400,)),
            ("bare LF", "GET /v1.41/version?m=%s HTTP/1.1\n%s%s\n" % (
                mark, host.replace("\r\n", "\n"), auth.replace("\r\n", "\n")), (400,)),
            ("space before colon", "GET /v1.41/version?m=%s HTTP/1.1\r\n%s%sX-Foo : bar\r\n\r\n" % (
                mark, host, auth), (400,)),
            ("NUL in value", "GET /v1.41/version?m=%s HTTP/1.1\r\n%s%sX-Foo: a\0b\r\n\r\n" % (
                mark, host, auth), (400,)),
            ("absolute-form", "GET http://docker/v1.41/version?m=%s HTTP/1.1\r\n%s%s\r\n" % (
                mark, host, auth), (400,)),
            ("missing Host", "GET /v1.41/version?m=%s HTTP/1.1\r\n%s\r\n" % (mark, auth), (400,)),
        )

    def test_malformed_requests_never_reach_docker(self):
        for i in range(len(self.cases("m", "t"))):
            mark = "m" + secrets.token_hex(8)
            label, raw, statuses = self.cases(mark, self.agent.token)[i]
            with self.subTest(label):
                with self.agent.raw(timeout=10) as c:
                    c.send(raw.encode("latin-1"))
                    try:
                        r = c.read_response(timeout=10)
                    except (EOFError, ConnectionResetError) as e:
                        self.fail("%s: closed without a status (%s)" % (label, e))
                self.assertIn(r.status, statuses, r)
                self.assert_docker_never_saw(mark)
        r = self.req("GET", "/v1.41/version")
        self.assertEqual(r.status, 200, "the agent still serves after bad input")

    def test_bad_chunked_body_not_completed(self):
        name = unique()
        with self.agent.raw(timeout=10) as c:
            c.send(("POST /v1.41/containers/create?name=%s HTTP/1.1\r\nHost: localhost\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\nzz\r\n{\"Image\":\"busybox\"}\r\n0\r\n\r\n" % (
                        name, self.agent.token)).encode())
            try:
                r = c.read_response(timeout=10)
                self.assertEqual(r.status, 400, r)
            except (EOFError, ConnectionResetError):
                pass  # the head may already be upstream: closing is the answer
        st, _ = dapi("GET", "/containers/%s/json" % name)
        if st == 200:
            DOCKERD.remove_container(name)
        self.assertEqual(st, 404, "a container was created from a malformed chunked body")
        self.assertNotIn(b'{"Image":"busybox"}', self.relay.all_up())

    def test_slowloris_cut_at_header_timeout(self):
        mark = "m" + secrets.token_hex(8)
        head = ("GET /v1.41/version?m=%s HTTP/1.1\r\nHost: localhost\r\n"
                "Authorization: Bearer %s\r\n\r\n" % (mark, self.agent.token))
        with self.agent.raw(timeout=20) as c:
            t0 = time.monotonic()
            closed, sent, received = c.trickle(head, gap=1.0, timeout=15)
            took = time.monotonic() - t0
        lk.log("slowloris: cut=%s after %.1fs, %d of %d bytes sent, answer %r" % (
            closed, took, sent, len(head), received[:40]))
        self.assertTrue(closed, "a 1 byte/s client was not cut (HEADER_TIMEOUT=2)")
        self.assertLess(sent, len(head))
        self.assertTrue(received == b"" or received.startswith(b"HTTP/1.1 408"), received[:100])
        self.assert_docker_never_saw(mark)


class IdleConnections(Base):
    agent_env = {"HEADER_TIMEOUT": "300", "IDLE_TIMEOUT": "300", "WORKERS": "2"}

    def test_many_idle_keepalive_connections(self):
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        n = min(IDLE_CONNS, soft - 256)
        for _ in range(20):
            self.assertEqual(self.req("GET", "/health", auth=False).status, 200)
        base = lk.vm_rss_kib(self.agent.pid)
        conns = []
        try:
            for i in range(n):
                c = lk.RawConn(self.agent.port, timeout=30)
                conns.append(c)
                r = c.request("GET", "/health")  # accepted and served: now an idle keep-alive
                self.assertEqual(r.status, 200, "connection %d" % i)
            after = lk.vm_rss_kib(self.agent.pid)
            per = (after - base) * 1024.0 / n
            lk.log("%d idle keep-alive connections: agent RSS %d KiB -> %d KiB, %.0f bytes each" % (
                n, base, after, per))
            r = self.req("GET", "/v1.41/version")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(json_body(r)["Version"], DOCKERD.api_json("GET", "/version")[1]["Version"])
            for c in (conns[0], conns[n // 2], conns[-1]):
                r = c.request("GET", "/health")
                self.assertEqual(r.status, 200, "an idle connection was dropped")
            self.assertLess(per, PER_CONN_RSS_MAX)
        finally:
            for c in conns:
                c.close()


if __name__ == "__main__":
    lk.main()
