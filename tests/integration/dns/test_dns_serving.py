"""Serving under bad conditions: upstreams that answer, are silent or are off; garbage on UDP and
TCP; idle TCP clients; a master that goes away and comes back; the safety-net poll."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest
from aiohttp import web
from dns_cluster import MARATHON, addresses, ask, dns_config, launch, master_config, wait_state

from pydcos.core.waiting import wait_until
from pydcos.dns.service import DnsServer
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient
from pydcos.testing.simulated_agent import SimulatedAgent


class FakeUpstream(asyncio.DatagramProtocol):
    """Answers every query with 1.2.3.4 over UDP and TCP; or, when silent, never answers."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.port = 0
        self.queries = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    async def start(self) -> FakeUpstream:
        """UDP and TCP on one port: take a free UDP port, retry while its TCP twin is taken."""
        loop = asyncio.get_running_loop()
        for _ in range(20):
            self._udp, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
            self.port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, "127.0.0.1", self.port)
                return self
            except OSError:
                self._udp.close()
        raise RuntimeError("no port free for both UDP and TCP")

    def _reply(self, data: bytes) -> bytes:
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 30, "IN", "A", "1.2.3.4"))
        return reply.to_wire()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queries += 1
        if not self.silent and self._udp is not None:
            self._udp.sendto(self._reply(data), addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        size = int.from_bytes(await reader.readexactly(2), "big")
        data = await reader.readexactly(size)
        self.queries += 1
        if not self.silent:
            out = self._reply(data)
            writer.write(len(out).to_bytes(2, "big") + out)
            await writer.drain()
        writer.close()

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()


@pytest.fixture
async def upstreams() -> AsyncIterator[tuple[FakeUpstream, FakeUpstream]]:
    good = await FakeUpstream().start()
    silent = await FakeUpstream(silent=True).start()
    yield good, silent
    await good.close()
    await silent.close()


async def test_forwarding_a_silent_upstream_costs_its_timeout_and_blocks_nothing(
        master: Master, upstreams: tuple[FakeUpstream, FakeUpstream]) -> None:
    good, silent = upstreams
    cfg = dns_config(master, forward=True, upstream_timeout=0.3,
                     upstreams=(f"127.0.0.1:{silent.port}", f"127.0.0.1:{good.port}"))
    async with DnsServer(cfg) as server:
        port = server.dns_port
        started = time.monotonic()
        forwarded = [asyncio.ensure_future(ask(port, f"host{i}.example.com.")) for i in range(20)]
        local = await ask(port, "ns1.mesos.")
        assert local.answer and time.monotonic() - started < 0.25  # not behind the silent upstream
        assert local.flags & dns.flags.RA  # recursion is available when forwarding is on
        replies = await asyncio.gather(*forwarded)
        elapsed = time.monotonic() - started
        assert all(r.answer[0][0].address == "1.2.3.4" for r in replies)
        assert 0.3 <= elapsed < 1.5
        assert silent.queries == 20 and good.queries == 20
        over_tcp = await ask(port, "tcp.example.com.", tcp=True)
        assert over_tcp.answer[0][0].address == "1.2.3.4"
        assert server.handler.counters.unhandled_errors == 0


async def test_no_upstream_answering_is_servfail(master: Master, upstreams: tuple[FakeUpstream, FakeUpstream]) -> None:
    _, silent = upstreams
    cfg = dns_config(master, forward=True, upstream_timeout=0.2, upstreams=(f"127.0.0.1:{silent.port}",))
    async with DnsServer(cfg) as server:
        reply = await ask(server.dns_port, "example.org.")
        assert reply.rcode() == dns.rcode.SERVFAIL


@pytest.mark.parametrize("udp_batch", [True, False], ids=["recvmmsg", "asyncio"])
async def test_garbage_never_stops_the_server(master: Master, agents: list[SimulatedAgent], udp_batch: bool) -> None:
    async with DnsServer(dns_config(master, udp_batch=udp_batch)) as dns_server:
        await wait_until(lambda: dns_server.follower.connected, what="stream up")
        await _send_garbage(dns_server)


async def _send_garbage(dns_server: DnsServer) -> None:
    port = dns_server.dns_port
    rng = random.Random(7)
    valid = dns.message.make_query("leader.mesos.", "A").to_wire()
    packets = [b"", b"\x00", b"\x00" * 12, b"\xff" * 12, valid[:14], valid + b"\x00" * 9000]
    packets += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) for _ in range(300)]
    for _ in range(300):
        mutated = bytearray(valid)
        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        packets.append(bytes(mutated))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in packets:
            sock.sendto(packet, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x00\x00" + b"\x00\x05junk!" + b"\x00\x0c" + b"\xff" * 12 + b"\x40\x00partial")
    await writer.drain()
    writer.close()
    await wait_until(lambda: dns_server.handler.counters.slow >= 300, what="garbage reached the resolver")
    assert await addresses(port, "leader.mesos.") == {"127.0.0.1"}
    assert (await ask(port, "leader.mesos.", tcp=True)).answer
    assert dns_server.handler.counters.unhandled_errors == 0


async def test_tcp_pipelining_and_idle_timeout(master: Master) -> None:
    async with DnsServer(dns_config(master, tcp_idle_timeout=0.3)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.dns_port)
        ids = []
        for i, name in enumerate(["ns1.mesos.", "NS1.mesos.", "nothing.mesos."]):
            q = dns.message.make_query(name, "A")
            q.id = 100 + i
            ids.append(q.id)
            wire = q.to_wire()
            writer.write(len(wire).to_bytes(2, "big") + wire)
        await writer.drain()
        got = []
        for _ in ids:
            size = int.from_bytes(await reader.readexactly(2), "big")
            got.append(dns.message.from_wire(await reader.readexactly(size)).id)
        assert sorted(got) == ids
        started = time.monotonic()
        async with asyncio.timeout(2.0):
            assert await reader.read() == b""  # closed by the server once idle
        assert time.monotonic() - started < 1.5
        writer.close()


async def test_follows_a_master_that_goes_away_and_comes_back() -> None:
    first = Master(master_config())
    await first.start()
    port = first.bound_port
    async with DnsServer(dns_config(first)) as server:
        await wait_until(lambda: server.follower.connected, what="stream up")
        assert await addresses(server.dns_port, "leader.mesos.") == {"127.0.0.1"}
        await first.close()
        await wait_until(lambda: not server.follower.connected, what="stream down")
        # Names stay while the master is away: better stale than empty.
        assert await addresses(server.dns_port, "leader.mesos.") == {"127.0.0.1"}
        async with Master(master_config(port)) as second:
            agent = SimulatedAgent(second.url, "127.0.2.9")
            await agent.start()
            try:
                await wait_until(lambda: server.follower.connected, timeout=10, what="stream up again")
                await wait_until(lambda: addresses(server.dns_port, "slave.mesos."), what="the new agent")
                assert await addresses(server.dns_port, "slave.mesos.") == {"127.0.2.9"}
            finally:
                await agent.close()


async def test_safety_net_poll_keeps_the_records(master: Master, agents: list[SimulatedAgent]) -> None:
    async with DnsServer(dns_config(master, refresh_seconds=0.05)) as server, \
            SchedulerClient(master.url, MARATHON) as s:
        await wait_until(lambda: server.follower.connected, what="stream up")
        polls = server.follower.polls
        await launch(s, [(f"p.{i}", "polled", (31200 + i,)) for i in range(5)], agents[0].agent_id)
        await wait_state(s, {f"p.{i}" for i in range(5)}, "TASK_RUNNING")
        await wait_until(lambda: server.follower.polls >= polls + 5, what="several polls")
        reply = await ask(server.dns_port, "_polled._tcp.marathon.mesos.", "SRV")
        assert len(reply.answer[0]) == 5
        assert server.follower.events > 0


async def test_a_port_in_use_fails_start_and_leaves_nothing_bound(master: Master) -> None:
    async with DnsServer(dns_config(master)) as first:
        taken = first.http_port
        second = DnsServer(dns_config(master, http_port=taken))
        with pytest.raises(OSError):
            await second.start()
        assert second._udp is None and second._tcp is None and second._runner is None


async def test_a_non_leading_master_points_the_way_to_the_leader(master: Master, agents: list[SimulatedAgent]) -> None:
    async def state(_: web.Request) -> web.Response:  # a standby master, as Mesos answers on one
        return web.json_response({"leader": f"master@127.0.0.1:{master.bound_port}", "frameworks": [],
                                  "slaves": []})

    app = web.Application()
    app.router.add_get("/master/state", state)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.5", 0).start()
    standby = f"127.0.0.5:{runner.addresses[0][1]}"
    try:
        async with DnsServer(dns_config(master, masters=(standby,))) as server:
            await wait_until(lambda: server.follower.connected, what="stream up on the leader")
            assert server.follower.leader == f"127.0.0.1:{master.bound_port}"
            assert await addresses(server.dns_port, "slave.mesos.") == {"127.0.2.1", "127.0.2.2"}
            assert await addresses(server.dns_port, "master0.mesos.") == {"127.0.0.5"}
            assert await addresses(server.dns_port, "leader.mesos.") == {"127.0.0.1"}
    finally:
        await runner.cleanup()
