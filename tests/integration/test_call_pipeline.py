"""The pipelined scheduler-call connection (pydcos/mesos/v1/call_pipeline.py) against a raw server
that answers the way an HTTP/1.1 master may: in bursts, chunked, with errors, closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pydcos.core.waiting import wait_until
from pydcos.mesos.v1 import call_pipeline
from pydcos.mesos.v1.call_pipeline import CallPipeline, PipelineClosed

Answer = Callable[[int], bytes]  # the n-th request's answer

Serve = Callable[["RawMaster"], Awaitable[CallPipeline]]
ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nServer: test\r\n\r\n"


class RawMaster:
    def __init__(self, answer: Answer, batch: int = 1) -> None:
        self.answer, self.batch = answer, batch
        self.requests = 0
        self.port = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending = b""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                pending += self.answer(self.requests)
                self.requests += 1
                if self.requests % self.batch == 0:  # several answers in one write
                    writer.write(pending)
                    pending = b""
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    opened: list[CallPipeline] = []
    servers: list[asyncio.Server] = []

    async def start(master: RawMaster) -> CallPipeline:
        server = await asyncio.start_server(master.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        pipeline = CallPipeline(f"http://127.0.0.1:{port}", connect_timeout=5)
        await pipeline.open()
        opened.append(pipeline)
        return pipeline

    yield start
    for pipeline in opened:
        await pipeline.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def answered(pipeline: CallPipeline) -> None:
    async with asyncio.timeout(10):
        await pipeline.wait_answered()


async def test_answers_arriving_in_bursts_are_all_matched(serve: Serve) -> None:
    pipeline = await serve(RawMaster(lambda n: ACCEPTED, batch=25))
    for n in range(100):
        assert pipeline.send_nowait("ACKNOWLEDGE", b'{"n":%d}' % n, "s")
    await answered(pipeline)
    assert pipeline.failed == 0 and not pipeline.closed


async def test_error_answers_with_bodies_are_counted_and_the_rest_go_on(serve: Serve) -> None:
    def answer(n: int) -> bytes:
        if n == 3:
            return b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nno such"
        if n == 5:
            return (b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"4\r\noops\r\n0\r\n\r\n")
        return ACCEPTED
    pipeline = await serve(RawMaster(answer, batch=2))
    for _ in range(10):
        await pipeline.send("KILL", b"{}", "s")
    await answered(pipeline)
    assert pipeline.failed == 2 and not pipeline.closed


async def test_a_master_closing_after_an_answer_fails_what_was_left(serve: Serve) -> None:
    def answer(n: int) -> bytes:
        return b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" if n == 1 else ACCEPTED
    pipeline = await serve(RawMaster(answer))
    for _ in range(5):
        pipeline.send_nowait("DECLINE", b"{}", "s")
    await wait_until(lambda: pipeline.closed, what="the pipeline to close")
    assert pipeline.failed == 3  # sent after the one answered with Connection: close
    assert not pipeline.send_nowait("DECLINE", b"{}", "s")
    with pytest.raises(PipelineClosed):
        await pipeline.send("DECLINE", b"{}", "s")


async def test_headers_past_the_limit_end_the_connection(serve: Serve) -> None:
    huge = b"HTTP/1.1 202 Accepted\r\nX-Big: " + b"a" * (call_pipeline.MAX_HEADER_BYTES + 10) + b"\r\n\r\n"
    pipeline = await serve(RawMaster(lambda n: huge))
    pipeline.send_nowait("ACKNOWLEDGE", b"{}", "s")
    await wait_until(lambda: pipeline.closed, what="the pipeline to give up")
    assert pipeline.failed == 1


async def test_send_nowait_refuses_when_full(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_pipeline, "MAX_IN_FLIGHT", 3)
    gate = asyncio.Event()

    class Slow(RawMaster):
        async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await gate.wait()
            await super().handle(reader, writer)

    pipeline = await serve(Slow(lambda n: ACCEPTED))
    assert [pipeline.send_nowait("ACKNOWLEDGE", b"{}", "s") for _ in range(4)] == [True, True, True, False]
    gate.set()
    await answered(pipeline)
    assert pipeline.send_nowait("ACKNOWLEDGE", b"{}", "s")
    await answered(pipeline)
    assert pipeline.failed == 0
