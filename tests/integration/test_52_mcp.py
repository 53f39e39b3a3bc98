"""MCP over HTTP (issue 5, point 6; spec lookout-core 13): JSON-RPC 2.0 at
/_lookout/mcp behind authentication, protocol 2025-11-25, the five
read-only tools against a real container, environment values never
returned, errors as JSON-RPC errors, a bounded body."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

SECRET = "s3cr3t-" + os.urandom(6).hex()


class Mcp(lk.TestCase):
    @classmethod
    def setUpClass(cls):
        d = lk.shared_dockerd()
        cls.name = "lk-mcp-%d" % os.getpid()
        d.docker("run", "-d", "--name", cls.name, "-e", "API_KEY=" + SECRET, "busybox:latest",
                 "sh", "-c", "echo hello-out; echo hello-err >&2; sleep 300")
        _, info = d.api_json("GET", "/containers/%s/json" % cls.name)
        cls.cid = info["Id"]
        # The container printed both lines before the tests read its logs.
        lk.wait_until(lambda: b"hello-err" in d.api("GET", "/containers/%s/logs?stdout=1&stderr=1"
                                                      % cls.name)[2], 30, "container output")

    @classmethod
    def tearDownClass(cls):
        lk.shared_dockerd().remove_container(cls.name)

    def setUp(self):
        self.a = self.start_agent({})

    def rpc(self, method, params=None, id_=1, headers=None):
        msg = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            msg["params"] = params
        h = dict(self.a.auth_headers(), **{"Content-Type": "application/json"})
        h.update(headers or {})
        st, hd, body = self.a.request("POST", "/_lookout/mcp", h, json.dumps(msg).encode())
        return st, hd, body

    def call(self, tool, args=None):
        st, _, body = self.rpc("tools/call", {"name": tool, "arguments": args or {}})
        self.assertEqual(st, 200, body)
        r = json.loads(body)
        self.assertEqual((r["jsonrpc"], r["id"]), ("2.0", 1))
        res = r["result"]
        self.assertEqual(res["content"][0]["type"], "text")
        return res["isError"], res["content"][0]["text"]

    def test_protocol(self):
        self.assertEqual(self.a.request("POST", "/_lookout/mcp", {}, b"{}")[0], 401)
        st, hd, body = self.rpc("initialize", {"protocolVersion": "1999-01-01"})
        self.assertEqual(st, 200)
        self.assertEqual(hd["content-type"], "application/json")
        r = json.loads(body)["result"]
        self.assertEqual(r["protocolVersion"], "2025-11-25")
        self.assertEqual(r["serverInfo"]["name"], "lookout")
        st, _, body = self.rpc("notifications/initialized")
        self.assertEqual((st, body), (202, b""))
        self.assertEqual(json.loads(self.rpc("ping", id_="abc")[2]), {"jsonrpc": "2.0", "id": "abc", "result": {}})
        tools = json.loads(self.rpc("tools/list")[2])["result"]["tools"]
        self.assertEqual(sorted(t["name"] for t in tools),
                         ["container_logs", "container_stats", "host_metrics", "inspect_container",
                          "list_containers"])
        err = json.loads(self.rpc("no/such")[2])["error"]
        self.assertEqual(err, {"code": -32601, "message": "method not found: no/such"})
        # Not a single object: parse error with id null.
        h = dict(self.a.auth_headers())
        st, _, body = self.a.request("POST", "/_lookout/mcp", h, b"[1,2]")
        self.assertEqual(json.loads(body), {"jsonrpc": "2.0", "id": None,
                                            "error": {"code": -32700, "message": "parse error"}})
        # GET: 405, empty (alias too).
        st, _, body = self.a.request("GET", "/_portwing/mcp", self.a.auth_headers())
        self.assertEqual((st, body), (405, b""))
        # A body over 1 MiB is refused whole, before it is read.
        with self.a.raw() as c:
            c.send(("POST /_lookout/mcp HTTP/1.1\r\nHost: x\r\nX-Lookout-Token: %s\r\n"
                    "Content-Length: %d\r\n\r\n" % (self.a.token, 1024 * 1024 + 1)).encode())
            self.assertEqual(c.read_response().status, 413)

    def test_tools_against_a_real_container(self):
        err, text = self.call("list_containers")
        self.assertFalse(err)
        mine = [c for c in json.loads(text) if c["id"] == self.cid]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["names"], ["/" + self.name])
        self.assertEqual(mine[0]["state"], "running")

        err, text = self.call("inspect_container", {"id": self.name})
        self.assertFalse(err)
        ins = json.loads(text)
        self.assertEqual(ins["id"], self.cid)
        self.assertGreaterEqual(ins["envCount"], 1)
        self.assertTrue(ins["state"]["Running"])
        self.assertNotIn(SECRET, text)

        err, text = self.call("container_logs", {"id": self.cid, "tail": 10})
        self.assertFalse(err)
        lines = json.loads(text)["lines"]
        self.assertIn("stdout: hello-out", lines)
        self.assertIn("stderr: hello-err", lines)

        err, text = self.call("container_stats", {"id": self.cid})
        self.assertFalse(err)
        st = json.loads(text)
        self.assertEqual(st["id"], self.cid)
        self.assertGreater(st["memUsage"], 0)

        err, text = self.call("host_metrics")
        self.assertFalse(err)
        hm = json.loads(text)
        self.assertGreaterEqual(hm["cpuCores"], 1)
        self.assertGreater(hm["memoryTotal"], 0)

        # Tool-level failures are results with isError.
        err, text = self.call("inspect_container", {"id": "lk-no-such-container"})
        self.assertTrue(err)
        self.assertTrue(text.startswith("inspect container: "), text)
        err, text = self.call("inspect_container", {"id": "../../etc"})
        self.assertTrue(err)
        self.assertEqual(text, "id is required")

    def test_signed_mcp_request(self):
        dir_ = self.tmpdir()
        key = lk.SigningKey(dir_, "k")
        keys = os.path.join(dir_, "authorized_keys")
        lk.write_keys(keys, key.line())
        a = self.start_agent({"AUTHORIZED_KEYS": keys})
        body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}).encode()
        h = lk.sign_headers(key, "POST", "/_lookout/mcp", body)
        st, _, rb = a.request("POST", "/_lookout/mcp", h, body)
        self.assertEqual(st, 200, rb)
        self.assertEqual(len(json.loads(rb)["result"]["tools"]), 5)
        # A signed body may be up to 64 MiB, but MCP's limit still holds.
        big = b" " * (1024 * 1024 + 1)
        h = lk.sign_headers(key, "POST", "/_lookout/mcp", big)
        st, _, _ = a.request("POST", "/_lookout/mcp", h, big)
        self.assertEqual(st, 413)
        self.assertTrue(a.alive())


if __name__ == "__main__":
    lk.main()
