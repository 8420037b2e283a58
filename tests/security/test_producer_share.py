#!/usr/bin/env python3
"""What one producer key can do to another (CURVE).

1. Id poisoning (the issue's second attack). Before: dead_list showed a
   producer's id prefix; pre-submitting the next 3,000 ids under another
   name made the real producer's tasks come back DUPLICATE (accepted=3000,
   only 311 ran). Now an id's prefix is its key's tag: another key that
   submits 3,000 ids under the victim's prefix is refused FORBIDDEN for
   each (forbidden_ids), and the victim's 3,000 tasks all run.
2. One producer cannot take every slot: with --max-tasks 10,000, a key
   that floods a name nobody serves holds at most half (QUEUE_FULL beyond,
   producer_full counted) and another key's tasks are still accepted and run.
3. Queued work can be cleared: `fling queue purge NAME` (admin key) removes
   the flood's waiting tasks, counted (queue_purged), their ids then
   DUPLICATE in the window; a producer key may not purge.
"""
import json

from security_harness import SecurityCluster, run, settle


def tag_of(c, name):
    """The key's tag, as `fling keygen` printed it, from a fling-attack dry run."""
    out = c.attack("submit", "--count", 1, "--name", "probe.tag", "--timeout-ms", 2000, key=name)
    return out["prefix"]


def poisoning(c):
    victim_tag = tag_of(c, "producer")
    c.keygen("mallory", "producer")
    attack = c.attack("submit", "--prefix", victim_tag, "--count", 3000, "--name", "test.noop",
                      "--timeout-ms", 3000, key="mallory")
    print("  mallory under the victim's prefix:", attack, flush=True)
    assert attack["answered"] == 3000 and attack.get("FORBIDDEN") == 3000, attack
    attack = c.attack("submit", "--prefix", victim_tag, "--seq-start", 1, "--count", 3000,
                      "--name", "test.noop", "--timeout-ms", 3000, key="mallory")
    assert attack.get("FORBIDDEN") == 3000, attack
    load = c.start_load("--count", "3000", "--name", "test.noop")
    summary = c.load_summary(load, 60)
    print("  the victim's 3,000:", summary, flush=True)
    assert summary["accepted"] == 3000 and summary["rejected"] == 0
    c.wait_done(3000, 60)
    stats = c.stats()
    assert stats["counters"]["forbidden_ids"] == 6000, stats["counters"]
    assert stats["counters"]["duplicates"] == 0


def fair_share(c):
    flood = c.attack("submit", "--count", 8000, "--name", "nobody.serves.this",
                     "--timeout-ms", 5000, key="mallory")
    print("  mallory floods a name nobody serves:", flood, flush=True)
    assert flood.get("OK") == 5000 and flood.get("QUEUE_FULL") == 3000, flood
    counters = c.stats()["counters"]
    assert counters["producer_full"] == 3000, counters
    load = c.start_load("--count", "2000", "--name", "test.noop", name="honest")
    summary = c.load_summary(load, 60)
    print("  another key meanwhile:", summary, flush=True)
    assert summary["accepted"] == 2000 and summary["rejected"] == 0
    c.wait_done(3000 + 2000, 60)


def name_share():
    """A key that spreads one task over each of many made-up names holds at
    most half the name table (before: 10,000 tiny tasks under distinct
    names filled it for everyone, across restarts)."""
    with SecurityCluster("producer-names", curve=True) as c:
        c.keygen("mallory", "producer")
        c.start_broker("--max-names", "1000", store="disk")
        spread = c.attack("submit", "--count", 800, "--names", 800, "--timeout-ms", 5000,
                          key="mallory")
        print("  mallory spreads 800 tasks over 800 names:", spread, flush=True)
        assert spread.get("OK") == 500 and spread.get("QUEUE_FULL") == 300, spread
        fresh = c.start_load("--count", "100", "--name",
                             ",".join("fresh.%d" % i for i in range(100)), name="fresh")
        summary = c.load_summary(fresh, 60)
        print("  another key's 100 new names:", summary["accepted"], flush=True)
        assert summary["accepted"] == 100, summary
        c.producer_ledgers.clear()  # no worker serves those names, on purpose


def purge(c):
    r = c.fling("queue", "purge", "nobody.serves.this", key="producer")
    assert r.returncode == 1 and "FORBIDDEN" in r.stderr, r
    r = c.fling("queue", "purge", "nobody.serves.this", "--json")
    print("  queue purge:", r.stdout.strip(), flush=True)
    assert r.returncode == 0 and json.loads(r.stdout)["purged"] == 5000, r
    stats = c.stats()
    assert stats["counters"]["queue_purged"] == 5000
    held = [q for q in stats["queues"] if q["name"] == "nobody.serves.this"]
    assert not held or held[0]["queued"] == 0, held
    # purged ids enter the duplicate window, as dead_purge's do: the same
    # ids sent again (the tool counts from 1 again) are not new tasks
    again = c.attack("submit", "--count", 10, "--name", "nobody.serves.this",
                     "--timeout-ms", 3000, key="mallory")
    assert again.get("DUPLICATE") == 10, again


def test():
    with SecurityCluster("producer-share", curve=True) as c:
        c.start_broker("--max-tasks", "10000", store="memory")
        c.start_worker("--pool-size", "2")
        poisoning(c)
        fair_share(c)
        purge(c)
        c.check()
    name_share()


if __name__ == "__main__":
    run(test)
