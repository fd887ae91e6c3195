"""Re-record the master states the dns unit tests read: `.venv/bin/python tests/unit/dns/data/record_states.py`.

A real in-process master with two simulated agents and two frameworks; its `/master/state` and the
operator API's SUBSCRIBED event are written beside this file. One task then gets a container IP
by hand (simulated agents report none), in both files.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from pydcos.core.waiting import wait_until
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master
from pydcos.mesos.v1.recordio import RecordIODecoder
from pydcos.testing.scheduler_client import SchedulerClient, command_task
from pydcos.testing.simulated_agent import SimulatedAgent

HERE = Path(__file__).parent
CONTAINER_IP = "9.0.0.7"


def _ports(*spans: tuple[int, int]) -> dict[str, Any]:
    return {"name": "ports", "type": "RANGES",
            "ranges": {"range": [{"begin": b, "end": e} for b, e in spans]}}


async def _launch(s: SchedulerClient, tasks: list[dict[str, Any]]) -> None:
    offers = (await s.next_event("OFFERS"))["offers"]["offers"]
    offer = offers[len(tasks[0]["task_id"]["value"]) % len(offers)]  # spread tasks over the agents
    for t in tasks:
        t["agent_id"] = offer["agent_id"]
    ops = [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]
    await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": ops,
                                   "filters": {"refuse_seconds": 0}})
    others = [o["id"] for o in offers if o is not offer]
    if others:
        await s.call("DECLINE", decline={"offer_ids": others, "filters": {"refuse_seconds": 0}})


async def _wait_running(s: SchedulerClient, tasks: list[dict[str, Any]]) -> None:
    ids = {t["task_id"]["value"] for t in tasks}
    await wait_until(lambda: ids <= {u["task_id"]["value"] for u in s.updates if u["state"] == "TASK_RUNNING"},
                     what="tasks running")


async def _decline_held_offers(s: SchedulerClient) -> None:
    while not s.events.empty():
        event = s.events.get_nowait()
        if event.get("type") == "OFFERS":
            ids = [o["id"] for o in event["offers"]["offers"]]
            await s.call("DECLINE", decline={"offer_ids": ids, "filters": {"refuse_seconds": 60}})


async def main() -> None:
    config = MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.1)
    async with Master(config) as master:
        agents = [SimulatedAgent(master.url, ip) for ip in ("127.0.2.1", "127.0.2.2")]
        for a in agents:
            await a.start()
        marathon = SchedulerClient(master.url, {"user": "root", "name": "marathon", "hostname": "127.0.0.1"})
        other = SchedulerClient(master.url, {"user": "root", "name": "My_Framework.v2"})
        await marathon.subscribe()
        web = [command_task(f"web.{i}", "", "sleep 1000", name="web") for i in range(3)]
        for t in web:
            t["resources"].append(_ports((31000 + 10 * int(t["task_id"]["value"][-1]), 31000 + 10 * int(t["task_id"]["value"][-1]))))
        weird = command_task("weird.1", "", "sleep 1000", name="API_Server.Prod!")
        weird["resources"].append(_ports((31100, 31101)))
        disc = command_task("db.1", "", "sleep 1000", name="db-task")
        disc["resources"].append(_ports((31200, 31200)))
        disc["discovery"] = {"visibility": "FRAMEWORK", "name": "Postgres",
                             "ports": {"ports": [{"number": 5432, "protocol": "tcp", "name": "sql"},
                                                 {"number": 9187, "name": "metrics"}]}}
        finished = command_task("done.1", "", "true", name="finished")
        for t in [*web, weird, disc, finished]:
            await _launch(marathon, [t])
        await _wait_running(marathon, [*web, weird, disc, finished])
        await marathon.call("SUPPRESS")
        await _decline_held_offers(marathon)
        await other.subscribe()
        job = command_task("job.1", "", "sleep 1000", name="nightly")
        await _launch(other, [job])
        await _wait_running(other, [job])
        agent = next(a for a in agents if "done.1" in a.tasks)
        await agent.finish("done.1")
        await marathon.wait_update("done.1", {"TASK_FINISHED"})
        async with aiohttp.ClientSession() as session:
            async with session.get(master.url + "/master/state") as r:
                state = await r.json()
            async with session.post(master.url + "/api/v1", json={"type": "SUBSCRIBE"}) as r:
                decoder = RecordIODecoder()
                records: list[bytes] = []
                while not records:
                    records = decoder.feed(await r.content.readany())
                subscribed = json.loads(records[0])
        await marathon.close()
        await other.close()
        for a in agents:
            await a.close()
    _give_container_ip(state, subscribed)
    (HERE / "master_state.json").write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    (HERE / "subscribed.json").write_text(json.dumps(subscribed, indent=1, sort_keys=True) + "\n")


def _give_container_ip(state: dict[str, Any], subscribed: dict[str, Any]) -> None:
    # The master was bound to port 0; make its pid look like a master on :5050.
    for key in ("leader", "pid"):
        state[key] = state[key].replace(":0", ":5050")
    netinfo = {"network_infos": [{"ip_addresses": [{"ip_address": CONTAINER_IP}]}]}
    for fw in state["frameworks"]:
        for t in fw["tasks"]:
            if t["id"] == "web.2":
                t["statuses"][-1]["container_status"] = netinfo
    for t in subscribed["subscribed"]["get_state"]["get_tasks"]["tasks"]:
        if t["task_id"]["value"] == "web.2":
            t["statuses"][-1]["container_status"] = netinfo


if __name__ == "__main__":
    asyncio.run(main())
