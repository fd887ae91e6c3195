"""The DNS listeners: UDP and TCP on one address, answering from the fast path, then the resolver.

A datagram whose answer is precomputed is answered inside `datagram_received`, with no task and
no await. Everything else goes to the resolver; a name outside the domain becomes a task of its
own that asks an upstream, so a slow upstream never delays another query. TCP takes the usual
two-byte length framing, several queries per connection (answers may come back out of order, as
RFC 7766 allows), an idle timeout and a cap on open connections.

One catch-all sits at the edge of each query: our own bug is logged with its traceback, counted
in `unhandled_errors`, answered SERVFAIL where possible, and the server goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pydcos.core.log import get_logger
from pydcos.dns import wire
from pydcos.dns.fastpath import FastPath
from pydcos.dns.resolver import Forward, Resolver
from pydcos.dns.upstream import Forwarder
from pydcos.dns.zone import Zone

log = get_logger("pydcos.dns.server")

Reply = Callable[[bytes], None]


@dataclass
class Counters:
    fast: int = 0
    slow: int = 0
    forwarded: int = 0
    dropped: int = 0
    unhandled_errors: int = 0
    tcp_connections: int = 0
    by_rcode: dict[int, int] = field(default_factory=dict)


class QueryHandler:
    """Answers one query at a time; owns the tasks of forwarded queries."""

    def __init__(self, fast: FastPath, resolver: Resolver, zone: Callable[[], Zone],
                 forwarder: Forwarder | None) -> None:
        self.fast = fast
        self.resolver = resolver
        self.zone = zone
        self.forwarder = forwarder
        self.counters = Counters()
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, data: bytes, reply: Reply, *, udp: bool, fast_tried: bool = False) -> None:
        try:
            if not fast_tried:
                answer = self.fast.answer(data, udp)
                if answer is not None:
                    self.counters.fast += 1
                    reply(answer)
                    return
            self.counters.slow += 1
            out = self.resolver.resolve(data, self.zone(), udp=udp)
            if out is None:
                self.counters.dropped += 1
            elif isinstance(out, Forward):
                self._forward(out, data, reply, udp)
            else:
                self._count_rcode(out)
                reply(out)
        except Exception:  # the edge of a query: our bug must not take the server down
            self.counters.unhandled_errors += 1
            log.exception("query_failed", size=len(data), udp=udp)
            failure = wire.error_reply(data, wire.RCODE_SERVFAIL)
            if failure is not None:
                with contextlib.suppress(OSError):
                    reply(failure)

    def _count_rcode(self, out: bytes) -> None:
        rcode = out[3] & 0xF
        self.counters.by_rcode[rcode] = self.counters.by_rcode.get(rcode, 0) + 1

    def _forward(self, fwd: Forward, data: bytes, reply: Reply, udp: bool) -> None:
        if self.forwarder is None or self.forwarder.busy():
            reply(fwd.servfail)
            return
        self.counters.forwarded += 1
        self._spawn(self._forward_one(self.forwarder, fwd, data, reply, udp))

    async def _forward_one(self, forwarder: Forwarder, fwd: Forward, data: bytes, reply: Reply, udp: bool) -> None:
        try:
            answer = await forwarder.forward(fwd.query, data, tcp=not udp)
            reply(answer if answer is not None else fwd.servfail)
        except Exception:
            self.counters.unhandled_errors += 1
            log.exception("forward_failed")
            reply(fwd.servfail)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


class UdpListener(asyncio.DatagramProtocol):
    def __init__(self, handler: QueryHandler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        transport = self.transport
        if transport is None:
            return
        try:
            answer = self.handler.fast.answer(data)
        except Exception:
            answer = None  # handle() below meets the same bug again and logs it with its traceback
            fast_tried = False
        else:
            if answer is not None:
                self.handler.counters.fast += 1
                transport.sendto(answer, addr)
                return
            fast_tried = True
        self.handler.handle(data, lambda out: self._send(out, addr), udp=True, fast_tried=fast_tried)

    def _send(self, out: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(out, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP unreachable from a client that went away: nothing to do for a connectionless socket.
        log.debug("udp_error", error=type(exc).__name__)


class TcpConnection(asyncio.Protocol):
    def __init__(self, server: TcpListener) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.server.admit(self):
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.release(self)
        if self._idle is not None:
            self._idle.cancel()
        self.transport = None

    def _arm(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(self.server.idle_timeout, self._close)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._arm()
        while len(self._buffer) >= 2:
            size = int.from_bytes(self._buffer[:2], "big")
            if len(self._buffer) < 2 + size:
                break
            message = bytes(self._buffer[2:2 + size])
            del self._buffer[:2 + size]
            self.server.handler.handle(message, self._send, udp=False)

    def _send(self, out: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(len(out).to_bytes(2, "big") + out)


class TcpListener:
    def __init__(self, handler: QueryHandler, idle_timeout: float, max_connections: int) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.connections: set[TcpConnection] = set()

    def protocol(self) -> TcpConnection:
        return TcpConnection(self)

    def admit(self, conn: TcpConnection) -> bool:
        if len(self.connections) >= self.max_connections:
            log.warning("tcp_connection_refused", open=len(self.connections))
            return False
        self.connections.add(conn)
        self.handler.counters.tcp_connections += 1
        return True

    def release(self, conn: TcpConnection) -> None:
        self.connections.discard(conn)

    def close_all(self) -> None:
        for conn in list(self.connections):
            conn._close()
