"""Fault-injection harness for fling (the rules and the catalogue: docs/faults.md), built on the
multi-process harness (tests/harness/fling_harness.py).

Adds to Cluster: broker restarts on the same ports and store directory, the
LD_PRELOAD I/O fault shim (fault_shim.c), faketime, workers started under a
prefix (ip netns exec), fault events (which pid was killed/stopped when),
broker RSS sampling, tasks sent with `fling send`, one by one or a batch
of JSON lines (recorded in a producer ledger of their own), the dead-letter list, a power-cut helper for
store segments, and the verdict with the universal pass criterion: lost = 0,
unexpected = 0, rejected_ran = 0, duplicates within the bound and explained
by a fault, daemons alive, broker RSS under its cap. Every count is printed,
pass or fail.

Environment (set by CTest, besides fling_harness's): FLING_FAULT_SHIM (path
of fling_fault_shim.so). FLING_FAULT_SCALE (float, default 1) scales task
counts for quick local runs.
"""
import collections
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from fling_harness import Cluster, Proc, free_port, run, skip, wait_until  # noqa: E402,F401
import ledger_check  # noqa: E402  (fling_harness put tools/ on sys.path)

SCALE = float(os.environ.get("FLING_FAULT_SCALE", "1"))


def scaled(n, minimum=1):
    return max(minimum, int(n * SCALE))


class MissingFeature(AssertionError):
    """The fling build lacks a flag or command this test needs (work in progress elsewhere)."""


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class FaultLedger(ledger_check.Ledger):
    """ledger_check.Ledger plus what fault tests need: which pids ran each id
    (with multiplicity), the optional 6th field (realtime ms), "fail" lines of
    test.flaky, and producer keys for ids a killed producer never confirmed."""

    def __init__(self):
        super().__init__()
        self.done_pids = collections.defaultdict(list)   # id -> [pid, ...] one per done line
        self.start_events = collections.defaultdict(list)  # id -> [(attempt, pid, ms|None)]
        self.done_events = collections.defaultdict(list)
        self.fail_events = collections.defaultdict(list)
        self.started_by_pid = collections.defaultdict(set)
        self.done_by_pid_ids = collections.defaultdict(set)

    def read_producer(self, path):
        """As ledger_check, but a last line without its newline (the producer
        was SIGKILLed mid-write) is ignored: "accepted ab:12" cut to "ab:1"
        would name another task."""
        with open(path, "rb") as f:
            data = f.read()
        if not data.endswith(b"\n"):
            data = data[:data.rfind(b"\n") + 1]
        tmp = path + ".complete"
        with open(tmp, "wb") as f:
            f.write(data)
        super().read_producer(tmp)
        os.unlink(tmp)

    def read_worker(self, path):
        super().read_worker(path)
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 4 or parts[0] not in ("start", "done", "fail"):
                    continue
                task_id, attempt, pid = parts[1], parts[2], parts[3]
                ms = int(parts[5]) if len(parts) > 5 and parts[5].isdigit() else None
                event = (int(attempt) if attempt.isdigit() else 0, pid, ms)
                if parts[0] == "start":
                    self.start_events[task_id].append(event)
                    self.started_by_pid[pid].add(task_id)
                elif parts[0] == "done":
                    self.done_events[task_id].append(event)
                    self.done_pids[task_id].append(pid)
                    self.done_by_pid_ids[pid].add(task_id)
                else:
                    self.fail_events[task_id].append(event)

    def in_flight_at_kill(self, pid):
        """Ids the pid started and never finished: running when it died."""
        return self.started_by_pid[str(pid)] - self.done_by_pid_ids[str(pid)]

    def unexplained_duplicates(self, faulted_pids):
        """Duplicate executions not covered by a fault: an id done n times is
        explained when at least n-1 of those runs were on workers that were
        killed, stopped or cut off (their results may never have counted)."""
        faulted = {str(p) for p in faulted_pids}
        unexplained = []
        for task_id, pids in self.done_pids.items():
            if len(pids) > 1 and sum(1 for p in pids if p in faulted) < len(pids) - 1:
                unexplained.append(task_id)
        return unexplained

    def recovered(self, producer_counts):
        """Done ids never confirmed to a producer that the producer did send:
        its key (from its ledger) and a sequence within what it sent."""
        keys = {}
        for task_id in self.accepted | set(self.rejected):
            key = task_id.split(":")[0]
            keys.setdefault(key, True)
        out = set()
        known = self.accepted | set(self.rejected) | self.dropped
        for task_id in set(self.done) - known:
            key, _, seq = task_id.partition(":")
            if key in keys and seq.isdigit() and int(seq) <= producer_counts.get(key, 1 << 62):
                out.add(task_id)
        return out


class FaultCluster(Cluster):
    def __init__(self, name, rss_cap_mb=512, keep=False):
        super().__init__(name, keep=keep)
        self.shim = os.environ.get("FLING_FAULT_SHIM", "")
        self.events = []          # (monotonic, what, pid, name)
        self.faulted_pids = set()  # workers whose results may have been lost
        self.broker = None
        self.broker_args = []
        self.broker_env = {}
        self.broker_restarts = 0
        # AddressSanitizer's shadow memory and quarantine add a few hundred MB
        # to any process; the cap is about fling's own growth, so widen it there.
        asan = "libasan" in subprocess.run(["ldd", os.path.join(self.bin_dir, "fling-broker")],
                                           capture_output=True, text=True).stdout
        self.rss_cap_kb = (rss_cap_mb + (512 if asan else 0)) * 1024
        self.rss_max_kb = 0
        self.worker_specs = {}    # Proc -> dict(args, name, ledger, prefix, handlers)
        self.cli_ledger = self.path("cli.ledger")
        self.cleanups = []
        self._help = {}
        self.started = time.monotonic()

    def __exit__(self, exc_type, exc, tb):
        try:
            return super().__exit__(exc_type, exc, tb)
        finally:
            for fn in reversed(self.cleanups):
                try:
                    fn()
                except Exception as e:  # noqa: BLE001 - cleanup must go on
                    print("cleanup failed: %s" % e)

    # ---- feature probes -----------------------------------------------------

    def help_text(self, program):
        if program not in self._help:
            argv = [os.path.join(self.bin_dir, program), "--help"]
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
                self._help[program] = r.stdout + r.stderr
            except (OSError, subprocess.TimeoutExpired):
                self._help[program] = ""
        return self._help[program]

    def supports(self, program, flag):
        return re.search(r"(^|\s)%s(\s|=|$)" % re.escape(flag), self.help_text(program), re.M) is not None

    def require(self, program, *flags):
        missing = [f for f in flags if not self.supports(program, f)]
        if missing:
            raise MissingFeature("%s has no %s yet (see its --help): this test waits for that work"
                                 % (program, ", ".join(missing)))

    def require_disk_store(self):
        self.require("fling-broker", "--store-dir")
        if "disk" not in self.help_text("fling-broker"):
            raise MissingFeature("fling-broker has no disk store yet")

    # ---- broker -------------------------------------------------------------

    def _preload(self, extra):
        """LD_PRELOAD list; a sanitized broker needs its ASan runtime first."""
        libs = []
        try:
            ldd = subprocess.run(["ldd", os.path.join(self.bin_dir, "fling-broker")],
                                 capture_output=True, text=True, timeout=10).stdout
            m = re.search(r"(\S*libasan\.so\S*) => (\S+)", ldd)
            if m:
                libs.append(m.group(2))
        except (OSError, subprocess.TimeoutExpired):
            pass
        return ":".join(libs + extra)

    def start_broker(self, *args, env=None, shim=False, faketime=None, name="broker",
                     same_ports=False, producer_port=None, worker_port=None, host="127.0.0.1"):
        """Starts (or, with same_ports, restarts) the broker. shim: preload the
        I/O fault shim; faketime: dict of libfaketime environment."""
        if same_ports and self.producer_endpoint:
            producer_port = int(self.producer_endpoint.rsplit(":", 1)[1])
            worker_port = int(self.worker_endpoint.rsplit(":", 1)[1])
        worker_host = getattr(self, "worker_host", host)
        pe = "tcp://%s:%s" % (host, producer_port or "*")
        we = "tcp://%s:%s" % (worker_host, worker_port or "*")
        args = list(args)
        if "--store" not in args and "--store-dir" not in args and self.supports("fling-broker", "--store-dir"):
            # the default store is on disk, in ./fling-store: keep it in this test's directory
            args += ["--store-dir", self.path("store")]
        if not any(str(a).startswith("--http-addr") for a in args) and \
                self.supports("fling-broker", "--http-addr"):
            args += ["--http-addr", "127.0.0.1:0"]  # never the default port: tests run side by side
        argv = [os.path.join(self.bin_dir, "fling-broker"), "--producer-endpoint", pe,
                "--worker-endpoint", we] + args
        full_env = dict(env or {})
        preload = []
        if shim:
            if not self.shim or not os.path.exists(self.shim):
                raise AssertionError("FLING_FAULT_SHIM not set or missing: %r" % self.shim)
            preload.append(self.shim)
        if faketime:
            preload.append(faketime.pop("_lib"))
            full_env.update(faketime)
        if preload:
            full_env["LD_PRELOAD"] = self._preload(preload)
        proc, line = self._spawn(name, argv, ready_timeout=30, env=full_env)
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        self.producer_endpoint = fields["producer"]
        self.worker_endpoint = fields["worker"]
        self.broker = proc
        self.broker_args = list(args)
        self.broker_env = dict(env=env, shim=shim)
        return proc

    def restart_broker(self, sig=signal.SIGKILL, down_s=1.0, **kw):
        """Stops the broker with `sig`, waits down_s, starts it again on the
        same ports with the same arguments."""
        old = self.broker
        self.event("broker-" + signal.Signals(sig).name, old)
        rc = self.stop(old, sig, timeout=30)
        time.sleep(down_s)
        self.broker_restarts += 1
        opts = dict(self.broker_env)
        opts.update(kw)
        proc = self.start_broker(*self.broker_args, same_ports=True,
                                 name="broker.%d" % self.broker_restarts, **opts)
        return rc, proc

    # ---- workers ------------------------------------------------------------

    def start_worker(self, *args, name=None, ledger=None, wait=True, handlers=None, prefix=None):
        name = name or "worker%d" % (len(self.worker_ledgers) + 1)
        ledger = ledger or self.path("%s.ledger" % name)
        if ledger not in self.worker_ledgers:
            self.worker_ledgers.append(ledger)
        module = "%s:%s" % (handlers or self.handlers, ledger)
        argv = list(prefix or []) + [os.path.join(self.bin_dir, "fling-worker"), "--endpoint",
                                     self.worker_endpoint, "--name", name, "--module", module] + list(args)
        proc, _ = self._spawn(name, argv, ready_timeout=30 if wait else None)
        self.worker_specs[proc] = dict(args=args, name=name, ledger=ledger, handlers=handlers,
                                       prefix=prefix)
        return proc

    def restart_worker(self, proc, wait=True):
        spec = self.worker_specs[proc]
        return self.start_worker(*spec["args"], name=spec["name"], ledger=spec["ledger"],
                                 handlers=spec["handlers"], prefix=spec["prefix"], wait=wait)

    # ---- faults -------------------------------------------------------------

    def event(self, what, proc):
        self.events.append((time.monotonic(), what, proc.pid if proc else None,
                            proc.name if proc else None))

    def kill(self, proc, sig=signal.SIGKILL):
        self.event(signal.Signals(sig).name, proc)
        if proc in self.worker_specs:
            self.faulted_pids.add(proc.pid)
        proc.signal(sig)
        if sig == signal.SIGKILL:
            proc.wait(10)

    def sample_rss(self):
        if self.broker and self.broker.alive():
            self.rss_max_kb = max(self.rss_max_kb, rss_kb(self.broker.pid))
        return self.rss_max_kb

    # ---- producers through the CLI ------------------------------------------

    def send_task(self, name, payload, *opts, timeout=15):
        """fling send NAME JSON; records "accepted ID" or "rejected - REASON"
        in cli.ledger (read as a producer ledger). Returns (rc, id or reason)."""
        if self.cli_ledger not in self.producer_ledgers:
            self.producer_ledgers.append(self.cli_ledger)
        text = payload if isinstance(payload, str) else json.dumps(payload)
        r = self.fling("send", *opts, name, text, timeout=timeout)
        with open(self.cli_ledger, "a") as f:
            if r.returncode == 0:
                task_id = r.stdout.strip().split()[-1]
                f.write("accepted %s\n" % task_id)
                return 0, task_id
        return r.returncode, (r.stderr.strip() or r.stdout.strip())

    def send_accepted(self, name, payloads, *opts, timeout=30):
        """One `fling send NAME --json OPTS...` of a task per payload (JSON
        lines on stdin); fails the test unless it exits 0 with every task
        accepted. Records them in cli.ledger as send_task does; returns their
        ids in the order of their lines, the order the broker accepted them
        (the library sends in order and the broker accepts in the order read)."""
        text = "".join(json.dumps(p) + "\n" for p in payloads)
        argv = [os.path.join(self.bin_dir, "fling"), "--endpoint", self.producer_endpoint, "send",
                name, "--json"] + list(opts)
        r = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, (name, opts, r.stderr)
        verdicts = [json.loads(line) for line in r.stdout.splitlines()]
        assert len(verdicts) == len(payloads) and all(v["status"] == "accepted" for v in verdicts), \
            verdicts
        if self.cli_ledger not in self.producer_ledgers:
            self.producer_ledgers.append(self.cli_ledger)
        with open(self.cli_ledger, "a") as f:
            f.writelines("accepted %s\n" % v["id"] for v in verdicts)
        return [v["id"] for v in sorted(verdicts, key=lambda v: v["line"])]

    def dead_list(self):
        r = self.fling("dead", "list", "--json", timeout=15)
        if r.returncode != 0:
            if "unknown" in (r.stderr + r.stdout).lower() or "usage" in (r.stderr + r.stdout).lower():
                raise MissingFeature("fling has no `dead list --json` yet: %s" % r.stderr.strip()[:200])
            raise AssertionError("fling dead list failed: %s" % r.stderr.strip()[:300])
        data = json.loads(r.stdout)
        if isinstance(data, dict):
            for key in ("dead", "tasks", "items", "entries"):
                if isinstance(data.get(key), list):
                    return data[key]
            return []
        return data

    # ---- waiting ------------------------------------------------------------

    def wait_ids_done(self, ids, timeout, also=None):
        """Waits until every id in `ids` has a done line; samples broker RSS."""
        ids = set(ids)
        deadline = time.monotonic() + timeout
        last = 0
        while True:
            self.sample_rss()
            ledger = self.fault_ledger()
            missing = ids - set(ledger.done)
            if not missing and (also is None or also()):
                return ledger
            now = time.monotonic()
            if now > deadline:
                raise AssertionError("%d of %d tasks not done after %.0fs, e.g. %s"
                                     % (len(missing), len(ids), timeout, sorted(missing)[:3]))
            if now - last > 3:
                print("  ... %d/%d done" % (len(ids) - len(missing), len(ids)), flush=True)
                last = now
            time.sleep(0.25)

    def wait_accepted_done(self, timeout):
        return self.wait_ids_done(self.fault_ledger().accepted, timeout)

    def disk_broker_args(self, store_dir, *more):
        return ["--store", "disk", "--store-dir", store_dir] + list(more)

    def supervise(self, workers, restarts, limit, wait=True):
        """Restarts every worker that died (crashed), 100 ms later; returns how
        many it restarted. workers: list, updated in place. wait=False: do
        not wait for the new worker's ready line (it may be handed a poison
        task and die before it registers)."""
        n = 0
        for i, w in enumerate(workers):
            if not w.alive() and n < limit:
                self.event("crashed", w)
                self.faulted_pids.add(w.pid)
                time.sleep(0.1)
                workers[i] = self.restart_worker(w, wait=wait)
                restarts.append(w.pid)
                n += 1
        return n

    def fault_ledger(self):
        return self.ledger(FaultLedger)

    def refusals(self, reason, none_refused):
        """The fault ledger, once it shows tasks refused and every one for `reason`
        (`none_refused`: the failure text when nothing was refused)."""
        ledger = self.fault_ledger()
        reasons = set(ledger.rejected.values())
        assert ledger.rejected, none_refused
        assert reasons == {reason}, reasons
        return ledger

    # ---- verdict --------------------------------------------------------------

    def judge(self, max_duplicates=0, must_live=(), allow_unexpected=None, expect_accepted=None,
              explain=True, extra=None, max_lost=0):
        """Universal pass criterion; prints every count. allow_unexpected: a set
        of ids known to have been sent without confirmation (recovered)."""
        ledger = self.fault_ledger()
        s = ledger.summary()
        known_extra = allow_unexpected or set()
        unexpected = set(ledger.done) - (ledger.accepted | set(ledger.rejected) | ledger.dropped) - known_extra
        s["recovered"] = len(known_extra & set(ledger.done))
        s["unexpected"] = len(unexpected)
        s["unexpected_sample"] = sorted(unexpected)[:10]
        unexplained = ledger.unexplained_duplicates(self.faulted_pids) if explain else []
        self.sample_rss()
        s["unexplained_duplicates"] = len(unexplained)
        s["duplicate_bound"] = max_duplicates
        s["broker_rss_max_mb"] = round(self.rss_max_kb / 1024.0, 1)
        s["broker_restarts"] = self.broker_restarts
        s["faults"] = len(self.events)
        s["seconds"] = round(time.monotonic() - self.started, 1)
        if extra:
            s.update(extra)
        printable = {k: v for k, v in s.items() if not k.endswith("_sample")}
        print("counts:", json.dumps(printable, sort_keys=True), flush=True)
        lost_allowed = min(s["lost"], max_lost)
        failures = ledger_check.verdict(dict(s, lost=s["lost"] - lost_allowed), max_duplicates)
        if unexplained:
            failures.append("%d duplicate ids not explained by a fault, e.g. %s"
                            % (len(unexplained), unexplained[:3]))
        if expect_accepted is not None and s["accepted"] != expect_accepted:
            failures.append("accepted %d, expected %d" % (s["accepted"], expect_accepted))
        for proc in must_live:
            if not proc.alive():
                failures.append("%s (pid %d) died (rc %s)" % (proc.name, proc.pid, proc.popen.poll()))
        if self.rss_max_kb > self.rss_cap_kb:
            failures.append("broker RSS %d KiB above the cap %d KiB" % (self.rss_max_kb, self.rss_cap_kb))
        if failures:
            self.failed = True
            raise AssertionError("; ".join(failures))
        return s, ledger

    def counters(self):
        return self.stats().get("counters", {})


# ---- store helpers ----------------------------------------------------------------

def read_sync_log(path):
    """Last synced offset per file from the shim's FLING_FAULT_SYNC_LOG."""
    synced = {}
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            for line in f:
                name, _, offset = line.rstrip("\n").rpartition(" ")
                if name and offset.isdigit():
                    synced[name] = int(offset)
    return synced


def power_cut(store_dir, sync_log, rng, max_garbage=4096):
    """After a SIGKILL: drops every byte the broker wrote but never synced, as
    a power cut would. Each segment is cut to its last synced offset; where
    unsynced bytes existed, what follows is one of: nothing, a torn prefix of
    those bytes, or 1..max_garbage random bytes. A segment never synced at all
    is removed (its directory entry was never made durable). Returns counts."""
    synced = read_sync_log(sync_log)
    report = collections.Counter()
    for entry in sorted(os.listdir(store_dir)):
        path = os.path.join(store_dir, entry)
        if not entry.endswith(".seg") or not os.path.isfile(path):
            continue
        real = os.path.realpath(path)
        if real not in synced and path not in synced:
            os.unlink(path)
            report["removed"] += 1
            continue
        offset = min(synced.get(real, synced.get(path)), os.path.getsize(path))
        with open(path, "r+b") as f:
            f.seek(offset)
            unsynced = f.read(1 << 20).rstrip(b"\0")
            f.truncate(offset)
            report["cut"] += 1
            if not unsynced:
                continue
            report["unsynced_bytes"] += len(unsynced)
            choice = rng.randrange(3)
            f.seek(offset)
            if choice == 1:
                f.write(unsynced[:rng.randrange(1, len(unsynced) + 1)])
                report["torn_prefix"] += 1
            elif choice == 2:
                f.write(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, max_garbage + 1))))
                report["garbage"] += 1
    return dict(report)


def check_store(cluster, store_dir):
    """Offline store check: `fling-broker --check-store DIR` or fling-store-check
    DIR, JSON on stdout. Returns the parsed JSON, or raises MissingFeature."""
    candidates = []
    if cluster.supports("fling-broker", "--check-store"):
        candidates.append([os.path.join(cluster.bin_dir, "fling-broker"), "--check-store", store_dir])
    tool = os.path.join(cluster.bin_dir, "fling-store-check")
    if os.path.exists(tool):
        candidates.append([tool, store_dir])
    if not candidates:
        raise MissingFeature("no offline store checker (fling-broker --check-store / fling-store-check)")
    r = subprocess.run(candidates[0], capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise AssertionError("store check printed no JSON (rc %d): %s %s"
                             % (r.returncode, r.stdout[-500:], r.stderr[-500:]))
    result = json.loads(lines[-1])
    result["rc"] = r.returncode
    print("store check:", json.dumps(result, sort_keys=True)[:600], flush=True)
    return result


def corrupt_count(check):
    for key in ("corrupt_records", "corrupt"):
        if key in check:
            return int(check[key])
    return int(check.get("counters", {}).get("corrupt_records", 0))


def stat_get(stats, *names, default=0):
    """First of `names` found in stats, its counters or its store section."""
    for section in (stats, stats.get("counters", {}), stats.get("store", {})
                    if isinstance(stats.get("store"), dict) else {}):
        for name in names:
            if name in section:
                return section[name]
    return default


def delays(events):
    """Gaps in ms between successive attempts' timestamps."""
    stamps = sorted(ms for _, _, ms in events if ms is not None)
    return [b - a for a, b in zip(stamps, stamps[1:])]


def rng_for(name):
    seed = int(os.environ.get("FLING_FAULT_SEED", str(int(time.time() * 1000) % 1000000)))
    print("seed %d (FLING_FAULT_SEED to replay)" % seed, flush=True)
    return random.Random("%s-%d" % (name, seed))


# ---- network namespaces (F11) -------------------------------------------------------

class Netns:
    """A network namespace joined to the host by a veth pair with a private
    /30 in 10.213.0.0/16, used only between the two ends (traffic never leaves
    the machine). cut()/heal() set the namespace end down/up: the host end
    keeps its address, so host-side processes still reach the broker there.
    Removed on close(), also when the test fails (register with cluster.cleanups)."""

    def __init__(self):
        pid = os.getpid()
        self.name = "flingf-%d" % pid
        self.host_dev = "flh%d" % (pid % 1000000)
        self.ns_dev = "fln%d" % (pid % 1000000)
        block = pid % 16384
        third, fourth = block // 64, (block % 64) * 4
        self.host_ip = "10.213.%d.%d" % (third, fourth + 1)
        self.ns_ip = "10.213.%d.%d" % (third, fourth + 2)
        self.made = False

    @staticmethod
    def _ip(*args, ns=None, check=True):
        argv = (["ip", "netns", "exec", ns] if ns else []) + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        if check and r.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
        return r

    def create(self):
        if os.geteuid() != 0:
            skip("network namespaces need root (ip netns add); running as uid %d" % os.geteuid(),
                 "run the fault tests as root")
        if not shutil.which("ip"):
            skip("no `ip` command", "apt-get install iproute2 (tools/install-deps does)")
        r = self._ip("ip", "netns", "add", self.name, check=False)
        if r.returncode != 0:
            skip("cannot create a network namespace here: %s" % r.stderr.strip(),
                 "run where CAP_NET_ADMIN is allowed (a host, or a container started with "
                 "--cap-add NET_ADMIN or --privileged)")
        self.made = True
        self._ip("ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.ns_dev)
        self._ip("ip", "link", "set", self.ns_dev, "netns", self.name)
        self._ip("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_dev)
        self._ip("ip", "link", "set", self.host_dev, "up")
        self._ip("ip", "addr", "add", self.ns_ip + "/30", "dev", self.ns_dev, ns=self.name)
        self._ip("ip", "link", "set", self.ns_dev, "up", ns=self.name)
        self._ip("ip", "link", "set", "lo", "up", ns=self.name)
        print("netns %s: host %s (%s) <-> ns %s (%s)" % (self.name, self.host_ip, self.host_dev,
                                                          self.ns_ip, self.ns_dev), flush=True)
        return self

    def prefix(self):
        return ["ip", "netns", "exec", self.name]

    def cut(self):
        self._ip("ip", "link", "set", self.ns_dev, "down", ns=self.name)

    def heal(self):
        self._ip("ip", "link", "set", self.ns_dev, "up", ns=self.name)

    def close(self):
        if not self.made:
            return
        self._ip("ip", "netns", "del", self.name, check=False)
        self._ip("ip", "link", "del", self.host_dev, check=False)
        self.made = False


# ---- broker bounce (F03, F04, F07) ----------------------------------------------------

def bounce(name, sig, rounds, total, cut=False, producers=2, duration_s=20, expect_no_dups=False):
    """Streams `total` tasks from `producers` fling-load processes to three
    workers through a disk-store broker that is stopped with `sig` and
    restarted (same ports, same store) `rounds` times at random points; with
    cut, every un-synced byte is dropped before the restart (power cut).
    Every ACCEPTED task must be done; duplicates at most what the workers held
    per bounce (capacity), 0 when expect_no_dups (graceful stop)."""
    rng = rng_for(name)
    pool, async_limit = 4, 64
    with FaultCluster(name) as c:
        c.require_disk_store()
        store = c.path("store")
        sync_log = c.path("sync.log")
        env = None
        if cut:
            env = {"FLING_FAULT_DIR": os.path.realpath(store) + "/", "FLING_FAULT_SYNC_LOG": sync_log}
        c.start_broker(*c.disk_broker_args(store), env=env, shim=cut)
        wargs = ("--pool-size", str(pool), "--async-limit", str(async_limit))
        workers = [c.start_worker(*wargs, name="w%d" % i) for i in range(3)]
        per = total // producers
        rate = max(1, per // duration_s)
        loads = [c.start_load("--count", str(per), "--name", "test.noop,test.async,test.block", "--ms", "1",
                              "--rate", str(rate), "--outbox-max", str(per), "--flush-timeout-ms", "120000")
                 for _ in range(producers)]
        cuts = []
        for r in range(rounds):
            time.sleep(rng.uniform(1.0, 0.9 * duration_s / rounds))
            c.sample_rss()
            old = c.broker
            c.event("broker-" + signal.Signals(sig).name, old)
            rc = c.stop(old, sig, timeout=30)
            if sig == signal.SIGTERM:
                assert rc == 0, "broker exited %s after SIGTERM" % rc
            if cut:
                cuts.append(power_cut(store, sync_log, rng))
            time.sleep(1.0)
            c.broker_restarts += 1
            c.start_broker(*c.disk_broker_args(store), env=env, shim=cut, same_ports=True,
                           name="broker.%d" % c.broker_restarts)
        if cuts:
            print("power cuts:", cuts, flush=True)
        summaries = [c.load_summary(load, timeout=240) for load in loads]
        for s in summaries:
            print("producer:", {k: s.get(k) for k in ("accepted", "rejected", "resent_batches", "rc")})
        c.wait_accepted_done(timeout=180)
        time.sleep(1)
        st = c.stats()
        bound = 0 if expect_no_dups else rounds * 3 * (pool + async_limit)
        extra = {"bounces": rounds, "signal": signal.Signals(sig).name,
                 "corrupt_records": stat_get(st, "corrupt_records", default=None),
                 "torn_bytes": stat_get(st, "torn_bytes", default=None)}
        s, ledger = c.judge(max_duplicates=bound, must_live=[c.broker] + workers, explain=False, extra=extra)
        accepted = sum(x["accepted"] for x in summaries)
        assert accepted == s["accepted"], (accepted, s["accepted"])
        if cut:
            assert not extra["corrupt_records"], "power cuts made corrupt records (should be torn tails): %s" % extra
        c.stop(c.broker, signal.SIGTERM)
        try:
            chk = check_store(c, store)
            assert corrupt_count(chk) == 0, chk
        except MissingFeature as e:
            print("note:", e)
        return s
