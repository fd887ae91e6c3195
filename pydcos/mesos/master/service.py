"""The master daemon's shell: HTTP server, timers, and the one place instructions are carried out."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from pydcos.core.clock import Clock, SystemClock
from pydcos.core.ids import IdFactory, new_uuid
from pydcos.core.log import get_logger
from pydcos.mesos.master import agent_messages, recovery, scheduler_calls
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.registrar import Registrar
from pydcos.mesos.master.registry import (
    CloseStream,
    DisconnectAgent,
    Instruction,
    Persist,
    SendEvent,
    SendToAgent,
)
from pydcos.mesos.master.state import MasterState
from pydcos.mesos.master.streams import AgentChannel, FrameworkStream
from pydcos.mesos.v1 import messages as v1
from pydcos.mesos.v1.recordio import frame
from pydcos.store import MemoryStore, SqliteStore, Store

log = get_logger("pydcos.master")
_ENCODER = msgspec.json.Encoder()



REGISTRY_FILE = "registry.db"


def open_store(config: MasterConfig) -> Store:
    """The registry's store as configured: `<work_dir>/registry.db`, or memory."""
    backend = config.registry_backend
    if backend == "memory":
        return MemoryStore()
    if backend == "sqlite":
        if not config.work_dir:
            raise ValueError("--registry sqlite needs --work-dir")
        return SqliteStore(Path(config.work_dir) / REGISTRY_FILE)
    raise ValueError(f"unknown registry back end {backend!r} (sqlite or memory)")


class Master:
    """Owns the state, the streams, the agent channels and the timers. Changed only on its loop.

    Write-ahead: a `Persist` instruction stages its registry writes; when it must wait, every
    instruction after it is held (in order, bound to the stream or channel it was meant for) until
    the registrar says the write is durable. `store` defaults to what the config names; a store
    passed in stays open when the master closes.
    """

    def __init__(self, config: MasterConfig, clock: Clock | None = None, store: Store | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.state = MasterState(config, self.clock, IdFactory(new_uuid()))
        self._own_store = store is None
        self.store = store if store is not None else open_store(config)
        self.registrar = Registrar(self.store, self._on_committed, self._on_registry_failed)
        # Outgoing actions waiting for a registry write: (batch that must be durable, action).
        self._held: deque[tuple[int, Callable[[], None]]] = deque()
        self._barrier = 0
        # Set when the registry cannot be written: the daemon must stop (`serve` exits).
        self.failed = asyncio.Event()
        self._closing = False
        self.streams: dict[str, FrameworkStream] = {}
        self.agent_channels: dict[str, AgentChannel] = {}
        self._allocation_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.bound_port: int = config.port
        self.unhandled_errors = 0
        self._watchers: set[asyncio.Queue[bytes]] = set()

    @property
    def flags(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self.config).items()}

    @property
    def url(self) -> str:
        return f"http://{self.config.ip}:{self.bound_port}"

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        from pydcos.mesos.master.http_app import make_app

        await self._recover()
        app = make_app(self)
        # Handler cancellation ends a scheduler stream as soon as its client goes away.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.ip, self.config.port, backlog=4096, reuse_address=True)
        await site.start()
        if self.config.port == 0:
            self.bound_port = self._runner.addresses[0][1]
        self._spawn(self._timer_loop())
        log.event("master_started", url=self.url, master_id=self.state.ids.master_id)

    async def _recover(self) -> None:
        snapshot = await self.registrar.load()
        self.execute(recovery.restore(self.state, snapshot))
        log.event("registry_recovered", backend=self.config.registry_backend, agents=len(snapshot.agents),
                  frameworks=len(snapshot.frameworks), removed_frameworks=len(snapshot.removed_frameworks),
                  unreachable=len(snapshot.unreachable), completed_tasks=len(snapshot.completed_tasks))

    async def close(self) -> None:
        self._closing = True
        for stream in list(self.streams.values()):
            stream.close()
        for channel in list(self.agent_channels.values()):
            channel.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.registrar.close()
        self._held.clear()
        if self._own_store:
            await self.store.close()

    async def __aenter__(self) -> Master:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _timer_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.allocation_interval)
            try:
                self.execute(self.state.tick())
                self.execute(agent_messages.expire_agents(self.state))
                self.state.allocate_all = True
                self._allocate_now()
            except Exception:
                self.unhandled_errors += 1
                log.exception("timer_failed")

    # --- carrying out instructions --------------------------------------------------------

    def execute(self, instructions: Iterable[Instruction]) -> None:
        for instruction in instructions:
            if isinstance(instruction, SendEvent):
                stream = self.streams.get(instruction.framework_id)
                if stream is not None:
                    self._do(partial(stream.send, instruction.event))
            elif isinstance(instruction, SendToAgent):
                channel = self.agent_channels.get(instruction.agent_id)
                if channel is not None:
                    self._do(partial(channel.send, instruction.message))
            elif isinstance(instruction, Persist):
                batch = self.registrar.stage(instruction.ops)
                if instruction.wait:
                    self._barrier = batch
            elif isinstance(instruction, CloseStream):
                stream = self.streams.get(instruction.framework_id)
                if stream is not None and stream.stream_id == instruction.stream_id:
                    del self.streams[instruction.framework_id]
                    self._do(stream.close)
            elif isinstance(instruction, DisconnectAgent):
                channel = self.agent_channels.pop(instruction.agent_id, None)
                if channel is not None:
                    self._do(channel.close)
        self._publish_operator_events()
        self.request_allocation()

    def _do(self, action: Callable[[], None]) -> None:
        """Carry out now, or after the registry write the master is waiting for (keeping the order).

        The target (stream, channel) is bound now: a held event goes to the connection it was meant
        for, never to one that replaced it meanwhile.
        """
        if self._held or self._barrier > self.registrar.committed:
            self._held.append((self._barrier, action))
        else:
            action()

    @property
    def held_actions(self) -> int:
        """Outgoing actions waiting for a registry write."""
        return len(self._held)

    def _on_committed(self, batch: int) -> None:
        held = self._held
        while held and held[0][0] <= batch:
            _, action = held.popleft()
            try:
                action()
            except Exception:
                self.unhandled_errors += 1
                log.exception("held_action_failed")

    def _on_registry_failed(self, exc: BaseException) -> None:
        # Like Mesos's master on a registrar failure: stop rather than acknowledge what is not recorded.
        self.unhandled_errors += 1
        log.event("master_aborting", reason="registry write failed", error=str(exc))
        self.failed.set()

    # --- v1 operator API watchers ----------------------------------------------------------

    def add_watcher(self, queue: asyncio.Queue[bytes]) -> None:
        self._watchers.add(queue)
        self.state.watching = True

    def remove_watcher(self, queue: asyncio.Queue[bytes]) -> None:
        self._watchers.discard(queue)
        self.state.watching = bool(self._watchers)

    def _publish_operator_events(self) -> None:
        if not self.state.operator_events:
            return
        events, self.state.operator_events = self.state.operator_events, []
        records = [frame(_ENCODER.encode(e)) for e in events]
        for queue in self._watchers:
            for record in records:
                queue.put_nowait(record)

    def request_allocation(self) -> None:
        """Allocate right after the current burst of events, not at the next tick."""
        if self._allocation_scheduled or not (self.state.dirty_agents or self.state.allocate_all):
            return
        self._allocation_scheduled = True
        asyncio.get_running_loop().call_soon(self._allocate_now)

    def _allocate_now(self) -> None:
        self._allocation_scheduled = False
        agent_ids = None if self.state.allocate_all else set(self.state.dirty_agents)
        self.state.allocate_all = False
        self.state.dirty_agents.clear()
        self.execute_sends(self.state.allocate(agent_ids))

    def execute_sends(self, instructions: Iterable[Instruction]) -> None:
        """Like `execute`, without the allocation request it ends with (allocation itself uses it)."""
        for instruction in instructions:
            if isinstance(instruction, SendEvent):
                stream = self.streams.get(instruction.framework_id)
                if stream is not None:
                    self._do(partial(stream.send, instruction.event))

    # --- entry points used by the HTTP handlers ------------------------------------------

    def subscribe(
        self, info: v1.FrameworkInfo, framework_id: str | None, stream: FrameworkStream
    ) -> str | None:
        framework_id_out, instructions = self.state.subscribe(info, framework_id, stream.stream_id)
        if framework_id_out is None:
            return None
        stream.framework_id = framework_id_out
        old = self.streams.get(framework_id_out)
        # The old connection first hears its ERROR, then the new one takes its place.
        for instruction in instructions:
            if isinstance(instruction, SendEvent) and instruction.event.type == "ERROR" and old is not None:
                old.send(instruction.event)
            elif isinstance(instruction, CloseStream) and old is not None:
                old.close()
        self.streams[framework_id_out] = stream
        self.execute(i for i in instructions if not isinstance(i, CloseStream)
                     and not (isinstance(i, SendEvent) and i.event.type == "ERROR"))
        log.event("framework_subscribed", framework_id=framework_id_out, name=info.name,
                  failover=framework_id is not None)
        return framework_id_out

    def stream_ended(self, stream: FrameworkStream) -> None:
        if self._closing:
            # The master is stopping, not the framework: a restarted master counts the failover
            # timeout of a framework connected until now from its own start.
            return
        if self.streams.get(stream.framework_id) is stream:
            del self.streams[stream.framework_id]
            self.execute(self.state.disconnected(stream.framework_id, stream.stream_id))
            log.event("framework_disconnected", framework_id=stream.framework_id)

    def call(self, framework_id: str, call: v1.Call) -> None:
        fw = self.state.frameworks[framework_id]
        self.execute(scheduler_calls.handle_call(self.state, fw, call))

    def new_stream_id(self) -> str:
        return new_uuid()


MASTER = web.AppKey("master", Master)
