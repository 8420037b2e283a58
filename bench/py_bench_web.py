"""The FastAPI app of the Python benchmark (bench/python_bench.py): the same
endpoint with and without a fling.send, so the difference is the send.

    GET /plain   builds the task's payload and returns
    GET /send    builds it, fling.send()s it, and returns
"""
from fastapi import FastAPI

import fling

app = FastAPI(lifespan=fling.lifespan())
PAD = "x" * 60


def payload(i: int) -> dict:
    return {"i": i, "ms": 0, "pad": PAD}


@app.get("/plain")
async def plain(i: int = 0) -> dict:
    payload(i)
    return {"ok": True}


@app.get("/send")
async def send(i: int = 0) -> dict:
    fling.send("bench.py_noop", payload(i))
    return {"ok": True}
