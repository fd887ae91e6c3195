"""Stand-in upstreams for Admin Router's integration tests: a master, Marathon, an agent, the dns
HTTP API and a service, each an aiohttp app on a loopback address of its own that echoes what it
received (`{"server", "method", "path_qs", "headers", "body"}`), plus the few routes the router's
watcher and the streaming tests need. A tiny DNS server answers `leader.mesos` for the resolver test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import dns.message
import dns.rrset
from aiohttp import web

from pydcos.cluster.processes import address_in_use

MASTER_PORT, MARATHON_PORT, AGENT_PORT, DNS_HTTP_PORT, SERVICE_PORT = 5050, 8080, 5051, 8123, 31000


def free_block() -> str:
    """A loopback block 127.N (N in 150..249) whose router address is free, chosen from the pid so
    that parallel runs rarely meet."""
    start = os.getpid() % 100
    for i in range(100):
        n = 150 + (start + i) % 100
        if not address_in_use(f"127.{n}.1.1", 8101) and not address_in_use(f"127.{n}.1.1", 18080):
            return f"127.{n}"
    raise RuntimeError("no free loopback block for an adminrouter test")


@dataclass
class Upstream:
    """One fake server. `stream_release` lets a streaming test decide when a stream ends."""

    name: str
    ip: str
    port: int
    state: dict[str, Any] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    stream_release: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = {
            "server": self.name,
            "method": request.method,
            "path_qs": request.raw_path,
            "headers": dict(request.headers),
            "body": base64.b64encode(body).decode(),
        }
        self.received.append(seen)
        headers = {"Location": "/v2/apps/x", "Marathon-Deployment-Id": "dep-1", "Mesos-Stream-Id": "s-1",
                   "X-Custom": "kept"}
        return web.json_response(seen, headers=headers)

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(location=f"//{self.address}")

    async def summary(self, request: web.Request) -> web.Response:
        return web.json_response({"slaves": self.state.get("slaves", []),
                                  "frameworks": self.state.get("frameworks", [])})

    async def apps(self, request: web.Request) -> web.Response:
        return web.json_response({"apps": self.state.get("apps", [])})

    async def records(self, request: web.Request) -> web.StreamResponse:
        """A RecordIO stream like the scheduler API's: a record now, the next once released."""
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Mesos-Stream-Id": "stream-7"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        first = b'{"type":"SUBSCRIBED"}'
        await response.write(b"%d\n%s" % (len(first), first))
        await self.stream_release.wait()
        last = b'{"type":"HEARTBEAT"}'
        await response.write(b"%d\n%s" % (len(last), last))
        await response.write_eof()
        return response

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'event: event_stream_attached\ndata: {"eventType":"event_stream_attached"}\n\n')
        await self.stream_release.wait()
        await response.write_eof()
        return response

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        r = app.router
        r.add_get("/master/redirect", self.redirect)
        r.add_get("/master/state-summary", self.summary)
        r.add_get("/v2/apps", self.apps)
        r.add_post("/api/v1/scheduler", self.records)
        r.add_get("/v2/events", self.events)
        r.add_route("*", "/{tail:.*}", self.echo)
        return app

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.ip, self.port, reuse_address=True).start()

    async def close(self) -> None:
        self.stream_release.set()
        if self.runner is not None:
            await self.runner.cleanup()


class LeaderDns(asyncio.DatagramProtocol):
    """Answers `leader.mesos` A with `self.leader`; everything else NXDOMAIN."""

    def __init__(self, leader: str) -> None:
        self.leader = leader
        self.transport: asyncio.BaseTransport | None = None
        self.queries = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        query = dns.message.from_wire(data)
        answer = dns.message.make_response(query)
        question = query.question[0]
        self.queries += 1
        if question.name.to_text().lower() == "leader.mesos." and question.rdtype == 1:
            answer.answer.append(dns.rrset.from_text(question.name, 0, "IN", "A", self.leader))
        else:
            answer.set_rcode(3)
        self.transport.sendto(answer.to_wire(), addr)  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def leader_dns(ip: str, port: int, leader: str) -> AsyncIterator[LeaderDns]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    transport, protocol = await loop.create_datagram_endpoint(lambda: LeaderDns(leader), sock=sock)
    try:
        yield protocol
    finally:
        transport.close()
