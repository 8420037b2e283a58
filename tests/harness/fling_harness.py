"""Multi-process test harness for fling.

Starts the real fling-broker, fling-worker and fling-load programs as separate
processes on free loopback ports, waits for their readiness by a signal on an
inherited pipe (never by sleeping), keeps their ledgers in a per-test
directory, and stops every process it started by its PID, even when the test
fails. Every wait is bounded in time.

Environment (set by CTest):
  FLING_BIN_DIR         directory with fling-broker, fling-worker, fling, fling-load
  FLING_TEST_HANDLERS   path of fling_test_handlers.so
  FLING_TEST_TMP        parent directory for per-test directories (default /tmp)
  FLING_REQUIRE_ALL     1: a test that would skip (see skip()) fails instead (CI sets it)
"""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import ledger_check  # noqa: E402


SKIP_EXIT = 77  # CTest's SKIP_RETURN_CODE for every Python test


def skip(missing, how):
    """Ends a test that needs something this machine lacks (a Docker Engine,
    network namespaces, libfaketime, clang...): one line saying what is missing
    and how to get it, then exit 77, which CTest counts as skipped, not failed.
    Where everything must run (CI sets FLING_REQUIRE_ALL=1) the same line is
    a failure instead, so nothing is skipped silently where it could run."""
    if os.environ.get("FLING_REQUIRE_ALL") == "1":
        print("FAIL: %s; to run it: %s (FLING_REQUIRE_ALL=1: skips are failures)" % (missing, how),
              flush=True)
        sys.exit(1)
    print("SKIP: %s; to run it: %s" % (missing, how), flush=True)
    sys.exit(SKIP_EXIT)


def free_port():
    """A port that was free a moment ago. Only for tests that must know the
    port before the broker starts (producer-before-broker, restarts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))


class Proc:
    def __init__(self, name, popen, log_path):
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        return self.popen.wait(timeout=timeout)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Cluster:
    """One test's processes and files. Use as a context manager."""

    def __init__(self, name, keep=False, curve=False):
        """curve=True: the broker runs with CURVE (SECURITY.md); the cluster
        makes a broker key and one producer, worker and admin key (allowed),
        and every process it starts uses the key of its role (key= picks
        another: a name made with keygen(), or False for none)."""
        self.bin_dir = os.environ.get("FLING_BIN_DIR", "build/bin")
        self.handlers = os.environ.get("FLING_TEST_HANDLERS", "")
        parent = os.environ.get("FLING_TEST_TMP", tempfile.gettempdir())
        self.dir = tempfile.mkdtemp(prefix="fling-%s-" % name, dir=parent)
        self.procs = []
        self.keep = keep
        self.producer_endpoint = None
        self.worker_endpoint = None
        self.http_addr = None  # the broker's HTTP port (host:port), from its ready line
        self.worker_ledgers = []
        self.producer_ledgers = []
        self.failed = False
        self.curve = curve
        if curve:
            self.keys_dir = self.path("keys")
            self.allowed_dir = self.path("allowed")
            os.mkdir(self.keys_dir, 0o700)
            os.mkdir(self.allowed_dir, 0o700)
            self.keygen("broker", "broker", allow=False)
            for role in ("producer", "worker", "admin"):
                self.keygen(role, role)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop_all()
        if exc_type is not None:
            self.failed = True
            self.dump_logs()
        if not self.keep and not self.failed:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    # ---- CURVE keys ---------------------------------------------------

    def keygen(self, name, role, allow=True):
        """Makes keys/NAME.pub and keys/NAME.secret with `fling keygen`; allow
        copies the .pub into the broker's allowed directory."""
        result = subprocess.run([os.path.join(self.bin_dir, "fling"), "keygen", "--role", role,
                                 "--dir", self.keys_dir, name], capture_output=True, text=True,
                                timeout=30)
        if result.returncode != 0:
            raise RuntimeError("fling keygen failed: %s" % result.stderr)
        if allow:
            self.allow(name)
        return self.key_path(name, "pub")

    def key_path(self, name, kind):
        return os.path.join(self.keys_dir, "%s.%s" % (name, kind))

    def allow(self, name):
        shutil.copy(self.key_path(name, "pub"), os.path.join(self.allowed_dir, name + ".pub"))

    def revoke(self, name):
        os.unlink(os.path.join(self.allowed_dir, name + ".pub"))

    def curve_args(self, key):
        """The client flags for key `key` (a name made with keygen), none for
        key=False or a cluster without CURVE."""
        if not self.curve or key is False:
            return []
        return ["--curve-broker-key", self.key_path("broker", "pub"),
                "--curve-key", self.key_path(key, "secret")]

    # ---- processes ----------------------------------------------------

    def path(self, name):
        return os.path.join(self.dir, name)

    def _spawn(self, name, argv, ready_timeout=None, env=None):
        """Starts argv; if ready_timeout, passes --ready-fd and waits for its line."""
        log_path = self.path("%s.log" % name)
        log = open(log_path, "ab")
        read_fd = write_fd = None
        if ready_timeout is not None:
            read_fd, write_fd = os.pipe()
            argv = argv + ["--ready-fd", str(write_fd)]
        full_env = dict(os.environ)
        full_env.update(env or {})
        popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 pass_fds=(write_fd,) if write_fd is not None else (), env=full_env)
        log.close()
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        if write_fd is None:
            return proc, None
        os.close(write_fd)
        try:
            line = self._read_line(read_fd, ready_timeout, proc)
        finally:
            os.close(read_fd)
        return proc, line

    @staticmethod
    def _read_line(fd, timeout, proc):
        deadline = time.monotonic() + timeout
        data = b""
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("%s not ready after %.0fs:\n%s" % (proc.name, timeout, proc.log()[-3000:]))
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("%s exited before ready (rc=%s):\n%s"
                                   % (proc.name, proc.popen.poll(), proc.log()[-3000:]))
            data += chunk
        return data.decode().strip()

    def start_broker(self, *args, producer_port=None, worker_port=None, name="broker",
                     store="disk", store_dir=None):
        """Starts fling-broker. store="disk" (default) keeps its log in store_dir
        (default <test dir>/store, so a restart with the same arguments recovers
        it); store="memory" keeps nothing. A "--store" in args wins."""
        pe = "tcp://127.0.0.1:%s" % (producer_port or "*")
        we = "tcp://127.0.0.1:%s" % (worker_port or "*")
        store_args = []
        if not any(str(a) == "--store" or str(a).startswith("--store=") for a in args):
            store_args = ["--store", store]
            if store == "disk":
                self.store_dir = store_dir or self.path("store")
                store_args += ["--store-dir", self.store_dir]
        # The HTTP port on any free port, never the default: tests run side by side.
        http_args = [] if any(str(a).startswith("--http-addr") for a in args) else \
            ["--http-addr", "127.0.0.1:0"]
        curve_args = []
        if self.curve:
            curve_args = ["--curve-key", self.key_path("broker", "secret"),
                          "--curve-allowed", self.allowed_dir]
        argv = [os.path.join(self.bin_dir, "fling-broker"), "--producer-endpoint", pe,
                "--worker-endpoint", we] + store_args + http_args + curve_args + list(args)
        proc, line = self._spawn(name, argv, ready_timeout=20)
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        self.producer_endpoint = fields["producer"]
        self.worker_endpoint = fields["worker"]
        self.http_addr = fields.get("http")
        return proc

    def start_worker(self, *args, name=None, ledger=None, wait=True, handlers=None, http=False,
                     key="worker"):
        """Starts fling-worker with the test handlers. http=True: with an HTTP
        port on a free port, its address in proc.http_addr (needs wait).
        key: the key name it uses when the cluster has CURVE on."""
        name = name or "worker%d" % (len(self.worker_ledgers) + 1)
        ledger = ledger or self.path("%s.ledger" % name)
        if ledger not in self.worker_ledgers:
            self.worker_ledgers.append(ledger)
        module = "%s:%s" % (handlers or self.handlers, ledger)
        argv = [os.path.join(self.bin_dir, "fling-worker"), "--endpoint", self.worker_endpoint,
                "--name", name, "--module", module] + self.curve_args(key) + list(args)
        if http:
            argv += ["--http-addr", "127.0.0.1:0"]
        proc, line = self._spawn(name, argv, ready_timeout=20 if wait else None)
        fields = dict(part.split("=", 1) for part in (line or "").split()[1:])
        proc.http_addr = fields.get("http")
        return proc

    def start_py_worker(self, *args, name=None, ledger=None, wait=True, app="py_handlers:app",
                        app_dir=None, env=None, key="worker"):
        """Starts a Python worker (fling-py-worker, from the python running this
        harness) on the app MODULE:ATTR; its ledger path is in $FLING_TEST_LEDGER
        (tests/python/py_handlers.py writes the test handlers' lines there)."""
        name = name or "pyworker%d" % (len(self.worker_ledgers) + 1)
        ledger = ledger or self.path("%s.ledger" % name)
        if ledger not in self.worker_ledgers:
            self.worker_ledgers.append(ledger)
        app_dir = app_dir or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                          "python")
        argv = [sys.executable, "-m", "fling.worker", app, "--app-dir", app_dir, "--endpoint",
                self.worker_endpoint, "--name", name] + self.curve_args(key) + list(args)
        full_env = {"FLING_TEST_LEDGER": ledger}
        full_env.update(env or {})
        proc, _ = self._spawn(name, argv, ready_timeout=20 if wait else None, env=full_env)
        return proc

    def start_load(self, *args, name=None, endpoint=None, key="producer"):
        name = name or "producer%d" % (len(self.producer_ledgers) + 1)
        ledger = self.path("%s.ledger" % name)
        self.producer_ledgers.append(ledger)
        argv = [os.path.join(self.bin_dir, "fling-load"), "--endpoint", endpoint or self.producer_endpoint,
                "--ledger", ledger, "--json-summary"] + self.curve_args(key) + list(args)
        out_path = self.path("%s.out" % name)
        out = open(out_path, "wb")
        err = open(self.path("%s.log" % name), "ab")
        popen = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        out.close()
        err.close()
        proc = Proc(name, popen, self.path("%s.log" % name))
        proc.out_path = out_path
        self.procs.append(proc)
        return proc

    def load_summary(self, proc, timeout):
        """Waits for a fling-load process and returns its JSON summary."""
        rc = proc.wait(timeout)
        with open(proc.out_path) as f:
            lines = [line for line in f.read().splitlines() if line.startswith("{")]
        if not lines:
            raise AssertionError("%s printed no summary (rc=%s):\n%s" % (proc.name, rc, proc.log()[-2000:]))
        summary = json.loads(lines[-1])
        summary["rc"] = rc
        return summary

    def fling(self, *args, timeout=10, key="admin"):
        """Runs `fling` against the broker; with CURVE under key `key` (the
        admin's by default: stats and dead need it; `send` needs a producer's)."""
        argv = ([os.path.join(self.bin_dir, "fling"), "--endpoint", self.producer_endpoint]
                + self.curve_args(key) + list(args))
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def stats(self):
        result = self.fling("stats", "--json")
        if result.returncode != 0:
            raise RuntimeError("fling stats failed: %s" % result.stderr)
        return json.loads(result.stdout)

    def stop(self, proc, sig=signal.SIGTERM, timeout=30):
        """Signals a process and waits for it; kills it if it does not exit."""
        if proc.alive():
            proc.signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.signal(signal.SIGKILL)
            proc.wait(10)
            raise AssertionError("%s did not exit within %ss of signal %s" % (proc.name, timeout, sig))

    def stop_all(self):
        for proc in reversed(self.procs):
            if proc.alive():
                proc.signal(signal.SIGKILL)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def dump_logs(self):
        for proc in self.procs:
            print("----- %s (pid %d, rc %s) log tail -----" % (proc.name, proc.pid, proc.popen.poll()))
            print(proc.log()[-2500:])
        print("(test files kept in %s)" % self.dir)

    # ---- ledgers ------------------------------------------------------

    def ledger(self, kind=None):
        """Every producer and worker ledger of this cluster, read into a
        ledger_check.Ledger (or `kind`, a class with the same readers)."""
        ledger = (kind or ledger_check.Ledger)()
        for path in self.producer_ledgers:
            if os.path.exists(path):
                ledger.read_producer(path)
        for path in self.worker_ledgers:
            if os.path.exists(path):
                ledger.read_worker(path)
        return ledger

    def done_count(self):
        total = 0
        for path in self.worker_ledgers:
            if os.path.exists(path):
                with open(path, "rb") as f:
                    total += sum(1 for line in f if line.startswith(b"done "))
        return total

    def event_ms(self, kind):
        """Task id -> the wall-clock ms of its last `kind` line ("start" or
        "done") in the worker ledgers ("<kind> <id> <attempt> <pid> <name> <ms>")."""
        out = {}
        for path in self.worker_ledgers:
            with open(path) as f:
                for line in f:
                    words = line.split()
                    if words and words[0] == kind:
                        out[words[1]] = int(words[5])
        return out

    def wait_done(self, count, timeout, progress=True):
        """Waits until the worker ledgers hold `count` done lines."""
        deadline = time.monotonic() + timeout
        last_print = 0
        while True:
            done = self.done_count()
            if done >= count:
                return done
            now = time.monotonic()
            if now > deadline:
                raise AssertionError("only %d of %d tasks done after %.0fs" % (done, count, timeout))
            if progress and now - last_print > 2:
                print("  ... %d/%d done" % (done, count), flush=True)
                last_print = now
            time.sleep(0.1)

    def check(self, max_duplicates=0, expect_accepted=None):
        """Runs the ledger checker, prints its counts, fails the test on loss."""
        summary = self.ledger().summary()
        print("ledger:", ledger_check.format_summary(summary), flush=True)
        failures = ledger_check.verdict(summary, max_duplicates)
        if expect_accepted is not None and summary["accepted"] != expect_accepted:
            failures.append("accepted %d, expected %d" % (summary["accepted"], expect_accepted))
        if failures:
            self.failed = True
            raise AssertionError("; ".join(failures))
        return summary


def run(test_fn):
    """Entry point for a test script: prints PASS/FAIL and sets the exit code."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    started = time.monotonic()
    try:
        test_fn()
    except Exception as exc:  # noqa: BLE001 - report any failure as a test failure
        print("FAIL %s after %.1fs: %s" % (name, time.monotonic() - started, exc), flush=True)
        import traceback
        traceback.print_exc()
        sys.exit(1)
    print("PASS %s in %.1fs" % (name, time.monotonic() - started), flush=True)
