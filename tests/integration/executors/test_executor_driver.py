"""The pydcos executor driver against a scripted agent: subscription, updates kept until
ACKNOWLEDGED, re-SUBSCRIBE after a lost connection when checkpointing, shutdown otherwise."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from pydcos.core.waiting import wait_until
from pydcos.mesos.executor import DriverStatus, Executor, ExecutorDriver, parse_duration
from pydcos.mesos.v1.recordio import frame

TASK = {"name": "t1", "task_id": {"value": "t1"}, "agent_id": {"value": "S0"}, "data": "aGk="}


def record(event: dict[str, Any]) -> bytes:
    return frame(json.dumps(event).encode())


class ScriptedAgent:
    """Answers SUBSCRIBE with SUBSCRIBED (+ LAUNCH the first time) and records every call."""

    def __init__(self) -> None:
        self.subscribes: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.streams: list[web.StreamResponse] = []
        self.refuse: int | None = None
        self.closed: list[asyncio.Event] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if body["type"] != "SUBSCRIBE":
            self.calls.append(body)
            return web.Response(status=202)
        self.subscribes.append(body)
        if self.refuse:
            return web.Response(status=self.refuse, text="no such executor")
        response = web.StreamResponse()
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)
        self.streams.append(response)
        await response.write(record({"type": "SUBSCRIBED", "subscribed": {
            "executor_info": {"executor_id": {"value": "E"}}, "framework_info": {"id": {"value": "F"}},
            "agent_info": {"id": {"value": "S0"}, "hostname": "h"}}}))
        if len(self.subscribes) == 1:
            await response.write(record({"type": "LAUNCH", "launch": {"task": TASK}}))
        closed = asyncio.Event()
        self.closed.append(closed)
        await closed.wait()
        return response

    async def send(self, event: dict[str, Any]) -> None:
        await self.streams[-1].write(record(event))

    def drop(self) -> None:
        self.closed[-1].set()


class Recorder(Executor):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def registered(self, driver: ExecutorDriver, executor_info: dict[str, Any], framework_info: dict[str, Any],
                   agent_info: dict[str, Any]) -> None:
        self.calls.append(("registered", executor_info["executor_id"]))

    def reregistered(self, driver: ExecutorDriver, agent_info: dict[str, Any]) -> None:
        self.calls.append(("reregistered", agent_info["id"]))

    def disconnected(self, driver: ExecutorDriver) -> None:
        self.calls.append(("disconnected", None))

    def launch_task(self, driver: ExecutorDriver, task: dict[str, Any]) -> None:
        self.calls.append(("launch", task["task_id"]["value"]))
        driver.send_status_update({"task_id": task["task_id"], "state": "TASK_RUNNING", "data": b"\x00raw"})

    def kill_task(self, driver: ExecutorDriver, task_id: dict[str, Any]) -> None:
        self.calls.append(("kill", task_id["value"]))

    def framework_message(self, driver: ExecutorDriver, data: bytes) -> None:
        self.calls.append(("message", data))
        driver.send_framework_message(b"re: " + data)

    def shutdown(self, driver: ExecutorDriver) -> None:
        self.calls.append(("shutdown", None))

    def error(self, driver: ExecutorDriver, message: str) -> None:
        self.calls.append(("error", message))


@pytest.fixture
async def agent() -> AsyncIterator[ScriptedAgent]:
    scripted = ScriptedAgent()
    app = web.Application()
    app.router.add_post("/api/v1/executor", scripted.handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    scripted.url = f"{host}:{port}"
    yield scripted
    for closed in scripted.closed:
        closed.set()
    await runner.cleanup()


def environment(agent: ScriptedAgent, checkpoint: bool) -> dict[str, str]:
    env = {"MESOS_AGENT_ENDPOINT": agent.url, "MESOS_FRAMEWORK_ID": "F", "MESOS_EXECUTOR_ID": "E",
           "MESOS_CHECKPOINT": "1" if checkpoint else "0", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "500ms"}
    if checkpoint:
        env |= {"MESOS_RECOVERY_TIMEOUT": "10secs", "MESOS_SUBSCRIPTION_BACKOFF_MAX": "50ms"}
    return env


async def test_checkpointing_executor_resubscribes_with_what_is_unacknowledged(agent: ScriptedAgent) -> None:
    executor = Recorder()
    driver = ExecutorDriver(executor, environment=environment(agent, checkpoint=True))
    driver.start()
    try:
        await wait_until(lambda: agent.calls, what="the RUNNING update")
        first = agent.subscribes[0]
        assert first["framework_id"] == {"value": "F"} and first["executor_id"] == {"value": "E"}
        assert first["subscribe"] == {"unacknowledged_tasks": [], "unacknowledged_updates": []}
        [update] = agent.calls
        status = update["update"]["status"]
        assert status["state"] == "TASK_RUNNING" and status["source"] == "SOURCE_EXECUTOR"
        assert len(base64.b64decode(status["uuid"])) == 16 and base64.b64decode(status["data"]) == b"\x00raw"
        assert isinstance(status["timestamp"], float)

        agent.drop()
        await wait_until(lambda: len(agent.subscribes) == 2, what="re-SUBSCRIBE")
        again = agent.subscribes[1]["subscribe"]
        assert again["unacknowledged_tasks"] == [TASK]
        assert again["unacknowledged_updates"] == [{"status": status}]
        await wait_until(lambda: ("reregistered", {"value": "S0"}) in executor.calls, what="reregistered")
        assert executor.calls[:4] == [("registered", {"value": "E"}), ("launch", "t1"), ("disconnected", None),
                                      ("reregistered", {"value": "S0"})]

        await agent.send({"type": "ACKNOWLEDGED", "acknowledged": {"task_id": {"value": "t1"}, "uuid": status["uuid"]}})
        await wait_until(lambda: not driver.unacknowledged_updates and not driver.unacknowledged_tasks,
                         what="acknowledged")
        await agent.send({"type": "LAUNCH", "launch": {"task": TASK}})  # a duplicate launch is ignored
        await agent.send({"type": "KILL", "kill": {"task_id": {"value": "t1"}}})
        await agent.send({"type": "MESSAGE", "message": {"data": base64.b64encode(b"ping").decode()}})
        await agent.send({"type": "HEARTBEAT"})
        await wait_until(lambda: any(c["type"] == "MESSAGE" for c in agent.calls), what="the reply")
        [reply] = [c for c in agent.calls if c["type"] == "MESSAGE"]
        assert base64.b64decode(reply["message"]["data"]) == b"re: ping"
        assert [c for c in executor.calls if c[0] in ("launch", "kill")] == [("launch", "t1"), ("kill", "t1")]

        await agent.send({"type": "SHUTDOWN"})
        assert await asyncio.to_thread(driver.join) == DriverStatus.STOPPED
        assert executor.calls[-1] == ("shutdown", None)
    finally:
        driver.abort()
        await asyncio.to_thread(driver.join)


async def test_without_checkpointing_a_lost_agent_shuts_the_executor_down(agent: ScriptedAgent) -> None:
    executor = Recorder()
    driver = ExecutorDriver(executor, environment=environment(agent, checkpoint=False))
    driver.start()
    await wait_until(lambda: agent.calls, what="the RUNNING update")
    agent.drop()
    assert await asyncio.to_thread(driver.join) == DriverStatus.STOPPED
    assert [c[0] for c in executor.calls] == ["registered", "launch", "disconnected", "shutdown"]
    assert len(agent.subscribes) == 1


async def test_a_refused_subscription_aborts_the_driver(agent: ScriptedAgent) -> None:
    agent.refuse = 400
    executor = Recorder()
    driver = ExecutorDriver(executor, environment=environment(agent, checkpoint=True))
    driver.start()
    assert await asyncio.to_thread(driver.join) == DriverStatus.ABORTED
    assert executor.calls == [("error", "SUBSCRIBE answered 400: no such executor")]


def test_the_environment_is_required_and_durations_parse() -> None:
    with pytest.raises(ValueError, match="MESOS_AGENT_ENDPOINT"):
        ExecutorDriver(Executor(), environment={})
    assert parse_duration("2secs") == 2.0 and parse_duration("1.5hrs") == 5400.0
    assert parse_duration("100ns") == pytest.approx(1e-7)
    with pytest.raises(ValueError):
        parse_duration("5 seconds")


async def test_a_callback_that_raises_aborts_the_driver(agent: ScriptedAgent) -> None:
    class Broken(Recorder):
        def launch_task(self, driver: ExecutorDriver, task: dict[str, Any]) -> None:
            raise RuntimeError("bug in the executor")

    driver = ExecutorDriver(Broken(), environment=environment(agent, checkpoint=True))
    driver.start()
    assert await asyncio.to_thread(driver.join) == DriverStatus.ABORTED
