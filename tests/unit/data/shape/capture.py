#!/usr/bin/env python3
"""Regenerate the Docker JSON fixtures of tests/unit/test_shape.c.

Starts a private dockerd (tests/integration/lkharness.py), creates one
container per state the shape module maps, and saves what the agent's
inventory reads: the list (/containers/json?all=1) and each container's
inspect (/containers/{id}/json). Run as root from anywhere:

    python3 tests/unit/data/shape/capture.py

The containers and what they pin:
  web         running, healthy; published ports on a user-defined bridge
              (the harness's daemon has no default bridge), an exposed but
              unpublished port, bind/volume/tmpfs mounts, every dd.* label
              (a display name with quotes, a newline and non-ASCII), a
              secret in Config.Env, image ghcr.io/acme/web:v1.2
  paused      paused (Docker keeps Running=true), image localhost:5000/x
  restarting  restart loop (Docker sets Running=true and Restarting=true),
              image registry:5000/x:1
  created     never started (StartedAt is the zero time), image nginx:1.27
  exited      exited with code 0, no health check, image busybox
  unhealthy   health check failing
  starting    health check that has not run yet
  dead        NOT captured: Docker only marks a container dead when its
              removal fails half-way, which needs a broken storage driver.
              It is the exited container renamed "dead", its Id starting
              "dead", with State.Dead=true and State.Status="dead" (and
              "dead" in its list entry).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "integration"))
import lkharness as lk  # noqa: E402

NAMES = ("web", "paused", "restarting", "created", "exited", "unhealthy", "starting")


def inspect(d, name):
    st, j = d.api_json("GET", "/containers/%s/json" % name)
    assert st == 200, (name, st)
    return j


def wait_state(d, name, pred, what):
    return lk.wait_until(lambda: pred(inspect(d, name)["State"]), 60, "%s %s" % (name, what))


def save(name, obj):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def main():
    d = lk.DockerD().start()
    try:
        for ref in ("ghcr.io/acme/web:v1.2", "localhost:5000/x:latest", "registry:5000/x:1",
                    "nginx:1.27"):
            d.docker("tag", "busybox:latest", ref)
        d.docker("network", "create", "lknet")
        d.docker("volume", "create", "lkvol")
        d.docker("run", "-d", "--name", "web", "--network", "lknet",
                 "-p", "127.0.0.1:18080:80", "-p", "18443:443", "-p", "127.0.0.1:15353:53/udp",
                 "--expose", "9000",
                 "-v", "/tmp:/data:ro", "-v", "lkvol:/config",
                 "--mount", "type=tmpfs,dst=/scratch",
                 "--label", 'dd.display.name=W\u00e9b "front"\nline2',
                 "--label", "dd.display.icon=mdi-web",
                 "--label", "dd.tag.include=^v\\d+\\.\\d+$",
                 "--label", "dd.tag.exclude=beta",
                 "--label", "dd.tag.transform=s/^v//",
                 "--label", "dd.watch=true",
                 "--label", "com.example.team=edge",
                 "-e", "SECRET_TOKEN=hunter2-s3cr3t", "-e", "PLAIN=1",
                 "--health-cmd", "true", "--health-interval", "1s",
                 "ghcr.io/acme/web:v1.2", "sleep", "600")
        d.docker("run", "-d", "--name", "paused", "--network", "none",
                 "localhost:5000/x", "sleep", "600")
        d.docker("pause", "paused")
        d.docker("run", "-d", "--name", "restarting", "--network", "none",
                 "--restart", "always", "registry:5000/x:1", "sh", "-c", "exit 3")
        d.docker("create", "--name", "created", "--network", "none", "nginx:1.27", "true")
        d.docker("run", "--name", "exited", "--network", "none", "busybox", "true")
        d.docker("run", "-d", "--name", "unhealthy", "--network", "none",
                 "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1",
                 "busybox", "sleep", "600")
        d.docker("run", "-d", "--name", "starting", "--network", "none",
                 "--health-cmd", "true", "--health-interval", "1h",
                 "busybox", "sleep", "600")

        wait_state(d, "web", lambda s: s.get("Health", {}).get("Status") == "healthy", "healthy")
        wait_state(d, "unhealthy", lambda s: s.get("Health", {}).get("Status") == "unhealthy",
                   "unhealthy")
        wait_state(d, "restarting", lambda s: s["Restarting"], "restarting")
        wait_state(d, "exited", lambda s: s["Status"] == "exited", "exited")

        st, lst = d.api_json("GET", "/containers/json?all=1")
        assert st == 200
        # The restart loop may have left Restarting between the two reads.
        ins = {n: inspect(d, n) for n in NAMES}
        lk.wait_until(lambda: inspect(d, "restarting")["State"]["Restarting"], 60, "restarting")
        ins["restarting"] = inspect(d, "restarting")
        for e in lst:
            if e["Names"] == ["/restarting"]:
                e["State"] = "restarting"

        dead = json.loads(json.dumps(ins["exited"]))
        dead["State"]["Dead"] = True
        dead["State"]["Status"] = "dead"
        dead["Id"] = "dead" + dead["Id"][4:]
        dead["Name"] = "/dead"
        ins["dead"] = dead
        for e in list(lst):
            if e["Names"] == ["/exited"]:
                de = json.loads(json.dumps(e))
                de["State"] = "dead"
                de["Status"] = "Dead"
                de["Id"] = dead["Id"]
                de["Names"] = ["/dead"]
                lst.append(de)
                break
        save("list.json", lst)
        for n, j in ins.items():
            save("inspect-%s.json" % n, j)
        save("version.json", d.api_json("GET", "/version")[1])
    finally:
        for n in NAMES:
            d.remove_container(n)
        r = d.docker("network", "rm", "lknet", check=False)
        if r.returncode != 0:
            lk.log("network rm: %s" % r.stderr.decode(errors="replace"))
        d.docker("volume", "rm", "lkvol", check=False)
        d.stop()


if __name__ == "__main__":
    main()
