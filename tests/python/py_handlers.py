"""Python handlers for the python tests: the C test handlers' ledger lines
(tests/handlers/fling_test_handlers.c) from a fling.App, so C and Python
workers can serve the same task names side by side and one ledger checker
judges them both.

Ledger: $FLING_TEST_LEDGER, one write(2) per line on an O_APPEND descriptor
("start|done|fail <id> <attempt> <pid> <name> <ms>"). $FLING_TEST_THREADS
(optional) receives one line per test.thread run:
"<task id> <thread ident> <context's owner ident> <context serial> <client owner ident>".

    test.noop    async: done at once
    test.async   async: done after {"ms": N} (default 10) on asyncio.sleep
    test.block   blocking: sleeps {"ms": N} (default 0), then done
    test.flaky   blocking: Fail while attempt <= {"fail_attempts": K} (default 2)
    test.fail    blocking: always Fail
    test.retry   async: Retry(delay={"delay_ms"}/1000) while attempt <= {"fail_attempts": K}
    test.hang    blocking: sleeps {"ms": N} (default one hour) in 100 ms steps
    test.thread  blocking: records which thread and which per-thread client ran it
    test.aclient async: uses the loop's client (checks it runs on the loop's thread)
"""
import asyncio
import itertools
import json
import os
import threading
import time

import fling

app = fling.App()
_fd = os.open(os.environ["FLING_TEST_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
_threads_path = os.environ.get("FLING_TEST_THREADS")
_threads_fd = (os.open(_threads_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
               if _threads_path else -1)
_pid = os.getpid()
_serial = itertools.count(1)


def ledger(event, task):
    os.write(_fd, ("%s %s %d %d %s %d\n" % (event, task.id, task.attempt, _pid, task.name,
                                            time.time() * 1000)).encode())


def params(task, ms=0, fail_attempts=0):
    payload = task.payload
    return (min(max(payload.get("ms", ms), 0), 3_600_000), payload.get("fail_attempts",
                                                                         fail_attempts))


class Client:
    """Stands for a database or HTTP client: it knows the thread it belongs to
    and complains when another one uses it."""

    def __init__(self):
        self.owner = threading.get_ident()
        self.serial = next(_serial)

    def use(self):
        if threading.get_ident() != self.owner:
            raise RuntimeError("client of thread %d used by thread %d"
                               % (self.owner, threading.get_ident()))
        return self.owner


@app.on_thread_start
def open_thread_client(context):
    context.owner = threading.get_ident()
    context.client = Client()


@app.on_loop_start
async def open_loop_client(context):
    context.owner = threading.get_ident()
    context.client = Client()


@app.task("test.noop")
async def noop(task):
    ledger("start", task)
    ledger("done", task)


@app.task("test.async")
async def async_sleep(task):
    ledger("start", task)
    ms, fail_attempts = params(task, ms=10)
    await asyncio.sleep(ms / 1000)
    if task.attempt <= fail_attempts:
        raise fling.Fail("forced failure (attempt %d of %d)" % (task.attempt, fail_attempts))
    ledger("done", task)


@app.task("test.block")
def block(task):
    ledger("start", task)
    ms, fail_attempts = params(task)
    time.sleep(ms / 1000)
    if task.attempt <= fail_attempts:
        raise fling.Fail("forced failure (attempt %d of %d)" % (task.attempt, fail_attempts))
    ledger("done", task)


@app.task("test.flaky")
def flaky(task):
    ledger("start", task)
    ms, fail_attempts = params(task, fail_attempts=2)
    time.sleep(ms / 1000)
    if task.attempt <= fail_attempts:
        ledger("fail", task)
        raise fling.Fail("flaky attempt %d" % task.attempt)
    ledger("done", task)


@app.task("test.fail")
def fail(task):
    ledger("start", task)
    ledger("fail", task)
    raise fling.Fail("always fails")


@app.task("test.retry")
async def retry(task):
    ledger("start", task)
    _, fail_attempts = params(task, fail_attempts=1)
    if task.attempt <= fail_attempts:
        ledger("fail", task)
        raise fling.Retry("retry attempt %d" % task.attempt,
                          delay=task.payload.get("delay_ms", 100) / 1000)
    ledger("done", task)


@app.task("test.hang")
def hang(task):
    ledger("start", task)
    ms, _ = params(task, ms=3_600_000)
    deadline = time.monotonic() + ms / 1000
    while time.monotonic() < deadline:
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    ledger("done", task)


@app.task("test.thread")
def thread_task(task):
    ledger("start", task)
    context = task.context
    owner = context.client.use()
    ms, _ = params(task, ms=5)
    time.sleep(ms / 1000)
    if _threads_fd >= 0:
        os.write(_threads_fd, ("%s %d %d %d %d\n" % (task.id, threading.get_ident(),
                                                     context.owner, context.client.serial,
                                                     owner)).encode())
    ledger("done", task)


@app.task("test.aclient")
async def loop_client(task):
    ledger("start", task)
    task.context.client.use()
    await asyncio.sleep(0)
    ledger("done", task)


if __name__ == "__main__":  # for a quick look: python py_handlers.py
    print(json.dumps(sorted(app.handlers)))
