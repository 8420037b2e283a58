"""fling-py-worker: runs the task handlers of a fling.App.

    fling-py-worker myservice.tasks:app [--endpoint tcp://broker:5556] ...
    python -m fling.worker myservice.tasks:app ...

Async handlers (async def) run on the worker's asyncio event loop, blocking
ones (plain def) on its thread pool; SIGTERM or SIGINT drains (finishes what
runs, hands back what waits, up to the drain timeout) and exits 0. The flags,
their environment variables and defaults are fling-worker's (README.md,
"Daemons"); a flag wins over its variable.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import socket
import sys
import time
from typing import Any, List, Optional

from ._worker import Engine
from .app import App
from .keys import CurveKeys, keys_from

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5556"


class Options:
    """A worker's settings, with fling-worker's defaults."""

    def __init__(self, endpoint: Optional[str] = None, name: Optional[str] = None,
                 pool_size: Optional[int] = None, async_limit: int = 1000, prefetch: int = 1,
                 heartbeat_ms: int = 1000, drain_timeout_ms: int = 30000,
                 keys: Optional[CurveKeys] = None, ready_fd: Optional[int] = None):
        self.endpoint = endpoint or os.environ.get("FLING_WORKER_ENDPOINT") or DEFAULT_ENDPOINT
        self.name = name or "%s-%d" % (socket.gethostname()[:100], os.getpid())
        self.pool_size = pool_size or os.cpu_count() or 1
        self.async_limit = async_limit
        self.prefetch = prefetch
        self.heartbeat_ms = heartbeat_ms
        self.drain_timeout_ms = drain_timeout_ms
        self.keys = keys
        self.ready_fd = ready_fd
        if not (0 < self.pool_size <= 10000 and 0 < async_limit <= 1_000_000
                and 0 <= prefetch <= 1000 and 0 < heartbeat_ms <= 3_600_000
                and 0 < drain_timeout_ms <= 86_400_000):
            raise ValueError("worker option out of range")


def run_app(app: App, options: Options) -> int:
    """Runs a worker for `app` until it is stopped; its exit status."""
    if not app.handlers:
        raise ValueError("the app has no task handlers")
    return asyncio.run(Engine(app, options).run())


def run(app: App, **options: Any) -> int:
    """Runs a worker for `app` in this process until SIGTERM or SIGINT
    (options as Options: endpoint, pool_size...); returns the exit status."""
    return run_app(app, Options(**options))


# ---- the command line ------------------------------------------------------------------


class _UtcFormatter(logging.Formatter):
    """fling's log line: "2026-11-25T12:00:00.123Z python-worker INFO ..." """

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        level = {"WARNING": "WARN", "CRITICAL": "ERROR"}.get(record.levelname, record.levelname)
        line = "%s.%03dZ python-worker %s %s" % (stamp, record.msecs, level, record.getMessage())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _env_int(name: str, default: Optional[int]) -> Optional[int]:
    text = os.environ.get(name)
    return int(text) if text else default


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="fling-py-worker", description="Runs the task handlers of a fling.App. SIGTERM or "
        "SIGINT drains and exits (0 after a clean drain, 1 when tasks were still running at the "
        "drain timeout or on a start-up error).")
    p.add_argument("app", help="MODULE:ATTRIBUTE of the fling.App, e.g. myservice.tasks:app")
    p.add_argument("--endpoint", default=env("FLING_WORKER_ENDPOINT") or DEFAULT_ENDPOINT,
                   help="broker's worker endpoint ($FLING_WORKER_ENDPOINT, default %(default)s)")
    p.add_argument("--name", default=env("FLING_WORKER_NAME"),
                   help="worker name in logs and stats ($FLING_WORKER_NAME, default HOSTNAME-PID)")
    p.add_argument("--pool-size", type=int, default=_env_int("FLING_POOL_SIZE", None),
                   help="threads for blocking handlers ($FLING_POOL_SIZE, default: cores)")
    p.add_argument("--async-limit", type=int, default=_env_int("FLING_ASYNC_LIMIT", 1000),
                   help="async tasks at once ($FLING_ASYNC_LIMIT, default %(default)s)")
    p.add_argument("--prefetch", type=int, default=_env_int("FLING_PREFETCH", 1),
                   help="tasks held per slot beyond the running ones ($FLING_PREFETCH, default "
                   "%(default)s; 0 for long tasks)")
    p.add_argument("--heartbeat-ms", type=int, default=_env_int("FLING_HEARTBEAT_MS", 1000),
                   help="PING interval ($FLING_HEARTBEAT_MS, default %(default)s)")
    p.add_argument("--drain-timeout-ms", type=int,
                   default=_env_int("FLING_DRAIN_TIMEOUT_MS", 30000),
                   help="on stop, wait this long for running tasks ($FLING_DRAIN_TIMEOUT_MS, "
                   "default %(default)s)")
    p.add_argument("--curve-broker-key", default=env("FLING_CURVE_BROKER_KEY"),
                   help="the broker's public key, Z85 or its .pub file "
                   "($FLING_CURVE_BROKER_KEY); with --curve-key turns CURVE on")
    p.add_argument("--curve-key", default=env("FLING_CURVE_KEY"),
                   help="this worker's secret key file ($FLING_CURVE_KEY)")
    p.add_argument("--log-level", default=env("FLING_LOG_LEVEL") or "info",
                   choices=("debug", "info", "warn", "error"),
                   help="($FLING_LOG_LEVEL, default %(default)s)")
    p.add_argument("--ready-fd", type=int, default=None,
                   help="write \"ready\\n\" to fd N once registered with the broker")
    p.add_argument("--app-dir", default=".",
                   help="directory put first on sys.path to import the app (default: .)")
    return p


def load_app(spec: str, app_dir: str = ".") -> App:
    """The App named by "module:attribute" (attribute default: app)."""
    module_name, _, attribute = spec.partition(":")
    if app_dir not in sys.path:
        sys.path.insert(0, os.path.abspath(app_dir))
    module = importlib.import_module(module_name)
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, App):
        raise ValueError("%s is not a fling.App" % spec)
    return app


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter())
    root = logging.getLogger("fling")
    root.addHandler(handler)
    root.setLevel({"warn": "WARNING"}.get(args.log_level, args.log_level.upper()))
    try:
        if args.ready_fd is not None:
            os.fstat(args.ready_fd)
        options = Options(endpoint=args.endpoint, name=args.name, pool_size=args.pool_size,
                          async_limit=args.async_limit, prefetch=args.prefetch,
                          heartbeat_ms=args.heartbeat_ms, drain_timeout_ms=args.drain_timeout_ms,
                          keys=keys_from(args.curve_broker_key, args.curve_key),
                          ready_fd=args.ready_fd)
        app = load_app(args.app, args.app_dir)
        if not app.handlers:
            raise ValueError("%s has no task handlers" % args.app)
    except (ValueError, OSError, ImportError) as exc:
        print("fling-py-worker: %s" % exc, file=sys.stderr)
        return 1
    return run_app(app, options)


if __name__ == "__main__":
    sys.exit(main())
