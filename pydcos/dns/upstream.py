"""Forwarding names outside the domain to upstream resolvers, each try bounded by a timeout.

Every forwarded query is its own task on a fresh socket, so a silent upstream costs that query at
most `timeout` per upstream tried and never holds up another query. A UDP query goes upstream over
UDP (a truncated reply is passed on as it is; the client retries over TCP), a TCP query over TCP.
Upstreams are tried in order; a reply counts only if it answers the question asked.

    fwd = Forwarder([("127.0.0.53", 53)], timeout=2.0)
    reply = await fwd.forward(query_message, raw_bytes, tcp=False)   # bytes, or None if none answered
"""

from __future__ import annotations

import asyncio
import contextlib

import dns.message

from pydcos.core.log import get_logger
from pydcos.dns.resolver import PARSE_ERRORS

log = get_logger("pydcos.dns.upstream")

Upstream = tuple[str, int]
MAX_REPLY = 65535


def parse_upstream(text: str) -> Upstream:
    """`1.2.3.4`, `1.2.3.4:5353` or `[::1]:53` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 53


def resolv_conf_upstreams(text: str, exclude: set[str]) -> list[Upstream]:
    """The `nameserver` lines of a resolv.conf, minus the addresses in `exclude` (ourselves)."""
    out: list[Upstream] = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver" and parts[1] not in exclude:
            out.append((parts[1], 53))
    return out


class _Exchange(asyncio.DatagramProtocol):
    def __init__(self, query: dns.message.Message) -> None:
        self.query = query
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.reply.done() and _answers(self.query, data):
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


def _answers(query: dns.message.Message, data: bytes) -> bool:
    try:
        reply = dns.message.from_wire(data, question_only=True)
    except PARSE_ERRORS:
        return False
    return query.is_response(reply)


class Forwarder:
    def __init__(self, upstreams: list[Upstream], timeout: float, max_in_flight: int = 1000) -> None:
        self.upstreams = upstreams
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.failures = 0
        self._down: set[Upstream] = set()

    def busy(self) -> bool:
        return self.in_flight >= self.max_in_flight

    async def forward(self, query: dns.message.Message, data: bytes, *, tcp: bool) -> bytes | None:
        self.in_flight += 1
        try:
            for upstream in self.upstreams:
                try:
                    async with asyncio.timeout(self.timeout):
                        reply = await (self._tcp if tcp else self._udp)(query, data, *upstream)
                except (TimeoutError, OSError, EOFError) as exc:
                    self._failed(upstream, exc)
                    continue
                if upstream in self._down:
                    self._down.discard(upstream)
                    log.event("upstream_up", upstream=f"{upstream[0]}:{upstream[1]}")
                return reply
            return None
        finally:
            self.in_flight -= 1

    def _failed(self, upstream: Upstream, exc: BaseException) -> None:
        """Every failure is counted; only a change of state is logged, so a dead upstream cannot flood the log."""
        self.failures += 1
        if upstream not in self._down:
            self._down.add(upstream)
            log.warning("upstream_down", upstream=f"{upstream[0]}:{upstream[1]}", error=type(exc).__name__,
                        timeout=self.timeout)

    async def _udp(self, query: dns.message.Message, data: bytes, host: str, port: int) -> bytes:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(lambda: _Exchange(query),
                                                                  remote_addr=(host, port))
        try:
            transport.sendto(data)
            return await protocol.reply
        finally:
            transport.close()

    async def _tcp(self, query: dns.message.Message, data: bytes, host: str, port: int) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(len(data).to_bytes(2, "big") + data)
            await writer.drain()
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = await reader.readexactly(size)
                if _answers(query, reply):
                    return reply
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
