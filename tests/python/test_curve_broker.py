"""The Python producer and worker on the real broker with CURVE on
(SECURITY.md; test_curve.py checks the same clients on a scripted broker):
they authenticate with their own keys, the producer's task ids carry its
key's tag (the broker refuses any other), and two producers sharing one key
do not reuse each other's ids."""
import os

import pytest

import fling
from conftest import LedgerProducer, managed_cluster


@pytest.fixture
def curve_cluster(request):
    yield from managed_cluster(request, curve=True)


def keys(c, name):
    return fling.CurveKeys.load(c.key_path("broker", "pub"), c.key_path(name, "secret"))


def test_python_clients_with_curve(curve_cluster):
    c = curve_cluster
    c.start_broker()
    c.start_py_worker("--pool-size", "2", name="pyworker")
    # two processes' worth of producers under the one producer key
    producers = [LedgerProducer(c, name="py%d" % i, keys=keys(c, "producer")) for i in range(2)]
    tag = keys(c, "producer").tag.hex()
    total = 0
    for i in range(500):
        for p in producers:
            task_id = p.send(("test.noop", "test.async")[i % 2], {"i": i})
            assert task_id.startswith(tag + ":"), task_id
            total += 1
    for p in producers:
        p.flush(30)
        p.close()
        assert p.stats().accepted == p.stats().sent == 500
    c.wait_done(total, timeout=60)
    c.check(max_duplicates=0, expect_accepted=total)
    counters = c.stats()["counters"]
    assert counters["forbidden_ids"] == 0 and counters["duplicates"] == 0, counters


def test_python_producer_without_the_right_key(curve_cluster):
    """A key the broker does not list never gets an ACK: the task stays in
    the producer's outbox (then dropped at close), nothing is accepted."""
    c = curve_cluster
    c.keygen("stranger", "producer", allow=False)
    c.start_broker()
    p = fling.Producer(c.producer_endpoint, keys=keys(c, "stranger"))
    p.send("test.noop", {})
    with pytest.raises(fling.FlingError):
        p.flush(2)
    p.close(0)
    stats = c.stats()
    assert stats["counters"]["accepted"] == 0
    assert stats["connections"]["handshakes"]["failed_auth"] >= 1


def test_secret_open_to_others_is_refused(curve_cluster):
    c = curve_cluster
    path = c.key_path("producer", "secret")
    os.chmod(path, 0o640)
    with pytest.raises(ValueError, match="chmod 600"):
        keys(c, "producer")


def test_broker_key_as_z85_text(curve_cluster):
    c = curve_cluster
    public = fling.CurveKeys.load(c.key_path("broker", "pub"), c.key_path("producer", "secret"))
    text = public.broker_public.decode("ascii")
    assert fling.CurveKeys.load(text, c.key_path("producer", "secret")) == public
    for bad in ("~" * 40, "abc", "\x01" * 40):
        with pytest.raises(ValueError):
            fling.CurveKeys.load(bad, c.key_path("producer", "secret"))
