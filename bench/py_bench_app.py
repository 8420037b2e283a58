"""Handlers and helpers of the Python benchmark (bench/python_bench.py).

    bench.py_noop   async def: done at once (the worker's loop path)
    bench.py_block  def: done at once, on the thread pool (the pool path)

No ledger: the driver counts completions at the broker. rq_noop is the job
RQ enqueues (by its import path); nothing runs it in the benchmark.
"""
import fling

app = fling.App()


@app.task("bench.py_noop")
async def noop(task: fling.Task) -> None:
    return None


@app.task("bench.py_block")
def block(task: fling.Task) -> None:
    return None


def rq_noop(i: int) -> None:
    return None
