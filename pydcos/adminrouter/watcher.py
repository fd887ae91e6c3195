"""Follows the cluster for the router: the leading master's agents and frameworks, Marathon's
labelled apps. Each round asks both (with deadlines) and hands the new view on when it changed.

    masters ──GET /master/redirect──► leader ──GET /master/state-summary──┐
    Marathon ──GET /v2/apps?embed=apps.tasks&label=DCOS_SERVICE_NAME──────┴─► view.build_view ─► on_change

A source that does not answer keeps its part of the last view (view.build_view), so a passing
outage changes nothing; `ready` turns true after the first round in which a master answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import msgspec

from pydcos.adminrouter.view import (
    APPS_DECODER,
    SUMMARY_DECODER,
    AppList,
    ClusterView,
    StateSummary,
    build_view,
)
from pydcos.core.log import get_logger

log = get_logger(__name__)

OnChange = Callable[[ClusterView], Awaitable[object]]
APPS_QUERY = "/v2/apps?embed=apps.tasks&label=DCOS_SERVICE_NAME"


class ViewWatcher:
    def __init__(
        self,
        *,
        masters: Sequence[str],
        marathons: Sequence[str],
        session: aiohttp.ClientSession,
        interval_s: float,
        timeout_s: float,
        on_change: OnChange,
    ) -> None:
        self.masters = tuple(masters)
        self.marathons = tuple(marathons)
        self.session = session
        self.interval_s = interval_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.on_change = on_change
        self.view = ClusterView()
        self.ready = False
        self.leader: str | None = None
        self.rounds = 0
        self._wake = asyncio.Event()
        self._problems: frozenset[str] = frozenset()

    def poke(self) -> None:
        """Start the next round now (a test, or a request for an agent the view lacks)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self.poll_once()
            self._wake.clear()
            # Sleep until the interval passes or someone pokes.
            try:
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def poll_once(self) -> ClusterView:
        summary, apps = await asyncio.gather(self._master_summary(), self._marathon_apps())
        view, problems = build_view(summary, apps, self.view)
        if (found := frozenset(problems)) != self._problems:
            for problem in sorted(found - self._problems):
                log.warning("route_left_out", problem=problem)
            self._problems = found
        self.rounds += 1
        if summary is not None and not self.ready:
            self.ready = True
            log.event("watcher_ready", leader=self.leader, agents=len(view.agents), services=len(view.services))
        if view != self.view:
            log.event("view_changed", agents=len(view.agents), services=len(view.services))
            self.view = view
            await self.on_change(view)
        return view

    async def _get(self, url: str) -> bytes | None:
        try:
            async with self.session.get(url, timeout=self.timeout, allow_redirects=False) as response:
                if response.status != 200:
                    return None
                return await response.read()
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _find_leader(self) -> str | None:
        """The leading master's `ip:port`: each master redirects to it (itself, when it leads)."""
        candidates = ([self.leader] if self.leader else []) + [m for m in self.masters if m != self.leader]
        for master in candidates:
            try:
                async with self.session.get(
                    f"http://{master}/master/redirect", timeout=self.timeout, allow_redirects=False
                ) as response:
                    location = response.headers.get("Location", "")
            except (aiohttp.ClientError, TimeoutError):
                continue
            leader = location.removeprefix("http:").removeprefix("//").split("/", 1)[0]
            if leader:
                if leader != self.leader:
                    log.event("leader_found", leader=leader)
                return leader
        return None

    async def _master_summary(self) -> StateSummary | None:
        leader = await self._find_leader()
        if leader is None:
            return None
        self.leader = leader
        raw = await self._get(f"http://{leader}/master/state-summary")
        if raw is None:
            return None
        try:
            return SUMMARY_DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            log.warning("master_summary_unreadable", leader=leader, error=str(exc)[:200])
            return None

    async def _marathon_apps(self) -> AppList | None:
        for marathon in self.marathons:
            raw = await self._get(f"http://{marathon}{APPS_QUERY}")
            if raw is None:
                continue
            try:
                return APPS_DECODER.decode(raw)
            except msgspec.DecodeError as exc:
                log.warning("marathon_apps_unreadable", marathon=marathon, error=str(exc)[:200])
        return None
