"""CurveZMQ keys: the Python producer and worker take the C clients' key
settings (the broker's public key, this client's secret certificate file;
FLING_CURVE_BROKER_KEY / FLING_CURVE_KEY, --curve-broker-key / --curve-key),
in czmq's certificate format, and speak CURVE with them. Checked against a
scripted broker whose ROUTER is a CURVE server: a client with the right
broker key gets through, one with another broker key does not. With CURVE
the task ids start with the key's tag (its first 8 bytes) and each producer
starts its sequence at a random point, as the C producer does."""
import os
import stat

import pytest
import zmq
import zmq.auth
from zmq.utils import z85

import fling
from fling import protocol as p
from fling.keys import CurveKeys, keys_from
from test_flp11 import ScriptedBroker


@pytest.fixture
def certs(tmp_path):
    """Broker and client certificates (czmq's format), secrets mode 600."""
    made = {}
    for name in ("broker", "client", "other"):
        public, secret = zmq.auth.create_certificates(str(tmp_path), name)
        os.chmod(secret, 0o600)
        made[name] = (public, secret)
    return made


@pytest.fixture
def curve_broker(certs):
    broker = ScriptedBroker.__new__(ScriptedBroker)
    broker.sock = zmq.Context.instance().socket(zmq.ROUTER)
    broker.sock.setsockopt(zmq.LINGER, 0)
    public, secret = zmq.auth.load_certificate(certs["broker"][1])
    broker.sock.curve_secretkey = secret
    broker.sock.curve_publickey = public
    broker.sock.curve_server = True
    port = broker.sock.bind_to_random_port("tcp://127.0.0.1")
    broker.endpoint = "tcp://127.0.0.1:%d" % port
    yield broker
    broker.close()


def test_producer_speaks_curve_and_tags_its_ids(certs, curve_broker):
    keys = CurveKeys.load(certs["broker"][0], certs["client"][1])
    with fling.Producer(curve_broker.endpoint, keys=keys) as producer:
        first = producer.send("test.noop", {"n": 1})
        rid, submit = curve_broker.recv()
        assert submit.cmd == p.SUBMIT
        record = submit.records[0]
        assert record.id[:8] == keys.tag == z85.decode(keys.public)[:8]
        assert first == p.task_id_text(record.id)
        assert int(first.split(":")[1]) > 1000, "the sequence starts at a random point"
        curve_broker.send(rid, p.ack(submit.batch_seq, b"\0"))
        producer.flush(5)
        assert producer.stats().sent == producer.stats().accepted == 1
    # the same key in a second producer: other ids (sequence), same tag
    with fling.Producer(curve_broker.endpoint, keys=keys) as again:
        second = again.send("test.noop", {"n": 2})
        assert second.split(":")[0] == first.split(":")[0] and second != first
        again.close(linger=0)


def test_wrong_broker_key_gets_nothing_through(certs, curve_broker):
    keys = CurveKeys.load(certs["other"][0], certs["client"][1])  # not the broker's key
    producer = fling.Producer(curve_broker.endpoint, keys=keys)
    try:
        producer.send("test.noop", {})
        with pytest.raises(TimeoutError):
            curve_broker.recv(timeout=1.5)
    finally:
        producer.close(linger=0)


def test_worker_takes_the_c_flags(cluster, certs, curve_broker):
    cluster.worker_endpoint = curve_broker.endpoint
    worker = cluster.start_py_worker("--curve-broker-key", certs["broker"][0], "--curve-key",
                                     certs["client"][1], wait=False, name="pyworker")
    rid, ready = curve_broker.recv()
    assert ready.cmd == p.READY
    curve_broker.send(rid, p.welcome(1000, 3000))
    worker.signal(15)
    assert worker.wait(15) == 0


def test_key_settings_are_checked(certs, tmp_path):
    broker_public = certs["broker"][0]
    z85_text = zmq.auth.load_certificate(broker_public)[0].decode()
    assert keys_from(None, None) is None and keys_from("", "") is None
    keys = keys_from(z85_text, certs["client"][1])  # the Z85 text works as well as the file
    assert keys.broker_public == z85_text.encode()
    with pytest.raises(ValueError, match="needs both"):
        keys_from(broker_public, None)
    os.chmod(certs["client"][1], 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        CurveKeys.load(broker_public, certs["client"][1])
    os.chmod(certs["client"][1], stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(ValueError, match="no secret key"):
        CurveKeys.load(broker_public, _public_only(tmp_path, certs))
    with pytest.raises(ValueError):
        CurveKeys.load(str(tmp_path / "missing.pub"), certs["client"][1])


def _public_only(tmp_path, certs):
    """A copy of the client's .pub with the secret's file mode: it holds no secret."""
    path = tmp_path / "public-as-secret"
    path.write_bytes(open(certs["client"][0], "rb").read())
    os.chmod(path, 0o600)
    return str(path)
