#!/usr/bin/env python3
"""S01-S05, S07-S09 (SECURITY.md, tests): the doors of a CURVE broker.

One broker with CURVE, a worker (worker key) and a producer (producer key)
moving a normal load of 5,000 tasks while, beside it:

  S01  an unlisted key sends 1,000 tasks: none reaches the broker (no
       answer), the broker counts the refused handshakes;
  S02  the listed producer's tasks are accepted and run (the ledger: 0 lost);
  S03  a producer key sends READY / RESULT, a worker key SUBMITs and asks
       for dead_purge, a producer key asks for admin ops: all FORBIDDEN,
       nothing changes (no worker registered, no task taken or added);
  S04  clients with the wrong broker public key say so (fling, fling-load)
       and the broker keeps serving;
  S05  a NULL-mechanism and a PLAIN client are refused at the handshake;
  and the HTTP port, which no key protects, refuses dead-letter retry and
  purge (403) while it still serves /metrics.

Then, each on a broker of its own:
  S07  the zauth step disabled by a test hook: the start-up self-test
       fails, the broker exits non-zero;
  S08  CURVE off: loopback only unless --insecure-bind (checked with ss);
  S09  a broker secret with mode 0644: refuses to start.
"""
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

from security_harness import SecurityCluster, run, settle

LOAD = 5000


def check_s01_unlisted(c):
    c.keygen("stranger", "producer", allow=False)
    out = c.attack("submit", "--count", 1000, "--timeout-ms", 500,
                   key="stranger")
    print("  S01 unlisted key:", out, flush=True)
    assert out["answered"] == 0 and out["errors"] == 0, out
    failed_auth = settle(lambda: c.connections()["handshakes"]["failed_auth"], 10,
                         "S01 handshakes refused (failed_auth)")
    assert failed_auth >= 1


def check_s03_roles(c, before):
    # a producer key registers as a worker for the load's name and would
    # answer DONE to everything it got
    thief = c.attack("worker", "--name", "test.noop", "--take", "--hold-ms", 1500, key="producer",
                     endpoint="worker")
    print("  S03 producer key as a worker:", thief, flush=True)
    assert thief["dispatched"] == 0 and thief.get("FORBIDDEN", 0) >= 1, thief
    forged = c.attack("forge", "--count", 50, key="producer", endpoint="worker")
    assert forged["sent"] == 50
    # a worker key submits, and asks to purge the dead-letter queue
    submit = c.attack("submit", "--count", 10, "--timeout-ms", 2000, key="worker")
    print("  S03 worker key submits:", submit, flush=True)
    # FLP/1.1 answers a refused SUBMIT with an ACK naming its batch: every
    # task FORBIDDEN, none taken
    assert submit.get("FORBIDDEN", 0) == submit["sent"] == 10 and submit.get("OK", 0) == 0, submit
    purge = c.attack("admin", "--op", '{"op":"dead_purge","all":true}', key="worker")
    assert purge.get("FORBIDDEN") == 1, purge
    # a producer key asks for the dead letters and the stats
    for op in ('{"op":"dead_list"}', '{"op":"stats"}'):
        out = c.attack("admin", "--op", op, key="producer")
        assert out.get("FORBIDDEN") == 1 and out["replies"] == 0, out
    r = c.fling("stats", key="producer")
    assert r.returncode == 1 and "FORBIDDEN" in r.stderr, r.stderr
    after = c.stats()
    names = [w["name"] for w in after["workers"]]
    assert names == ["worker1"], names  # the thief never registered
    assert after["refused"].get("FORBIDDEN", 0) >= 4, after["refused"]
    assert after["counters"]["stale_results"] == before["counters"]["stale_results"]
    assert after["rejected"].get("FORBIDDEN", 0) >= 10, after["rejected"]
    print("  S03 refused:", after["refused"], flush=True)


def check_s04_wrong_broker_key(c):
    c.keygen("fake-broker", "broker", allow=False)
    wrong = ["--curve-broker-key", c.key_path("fake-broker", "pub"),
             "--curve-key", c.key_path("admin", "secret")]
    r = subprocess.run([os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint,
                        "--timeout-ms", "1500"] + wrong + ["ping"],
                       capture_output=True, text=True, timeout=30)
    print("  S04 fling with the wrong broker key:", r.stderr.strip(), flush=True)
    assert r.returncode == 1 and "CURVE handshake" in r.stderr, r.stderr
    argv = [os.path.join(c.bin_dir, "fling-load"), "--endpoint", c.producer_endpoint, "--count",
            "10", "--flush-timeout-ms", "2000", "--json-summary",
            "--curve-broker-key", c.key_path("fake-broker", "pub"),
            "--curve-key", c.key_path("producer", "secret")]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    summary = json.loads([l for l in r.stdout.splitlines() if l.startswith("{")][-1])
    print("  S04 fling-load with the wrong broker key:", summary, flush=True)
    assert r.returncode == 1 and summary["accepted"] == 0 and summary["handshake_failures"] >= 1
    assert c.fling("ping").returncode == 0  # the broker is unaffected


def check_s05_mechanisms(c):
    r = subprocess.run([os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint,
                        "--timeout-ms", "1500", "ping"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "not reachable" in r.stderr, r
    plain = c.attack("submit", "--count", 10, "--timeout-ms", 1500, "--stop-on-silence",
                     "--plain", "admin:admin")
    assert plain["answered"] == 0 and plain["errors"] == 0, plain
    protocol = settle(lambda: c.connections()["handshakes"]["failed_protocol"], 10,
                      "S05 handshakes refused (failed_protocol)")
    assert protocol >= 2


def check_http_read_only(c):
    for action in ("retry", "purge"):
        request = urllib.request.Request("http://%s/api/dead/%s" % (c.http_addr, action),
                                         data=b'{"all":true}', method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        print("  HTTP %s: %d %s" % (action, status, body.decode(errors="replace")), flush=True)
        assert status == 403 and b"admin key" in body, (status, body)
    with urllib.request.urlopen("http://%s/metrics" % c.http_addr, timeout=10) as response:
        assert response.status == 200 and b"fling_connections" in response.read()


def test_doors():
    with SecurityCluster("curve-doors", curve=True) as c:
        c.start_broker(store="memory")
        c.start_worker("--pool-size", "2")
        before = c.stats()
        assert before["security"]["curve"] is True and before["security"]["allowed_keys"] == 3
        load = c.start_load("--count", str(LOAD), "--rate", "1000", "--name", "test.noop")
        check_s01_unlisted(c)
        check_s03_roles(c, before)
        check_s04_wrong_broker_key(c)
        check_s05_mechanisms(c)
        check_http_read_only(c)
        summary = c.load_summary(load, 120)
        print("  S02 load:", summary, flush=True)
        assert summary["accepted"] == LOAD and summary["rejected"] == 0
        c.wait_done(LOAD, 60)
        c.check(expect_accepted=LOAD)
        stats = c.stats()
        assert stats["counters"]["accepted"] == LOAD and stats["counters"]["done"] == LOAD
        assert stats["counters"]["forbidden_ids"] == 10  # the worker key's SUBMIT (S03)
        print("  connections:", json.dumps(stats["connections"]), flush=True)


def start_fails(c, *args, env=None, name="broker-bad"):
    """Starts a broker that must refuse to start; returns its log."""
    argv = [os.path.join(c.bin_dir, "fling-broker"), "--store", "memory"] + list(args)
    full = dict(os.environ)
    full.update(env or {})
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=full)
    assert r.returncode != 0, "%s started: %s" % (name, r.stderr)
    return r.stderr


def listening(pid):
    """The local addresses `pid` listens on (TCP), from ss."""
    r = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=10)
    return [line.split()[3] for line in r.stdout.splitlines() if "pid=%d," % pid in line]


def test_start_up():
    with SecurityCluster("curve-start", curve=True) as c:
        curve = ["--curve-key", c.key_path("broker", "secret"), "--curve-allowed", c.allowed_dir,
                 "--producer-endpoint", "tcp://127.0.0.1:*", "--worker-endpoint",
                 "tcp://127.0.0.1:*"]
        # S07: no ZAP handler -> the self-test catches it
        log = start_fails(c, *curve, env={"FLING_TEST_SKIP_ZAUTH": "1"})
        print("  S07:", log.strip().splitlines()[-1], flush=True)
        assert "self-test failed" in log
        # S09: a broker secret others can read
        os.chmod(c.key_path("broker", "secret"), 0o644)
        log = start_fails(c, *curve)
        print("  S09:", log.strip().splitlines()[-1], flush=True)
        assert "open to group or others" in log
        os.chmod(c.key_path("broker", "secret"), 0o600)
        # the allowed directory writable by others
        os.chmod(c.allowed_dir, 0o777)
        assert "writable by group or others" in start_fails(c, *curve)
        os.chmod(c.allowed_dir, 0o700)
        # S08: CURVE off binds loopback only, unless --insecure-bind
        log = start_fails(c, "--producer-endpoint", "tcp://0.0.0.0:*", "--worker-endpoint",
                          "tcp://127.0.0.1:*")
        print("  S08 refused:", log.strip().splitlines()[-1], flush=True)
        assert "not loopback" in log
    with SecurityCluster("curve-loopback") as c:
        broker = c.start_broker(store="memory")
        addresses = listening(broker.pid)
        print("  S08 CURVE off, default binds:", addresses, flush=True)
        assert addresses and all(a.startswith("127.0.0.1:") for a in addresses), addresses
        assert "CURVE off" in broker.log()
        c.stop(broker)
        broker = c.start_broker("--producer-endpoint", "tcp://0.0.0.0:*",
                                "--insecure-bind", name="broker-open", store="memory")
        addresses = listening(broker.pid)
        print("  S08 with --insecure-bind:", addresses, flush=True)
        assert any(a.startswith("0.0.0.0:") for a in addresses), addresses
        assert re.search(r"WARN CURVE off with --insecure-bind", broker.log())
        assert c.stats()["security"]["insecure_bind"] is True


def main():
    started = time.monotonic()
    test_doors()
    test_start_up()
    print("all doors held in %.1fs" % (time.monotonic() - started))


if __name__ == "__main__":
    run(main)
