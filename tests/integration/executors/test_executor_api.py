"""The executor HTTP API on a real agent, the test playing the executor step by step.

The agent starts `sleep` as the executor process (so a process exists and is killed as Mesos
would), while the test subscribes in its name with the ids the agent gave it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from agent_fake_master import FakeMaster, get_json
from executor_client import ExecutorClient, new_uuid
from executor_helpers import FRAMEWORK_ID, executor_info, executor_task, run

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.service import Agent

SLEEPER = executor_info("exec sleep 60")
KEY = (FRAMEWORK_ID, "ex1")


def phase(agent: Agent) -> str | None:
    rec = agent.tasks.executors.core.record(KEY)
    return rec.phase if rec else None


async def started(agent: Agent, master: FakeMaster, *tasks: Any) -> None:
    await master.send(run(*(tasks or (executor_task("t1", SLEEPER),))))
    await wait_until(lambda: phase(agent) == "registering", what="executor started")


@pytest.fixture
async def client(agent: Agent) -> AsyncIterator[ExecutorClient]:
    c = ExecutorClient(agent.url, FRAMEWORK_ID, "ex1")
    yield c
    await c.close()


def executor_state(state: dict[str, Any], executor_id: str = "ex1") -> dict[str, Any]:
    for fw in state["frameworks"] + state["completed_frameworks"]:
        for ex in fw["executors"] + fw["completed_executors"]:
            if ex["id"] == executor_id:
                return ex  # type: ignore[no-any-return]
    raise AssertionError(f"no executor {executor_id} in /state")


async def test_subscribe_answers_subscribed_with_exact_ids_then_launches_the_queued_task(
    agent: Agent, master: FakeMaster, client: ExecutorClient, http: aiohttp.ClientSession
) -> None:
    await started(agent, master)
    _, state = await get_json(http, f"{agent.url}/state")
    ex = executor_state(state)
    assert [t["id"] for t in ex["queued_tasks"]] == ["t1"] and ex["tasks"] == []
    assert (ex["name"], ex["source"]) == ("test executor", "tests")
    assert ex["queued_tasks"][0]["executor_id"] == "ex1"

    assert await client.subscribe() == (200, "")
    assert client.headers["Content-Type"].startswith("application/json")
    assert client.headers["Transfer-Encoding"] == "chunked"
    subscribed = (await client.next_event())["subscribed"]
    # COMPAT §5.3: pymesos compares these whole objects.
    assert subscribed["executor_info"]["executor_id"] == {"value": "ex1"}
    assert subscribed["framework_info"]["id"] == {"value": FRAMEWORK_ID}
    assert subscribed["executor_info"]["framework_id"] == {"value": FRAMEWORK_ID}
    assert subscribed["agent_info"]["id"] == {"value": agent.agent_id}
    assert subscribed["container_id"]["value"] == ex["container"]
    assert (await client.next_event())["type"] == "HEARTBEAT"
    launch = await client.next_event()
    assert launch["type"] == "LAUNCH" and launch["launch"]["task"]["task_id"] == {"value": "t1"}
    assert all(r.isascii() and b"\n" not in r for r in client.raw_records)

    _, state = await get_json(http, f"{agent.url}/state")
    ex = executor_state(state)
    assert [t["id"] for t in ex["tasks"]] == ["t1"] and ex["queued_tasks"] == []
    assert ex["directory"].endswith(f"/executors/ex1/runs/{ex['container']}")
    await wait_until(lambda: sum(e["type"] == "HEARTBEAT" for e in client.seen) >= 2, what="periodic heartbeat")


async def test_updates_are_forwarded_with_ids_and_acknowledged_with_their_uuid(
    agent: Agent, master: FakeMaster, client: ExecutorClient, http: aiohttp.ClientSession
) -> None:
    await started(agent, master)
    await client.subscribe()
    await client.next_event("LAUNCH")
    data = base64.b64encode(b"\x00binary\xff").decode()
    uuid, answer = await client.update("t1", "TASK_RUNNING", message="up", data=data)
    assert answer == (202, "")
    running = await master.wait_status("t1", "TASK_RUNNING")
    assert running.uuid == uuid and running.message == "up" and running.data == data
    assert running.agent_id is not None and running.agent_id.value == agent.agent_id
    assert running.executor_id is not None and running.executor_id.value == "ex1"
    assert running.source == "SOURCE_EXECUTOR"
    acked = await client.next_event("ACKNOWLEDGED")
    assert acked["acknowledged"] == {"task_id": {"value": "t1"}, "uuid": uuid}
    assert len(base64.b64decode(acked["acknowledged"]["uuid"])) == 16

    # The same update again (an executor resending after a hiccup) is not forwarded twice.
    assert (await client.update("t1", "TASK_RUNNING", uuid=uuid))[1][0] == 202
    await client.next_event("ACKNOWLEDGED")
    assert master.states("t1") == ["TASK_RUNNING"]

    uuid2, _ = await client.update("t1", "TASK_FINISHED", message="done")
    await master.wait_status("t1", "TASK_FINISHED")
    assert (await client.next_event("ACKNOWLEDGED"))["acknowledged"]["uuid"] == uuid2
    await wait_until(lambda: agent.updates.pending_count() == 0, what="all acknowledged")
    _, state = await get_json(http, f"{agent.url}/state")
    assert [t["state"] for t in executor_state(state)["completed_tasks"]] == ["TASK_FINISHED"]


async def test_framework_messages_travel_both_ways(agent: Agent, master: FakeMaster, client: ExecutorClient) -> None:
    await started(agent, master)
    await client.subscribe()
    await client.next_event("LAUNCH")
    data = base64.b64encode(b"ping").decode()
    await master.send(internal.FrameworkToExecutor(FRAMEWORK_ID, "ex1", data))
    assert (await client.next_event("MESSAGE"))["message"] == {"data": data}
    assert await client.call("MESSAGE", message={"data": base64.b64encode(b"pong").decode()}) == (202, "")
    await wait_until(lambda: [f for f in master.frames if isinstance(f, internal.ExecutorToFramework)],
                     what="message to the framework")
    [msg] = [f for f in master.frames if isinstance(f, internal.ExecutorToFramework)]
    assert (msg.framework_id, msg.executor_id, base64.b64decode(msg.data)) == (FRAMEWORK_ID, "ex1", b"pong")
    # A message for an executor the agent does not run is dropped (and counted), not fatal.
    await master.send(internal.FrameworkToExecutor(FRAMEWORK_ID, "ghost", data))
    await wait_until(lambda: agent.counters["slave/invalid_framework_messages"] == 1, what="counted")


async def test_a_second_task_goes_to_the_running_executor_and_a_kill_to_the_executor(
    agent: Agent, master: FakeMaster, client: ExecutorClient
) -> None:
    await started(agent, master)
    pid = agent.tasks.executors.pid(*KEY)
    await client.subscribe()
    await client.next_event("LAUNCH")
    await master.send(run(executor_task("t2", SLEEPER)))
    assert (await client.next_event("LAUNCH"))["launch"]["task"]["task_id"] == {"value": "t2"}
    assert agent.tasks.executors.pid(*KEY) == pid and len(agent.tasks.executors) == 1
    await master.send(internal.KillTask(FRAMEWORK_ID, "t2"))
    assert (await client.next_event("KILL"))["kill"]["task_id"] == {"value": "t2"}
    await client.update("t2", "TASK_KILLED")
    await master.wait_status("t2", "TASK_KILLED")


async def test_resubscribe_adopts_unacknowledged_tasks_and_replays_updates(
    make_agent: Any, master: FakeMaster
) -> None:
    master.auto_ack = False
    agent = await make_agent()
    client = ExecutorClient(agent.url, FRAMEWORK_ID, "ex1")
    try:
        await started(agent, master)
        await client.subscribe()
        t1 = (await client.next_event("LAUNCH"))["launch"]["task"]
        await client.drop()
        await wait_until(lambda: phase(agent) == "disconnected", what="executor disconnected")
        # While it is away: a new task, a kill, a message wait for it.
        await master.send(run(executor_task("t2", SLEEPER)))
        await master.send(internal.FrameworkToExecutor(FRAMEWORK_ID, "ex1", base64.b64encode(b"hi").decode()))
        lost_update = {"task_id": {"value": "t1"}, "state": "TASK_RUNNING", "uuid": new_uuid(),
                       "source": "SOURCE_EXECUTOR", "timestamp": 1.5}
        assert (await client.subscribe(tasks=[t1], updates=[lost_update]))[0] == 200
        await client.next_event("SUBSCRIBED")
        launched = [(await client.next_event("LAUNCH"))["launch"]["task"]["task_id"]["value"]]
        assert launched == ["t2"]  # t1 is adopted, never launched twice
        assert (await client.next_event("MESSAGE"))["message"]["data"] == base64.b64encode(b"hi").decode()
        running = await master.wait_status("t1", "TASK_RUNNING")
        assert running.uuid == lost_update["uuid"]
        await master.ack(*[u for u in master.updates if u.status.task_id.value == "t1"])
        assert (await client.next_event("ACKNOWLEDGED"))["acknowledged"]["uuid"] == lost_update["uuid"]
        master.auto_ack = True
    finally:
        await client.close()


async def test_shutdown_sends_shutdown_then_kills_the_executor_after_the_grace_period(
    agent: Agent, master: FakeMaster, client: ExecutorClient
) -> None:
    await started(agent, master)
    pid = agent.tasks.executors.pid(*KEY)
    assert pid is not None and os.getpgid(pid) == pid  # its own process group
    await client.subscribe()
    await client.next_event("LAUNCH")
    await master.send(internal.ShutdownExecutor(FRAMEWORK_ID, "ex1"))
    await client.next_event("SHUTDOWN")
    killed = await master.wait_status("t1", "TASK_KILLED")
    assert killed.reason == "REASON_EXECUTOR_TERMINATED" and killed.source == "SOURCE_AGENT"
    assert killed.message == "Executor 'ex1' terminated with signal Killed"
    await wait_until(lambda: [f for f in master.frames if isinstance(f, internal.ExecutorTerminated)],
                     what="ExecutorTerminated")
    [gone] = [f for f in master.frames if isinstance(f, internal.ExecutorTerminated)]
    assert (gone.framework_id, gone.executor_id, gone.status) == (FRAMEWORK_ID, "ex1", 9)
    await client.ended.wait()
    # A new task for the same executor id starts a new executor once the old one is history.
    await wait_until(lambda: agent.state.executor(*KEY) is None, what="old executor completed")
    await master.send(run(executor_task("t3", SLEEPER)))
    await wait_until(lambda: phase(agent) == "registering", what="a new executor")
    assert agent.tasks.executors.pid(*KEY) != pid


async def test_bad_calls_get_400_and_change_nothing(
    agent: Agent, master: FakeMaster, client: ExecutorClient
) -> None:
    await started(agent, master)
    assert (await client.call("UPDATE", update={"status": {"task_id": {"value": "t1"}, "state": "TASK_RUNNING",
                                                          "uuid": new_uuid()}}))[0] == 403  # not subscribed
    assert (await client.post_raw(b"{not json"))[0] == 400
    assert (await client.post_raw(b'{"type": "SUBSCRIBE"}'))[0] == 400
    assert (await client.post_raw(json.dumps(client.body("LAUNCH")).encode()))[0] == 400
    assert (await client.post_raw(b"\x08\x01", "application/x-protobuf"))[0] == 415
    ghost = ExecutorClient(agent.url, FRAMEWORK_ID, "ghost")
    try:
        status, text = await ghost.subscribe()
        assert status == 400 and "cannot be found" in text
    finally:
        await ghost.close()
    await client.subscribe()
    await client.next_event("LAUNCH")
    for bad in ({"uuid": "short"}, {"state": "TASK_STAGING"}, {"state": "TASK_NOPE"}):
        status = {"task_id": {"value": "t1"}, "state": "TASK_RUNNING", "uuid": new_uuid(), **bad}
        code, text = await client.call("UPDATE", update={"status": status})
        assert code == 400, (bad, text)
    assert (await client.call("MESSAGE"))[0] == 400
    # Updates for tasks the executor does not have are accepted and dropped.
    assert (await client.update("not-mine", "TASK_RUNNING"))[1][0] == 202
    assert master.states("t1") == [] and master.states("not-mine") == []
    _, answer = await client.update("t1", "TASK_FINISHED")
    assert answer[0] == 202
    await master.wait_status("t1", "TASK_FINISHED")
