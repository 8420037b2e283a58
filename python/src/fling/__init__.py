"""fling for Python: send background tasks to a fling broker (Producer,
fling.send, fling.lifespan for FastAPI) and run them in an asyncio worker
(App, `fling-py-worker module:app`). The wire protocol is FLP/1
(proto/SPEC.md), shared with the C producer and worker.
"""
from .app import App, Fail, Retry, Task
from .errors import (BadJSON, BadName, BadTask, Closed, FlingError, FlushTimeout, Forbidden,
                     InvalidTask, OutboxFull, ProtocolError, QueueFull, Refused, StoreFull,
                     TooLarge, Unavailable, VersionTooOld)
from .keys import CurveKeys
from ._sender import Ack
from .producer import (Producer, Stats, default_producer, lifespan, send,
                       set_default_producer)
from .validate import validate_task

__version__ = "0.1.0"

__all__ = [
    "Ack", "App", "BadJSON", "BadName", "BadTask", "Closed", "CurveKeys", "Fail", "FlingError",
    "FlushTimeout", "Forbidden", "InvalidTask", "OutboxFull", "Producer", "ProtocolError", "QueueFull",
    "Refused", "Retry", "Stats", "StoreFull", "Task", "TooLarge", "Unavailable",
    "VersionTooOld", "default_producer", "lifespan", "send", "set_default_producer", "validate_task",
]
