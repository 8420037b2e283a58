#!/usr/bin/env python3
"""Unique keys under concurrent producers and a broker SIGKILL (issue 20;
proto/SPEC.md §3.6, §6.8 "Unique keys"; labels `scheduling` and `fault`).

Four producer processes (keyed_producer.py: raw FLP/1.2 SUBMITs, each its own
producer id) send the same KEYS keys at once, each in its own order, to a
disk-store broker with a worker connected. Then:
- each key is taken by exactly one task (one OK among the four producers),
  every other copy is answered DUPLICATE, and only the OK tasks run, once each;
- keys live past their tasks for their TTL: a send of group A (TTL 10 min) and
  of group B (TTL 8 s) right after they ran is DUPLICATE;
- group C goes to a paused name (its tasks are held, so their keys are too);
- the broker is SIGKILLed and restarted on the same store: A, B and C keys are
  all still held (DUPLICATE), recovered from the store's key notes (A, B) and
  task records (C);
- once B's TTL has passed, B's keys are free again: a new send runs once;
- C resumed runs once, and C's keys (TTL 0) are free as soon as it ran.
The ledgers must show every OK task done exactly once and no DUPLICATE-refused
task run (none lost, none twice)."""
import os, random, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

KEYS = scaled(200, minimum=20)
SMALL = max(KEYS // 4, 5)
PRODUCERS = 4
TTL_LONG_MS = 600000
TTL_B_MS = 8000
NAME = "test.noop"
PAUSED = "test.async"
HERE = os.path.dirname(os.path.abspath(__file__))


class Producers:
    def __init__(self, c):
        self.c = c
        self.next_producer = 0x7e57000000000001

    def send(self, name, ttl_ms, key_lists, start_at=0):
        """One keyed_producer.py per list, all started together; returns
        {key: [(id, status)]} over all of them."""
        procs = []
        for keys in key_lists:
            n = self.next_producer
            self.next_producer += 1
            keys_file = self.c.path("keys-%x.txt" % n)
            ledger = self.c.path("keys-%x.ledger" % n)
            with open(keys_file, "w") as f:
                f.writelines(k + "\n" for k in keys)
            self.c.producer_ledgers.append(ledger)
            argv = [sys.executable, os.path.join(HERE, "keyed_producer.py"),
                    self.c.producer_endpoint, "%016x" % n, name, str(ttl_ms), keys_file, ledger,
                    str(start_at)]
            procs.append((subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                           text=True), ledger))
        verdicts = {}
        for proc, ledger in procs:
            out, _ = proc.communicate(timeout=60)
            if proc.returncode == 77:
                sys.stdout.write(out)
                sys.exit(77)
            assert proc.returncode == 0, out
            with open(ledger) as f:
                for line in f:
                    parts = line.split()
                    if parts[0] == "accepted":
                        verdicts.setdefault(parts[2], []).append((parts[1], "OK"))
                    else:
                        verdicts.setdefault(parts[3], []).append((parts[1], parts[2]))
        return verdicts


def only_ok(verdicts, keys, what):
    """Exactly one OK per key, every other copy DUPLICATE; the OK ids."""
    ids = []
    for key in keys:
        statuses = sorted(s for _, s in verdicts[key])
        assert statuses.count("OK") == 1 and set(statuses) <= {"OK", "DUPLICATE"}, \
            "%s: key %s answered %s" % (what, key, statuses)
        ids += [i for i, s in verdicts[key] if s == "OK"]
    return ids


def all_status(verdicts, keys, status, what):
    bad = {k: verdicts[k] for k in keys if [s for _, s in verdicts[k]] != [status]}
    assert not bad, "%s: expected %s, got e.g. %s" % (what, status, list(bad.items())[:3])
    return [i for k in keys for i, _ in verdicts[k]]


def test():
    with FaultCluster("sched-keys") as c:
        c.require_disk_store()
        c.start_broker(*c.disk_broker_args(c.path("store")))
        c.start_worker()
        p = Producers(c)
        a_keys = ["user:%d:welcome" % i for i in range(KEYS)]
        b_keys = ["b-%d" % i for i in range(SMALL)]
        c_keys = ["c-%d" % i for i in range(SMALL)]
        rng = random.Random(20)
        orders = [rng.sample(a_keys, len(a_keys)) for _ in range(PRODUCERS)]

        t0 = time.time()
        verdicts = p.send(NAME, TTL_LONG_MS, orders, start_at=time.time() + 0.5)
        a_ids = only_ok(verdicts, a_keys, "4 producers at once")
        dups = sum(s == "DUPLICATE" for v in verdicts.values() for _, s in v)
        winners = sorted({i.split(":")[0] for i in a_ids})
        print("A: %d keys x %d producers in %.2f s: %d OK, %d DUPLICATE; keys won by %d producers"
              % (KEYS, PRODUCERS, time.time() - t0, len(a_ids), dups, len(winners)), flush=True)
        b_ids = all_status(p.send(NAME, TTL_B_MS, [b_keys]), b_keys, "OK", "B first")
        c.wait_ids_done(a_ids + b_ids, timeout=60)
        b_done = time.time()
        all_status(p.send(NAME, TTL_LONG_MS, [a_keys]), a_keys, "DUPLICATE", "A after done")
        all_status(p.send(NAME, TTL_B_MS, [b_keys]), b_keys, "DUPLICATE", "B within its TTL")

        r = c.fling("queue", "pause", PAUSED)
        assert r.returncode == 0, r.stderr
        c_ids = all_status(p.send(PAUSED, 0, [c_keys]), c_keys, "OK", "C first")
        stats = c.stats()
        held = stats.get("keys")
        assert held == KEYS + 2 * SMALL, ("keys held", held, KEYS + 2 * SMALL)
        assert stats["counters"].get("key_duplicates", 0) >= dups + KEYS + SMALL, stats["counters"]

        c.restart_broker(signal.SIGKILL, down_s=0.5)
        after = time.time() - b_done
        assert c.stats().get("keys") == KEYS + 2 * SMALL, c.stats().get("keys")
        all_status(p.send(NAME, TTL_LONG_MS, [a_keys]), a_keys, "DUPLICATE", "A after restart")
        all_status(p.send(PAUSED, 0, [c_keys]), c_keys, "DUPLICATE", "C (held) after restart")
        if time.time() - b_done < TTL_B_MS / 1000.0 - 1:
            all_status(p.send(NAME, TTL_B_MS, [b_keys]), b_keys, "DUPLICATE", "B after restart")
        else:
            print("B's TTL ran out before the restart was over (%.1f s): not checked" % after)

        time.sleep(max(0, b_done + TTL_B_MS / 1000.0 + 0.5 - time.time()))
        b2_ids = all_status(p.send(NAME, TTL_B_MS, [b_keys]), b_keys, "OK", "B after its TTL")
        r = c.fling("queue", "resume", PAUSED)
        assert r.returncode == 0, r.stderr
        c.wait_ids_done(b2_ids + c_ids, timeout=60)
        c2_ids = all_status(p.send(PAUSED, 0, [c_keys]), c_keys, "OK", "C after it ran (TTL 0)")
        ledger = c.wait_ids_done(c2_ids, timeout=60)

        ran = a_ids + b_ids + c_ids + b2_ids + c2_ids
        twice = [i for i in ran if len(ledger.done_events[i]) != 1]
        assert not twice, "done other than once: %s" % twice[:5]
        c.judge(max_duplicates=0, expect_accepted=len(ran),
                extra={"keys": KEYS, "producers": PRODUCERS, "key_duplicates_first_round": dups})


run(test)
