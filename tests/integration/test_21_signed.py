"""Ed25519 signed requests through the proxy (issue 4, points 2-4): both
header families, signature version 2 and the legacy form, body hashing with
413 above 64 MiB, the four X-Lookout-Reason values, replay protection shared
by every worker, a full nonce table refusing with 503, and SIGHUP reload of
AUTHORIZED_KEYS under load. Signatures are made with the openssl CLI
(lkharness.SigningKey), never with the agent's own code."""
import json
import os
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

MIB = 1024 * 1024


def reason(headers):
    return headers.get("x-lookout-reason")


class Signed(lk.TestCase):
    def setUp(self):
        self.dir = self.tmpdir()
        self.key = lk.SigningKey(self.dir, "a")
        self.other = lk.SigningKey(self.dir, "b")
        self.keys = os.path.join(self.dir, "authorized_keys")
        lk.write_keys(self.keys, "# controller\n", "\n", self.key.line("controller"))

    def agent(self, **env):
        e = {"AUTHORIZED_KEYS": self.keys}
        e.update(env)
        return self.start_agent(e)

    def req(self, a, method, target, body=b"", key=None, headers=None, **kw):
        h = lk.sign_headers(key or self.key, method, target, body, **kw)
        h.update(headers or {})
        if body:
            h["Content-Type"] = "application/json"
        return a.request(method, target, h, body or None)

    def test_get_with_query_version_2(self):
        a = self.agent()
        st, _, body = self.req(a, "GET", "/containers/json?all=1&filters=%7B%7D")
        self.assertEqual(st, 200, body)
        self.assertIsInstance(json.loads(body), list)
        # The query is signed: changing it breaks the signature.
        h = lk.sign_headers(self.key, "GET", "/containers/json?all=1")
        st, hd, _ = a.request("GET", "/containers/json?all=0", h)
        self.assertEqual((st, reason(hd)), (401, "invalid-signature"))
        # An empty query is still part of the target.
        h = lk.sign_headers(self.key, "GET", "/_ping?")
        self.assertEqual(a.request("GET", "/_ping?", h)[0], 200)
        self.assertEqual(a.request("GET", "/_ping", lk.sign_headers(self.key, "GET", "/_ping?"))[0], 401)

    def test_post_with_body_reaches_docker(self):
        a = self.agent()
        name = "lk-signed-%d" % os.getpid()
        self.addCleanup(lk.shared_dockerd().remove_container, name)
        body = json.dumps({"Image": "busybox:latest", "Cmd": ["true"]}).encode()
        st, _, rb = self.req(a, "POST", "/containers/create?name=" + name, body)
        self.assertEqual(st, 201, rb)
        # Docker got the very body that was signed.
        _, info = lk.shared_dockerd().api_json("GET", "/containers/%s/json" % name)
        self.assertEqual(info["Config"]["Cmd"], ["true"])
        # The same body with one byte changed is refused before Docker sees it.
        h = lk.sign_headers(self.key, "POST", "/containers/create?name=x" + name, body)
        bad = body.replace(b"true", b"truE")
        st, hd, _ = a.request("POST", "/containers/create?name=x" + name,
                              dict(h, **{"Content-Type": "application/json"}), bad)
        self.assertEqual((st, reason(hd)), (401, "invalid-signature"))
        st, _, _ = lk.shared_dockerd().api("GET", "/containers/x%s/json" % name)
        self.assertEqual(st, 404)

    def test_chunked_body_is_hashed_decoded(self):
        a = self.agent()
        body = json.dumps({"Image": "busybox:latest", "Cmd": ["true"]}).encode()
        h = lk.sign_headers(self.key, "POST", "/containers/create", body)
        with a.raw() as c:
            lines = ["POST /containers/create HTTP/1.1", "Host: x", "Transfer-Encoding: chunked",
                     "Content-Type: application/json"] + ["%s: %s" % kv for kv in h.items()]
            c.send(("\r\n".join(lines) + "\r\n\r\n").encode())
            for i in range(0, len(body), 7):
                part = body[i:i + 7]
                c.send(b"%x\r\n%s\r\n" % (len(part), part))
            c.send(b"0\r\n\r\n")
            r = c.read_response()
            st, hd, rb = r.status, r.headers, r.body
        self.assertEqual(st, 201, rb)
        lk.shared_dockerd().remove_container(json.loads(rb)["Id"])

    def test_legacy_form(self):
        a = self.agent()
        h = lk.sign_headers(self.key, "GET", "/_ping", version=0)
        self.assertEqual(a.request("GET", "/_ping", h)[0], 200)
        # Percent-decoded path in the legacy canonical string.
        h = lk.sign_headers(self.key, "GET", "/v1.41/info%2F", version=0)
        self.assertNotEqual(a.request("GET", "/v1.41/info%2F", h)[0], 401)
        # The legacy form does not protect a query: refused with one.
        h = lk.sign_headers(self.key, "GET", "/containers/json?all=1", version=0)
        st, hd, _ = a.request("GET", "/containers/json?all=1", h)
        self.assertEqual((st, reason(hd)), (401, "invalid-signature"))

    def test_portwing_family(self):
        a = self.agent()
        h = lk.sign_headers(self.key, "GET", "/version", family="Portwing")
        st, _, body = a.request("GET", "/version", h)
        self.assertEqual(st, 200)
        self.assertIn("ApiVersion", json.loads(body))

    def test_reasons(self):
        a = self.agent()
        h = lk.sign_headers(self.key, "GET", "/_ping")
        self.assertEqual(a.request("GET", "/_ping", h)[0], 200)
        st, hd, body = a.request("GET", "/_ping", h)
        self.assertEqual((st, reason(hd)), (401, "replay"))
        self.assertEqual(json.loads(body), {"message": "unauthorized"})
        stale = lk.sign_headers(self.key, "GET", "/_ping", ts=int(time.time()) - 3600)
        st, hd, _ = a.request("GET", "/_ping", stale)
        self.assertEqual((st, reason(hd)), (401, "timestamp-skew"))
        future = lk.sign_headers(self.key, "GET", "/_ping", ts=int(time.time()) + 3600)
        self.assertEqual(reason(a.request("GET", "/_ping", future)[1]), "timestamp-skew")
        st, hd, _ = a.request("GET", "/_ping", lk.sign_headers(self.other, "GET", "/_ping"))
        self.assertEqual((st, reason(hd)), (401, "unknown-key"))
        forged = lk.sign_headers(self.other, "GET", "/_ping", key_id=self.key.key_id)
        st, hd, _ = a.request("GET", "/_ping", forged)
        self.assertEqual((st, reason(hd)), (401, "invalid-signature"))
        # A signature present means the signature path only: a valid token
        # beside a bad signature does not help (keys + token configured).

    def test_signature_path_ignores_tokens(self):
        a = self.start_agent({"AUTHORIZED_KEYS": self.keys, "TOKEN": "tok-" + "x" * 20})
        forged = lk.sign_headers(self.other, "GET", "/_ping", key_id=self.key.key_id)
        forged["Authorization"] = "Bearer tok-" + "x" * 20
        st, hd, _ = a.request("GET", "/_ping", forged)
        self.assertEqual((st, reason(hd)), (401, "invalid-signature"))
        # Without a signature, the token path works.
        self.assertEqual(a.request("GET", "/_ping", {"Authorization": "Bearer tok-" + "x" * 20})[0], 200)

    def test_keys_only_without_signature(self):
        a = self.agent()
        st, hd, _ = a.request("GET", "/_ping", {"Authorization": "Bearer whatever"})
        self.assertEqual(st, 401)
        self.assertIsNone(reason(hd))

    def test_body_over_64_mib_refused_unread(self):
        a = self.agent()
        h = lk.sign_headers(self.key, "POST", "/build", b"")
        with a.raw() as c:
            lines = ["POST /build HTTP/1.1", "Host: x", "Content-Length: %d" % (64 * MIB + 1)]
            lines += ["%s: %s" % kv for kv in h.items()]
            c.send(("\r\n".join(lines) + "\r\n\r\n").encode())
            r = c.read_response()
            st, hd, body = r.status, r.headers, r.body
        self.assertEqual(st, 413)
        self.assertIn(b"67108864", body)
        self.assertEqual(hd.get("connection"), "close")

    def test_chunked_body_over_64_mib_refused(self):
        a = self.agent()
        h = lk.sign_headers(self.key, "POST", "/build", b"")
        s = socket.create_connection(("127.0.0.1", a.port), timeout=60)
        try:
            lines = ["POST /build HTTP/1.1", "Host: x", "Transfer-Encoding: chunked"]
            lines += ["%s: %s" % kv for kv in h.items()]
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            chunk = b"%x\r\n%s\r\n" % (MIB, b"a" * MIB)
            try:
                for _ in range(65):
                    s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data = b""
            while b"\r\n\r\n" not in data:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        finally:
            s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:200])

    def test_body_buffer_budget_503(self):
        # 256 MiB of signed bodies may be buffered agent-wide: four bodies
        # past 32 MiB hold 64 MiB each, so a fifth cannot grow and gets 503
        # (a valid key ID, fresh timestamp and unused nonce suffice to be
        # buffered: the signature is only checked on the whole body).
        a = self.agent()
        chunk = b"z" * MIB
        socks = []
        try:
            for i in range(5):
                h = lk.sign_headers(self.key, "POST", "/build", b"")
                s = socket.create_connection(("127.0.0.1", a.port), timeout=60)
                socks.append(s)
                lines = ["POST /build HTTP/1.1", "Host: x", "Content-Length: %d" % (64 * MIB)]
                lines += ["%s: %s" % kv for kv in h.items()]
                s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
                try:
                    for _ in range(40):
                        s.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
            data = b""
            socks[4].settimeout(30)
            while b"\r\n\r\n" not in data:
                b = socks[4].recv(65536)
                if not b:
                    break
                data += b
            self.assertTrue(data.startswith(b"HTTP/1.1 503"), data[:300])
            self.assertIn(b"Retry-After: 1", data)
        finally:
            for s in socks:
                s.close()
        # The budget is returned: a signed body goes through afterwards.
        lk.wait_until(lambda: self.req(a, "POST", "/containers/prune", b"{}")[0] == 200, 30,
                      "budget released")

    def test_big_signed_body_is_forwarded_whole(self):
        # 8 MiB tar that Docker must read completely: a load of an image
        # archive whose body hash covers every byte.
        a = self.agent()
        body = b"x" * (8 * MIB)
        st, _, rb = self.req(a, "POST", "/images/load?quiet=1", body,
                             headers={"Content-Type": "application/x-tar"})
        # Docker read the whole body (it is not a valid archive): 500 or 400
        # from Docker, never the agent's 401/413.
        self.assertNotIn(st, (401, 413, 502), rb)

    def test_replay_across_workers(self):
        a = self.agent(WORKERS="2")
        # Many connections, so both workers take some (SO_REUSEPORT).
        for round_ in range(5):
            h = lk.sign_headers(self.key, "GET", "/_ping")
            # One source address per connection: the 23 refusals must not
            # trip the failed-auth limiter of a single client.
            conns = [socket.create_connection(("127.0.0.1", a.port), timeout=15,
                                              source_address=("127.0.%d.%d" % (round_ + 1, i + 2), 0))
                     for i in range(24)]
            req = ("GET /_ping HTTP/1.1\r\nHost: x\r\n" +
                   "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode()
            statuses = []
            barrier = threading.Barrier(len(conns))

            def go(s):
                barrier.wait()
                s.sendall(req)
                data = b""
                while b"\r\n\r\n" not in data:
                    b = s.recv(4096)
                    if not b:
                        break
                    data += b
                statuses.append(int(data.split(b" ", 2)[1]))
                s.close()
            ts = [threading.Thread(target=go, args=(s,)) for s in conns]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            self.assertEqual(sorted(statuses), [200] + [401] * (len(conns) - 1), statuses)
        # Both workers really served connections.
        a.stop()
        per = {r["worker"]: r["accepted"] for r in a.find_logs("worker stopped")}
        self.assertEqual(len(per), 2, per)
        self.assertTrue(all(n > 0 for n in per.values()), per)

    def test_full_nonce_table_refuses_with_503(self):
        a = self.agent(NONCE_LRU_SIZE="4")
        codes = []
        for _ in range(80):
            st, hd, body = a.request("GET", "/_ping", lk.sign_headers(self.key, "GET", "/_ping"))
            codes.append(st)
            if st == 503:
                self.assertEqual(hd.get("retry-after"), "1")
                self.assertIn("replay protection", json.loads(body)["message"])
                break
        self.assertEqual(codes[-1], 503, codes)
        self.assertTrue(all(c == 200 for c in codes[:-1]), codes)
        # Every nonce that was accepted is still refused as a replay.
        a.stop()
        self.assertGreaterEqual(a.find_logs("lookout stopped")[0]["nonce_full"], 1)

    def test_bad_key_file_stops_start_up(self):
        lk.write_keys(self.keys, "# ok\n", self.key.line("a"), "ed25519 AAAA\n")
        code, out = lk.start_expect_fail({"AUTHORIZED_KEYS": self.keys})
        self.assertNotEqual(code, 0)
        self.assertIn("line 3", out)
        lk.write_keys(self.keys, self.key.line("a"))
        os.chmod(self.keys, 0o644)
        code, out = lk.start_expect_fail({"AUTHORIZED_KEYS": self.keys})
        self.assertNotEqual(code, 0)
        self.assertIn("world-readable", out)
        code, out = lk.start_expect_fail({"AUTHORIZED_KEYS": os.path.join(self.dir, "missing")})
        self.assertNotEqual(code, 0)
        self.assertIn("AUTHORIZED_KEYS", out)

    def test_sighup_reload(self):
        a = self.agent()
        st, hd, _ = a.request("GET", "/_ping", lk.sign_headers(self.other, "GET", "/_ping"))
        self.assertEqual(reason(hd), "unknown-key")
        lk.write_keys(self.keys, self.key.line("a"), self.other.line("b"))
        mark = a.mark()
        a.send_signal(signal.SIGHUP)
        a.wait_log(lambda r: r and r.get("msg") == "authorized_keys reloaded", 10, start=mark)
        self.assertTrue(a.find_logs(lambda r: r and r.get("msg") == "ed25519 key added" and
                                    r.get("key_id") == self.other.key_id))
        self.assertEqual(a.request("GET", "/_ping", lk.sign_headers(self.other, "GET", "/_ping"))[0], 200)
        # A file that does not load keeps the previous keys, and says why.
        lk.write_keys(self.keys, self.key.line("a"), "ed25519 not-base64!\n")
        mark = a.mark()
        a.send_signal(signal.SIGHUP)
        rec = a.wait_log(lambda r: r and "reload failed" in r.get("msg", ""), 10, start=mark)
        self.assertIn("line 2", rec["error"])
        self.assertEqual(a.request("GET", "/_ping", lk.sign_headers(self.other, "GET", "/_ping"))[0], 200)
        # Removal takes effect for the next request.
        lk.write_keys(self.keys, self.key.line("a"))
        mark = a.mark()
        a.send_signal(signal.SIGHUP)
        a.wait_log(lambda r: r and r.get("msg") == "authorized_keys reloaded", 10, start=mark)
        st, hd, _ = a.request("GET", "/_ping", lk.sign_headers(self.other, "GET", "/_ping"))
        self.assertEqual((st, reason(hd)), (401, "unknown-key"))

    def test_reload_under_load_loses_nothing(self):
        a = self.agent(WORKERS="2")
        # Pre-sign a stock of requests (openssl per signature is slow), then
        # fire them from several threads while the keys are reloaded.
        stock = [lk.sign_headers(self.key, "GET", "/_ping") for _ in range(240)]
        results = []
        lock = threading.Lock()

        def client(part):
            for h in part:
                st = a.request("GET", "/_ping", h)[0]
                with lock:
                    results.append(st)
        parts = [stock[i::4] for i in range(4)]
        ts = [threading.Thread(target=client, args=(p,)) for p in parts]
        for t in ts:
            t.start()
        reloads = 0
        while any(t.is_alive() for t in ts):
            extra = self.other.line("b") if reloads % 2 else ""
            lk.write_keys(self.keys, self.key.line("a"), extra)
            a.send_signal(signal.SIGHUP)
            reloads += 1
            time.sleep(0.01)
        for t in ts:
            t.join()
        self.assertEqual(len(results), len(stock))
        self.assertEqual(set(results), {200}, results)
        self.assertGreater(reloads, 3)



class SignWithCurl(lk.TestCase):
    """`lookout sign` + `curl -H @file`, end to end through the proxy (point 9),
    with a key from `lookout keygen`."""

    def setUp(self):
        self.dir = self.tmpdir()
        out = lk.run([lk.lookout_bin(), "keygen", "-comment", "ci"]).stdout.decode()
        pem, _, rest = out.partition("-----END PRIVATE KEY-----")
        self.key = os.path.join(self.dir, "k.pem")
        with open(self.key, "w") as f:
            f.write(pem + "-----END PRIVATE KEY-----\n")
        os.chmod(self.key, 0o600)
        line = [ln for ln in rest.splitlines() if ln.startswith("ed25519 ")][0]
        self.keys = os.path.join(self.dir, "authorized_keys")
        lk.write_keys(self.keys, line + "\n")
        self.a = self.start_agent({"AUTHORIZED_KEYS": self.keys})

    def sign(self, method, target, body=None, *extra):
        argv = [lk.lookout_bin(), "sign", "-key", self.key] + list(extra) + [method, target]
        if body is not None:
            argv.append(body)
        hfile = os.path.join(self.dir, "h-%s.txt" % os.urandom(4).hex())
        with open(hfile, "wb") as f:
            f.write(lk.run(argv).stdout)
        return hfile

    def curl(self, hfile, target, *args):
        cp = self.a.curl("-s", "-D", "-", "-H", "@" + hfile, *args, self.a.url(target))
        head, _, body = cp.stdout.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in
                (ln.partition(":") for ln in head.decode("latin-1").split("\r\n")[1:])}
        return status, hdrs, body

    def test_end_to_end(self):
        t = "/containers/json?all=1&limit=5"
        h = self.sign("GET", t)
        st, _, body = self.curl(h, t)
        self.assertEqual(st, 200, body)
        self.assertIsInstance(json.loads(body), list)
        # The same headers again: a replay.
        st, hd, _ = self.curl(h, t)
        self.assertEqual((st, hd.get("x-lookout-reason")), (401, "replay"))
        # POST with a body file.
        name = "lk-curl-%d" % os.getpid()
        self.addCleanup(lk.shared_dockerd().remove_container, name)
        bf = os.path.join(self.dir, "body.json")
        with open(bf, "wb") as f:
            f.write(json.dumps({"Image": "busybox:latest", "Cmd": ["echo", "hi"]}).encode())
        t = "/containers/create?name=" + name
        h = self.sign("POST", t, bf)
        st, _, body = self.curl(h, t, "-X", "POST", "-H", "Content-Type: application/json",
                                "--data-binary", "@" + bf)
        self.assertEqual(st, 201, body)
        # A stale timestamp.
        h = self.sign("GET", "/_ping", None, "-timestamp", str(int(time.time()) - 600))
        st, hd, _ = self.curl(h, "/_ping")
        self.assertEqual((st, hd.get("x-lookout-reason")), (401, "timestamp-skew"))
        # An unknown key (openssl's, not in the file).
        other = lk.SigningKey(self.dir, "other")
        hfile = os.path.join(self.dir, "h-other.txt")
        with open(hfile, "wb") as f:
            f.write(lk.run([lk.lookout_bin(), "sign", "-key", other.path, "GET", "/_ping"]).stdout)
        st, hd, _ = self.curl(hfile, "/_ping")
        self.assertEqual((st, hd.get("x-lookout-reason")), (401, "unknown-key"))
        # The portwing family.
        h = self.sign("GET", "/version", None, "-header-family", "portwing")
        self.assertEqual(self.curl(h, "/version")[0], 200)

    def test_over_tls_with_a_large_body(self):
        # The body of a signed request is decrypted into the buffer; 3 MiB
        # also makes curl send Expect: 100-continue.
        certs = lk.make_certs(self.tmpdir())
        a = self.start_agent({"AUTHORIZED_KEYS": self.keys}, certs=certs)
        self.a = a
        bf = os.path.join(self.dir, "big.tar")
        with open(bf, "wb") as f:
            f.write(os.urandom(3 * MIB))
        h = self.sign("POST", "/images/load?quiet=1", bf)
        st, _, body = self.curl(h, "/images/load?quiet=1", "-X", "POST",
                                "-H", "Content-Type: application/x-tar", "--data-binary", "@" + bf)
        # Docker read it all and refused the archive: not the agent's 401/413.
        self.assertNotIn(st, (401, 413, 502), body)
        t = "/containers/json?all=1"
        self.assertEqual(self.curl(self.sign("GET", t), t)[0], 200)


if __name__ == "__main__":
    lk.main()
