"""Poison tasks among healthy ones (issue 15, "one crashing task takes
hundreds of innocent ones with it"): shared by test_poison_async.py and
test_poison_pool.py.

One worker, restarted 100 ms after it dies as a supervisor would, runs a
stream of healthy tasks; while they stream in, a few tasks whose handler
raises SIGSEGV are sent with `fling send`. The broker runs with its
defaults (poison limit 3, worker timeout 3 s, disk store). Judged by the
ledger: every poison task is dead-lettered `crashed` after exactly
`poison_limit` crashes charged to it, nothing else is dead-lettered, every
healthy task ran (lost = 0), and a healthy task ran twice only on a worker
that died (duplicates explained by the crashes).
"""
import time

from fault_harness import FaultCluster

POISON_LIMIT = 3  # the broker's default --poison-limit


def run_poison(name, handler, worker_args, healthy, poison, healthy_ms, rate, budget_s=240,
               max_restarts=80):
    with FaultCluster(name) as c:
        c.require("fling-broker", "--poison-limit")
        c.start_broker()
        workers = [c.start_worker(*worker_args, name="w0")]
        load = c.start_load("--count", str(healthy), "--name", handler, "--ms", str(healthy_ms),
                            "--rate", str(rate))
        started = time.monotonic()
        # The poison goes out while the healthy tasks stream in: one a second
        # from the first second on, each landing among running healthy tasks.
        spread = max(1.0, healthy / float(rate) / (poison + 1))
        poison_ids, crashes, dead = [], [], []
        deadline = started + budget_s
        while time.monotonic() < deadline:
            c.supervise(workers, crashes, limit=1, wait=False)
            if len(crashes) > max_restarts:
                raise AssertionError("%d worker restarts: the poison is not being isolated"
                                     % len(crashes))
            if len(poison_ids) < poison and time.monotonic() - started >= spread * (len(poison_ids) + 1):
                rc, task_id = c.send_task(handler, {"poison": True, "ms": healthy_ms})
                assert rc == 0, task_id
                poison_ids.append(task_id)
            if len(poison_ids) == poison and not load.alive():
                ledger = c.fault_ledger()
                dead = c.dead_list()
                healthy_left = ledger.accepted - set(poison_ids) - set(ledger.done)
                poison_dead = {d.get("id") for d in dead} & set(poison_ids)
                # Stop early once something innocent is dead-lettered: the
                # verdict below names it.
                if (not healthy_left and len(poison_dead) == poison) or \
                        len(dead) > len(poison_dead):
                    break
            time.sleep(0.2)
        summary = c.load_summary(load, timeout=60)
        assert summary["accepted"] == healthy, summary
        dead = {d.get("id"): d for d in c.dead_list()}
        ledger = c.fault_ledger()
        runs = {i: len(ledger.start_events[i]) for i in poison_ids}
        innocent = sorted(set(dead) - set(poison_ids))
        stats = c.stats()
        counters = stats.get("counters", {})
        print("poison runs: %s restarts: %d dead: %d innocent dead: %d counters: %s" % (
            sorted(runs.values()), len(crashes), len(dead), len(innocent),
            {k: counters.get(k) for k in ("crashed", "suspected", "trials", "worker_lost",
                                          "requeued", "dispatched")}), flush=True)
        assert not innocent, "%d innocent tasks dead-lettered, e.g. %s" % (
            len(innocent), [dead[i] for i in innocent[:3]])
        for i in poison_ids:
            assert i in dead, "poison task %s not dead-lettered after %.0fs" % (i, budget_s)
            assert dead[i].get("reason") == "crashed", dead[i]
            assert dead[i].get("crashes") == POISON_LIMIT, dead[i]
        # Every healthy task ran; a second run only where a worker died.
        c.judge(max_duplicates=len(crashes) * capacity_of(worker_args), must_live=[c.broker],
                max_lost=poison, extra={"restarts": len(crashes), "dead": len(dead)})
        assert ledger.summary()["lost"] == poison


def capacity_of(worker_args):
    """Tasks one worker may hold: its slots and their prefetch (default 1)."""
    args = dict(zip(worker_args[::2], worker_args[1::2]))
    slots = int(args.get("--async-limit", 1000)) + int(args.get("--pool-size", 2))
    return slots * (1 + int(args.get("--prefetch", 1)))
