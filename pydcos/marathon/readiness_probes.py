"""Running readiness probes, the IO half of readiness.py: a loop asks the core which probes are due;
each runs in a task of its own with its check's `timeoutSeconds` as deadline, and its result goes
back into the core. Owned by the service: `start()`, `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp

from pydcos.core.log import get_logger
from pydcos.marathon.core import MarathonCore
from pydcos.marathon.http_probe import HttpAnswer, http_get
from pydcos.marathon.readiness import BODY_LIMIT, ReadinessProbe

log = get_logger("pydcos.marathon.readiness_probes")


async def run_readiness_probe(session: aiohttp.ClientSession, probe: ReadinessProbe) -> HttpAnswer | str:
    """The answer, or why there was none. Never raises for a failing target."""
    try:
        async with asyncio.timeout(probe.timeout):
            return await http_get(session, probe.url, body_limit=BODY_LIMIT if probe.keep_response else 0)
    except TimeoutError:
        return f"timed out after {probe.timeout:g}s"
    except (aiohttp.ClientError, OSError) as exc:
        return f"{exc.__class__.__name__}: {exc}"


class ReadinessProber:
    """Every `interval` seconds, starts the probes the core says are due. `settle` carries out what a
    result caused (the service's `execute(core.drain())`); `failed` counts a bug of ours."""

    def __init__(self, core: MarathonCore, settle: Callable[[], None], failed: Callable[[], None],
                 interval: float) -> None:
        self.core = core
        self.settle = settle
        self.failed = failed
        self.interval = interval
        self.probes_run = 0
        self._session: aiohttp.ClientSession | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Task[None]] = set()

    def start(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._loop_task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        tasks = [t for t in (self._loop_task, *self._probes) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop_task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                due = self.core.readiness.due_probes()
            except Exception:
                self.failed()
                log.exception("readiness_schedule_failed")
                continue
            for probe in due:
                task = asyncio.ensure_future(self._probe(probe))
                self._probes.add(task)
                task.add_done_callback(self._probes.discard)

    async def _probe(self, probe: ReadinessProbe) -> None:
        assert self._session is not None
        got = await run_readiness_probe(self._session, probe)
        self.probes_run += 1
        try:
            if isinstance(got, HttpAnswer):
                self.core.readiness.probe_answered(probe, got.status, got.content_type, got.body)
            else:
                self.core.readiness.probe_failed(probe, got)
            self.settle()
        except Exception:
            self.failed()
            log.exception("readiness_result_failed", task_id=probe.task_id)
