"""Outgoing channels owned by the master shell: framework event streams and agent connections.

Both buffer what the state decided to send and write it from one task per channel, so a slow
peer never blocks the event loop or other peers. Agent frames are coalesced: consecutive
launches or acknowledgements for one agent leave as one frame.

A burst of pipelined scheduler calls (a framework acknowledging two hundred updates) is handled
one call per loop turn or two, aiohttp running each request as its own task. Writing to the
agent after every call would wake the agent once per acknowledgement, so a channel lets the
burst finish first (`settle`, by the rule in pydcos/core/bursts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sized

from aiohttp import web

from pydcos.core.bursts import BurstEnd
from pydcos.core.http_chunks import write_chunks
from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos.v1 import messages as v1
from pydcos.mesos.v1.recordio import frame

log = get_logger("pydcos.master.streams")

HEARTBEAT_RECORD = frame(v1.encode(v1.HEARTBEAT))

# A framework that stops reading its stream is cut off rather than allowed to eat the master's memory.
MAX_BUFFERED_EVENTS = 200_000
async def settle(pending: Sized) -> None:
    """Return once the burst filling `pending` is over (pydcos/core/bursts.py)."""
    end = BurstEnd(len(pending))
    while True:
        await asyncio.sleep(0)
        if end.step(len(pending)):
            return


class FrameworkStream:
    """One SUBSCRIBE connection: RecordIO records, one per HTTP chunk, heartbeats when idle."""

    def __init__(self, framework_id: str, stream_id: str, response: web.StreamResponse, heartbeat: float) -> None:
        self.framework_id = framework_id
        self.stream_id = stream_id
        self._response = response
        self._heartbeat = heartbeat
        self._pending: list[bytes] = []
        self._wakeup = asyncio.Event()
        self._closed = False

    def send(self, event: v1.Event) -> None:
        if self._closed:
            return
        if len(self._pending) >= MAX_BUFFERED_EVENTS:
            log.warning("framework_stream_overflow", framework_id=self.framework_id)
            self.close()
            return
        self._pending.append(frame(v1.encode(event)))
        self._wakeup.set()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    async def run(self) -> None:
        """Write until closed or the client goes away. Returns normally in both cases."""
        try:
            while True:
                if not self._pending and not self._closed:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._heartbeat):
                            await self._wakeup.wait()
                    self._wakeup.clear()
                    if not self._pending and not self._closed:
                        await self._response.write(HEARTBEAT_RECORD)
                        continue
                batch, self._pending = self._pending, []
                await write_chunks(self._response, batch)  # one record per chunk, one write per burst
                if self._closed and not self._pending:
                    return
        except (ConnectionError, RuntimeError) as exc:
            log.event("framework_stream_lost", framework_id=self.framework_id, error=type(exc).__name__)


class AgentChannel:
    """The master's side of one agent's WebSocket."""

    def __init__(self, agent_id: str, ws: web.WebSocketResponse, *, protocol: int = internal.PROTOCOL_VERSION) -> None:
        self.agent_id = agent_id
        self.ws = ws
        self.batch_kills = protocol >= internal.KILL_TASKS_SINCE
        self._pending: list[internal.MasterToAgent] = []
        self._wakeup = asyncio.Event()
        self._closed = False
        self.task: asyncio.Task[None] | None = None

    def send(self, message: internal.MasterToAgent) -> None:
        if self._closed:
            return
        self._pending.append(message)
        self._wakeup.set()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                if not self._closed:
                    await settle(self._pending)
                self._wakeup.clear()
                batch, self._pending = self._pending, []
                for message in coalesce(batch, kills=self.batch_kills):
                    await self.ws.send_bytes(internal.encode(message))
                if self._closed:
                    await self.ws.close()
                    return
        except (ConnectionError, RuntimeError) as exc:
            log.event("agent_channel_lost", agent_id=self.agent_id, error=type(exc).__name__)


def coalesce(batch: list[internal.MasterToAgent], *, kills: bool = True) -> list[internal.MasterToAgent]:
    """Merge neighbouring RunTasks, KillTasks (`kills`: the agent speaks protocol 2) and
    AcknowledgeUpdates; keep the order of everything else."""
    out: list[internal.MasterToAgent] = []
    for message in batch:
        last = out[-1] if out else None
        if isinstance(message, internal.RunTasks) and isinstance(last, internal.RunTasks):
            out[-1] = internal.RunTasks(last.launches + message.launches)
        elif isinstance(message, internal.AcknowledgeUpdates) and isinstance(last, internal.AcknowledgeUpdates):
            out[-1] = internal.AcknowledgeUpdates(last.acks + message.acks)
        elif kills and isinstance(message, internal.KillTask) and isinstance(last, (internal.KillTask, internal.KillTasks)):
            merged = last.kills if isinstance(last, internal.KillTasks) else [last]
            out[-1] = internal.KillTasks([*merged, message])
        else:
            out.append(message)
    return out
