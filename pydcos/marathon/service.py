"""The marathon daemon's shell: HTTP server, Mesos link, store, event bus, health probes, timers,
and the one place the core's instructions are carried out.

    async with Marathon(MarathonConfig(port=0, master=master_url)) as m:
        requests.post(m.url + "/v2/apps", json={...})
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from pydcos.core.clock import Clock, SystemClock
from pydcos.core.ids import new_uuid
from pydcos.core.log import get_logger
from pydcos.marathon import storage
from pydcos.marathon.callbacks import HttpCallbacks
from pydcos.marathon.config import MarathonConfig
from pydcos.marathon.core import CallMesos, Instruction, MarathonCore, Persist
from pydcos.marathon.errors import Unavailable
from pydcos.marathon.event_bus import EventBus
from pydcos.marathon.events import Emit
from pydcos.marathon.health import Probe
from pydcos.marathon.health_probes import run_probe
from pydcos.marathon.mesos_link import Disconnected, MesosLink, Subscribed
from pydcos.marathon.readiness_probes import ReadinessProber
from pydcos.mesos.detector import parse_zk_url
from pydcos.mesos.v1 import messages as v1
from pydcos.store import MemoryStore, SqliteStore, Store
from pydcos.store.zookeeper import ZooKeeperStore

log = get_logger("pydcos.marathon")
STORE_FILE = "marathon.db"


class Marathon:
    """One Marathon. `start()` loads the state, binds HTTP and connects to Mesos; `close()` stops
    everything (tasks keep running: the framework fails over when Marathon comes back)."""

    def __init__(self, config: MarathonConfig, *, clock: Clock | None = None, store: Store | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.core = MarathonCore(config.core, self.clock, new_uuid)
        self.bus = EventBus(config.max_event_queue)
        self.callbacks = HttpCallbacks(config.callbacks, self.count)
        self.bus.sinks.append(self.callbacks)
        self.core.listening = self.bus.listening
        self.store: Store = store if store is not None else self._default_store()
        self.persister = storage.Persister(self.store)
        self.readiness = ReadinessProber(self.core, lambda: self.execute(self.core.drain()), self._bug,
                                         config.health_interval)
        self.link: MesosLink | None = None
        self.bound_port = config.port
        self.unhandled_errors = 0
        self.started_at = 0.0
        self.counters: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._probes: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        # Calls waiting for the writes before them to be stored (see `_send`), with the write count.
        self._held: collections.deque[tuple[int, v1.Call]] = collections.deque()

    def _default_store(self) -> Store:
        if self.config.zk is not None:
            hosts, path = parse_zk_url(self.config.zk)
            return ZooKeeperStore(hosts, path)
        if self.config.work_dir is None:
            return MemoryStore()
        return SqliteStore(Path(self.config.work_dir) / STORE_FILE)

    @property
    def url(self) -> str:
        return f"http://{self.config.ip}:{self.bound_port}"

    @property
    def leader(self) -> str:
        return f"{self.config.advertised_hostname}:{self.bound_port}"

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        from pydcos.marathon.api import make_app

        self.started_at = self.clock.wall()
        self.core.restore(await storage.load(self.store))
        self.callbacks.start()
        for url in await storage.load_subscriptions(self.store):
            self.callbacks.subscribe(url)
        self.persister.start()
        self._runner = web.AppRunner(make_app(self), access_log=None, shutdown_timeout=1.0,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.ip, self.config.port, backlog=4096, reuse_address=True)
        await site.start()
        if self.config.port == 0:
            self.bound_port = self._runner.addresses[0][1]
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.config.max_concurrent_probes))
        self.link = MesosLink(
            self.config.masters, self._framework_info(), framework_id=self.core.framework_id,
            connect_timeout=self.config.connect_timeout, backoff_min=self.config.reconnect_backoff_min,
            backoff_max=self.config.reconnect_backoff_max, heartbeat_misses=self.config.heartbeat_misses)
        await self.link.start()
        self.execute(self.core.drain())
        self._spawn(self._mesos_loop())
        self._spawn(self._timer_loop(self.config.tick_interval, self._tick))
        self._spawn(self._timer_loop(self.config.health_interval, self._health_tick))
        self.readiness.start(self._http)
        log.event("marathon_started", url=self.url, masters=",".join(self.config.masters),
                  framework_id=self.core.framework_id or "", apps=len(self.core.root.apps))

    async def close(self) -> None:
        self.bus.close()
        await self.callbacks.close()
        await self.readiness.close()
        for task in list(self._tasks) + list(self._probes):
            task.cancel()
        for task in list(self._tasks) + list(self._probes):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.link is not None:
            await self.link.close()
            self.link = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        await self.persister.close()
        await self.store.close()

    async def __aenter__(self) -> Marathon:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _framework_info(self) -> v1.FrameworkInfo:
        return v1.FrameworkInfo(
            user=self.config.mesos_user, name=self.config.framework_name,
            failover_timeout=self.config.failover_timeout, checkpoint=True, role=self.config.mesos_role,
            hostname=self.config.framework_hostname, webui_url=f"http://{self.leader}",
            # As Marathon 1.4: tasks of an unreachable agent are reported TASK_UNREACHABLE (they may
            # come back), and each app's unreachableStrategy decides when to replace them.
            capabilities=[v1.Capability(type="PARTITION_AWARE")],
        )

    # --- carrying out instructions ------------------------------------------------------------

    def execute(self, instructions: Iterable[Instruction]) -> None:
        calls: list[v1.Call] = []
        for instruction in instructions:
            if isinstance(instruction, CallMesos):
                self.count(f"mesos_calls_{instruction.call.type.lower()}")
                calls.append(instruction.call)
            elif isinstance(instruction, Persist):
                self.persister.write(instruction.key, instruction.value)
            elif isinstance(instruction, Emit):
                self.bus.publish(instruction)
        for call in calls:
            self._send(call)

    def _send(self, call: v1.Call) -> None:
        """Send a call, but a launch only once what was written before it (its instances) is stored:
        a Marathon that died between the two would come back not knowing a task that runs, and
        start another one (Marathon's OfferProcessor saves tasks before it accepts, for this
        reason). Calls behind a held launch wait with it, so Mesos sees them in order."""
        if self._held or (_launches(call) and self.persister.written < self.persister.queued):
            self._held.append((self.persister.queued, call))
            if len(self._held) == 1:
                self._spawn(self._send_when_stored())
        elif self.link is not None:
            self.link.send(call)

    async def _send_when_stored(self) -> None:
        while self._held:
            await self.persister.written_upto(self._held[0][0])
            while self._held and self._held[0][0] <= self.persister.written:
                _, call = self._held.popleft()
                if self.link is not None:
                    self.link.send(call)

    async def commit(self) -> None:
        """After an API change: carry out what it caused and wait until it is stored."""
        self.execute(self.core.drain())
        try:
            await asyncio.wait_for(self.persister.flush(), self.config.store_timeout)
        except TimeoutError as exc:
            raise Unavailable(f"the change is not stored yet: the store did not answer within "
                              f"{self.config.store_timeout:g}s") from exc

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    # --- loops ------------------------------------------------------------------------------

    async def _mesos_loop(self) -> None:
        assert self.link is not None
        inbox = self.link.inbox
        while True:
            batch = [await inbox.get()]
            # A burst (a thousand updates) is handled as one: the core settles once after it.
            while not inbox.empty() and len(batch) < 5000:
                batch.append(inbox.get_nowait())
            for item in batch:
                try:
                    self._handle_link_event(item)
                except Exception:
                    self.unhandled_errors += 1
                    log.exception("mesos_event_failed", kind=type(item).__name__)
            try:
                self.execute(self.core.drain())
            except Exception:
                self.unhandled_errors += 1
                log.exception("core_settle_failed")

    def _handle_link_event(self, item: Subscribed | Disconnected | v1.Event) -> None:
        if isinstance(item, Subscribed):
            self.core.subscribed(item.framework_id)
        elif isinstance(item, Disconnected):
            self.core.disconnected()
        elif item.type == "OFFERS" and item.offers is not None:
            self.count("offers_received", len(item.offers.offers))
            self.core.offers(item.offers.offers)
        elif item.type == "UPDATE" and item.update is not None:
            status = item.update.status
            self.count("status_updates")
            self.core.status_update(status)
            if status.uuid and status.agent_id is not None and self.link is not None:
                self.link.send(v1.Call(type="ACKNOWLEDGE", acknowledge=v1.Acknowledge(
                    agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid)))
        elif item.type == "MESSAGE" and item.message is not None:
            m = item.message
            self.core.framework_message(m.agent_id.value, m.executor_id.value, m.data)
        elif item.type == "ERROR":
            self.core.framework_id = None
            self.persister.write("/marathon/framework-id", None)
        elif item.type == "FAILURE" and item.failure is not None:
            agent = item.failure.agent_id.value if item.failure.agent_id else ""
            log.event("agent_failure", agent_id=agent)

    async def _timer_loop(self, interval: float, step: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                step()
            except Exception:
                self.unhandled_errors += 1
                log.exception("timer_failed", step=getattr(step, "__name__", "?"))

    def _tick(self) -> None:
        self.core.tick()
        self.execute(self.core.drain())

    def _bug(self) -> None:
        self.unhandled_errors += 1

    def _health_tick(self) -> None:
        for probe in self.core.due_probes():
            if len(self._probes) >= self.config.max_concurrent_probes:
                break
            task = asyncio.ensure_future(self._probe(probe))
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)

    async def _probe(self, probe: Probe) -> None:
        assert self._http is not None
        ok, cause = await run_probe(self._http, probe)
        self.count("health_checks_ok" if ok else "health_checks_failed")
        self.core.probe_result(probe, ok, cause)
        self.execute(self.core.drain())

    def rss_bytes(self) -> int:
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{os.getpid()}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return 0


def _launches(call: v1.Call) -> bool:
    return call.accept is not None and any(op.type in ("LAUNCH", "LAUNCH_GROUP") for op in call.accept.operations)


SERVICE = web.AppKey("marathon", Marathon)
