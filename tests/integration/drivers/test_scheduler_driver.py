"""The pydcos scheduler driver against an in-process master and simulated agents."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

from pydcos.core.waiting import wait_until
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master
from pydcos.mesos.scheduler import DriverStatus, Scheduler, SchedulerDriver, parse_masters
from pydcos.testing.simulated_agent import SimulatedAgent

ROOT = Path(__file__).resolve().parents[3]


def config() -> MasterConfig:
    return MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.2, heartbeat_interval=1.0)


class Recorder(Scheduler):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.registered_event = threading.Event()

    def registered(self, driver: SchedulerDriver, framework_id: str, master_info: dict) -> None:  # type: ignore[type-arg]
        self.events.append(("registered", framework_id))
        self.registered_event.set()

    def reregistered(self, driver: SchedulerDriver, master_info: dict) -> None:  # type: ignore[type-arg]
        self.events.append(("reregistered", master_info["id"]))

    def resource_offers(self, driver: SchedulerDriver, offers: list[dict]) -> None:  # type: ignore[type-arg]
        self.events.append(("offers", len(offers)))
        for offer in offers:
            if not any(e[0] == "launched" for e in self.events):
                self.events.append(("launched", offer["agent_id"]["value"]))
                driver.launch_tasks([offer["id"]], [{
                    "name": "t", "task_id": {"value": "t"}, "agent_id": offer["agent_id"],
                    "command": {"value": "true"},
                    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]}])
            else:
                driver.decline_offer([offer["id"]], {"refuse_seconds": 60})

    def status_update(self, driver: SchedulerDriver, status: dict) -> None:  # type: ignore[type-arg]
        self.events.append(("status", status["state"]))

    def agent_lost(self, driver: SchedulerDriver, agent_id: dict) -> None:  # type: ignore[type-arg]
        self.events.append(("agent_lost", agent_id["value"]))


def test_parse_masters() -> None:
    assert parse_masters("a:1, b") == ["http://a:1", "http://b:5050"]


async def test_driver_launches_acknowledges_and_tears_down() -> None:
    async with Master(config()) as master:
        agent = SimulatedAgent(master.url, "127.0.2.1", finish_tasks=True)
        await agent.start()
        rec = Recorder()
        driver = SchedulerDriver(rec, {"user": "root", "name": "drv"}, master.url)
        driver.start()
        await wait_until(lambda: ("status", "TASK_FINISHED") in rec.events, timeout=10, what="task finished")
        await wait_until(lambda: not agent.unacked, what="implicit acknowledgement reached the agent")
        fid = driver.framework_id
        assert await asyncio.to_thread(driver.stop) == DriverStatus.STOPPED
        await asyncio.to_thread(driver.join)
        await wait_until(lambda: fid not in master.state.frameworks, what="framework torn down")
        await agent.close()


async def test_driver_resubscribes_after_master_restart() -> None:
    master = Master(config())
    await master.start()
    url = master.url
    rec = Recorder()
    driver = SchedulerDriver(rec, {"user": "root", "name": "drv", "failover_timeout": 60}, url)
    driver.start()
    await wait_until(rec.registered_event.is_set, what="registered")
    fid = driver.framework_id
    port = master.bound_port
    await master.close()
    again = Master(MasterConfig(ip="127.0.0.1", port=port, allocation_interval=0.2))
    await again.start()
    try:
        await wait_until(lambda: any(e[0] == "reregistered" for e in rec.events), timeout=15,
                         what="re-subscribed to the new master")
        assert again.state.frameworks[fid or ""].connected
        await asyncio.to_thread(driver.stop, True)
        await asyncio.to_thread(driver.join)
    finally:
        await again.close()


async def test_example_framework_runs() -> None:
    async with Master(config()) as master:
        agent = SimulatedAgent(master.url, "127.0.2.1", finish_tasks=True)
        await agent.start()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "examples" / "hello_framework.py"), master.url.removeprefix("http://"), "4",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={"PYTHONPATH": str(ROOT)})
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, (out.decode(), err.decode()[-2000:])
        assert out.decode().count("TASK_FINISHED") == 4
        await agent.close()


async def test_stop_from_a_callback_tears_down() -> None:
    class StopAtOnce(Scheduler):
        def registered(self, driver: SchedulerDriver, framework_id: str, master_info: dict) -> None:  # type: ignore[type-arg]
            driver.stop()

    async with Master(config()) as master:
        driver = SchedulerDriver(StopAtOnce(), {"user": "root", "name": "stopper"}, master.url)
        driver.start()
        assert await asyncio.to_thread(driver.join) == DriverStatus.STOPPED
        await wait_until(lambda: bool(master.state.completed_frameworks), what="framework torn down")
        assert master.state.completed_frameworks[-1].id == driver.framework_id
