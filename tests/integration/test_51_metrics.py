"""Prometheus metrics (issue 5, point 5; spec lookout-core 12): /metrics and
/_lookout/metrics behind authentication, text format 0.0.4 that parses line
by line, the host families of the spec, the agent's counters moving with
real traffic, and the container families from a real running container."""
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lkharness as lk  # noqa: E402
from lkharness import setUpModule, tearDownModule  # noqa: E402,F401  (shared dockerd)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? '
                    r'(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def parse(text):
    """{family: type}, [(name, {labels}, value)]; asserts the exposition
    rules: HELP then TYPE before a family's samples, parseable values."""
    types, samples, current = {}, [], None
    lines = text.split("\n")
    assert lines[-1] == "", "the page ends with a newline"
    for ln in lines[:-1]:
        if ln.startswith("# HELP "):
            current = ln.split(" ", 3)[2]
            continue
        if ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ", 3)
            assert name == current, "TYPE %s after HELP %s" % (name, current)
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), ln
            assert name not in types, "family %s twice" % name
            types[name] = typ
            continue
        m = SAMPLE.match(ln)
        assert m, "bad sample line %r" % ln
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name) if types.get(current) == "histogram" else name
        assert base == current, "sample %s outside its family %s" % (name, current)
        v = m.group(3)
        value = float(v.replace("+Inf", "inf").replace("-Inf", "-inf"))
        labels = dict(LABEL.findall(m.group(2) or ""))
        samples.append((name, labels, value))
    return types, samples


def value(samples, family, **labels):
    got = [v for n, l, v in samples if n == family and all(l.get(k) == w for k, w in labels.items())]
    assert len(got) == 1, "%s %r: %r" % (family, labels, got)
    return got[0]


class Metrics(lk.TestCase):
    def scrape(self, a, path="/metrics"):
        st, hd, body = a.request("GET", path, a.auth_headers())
        self.assertEqual(st, 200, body)
        self.assertEqual(hd["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        return parse(body.decode())

    def test_families_and_counters(self):
        d = self.start_dockerd()
        a = self.start_agent({"SKIP_DF_COLLECTION": "true"}, dockerd=d)
        self.assertEqual(a.request("GET", "/metrics")[0], 401)
        types, s = self.scrape(a)
        order = [n for n in types]
        # The spec's families first, in its order.
        self.assertEqual(order[:9], [
            "lookout_build_info", "lookout_uptime_seconds", "lookout_host_cpu_usage_percent",
            "lookout_host_memory_total_bytes", "lookout_host_memory_used_bytes",
            "lookout_host_disk_total_bytes", "lookout_host_disk_used_bytes",
            "lookout_host_network_receive_bytes_total", "lookout_host_network_transmit_bytes_total"])
        ver = a.find_logs("starting lookout")[0]["version"]
        self.assertEqual(value(s, "lookout_build_info", version=ver), 1)
        with open("/proc/meminfo") as f:
            total = int(f.readline().split()[1]) * 1024
        self.assertEqual(value(s, "lookout_host_memory_total_bytes"), total)
        self.assertEqual(value(s, "lookout_host_disk_total_bytes"), 0)  # SKIP_DF_COLLECTION
        self.assertEqual(value(s, "lookout_docker_up"), 1)
        self.assertGreater(value(s, "lookout_process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(value(s, "lookout_process_open_fds"), 3)
        # No running container: the container families are left out.
        self.assertNotIn("container_cpu_usage_seconds_total", types)

        # Traffic moves the counters.
        before = value(s, "lookout_requests_total", **{"class": "proxy", "code": "2xx"})
        for _ in range(3):
            self.assertEqual(a.request("GET", "/_ping", a.auth_headers())[0], 200)
        self.assertEqual(a.request("GET", "/_ping", {"X-Lookout-Token": "wrong"})[0], 401)
        self.assertEqual(a.request("GET", "/health")[0], 200)
        types, s = self.scrape(a, "/_lookout/metrics")
        self.assertEqual(value(s, "lookout_requests_total", **{"class": "proxy", "code": "2xx"}),
                         before + 3)
        self.assertGreaterEqual(value(s, "lookout_requests_total", **{"class": "proxy", "code": "4xx"}), 1)
        self.assertGreaterEqual(value(s, "lookout_requests_total", **{"class": "health", "code": "2xx"}), 1)
        self.assertEqual(value(s, "lookout_auth_failures_total", reason="token"), 2)  # and the first /metrics
        self.assertEqual(value(s, "lookout_limiter_entries"), 1)
        self.assertGreater(value(s, "lookout_relayed_bytes_total", direction="to_client"), 0)
        # Histogram: cumulative buckets ending in +Inf == _count.
        self.assertEqual(types["lookout_request_duration_seconds"], "histogram")
        buckets = [(float(l["le"].replace("+Inf", "inf")), v) for n, l, v in s
                   if n == "lookout_request_duration_seconds_bucket" and l["class"] == "proxy"]
        self.assertEqual([b for b, _ in buckets], sorted(b for b, _ in buckets))
        self.assertTrue(math.isinf(buckets[-1][0]))
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(counts[-1], value(s, "lookout_request_duration_seconds_count", **{"class": "proxy"}))
        self.assertGreaterEqual(counts[-1], 4)

        # A running container shows up with its labels.
        name = "lk-metrics-%d" % os.getpid()
        d.docker("run", "-d", "--name", name, "busybox:latest", "sleep", "300")
        self.addCleanup(d.remove_container, name)
        _, info = d.api_json("GET", "/containers/%s/json" % name)
        types, s = self.scrape(a)
        for fam in ("container_cpu_usage_seconds_total", "container_memory_usage_bytes",
                    "container_spec_memory_limit_bytes", "container_network_receive_bytes_total",
                    "container_network_transmit_bytes_total"):
            self.assertIn(fam, types)
        labels = {"id": info["Id"], "name": name, "image": "busybox:latest"}
        self.assertGreater(value(s, "container_memory_usage_bytes", **labels), 0)
        self.assertGreaterEqual(value(s, "container_cpu_usage_seconds_total", **labels), 0)

        # Docker gone: reported, and the page still answers.
        d.stop_daemon()
        types, s = self.scrape(a)
        self.assertEqual(value(s, "lookout_docker_up"), 0)
        self.assertNotIn("container_memory_usage_bytes", types)

    def test_signed_failures_by_reason(self):
        dir_ = self.tmpdir()
        key = lk.SigningKey(dir_, "k")
        keys = os.path.join(dir_, "authorized_keys")
        lk.write_keys(keys, key.line())
        a = self.start_agent({"AUTHORIZED_KEYS": keys, "NONCE_LRU_SIZE": "64"})
        h = lk.sign_headers(key, "GET", "/_ping")
        self.assertEqual(a.request("GET", "/_ping", h)[0], 200)
        self.assertEqual(a.request("GET", "/_ping", h)[0], 401)  # replay
        stale = lk.sign_headers(key, "GET", "/_ping", ts=1)
        self.assertEqual(a.request("GET", "/_ping", stale)[0], 401)
        mh = lk.sign_headers(key, "GET", "/metrics")
        st, _, body = a.request("GET", "/metrics", mh)
        self.assertEqual(st, 200)
        types, s = parse(body.decode())
        self.assertEqual(value(s, "lookout_auth_failures_total", reason="replay"), 1)
        self.assertEqual(value(s, "lookout_auth_failures_total", reason="timestamp-skew"), 1)
        self.assertEqual(value(s, "lookout_nonce_slots"), 128)
        self.assertEqual(value(s, "lookout_nonce_entries"), 2)


if __name__ == "__main__":
    lk.main()
