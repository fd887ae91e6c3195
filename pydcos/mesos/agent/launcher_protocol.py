"""The agent <-> task launcher wire format (`launcher.py`). Pure: framing and messages only.

One Unix stream connection; each message is a 4-byte big-endian length and a msgpack body, a
tagged union. A Spawn's stdout and stderr travel as two file descriptors (SCM_RIGHTS) sent with
its bytes (one sendmsg per Spawn frame), so the launcher never touches the sandbox itself. A read
that returns descriptors ends with (part of) the message they came with: Linux may join bytes
sent before into that read, but stops reading right after the descriptors' segment. So they
belong to the frame holding the read's last byte.

    agent -> launcher   Spawn (answered by Spawned or SpawnFailed, same `ref`), Signal, Release
    launcher -> agent   Hello (first, on connect), Spawned, SpawnFailed, Exits

>>> frames = FrameReader()
>>> frames.feed(encode(Release([7])) + encode(Signal(8, 15, True))[:3])
[Release(pids=[7])]
>>> frames.feed(encode(Signal(8, 15, True))[3:])
[Signal(pid=8, signum=15, kill_requested=True)]
"""

from __future__ import annotations

import hashlib
import os
import struct

import msgspec

MAX_FRAME = 64 * 1024 * 1024  # a Spawn carries a whole environment; nothing legitimate is near this
_LEN = struct.Struct(">I")


class Spawn(msgspec.Struct, tag=True):
    """Start `argv` (`executable` is what runs) in its own process group. `enter`: the cgroup v1
    `tasks` files the launcher joins for the spawn (the child is born there); `leave`: the ones
    it returns to after."""

    ref: int
    executable: str
    argv: list[str]
    cwd: str
    env: dict[str, str]
    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None
    enter: list[str] = []
    leave: list[str] = []


class Signal(msgspec.Struct, tag=True):
    """Signal a task's process group; `kill_requested` is remembered with the task and reported
    with its exit (TASK_KILLED rather than TASK_FAILED, also across an agent restart)."""

    pid: int
    signum: int
    kill_requested: bool = False


class Release(msgspec.Struct, tag=True):
    """The agent has these exits on disk: the launcher may forget them."""

    pids: list[int]


class Child(msgspec.Struct, frozen=True):
    pid: int
    kill_requested: bool = False


class Exit(msgspec.Struct, frozen=True):
    pid: int
    returncode: int  # as subprocess: negative for a signal
    kill_requested: bool = False


class Hello(msgspec.Struct, tag=True):
    """What the launcher holds: tasks running, and exits no agent has released yet."""

    pid: int
    running: list[Child]
    exits: list[Exit]


class Spawned(msgspec.Struct, tag=True):
    ref: int
    pid: int


class SpawnFailed(msgspec.Struct, tag=True):
    ref: int
    error: str


class Exits(msgspec.Struct, tag=True):
    exits: list[Exit]


ToLauncher = Spawn | Signal | Release
FromLauncher = Hello | Spawned | SpawnFailed | Exits
Message = ToLauncher | FromLauncher

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


class ProtocolError(Exception):
    """A frame that is too big or does not decode: the connection is dropped."""


def encode(msg: Message) -> bytes:
    body = _encoder.encode(msg)
    return _LEN.pack(len(body)) + body


class FrameReader:
    """Bytes in, whole messages out (a frame split across reads is kept until it is complete)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.offset = 0  # stream offset of the buffer's first byte

    @property
    def end(self) -> int:
        """The stream offset the next read starts at."""
        return self.offset + len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        return [msg for _, _, msg in self.feed_at(data)]

    def feed_at(self, data: bytes) -> list[tuple[int, int, Message]]:
        """As `feed`, each message with the stream offsets its frame starts at and ends before."""
        self._buf += data
        out: list[tuple[int, int, Message]] = []
        while len(self._buf) >= 4:
            (size,) = _LEN.unpack_from(self._buf)
            if size > MAX_FRAME:
                raise ProtocolError(f"frame of {size} bytes")
            if len(self._buf) < 4 + size:
                break
            body = bytes(self._buf[4:4 + size])
            del self._buf[:4 + size]
            start, self.offset = self.offset, self.offset + 4 + size
            try:
                out.append((start, self.offset, _decoder.decode(body)))
            except msgspec.DecodeError as exc:
                raise ProtocolError(str(exc)) from None
        return out


def socket_name(work_dir: str) -> bytes:
    """The launcher's abstract socket name: one launcher per agent work directory.

    >>> socket_name("/var/lib/mesos")[:17]
    b'\\x00pydcos-launcher-'
    """
    digest = hashlib.sha256(os.path.realpath(work_dir).encode()).hexdigest()[:24]
    return b"\0pydcos-launcher-" + digest.encode()
