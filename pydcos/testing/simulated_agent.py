"""Agents simulated over the real agent protocol: no processes, tasks run until killed or told.

Used to test the master alone, and by benchmarks that need thousands of agents in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp

from pydcos.core.ids import status_uuid
from pydcos.mesos import internal
from pydcos.mesos.resources import Resources
from pydcos.mesos.v1 import messages as v1


class SimulatedAgent:
    def __init__(self, master_url: str, ip: str, resources: str = "cpus:4;mem:4096;disk:10000;ports:[31000-31999]",
                 *, port: int = 5051, zone: str = "private", role: str = "*", finish_tasks: bool = False,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.master_url = master_url.rstrip("/")
        self.ip = ip
        self.port = port
        self.zone = zone
        self.resources = Resources.parse(resources).to_v1(role)
        self.finish_tasks = finish_tasks
        self.agent_id: str | None = None
        self.tasks: dict[str, internal.TaskRecord] = {}
        self.unacked: dict[str, v1.TaskStatus] = {}
        self.received: list[internal.MasterToAgent] = []
        self.registered = asyncio.Event()
        self._session = session
        self._own_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self.registered.clear()
        self._ws = await self._session.ws_connect(self.master_url + internal.AGENT_PATH, heartbeat=5.0,
                                                  max_msg_size=0)
        register = internal.RegisterAgent(
            info=v1.AgentInfo(hostname=self.ip, port=self.port, resources=self.resources),
            ip=self.ip, port=self.port, zone=self.zone, version="1.0.1", agent_id=self.agent_id,
            tasks=list(self.tasks.values()))
        await self._ws.send_bytes(internal.encode(register))
        self._task = asyncio.ensure_future(self._run())
        await asyncio.wait_for(self.registered.wait(), 30)

    async def _run(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.BINARY:
                continue
            msg = internal.MASTER_TO_AGENT.decode(message.data)
            self.received.append(msg)
            await self._handle(msg)

    async def _handle(self, msg: internal.MasterToAgent) -> None:
        if isinstance(msg, internal.AgentRegistered):
            self.agent_id = msg.agent_id
            self.registered.set()
            if self.unacked:
                await self._send_statuses(list(self.unacked.values()))
        elif isinstance(msg, internal.RunTasks):
            statuses = []
            for launch in msg.launches:
                assert launch.framework.id is not None
                fid = launch.framework.id.value
                state = "TASK_FINISHED" if self.finish_tasks else "TASK_RUNNING"
                status = self._status(launch.task.task_id.value, state)
                self.tasks[launch.task.task_id.value] = internal.TaskRecord(
                    framework_id=fid, executor_id=launch.task.task_id.value, task=launch.task,
                    state=state, status=status)  # type: ignore[arg-type]
                statuses.append(status)
            await self._send_statuses(statuses)
        elif isinstance(msg, (internal.KillTask, internal.KillTasks)):
            for kill in msg.kills if isinstance(msg, internal.KillTasks) else [msg]:
                if kill.task_id in self.tasks:
                    await self.finish(kill.task_id, "TASK_KILLED")
        elif isinstance(msg, internal.AcknowledgeUpdates):
            for ack in msg.acks:
                pending = self.unacked.get(ack.task_id)
                if pending is not None and pending.uuid == ack.uuid:
                    del self.unacked[ack.task_id]
        elif isinstance(msg, internal.ShutdownFramework):
            for task_id, record in list(self.tasks.items()):
                if record.framework_id == msg.framework_id and record.state not in v1.TERMINAL_STATES:
                    await self.finish(task_id, "TASK_KILLED")

    def _status(self, task_id: str, state: str) -> v1.TaskStatus:
        return v1.TaskStatus(task_id=v1.Id(task_id), state=state, source="SOURCE_EXECUTOR",  # type: ignore[arg-type]
                             agent_id=v1.Id(self.agent_id or ""), executor_id=v1.Id(task_id),
                             timestamp=time.time(), uuid=status_uuid())

    async def finish(self, task_id: str, state: str = "TASK_FINISHED") -> None:
        record = self.tasks[task_id]
        status = self._status(task_id, state)
        self.tasks[task_id] = internal.TaskRecord(
            framework_id=record.framework_id, executor_id=record.executor_id, task=record.task,
            state=state, status=status)  # type: ignore[arg-type]
        await self._send_statuses([status])

    async def _send_statuses(self, statuses: list[v1.TaskStatus]) -> None:
        if not statuses or self._ws is None or self._ws.closed:
            return
        updates = []
        for status in statuses:
            self.unacked[status.task_id.value] = status
            updates.append(internal.StatusUpdate(self.tasks[status.task_id.value].framework_id, status))
        await self._ws.send_bytes(internal.encode(internal.StatusUpdates(updates)))

    @property
    def connected(self) -> bool:
        return self._task is not None and not self._task.done()

    async def wait_disconnected(self) -> None:
        """Until the master's side of the connection goes away (the master stopped or died)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def reconnect(self, *, backoff: float = 0.1, backoff_max: float = 5.0, within: float = 120.0) -> int:
        """Re-register with the same id and tasks, retrying as the real agent's link does: the first
        attempt after `backoff`, then doubling up to `backoff_max`. Returns the attempts it took."""
        await self.disconnect()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        attempts = 0
        while True:
            await asyncio.sleep(backoff)
            attempts += 1
            try:
                await self.start()
                return attempts
            except (aiohttp.ClientError, OSError, TimeoutError):
                await self.disconnect()
                if loop.time() >= deadline:
                    raise
                backoff = min(backoff * 2, backoff_max)

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._ws is not None:
            await self._ws.close()

    async def close(self) -> None:
        await self.disconnect()
        if self._own_session and self._session is not None:
            await self._session.close()
