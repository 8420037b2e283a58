#!/usr/bin/env python3
"""F13 clock jumps: the broker runs under libfaketime, whose wall clock jumps
+1 h, -1 h, +1 d, -1 d while pool tasks longer than the worker liveness
timeout (4 s vs 3 s) and a stream of short tasks run. No lease expires
because of a jump: worker_lost = 0, requeued = 0, no duplicate, all done.

What this proves: libfaketime is loaded with DONT_FAKE_MONOTONIC=1, so only
the wall clock (time, gettimeofday, clock_gettime(CLOCK_REALTIME)) jumps; a
real clock step cannot move CLOCK_MONOTONIC either. The test therefore shows
that no lease, liveness or timeout decision in the broker reads the wall
clock. It does not prove anything about a monotonic clock misbehaving (which
Linux does not allow). Delayed tasks (not_before) are not covered: the
broker has no delayed-task option yet."""
import datetime, os, re, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled, skip

LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1"]
JUMPS = ["+1h", "-1h", "+1d", "-1d", "+0"]
SHORT = scaled(6000)


def test():
    lib = next((p for p in LIBS if os.path.exists(p)), None)
    if not lib:
        skip("libfaketime is not installed", "apt-get install faketime (tools/install-deps does)")
    with FaultCluster("f13") as c:
        stamp = c.path("faketime.txt")
        with open(stamp, "w") as f:
            f.write("+0\n")
        c.start_broker(faketime={"_lib": lib, "FAKETIME_TIMESTAMP_FILE": stamp,
                                 "FAKETIME_CACHE_DURATION": "1", "DONT_FAKE_MONOTONIC": "1"})
        workers = [c.start_worker("--pool-size", "4", name="w%d" % i) for i in range(2)]
        long_ids = [c.send_task("test.block", {"ms": 4000}, "--task-timeout-ms", "60000")[1]
                    for _ in range(4)]
        load = c.start_load("--count", str(SHORT), "--name", "test.noop,test.async", "--ms", "2",
                            "--rate", str(SHORT // 12))
        seen_skew = 0.0
        for jump in JUMPS:
            time.sleep(2.2)
            with open(stamp, "w") as f:
                f.write(jump + "\n")
            c.event("clock " + jump, c.broker)
            if jump != "+0":
                # a new worker makes the broker log a line with its (faked) date
                workers.append(c.start_worker("--pool-size", "1", name="late%d" % len(workers)))
                for m in re.finditer(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", c.broker.log(), re.M):
                    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
                    skew = abs((t - datetime.datetime.utcnow()).total_seconds())
                    seen_skew = max(seen_skew, skew)
        summary = c.load_summary(load, timeout=120)
        assert summary["accepted"] == SHORT, summary
        c.wait_accepted_done(timeout=120)
        stats = c.counters()
        c.judge(max_duplicates=0, must_live=[c.broker] + workers, expect_accepted=SHORT + len(long_ids),
                extra={"worker_lost": stats.get("worker_lost"), "requeued": stats.get("requeued"),
                       "broker_log_max_clock_skew_s": round(seen_skew)})
        assert seen_skew > 1800, "the broker's wall clock never moved: faketime not effective"
        assert stats.get("worker_lost", 0) == 0 and stats.get("requeued", 0) == 0, stats


run(test)
