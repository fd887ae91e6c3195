"""Scheduler calls over one pipelined HTTP/1.1 connection: requests written back to back, the
202s read back in order.

Why hand-written: scaling an app by a thousand instances means a thousand KILLs and a thousand
ACKNOWLEDGEs, each its own `POST /api/v1/scheduler`. Through aiohttp's client each call cost
Marathon about 0.2 ms of CPU and kept the scale-down benchmark above its goal; written straight
to a socket it costs a fraction of that, and one connection keeps the calls in order (a DECLINE
cannot overtake the REVIVE after it). Marathon sends every call this way; the test and benchmark
scheduler client (pydcos/testing/scheduler_client.py) its acknowledgements. The master's aiohttp server answers pipelined requests in
order, as HTTP/1.1 requires.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from urllib.parse import urlsplit

from pydcos.core.log import get_logger

log = get_logger("pydcos.scheduler.calls")
MAX_IN_FLIGHT = 512
MAX_HEADER_BYTES = 64 * 1024


class PipelineClosed(Exception):
    pass


class CallPipeline:
    """One connection to one master. `send` never blocks long; answers are checked as they come."""

    def __init__(self, base_url: str, connect_timeout: float) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url
        self.host = parts.hostname or "127.0.0.1"
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.connect_timeout = connect_timeout
        self.failed = 0  # calls answered with something else than 202, or lost with the connection
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._in_flight: deque[str] = deque()  # call types, in the order sent
        self._room = asyncio.Event()
        self._room.set()
        self._answered = asyncio.Event()
        self.closed = False

    async def open(self) -> None:
        context = ssl.create_default_context() if self.tls else None
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=context,
                                                            limit=MAX_HEADER_BYTES)
        self._writer = writer
        self._reader_task = asyncio.ensure_future(self._read_answers(reader))

    async def send(self, kind: str, body: bytes, stream_id: str) -> None:
        if self.closed or self._writer is None:
            raise PipelineClosed(self.base_url)
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            self._room.clear()
            await self._room.wait()
            if self.closed:
                raise PipelineClosed(self.base_url)
        self._write(kind, body, stream_id)
        if self._writer.transport.get_write_buffer_size() > 256 * 1024:
            await self._writer.drain()

    def send_nowait(self, kind: str, body: bytes, stream_id: str) -> bool:
        """Send now if that needs no waiting (open, room for another call, little buffered);
        False if the caller must use `send`."""
        if (self.closed or self._writer is None or len(self._in_flight) >= MAX_IN_FLIGHT
                or self._writer.transport.get_write_buffer_size() > 256 * 1024):
            return False
        self._write(kind, body, stream_id)
        return True

    def _write(self, kind: str, body: bytes, stream_id: str) -> None:
        assert self._writer is not None
        head = (f"POST /api/v1/scheduler HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nMesos-Stream-Id: {stream_id}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
        self._in_flight.append(kind)
        self._writer.write(head + body)

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")  # status line and headers at once
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        raise
                    break  # closed between answers
                except asyncio.LimitOverrunError as exc:
                    raise ValueError("answer headers too long") from exc
                status_line, _, headers = head.partition(b"\r\n")
                status = int(status_line.split()[1])
                length, chunked, close = _parse_headers(headers)
                body = await (_read_chunked(reader) if chunked else reader.readexactly(length))
                kind = self._in_flight.popleft() if self._in_flight else "?"
                self._room.set()
                self._answered.set()
                if status != 202:
                    self.failed += 1
                    log.warning("call_rejected", call=kind, status=status, body=body[:200])
                if close:
                    break
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            log.warning("call_connection_failed", master=self.base_url, error=str(exc) or type(exc).__name__)
        finally:
            self._shut()

    def _shut(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._in_flight:
            self.failed += len(self._in_flight)
            log.warning("calls_lost", master=self.base_url, calls=len(self._in_flight))
            self._in_flight.clear()
        self._room.set()
        self._answered.set()
        if self._writer is not None:
            self._writer.close()

    async def wait_answered(self) -> None:
        """Until every call sent so far is answered or the connection is gone (bound it with
        asyncio.timeout)."""
        while self._in_flight and not self.closed:
            self._answered.clear()
            await self._answered.wait()

    async def close(self) -> None:
        self._shut()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        if self._writer is not None:
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


def _parse_headers(block: bytes) -> tuple[int, bool, bool]:
    """Content-Length, whether chunked, whether the master closes: from an answer's header lines."""
    length, chunked, close = 0, False, False
    for line in block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            close = True
    return length, chunked, close


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readline()
