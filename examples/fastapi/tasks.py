"""The worker side of the FastAPI example: run it with

    FLING_WORKER_ENDPOINT=tcp://127.0.0.1:5556 fling-py-worker tasks:app

email.welcome is an async def: it runs on the worker's event loop, with the
loop's mail client (opened once by the loop start hook). analytics.event is
a plain def: it runs on the thread pool, each thread writing through a file
handle of its own (opened by the thread start hook), so no two threads ever
share one.

Stand-ins keep the example self-contained: the "mail server" is a file of
one JSON line per email ($EXAMPLE_MAILBOX, default ./mailbox.jsonl) and the
analytics store a file of events ($EXAMPLE_EVENTS, default ./events.jsonl);
each line carries the fling task id, which is what the tests count.
"""
import asyncio
import json
import os
import threading

import fling

app = fling.App()


class Mailer:
    """An async mail client (a stand-in for an SMTP or HTTP API client): one
    per event loop, never shared with a thread."""

    def __init__(self, path: str):
        self.mailbox = open(path, "a", buffering=1)

    async def send(self, to: str, subject: str, task_id: str) -> None:
        await asyncio.sleep(0.005)  # the round trip to the mail server
        self.mailbox.write(json.dumps({"task": task_id, "to": to, "subject": subject}) + "\n")

    async def close(self) -> None:
        self.mailbox.close()


@app.on_loop_start
async def open_mailer(context) -> None:
    context.mailer = Mailer(os.environ.get("EXAMPLE_MAILBOX", "mailbox.jsonl"))


@app.on_loop_stop
async def close_mailer(context) -> None:
    await context.mailer.close()


@app.on_thread_start
def open_events(context) -> None:
    context.events = open(os.environ.get("EXAMPLE_EVENTS", "events.jsonl"), "a", buffering=1)


@app.on_thread_stop
def close_events(context) -> None:
    context.events.close()


@app.task("email.welcome")
async def welcome(task: fling.Task) -> None:
    payload = task.payload
    if "@" not in payload["to"]:
        raise fling.Fail("not an email address: %r" % payload["to"])
    await task.context.mailer.send(payload["to"], "Welcome to the %s plan" % payload["plan"],
                                   task.id)


@app.task("analytics.event")
def record_event(task: fling.Task) -> None:
    event = dict(task.payload, task=task.id, thread=threading.get_ident())
    task.context.events.write(json.dumps(event) + "\n")
