"""Helpers for the dns integration tests: launching tasks through a real master, asking with dnspython."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dns.asyncquery
import dns.message
import dns.rdatatype

from pydcos.core.waiting import wait_until
from pydcos.dns.config import DnsConfig
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient, command_task

Json = dict[str, Any]
MARATHON = {"user": "root", "name": "marathon", "hostname": "127.0.0.1"}


def master_config(port: int = 0) -> MasterConfig:
    return MasterConfig(ip="127.0.0.1", port=port, allocation_interval=0.05, heartbeat_interval=1.0,
                        agent_ping_interval=0.5, agent_unreachable_timeout=5.0, offer_timeout=30.0)


def dns_config(master: Master, **kw: object) -> DnsConfig:
    fields: dict[str, object] = {"ip": "127.0.0.1", "port": 0, "http_port": 0, "forward": False,
                                 "masters": (f"127.0.0.1:{master.bound_port}",), "refresh_seconds": 30.0}
    fields.update(kw)
    return DnsConfig(**fields)  # type: ignore[arg-type]


def ports_resource(*ports: int) -> Json:
    return {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": p, "end": p} for p in ports]}}


async def launch(s: SchedulerClient, specs: Sequence[tuple[str, str, tuple[int, ...]]],
                 agent_id: str | None = None) -> list[Json]:
    """Launch (task id, name, ports) on one offer (of `agent_id` if given); decline the others."""
    while True:
        event = await s.next_event("OFFERS")
        offers = event["offers"]["offers"]
        chosen = [o for o in offers if agent_id is None or o["agent_id"]["value"] == agent_id][:1]
        rest = [o["id"] for o in offers if o not in chosen]
        if rest:
            await s.call("DECLINE", decline={"offer_ids": rest, "filters": {"refuse_seconds": 0}})
        if chosen:
            break
    offer = chosen[0]
    tasks = []
    for task_id, name, ports in specs:
        task = command_task(task_id, offer["agent_id"]["value"], "sleep 1000", cpus=0.01, mem=1, name=name)
        if ports:
            task["resources"].append(ports_resource(*ports))
        tasks.append(task)
    ops = [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]
    status = await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": ops,
                                            "filters": {"refuse_seconds": 0}})
    assert status == 202
    return tasks


async def wait_state(s: SchedulerClient, task_ids: set[str], state: str, timeout: float = 10.0) -> None:
    def reached() -> bool:
        seen = {u["task_id"]["value"] for u in s.updates if u["state"] == state}
        return task_ids <= seen
    await wait_until(reached, timeout=timeout, what=f"{sorted(task_ids)} in {state}")


async def ask(port: int, name: str, rdtype: str = "A", *, tcp: bool = False, timeout: float = 2.0,
              **kw: Any) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, **kw)
    if tcp:
        return await dns.asyncquery.tcp(q, "127.0.0.1", port=port, timeout=timeout)
    return await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=timeout)


async def addresses(port: int, name: str) -> set[str]:
    reply = await ask(port, name)
    return {r.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for r in rrset}
