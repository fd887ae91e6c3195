"""Answers to pipelined HTTP calls leave in one segment: TCP_CORK held for the burst.

A scheduler pipelines its calls (Marathon's kills, every framework's acknowledgements): hundreds
of POSTs back to back on one connection. aiohttp answers each from its own task, one or two loop
turns apart, and writes each 202 at once. Each of those writes pushed a segment, woke the
client, and cost the master about 24 µs of CPU in the send alone (half of all it spends on an
acknowledgement). `hold_answers` corks the connection for as long as answers keep coming:
each write then only queues bytes, and when the burst is over (the rule in pydcos/core/bursts.py:
two loop turns without a new answer, or 64 turns) the connection is uncorked and everything
queued leaves at once. A lone call waits two loop turns, some microseconds. Linux itself sends corked data after 200 ms, so nothing
can be held longer whatever happens to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from pydcos.core.bursts import BurstEnd

_TCP_CORK = getattr(socket, "TCP_CORK", None)


class _Burst:
    __slots__ = ("sock", "loop", "answers", "end")

    def __init__(self, sock: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.sock = sock
        self.loop = loop
        self.answers = 0
        self.end = BurstEnd(0)


_bursts: dict[asyncio.BaseTransport, _Burst] = {}


def hold_answers(transport: asyncio.BaseTransport | None) -> None:
    """Call before writing an answer on `transport`: it is corked until the burst ends."""
    if transport is None or _TCP_CORK is None:
        return
    burst = _bursts.get(transport)
    if burst is None:
        sock = transport.get_extra_info("socket")
        if sock is None or transport.is_closing():
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 1)
        except (OSError, AttributeError):  # not TCP (a Unix socket), or gone
            return
        loop = asyncio.get_running_loop()
        for stale in [t for t, b in _bursts.items() if b.loop.is_closed()]:
            del _bursts[stale]  # its loop ended before the burst did (a test's loop, say)
        burst = _bursts[transport] = _Burst(sock, loop)
        loop.call_soon(_check, transport)
    burst.answers += 1


def _check(transport: asyncio.BaseTransport) -> None:
    burst = _bursts[transport]
    if not burst.end.step(burst.answers) and not transport.is_closing():
        asyncio.get_running_loop().call_soon(_check, transport)
        return
    del _bursts[transport]
    with contextlib.suppress(OSError, AttributeError):
        burst.sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 0)


def corked() -> int:
    """How many connections are corked now (for tests)."""
    return sum(1 for burst in _bursts.values() if not burst.loop.is_closed())
