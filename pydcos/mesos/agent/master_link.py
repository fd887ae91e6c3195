"""The agent's end of the master <-> agent WebSocket (pydcos/mesos/internal.py).

Connect to `ws://MASTER/internal/agent`, send RegisterAgent, wait for AgentRegistered, then hand
every master message to the handler in order. A dead master is noticed by the WebSocket
heartbeat. On any end of the connection: reconnect with capped exponential backoff, forever,
trying the configured masters in turn. Outgoing messages are written by one writer task in order;
while unregistered they wait in a bounded backlog, except status updates, which the status
update manager resends itself after re-registration.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Protocol

import aiohttp
import msgspec

from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos.agent.config import AgentConfig

log = get_logger("pydcos.agent.link")

MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_BACKLOG = 10_000
CLOSE_TIMEOUT_S = 1.0


class LinkHandler(Protocol):
    def registration(self) -> internal.RegisterAgent: ...

    def on_registered(self, msg: internal.AgentRegistered) -> None: ...

    async def on_message(self, msg: internal.MasterToAgent) -> None: ...

    def on_disconnected(self) -> None: ...


class MasterLink:
    """Owns the connection task; `close()` cancels and awaits it."""

    def __init__(self, config: AgentConfig, handler: LinkHandler) -> None:
        self._config = config
        self._handler = handler
        self._masters = config.masters or ["127.0.0.1:5050"]
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._outbox: deque[internal.AgentToMaster] = deque()
        self._backlog: deque[internal.AgentToMaster] = deque(maxlen=MAX_BACKLOG)
        self._wake = asyncio.Event()
        self.registered = False
        self.master: str | None = None  # the master we are registered with
        self.connections = 0
        self.bad_frames = 0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="agent-master-link")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def send(self, msg: internal.AgentToMaster) -> None:
        if self.registered:
            self._outbox.append(msg)
            self._wake.set()
        elif not isinstance(msg, internal.StatusUpdates):
            self._backlog.append(msg)

    # --- connection loop ----------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self._config.registration_backoff_s
        attempt = 0
        while True:
            master = self._masters[attempt % len(self._masters)]
            attempt += 1
            was_registered = False
            try:
                was_registered = await self._connect_once(master)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.event("master_connect_failed", master=master, error=type(exc).__name__,
                          detail=str(exc)[:200], retry_in=f"{backoff:.2f}")
            except Exception:  # the edge of the connection: our bug, but the agent must reconnect
                log.exception("master_connection_failed", master=master)
            if was_registered:
                backoff = self._config.registration_backoff_s
                attempt -= 1  # try the same master first again
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._config.registration_backoff_max_s)

    async def _connect_once(self, master: str) -> bool:
        """One connection; returns whether it got as far as registration."""
        assert self._session is not None
        url = f"ws://{master}{internal.AGENT_PATH}"
        async with asyncio.timeout(self._config.connect_timeout_s):
            ws = await self._session.ws_connect(
                url,
                heartbeat=self._config.heartbeat_s,
                max_msg_size=MAX_FRAME_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT_S),
            )
        self.connections += 1
        writer: asyncio.Task[None] | None = None
        try:
            await ws.send_frame(internal.encode(self._handler.registration()), aiohttp.WSMsgType.TEXT)
            async with asyncio.timeout(self._config.registration_timeout_s):
                first = await self._next_message(ws)
            if not isinstance(first, internal.AgentRegistered):
                if isinstance(first, internal.Refused):
                    log.warning("agent_refused", master=master, message=first.message)
                elif first is not None:
                    log.warning("unexpected_first_message", master=master, type=type(first).__name__)
                return False
            self.registered = True
            self.master = master
            self._outbox.extend(self._backlog)
            self._backlog.clear()
            self._handler.on_registered(first)
            writer = asyncio.create_task(self._write(ws), name="agent-master-writer")
            while (msg := await self._next_message(ws)) is not None:
                await self._dispatch(msg)
            log.event("master_connection_closed", master=master, code=ws.close_code)
            return True
        finally:
            registered, self.registered, self.master = self.registered, False, None
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
            self._requeue_unsent()
            if registered:
                self._handler.on_disconnected()
            await ws.close()

    async def _next_message(self, ws: aiohttp.ClientWebSocketResponse) -> internal.MasterToAgent | None:
        """The next well-formed master message; None when the connection ended."""
        while True:
            frame = await ws.receive()
            if frame.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                try:
                    msg: internal.MasterToAgent = internal.MASTER_TO_AGENT.decode(frame.data)
                    return msg
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.bad_frames += 1
                    log.event("bad_master_frame", size=len(frame.data), error=str(exc)[:200])
                    continue
            if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                              aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return None

    async def _dispatch(self, msg: internal.MasterToAgent) -> None:
        # The one catch-all of the link: a message we fail on must not end the connection.
        try:
            if isinstance(msg, internal.AgentRegistered):
                log.event("duplicate_registered_ignored", agent_id=msg.agent_id)
            else:
                await self._handler.on_message(msg)
        except Exception:
            log.exception("master_message_failed", type=type(msg).__name__)

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            while self._outbox:
                msg = self._outbox[0]
                try:
                    await ws.send_frame(internal.encode(msg), aiohttp.WSMsgType.TEXT)
                except (aiohttp.ClientError, OSError, RuntimeError) as exc:
                    log.event("master_send_failed", error=type(exc).__name__)
                    self._requeue_unsent()
                    await ws.close()
                    return
                self._outbox.popleft()
            self._wake.clear()
            await self._wake.wait()

    def _requeue_unsent(self) -> None:
        """Keep what was not written for the next connection (status updates are resent anyway)."""
        for msg in self._outbox:
            if not isinstance(msg, internal.StatusUpdates):
                self._backlog.append(msg)
        self._outbox.clear()
