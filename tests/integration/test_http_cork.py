"""Pipelined answers held back while a burst lasts (pydcos/core/http_cork.py), on real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from pydcos.core import http_cork
from pydcos.core.waiting import wait_until


class Server:
    def __init__(self) -> None:
        self.cork_seen: list[int] = []  # TCP_CORK on the connection as each handler ran
        self.sockets: list[socket.socket] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        http_cork.hold_answers(request.transport)
        assert request.transport is not None
        sock = request.transport.get_extra_info("socket")
        self.cork_seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))
        self.sockets.append(sock)
        return web.Response(status=202, body=body)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    found = Server()
    app = web.Application()
    app.router.add_post("/call", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield found
    await runner.cleanup()


def request(n: int) -> bytes:
    body = str(n).encode()
    return b"POST /call HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    status = await asyncio.wait_for(reader.readline(), 10)
    assert status.startswith(b"HTTP/1.1 202"), status
    length = 0
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)


async def test_a_pipelined_burst_is_answered_corked_in_order_then_uncorked(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"".join(request(n) for n in range(50)))
    answers = [await read_answer(reader) for _ in range(50)]
    assert answers == [str(n).encode() for n in range(50)]
    assert server.cork_seen == [1] * 50  # every answer was written into a corked connection
    await wait_until(lambda: http_cork.corked() == 0, what="the burst to end")
    assert server.sockets[-1].getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0
    writer.close()


async def test_a_lone_call_is_answered_and_the_connection_uncorked(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    for n in range(3):  # one at a time, each answer awaited: three bursts of one
        writer.write(request(n))
        assert await read_answer(reader) == str(n).encode()
        await wait_until(lambda: http_cork.corked() == 0, what="the connection to be uncorked")
        assert server.sockets[-1].getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0
    writer.close()


async def test_a_client_gone_mid_burst_leaves_nothing_held(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"".join(request(n) for n in range(200)))
    await read_answer(reader)
    writer.transport.abort()
    await wait_until(lambda: http_cork.corked() == 0, what="the burst to be dropped")
    # The server still answers others.
    reader2, writer2 = await asyncio.open_connection("127.0.0.1", server.port)
    writer2.write(request(7))
    assert await read_answer(reader2) == b"7"
    writer2.close()


def test_no_transport_is_a_no_op() -> None:
    http_cork.hold_answers(None)
    assert http_cork.corked() == 0
