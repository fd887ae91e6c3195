"""A small master for agent tests: an aiohttp WebSocket server speaking pydcos/mesos/internal.py.

It registers agents (same id back on re-registration), records every frame the agent sends, can
acknowledge updates automatically or not, send any message or raw garbage, drop the connection,
and refuse connections while `accepting` is False.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.config import AgentConfig
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.v1.messages import (
    CommandInfo,
    DurationInfo,
    FrameworkInfo,
    Id,
    KillPolicy,
    TaskInfo,
    TaskStatus,
    ranges,
    scalar,
)

MASTER_ID = "fake-master-1"
FRAMEWORK_ID = "fake-master-1-0000"


class FakeMaster:
    def __init__(self, *, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.accepting = True
        self.autoping = True  # False: never answer the agent's pings (a hung master)
        self.refuse_with: str | None = None
        self.registrations: list[internal.RegisterAgent] = []
        self.frames: list[internal.AgentToMaster] = []
        self.updates: list[internal.StatusUpdate] = []
        self.status_frames = 0
        self.ws: web.WebSocketResponse | None = None
        self.connected = asyncio.Event()
        self._next_agent = 0
        self._runner: web.AppRunner | None = None
        self.address = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(internal.AGENT_PATH, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.address = f"{host}:{port}"

    async def close(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self.accepting:
            return web.Response(status=503, text="not accepting")
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024, autoping=self.autoping)
        await ws.prepare(request)
        first = await ws.receive()
        reg = internal.AGENT_TO_MASTER.decode(first.data)
        assert isinstance(reg, internal.RegisterAgent)
        self.registrations.append(reg)
        if self.refuse_with is not None:
            await ws.send_bytes(internal.encode(internal.Refused(self.refuse_with)))
            await ws.close()
            return ws
        agent_id = reg.agent_id or f"{MASTER_ID}-S{self._next_agent}"
        self._next_agent += reg.agent_id is None
        await ws.send_bytes(internal.encode(internal.AgentRegistered(agent_id, MASTER_ID)))
        self.ws = ws
        self.connected.set()
        try:
            async for frame in ws:
                if frame.type in (WSMsgType.PING, WSMsgType.PONG):
                    continue
                if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                msg = internal.AGENT_TO_MASTER.decode(frame.data)
                self.frames.append(msg)
                if isinstance(msg, internal.StatusUpdates):
                    self.status_frames += 1
                    self.updates.extend(msg.updates)
                    if self.auto_ack:
                        await self.ack(*msg.updates)
        finally:
            if self.ws is ws:
                self.ws = None
                self.connected.clear()
        return ws

    # --- acting as the master -----------------------------------------------------------

    async def send(self, msg: internal.MasterToAgent) -> None:
        assert self.ws is not None, "no agent connected"
        await self.ws.send_bytes(internal.encode(msg))

    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None, "no agent connected"
        if isinstance(data, str):
            await self.ws.send_str(data)
        else:
            await self.ws.send_bytes(data)

    async def ack(self, *updates: internal.StatusUpdate) -> None:
        acks = [internal.Ack(u.framework_id, u.status.task_id.value, u.status.uuid or "") for u in updates]
        await self.send(internal.AcknowledgeUpdates(acks))

    async def drop(self) -> None:
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        self.ws = None
        self.connected.clear()

    # --- looking at what the agent sent -------------------------------------------------

    def statuses(self, task_id: str) -> list[TaskStatus]:
        return [u.status for u in self.updates if u.status.task_id.value == task_id]

    def states(self, task_id: str) -> list[str]:
        return [s.state for s in self.statuses(task_id)]

    async def wait_status(self, task_id: str, state: str, within: float = 10.0) -> TaskStatus:
        def found() -> TaskStatus | None:
            return next((s for s in self.statuses(task_id) if s.state == state), None)

        status: TaskStatus = await wait_until(
            found, timeout=within, what=f"{state} for {task_id} (seen {self.states(task_id)})"
        )
        return status


# --- helpers ------------------------------------------------------------------------------


def fast_config(master: str, work_dir: str, **overrides: Any) -> AgentConfig:
    settings: dict[str, Any] = dict(
        ip="127.0.0.1",
        port=0,
        master=master,
        work_dir=work_dir,
        resources="cpus:4;mem:4096;disk:10000;ports:[31000-31999]",
        attributes="rack:r1;level:3",
        registration_backoff_s=0.02,
        registration_backoff_max_s=0.1,
        heartbeat_s=1.0,
        status_update_retry_s=0.1,
        status_update_retry_max_s=0.4,
        kill_grace_s=0.5,
        executor_shutdown_grace_s=0.5,
    )
    settings.update(overrides)
    return AgentConfig(**settings)


def framework(fw_id: str = FRAMEWORK_ID, user: str = "") -> FrameworkInfo:
    return FrameworkInfo(user=user, name="test-framework", id=Id(fw_id))


def command_task(
    task_id: str,
    command: str,
    *,
    agent_id: str = "",
    shell: bool = True,
    arguments: list[str] | None = None,
    user: str | None = None,
    grace_s: float | None = None,
    ports: list[tuple[int, int]] | None = None,
) -> TaskInfo:
    resources = [scalar("cpus", 0.1), scalar("mem", 32)]
    if ports:
        resources.append(ranges("ports", ports))
    policy = None
    if grace_s is not None:
        policy = KillPolicy(DurationInfo(int(grace_s * 1e9)))
    return TaskInfo(
        name=task_id.split(".")[0],
        task_id=Id(task_id),
        agent_id=Id(agent_id) if agent_id else None,
        resources=resources,
        command=CommandInfo(value=command, shell=shell, arguments=arguments or [], user=user),
        kill_policy=policy,
    )


def run(*tasks: TaskInfo, fw: FrameworkInfo | None = None) -> internal.RunTasks:
    return internal.RunTasks([internal.RunTask(fw or framework(), t) for t in tasks])


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as resp:
        body = await resp.read()
        try:
            return resp.status, await resp.json(content_type=None) if body else None
        except ValueError:
            return resp.status, body.decode("utf-8", "replace")


def sandbox_of(agent: Agent, task_id: str, fw_id: str = FRAMEWORK_ID) -> Path:
    fws = [f for f in [agent.state.framework(fw_id), *agent.state.completed_frameworks] if f and f.id == fw_id]
    for ex in [e for fw in fws for e in [*fw.executors.values(), *fw.completed_executors]]:
        if ex.id == task_id:
            return Path(ex.directory)
    raise AssertionError(f"no executor for {task_id}")
