"""What the operability tests share: their Python packages, scraping and
parsing /metrics with the Prometheus client's own parser, and HTTP calls.

The packages (tests/operability/requirements.txt) live in the venv that
`tools/python-venv --ops` makes; a test calls use_venv() first, which re-runs
the script under that venv's python, or skips (one line, exit 77) when the
venv cannot be made here.
"""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from fling_harness import skip  # noqa: E402


def use_venv():
    """Re-executes this script with the ops venv's python (made if needed)."""
    if os.environ.get("FLING_OPS_PYTHON") == sys.executable:
        return
    made = subprocess.run([os.path.join(ROOT, "tools", "python-venv"), "--ops"],
                          capture_output=True, text=True, timeout=900)
    if made.returncode != 0:
        why = (made.stderr.strip().splitlines() or ["tools/python-venv failed"])[-1]
        skip("no Python venv with prometheus_client/selenium (%s)" % why,
             "tools/python-venv --ops with PyPI reachable and Debian python3-venv")
    python = made.stdout.strip().splitlines()[-1]
    os.environ["FLING_OPS_PYTHON"] = python
    sys.stdout.flush()
    os.execv(python, [python] + sys.argv)


def http(addr, path, method="GET", body=None, headers=None, timeout=10):
    """(status, headers, body bytes) of one request to http://addr/path."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request("http://%s%s" % (addr, path), data=data, method=method)
    if body is not None and not (headers and "Content-Type" in headers):
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(addr, path):
    status, _, body = http(addr, path)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


class Scrape:
    """One /metrics page, parsed by prometheus_client's text parser (which
    raises on anything a Prometheus server would refuse)."""

    def __init__(self, text):
        from prometheus_client.parser import text_string_to_metric_families
        self.text = text
        self.types = {}
        self.samples = {}  # (sample name, sorted label items) -> value
        self.monotonic = set()  # keys of counter and histogram samples
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                assert key not in self.samples, "series twice: %s %s" % key
                self.samples[key] = sample.value
                if family.type in ("counter", "histogram"):
                    self.monotonic.add(key)
        # The declared names, as written (the parser strips _total).
        self.declared = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.declared[name] = kind

    def get(self, metric, default=None, /, **labels):
        return self.samples.get((metric, tuple(sorted(labels.items()))), default)

    def series(self, name):
        """{labels dict as sorted tuple: value} of every sample called `name`."""
        return {labels: value for (n, labels), value in self.samples.items() if n == name}

    def by(self, name, label):
        """{label value: value} of every sample called `name`."""
        return {dict(labels)[label]: value for labels, value in self.series(name).items()}

    def total(self, metric, /, **match):
        return sum(value for labels, value in self.series(metric).items()
                   if all(dict(labels).get(k) == v for k, v in match.items()))


def scrape(addr, timeout=10):
    status, headers, body = http(addr, "/metrics", timeout=timeout)
    assert status == 200, (status, body[:300])
    assert headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"), headers
    return Scrape(body.decode())


def check_conventions(s):
    """Prometheus naming: fling_ prefix, snake case, counters end in
    _total, no milliseconds or other non-base units in a name."""
    import re
    assert s.declared, "no families"
    for name, kind in s.declared.items():
        assert re.fullmatch(r"fling_[a-z][a-z0-9_]*", name), name
        assert (kind == "counter") == name.endswith("_total"), (name, kind)
        for bad in ("_ms", "millis", "_kb", "_mb", "percent"):
            assert bad not in name, name
        if kind == "histogram":
            assert name.endswith("_seconds"), name


def check_increase(before, after, where):
    """Counters and histogram series never go down between two scrapes."""
    for key in before.monotonic:
        if key in after.samples:
            assert after.samples[key] >= before.samples[key], \
                "%s: %s went down: %s -> %s" % (where, key, before.samples[key], after.samples[key])
