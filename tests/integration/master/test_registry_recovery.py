"""A master restarted on the same work dir takes its registry back (real sockets, SQLite registry)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.master.__main__ import parse_args
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.registrar import Registrar
from pydcos.mesos.master.service import REGISTRY_FILE, Master
from pydcos.mesos.v1.recordio import RecordIODecoder
from pydcos.store import MemoryStore, StoreUnavailable
from pydcos.testing.scheduler_client import SchedulerClient, command_task
from pydcos.testing.simulated_agent import SimulatedAgent

FW = {"user": "root", "name": "recovering", "failover_timeout": 3600.0}


def config(work_dir: Path, port: int = 0, **overrides: Any) -> MasterConfig:
    settings: dict[str, Any] = dict(ip="127.0.0.1", port=port, work_dir=str(work_dir), allocation_interval=0.2,
                                    heartbeat_interval=1.0, agent_ping_interval=0.5, agent_unreachable_timeout=1.5,
                                    agent_reregister_timeout=30.0)
    settings.update(overrides)
    return MasterConfig(**settings)


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Callable[[], Any]]]:
    """Closers run at the end, newest first, whatever the test did."""
    closers: list[Callable[[], Any]] = []
    yield closers
    for close in reversed(closers):
        await close()


async def start_master(cfg: MasterConfig, cleanup: list[Callable[[], Any]], **kwargs: Any) -> Master:
    master = Master(cfg, **kwargs)
    await master.start()
    cleanup.append(master.close)
    return master


async def restart(master: Master, cleanup: list[Callable[[], Any]], **overrides: Any) -> Master:
    """Close `master` and start a new one on the same port and work dir."""
    await master.close()
    cfg = master.config
    return await start_master(config(Path(cfg.work_dir or ""), master.bound_port, **overrides), cleanup)


async def launch(s: SchedulerClient, plan: dict[str, list[str]]) -> None:
    """Launch tasks on agents: {agent id: [task ids]}; returns once all run."""
    offers = await offers_on(s, set(plan))
    for agent_id, task_ids in plan.items():
        tasks = [command_task(t, agent_id, "sleep 1000") for t in task_ids]
        await s.call("ACCEPT", accept={"offer_ids": [offers[agent_id]["id"]],
                                       "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]})
    for task_ids in plan.values():
        for t in task_ids:
            await s.wait_update(t, {"TASK_RUNNING"})


async def offers_on(s: SchedulerClient, agent_ids: set[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(10):
        while set(found) != agent_ids:
            for offer in (await s.next_event("OFFERS"))["offers"]["offers"]:
                if offer["agent_id"]["value"] in agent_ids:
                    found[offer["agent_id"]["value"]] = offer
    return found


def answers(s: SchedulerClient, since: int) -> dict[str, dict[str, Any]]:
    return {u["task_id"]["value"]: u for u in s.updates[since:] if u.get("reason") == "REASON_RECONCILIATION"}


async def test_restart_keeps_ids_and_reconciles_running_tasks(tmp_path: Path,
                                                             cleanup: list[Callable[[], Any]]) -> None:
    master = await start_master(config(tmp_path), cleanup)
    agents = [SimulatedAgent(master.url, f"127.0.2.{n}") for n in (1, 2, 3)]
    for a in agents:
        cleanup.append(a.close)
        await a.start()
    ids = [a.agent_id for a in agents]
    s = SchedulerClient(master.url, FW)
    cleanup.append(s.close)
    await s.subscribe()
    fid = s.framework_id
    await launch(s, {ids[0] or "": ["t1", "t2"], ids[2] or "": ["t3"]})
    await wait_until(lambda: not any(a.unacked for a in agents), what="updates acknowledged")
    assert (tmp_path / REGISTRY_FILE).exists()

    master = await restart(master, cleanup, agent_reregister_timeout=30.0)
    # Known agents are shown inactive until they re-register; the framework is recovered.
    state = master.state
    assert {a: state.agents[a].connected for a in ids if a} == dict.fromkeys(ids, False)
    assert state.frameworks[fid or ""].recovered
    for a in agents[:2]:
        await a.disconnect()
        a.master_url = master.url
        await a.start()
    assert [a.agent_id for a in agents[:2]] == ids[:2]
    assert all(state.agents[a or ""].connected for a in ids[:2])
    await s.close()
    s = SchedulerClient(master.url, FW, framework_id=fid)
    cleanup.append(s.close)
    subscribed = await s.subscribe()
    assert subscribed["subscribed"]["framework_id"]["value"] == fid

    since = len(s.updates)
    await s.call("RECONCILE", reconcile={"tasks": [
        {"task_id": {"value": "t1"}, "agent_id": {"value": ids[0]}},
        {"task_id": {"value": "t2"}, "agent_id": {"value": ids[0]}},
        {"task_id": {"value": "t3"}, "agent_id": {"value": ids[2]}},   # its agent is not back yet
        {"task_id": {"value": "t4"}, "agent_id": {"value": "no-such-agent"}},
    ]})
    await wait_until(lambda: "t4" in answers(s, since), what="reconciliation answers")
    got = answers(s, since)
    assert {t: u["state"] for t, u in got.items()} == {"t1": "TASK_RUNNING", "t2": "TASK_RUNNING", "t4": "TASK_LOST"}

    # The state endpoint agrees: two agents active, the third inactive, tasks learnt from agents.
    async with aiohttp.ClientSession() as http, http.get(master.url + "/master/state") as response:
        body = await response.json()
    assert {a["id"]: a["active"] for a in body["slaves"]} == {ids[0]: True, ids[1]: True, ids[2]: False}
    [fw] = body["frameworks"]
    assert sorted(t["id"] for t in fw["tasks"]) == ["t1", "t2"] and fw["active"]
    master.state.validate()
    assert master.unhandled_errors == 0


async def test_agent_that_never_comes_back_becomes_unreachable(tmp_path: Path,
                                                               cleanup: list[Callable[[], Any]]) -> None:
    master = await start_master(config(tmp_path), cleanup)
    agent = SimulatedAgent(master.url, "127.0.2.1")
    cleanup.append(agent.close)
    await agent.start()
    s = SchedulerClient(master.url, FW)
    cleanup.append(s.close)
    await s.subscribe()
    fid = s.framework_id
    await launch(s, {agent.agent_id or "": ["t1"]})
    await agent.close()
    await s.close()

    master = await restart(master, cleanup, agent_reregister_timeout=0.5)
    s = SchedulerClient(master.url, FW, framework_id=fid)
    cleanup.append(s.close)
    await s.subscribe()
    await wait_until(lambda: agent.agent_id in master.state.unreachable_agents, what="agent unreachable")
    since = len(s.updates)
    await s.call("RECONCILE", reconcile={"tasks": [{"task_id": {"value": "t1"},
                                                    "agent_id": {"value": agent.agent_id}}]})
    await wait_until(lambda: "t1" in answers(s, since), what="reconciliation answer")
    assert answers(s, since)["t1"]["state"] == "TASK_LOST"
    # Declared unreachable in the registry too: a third master still knows it.
    master = await restart(master, cleanup, agent_reregister_timeout=0.5)
    assert agent.agent_id in master.state.unreachable_agents and agent.agent_id not in master.state.agents


async def test_removed_framework_stays_removed(tmp_path: Path, cleanup: list[Callable[[], Any]]) -> None:
    master = await start_master(config(tmp_path), cleanup)
    s = SchedulerClient(master.url, FW)
    cleanup.append(s.close)
    await s.subscribe()
    fid = s.framework_id
    assert await s.call("TEARDOWN") == 202
    await asyncio.wait_for(s.closed.wait(), 10)

    master = await restart(master, cleanup)
    body = {"type": "SUBSCRIBE", "framework_id": {"value": fid},
            "subscribe": {"framework_info": {**FW, "id": {"value": fid}}}}
    async with aiohttp.ClientSession() as http, \
            http.post(master.url + "/api/v1/scheduler", json=body) as response:
        records = RecordIODecoder().feed(await asyncio.wait_for(response.read(), 10))
    [error] = [msgspec.json.decode(r) for r in records]
    assert error == {"type": "ERROR", "error": {"message": "Framework has been removed"}}
    assert [f.id for f in master.state.completed_frameworks] == [fid]


async def test_failover_timeout_runs_on_across_the_restart(tmp_path: Path,
                                                           cleanup: list[Callable[[], Any]]) -> None:
    master = await start_master(config(tmp_path), cleanup)
    agent = SimulatedAgent(master.url, "127.0.2.1")
    cleanup.append(agent.close)
    await agent.start()
    s = SchedulerClient(master.url, {**FW, "failover_timeout": 1.0})
    cleanup.append(s.close)
    await s.subscribe()
    fid = s.framework_id
    await launch(s, {agent.agent_id or "": ["t1"]})
    await wait_until(lambda: not agent.unacked, what="update acknowledged")
    await s.close()  # the framework goes away for good

    master = await restart(master, cleanup)
    await agent.wait_disconnected()
    assert await agent.reconnect(backoff=0.01) >= 1  # same URL: the agent's link finds the new master
    # Its tasks keep running until the timeout, then are killed and the framework is completed.
    await wait_until(lambda: any(isinstance(m, internal.ShutdownFramework) for m in agent.received),
                     what="ShutdownFramework reaches the agent")
    await wait_until(lambda: agent.tasks["t1"].state == "TASK_KILLED", what="task killed")
    assert fid not in master.state.frameworks and fid in master.state.removed_framework_ids


async def test_completed_tasks_survive_the_restart(tmp_path: Path, cleanup: list[Callable[[], Any]]) -> None:
    master = await start_master(config(tmp_path), cleanup)
    agent = SimulatedAgent(master.url, "127.0.2.1", finish_tasks=True)
    cleanup.append(agent.close)
    await agent.start()
    s = SchedulerClient(master.url, FW)
    cleanup.append(s.close)
    await s.subscribe()
    offer = (await offers_on(s, {agent.agent_id or ""}))[agent.agent_id or ""]
    await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
        {"type": "LAUNCH", "launch": {"task_infos": [command_task("done", agent.agent_id or "", "true")]}}]})
    fw = master.state.frameworks[s.framework_id or ""]
    await wait_until(lambda: [t.task_id for t in fw.completed_tasks] == ["done"], what="task completed")
    master = await restart(master, cleanup)
    restored = master.state.frameworks[s.framework_id or ""]
    assert [(t.task_id, t.state) for t in restored.completed_tasks] == [("done", "TASK_FINISHED")]


class SlowStore(MemoryStore):
    """A store whose writes wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.transactions = 0

    async def put_many(self, items: Any) -> None:
        await self.gate.wait()
        self.transactions += 1
        await super().put_many(items)


async def test_agents_hear_their_ids_only_once_written_and_a_burst_is_batched(
        cleanup: list[Callable[[], Any]]) -> None:
    store = SlowStore()
    cfg = MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.2)
    master = await start_master(cfg, cleanup, store=store)
    agents = [SimulatedAgent(master.url, f"127.0.5.{n}") for n in range(1, 41)]
    for a in agents:
        cleanup.append(a.close)
    starting = [asyncio.ensure_future(a.start()) for a in agents]
    await wait_until(lambda: len(master.state.agents) == 40, what="registrations received")
    assert not any(a.registered.is_set() for a in agents)  # nobody acknowledged before the write
    store.gate.set()
    await asyncio.gather(*starting)
    assert len(await store.list("/mesos/registry/agents/")) == 40
    assert store.transactions <= 3, store.transactions


async def test_memory_registry_is_the_default_without_a_work_dir(cleanup: list[Callable[[], Any]]) -> None:
    master = await start_master(MasterConfig(ip="127.0.0.1", port=0), cleanup)
    assert isinstance(master.store, MemoryStore) and master.config.registry_backend == "memory"


class BrokenStore(MemoryStore):
    """Reads work; every write fails."""

    async def put_many(self, items: Any) -> None:
        raise StoreUnavailable("disk full")


async def test_a_registry_that_cannot_be_written_stops_the_master_before_anything_is_acknowledged(
        cleanup: list[Callable[[], Any]]) -> None:
    master = Master(MasterConfig(ip="127.0.0.1", port=0), store=BrokenStore())
    master.registrar = Registrar(master.store, master._on_committed, master._on_registry_failed,
                                 attempts=2, retry_delay=0.01)
    await master.start()
    cleanup.append(master.close)
    agent = SimulatedAgent(master.url, "127.0.2.1")
    cleanup.append(agent.close)
    starting = asyncio.ensure_future(agent.start())
    cleanup.append(lambda: _cancel(starting))
    await asyncio.wait_for(master.failed.wait(), 10)
    assert not agent.registered.is_set() and master.held_actions == 1
    assert master.unhandled_errors == 1


async def _cancel(task: asyncio.Future[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await task


def test_registry_flags() -> None:
    assert parse_args(["--work-dir", "/x"]).registry_backend == "sqlite"
    assert parse_args([]).registry_backend == "memory"
    assert parse_args(["--work-dir", "/x", "--registry", "memory"]).registry_backend == "memory"
    assert parse_args(["--agent-reregister-timeout", "5"]).agent_reregister_timeout == 5.0
    with pytest.raises(SystemExit):
        parse_args(["--registry", "sqlite"])


async def test_failover_timeout_of_a_framework_connected_at_shutdown_counts_from_the_restart(
        tmp_path: Path, cleanup: list[Callable[[], Any]]) -> None:
    master = await start_master(config(tmp_path), cleanup)
    s = SchedulerClient(master.url, {**FW, "failover_timeout": 30.0})
    cleanup.append(s.close)
    await s.subscribe()
    await master.close()  # the stream ends because the master stops, not the framework
    restarted_at = asyncio.get_running_loop().time()
    master = await start_master(config(tmp_path, master.bound_port), cleanup)
    fw = master.state.frameworks[s.framework_id or ""]
    assert fw.recovered and fw.disconnected_at is not None and fw.disconnected_at >= restarted_at
