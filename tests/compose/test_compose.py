#!/usr/bin/env python3
"""Compose tests: the repository's docker-compose.yml on a real Docker Engine,
with container-level faults. Each case prints its lost and duplicate counts.

  test_compose.py image          build the base and test images (once per run)
  test_compose.py CASE           up | worker_loss | broker_restart | partition | scale | graceful_stop
                                 | store_lock | curve | monitoring
"""
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compose_stack import Stack, build_image, free_port, require_docker, sh, wait_until  # noqa: E402


def case_up():
    """a. The stack starts from nothing; 10,000 tasks all complete; down -v leaves nothing."""
    stack = Stack("up")
    started = time.monotonic()
    try:
        stack.up(workers=2)
        stack.start_load(10000, name="test.noop")
        summaries = stack.wait_loads(timeout=240)
        assert all(s.get("accepted") == 10000 for s in summaries), summaries
        stack.wait_done(10000, timeout=240)
        stack.report("up", time.monotonic() - started)
    finally:
        stack.down()
    left = stack.leftovers()
    print("after down -v: %s" % {k: len(v) for k, v in left.items()})
    assert not any(left.values()), "down -v left %s" % left


def case_worker_loss():
    """b. docker kill of one of three workers mid-run: its tasks run elsewhere."""
    stack = Stack("workerloss")
    started = time.monotonic()
    try:
        stack.up(workers=3)
        stack.start_load(6000, name="test.block", ms=5)
        stack.wait_done(800, timeout=120)
        victim = stack.containers("worker")[0]
        sh(["docker", "kill", victim])
        print("killed worker container %s" % victim[:12], flush=True)
        stack.wait_loads(timeout=240)
        stack.wait_done(6000, timeout=240)
        ledger = stack.ledger()
        in_flight = sum(1 for i, n in ledger.started.items() if ledger.done[i] < n)
        summary = stack.report("worker_loss", time.monotonic() - started, max_duplicates=64)
        print("  started but never finished at the kill: %d; duplicates: %d"
              % (in_flight, summary["duplicates"]))
    finally:
        stack.down()


def case_broker_restart():
    """c. compose restart broker, then docker kill + compose start broker, mid-run:
    with the store on its volume, nothing accepted is lost; clients reconnect."""
    stack = Stack("brokerrestart")
    started = time.monotonic()
    try:
        stack.up(workers=2)
        stack.start_load(20000, name="test.block", ms=1, rate=2000)
        stack.wait_done(2000, timeout=120)
        stack.run("restart", "-t", "10", "broker", timeout=120)
        print("broker restarted (compose restart)", flush=True)
        stack.wait_healthy()
        stack.wait_done(8000, timeout=180)
        sh(["docker", "kill", stack.containers("broker")[0]])
        print("broker container killed", flush=True)
        time.sleep(1)
        stack.run("start", "broker", timeout=120)
        stack.wait_healthy()
        summaries = stack.wait_loads(timeout=300)
        accepted = sum(s.get("accepted", 0) for s in summaries)
        print("  producer: %s" % summaries)
        stack.wait_done(accepted, timeout=300)
        stack.report("broker_restart", time.monotonic() - started, max_duplicates=2000)
    finally:
        stack.down()


def case_partition():
    """d. a worker cut off the compose network for 10 s: its tasks re-run elsewhere
    after its lease runs out; it rejoins and gets work again."""
    stack = Stack("partition")
    started = time.monotonic()
    try:
        stack.up(workers=2)
        stack.start_load(20000, name="test.block", ms=5, rate=800)  # ~25 s: spans the cut
        stack.wait_done(500, timeout=120)
        victim = stack.containers("worker")[0]
        network = "%s_default" % stack.project
        sh(["docker", "network", "disconnect", network, victim])
        print("worker %s disconnected" % victim[:12], flush=True)
        time.sleep(10)
        sh(["docker", "network", "connect", network, victim])
        print("worker %s reconnected" % victim[:12], flush=True)
        before = stack.done_by_container()
        stack.wait_loads(timeout=240)
        stack.wait_done(20000, timeout=240)
        after = stack.done_by_container()
        host = sh(["docker", "inspect", "-f", "{{.Config.Hostname}}", victim]).stdout.strip()
        gained = after.get(host + ".ledger", 0) - before.get(host + ".ledger", 0)
        stack.report("partition", time.monotonic() - started, max_duplicates=64)
        print("  the partitioned worker ran %d more tasks after it rejoined" % gained)
        assert gained > 0, "the partitioned worker got no work after rejoining"
    finally:
        stack.down()


def case_scale():
    """e. --scale worker=4: every worker gets at least half an equal share of 20,000 tasks."""
    stack = Stack("scale")
    started = time.monotonic()
    try:
        stack.up(workers=4)
        stack.start_load(20000, name="test.block", ms=2)
        stack.wait_loads(timeout=240)
        stack.wait_done(20000, timeout=240)
        stack.report("scale", time.monotonic() - started)
        shares = stack.done_by_container()
        print("  per worker: %s" % sorted(shares.values()))
        assert len(shares) == 4, shares
        assert min(shares.values()) >= 20000 / 4 / 2, shares
    finally:
        stack.down()


def case_graceful_stop():
    """f. compose stop worker mid-run: every started task finishes (none re-run
    because of the stop) and the workers exit 0 within their grace period."""
    stack = Stack("gracefulstop")
    started = time.monotonic()
    try:
        stack.up(workers=2)
        stack.start_load(400, name="test.block", ms=300)
        stack.wait_done(20, timeout=120)
        ids = stack.containers("worker")
        t0 = time.monotonic()
        stack.run("stop", "-t", "30", "worker", timeout=120)
        print("workers stopped in %.1f s" % (time.monotonic() - t0), flush=True)
        codes = [sh(["docker", "inspect", "-f", "{{.State.ExitCode}}", c]).stdout.strip() for c in ids]
        print("  exit codes: %s" % codes)
        assert all(code == "0" for code in codes), codes
        ledger = stack.ledger()
        unfinished = [i for i, n in ledger.started.items() if ledger.done[i] < n]
        assert not unfinished, "started tasks abandoned by the stop: %s" % unfinished[:5]
        stack.run("start", "worker", timeout=120)
        stack.wait_loads(timeout=240)
        stack.wait_done(400, timeout=240)
        summary = stack.report("graceful_stop", time.monotonic() - started)
        assert summary["duplicates"] == 0
    finally:
        stack.down()


def case_store_lock():
    """g. A second broker container on the same named volume (what `docker service
    scale broker=2` would make) is refused: non-zero exit, a message naming the
    store directory and the holder; the store's files are unchanged and the first
    broker goes on serving: 5,000 tasks after the refusal all run once."""
    stack = Stack("storelock")
    started = time.monotonic()
    store = "/var/lib/fling/store"
    listing = ["exec", "-T", "broker", "sh", "-c",
               "cd %s && ls -li --time-style=full-iso && sha256sum *" % store]
    try:
        stack.up(workers=1)
        stack.start_load(2000, name="test.noop")
        stack.wait_loads(timeout=120)
        stack.wait_done(2000, timeout=120)
        time.sleep(1.5)  # the broker is idle: nothing writes to the store
        before = stack.run(*listing).stdout
        second = stack.run("run", "--rm", "--no-deps", "-T", "broker", "fling-broker",
                           timeout=120, check=False)
        text = second.stdout + second.stderr
        print("second broker container: exit %d: %s" % (second.returncode, text.strip()[-600:]), flush=True)
        assert second.returncode != 0, "a second broker started on the shared volume:\n%s" % text
        assert "%s is in use" % store in text and "by broker pid" in text, text
        after = stack.run(*listing).stdout
        assert before == after, "the refused broker changed the store:\n%s\n----\n%s" % (before, after)
        stack.wait_healthy()
        stack.start_load(5000, name="test.noop")
        summaries = stack.wait_loads(timeout=240)
        assert all(s.get("accepted") in (2000, 5000) for s in summaries), summaries
        stack.wait_done(7000, timeout=240)
        stack.report("store_lock", time.monotonic() - started)
    finally:
        stack.down()


def mounted_volumes(container):
    """The named volumes a container mounts, by volume name."""
    out = sh(["docker", "inspect", "-f",
              "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}} {{end}}{{end}}", container])
    return sorted(out.stdout.split())


def case_curve():
    """h. CURVE in the stack (SECURITY.md): the keygen service made one key per party; each
    container mounts only its own key volume (its secret and the broker's public key);
    running keygen again changes nothing; the admin console works; a key the broker does not
    list is refused at the handshake; 3,000 tasks under the producer key all run once."""
    stack = Stack("curve")
    started = time.monotonic()
    try:
        stack.up(workers=2)
        own = {"broker": ["fling-keys-broker", "fling-store"], "worker": ["fling-keys-worker"]}
        for service, volumes in own.items():
            for container in stack.containers(service):
                # named volumes of this stack (the image's VOLUME adds an anonymous one)
                mounted = [v.split("_", 1)[1] for v in mounted_volumes(container)
                           if v.startswith(stack.project + "_")]
                print("%s mounts %s" % (service, mounted), flush=True)
                assert sorted(mounted) == sorted(volumes), (service, mounted)
        listing = stack.run("exec", "-T", "worker", "sh", "-c",
                            "find /var/lib/fling-keys -type f | sort").stdout.split()
        print("a worker sees: %s" % listing, flush=True)
        assert listing == ["/var/lib/fling-keys/worker/broker.pub",
                           "/var/lib/fling-keys/worker/worker.pub",
                           "/var/lib/fling-keys/worker/worker.secret"], listing
        broker_pub = open(os.path.join(stack.keys_dir, "broker.pub")).read()
        again = stack.run("run", "--rm", "-T", "keygen", timeout=120)
        assert "keys ready" in again.stdout + again.stderr, again
        fresh = sh(["docker", "run", "--rm", "-v", "%s_fling-keys-admin:/k:ro" % stack.project,
                    "--entrypoint", "cat", stack.image(), "/k/broker.pub"]).stdout
        assert fresh == broker_pub, "keygen made a new broker key on its second run"
        console = stack.run("run", "--rm", "-T", "admin", "fling", "stats", "--json", timeout=120)
        assert '"curve":true' in console.stdout, console.stdout[-500:]
        # a key nobody listed
        stranger = os.path.join(stack.dir, "stranger")
        os.makedirs(stranger)
        sh([os.path.join(stack.bin_dir, "fling"), "keygen", "--role", "admin", "--dir", stranger,
            "stranger"])
        r = subprocess.run([os.path.join(stack.bin_dir, "fling"), "--endpoint",
                            "tcp://127.0.0.1:%d" % stack.producer_port, "--timeout-ms", "3000",
                            "--curve-broker-key", os.path.join(stack.keys_dir, "broker.pub"),
                            "--curve-key", os.path.join(stranger, "stranger.secret"), "ping"],
                           capture_output=True, text=True, timeout=30)
        print("an unlisted key: %s" % r.stderr.strip(), flush=True)
        assert r.returncode == 1 and "refused this key" in r.stderr, r.stderr
        stack.start_load(3000, name="test.noop")
        summaries = stack.wait_loads(timeout=240)
        assert all(s.get("accepted") == 3000 for s in summaries), summaries
        stack.wait_done(3000, timeout=240)
        summary = stack.report("curve", time.monotonic() - started)
        assert summary["duplicates"] == 0
    finally:
        stack.down()


def prometheus_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as response:
        return json.loads(response.read())


def case_monitoring():
    """h. The monitoring profile: Prometheus (Debian's, built on the same base
    image) scrapes the broker and each worker replica it finds by DNS; all
    targets report up, and what it scraped agrees with the run: 2 workers
    registered, 3,000 tasks done."""
    stack = Stack("monitoring", profiles=["monitoring"])
    port = free_port()
    stack.env.update(FLING_PROMETHEUS_PORT=str(port),
                     FLING_PROMETHEUS_IMAGE="fling-prometheus:compose-test")
    started = time.monotonic()
    try:
        stack.run("build", "prometheus", timeout=900)
        stack.up(workers=2)
        stack.start_load(3000, name="test.noop")
        stack.wait_loads(timeout=120)
        stack.wait_done(3000, timeout=120)

        def targets_up():
            try:
                active = prometheus_get(port, "/api/v1/targets")["data"]["activeTargets"]
            except OSError:
                return False
            up = [(t["labels"]["job"], t["health"]) for t in active]
            print("  targets: %s" % up, flush=True)
            return sorted(up) == [("fling-broker", "up"), ("fling-worker", "up"), ("fling-worker", "up")]
        wait_until(targets_up, 120, interval=3, what="Prometheus to see 1 broker and 2 workers up")

        def value(query):
            result = prometheus_get(port, "/api/v1/query?query=" + urllib.parse.quote(query))
            series = result["data"]["result"]
            return float(series[0]["value"][1]) if series else None
        wait_until(lambda: value("sum(fling_tasks_done_total)") == 3000, 60, interval=3,
                   what="Prometheus to scrape 3000 done")
        assert value("fling_workers_registered") == 2
        assert value('sum(fling_worker_tasks_total{outcome="done"})') == 3000
        assert value("count(up == 1)") == 3
        stack.report("monitoring", time.monotonic() - started)
    finally:
        stack.down()


CASES = {"up": case_up, "worker_loss": case_worker_loss, "broker_restart": case_broker_restart,
         "partition": case_partition, "scale": case_scale, "graceful_stop": case_graceful_stop,
         "store_lock": case_store_lock, "curve": case_curve, "monitoring": case_monitoring}


def main(argv):
    if len(argv) != 1 or (argv[0] not in CASES and argv[0] != "image"):
        print(__doc__)
        return 2
    require_docker()  # exits 77 (skipped) without a Docker Engine
    started = time.monotonic()
    try:
        if argv[0] == "image":
            build_image()
        else:
            CASES[argv[0]]()
    except Exception as exc:  # noqa: BLE001 - any failure fails the case
        print("FAIL compose.%s after %.0f s: %s" % (argv[0], time.monotonic() - started, exc), flush=True)
        return 1
    print("PASS compose.%s in %.0f s" % (argv[0], time.monotonic() - started), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
