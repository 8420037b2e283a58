#!/usr/bin/env python3
"""Memory no peer can multiply (the issue's fifth attack), CURVE off.

Before: a worker announcing 2^32-1 credit that never read got a copy of
every queued task in its send queue, kept after it was declared lost (RSS
115 -> 214 -> 313 MB with two such peers); 400 unread `stats` requests with
10,000 queues took RSS from 246 to 553 MB, kept.

1. A slow worker serves 20,000 tasks of 1 KB while two deaf workers ask
   for 2^32-1 credit: one keeps pinging (alive, never reads), one falls
   silent. Their credit is capped (--max-worker-credit), the silent one is
   declared lost and its connection closed, the pinging one's leases
   expire and their credit stays taken (it never answered for them), so
   neither gets more than its real credit into its send queue. Every task
   runs (0 lost, none by the deaf ones); the broker's RSS stays bounded and
   comes back near where it was once they are gone.
2. 10,000 queues, then 400 `stats` requests that are never read: replies
   are paged (100 queues each), the peer is closed once 256 KiB of replies
   wait unread (deaf_closed), RSS barely moves.
"""
import time

from security_harness import SecurityCluster, rss_kb, run, sanitized, settle

TASKS = 20000
CREDIT = 2000


def sample_peak(broker, until, peak):
    while time.monotonic() < until:
        peak = max(peak, rss_kb(broker))
        time.sleep(0.2)
    return peak


def deaf_workers():
    with SecurityCluster("memory-deaf") as c:
        broker = c.start_broker("--max-worker-credit", str(CREDIT), "--task-timeout-ms", "1000",
                                store="memory")
        time.sleep(0.5)
        baseline = rss_kb(broker)
        talker = c.attack_start("worker", "--name", "test.block", "--capacity", 4294967295,
                                "--deaf", "--ping", "--hold-ms", 20000, endpoint="worker",
                                name="deaf-pinging")
        silent = c.attack_start("worker", "--name", "test.block", "--capacity", 4294967295,
                                "--deaf", "--hold-ms", 20000, endpoint="worker", name="deaf-silent")
        time.sleep(0.5)
        load = c.start_load("--count", str(TASKS), "--rate", "4000", "--name", "test.block",
                            "--payload-bytes", "1000")
        time.sleep(2)  # the deaf ones take their credit before the real worker comes
        c.start_worker("--pool-size", "4", "--prefetch", "0")
        peak = sample_peak(broker, time.monotonic() + 8, baseline)
        stats = c.stats()
        deaf = [w for w in stats["workers"] if w["name"] == "attacker"]
        print("  deaf workers now:", [(w["capacity"], w["inflight"]) for w in deaf], flush=True)
        assert all(w["capacity"]["loop"] <= CREDIT for w in deaf), deaf
        counters = stats["counters"]
        print("  credit_capped %d worker_lost %d lease_expired %d"
              % (counters["credit_capped"], counters["worker_lost"], counters["lease_expired"]),
              flush=True)
        assert counters["credit_capped"] >= 2 and counters["worker_lost"] >= 1
        assert stats["connections"]["policy_closed"] >= 1  # the lost one's queue freed
        summary = c.load_summary(load, 120)
        assert summary["accepted"] == TASKS, summary
        c.wait_done(TASKS, 120)
        peak = max(peak, rss_kb(broker))
        c.check(expect_accepted=TASKS)
        c.attack_result(talker, 30)
        c.attack_result(silent, 30)
        time.sleep(4)  # the pinging one falls silent too: lost, closed
        final = rss_kb(broker)
        stats = c.stats()
        print("  broker RSS baseline %d KB, peak %d KB, after %d KB; lease_expired %d"
              % (baseline, peak, final, stats["counters"]["lease_expired"]), flush=True)
        # 20,000 held tasks of ~1.1 KB plus at most 2 x 2,000 copies in
        # the deaf ones' queues: far below the 200 MB per peer of before.
        asan = sanitized(c.bin_dir)
        assert peak - baseline < (400 if asan else 80) * 1024, (baseline, peak)
        assert asan or final - baseline < 40 * 1024, (baseline, final)
        assert [w["name"] for w in stats["workers"]] == ["worker1"]


def admin_flood():
    with SecurityCluster("memory-admin") as c:
        broker = c.start_broker("--max-names", "20000", store="memory")
        for batch in range(40):
            load = c.start_load("--count", "256", "--name",
                                ",".join("q%d.%d" % (batch, i) for i in range(256)),
                                name="fill%d" % batch)
            assert c.load_summary(load, 60)["accepted"] == 256
        stats = c.stats()
        print("  queues: %d (stats shows %d of them)" % (stats["queues_total"],
                                                         len(stats["queues"])), flush=True)
        assert stats["queues_total"] >= 10000 and len(stats["queues"]) == 100
        time.sleep(0.5)
        baseline = rss_kb(broker)
        flood = c.attack_start("admin", "--repeat", 400, "--no-read", "--hold-ms", 5000,
                               "--op", '{"op":"stats"}')
        peak = sample_peak(broker, time.monotonic() + 5, baseline)
        out = c.attack_result(flood, 30)
        stats = c.stats()
        print("  400 unread stats: sent %d; broker RSS %d -> peak %d KB; deaf_closed %d"
              % (out.get("sent", 0), baseline, peak, stats["counters"]["deaf_closed"]), flush=True)
        assert peak - baseline < (160 if sanitized(c.bin_dir) else 40) * 1024, (baseline, peak)
        assert stats["counters"]["deaf_closed"] >= 1
        # a page further on, as an operator would ask
        page = c.attack("admin", "--op", '{"op":"stats","queues_offset":9900,"queues_limit":1000}')
        assert page["replies"] == 1 and page["reply_bytes"] < 1 << 20, page
        # the producer keys' tasks stay (no worker): purge them by name, one page
        purged = c.fling("queue", "purge", "q0.1", "--json")
        assert purged.returncode == 0 and '"purged":1' in purged.stdout, purged
        # the fill tasks are on purpose never run
        c.producer_ledgers.clear()


def main():
    deaf_workers()
    admin_flood()


if __name__ == "__main__":
    run(main)
