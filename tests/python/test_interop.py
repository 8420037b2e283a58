"""The Python producer and worker on the real broker, beside the C ones:
every task runs exactly once whichever side sent or ran it."""
import json

from conftest import LedgerProducer


def test_python_and_c_workers_side_by_side(cluster):
    cluster.start_broker()
    cluster.start_worker("--pool-size", "4", "--async-limit", "50", name="cworker")
    cluster.start_py_worker("--pool-size", "4", "--async-limit", "50", name="pyworker")
    producer = LedgerProducer(cluster)
    total = 3000
    for i in range(total):
        name = ("test.noop", "test.async", "test.block")[i % 3]
        producer.send(name, {"i": i, "ms": 1})
    producer.flush(30)
    producer.close()
    assert producer.stats().accepted == total
    cluster.wait_done(total, timeout=60)
    summary = cluster.check(max_duplicates=0, expect_accepted=total)
    ledger = cluster.ledger()
    print("done per pid:", dict(ledger.done_by_pid))
    assert len(ledger.done_by_pid) == 2, "both workers should have run tasks"
    assert summary["ok"] == total


def test_c_producer_to_python_worker(cluster):
    cluster.start_broker()
    cluster.start_py_worker("--pool-size", "2", name="pyworker")
    load = cluster.start_load("--count", "2000", "--name", "test.noop,test.block")
    assert cluster.load_summary(load, timeout=60)["accepted"] == 2000
    cluster.wait_done(2000, timeout=60)
    cluster.check(max_duplicates=0, expect_accepted=2000)
    stats = cluster.stats()
    print(json.dumps(stats["counters"]))
    assert stats["tasks"] == 0
