#!/usr/bin/env python3
"""Damaged store segments (issue #15): the broker never deletes or overwrites a
segment it could not read in full, recovers every intact record in it, and
says so at ERROR at every start; `--check-store` exits 2 and says the same.

  store_damage.py CASE     header | trunc0 | trunc10 | last_record | seg_dir

12,000 tasks are stored (no worker) in 1 MiB segments, the broker is stopped
(SIGTERM), one thing is damaged, and the broker is started again with
workers:
  header       two bytes flipped at offset 0 of the oldest segment (its
               records intact): every task runs;
  trunc0/10    the oldest segment cut to 0 / 10 bytes: its tasks cannot be
               recovered; every task of the other segments runs, and the file
               is kept (quarantined) as it was found;
  last_record  one byte flipped inside the newest segment's last task record
               (an acknowledged task, not a torn write): that task is lost,
               every other runs, and the loss is an ERROR and counted
               (corrupt_records), never a silent torn tail;
  seg_dir      a directory named like the next segment: the broker starts
               (as --check-store reads the store), says so, every task runs.
Each case then restarts the broker once more: the damage is named again.
The ledger judges every case (lost only what the damage destroyed, no
duplicates, no task that was never sent).
"""
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled, stat_get

TOTAL = scaled(12000)
SEGMENT = 1 << 20
REC_TASK = 1


def segments(store):
    return sorted(f for f in os.listdir(store) if re.fullmatch(r"[0-9a-f]{16}\.seg", f))


def records(data):
    """(offset, type, size) of each record of a segment's bytes, in order, up to
    the first one that does not parse (no CRC check: the test wrote them)."""
    out, offset = [], 32
    while offset + 9 <= len(data):
        size, kind = struct.unpack_from("<IB", data, offset + 4)
        if kind == 0 or offset + 9 + size > len(data):
            break
        out.append((offset, kind, size))
        offset += 9 + size
    return out


def ids_of(c, store):
    """Live task ids in a store (offline check, --ids)."""
    r = subprocess.run([os.path.join(c.bin_dir, "fling-broker"), "--check-store", store, "--ids"],
                       capture_output=True, text=True, timeout=120)
    return {line.split()[0] for line in r.stdout.splitlines() if line and not line.startswith("{")}


def ids_only_in(c, store, name):
    """Ids whose task record is in segment `name` alone (a copy with only it)."""
    copy = store + ".only"
    shutil.rmtree(copy, ignore_errors=True)
    os.makedirs(copy)
    shutil.copy(os.path.join(store, name), copy)
    ids = ids_of(c, copy)
    shutil.rmtree(copy)
    return ids


def check(c, store):
    r = subprocess.run([os.path.join(c.bin_dir, "fling-broker"), "--check-store", store],
                       capture_output=True, text=True, timeout=120)
    print("check-store rc=%d %s\n  stderr: %s" % (r.returncode, r.stdout.strip(), r.stderr.strip()[-800:]),
          flush=True)
    return r


def damage(c, case, store):
    """Damages the stopped broker's store; returns (ids that may be lost, file
    to find again unchanged (path relative to the store) or None, its bytes)."""
    segs = segments(store)
    assert len(segs) >= 2, "need two segments, have %s" % segs
    oldest = os.path.join(store, segs[0])
    if case == "header":
        with open(oldest, "r+b") as f:
            head = bytearray(f.read(2))
            f.seek(0)
            f.write(bytes(b ^ 0x5a for b in head))
        return set(), segs[0]
    if case in ("trunc0", "trunc10"):
        lost = ids_only_in(c, store, segs[0])
        print("ids with their task record in %s: %d" % (segs[0], len(lost)), flush=True)
        with open(oldest, "r+b") as f:
            f.truncate(0 if case == "trunc0" else 10)
        return lost, segs[0]
    if case == "last_record":
        newest = os.path.join(store, segs[-1])
        with open(newest, "r+b") as f:
            data = f.read()
            tasks = [r for r in records(data) if r[1] == REC_TASK]
            assert tasks, "no task record in the newest segment %s" % segs[-1]
            offset, _, size = tasks[-1]
            at = offset + 9 + size // 2
            f.seek(at)
            f.write(bytes([data[at] ^ 0x01]))
        print("flipped a bit at offset %d of %s (task record at %d, %d bytes)" % (at, segs[-1], offset, size),
              flush=True)
        return set(), segs[-1]  # the one id it hides is found by the check below
    if case == "seg_dir":
        last = int(segs[-1][:16], 16)
        name = "%016x.seg" % (last + 1)
        os.mkdir(os.path.join(store, name))
        return set(), None
    raise SystemExit("unknown case %s" % case)


def find_kept(store, name):
    """The damaged file, in the store or moved to its quarantine directory."""
    for path in (os.path.join(store, name), os.path.join(store, "quarantine", name)):
        if os.path.exists(path):
            return path
    return None


def test(case):
    with FaultCluster("damage-%s" % case) as c:
        c.require_disk_store()
        store = c.path("store")
        args = c.disk_broker_args(store, "--segment-bytes", str(SEGMENT))
        c.start_broker(*args)
        load = c.start_load("--count", str(TOTAL), "--name", "test.noop")
        assert c.load_summary(load, timeout=120)["accepted"] == TOTAL
        assert c.stop(c.broker, signal.SIGTERM) == 0
        before = ids_of(c, store)
        assert len(before) == TOTAL, "the store holds %d of %d tasks before the damage" % (len(before), TOTAL)
        may_lose, kept = damage(c, case, store)
        kept_bytes = open(os.path.join(store, kept), "rb").read() if kept else None
        c.event("damage-" + case, None)

        first = check(c, store)
        assert first.returncode == 2, "--check-store exit %d on a damaged store (expected 2)" % first.returncode
        listed = ids_of(c, store)
        if case == "last_record":
            may_lose = before - listed
            assert len(may_lose) == 1, "the flipped record should hide exactly one task: %d" % len(may_lose)
        assert before - listed <= may_lose, "the check lost %d intact tasks" % len(before - listed - may_lose)

        broker = c.start_broker(*args, same_ports=True, name="broker.1")
        log = broker.log()
        errors = [line for line in log.splitlines() if " ERROR " in line]
        print("ERROR lines at start:\n  " + "\n  ".join(errors[:6]), flush=True)
        assert errors, "the damage was not reported at ERROR:\n%s" % log[-2000:]
        if kept:
            assert any(kept in line for line in errors), "no ERROR names %s" % kept
        workers = [c.start_worker("--pool-size", "2", name="w%d" % i) for i in range(2)]
        expected = before - may_lose
        c.wait_ids_done(expected, timeout=120)
        time.sleep(2)  # maintenance passes: sweep, compaction of the damaged segment
        st = c.stats()
        corrupt = stat_get(st, "corrupt_records", default=None)
        s, ledger = c.judge(max_duplicates=0, must_live=[c.broker] + workers, max_lost=len(may_lose),
                            extra={"case": case, "may_lose": len(may_lose), "corrupt_records": corrupt})
        lost = ledger.accepted - set(ledger.done)
        assert lost <= may_lose, "intact tasks lost: %s" % sorted(lost - may_lose)[:5]
        if case == "last_record":
            assert corrupt, "the corrupt acknowledged record was not counted: %s" % st.get("store")
        if kept:
            path = find_kept(store, kept)
            assert path, "the damaged segment %s was deleted" % kept
            assert open(path, "rb").read() == kept_bytes, "the damaged segment %s was overwritten" % kept
            print("damaged segment kept at %s" % os.path.relpath(path, store), flush=True)

        # every start names the damage until an operator acts
        assert c.stop(c.broker, signal.SIGTERM) == 0
        again = c.start_broker(*args, same_ports=True, name="broker.2")
        errors = [line for line in again.log().splitlines() if " ERROR " in line]
        print("ERROR lines at the next start:\n  " + "\n  ".join(errors[:4]), flush=True)
        assert errors, "the next start did not name the damage"
        if kept:
            assert any(kept in line for line in errors), "the next start does not name %s" % kept
        assert c.stats().get("tasks", 0) == 0, "tasks left after every one ran: %s" % c.stats().get("tasks")
        assert c.stop(c.broker, signal.SIGTERM) == 0
        assert check(c, store).returncode == 2, "--check-store does not report the kept damage"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    run(lambda: test(sys.argv[1]))
