"""The dns daemon's shell: listeners, HTTP API, the master follower, and the one place records change.

    async with DnsServer(DnsConfig(ip="127.0.0.1", port=0, http_port=0, forward=False,
                                   masters=("127.0.0.1:5050",))) as dns:
        dns.dns_port, dns.http_url

Every change to the catalog (a snapshot or an event from the master) ends in `records_changed`,
which hands the names whose answers changed to the fast path, so a new task is answered from the
next query on.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from aiohttp import web

from pydcos.core.clock import Clock, SystemClock
from pydcos.core.log import get_logger
from pydcos.dns import udp_batch
from pydcos.dns.config import DnsConfig
from pydcos.dns.fastpath import FastPath
from pydcos.dns.http_api import make_app
from pydcos.dns.resolver import Resolver
from pydcos.dns.server import QueryHandler, TcpListener, UdpListener
from pydcos.dns.state_follower import StateFollower
from pydcos.dns.udp_batch import BatchUdpListener
from pydcos.dns.upstream import Forwarder, Upstream, parse_upstream, resolv_conf_upstreams
from pydcos.dns.zone import Catalog

log = get_logger("pydcos.dns")

UDP_RECEIVE_BUFFER = 4 * 1024 * 1024
BIND_ATTEMPTS = 20


class DnsServer:
    """Owns the sockets, the HTTP runner and the follower task; `catalog` changes only on its loop."""

    def __init__(self, config: DnsConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.catalog = Catalog(config.record_config(), serial=int(self.clock.wall()))
        self.fast = FastPath(config.ttl, recursion_available=config.forward)
        self.resolver = Resolver(config.resolver_settings())
        self.upstreams: list[Upstream] = []
        self.handler = QueryHandler(self.fast, self.resolver, lambda: self.catalog.zone, None)
        self.follower = StateFollower(config.masters, self.catalog, self.records_changed,
                                      refresh_seconds=config.refresh_seconds,
                                      state_timeout=config.state_timeout, clock=self.clock)
        self.dns_port = config.port
        self.http_port = config.http_port
        self._udp: asyncio.DatagramTransport | BatchUdpListener | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_listener: TcpListener | None = None
        self._runner: web.AppRunner | None = None
        self._follower_task: asyncio.Task[None] | None = None
        self.records_changed()

    @property
    def http_url(self) -> str:
        return f"http://{self.config.http_ip or self.config.ip}:{self.http_port}"

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.close()  # whatever was bound so far is released again
            raise

    async def _start(self) -> None:
        if self.config.forward:
            self.upstreams = await self._upstreams()
            self.handler.forwarder = Forwarder(self.upstreams, self.config.upstream_timeout,
                                               self.config.max_forwarded)
        await self._bind_dns()
        self._runner = web.AppRunner(make_app(self), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http_ip or self.config.ip, self.config.http_port,
                           reuse_address=True)
        await site.start()
        self.http_port = self._runner.addresses[0][1]
        if self.config.masters:
            self._follower_task = asyncio.ensure_future(self.follower.run())
        log.event("dns_started", ip=self.config.ip, port=self.dns_port, http=self.http_url,
                  domain=self.config.zone, masters=",".join(self.config.masters),
                  upstreams=",".join(f"{h}:{p}" for h, p in self.upstreams) or "none")

    async def close(self) -> None:
        if self._follower_task is not None:
            self._follower_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower_task
            self._follower_task = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            if self._tcp_listener is not None:
                self._tcp_listener.close_all()
            await self._tcp.wait_closed()
            self._tcp = None
        await self.handler.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _bind_dns(self) -> None:
        """UDP and TCP on the same port; with port 0, a port free for both."""
        loop = asyncio.get_running_loop()
        listener = TcpListener(self.handler, self.config.tcp_idle_timeout, self.config.max_tcp_connections)
        for attempt in range(BIND_ATTEMPTS):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
                sock.bind((self.config.ip, self.config.port))
                port = sock.getsockname()[1]
            except OSError:
                sock.close()
                raise
            try:
                self._tcp = await loop.create_server(listener.protocol, self.config.ip, port,
                                                     reuse_address=True, backlog=1024)
            except OSError:
                sock.close()
                if self.config.port != 0 or attempt == BIND_ATTEMPTS - 1:
                    raise
                continue
            if self.config.udp_batch and udp_batch.available(sock):
                batch = udp_batch.BatchUdpListener(sock, self.handler)
                batch.start()
                self._udp = batch
            else:
                self._udp, _ = await loop.create_datagram_endpoint(lambda: UdpListener(self.handler), sock=sock)
            self._tcp_listener = listener
            self.dns_port = port
            return

    async def _upstreams(self) -> list[Upstream]:
        if self.config.upstreams is not None:
            return [parse_upstream(u) for u in self.config.upstreams]
        text = await asyncio.to_thread(_read_text, self.config.resolv_conf)
        exclude = {self.config.ip} if self.config.port == 53 else set()
        return resolv_conf_upstreams(text, exclude)

    # --- records ----------------------------------------------------------------------------

    def records_changed(self) -> None:
        zone = self.catalog.zone
        dirty = zone.take_dirty()
        if dirty:
            self.fast.update(zone, dirty)

    # --- what the HTTP API reads --------------------------------------------------------------

    def upstream_list(self) -> list[str]:
        return [f"{h}:{p}" for h, p in self.upstreams]

    def health(self) -> dict[str, Any]:
        c = self.handler.counters
        f = self.follower
        return {
            "status": "ok",
            "master_stream": f.connected,
            "leader": f.leader or "",
            "last_sync": f.last_sync,
            "tasks": len(self.catalog.view.tasks),
            "names": len(self.catalog.zone.a) + len(self.catalog.zone.srv),
            "serial": self.catalog.zone.serial,
            "events": f.events,
            "polls": f.polls,
            "queries_fast": c.fast,
            "queries_slow": c.slow,
            "queries_forwarded": c.forwarded,
            "queries_dropped": c.dropped,
            "slow_rcodes": {str(k): v for k, v in sorted(c.by_rcode.items())},
            "unhandled_errors_total": c.unhandled_errors,
        }


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as exc:
        log.warning("resolv_conf_unreadable", path=path, error=str(exc))
        return ""
