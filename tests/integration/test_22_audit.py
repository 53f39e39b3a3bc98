#!/usr/bin/env python3
"""The audit log end to end (issue 4, point 7; spec lookout-core.md 11 and
auth/audit.h): AUDIT_LOG=<file> gets one JSON object per line for every
refused credential (auth_failure), every limiter refusal (rate_limited) and
every admitted *mutating* request (api_request with Docker's status, the
credential kind and, for Ed25519, the key ID); reads are not audited. No
secret (token, Authorization value, signature, private key) reaches the
audit file or the operational log. SIGHUP reopens the file (rotation);
AUDIT_LOG=- writes to stdout.

The writer thread is asynchronous: lines are waited for by polling the file
with a deadline. Agents run with WORKERS=1 so that all records come from
one producer ring, in request order: "this line and no other" can then be
asserted once a later sentinel line has been written."""

import base64
import json
import os
import re
import signal
import socket
import struct
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$")
# Field order of every record (auth/audit.h); a record has a subset.
FIELD_ORDER = ["time", "level", "msg", "event", "actor", "method", "path", "operation",
               "stack", "container", "exec_id", "key_id", "outcome", "status",
               "duration_ms", "credential", "reason", "truncated"]


def parse_lines(data, what):
    """Complete lines of `data` (bytes) as JSON objects; a trailing partial
    line (the writer may be mid-write) is left out."""
    recs = []
    for line in data.split(b"\n")[:-1]:
        try:
            rec = json.loads(line)
        except ValueError:
            raise AssertionError("%s: not a JSON line: %r" % (what, line))
        if not isinstance(rec, dict):
            raise AssertionError("%s: not a JSON object: %r" % (what, line))
        recs.append(rec)
    return recs


def read_audit(path):
    try:
        with open(path, "rb") as f:
            return parse_lines(f.read(), path)
    except FileNotFoundError:
        return []


def wait_records(source, pred, what, agent=None, timeout=10.0):
    """Poll source() (a list of records) until pred(records) is true, with a
    deadline; returns the records. Fails early if the agent exited."""
    def fail():
        if agent is not None and not agent.alive():
            raise AssertionError("agent exited while waiting for %s\n%s" % (what, agent.dump()))
    found = []

    def ok():
        found[:] = source()
        return pred(found)
    try:
        lk.wait_until(ok, timeout, what, fail=fail)
    except AssertionError as e:
        raise AssertionError("%s\nrecords so far:\n  %s" % (
            e, "\n  ".join(json.dumps(r) for r in found)))
    return list(found)


def has(**fields):
    """Predicate over a record list: some record carries all these fields."""
    return lambda recs: any(all(r.get(k) == v for k, v in fields.items()) for r in recs)


def project(rec):
    """The fields a test pins down exactly (time and duration vary)."""
    return {k: v for k, v in rec.items() if k not in ("time", "duration_ms")}


def send_from(port, source, method, target, headers=None, body=b""):
    """One request from loopback address `source`, Connection: close;
    returns the status."""
    s = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0))
    try:
        lines = ["%s %s HTTP/1.1" % (method, target), "Host: x", "Connection: close"]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        if body:
            lines.append("Content-Length: %d" % len(body))
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    return int(data.split(b" ", 2)[1])


def pem_body(path):
    """The base64 lines of a PEM file, joined (the secret material)."""
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith("-----")]


class Audit(lk.TestCase):
    def setUp(self):
        self.dir = self.tmpdir()
        self.key = lk.SigningKey(self.dir, "a")
        self.other = lk.SigningKey(self.dir, "b")
        self.keys = os.path.join(self.dir, "authorized_keys")
        lk.write_keys(self.keys, self.key.line("controller"))
        self.token = "lk-audit-" + base64.b32encode(os.urandom(15)).decode().lower()
        self.path = os.path.join(self.dir, "audit.log")
        # Everything a request carried that must never be written anywhere.
        self.secrets = [self.token, "Bearer " + self.token] + pem_body(self.key.path) \
            + pem_body(self.other.path)

    def agent(self, **env):
        e = {"AUDIT_LOG": self.path, "TOKEN": self.token, "AUTHORIZED_KEYS": self.keys,
             "WORKERS": "1", "LOG_LEVEL": "debug"}
        e.update(env)
        return self.start_agent(e)

    def signed(self, method, target, body=b"", key=None, **kw):
        h = lk.sign_headers(key or self.key, method, target, body, **kw)
        for k, v in h.items():
            if k.endswith("-Signature"):
                self.secrets.append(v)
        if body:
            h["Content-Type"] = "application/json"
        return h

    def wrong_token(self, header="X-Lookout-Token"):
        t = "lk-wrong-" + os.urandom(8).hex()
        self.secrets.append(t)
        return {header: t}

    def check_format(self, recs):
        for r in recs:
            keys = list(r)
            self.assertEqual(keys, [k for k in FIELD_ORDER if k in r], r)
            self.assertTrue(set(keys) <= set(FIELD_ORDER), r)
            self.assertRegex(r["time"], TIME_RE)
            self.assertEqual((r["level"], r["msg"]), ("INFO", ""), r)
            for k in ("key_id", "credential", "reason"):
                # An optional field is there with a value, or not at all.
                self.assertNotEqual(r.get(k), "", "%s present but empty in %r" % (k, r))
            if r["event"] == "api_request":
                d = r["duration_ms"]
                self.assertTrue(isinstance(d, (int, float)) and not isinstance(d, bool), r)
                self.assertGreaterEqual(d, 0, r)
                self.assertLess(d, 60000, r)
            else:
                self.assertNotIn("status", r)
                self.assertNotIn("duration_ms", r)

    def assert_no_secrets(self, a, *files):
        texts = {"agent stderr": "\n".join(a.logs()), "agent stdout": "\n".join(a.stdout_lines())}
        for p in files:
            with open(p, "rb") as f:
                texts[p] = f.read().decode("utf-8", "replace")
        self.assertGreater(len(self.secrets), 4)
        for name, text in texts.items():
            for s in self.secrets:
                self.assertNotIn(s, text, "secret %r found in %s" % (s[:24], name))

    def test_records_and_no_secrets(self):
        a = self.agent()
        d = lk.shared_dockerd()
        signed_name = "lk-audit-s-%d" % os.getpid()
        token_name = "lk-audit-t-%d" % os.getpid()
        self.addCleanup(d.remove_container, signed_name)
        self.addCleanup(d.remove_container, token_name)
        create = json.dumps({"Image": "busybox:latest", "Cmd": ["true"]}).encode()

        # 1. A wrong token (Authorization: Bearer).
        bad = "lk-wrong-" + os.urandom(8).hex()
        self.secrets += [bad, "Bearer " + bad]
        st, _, _ = a.request("GET", "/_ping", {"Authorization": "Bearer " + bad})
        self.assertEqual(st, 401)
        # 2. No credential at all.
        self.assertEqual(a.request("GET", "/version")[0], 401)
        # 3. A bad signature (the other key under this key's ID), on a path
        #    with a query that must not reach the log.
        target = "/containers/json?all=1&filters=lk-query-marker"
        st, hd, _ = a.request("GET", target, self.signed("GET", target, key=self.other,
                                                         key_id=self.key.key_id))
        self.assertEqual((st, hd.get("x-lookout-reason")), (401, "invalid-signature"))
        # 4. A signed POST that passes.
        target = "/containers/create?name=" + signed_name
        st, _, body = a.request("POST", target, self.signed("POST", target, create), create)
        self.assertEqual(st, 201, body)
        # 5. A token POST and a token DELETE that pass (two more headers).
        h = {"Authorization": "Bearer " + self.token, "Content-Type": "application/json"}
        st, _, body = a.request("POST", "/containers/create?name=" + token_name, h, create)
        self.assertEqual(st, 201, body)
        st, _, body = a.request("DELETE", "/containers/" + token_name,
                                {"X-Portwing-Token": self.token})
        self.assertEqual(st, 204, body)
        # 6. Reads that pass are not audited: token GET, signed GET, HEAD,
        #    and the public health routes.
        st, _, _ = a.request("GET", "/containers/json", {"X-Lookout-Token": self.token})
        self.assertEqual(st, 200)
        self.assertEqual(a.request("GET", "/_ping", self.signed("GET", "/_ping"))[0], 200)
        self.assertEqual(a.request("HEAD", "/_ping", {"X-Dd-Agent-Secret": self.token})[0], 200)
        self.assertEqual(a.request("GET", "/health")[0], 200)
        self.assertEqual(a.request("GET", "/_lookout/health")[0], 200)
        # 7. A mutating request Docker refuses is audited with Docker's status.
        st, _, _ = a.request("DELETE", "/containers/lk-audit-none-%d" % os.getpid(),
                             {"X-Lookout-Token": self.token})
        self.assertEqual(st, 404)
        # 8. Sentinel: a refused POST. Once it is in the file, everything
        #    before it is too (one worker, one ring, in order).
        st, _, _ = a.request("POST", "/containers/create?name=x", self.wrong_token(), create)
        self.assertEqual(st, 401)

        recs = wait_records(lambda: read_audit(self.path),
                            has(event="auth_failure", method="POST"), "the sentinel line", a)
        self.check_format(recs)
        for r in recs:
            self.assertEqual(r["actor"], "127.0.0.1", r)
        fail = {"level": "INFO", "msg": "", "event": "auth_failure", "actor": "127.0.0.1",
                "outcome": "denied"}
        ok = {"level": "INFO", "msg": "", "event": "api_request", "actor": "127.0.0.1",
              "outcome": "allowed"}
        self.assertEqual([project(r) for r in recs], [
            dict(fail, method="GET", path="/_ping", reason="no valid token", credential="token"),
            dict(fail, method="GET", path="/version", reason="no valid token"),
            dict(fail, method="GET", path="/containers/json", reason="invalid-signature",
                 credential="ed25519"),
            dict(ok, method="POST", path="/containers/create", key_id=self.key.key_id,
                 status=201, credential="ed25519"),
            dict(ok, method="POST", path="/containers/create", status=201, credential="token"),
            dict(ok, method="DELETE", path="/containers/" + token_name, status=204,
                 credential="token"),
            dict(ok, method="DELETE", path="/containers/lk-audit-none-%d" % os.getpid(),
                 status=404, credential="token"),
            dict(fail, method="POST", path="/containers/create", reason="no valid token",
                 credential="token"),
        ])
        with open(self.path, "rb") as f:
            raw = f.read()
        self.assertNotIn(b"lk-query-marker", raw)
        self.assertNotIn(b"name=", raw)
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)
        self.assert_no_secrets(a, self.path)

    def test_rate_limited(self):
        a = self.agent()
        src = "127.0.0.%d" % (100 + os.getpid() % 100)
        for _ in range(10):
            self.assertEqual(send_from(a.port, src, "GET", "/_ping", self.wrong_token()), 401)
        # The 11th attempt is refused by the limiter, even with the token.
        st = send_from(a.port, src, "POST", "/containers/create?name=lk-never",
                       {"X-Lookout-Token": self.token}, b"{}")
        self.assertEqual(st, 429)
        recs = wait_records(lambda: read_audit(self.path), has(event="rate_limited"),
                            "the rate_limited line", a)
        self.check_format(recs)
        self.assertEqual([(r["event"], r["actor"], r["method"], r["path"], r["outcome"])
                          for r in recs],
                         [("auth_failure", src, "GET", "/_ping", "denied")] * 10
                         + [("rate_limited", src, "POST", "/containers/create", "denied")])
        self.assertIn("reason", recs[-1])
        # Nothing was created: the limiter answered before Docker.
        self.assertEqual(lk.shared_dockerd().api("GET", "/containers/lk-never/json")[0], 404)
        self.assert_no_secrets(a, self.path)

    def test_client_gone_before_the_answer(self):
        # A mutating request Docker acted on is audited even when the client
        # leaves before Docker's answer (status 0: none was seen). Here a
        # stop of a container that ignores SIGTERM (PID 1) makes Docker wait
        # for t seconds after signalling; the client declared a body it
        # never finishes (Docker's stop handler does not read it) and resets
        # the connection once Docker's `kill` event shows the stop began.
        a = self.agent()
        d = lk.shared_dockerd()
        name = "lk-audit-gone-%d" % os.getpid()
        self.addCleanup(d.remove_container, name)
        since = int(time.time()) - 2
        st, body = d.api_json("POST", "/containers/create?name=" + name,
                              {"Image": "busybox:latest", "Cmd": ["sleep", "600"]})
        self.assertEqual(st, 201, body)
        self.assertEqual(d.api("POST", "/containers/%s/start" % name)[0], 204)
        # since= replays buffered events, so the subscription cannot miss
        # the kill however late it starts.
        flt = json.dumps({"container": [body["Id"]], "event": ["kill"]})
        with lk.UnixRawConn(d.socket, timeout=30) as ev:
            ev.send_request("GET", "/events?since=%d&filters=%s" % (since, urllib.parse.quote(flt)))
            st, hd, _ = lk.read_head(ev)
            self.assertEqual(st, 200)
            events = lk.BodyReader(ev, hd)
            c = a.raw()
            try:
                c.send("POST /containers/%s/stop?t=30 HTTP/1.1\r\nHost: x\r\n"
                       "X-Lookout-Token: %s\r\nContent-Length: 100\r\n\r\n{" % (name, self.token))
                events.read_until(b'"kill"', timeout=20)
            finally:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
        recs = wait_records(lambda: read_audit(self.path), has(event="api_request"),
                            "the api_request line of the abandoned stop", a)
        self.check_format(recs)
        self.assertEqual([project(r) for r in recs], [
            {"level": "INFO", "msg": "", "event": "api_request", "actor": "127.0.0.1",
             "method": "POST", "path": "/containers/%s/stop" % name, "outcome": "allowed",
             "status": 0, "credential": "token"}])

    def test_reopen_on_sighup(self):
        a = self.agent()
        self.assertEqual(a.request("GET", "/before-rotation", self.wrong_token())[0], 401)
        wait_records(lambda: read_audit(self.path), has(path="/before-rotation"),
                     "the first line", a)
        rotated = self.path + ".1"
        os.rename(self.path, rotated)
        mark = a.mark()
        a.send_signal(signal.SIGHUP)
        a.wait_log("SIGHUP: audit log reopen requested", start=mark)
        # The writer reopens by path: a new file appears at the old name.
        lk.wait_until(lambda: os.path.exists(self.path), 10, "the reopened audit file")
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)
        self.assertEqual(a.request("GET", "/after-rotation", self.wrong_token())[0], 401)
        recs = wait_records(lambda: read_audit(self.path), has(path="/after-rotation"),
                            "the line after rotation", a)
        self.assertEqual([r["path"] for r in recs], ["/after-rotation"])
        self.assertEqual([r["path"] for r in read_audit(rotated)], ["/before-rotation"])
        self.assert_no_secrets(a, self.path, rotated)

    def test_stdout(self):
        a = self.agent(AUDIT_LOG="-")
        self.assertEqual(a.request("GET", "/via-stdout", self.wrong_token())[0], 401)
        recs = wait_records(lambda: parse_lines("".join(l + "\n" for l in a.stdout_lines()).encode(),
                                                "stdout"),
                            has(path="/via-stdout"), "the line on stdout", a)
        self.check_format(recs)
        self.assertEqual([(r["event"], r["actor"], r["method"]) for r in recs],
                         [("auth_failure", "127.0.0.1", "GET")])
        # The operational log stays on stderr, the audit log alone on stdout.
        self.assertFalse([r for r in a.records() if r.get("event")])
        self.assertFalse(os.path.exists(self.path))
        self.assert_no_secrets(a)

    def test_write_failure_is_counted_and_logged(self):
        # /dev/full takes the open and refuses every write (ENOSPC): the
        # request is still answered, the failure logged once, not per line.
        a = self.agent(AUDIT_LOG="/dev/full")
        for i in range(3):
            self.assertEqual(a.request("GET", "/full-%d" % i, self.wrong_token())[0], 401)
        rec = a.wait_log(lambda r: r and r.get("msg") == "audit log write failed, retrying", 10)
        self.assertIn("No space left", rec["error"])
        self.assertEqual(a.request("GET", "/_ping", {"X-Lookout-Token": self.token})[0], 200)
        self.assertEqual(len(a.find_logs("audit log write failed, retrying")), 1)

    def test_token_hash_credential(self):
        # TOKEN_HASH (spec 17.2 vector: token "supersecret"): the credential
        # kind is argon2id, admitted or refused.
        phc = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$Vf1+b01ndMBnHKyLYw5ScGMmant1xMbhyCCYSWbTQCo"
        self.secrets += ["supersecret", "Bearer supersecret"]
        a = self.agent(TOKEN=None, AUTHORIZED_KEYS=None, TOKEN_HASH=phc)
        miss = "/containers/lk-audit-none-%d" % os.getpid()
        self.assertEqual(a.request("DELETE", miss, {"Authorization": "Bearer supersecret"})[0], 404)
        self.assertEqual(a.request("DELETE", miss, self.wrong_token("X-Dd-Agent-Secret"))[0], 401)
        self.assertEqual(a.request("DELETE", miss)[0], 401)
        recs = wait_records(lambda: read_audit(self.path), lambda rs: len(rs) >= 3,
                            "three lines", a)
        self.check_format(recs)
        self.assertEqual([(r["event"], r.get("status"), r.get("credential")) for r in recs],
                         [("api_request", 404, "argon2id"), ("auth_failure", None, "argon2id"),
                          ("auth_failure", None, None)])
        self.assert_no_secrets(a, self.path)

    def test_unauthenticated_actor_is_empty(self):
        # Spec 11: with authentication disabled the actor is "" and there
        # is no credential to name.
        a = self.agent(TOKEN=None, AUTHORIZED_KEYS=None, ALLOW_UNAUTHENTICATED="true")
        name = "lk-audit-u-%d" % os.getpid()
        self.addCleanup(lk.shared_dockerd().remove_container, name)
        self.assertEqual(a.request("GET", "/_ping")[0], 200)
        st, _, body = a.request("POST", "/containers/create?name=" + name, None,
                                {"Image": "busybox:latest", "Cmd": ["true"]})
        self.assertEqual(st, 201, body)
        recs = wait_records(lambda: read_audit(self.path), has(event="api_request"),
                            "the api_request line", a)
        self.check_format(recs)
        self.assertEqual([project(r) for r in recs], [
            {"level": "INFO", "msg": "", "event": "api_request", "actor": "", "method": "POST",
             "path": "/containers/create", "outcome": "allowed", "status": 201}])


if __name__ == "__main__":
    lk.main()
