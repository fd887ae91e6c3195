"""An agent channel lets a burst of pipelined calls finish before it writes (streams.settle)."""

from __future__ import annotations

import asyncio

from pydcos.core import bursts
from pydcos.mesos import internal
from pydcos.mesos.master.streams import AgentChannel


class FakeSocket:
    def __init__(self) -> None:
        self.frames: list[internal.MasterToAgent] = []
        self.closed = False

    async def send_bytes(self, data: bytes) -> None:
        self.frames.append(internal.MASTER_TO_AGENT.decode(data))

    async def close(self) -> None:
        self.closed = True


def ack(n: int) -> internal.AcknowledgeUpdates:
    return internal.AcknowledgeUpdates([internal.Ack("fw", f"t{n}", f"u{n}")])


async def turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def start(ws: FakeSocket) -> tuple[AgentChannel, asyncio.Task[None]]:
    channel = AgentChannel("agent", ws)  # type: ignore[arg-type]
    return channel, asyncio.create_task(channel.run())


async def test_acknowledgements_arriving_a_turn_apart_leave_as_one_frame() -> None:
    ws = FakeSocket()
    channel, runner = await start(ws)
    for n in range(40):  # as aiohttp runs pipelined calls: one per loop turn
        channel.send(ack(n))
        await turns(1)
    await turns(bursts.IDLE_TURNS + 2)
    assert ws.frames == [internal.AcknowledgeUpdates([a for n in range(40) for a in ack(n).acks])]
    channel.close()
    await runner
    assert ws.closed


async def test_a_lone_message_leaves_within_a_few_turns() -> None:
    ws = FakeSocket()
    channel, runner = await start(ws)
    channel.send(ack(1))
    await turns(bursts.IDLE_TURNS + 2)
    assert ws.frames == [ack(1)]
    channel.close()
    await runner


async def test_an_endless_stream_is_still_written_every_settle_turns() -> None:
    ws = FakeSocket()
    channel, runner = await start(ws)
    sent = 0
    while not ws.frames:
        channel.send(ack(sent))
        sent += 1
        await turns(1)
        assert sent <= bursts.MAX_TURNS + 4, "a growing batch held back past MAX_TURNS"
    channel.close()
    await runner
    delivered = [a for frame in ws.frames for a in frame.acks]  # type: ignore[union-attr]
    assert delivered == [a for n in range(sent) for a in ack(n).acks]
