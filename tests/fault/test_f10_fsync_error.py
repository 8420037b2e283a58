#!/usr/bin/env python3
"""F10 fsync error: under load, fdatasync returns EIO for half a second (I/O
fault shim). The shim then keeps that file's durable offset where it was, as
Linux may drop the dirty pages. No producer gets ACCEPTED for a batch whose
sync failed; the broker stops accepting (UNAVAILABLE, or exits, as
documented) and never reports success on a retried fsync: after a SIGKILL,
a power cut (every unsynced byte dropped) and a restart, every task ever
ACCEPTED is done and no refused task runs."""
import os, sys, signal, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled, power_cut, rng_for


def test():
    rng = rng_for("f10")
    with FaultCluster("f10") as c:
        c.require_disk_store()
        store = c.path("store")
        trigger = c.path("eio")
        sync_log = c.path("sync.log")
        env = {"FLING_FAULT_DIR": os.path.realpath(store) + "/", "FLING_FAULT_FSYNC_EIO": trigger,
               "FLING_FAULT_SYNC_LOG": sync_log}
        c.start_broker(*c.disk_broker_args(store), env=env, shim=True)
        workers = [c.start_worker("--pool-size", "2", name="w%d" % i) for i in range(2)]
        total = scaled(20000)
        load = c.start_load("--count", str(total), "--name", "test.noop,test.block", "--rate", "4000",
                            "--flush-timeout-ms", "20000")
        time.sleep(2)
        open(trigger, "w").close()
        c.event("eio-on", c.broker)
        time.sleep(0.5)
        os.unlink(trigger)
        time.sleep(2)
        state = "exited rc=%s" % c.broker.popen.poll() if not c.broker.alive() else "running"
        if c.broker.alive():
            st = c.stats()
            print("after EIO the broker is running; refused:", st.get("refused"), flush=True)
            c.kill(c.broker)
        print("broker after the fsync error:", state, flush=True)
        cut = power_cut(store, sync_log, rng)
        print("power cut:", cut, flush=True)
        c.start_broker(*c.disk_broker_args(store), same_ports=True, name="broker.1")
        summary = c.load_summary(load, timeout=120)
        print("producer:", summary, flush=True)
        c.wait_accepted_done(timeout=120)
        time.sleep(1)
        ledger = c.fault_ledger()
        reasons = sorted(set(ledger.rejected.values()))
        c.faulted_pids.update(w.pid for w in workers)
        c.judge(max_duplicates=2 * (2 + 1000), must_live=[c.broker] + workers, explain=False,
                extra={"broker_after_eio": state, "refusals": reasons})
        assert set(reasons) <= {"UNAVAILABLE"}, reasons
        assert "fdatasync" in c.procs[0].log() or "fsync" in c.procs[0].log(), "no fsync error logged"


run(test)
