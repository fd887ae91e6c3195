"""`GET /internal/agent`: the master's end of the agent protocol (docs/agent-protocol.md)."""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import WSMsgType, web

from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos.master import agent_messages
from pydcos.mesos.master.service import MASTER, Master
from pydcos.mesos.master.streams import AgentChannel

log = get_logger("pydcos.master.agent_link")

REGISTRATION_TIMEOUT = 10.0
MAX_FRAME = 256 * 1024 * 1024


async def agent_socket(request: web.Request) -> web.StreamResponse:
    master: Master = request.app[MASTER]
    ws = web.WebSocketResponse(
        heartbeat=master.config.agent_ping_interval, max_msg_size=MAX_FRAME, compress=False
    )
    await ws.prepare(request)
    peer = request.remote or "?"
    try:
        async with asyncio.timeout(REGISTRATION_TIMEOUT):
            first = await ws.receive()
    except TimeoutError:
        await ws.close(message=b"no registration")
        return ws
    register = _decode(first.data) if first.type in (WSMsgType.BINARY, WSMsgType.TEXT) else None
    if not isinstance(register, internal.RegisterAgent):
        log.event("agent_link_refused", peer=peer, reason="first frame is not a registration")
        await ws.close(message=b"expected registration")
        return ws
    try:
        agent_id, instructions = agent_messages.register(master.state, register)
    except agent_messages.RegistrationRefused as exc:
        log.event("agent_refused", peer=peer, reason=str(exc))
        await ws.send_bytes(internal.encode(internal.Refused(str(exc))))
        await ws.close()
        return ws
    channel = AgentChannel(agent_id, ws, protocol=register.protocol)
    old = master.agent_channels.get(agent_id)
    if old is not None:
        old.close()
    master.agent_channels[agent_id] = channel
    writer = asyncio.ensure_future(channel.run())
    try:
        master.execute(instructions)
        async for message in ws:
            if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            decoded = _decode(message.data)
            if decoded is None:
                log.event("agent_frame_ignored", agent_id=agent_id, size=len(message.data))
                continue
            _dispatch(master, agent_id, decoded)
    except ConnectionError as exc:
        # The agent went away while aiohttp answered its ping: a disconnection like any other.
        log.event("agent_link_lost", agent_id=agent_id, error=type(exc).__name__)
    finally:
        channel.close()
        writer.cancel()
        if master.agent_channels.get(agent_id) is channel:
            del master.agent_channels[agent_id]
            master.execute(agent_messages.agent_disconnected(master.state, agent_id))
    return ws


def _decode(data: bytes | str) -> internal.AgentToMaster | None:
    try:
        message: internal.AgentToMaster = internal.AGENT_TO_MASTER.decode(data)
        return message
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None


def _dispatch(master: Master, agent_id: str, message: internal.AgentToMaster) -> None:
    state = master.state
    if isinstance(message, internal.StatusUpdates):
        master.execute(agent_messages.status_updates(state, agent_id, message))
    elif isinstance(message, internal.ExecutorToFramework):
        master.execute(agent_messages.executor_message(state, agent_id, message))
    elif isinstance(message, internal.ExecutorTerminated):
        master.execute(agent_messages.executor_terminated(state, agent_id, message))
    else:
        log.event("agent_frame_ignored", agent_id=agent_id, type=type(message).__name__)
