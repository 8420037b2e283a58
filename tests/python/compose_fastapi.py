#!/usr/bin/env python3
"""compose.fastapi: the compose file's Python services (profile `python`) on
the real Docker Engine: the broker, the FastAPI example (`web`) and a Python
worker (`pyworker`), built from examples/fastapi/Dockerfile. Sign-ups go to
the web service through its published port; every task a response names
runs exactly once in the worker container, and `stop` drains the worker
(exit 0). Uses tests/compose/compose_stack.py (label compose; the C image
comes from the compose.image fixture)."""
import collections
import json
import os
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "compose"))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import compose_stack  # noqa: E402
from fling_harness import free_port, run, wait_until  # noqa: E402

IMAGE = "fling-python:compose-test"
SIGNUPS = 200


def build_image():
    """Wheels from the host's pip first (the image then needs no network of its
    own to PyPI: examples/fastapi/wheels/README.md), then the image."""
    wheels = os.path.join(ROOT, "examples", "fastapi", "wheels")
    compose_stack.sh([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", wheels,
                      os.path.join(ROOT, "python"), "-r",
                      os.path.join(ROOT, "examples", "fastapi", "requirements.txt")], timeout=600)
    compose_stack.sh(["docker", "build", "-q", "-f",
                      os.path.join(ROOT, "examples", "fastapi", "Dockerfile"), "-t", IMAGE, ROOT],
                     timeout=900)


def post(port, i):
    request = urllib.request.Request("http://127.0.0.1:%d/signup" % port, method="POST",
                                     data=json.dumps({"email": "u%d@example.com" % i}).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())["tasks"]


def test():
    build_image()
    stack = compose_stack.Stack("fastapi")
    web_port = free_port()
    stack.env.update(FLING_PYTHON_IMAGE=IMAGE, FLING_WEB_PORT=str(web_port))
    stack.compose += ["--profile", "python"]
    try:
        stack.run("up", "-d", "--no-build", "--scale", "worker=0", "--scale", "producer=0",
                  timeout=300)
        stack.wait_healthy()
        wait_until(lambda: len(stack.registered_workers()) == 1, 60,
                   what="the Python worker registered")

        def web_up():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health" % web_port, timeout=5):
                    return True
            except OSError:
                return False

        wait_until(web_up, 60, interval=0.5, what="the web service answering")
        with ThreadPoolExecutor(8) as pool:
            ids = [i for tasks in pool.map(lambda i: post(web_port, i), range(1, SIGNUPS + 1))
                   for i in tasks]
        assert len(ids) == 2 * SIGNUPS == len(set(ids))
        wait_until(lambda: (stack.stats() or {}).get("tasks") == 0, 60, what="every task done")

        def ran():
            counts = collections.Counter()
            for path in ("/var/lib/fling-example/mailbox.jsonl", "/var/lib/fling-example/events.jsonl"):
                out = stack.run("exec", "-T", "pyworker", "cat", path, check=False).stdout
                counts.update(json.loads(line)["task"] for line in out.splitlines() if line)
            return counts

        counts = ran()
        missing = set(ids) - set(counts)
        twice = [i for i, n in counts.items() if n > 1]
        print("compose: %d tasks sent through web, %d ran, %d twice" % (len(ids), len(counts),
                                                                      len(twice)))
        assert not missing and not twice, (sorted(missing)[:3], twice[:3])
        stopped = stack.run("stop", "-t", "30", "pyworker", "web", timeout=120)
        codes = subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}"]
                               + stack.containers("pyworker"), capture_output=True,
                               text=True).stdout.split()
        assert codes == ["0"], "pyworker exit codes after stop: %s %s" % (codes, stopped.stderr)
        assert "draining" in stack.logs("pyworker")
    except Exception:
        print(stack.logs())
        raise
    finally:
        stack.down()


run(test)
