#!/usr/bin/env python3
"""The one ledger checker of fling: fault tests, integration tests, the demo
and the benchmarks all judge a run with it.

Inputs (plain text, one event a line, as the tools write them):
  producer ledgers (fling-load --ledger): "accepted <id>" / "rejected <id> <reason>"
  worker ledgers (test and example handlers): "start <id> <attempt> <pid> <name> [ms]"
                                               "done <id> <attempt> <pid> <name> [ms]"
                                               "fail <id> <attempt> <pid> <name> [ms]"

Categories (as Jepsen's total-queue checker):
  ok           accepted and done at least once
  lost         accepted, never done                          -> failure
  unexpected   done, never accepted nor rejected (unknown)   -> failure
  rejected_ran rejected by the broker, yet done              -> failure
  duplicates   extra "done" lines beyond the first per id
  not_done_rejected  rejected and not run (fine)

Usage: ledger_check.py --accepted FILE... --done FILE... [--max-duplicates N] [--json]
Exit status 0 when lost = unexpected = rejected_ran = 0 and duplicates <= the allowance.
"""
import argparse
import collections
import json
import sys


class Ledger:
    def __init__(self):
        self.accepted = set()
        self.rejected = {}
        self.dropped = set()  # never delivered (overflow policy drop, or destroyed unacknowledged)
        self.done = collections.Counter()
        self.done_by_pid = collections.Counter()
        self.started = collections.Counter()
        self.failed_runs = collections.Counter()  # handler runs that reported a failure
        self.started_by = collections.defaultdict(set)  # id -> {pid}
        self.done_by = collections.defaultdict(set)     # id -> {pid}
        self.malformed_lines = 0

    def read_producer(self, path):
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "accepted":
                    self.accepted.add(parts[1])
                elif len(parts) >= 2 and parts[0] == "rejected":
                    self.rejected[parts[1]] = parts[2] if len(parts) > 2 else "?"
                elif len(parts) >= 2 and parts[0] == "dropped":
                    self.dropped.add(parts[1])
                elif parts:
                    self.malformed_lines += 1

    def read_worker(self, path):
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.split()
                # A SIGKILL can leave no torn line (one write per line), but
                # be tolerant: count what does not parse.
                if parts and parts[0] == "fail":
                    self.failed_runs[parts[1] if len(parts) > 1 else "?"] += 1
                    continue
                if len(parts) < 4 or parts[0] not in ("start", "done"):
                    if parts:
                        self.malformed_lines += 1
                    continue
                task_id, pid = parts[1], parts[3]
                if parts[0] == "start":
                    self.started[task_id] += 1
                    self.started_by[task_id].add(pid)
                else:
                    self.done[task_id] += 1
                    self.done_by_pid[pid] += 1
                    self.done_by[task_id].add(pid)

    def summary(self):
        done_ids = set(self.done)
        lost = self.accepted - done_ids
        known = self.accepted | set(self.rejected) | self.dropped
        unexpected = done_ids - known
        rejected_ran = set(self.rejected) & done_ids
        duplicates = sum(n - 1 for n in self.done.values() if n > 1)
        return {
            "accepted": len(self.accepted),
            "rejected": len(self.rejected),
            "dropped": len(self.dropped),
            "done_ids": len(done_ids),
            "executions": sum(self.done.values()),
            "ok": len(self.accepted & done_ids),
            "lost": len(lost),
            "unexpected": len(unexpected),
            "rejected_ran": len(rejected_ran),
            "duplicates": duplicates,
            "duplicated_ids": sum(1 for n in self.done.values() if n > 1),
            "malformed_lines": self.malformed_lines,
            "lost_sample": sorted(lost)[:10],
            "unexpected_sample": sorted(unexpected)[:10],
        }


def format_summary(s):
    return ("accepted={accepted} rejected={rejected} done={done_ids} executions={executions} "
            "lost={lost} duplicates={duplicates} unexpected={unexpected} "
            "rejected_ran={rejected_ran}".format(**s))


def verdict(s, max_duplicates=0):
    """Returns a list of failure texts (empty = pass)."""
    failures = []
    if s["lost"]:
        failures.append("lost %d accepted tasks, e.g. %s" % (s["lost"], s["lost_sample"][:3]))
    if s["unexpected"]:
        failures.append("%d tasks ran that no producer sent, e.g. %s"
                        % (s["unexpected"], s["unexpected_sample"][:3]))
    if s["rejected_ran"]:
        failures.append("%d rejected tasks ran" % s["rejected_ran"])
    if s["duplicates"] > max_duplicates:
        failures.append("%d duplicate executions (allowed %d)" % (s["duplicates"], max_duplicates))
    return failures


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accepted", nargs="+", default=[], help="producer ledgers")
    parser.add_argument("--done", nargs="+", default=[], help="worker ledgers")
    parser.add_argument("--max-duplicates", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    ledger = Ledger()
    for path in args.accepted:
        ledger.read_producer(path)
    for path in args.done:
        ledger.read_worker(path)
    s = ledger.summary()
    print(json.dumps(s) if args.json else format_summary(s))
    failures = verdict(s, args.max_duplicates)
    for failure in failures:
        print("FAIL:", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
