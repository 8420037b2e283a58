#!/usr/bin/env python3
"""One broker per store (issue #21): the disk store is locked while a broker
has it open.

1. A broker holds 20,000 queued tasks (no worker). A second broker on the
   same --store-dir exits non-zero at once with a message naming the
   directory and the first broker's pid; every file of the store is
   byte-for-byte unchanged (contents, size, inode, mtime) and the first
   broker's stats are unchanged. `--check-store` on the running store says a
   broker runs there and exits non-zero.
2. Under load (workers running, a producer streaming), more second brokers
   are started and refused; the first one's producers and workers go on.
3. A shared flock on the lock file (what --check-store holds) refuses a
   broker too, naming the check as the likely holder.
4. SIGKILL of the first broker: a new one starts on the store at once (the
   kernel dropped the lock); every accepted task runs (ledger: lost = 0,
   duplicates only from the kill).
"""
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled, free_port, check_store

QUEUED = scaled(20000)
STREAMED = scaled(20000)


def snapshot(store):
    """Every file under the store: size, inode, mtime and a hash of its bytes."""
    out = {}
    for root, _, files in os.walk(store):
        for name in files:
            path = os.path.join(root, name)
            st = os.stat(path)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(path, store)] = (st.st_size, st.st_ino, st.st_mtime_ns, digest)
    return out


def second_broker(c, store, timeout=20):
    """Starts another broker on `store` (its own ports); returns (rc, output, seconds)."""
    argv = [os.path.join(c.bin_dir, "fling-broker"),
            "--producer-endpoint", "tcp://127.0.0.1:%d" % free_port(),
            "--worker-endpoint", "tcp://127.0.0.1:%d" % free_port()] + c.disk_broker_args(store)
    started = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:  # run() killed it
        out = e.stdout or b""
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        raise AssertionError("a second broker started on a held store and ran for %ds:\n%s"
                             % (timeout, out[-1500:]))
    return r.returncode, r.stdout + r.stderr, time.monotonic() - started


def expect_refused(c, store, holder_pid=None, holder_text=None):
    rc, text, seconds = second_broker(c, store)
    print("second broker: rc=%d in %.2fs: %s" % (rc, seconds, text.strip().splitlines()[0] if text.strip() else ""),
          flush=True)
    assert rc != 0, "a second broker started on a held store:\n%s" % text
    assert store in text, "the refusal does not name the directory:\n%s" % text
    if holder_pid is not None:
        assert "pid %d" % holder_pid in text, "the refusal does not name the holder pid %d:\n%s" % (holder_pid, text)
    if holder_text is not None:
        assert holder_text in text, "expected %r in the refusal:\n%s" % (holder_text, text)
    return seconds


def counters_of(st):
    keep = dict(st.get("counters", {}))
    return keep, st.get("tasks")


def test():
    with FaultCluster("storelock") as c:
        c.require_disk_store()
        store = c.path("store")
        args = c.disk_broker_args(store)
        first = c.start_broker(*args)

        # 1. idle store: refused, nothing changed
        load = c.start_load("--count", str(QUEUED), "--name", "test.noop")
        assert c.load_summary(load, timeout=120)["accepted"] == QUEUED
        time.sleep(1.5)  # one maintenance pass of the idle broker
        files_before = snapshot(store)
        stats_before = counters_of(c.stats())
        assert "broker.lock" in files_before, sorted(files_before)
        for _ in range(3):
            expect_refused(c, store, holder_pid=first.pid)
        chk = subprocess.run([os.path.join(c.bin_dir, "fling-broker"), "--check-store", store],
                             capture_output=True, text=True, timeout=60)
        print("check-store on the running store: rc=%d %s" % (chk.returncode, chk.stderr.strip()[:300]),
              flush=True)
        assert chk.returncode != 0 and "broker is running" in chk.stderr, (chk.returncode, chk.stderr)
        files_after = snapshot(store)
        changed = sorted(k for k in set(files_before) | set(files_after)
                         if files_before.get(k) != files_after.get(k))
        assert not changed, "refused brokers changed the store: %s" % changed
        assert counters_of(c.stats()) == stats_before, "the first broker's counters moved"
        assert first.alive()

        # 2. under load: refusals do not disturb producers or workers
        workers = [c.start_worker("--pool-size", "2", name="w%d" % i) for i in range(2)]
        stream = c.start_load("--count", str(STREAMED), "--name", "test.noop,test.block", "--ms", "1",
                              "--rate", str(max(1, STREAMED // 8)))
        deadline = time.monotonic() + 6
        refusals = 0
        while time.monotonic() < deadline:
            expect_refused(c, store, holder_pid=first.pid)
            refusals += 1
            time.sleep(0.5)
        summary = c.load_summary(stream, timeout=120)
        assert summary["accepted"] == STREAMED, summary
        c.wait_accepted_done(timeout=120)
        c.judge(max_duplicates=0, must_live=[first] + workers, extra={"refused_brokers": refusals + 3})

        # 3. a shared lock (as --check-store takes) also keeps a broker out
        c.event("broker-SIGTERM", first)
        assert c.stop(first, signal.SIGTERM) == 0
        with open(os.path.join(store, "broker.lock"), "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            expect_refused(c, store, holder_text="check-store")
        check = check_store(c, store)
        assert check["rc"] == 0 and check["live_tasks"] == 0, check

        # 4. SIGKILL: the next broker starts at once
        c.start_broker(*args, same_ports=True, name="broker.1")
        more = c.start_load("--count", str(scaled(5000)), "--name", "test.block", "--ms", "2",
                            "--rate", str(max(1, scaled(5000) // 4)))
        time.sleep(1.5)
        killed = c.broker
        t0 = time.monotonic()
        c.restart_broker(sig=signal.SIGKILL, down_s=0)
        restart_s = time.monotonic() - t0
        print("restart after SIGKILL ready in %.2fs" % restart_s, flush=True)
        assert "in use" not in c.broker.log(), c.broker.log()[-2000:]
        assert not killed.alive()
        for w in workers:
            c.faulted_pids.add(w.pid)  # tasks in flight at the kill may run twice
        s = c.load_summary(more, timeout=180)
        print("producer across the kill:", {k: s.get(k) for k in ("accepted", "rejected", "rc")}, flush=True)
        c.wait_accepted_done(timeout=180)
        time.sleep(1)
        c.judge(max_duplicates=64, must_live=[c.broker] + workers, explain=False,
                extra={"restart_after_sigkill_s": round(restart_s, 2)})


run(test)
