"""pytest support for the python tests: the shared multi-process harness
(tests/harness/fling_harness.py: real broker and workers on free ports,
ledgers, logs kept on failure) and a producer that writes a ledger."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
sys.path.insert(0, HERE)

import fling  # noqa: E402
import fling_harness  # noqa: E402


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def managed_cluster(request, **options):
    """A Cluster for one test (options: fling_harness.Cluster's); every process
    it started is killed at the end, and its logs are printed (files kept)
    when the test failed. A generator, for fixtures to yield from."""
    c = fling_harness.Cluster(request.node.name.replace("[", "-").replace("]", "")[:40],
                              **options)
    try:
        yield c
    finally:
        c.stop_all()
        report = getattr(request.node, "rep_call", None)
        if report is None or report.failed:
            c.failed = True
            c.dump_logs()
        c.__exit__(None, None, None)


@pytest.fixture
def cluster(request):
    yield from managed_cluster(request)


class LedgerProducer(fling.Producer):
    """A Producer whose on_ack writes the producer ledger lines the ledger
    checker reads ("accepted ID", "rejected ID REASON", "dropped ID")."""

    def __init__(self, cluster, name="pyproducer", endpoint=None, **options):
        path = cluster.path("%s.ledger" % name)
        cluster.producer_ledgers.append(path)
        self.ledger_file = open(path, "a", buffering=1)
        super().__init__(endpoint or cluster.producer_endpoint, on_ack=self._write, **options)

    def _write(self, task_id, ack, error):
        if ack == fling.Ack.ACCEPTED:
            self.ledger_file.write("accepted %s\n" % task_id)
        elif ack == fling.Ack.REJECTED:
            self.ledger_file.write("rejected %s %s\n" % (task_id, error.detail))
        else:
            self.ledger_file.write("dropped %s\n" % task_id)

    def close(self, linger=None):
        super().close(linger)
        self.ledger_file.close()
