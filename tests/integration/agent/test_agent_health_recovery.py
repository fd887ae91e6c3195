"""Health checks of a re-attached task: the agent (a real process) is SIGKILLed and started again;
the task's checks resume without repeating what was reported, and still report changes."""

from __future__ import annotations

import os

import aiohttp
from agent_fake_master import get_json
from agent_fixtures import StartAgent
from agent_process import updates_settled

from pydcos.core.waiting import wait_until
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient, command_task


def healths(s: SchedulerClient, task_id: str) -> list[bool]:
    return [u["healthy"] for u in s.updates if u["task_id"]["value"] == task_id and "healthy" in u]


async def test_checks_resume_after_the_agent_restarts(
    real_master: Master, work_dir: str, http: aiohttp.ClientSession, start_agent: StartAgent
) -> None:
    down = os.path.join(work_dir, "down")
    check = {"type": "COMMAND", "command": {"value": f"test ! -e {down}"}, "delay_seconds": 0,
             "interval_seconds": 0.1, "grace_period_seconds": 0, "consecutive_failures": 1000}
    agent = await start_agent()
    try:
        async with SchedulerClient(real_master.url, {"user": "root", "name": "hc", "checkpoint": True}) as s:
            offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
            task = command_task("checked", offer["agent_id"]["value"], "exec sleep 60", cpus=0.01, mem=1,
                                health_check=check)
            assert await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
                {"type": "LAUNCH", "launch": {"task_infos": [task]}}]}) == 202
            await wait_until(lambda: healths(s, "checked") == [True], timeout=15, what="healthy")
            await wait_until(lambda: updates_settled(http, agent, 0.0), timeout=10, what="updates acknowledged")

            await agent.kill9()
            await agent.start()
            await wait_until(lambda: updates_settled(http, agent, 0.0), timeout=20, what="the agent back")
            _, state = await get_json(http, f"{agent.url}/state")
            [task_json] = state["frameworks"][0]["executors"][0]["tasks"]
            assert task_json["state"] == "TASK_RUNNING" and task_json["statuses"][-1]["healthy"] is True

            # The resumed checks pass (and say nothing: healthy was reported), then fail and report it.
            os.close(os.open(down, os.O_CREAT | os.O_WRONLY, 0o644))
            await wait_until(lambda: healths(s, "checked") == [True, False], timeout=15, what="unhealthy")
            os.unlink(down)
            await wait_until(lambda: healths(s, "checked") == [True, False, True], timeout=15, what="healthy again")
            states = [u["state"] for u in s.updates if u["task_id"]["value"] == "checked"]
            assert states == ["TASK_RUNNING"] * 4
    finally:
        await agent.stop()
