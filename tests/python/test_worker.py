"""The Python worker (fling-py-worker) against the real broker: kills, long
blocking handlers, per-thread clients, outcomes, deadlines, drain, and a
broker restart under running tasks. Every run is judged by its ledger."""
import collections
import json
import signal
import time

from conftest import LedgerProducer
from fling_harness import free_port, wait_until


def send_all(cluster, tasks, **options):
    """Sends (name, payload) pairs with a ledger producer; returns their ids."""
    producer = LedgerProducer(cluster, **options)
    ids = [producer.send(name, payload) for name, payload in tasks]
    producer.flush(30)
    producer.close()
    assert producer.stats().accepted == len(tasks)
    return ids


def test_sigkill_mid_run_loses_nothing(cluster):
    cluster.start_broker("--worker-timeout-ms", "1500")
    victim = cluster.start_py_worker("--pool-size", "4", "--async-limit", "20",
                                     "--heartbeat-ms", "500", name="victim")
    total = 600
    send_all(cluster, [("test.block" if i % 2 else "test.async", {"ms": 20}) for i in range(total)])
    cluster.wait_done(50, timeout=60)
    victim.signal(signal.SIGKILL)
    victim.wait(10)
    cluster.start_py_worker("--pool-size", "4", "--async-limit", "20", name="survivor")
    cluster.wait_done(total, timeout=90)
    # done lines count duplicates too: the broker holding nothing means every
    # task the victim took down with it has run again
    wait_until(lambda: cluster.stats()["tasks"] == 0, 30, what="the broker holding no task")
    # A task the victim finished (its done line written) whose RESULT died
    # with it runs again: at most what it held (4 + 20 running, as many
    # prefetched) can be duplicated, nothing may be lost.
    summary = cluster.check(max_duplicates=48, expect_accepted=total)
    stats = cluster.stats()
    counters = stats["counters"]
    assert counters["crashed"] + counters["worker_lost"] > 0, counters  # it saw the death
    ledger = cluster.ledger()
    pid = str(victim.pid)
    cut = [i for i, pids in ledger.started_by.items() if pid in pids and pid not in ledger.done_by[i]]
    print("SIGKILL cut %d runs short; duplicates: %d" % (len(cut), summary["duplicates"]))
    assert cut, "the kill should have caught tasks mid-run"
    assert all(ledger.done[i] >= 1 for i in cut)


def test_ten_second_blocking_handler_stalls_nothing(cluster):
    """Both pool threads sleep 10 s: async tasks still run at full speed, the
    loop's heartbeats keep the lease (the broker never declares the worker
    dead, the long tasks run exactly once)."""
    cluster.start_broker("--worker-timeout-ms", "3000")
    cluster.start_py_worker("--pool-size", "2", "--async-limit", "100", "--prefetch", "0",
                            name="pyworker")
    ids = send_all(cluster, [("test.hang", {"ms": 10000})] * 2)
    wait_until(lambda: cluster.ledger().started.keys() >= set(ids), 10, what="hang tasks started")
    started = time.monotonic()
    send_all(cluster, [("test.async", {"ms": 5})] * 1000, name="asyncproducer")
    cluster.wait_done(1000, timeout=30)
    async_seconds = time.monotonic() - started
    print("1000 async tasks done in %.2fs while both pool threads slept" % async_seconds)
    assert async_seconds < 8, "async tasks waited for the blocking ones"
    hang_done = set(cluster.ledger().done) & set(ids)
    assert not hang_done, "the 10 s tasks cannot have finished yet"
    cluster.wait_done(1002, timeout=30)
    ledger = cluster.ledger()
    assert all(ledger.started[i] == 1 and ledger.done[i] == 1 for i in ids), "ran twice"
    counters = cluster.stats()["counters"]
    assert counters["worker_lost"] == 0 and counters["requeued"] == 0, counters
    cluster.check(max_duplicates=0, expect_accepted=1002)


def test_per_thread_clients_are_never_shared(cluster):
    cluster.start_broker()
    threads_file = cluster.path("threads.txt")
    cluster.start_py_worker("--pool-size", "4", name="pyworker",
                            env={"FLING_TEST_THREADS": threads_file})
    send_all(cluster, [("test.thread", {"ms": 2})] * 400 + [("test.aclient", {})] * 200)
    cluster.wait_done(600, timeout=60)
    cluster.check(max_duplicates=0, expect_accepted=600)
    serial_of = {}
    owners = collections.defaultdict(set)
    with open(threads_file) as f:
        lines = [line.split() for line in f]
    assert len(lines) == 400
    for _task, ident, context_owner, serial, client_owner in lines:
        # the thread that ran it is the one whose context and client it used
        assert ident == context_owner == client_owner, (ident, context_owner, client_owner)
        serial_of.setdefault(ident, serial)
        assert serial_of[ident] == serial, "a thread used two clients"
        owners[serial].add(ident)
    assert all(len(idents) == 1 for idents in owners.values()), "a client used by two threads"
    assert len(serial_of) == 4, "each of the 4 pool threads should have run some: %s" % serial_of


def test_retry_with_delay_and_fail_with_message(cluster):
    cluster.start_broker("--backoff-ms", "50")
    cluster.start_py_worker(name="pyworker")
    retry_id, = send_all(cluster, [("test.retry", {"fail_attempts": 1, "delay_ms": 1500})])
    fail_id, = send_all(cluster, [("test.fail", {})], name="failproducer")
    wait_until(lambda: cluster.ledger().done.get(retry_id), 20, what="the retried task done")
    times = [int(line.split()[5]) for line in open(cluster.worker_ledgers[0])
             if line.split()[:2] == ["start", retry_id]]
    assert len(times) == 2
    print("retry came %d ms after the first run" % (times[1] - times[0]))
    assert 1100 <= times[1] - times[0] <= 6000, "the handler asked for 1.5 s"
    wait_until(lambda: cluster.stats()["dead"] == 1, 20, what="the failing task dead-lettered")
    dead = json.loads(cluster.fling("dead", "list", "--json").stdout)["dead"]
    assert dead[0]["id"] == fail_id and dead[0]["error"] == "always fails", dead
    assert dead[0]["attempts"] == 3 and dead[0]["reason"] == "failed"


def test_deadlines_cancel_async_and_detach_blocking(cluster):
    """A 300 ms deadline: the async handler is cancelled and the blocking one's
    only thread is detached; TIMEOUT goes out at once and a replacement thread
    runs the next blocking task while the stuck one still sleeps."""
    cluster.start_broker("--max-attempts", "1")
    worker = cluster.start_py_worker("--pool-size", "1", name="pyworker")
    producer = LedgerProducer(cluster, name="timed")
    producer.send("test.hang", {"ms": 4000}, timeout_ms=300)
    producer.send("test.async", {"ms": 4000}, timeout_ms=300)
    producer.flush(10)
    started = time.monotonic()
    producer.send("test.block", {"ms": 10})
    producer.send("test.async", {"ms": 10})
    producer.flush(10)
    producer.close()
    wait_until(lambda: cluster.stats()["dead"] == 2, 10, what="two timed-out tasks dead")
    cluster.wait_done(2, timeout=10)
    assert time.monotonic() - started < 3, "TIMEOUT and the next tasks should not wait 4 s"
    dead = json.loads(cluster.fling("dead", "list", "--json").stdout)["dead"]
    assert {d["reason"] for d in dead} == {"timeout"}, dead
    assert "overran its deadline" in worker.log()
    # the stuck thread's late outcome is dropped: its task stays dead, once
    time.sleep(4)
    ledger = cluster.ledger()
    assert sum(ledger.started.values()) == 4 and cluster.stats()["dead"] == 2


def test_sigterm_drains_and_exits_zero(cluster):
    cluster.start_broker()
    first = cluster.start_py_worker("--pool-size", "4", "--async-limit", "20", name="first")
    total = 400
    send_all(cluster, [("test.block" if i % 2 else "test.async", {"ms": 100})
                       for i in range(total)])
    cluster.wait_done(20, timeout=60)
    assert cluster.stop(first, signal.SIGTERM, timeout=30) == 0
    ledger = cluster.ledger()
    pid = str(first.pid)
    started = {i for i, pids in ledger.started_by.items() if pid in pids}
    finished = {i for i, pids in ledger.done_by.items() if pid in pids}
    print("first worker started %d, finished %d" % (len(started), len(finished)))
    assert started == finished, "in-flight tasks abandoned"
    assert "draining" in first.log()
    cluster.start_py_worker("--pool-size", "4", "--async-limit", "20", name="second")
    cluster.wait_done(total, timeout=60)
    cluster.check(max_duplicates=0, expect_accepted=total)


def test_broker_restart_under_running_tasks(cluster):
    """The broker is SIGKILLed while the worker runs long tasks, and comes back
    after they finished: the worker re-registers, names what it still runs
    (HOLDING) and resends the results the dead broker never confirmed; no task
    runs twice."""
    port, wport = free_port(), free_port()
    broker = cluster.start_broker(producer_port=port, worker_port=wport)
    worker = cluster.start_py_worker("--pool-size", "8", "--async-limit", "50", "--prefetch",
                                     "0", "--heartbeat-ms", "500", name="pyworker")
    ids = send_all(cluster, [("test.block", {"ms": 1500})] * 8 + [("test.async", {"ms": 1500})] * 50)
    wait_until(lambda: len(cluster.ledger().started) == 58, 10, what="58 tasks started")
    time.sleep(0.8)  # the dispatches are durable at the broker's next commit (a PING's turn)
    broker.signal(signal.SIGKILL)
    broker.wait(10)
    time.sleep(1.5)  # every task finished while the broker was away
    assert len(cluster.ledger().done) == 58
    cluster.start_broker(producer_port=port, worker_port=wport, name="broker2")
    wait_until(lambda: cluster.stats()["tasks"] == 0, 20, what="the broker applied every result")
    time.sleep(4)  # past the parking window: a task the results missed would run again now
    ledger = cluster.ledger()
    assert all(ledger.started[i] == 1 for i in ids), "a task ran twice"
    cluster.check(max_duplicates=0, expect_accepted=58)
    print("counters after restart:", cluster.stats()["counters"])
    assert cluster.stop(worker) == 0
    resent = int(worker.log().split("results_resent=")[1].split()[0])
    assert resent >= 58, "the results should have gone out again after the restart"


def test_holding_claims_tasks_still_running(cluster):
    """As above, but the broker comes back while the tasks still run: HOLDING
    leases them back to the worker, nothing is dispatched again."""
    port, wport = free_port(), free_port()
    broker = cluster.start_broker(producer_port=port, worker_port=wport)
    worker = cluster.start_py_worker("--pool-size", "4", "--prefetch", "0", "--heartbeat-ms",
                                     "500", name="pyworker")
    ids = send_all(cluster, [("test.block", {"ms": 5000})] * 4)
    wait_until(lambda: len(cluster.ledger().started) == 4, 10, what="4 tasks started")
    time.sleep(0.8)  # the dispatches are durable at the broker's next commit (a PING's turn)
    broker.signal(signal.SIGKILL)
    broker.wait(10)
    cluster.start_broker(producer_port=port, worker_port=wport, name="broker2")
    cluster.start_worker(name="cworker")  # an idle worker that would take requeued tasks
    wait_until(lambda: cluster.stats()["counters"]["holding_leased"] == 4, 10,
               what="the 4 running tasks leased back")
    cluster.wait_done(4, timeout=20)
    wait_until(lambda: cluster.stats()["tasks"] == 0, 10, what="results applied")
    ledger = cluster.ledger()
    assert all(ledger.started[i] == 1 for i in ids), "a held task ran again elsewhere"
    cluster.check(max_duplicates=0, expect_accepted=4)
    assert cluster.stop(worker) == 0
    assert int(worker.log().split("holding_sent=")[1].split()[0]) >= 4
