"""Agent recovery: a real master in this loop, the agent as a real process that is SIGKILLed and
started again with the same flags and work dir."""

from __future__ import annotations

import base64
import glob
import os
import signal
import sys

import aiohttp
from agent_fake_master import get_json
from agent_fixtures import StartAgent, stop_launchers
from agent_process import ended_tasks, running, sandbox_pid, updates_settled

from pydcos.core.waiting import wait_until
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient, command_task


async def launch(scheduler: SchedulerClient, tasks: list[tuple[str, str]]) -> str:
    offer = (await scheduler.next_event("OFFERS"))["offers"]["offers"][0]
    agent_id: str = offer["agent_id"]["value"]
    infos = [command_task(tid, agent_id, cmd, cpus=0.01, mem=1) for tid, cmd in tasks]
    status = await scheduler.call("ACCEPT", accept={
        "offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": infos}}]})
    assert status == 202
    return agent_id


def states(scheduler: SchedulerClient, task_id: str) -> list[str]:
    return [u["state"] for u in scheduler.updates if u["task_id"]["value"] == task_id]

async def start_sleeper(scheduler: SchedulerClient, work_dir: str, task_id: str) -> tuple[str, int]:
    """Launch `task_id` (writes its pid to its sandbox, then sleeps); returns the agent id and the pid."""
    agent_id = await launch(scheduler, [(task_id, "echo $$ > pid; exec sleep 30")])
    await scheduler.wait_update(task_id, {"TASK_RUNNING"})
    await wait_until(lambda: glob.glob(f"{work_dir}/slaves/*/frameworks/*/executors/{task_id}/runs/*/pid"),
                     what="pid written")
    return agent_id, sandbox_pid(work_dir, task_id)



async def test_checkpointed_tasks_survive_a_sigkilled_agent(
    real_master: Master, work_dir: str, http: aiohttp.ClientSession, start_agent: StartAgent
) -> None:
    agent = await start_agent()
    gate = os.path.join(work_dir, "gate")  # tasks that end while the agent is down wait for it
    async with SchedulerClient(real_master.url, {"user": "root", "name": "ckpt", "checkpoint": True}) as s:
        agent_id = await launch(s, [
            ("sleeper", "echo $$ > pid; exec sleep 30"),
            ("fails", f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 3"),
            ("finishes", f"while [ ! -e {gate} ]; do sleep 0.05; done"),
        ])
        for tid in ("sleeper", "fails", "finishes"):
            await s.wait_update(tid, {"TASK_RUNNING"})
        await wait_until(lambda: len(s.updates) == 3, what="three updates")
        await wait_until(lambda: updates_settled(http, agent, 0.0), timeout=10, what="RUNNING acknowledged")
        await wait_until(lambda: glob.glob(f"{work_dir}/slaves/*/frameworks/*/executors/sleeper/runs/*/pid"),
                         what="pid written")
        pid = sandbox_pid(work_dir, "sleeper")

        await agent.kill9()
        os.close(os.open(gate, os.O_CREAT | os.O_WRONLY, 0o644))
        await wait_until(lambda: ended_tasks(work_dir) == 2, what="both ended while down")
        assert running(pid)
        await agent.start()

        failed = await s.wait_update("fails", {"TASK_FAILED", "TASK_LOST", "TASK_FINISHED"}, timeout=20)
        assert (failed["state"], failed["message"]) == ("TASK_FAILED", "Command exited with status 3")
        finished = await s.wait_update("finishes", {"TASK_FINISHED", "TASK_FAILED", "TASK_LOST"})
        assert finished["state"] == "TASK_FINISHED"
        assert failed["agent_id"]["value"] == agent_id
        assert states(s, "sleeper") == ["TASK_RUNNING"]  # acknowledged before: not sent again

        _, agent_state = await get_json(http, f"{agent.url}/state")
        assert agent_state["id"] == agent_id
        [fw] = agent_state["frameworks"]
        assert [t["state"] for e in fw["executors"] for t in e["tasks"]] == ["TASK_RUNNING"]
        _, master_state = await get_json(http, f"{real_master.url}/master/state")
        assert [a["id"] for a in master_state["slaves"]] == [agent_id]
        [mfw] = master_state["frameworks"]
        assert {t["id"]: t["state"] for t in mfw["tasks"]}["sleeper"] == "TASK_RUNNING"

        # The updates of this incarnation stay unacknowledged across a second SIGKILL.
        await wait_until(lambda: updates_settled(http, agent, 0.0), timeout=10, what="finals acknowledged")
        s.auto_ack = False
        assert await s.call("KILL", kill={"task_id": {"value": "sleeper"}, "agent_id": {"value": agent_id}}) == 202
        killed = await s.wait_update("sleeper", {"TASK_KILLED", "TASK_FAILED"})
        assert killed["state"] == "TASK_KILLED"
        assert not running(pid)
        await agent.kill9()
        await agent.start()
        await wait_until(lambda: updates_settled(http, agent, 1.0), timeout=20, what="kill update recovered")
        await wait_until(lambda: states(s, "sleeper").count("TASK_KILLED") >= 2, timeout=10,
                         what="the unacknowledged TASK_KILLED sent again")
        again = [u for u in s.updates if u["task_id"]["value"] == "sleeper" and u["state"] == "TASK_KILLED"]
        assert {u["uuid"] for u in again} == {killed["uuid"]}
        assert await s.call("ACKNOWLEDGE", acknowledge={
            "agent_id": {"value": agent_id}, "task_id": {"value": "sleeper"}, "uuid": killed["uuid"]}) == 202
        await wait_until(lambda: updates_settled(http, agent, 0.0), timeout=10, what="acknowledged")
        await wait_until(lambda: not glob.glob(f"{work_dir}/meta/slaves/*/frameworks/*/executors/*/runs/*"),
                         what="finished checkpoints removed")


async def test_tasks_of_a_non_checkpointing_framework_are_killed_at_restart(
    real_master: Master, work_dir: str, http: aiohttp.ClientSession, start_agent: StartAgent
) -> None:
    agent = await start_agent()
    async with SchedulerClient(real_master.url, {"user": "root", "name": "plain"}) as s:
        agent_id, pid = await start_sleeper(s, work_dir, "plain")
        await agent.kill9()
        assert running(pid)
        await agent.start()
        lost = await s.wait_update("plain", {"TASK_LOST", "TASK_FAILED", "TASK_KILLED", "TASK_GONE"}, timeout=20)
        assert lost["state"] == "TASK_LOST"
        assert not running(pid)
        _, agent_state = await get_json(http, f"{agent.url}/state")
        assert agent_state["id"] == agent_id  # the same agent, without the task


async def test_cleanup_kills_everything_and_registers_anew(
    real_master: Master, work_dir: str, http: aiohttp.ClientSession, start_agent: StartAgent
) -> None:
    agent = await start_agent()
    async with SchedulerClient(real_master.url, {"user": "root", "name": "ckpt", "checkpoint": True}) as s:
        agent_id, pid = await start_sleeper(s, work_dir, "c1")
        await agent.kill9()
        agent.argv += ["--recover", "cleanup"]
        await agent.start()
        await wait_until(lambda: not running(pid), timeout=15, what="checkpointed task killed")
        await wait_until(lambda: _agent_id(work_dir) not in (None, agent_id), timeout=15,
                         what="registered as a new agent")
        lost = await s.wait_update("c1", {"TASK_LOST", "TASK_FAILED", "TASK_KILLED"}, timeout=40)
        assert lost["state"] == "TASK_LOST"


def _agent_id(work_dir: str) -> str | None:
    try:
        with open(f"{work_dir}/meta/slaves/latest") as f:
            value = f.read().strip()
    except OSError:
        return None
    return value or None



EXECUTOR_EXAMPLE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples",
                                                "custom_executor.py"))


async def test_a_checkpointing_custom_executor_is_reattached_and_resubscribes(
    real_master: Master, work_dir: str, http: aiohttp.ClientSession, start_agent: StartAgent
) -> None:
    agent = await start_agent()
    gate = os.path.join(work_dir, "gate")
    executor = {"executor_id": {"value": "shell"}, "name": "shell",
                "command": {"value": f"exec {sys.executable} {EXECUTOR_EXAMPLE}"},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}]}

    def task(tid: str, agent_id: str, script: str) -> dict[str, object]:
        return {"name": tid, "task_id": {"value": tid}, "agent_id": {"value": agent_id}, "executor": executor,
                "data": base64.b64encode(script.encode()).decode(),
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.01}}]}

    async with SchedulerClient(real_master.url, {"user": "root", "name": "ex", "checkpoint": True}) as s:
        offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
        agent_id = offer["agent_id"]["value"]
        infos = [task("e-fails", agent_id, f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 3"),
                 task("e-runs", agent_id, "exec sleep 30")]
        assert await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
            {"type": "LAUNCH", "launch": {"task_infos": infos}}]}) == 202
        for tid in ("e-fails", "e-runs"):
            await s.wait_update(tid, {"TASK_RUNNING"}, timeout=20)
        await wait_until(lambda: updates_settled(http, agent, 0.0), timeout=10, what="RUNNING acknowledged")

        await agent.kill9()
        os.close(os.open(gate, os.O_CREAT | os.O_WRONLY, 0o644))
        await agent.start()
        failed = await s.wait_update("e-fails", {"TASK_FAILED", "TASK_LOST", "TASK_FINISHED"}, timeout=20)
        assert failed["state"] == "TASK_FAILED" and failed["source"] == "SOURCE_EXECUTOR", failed
        assert states(s, "e-runs") == ["TASK_RUNNING"]
        _, agent_state = await get_json(http, f"{agent.url}/state")
        assert agent_state["id"] == agent_id
        assert await s.call("KILL", kill={"task_id": {"value": "e-runs"}, "agent_id": {"value": agent_id}}) == 202
        killed = await s.wait_update("e-runs", {"TASK_KILLED", "TASK_FAILED", "TASK_LOST"}, timeout=20)
        assert killed["state"] == "TASK_KILLED", killed


async def test_a_reattached_executor_that_does_not_resubscribe_is_killed_and_its_tasks_fail(
    real_master: Master, work_dir: str, http: aiohttp.ClientSession, start_agent: StartAgent
) -> None:
    agent = await start_agent("--executor-reregistration-timeout", "0.5")
    executor = {"executor_id": {"value": "shell"}, "name": "shell",
                "command": {"value": f"echo $$ > pid; exec {sys.executable} {EXECUTOR_EXAMPLE}"}}
    async with SchedulerClient(real_master.url, {"user": "root", "name": "ex", "checkpoint": True}) as s:
        offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
        agent_id = offer["agent_id"]["value"]
        info = {"name": "x", "task_id": {"value": "x"}, "agent_id": {"value": agent_id}, "executor": executor,
                "data": base64.b64encode(b"exec sleep 30").decode(),
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.01}}]}
        assert await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
            {"type": "LAUNCH", "launch": {"task_infos": [info]}}]}) == 202
        await s.wait_update("x", {"TASK_RUNNING"}, timeout=20)
        pid = sandbox_pid(work_dir, "shell")
        await agent.kill9()
        os.kill(pid, signal.SIGSTOP)  # it cannot subscribe again
        await agent.start()
        failed = await s.wait_update("x", {"TASK_FAILED", "TASK_LOST", "TASK_KILLED"}, timeout=20)
        assert (failed["state"], failed["reason"]) == ("TASK_FAILED", "REASON_EXECUTOR_REGISTRATION_TIMEOUT")
        await wait_until(lambda: not running(pid), what="executor killed")


async def test_a_kill_under_way_when_the_agent_dies_is_finished_after_the_restart(
    real_master: Master, work_dir: str, http: aiohttp.ClientSession, start_agent: StartAgent
) -> None:
    agent = await start_agent()
    async with SchedulerClient(real_master.url, {"user": "root", "name": "ckpt", "checkpoint": True}) as s:
        offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
        agent_id = offer["agent_id"]["value"]
        stubborn = command_task("stubborn", agent_id, "echo $$ > pid; trap 'echo term >> got' TERM; "
                                "while :; do sleep 0.05; done", cpus=0.01, mem=1,
                                kill_policy={"grace_period": {"nanoseconds": 1_000_000_000}})
        assert await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
            {"type": "LAUNCH", "launch": {"task_infos": [stubborn]}}]}) == 202
        await s.wait_update("stubborn", {"TASK_RUNNING"})
        await wait_until(lambda: glob.glob(f"{work_dir}/slaves/*/frameworks/*/executors/stubborn/runs/*/pid"),
                         what="pid written")
        pid = sandbox_pid(work_dir, "stubborn")
        got = glob.glob(f"{work_dir}/slaves/*/frameworks/*/executors/stubborn/runs/*")[0] + "/got"
        assert await s.call("KILL", kill={"task_id": {"value": "stubborn"}, "agent_id": {"value": agent_id}}) == 202
        await wait_until(lambda: os.path.exists(got), what="SIGTERM received (and ignored)")
        await agent.kill9()  # before the grace period ends
        assert running(pid)
        await agent.start()
        killed = await s.wait_update("stubborn", {"TASK_KILLED", "TASK_FAILED", "TASK_LOST"}, timeout=20)
        assert killed["state"] == "TASK_KILLED", killed
        assert not running(pid)


async def test_a_test_that_ends_with_its_agent_sigkilled_leaves_no_launcher_behind(
    real_master: Master, work_dir: str, start_agent: StartAgent
) -> None:
    agent = await start_agent()
    async with SchedulerClient(real_master.url, {"user": "root", "name": "ckpt", "checkpoint": True}) as s:
        _, pid = await start_sleeper(s, work_dir, "sleeper")
        await agent.kill9()
        assert running(pid)  # the launcher keeps it for the next agent
        stop_launchers(work_dir)  # what the work_dir fixture does at the end of every test
        await wait_until(lambda: not running(pid), timeout=5, what="the task stopped")
