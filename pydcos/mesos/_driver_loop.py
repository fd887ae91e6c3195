"""The event loop thread both driver libraries run on, behind their blocking facades."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any


class DriverStatus:
    NOT_STARTED = "DRIVER_NOT_STARTED"
    RUNNING = "DRIVER_RUNNING"
    ABORTED = "DRIVER_ABORTED"
    STOPPED = "DRIVER_STOPPED"


class DriverLoop:
    """Runs `_run()` on a loop in a thread of its own, then `_cleanup()`; `join()` waits for both.

    Subclasses implement `_run`, `_cleanup`, and may prepare loop-bound objects in `_on_loop_start`.
    """

    THREAD_NAME = "pydcos-driver"

    def __init__(self) -> None:
        self.status = DriverStatus.NOT_STARTED
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._main: asyncio.Task[None] | None = None
        self._stopped = threading.Event()

    async def _run(self) -> None:
        raise AssertionError("a driver defines _run")

    async def _cleanup(self) -> None:
        return None

    def _on_loop_start(self) -> None:
        """Runs on the driver's loop before `_run` starts (create queues and events here)."""

    def start(self) -> str:
        if self.status != DriverStatus.NOT_STARTED:
            return self.status
        self.status = DriverStatus.RUNNING
        ready = threading.Event()

        def run_loop() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._on_loop_start()
            self._main = loop.create_task(self._run())
            ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._main)
            loop.run_until_complete(self._cleanup())
            loop.close()
            self._stopped.set()

        self._thread = threading.Thread(target=run_loop, name=self.THREAD_NAME, daemon=True)
        self._thread.start()
        ready.wait()
        return self.status

    def abort(self) -> str:
        if self.status == DriverStatus.RUNNING:
            self.status = DriverStatus.ABORTED
            self._cancel()
        return self.status

    def join(self) -> str:
        if self._thread is not None:
            self._stopped.wait()
        return self.status

    def run(self) -> str:
        self.start()
        return self.join()

    def _on_driver_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _cancel(self) -> None:
        if self._loop is None or self._main is None:
            return
        # The loop may already have ended (an ERROR from the other side aborts the driver).
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._main.cancel)

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        assert self._loop is not None, "driver not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop)
