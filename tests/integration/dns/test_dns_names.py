"""Names for tasks, masters and agents over real sockets: a real master, simulated agents, dnspython."""

from __future__ import annotations

import time

import aiohttp
import dns.flags
import dns.rcode
import dns.rdatatype
from dns_cluster import addresses, ask, launch, wait_state

from pydcos.core.waiting import wait_until
from pydcos.dns.service import DnsServer
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient
from pydcos.testing.simulated_agent import SimulatedAgent


async def test_running_task_resolves_within_a_second_and_ending_one_goes(
        dns_server: DnsServer, marathon: SchedulerClient, agents: list[SimulatedAgent]) -> None:
    port = dns_server.dns_port
    await launch(marathon, [("web.1", "web", (31000,))], agents[0].agent_id)
    await wait_state(marathon, {"web.1"}, "TASK_RUNNING")
    started = time.monotonic()
    await wait_until(lambda: addresses(port, "web.marathon.mesos."), timeout=1.0, interval=0.005,
                     what="web.marathon.mesos resolves")
    assert time.monotonic() - started < 1.0
    assert await addresses(port, "WEB.MARATHON.MESOS.") == {"127.0.2.1"}
    assert await marathon.call("KILL", kill={"task_id": {"value": "web.1"}}) == 202
    await wait_state(marathon, {"web.1"}, "TASK_KILLED")
    await wait_until(lambda: (_gone(port, "web.marathon.mesos.")), timeout=1.0, interval=0.005,
                     what="web.marathon.mesos is NXDOMAIN")


async def _gone(port: int, name: str) -> bool:
    return (await ask(port, name)).rcode() == dns.rcode.NXDOMAIN


async def test_srv_canonical_and_slave_names_over_udp_and_tcp(
        dns_server: DnsServer, marathon: SchedulerClient, agents: list[SimulatedAgent]) -> None:
    port = dns_server.dns_port
    await launch(marathon, [("api.1", "api", (31005, 31006))], agents[1].agent_id)
    await wait_state(marathon, {"api.1"}, "TASK_RUNNING")
    await wait_until(lambda: addresses(port, "api.marathon.mesos."), what="api resolves")
    for tcp in (False, True):
        reply = await ask(port, "_api._tcp.marathon.mesos.", "SRV", tcp=tcp)
        assert reply.flags & dns.flags.AA
        srv = reply.answer[0]
        assert sorted(r.port for r in srv) == [31005, 31006]
        target = {r.target.to_text() for r in srv}.pop()
        assert target.startswith("api-") and target.endswith("-s1.marathon.slave.mesos.")
        assert reply.additional[0][0].address == "127.0.2.2"
        assert await addresses(port, target) == {"127.0.2.2"}
        canonical = target.replace(".slave.", ".")
        assert await addresses(port, canonical) == {"127.0.2.2"}
    udp = await ask(port, "_api._udp.marathon.slave.mesos.", "SRV")
    assert len(udp.answer[0]) == 2


async def test_cluster_names(dns_server: DnsServer, master: Master, marathon: SchedulerClient) -> None:
    port = dns_server.dns_port
    assert await addresses(port, "leader.mesos.") == {"127.0.0.1"}
    assert await addresses(port, "master.mesos.") == {"127.0.0.1"}
    assert await addresses(port, "master0.mesos.") == {"127.0.0.1"}
    assert await addresses(port, "slave.mesos.") == {"127.0.2.1", "127.0.2.2"}
    assert await addresses(port, "agent.mesos.") == {"127.0.2.1", "127.0.2.2"}
    await wait_until(lambda: addresses(port, "marathon.mesos."), what="the framework's name")
    leader = await ask(port, "_leader._tcp.mesos.", "SRV")
    assert leader.answer[0][0].port == master.bound_port
    soa = await ask(port, "mesos.", "SOA")
    assert soa.answer[0][0].mname.to_text() == "ns1.mesos."
    missing = await ask(port, "nope.marathon.mesos.", use_edns=0)
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.authority[0].rdtype == dns.rdatatype.SOA
    assert (await ask(port, "leader.mesos.", "AAAA")).rcode() == dns.rcode.NOERROR
    assert (await ask(port, "example.com.")).rcode() == dns.rcode.REFUSED


async def test_large_answer_is_truncated_over_udp_and_whole_over_tcp(
        dns_server: DnsServer, marathon: SchedulerClient, agents: list[SimulatedAgent]) -> None:
    port = dns_server.dns_port
    specs = [(f"big.{i}", "big", (31100 + i,)) for i in range(40)]
    await launch(marathon, specs, agents[0].agent_id)
    await wait_state(marathon, {t for t, _, _ in specs}, "TASK_RUNNING")
    await wait_until(lambda: _has_srv_count(port, 40), what="40 SRV records over TCP")
    udp = await ask(port, "_big._tcp.marathon.mesos.", "SRV")
    assert udp.flags & dns.flags.TC
    reply, used_tcp = await _udp_with_fallback(port, "_big._tcp.marathon.mesos.")
    assert used_tcp and len(reply.answer[0]) == 40


async def _has_srv_count(port: int, count: int) -> bool:
    reply = await ask(port, "_big._tcp.marathon.mesos.", "SRV", tcp=True)
    return bool(reply.answer) and len(reply.answer[0]) == count


async def _udp_with_fallback(port: int, name: str) -> tuple[dns.message.Message, bool]:
    import dns.asyncquery
    import dns.message
    q = dns.message.make_query(name, "SRV")
    return await dns.asyncquery.udp_with_fallback(q, "127.0.0.1", port=port, timeout=2.0)


async def test_http_api(dns_server: DnsServer, marathon: SchedulerClient, agents: list[SimulatedAgent]) -> None:
    await launch(marathon, [("web.7", "web", (31007,))], agents[0].agent_id)
    await wait_state(marathon, {"web.7"}, "TASK_RUNNING")
    await wait_until(lambda: addresses(dns_server.dns_port, "web.marathon.mesos."), what="web resolves")
    url = dns_server.http_url
    async with aiohttp.ClientSession() as http:
        for name in ("leader.mesos.", "leader.mesos"):
            async with http.get(f"{url}/v1/hosts/{name}", headers={"Accept": "*/*"}) as r:
                assert r.status == 200
                assert await r.json() == [{"host": "leader.mesos.", "ip": "127.0.0.1"}]
        async with http.get(f"{url}/v1/hosts/nothing.mesos") as r:
            assert await r.json() == [{"host": "", "ip": ""}]
        async with http.get(f"{url}/v1/services/_web._tcp.marathon.mesos.") as r:
            [row] = await r.json()
            assert row["service"] == "_web._tcp.marathon.mesos." and row["port"] == "31007"
            assert row["ip"] == "127.0.2.1" and row["host"].endswith(".marathon.slave.mesos.")
        async with http.get(f"{url}/v1/version") as r:
            assert (await r.json())["Service"] == "Mesos-DNS"
        async with http.get(f"{url}/v1/config") as r:
            config = await r.json()
            assert config["Domain"] == "mesos" and config["TTL"] == 60 and config["ExternalOn"] is False
        async with http.get(f"{url}/v1/enumerate") as r:
            [fw] = (await r.json())["frameworks"]
            assert fw["name"] == "marathon" and fw["tasks"][0]["id"] == "web.7"
        async with http.get(f"{url}/v1/axfr") as r:
            assert "leader.mesos." in (await r.json())["Records"]["As"]
        async with http.get(f"{url}/health") as r:
            health = await r.json()
            assert health["master_stream"] is True and health["tasks"] == 1
