"""Running a daemon's one event loop: uvloop where installed, plain asyncio otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
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
