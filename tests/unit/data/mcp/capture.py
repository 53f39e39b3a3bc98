#!/usr/bin/env python3
"""Capture the Docker answers test_mcp.c serves from its fake docker_get.

Runs a private dockerd (tests/integration/lkharness.py), starts one busybox
container with labels, two env vars (one a "secret"), a read-only bind
mount, a named volume, a restart policy, a health check and a user network,
plus one exited container, and saves the bodies of the calls the MCP tools
make next to this script. Captured with Docker 20.10.24 (API 1.41); the
tests assert on the IDs and values in these files, so update them together.
"""
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "integration"))
import lkharness as lk  # noqa: E402

CMD = "echo out1; echo err1 >&2; echo out2; echo err2 >&2; echo out3; printf partial; sleep 1000"


def main():
    hostdir = tempfile.mkdtemp(prefix="lk-mcp-")
    d = lk.DockerD().start()
    try:
        d.docker("network", "create", "lknet")
        d.docker("run", "-d", "--name", "web", "--label", "app=demo", "--label", "tier=front",
                 "-e", "API_KEY=s3cr3t-value", "-e", "MODE=prod",
                 "-v", hostdir + ":/data:ro", "-v", "cache:/cache",
                 "--restart", "unless-stopped", "--health-cmd", "true",
                 "--health-interval", "1s", "--network", "lknet",
                 "busybox", "sh", "-c", CMD)
        time.sleep(3)  # a few health checks, the log lines written
        d.docker("run", "--name", "done", "--network", "none", "busybox", "true")
        for name, path in [("containers.json", "/containers/json?all=1"),
                           ("inspect_web.json", "/containers/web/json"),
                           ("logs_web.bin", "/containers/web/logs?stdout=1&stderr=1&tail=5"),
                           ("stats_web.json", "/containers/web/stats?stream=false&one-shot=true"),
                           ("inspect_404.json", "/containers/nope/json"),
                           ("stats_done.json", "/containers/done/stats?stream=false&one-shot=true")]:
            st, _, body = d.api("GET", path)
            print(name, st, len(body))
            with open(os.path.join(HERE, name), "wb") as f:
                f.write(body)
    finally:
        d.stop()
        os.rmdir(hostdir)


if __name__ == "__main__":
    main()
