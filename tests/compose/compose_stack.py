"""Runs the repository's docker-compose.yml for real, for the compose tests.

The host side talks to the stack only through the ports the compose file
publishes on 127.0.0.1; containers talk to each other over the compose
network. Workers run the test handler module (image target `testing`) and
append "start/done <id> <attempt> <pid> <name>" lines to one ledger file per
container in a bind-mounted directory, so the host counts lost and duplicate
tasks with tools/ledger_check.py. Every wait is bounded; every stack ends
with `down -v`, even when a test fails.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import ledger_check  # noqa: E402
from fling_harness import free_port, skip, wait_until  # noqa: E402

IMAGE = os.environ.get("FLING_COMPOSE_IMAGE", "fling:compose-test")


def require_docker():
    """Skips (fling_harness.skip) unless a Docker Engine answers and a compose
    command exists: what a machine without Docker sees is one SKIP line."""
    start = "start it (systemctl start docker, or dockerd &) or set DOCKER_HOST to one that runs"
    if not shutil.which("docker"):
        skip("no `docker` command: the compose tests need a Docker Engine",
             "apt-get install docker.io docker-compose, then " + start)
    try:
        probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                               capture_output=True, text=True, timeout=30)
        answer = (probe.stderr.strip().splitlines() or [""])[-1] if probe.returncode else ""
    except subprocess.TimeoutExpired:
        probe, answer = None, "no answer in 30 s"
    if probe is None or probe.returncode != 0:
        skip("no Docker Engine answers (`docker info`: %s)" % answer[:200], start)
    try:
        compose_command()
    except RuntimeError as exc:
        skip(str(exc), "apt-get install docker-compose (or the docker compose plugin)")


def compose_command():
    """`docker compose` where the plugin exists, else `docker-compose`."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if probe.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("neither `docker compose` nor `docker-compose` is installed")


def sh(argv, timeout=300, check=True, quiet=False):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" % (result.returncode, " ".join(argv),
                                                               result.stdout[-2000:], result.stderr[-2000:]))
    if not quiet and result.returncode != 0:
        print("  (exit %d) %s" % (result.returncode, " ".join(argv)))
    return result


def build_image():
    """Makes the base image if absent, then builds the test image once."""
    started = time.monotonic()
    sh(["bash", os.path.join(HERE, "ensure-base-image")], timeout=900)
    sh(["docker", "build", "--target", "testing", "-t", IMAGE, ROOT], timeout=1800)
    seconds = time.monotonic() - started
    runtime = IMAGE.replace("compose-test", "compose-runtime")
    sh(["docker", "build", "--target", "runtime", "-t", runtime, ROOT], timeout=900)
    size = sh(["docker", "image", "inspect", "-f", "{{.Size}}", runtime]).stdout.strip()
    print("image build: %.0f s; runtime image size: %.1f MB" % (seconds, int(size) / 1e6), flush=True)


class Stack:
    def __init__(self, name, workers=2, profiles=()):
        self.project = "flingtest%s%d" % (name.replace("_", ""), os.getpid())
        self.compose = compose_command() + [
            "-p", self.project, "-f", os.path.join(ROOT, "docker-compose.yml"),
            "-f", os.path.join(HERE, "compose.test.yml")]
        for profile in profiles:
            self.compose += ["--profile", profile]
        parent = os.environ.get("FLING_TEST_TMP", tempfile.gettempdir())
        self.dir = tempfile.mkdtemp(prefix="fling-compose-%s-" % name, dir=parent)
        self.ledger_dir = os.path.join(self.dir, "ledger")
        os.makedirs(self.ledger_dir)
        os.chmod(self.ledger_dir, 0o777)  # the containers run as the unprivileged user `fling`
        self.producer_port = free_port()
        self.worker_port = free_port()
        # The broker's HTTP port too: a stack on the default 5557 collides with
        # the previous stack's, still being taken down, or with a broker of the host.
        self.http_port = free_port()
        self.env = dict(os.environ, FLING_IMAGE=IMAGE, FLING_PRODUCER_PORT=str(self.producer_port),
                        FLING_WORKER_PORT=str(self.worker_port), FLING_HTTP_PORT=str(self.http_port),
                        FLING_LEDGER_DIR=self.ledger_dir, FLING_LOG_LEVEL="info")
        self.workers = workers
        self.loads = []
        self.bin_dir = os.environ.get("FLING_BIN_DIR", os.path.join(ROOT, "build", "bin"))
        self.procs = []
        self.keys_dir = os.path.join(self.dir, "keys")  # the host's copies (CURVE is on)

    # ---- compose -------------------------------------------------------

    def run(self, *args, timeout=300, check=True):
        result = subprocess.run(self.compose + list(args), capture_output=True, text=True,
                                timeout=timeout, env=self.env)
        if check and result.returncode != 0:
            raise RuntimeError("compose %s failed:\n%s%s" % (" ".join(args), result.stdout[-3000:],
                                                             result.stderr[-3000:]))
        return result

    def up(self, workers=None):
        self.workers = workers or self.workers
        self.run("up", "-d", "--no-build", "--scale", "worker=%d" % self.workers,
                 "--scale", "producer=0", timeout=300)
        self.wait_healthy()
        self.fetch_keys()
        wait_until(lambda: len(self.registered_workers()) >= self.workers, 60,
                   what="%d workers registered" % self.workers)

    def down(self):
        self.stop_loads()
        result = self.run("down", "-v", "--remove-orphans", "-t", "10", timeout=180, check=False)
        return result.returncode

    def containers(self, service):
        out = self.run("ps", "-q", service).stdout.split()
        return [c for c in out if c]

    def leftovers(self):
        label = "label=com.docker.compose.project=%s" % self.project
        kinds = {
            "containers": ["docker", "ps", "-a", "-q", "--filter", label],
            "networks": ["docker", "network", "ls", "-q", "--filter", label],
            "volumes": ["docker", "volume", "ls", "-q", "--filter", label],
        }
        return {kind: sh(argv).stdout.split() for kind, argv in kinds.items()}

    def wait_healthy(self, timeout=90):
        def healthy():
            ids = self.containers("broker")
            if not ids:
                return False
            state = sh(["docker", "inspect", "-f", "{{.State.Health.Status}}", ids[0]], check=False)
            return state.stdout.strip() == "healthy"
        wait_until(healthy, timeout, interval=0.5, what="broker healthy")

    def logs(self, service=None):
        args = ["logs", "--no-color", "--tail", "60"] + ([service] if service else [])
        return self.run(*args, check=False).stdout

    # ---- the host side: fling tools over the published ports ------------

    @staticmethod
    def image():
        return IMAGE

    def fetch_keys(self):
        """CURVE is on in the compose file: the host's tools need the admin's
        and the producer's secrets and the broker's public key, which the
        `keygen` service left in its volumes. Copied once, mode 0600."""
        if os.path.exists(self.keys_dir):
            return
        os.makedirs(self.keys_dir, 0o700)
        for role in ("admin", "producer"):
            volume = "%s_fling-keys-%s" % (self.project, role)
            for name in ("%s.secret" % role, "broker.pub"):
                data = sh(["docker", "run", "--rm", "-v", "%s:/k:ro" % volume, "--entrypoint",
                           "cat", IMAGE, "/k/%s" % name]).stdout
                path = os.path.join(self.keys_dir, name if name != "broker.pub" else "broker.pub")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(data)

    def curve_args(self, role):
        self.fetch_keys()  # a test may start the stack itself (stack.run("up", ...))
        return ["--curve-broker-key", os.path.join(self.keys_dir, "broker.pub"),
                "--curve-key", os.path.join(self.keys_dir, "%s.secret" % role)]

    def fling(self, *args, timeout=15):
        argv = [os.path.join(self.bin_dir, "fling"), "--endpoint",
                "tcp://127.0.0.1:%d" % self.producer_port] + self.curve_args("admin") + list(args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def stats(self):
        result = self.fling("stats", "--json")
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)

    def registered_workers(self):
        stats = self.stats()
        return stats["workers"] if stats else []

    def start_load(self, count, name="test.block", ms=0, rate=0, extra=()):
        index = len(self.loads) + 1
        ledger = os.path.join(self.dir, "producer%d.ledger" % index)
        out = open(os.path.join(self.dir, "producer%d.out" % index), "wb")
        err = open(os.path.join(self.dir, "producer%d.log" % index), "wb")
        argv = [os.path.join(self.bin_dir, "fling-load"), "--endpoint",
                "tcp://127.0.0.1:%d" % self.producer_port, "--count", str(count), "--name", name,
                "--ms", str(ms), "--rate", str(rate), "--ledger", ledger, "--json-summary",
                "--flush-timeout-ms", "240000"] + self.curve_args("producer") + list(extra)
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        out.close()
        err.close()
        self.loads.append((proc, ledger, os.path.join(self.dir, "producer%d.out" % index)))
        return proc

    def wait_loads(self, timeout=300):
        summaries = []
        for proc, _, out in self.loads:
            proc.wait(timeout=timeout)
            with open(out) as f:
                lines = [line for line in f if line.startswith("{")]
            summaries.append(json.loads(lines[-1]) if lines else {"rc": proc.returncode})
        return summaries

    def stop_loads(self):
        for proc, _, _ in self.loads:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    # ---- ledgers ---------------------------------------------------------

    def ledger(self):
        ledger = ledger_check.Ledger()
        for _, path, _ in self.loads:
            if os.path.exists(path):
                ledger.read_producer(path)
        for name in sorted(os.listdir(self.ledger_dir)):
            ledger.read_worker(os.path.join(self.ledger_dir, name))
        return ledger

    def done_by_container(self):
        counts = {}
        for name in sorted(os.listdir(self.ledger_dir)):
            with open(os.path.join(self.ledger_dir, name), "rb") as f:
                counts[name] = sum(1 for line in f if line.startswith(b"done "))
        return counts

    def wait_done(self, count, timeout=300):
        def enough():
            return sum(self.done_by_container().values()) >= count
        wait_until(enough, timeout, interval=0.5, what="%d tasks done" % count)
        time.sleep(1.0)  # let a late duplicate show itself before the count is judged

    def report(self, case, seconds, max_duplicates=0):
        summary = self.ledger().summary()
        print("case %s: %s seconds=%.1f" % (case, ledger_check.format_summary(summary), seconds),
              flush=True)
        failures = ledger_check.verdict(summary, max_duplicates)
        if failures:
            raise AssertionError("; ".join(failures))
        return summary
