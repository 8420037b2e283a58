"""Security test support: a Cluster (tests/harness) that can also run the
hostile peer (fling-attack) and read a process's memory and descriptors.

fling-attack prints one JSON line of what happened; attack() returns it.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from fling_harness import Cluster, Proc, run, skip, wait_until  # noqa: E402,F401


class SecurityCluster(Cluster):
    """broker_nofile: start brokers under that descriptor limit (soft and
    hard), as a service with the common `ulimit -n 1024` would run."""

    def __init__(self, name, broker_nofile=None, **kwargs):
        super().__init__(name, **kwargs)
        self.broker_nofile = broker_nofile

    def _spawn(self, name, argv, ready_timeout=None, env=None):
        if self.broker_nofile and name.startswith("broker"):
            argv = ["prlimit", "--nofile=%d:%d" % (self.broker_nofile, self.broker_nofile),
                    "--"] + list(argv)
        return super()._spawn(name, argv, ready_timeout=ready_timeout, env=env)
    def attack_argv(self, action, args, key, endpoint):
        ep = self.worker_endpoint if endpoint == "worker" else self.producer_endpoint
        return ([os.path.join(self.bin_dir, "fling-attack"), action, "--endpoint", ep]
                + self.curve_args(key) + [str(a) for a in args])

    def attack(self, action, *args, key=False, endpoint="producer", timeout=120):
        """Runs fling-attack to its end; returns its JSON line (and rc)."""
        argv = self.attack_argv(action, args, key, endpoint)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise AssertionError("fling-attack %s printed nothing (rc=%d): %s"
                                 % (action, result.returncode, result.stderr[-2000:]))
        out = json.loads(lines[-1])
        out["rc"] = result.returncode
        return out

    def attack_start(self, action, *args, key=False, endpoint="producer", name=None):
        """Starts fling-attack in the background (stopped with the cluster)."""
        name = name or "attack%d" % len(self.procs)
        log_path = self.path("%s.log" % name)
        out_path = self.path("%s.out" % name)
        with open(out_path, "wb") as out, open(log_path, "ab") as err:
            popen = subprocess.Popen(self.attack_argv(action, args, key, endpoint), stdout=out,
                                     stderr=err, stdin=subprocess.DEVNULL)
        proc = Proc(name, popen, log_path)
        proc.out_path = out_path
        self.procs.append(proc)
        return proc

    def attack_result(self, proc, timeout):
        proc.wait(timeout)
        with open(proc.out_path) as f:
            lines = [line for line in f.read().splitlines() if line.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def connections(self):
        return self.stats()["connections"]


def rss_kb(proc):
    with open("/proc/%d/status" % proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(proc):
    return len(os.listdir("/proc/%d/fd" % proc.pid))


def settle(predicate, timeout, what):
    """wait_until with the value printed: the figures go in the test log."""
    value = wait_until(predicate, timeout, interval=0.2, what=what)
    print("  %s: %s" % (what, value), flush=True)
    return value


def elapsed(start):
    return "%.1fs" % (time.monotonic() - start)


def sanitized(bin_dir):
    """True when the programs are built with AddressSanitizer (tools/test
    --sanitize): their memory figures then include ASan's shadow and
    quarantine, so memory bounds are looser and "back to baseline" is not
    checked."""
    out = subprocess.run(["ldd", os.path.join(bin_dir, "fling-broker")], capture_output=True,
                         text=True, timeout=10).stdout
    return "libasan" in out
