"""The pydcos scheduler driver across a master restart on the same work dir (SQLite registry)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from pydcos.core.waiting import wait_until
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master
from pydcos.mesos.scheduler import Scheduler, SchedulerDriver
from pydcos.testing.simulated_agent import SimulatedAgent

Json = dict[str, Any]


class Recorder(Scheduler):
    """Launches one long task on the first offer, declines the rest, records everything."""

    def __init__(self) -> None:
        self.registered_ids: list[str] = []
        self.reregistrations = 0
        self.statuses: list[Json] = []
        self.launched = threading.Event()

    def registered(self, driver: SchedulerDriver, framework_id: str, master_info: Json) -> None:
        self.registered_ids.append(framework_id)

    def reregistered(self, driver: SchedulerDriver, master_info: Json) -> None:
        self.reregistrations += 1

    def resource_offers(self, driver: SchedulerDriver, offers: list[Json]) -> None:
        for offer in offers:
            if self.launched.is_set():
                driver.decline_offer([offer["id"]], {"refuse_seconds": 60})
                continue
            self.launched.set()
            driver.launch_tasks([offer["id"]], [{
                "name": "long", "task_id": {"value": "long"}, "agent_id": offer["agent_id"],
                "command": {"value": "sleep 1000"},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]}])

    def status_update(self, driver: SchedulerDriver, status: Json) -> None:
        self.statuses.append(status)


def config(work_dir: Path, port: int = 0) -> MasterConfig:
    return MasterConfig(ip="127.0.0.1", port=port, work_dir=str(work_dir), allocation_interval=0.2,
                        heartbeat_interval=1.0)


async def test_driver_resubscribes_with_its_id_and_reconciles_after_restart(tmp_path: Path) -> None:
    master = Master(config(tmp_path))
    await master.start()
    agent = SimulatedAgent(master.url, "127.0.2.1")
    rec = Recorder()
    driver = SchedulerDriver(rec, {"user": "root", "name": "drv", "failover_timeout": 600}, master.url)
    again: Master | None = None
    try:
        await agent.start()
        driver.start()
        await wait_until(lambda: any(s["state"] == "TASK_RUNNING" for s in rec.statuses), what="task running")
        fid = driver.framework_id
        port = master.bound_port
        await master.close()

        again = Master(config(tmp_path, port))
        await again.start()
        await agent.disconnect()
        await agent.start()  # re-registers with its id and its running task
        await wait_until(lambda: rec.reregistrations >= 1, timeout=15, what="driver re-subscribed")
        assert driver.framework_id == fid and rec.registered_ids == [fid]
        assert again.state.frameworks[fid or ""].connected
        seen = len(rec.statuses)
        driver.reconcile_tasks([{"task_id": {"value": "long"}, "agent_id": {"value": agent.agent_id}}])
        reconciled = await wait_until(
            lambda: [s for s in rec.statuses[seen:] if s.get("reason") == "REASON_RECONCILIATION"],
            what="reconciliation answer")
        assert reconciled[0]["state"] == "TASK_RUNNING"
        assert again.unhandled_errors == 0
    finally:
        await asyncio.to_thread(driver.stop, True)
        await asyncio.to_thread(driver.join)
        await agent.close()
        await master.close()
        if again is not None:
            await again.close()
