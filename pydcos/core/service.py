"""Running a daemon's one event loop: uvloop where installed, plain asyncio otherwise."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

T = TypeVar("T")


# A daemon allocates a few thousand short-lived containers per second under load (messages,
# records, frames); at Python's default threshold of 700 that is a young collection every few
# hundred microseconds, and a full one walks every module object loaded at start-up.
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect once, move everything alive (modules, classes: start-up's objects, which never become
    garbage) out of the collector's sight, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run a daemon's main coroutine to its end on the best loop at hand."""
    tune_gc()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    result: T = uvloop.run(main)
    return result


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: what every daemon's main waits on before closing."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_until_signalled(daemon: AbstractAsyncContextManager[Any]) -> None:
    """Start `daemon`, run until SIGTERM or SIGINT, then close it: a daemon's whole `serve`."""
    stop = stop_on_signals()
    async with daemon:
        await stop.wait()
