"""The task launcher's wire format (`pydcos/mesos/agent/launcher_protocol.py`): framing, every
message type, and the socket name. Pure: no sockets, no processes."""

from __future__ import annotations

import os
import struct
import typing
from pathlib import Path

import msgspec
import pytest

from pydcos.mesos.agent import launcher_protocol as lp

# One instance of every message type, with every field set away from its default.
SAMPLES: list[lp.Message] = [
    lp.Spawn(
        ref=7, executable="/bin/sh", argv=["sh", "-c", "echo hi; exit 3"], cwd="/tmp/sandbox",
        env={"PATH": "/usr/bin:/bin", "MESOS_TASK_ID": "t-1", "EMPTY": ""}, uid=1000, gid=1001,
        groups=[4, 27], enter=["/sys/fs/cgroup/cpu/t/tasks"], leave=["/sys/fs/cgroup/cpu/tasks"]),
    lp.Signal(pid=4242, signum=15, kill_requested=True),
    lp.Release(pids=[1, 2, 2**31 - 1]),
    lp.Hello(pid=99, running=[lp.Child(10, True), lp.Child(11, False)],
             exits=[lp.Exit(12, -9, True), lp.Exit(13, 3, False)]),
    lp.Spawned(ref=8, pid=5151),
    lp.SpawnFailed(ref=9, error="No such file or directory: '/nope' \u00e9"),
    lp.Exits(exits=[lp.Exit(14, 0, False), lp.Exit(15, -15, True)]),
]


def test_samples_cover_every_message_type() -> None:
    assert {type(m) for m in SAMPLES} == set(typing.get_args(lp.Message))


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_type_round_trips(msg: lp.Message) -> None:
    data = lp.encode(msg)
    (size,) = struct.unpack(">I", data[:4])
    assert size == len(data) - 4
    assert lp.FrameReader().feed(data) == [msg]


def test_defaults_round_trip() -> None:
    spawn = lp.Spawn(ref=1, executable="/bin/true", argv=["true"], cwd="/", env={})
    signal = lp.Signal(pid=3, signum=9)
    got = lp.FrameReader().feed(lp.encode(spawn) + lp.encode(signal))
    assert got == [spawn, signal]
    assert got[0].uid is None and got[0].groups is None and got[0].enter == [] and got[0].leave == []
    assert got[1].kill_requested is False


def test_several_frames_in_one_chunk_come_out_in_order() -> None:
    assert lp.FrameReader().feed(b"".join(lp.encode(m) for m in SAMPLES)) == SAMPLES


def test_frames_split_at_every_byte_boundary() -> None:
    data = b"".join(lp.encode(m) for m in SAMPLES)
    for cut in range(len(data) + 1):
        reader = lp.FrameReader()
        first = reader.feed(data[:cut])
        second = reader.feed(data[cut:])
        assert first + second == SAMPLES, cut
        # Nothing is handed out before its frame is complete.
        complete = 0
        end = 0
        for m in SAMPLES:
            end += len(lp.encode(m))
            if end <= cut:
                complete += 1
        assert len(first) == complete, cut


def test_frames_fed_one_byte_at_a_time() -> None:
    data = b"".join(lp.encode(m) for m in SAMPLES)
    reader = lp.FrameReader()
    out: list[lp.Message] = []
    for i in range(len(data)):
        out += reader.feed(data[i:i + 1])
    assert out == SAMPLES
    assert reader.feed(b"") == []


def test_frame_over_max_raises_protocol_error_from_its_header_alone() -> None:
    with pytest.raises(lp.ProtocolError):
        lp.FrameReader().feed(struct.pack(">I", lp.MAX_FRAME + 1))
    with pytest.raises(lp.ProtocolError):
        lp.FrameReader().feed(b"\xff\xff\xff\xff")


def test_frame_of_exactly_max_is_awaited_not_refused() -> None:
    reader = lp.FrameReader()
    assert reader.feed(struct.pack(">I", lp.MAX_FRAME) + b"\x00" * 10) == []


def test_oversized_frame_after_a_good_one_still_raises() -> None:
    with pytest.raises(lp.ProtocolError):
        lp.FrameReader().feed(lp.encode(lp.Release([1])) + struct.pack(">I", lp.MAX_FRAME + 1))


@pytest.mark.parametrize("body", [
    b"\xc1",  # a byte msgpack never uses
    b"\x93\x01\x02",  # truncated array
    msgspec.msgpack.encode({"type": "Nope", "pid": 1}),  # unknown tag
    msgspec.msgpack.encode({"type": "Signal", "pid": "x", "signum": 15}),  # wrong field type
    msgspec.msgpack.encode({"pid": 1}),  # no tag
    msgspec.msgpack.encode([1, 2, 3]),
    b"",  # an empty frame
], ids=["reserved-byte", "truncated", "unknown-tag", "wrong-type", "untagged", "array", "empty"])
def test_garbage_body_raises_protocol_error(body: bytes) -> None:
    with pytest.raises(lp.ProtocolError):
        lp.FrameReader().feed(struct.pack(">I", len(body)) + body)


def test_socket_name_is_abstract_and_stable(tmp_path: Path) -> None:
    d = tmp_path / "work"
    d.mkdir()
    name = lp.socket_name(str(d))
    assert name.startswith(b"\0pydcos-launcher-")
    assert len(name) < 108  # fits sun_path
    assert lp.socket_name(str(d)) == name
    assert lp.socket_name(str(d) + "/") == name
    assert lp.socket_name(str(d / "." / "sub" / "..")) == name


def test_socket_name_follows_the_real_path(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert lp.socket_name(str(link)) == lp.socket_name(str(real))
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert lp.socket_name("real") == lp.socket_name(str(real))
    finally:
        os.chdir(cwd)


def test_socket_name_differs_between_dirs(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "nested").mkdir()
    names = {lp.socket_name(str(p)) for p in (a, b, a / "nested", tmp_path)}
    assert len(names) == 4
