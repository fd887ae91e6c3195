"""The ZooKeeper store against a real ZooKeeper server: the shared contract, then what only a
shared, networked store has (two clients, a server that goes away, big batches)."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from pydcos.store import StoreUnavailable, VersionConflict
from pydcos.store.zookeeper import ZooKeeperStore, key_of, znode_of

# The contract every back end passes, run here with the `store` fixture below.
from pydcos.testing.store_contract import *  # noqa: F403
from pydcos.testing.zookeeper import ZooKeeperServer

_roots = itertools.count()


@pytest.fixture(scope="module")
def zk_server() -> Iterator[ZooKeeperServer]:
    # One server for the module (a JVM start costs seconds); each test gets its own root below it.
    loop = asyncio.new_event_loop()
    server = ZooKeeperServer()
    loop.run_until_complete(server.start())
    try:
        yield server
    finally:
        loop.run_until_complete(server.close())
        loop.close()


@pytest.fixture
async def store(zk_server: ZooKeeperServer) -> AsyncIterator[ZooKeeperStore]:
    s = await ZooKeeperStore.open(zk_server.hosts, f"/test{next(_roots)}", timeout=5)
    yield s
    await s.close()


def test_key_mapping_round_trips() -> None:
    for key in ["/marathon/apps/web", "", "/", "a", "/a//b/", "/./..", "/zookeeper", "/x=y"]:
        path = znode_of("/r", key)
        assert key_of("/r", path) == key
        assert all(seg.startswith("=") for seg in path.split("/")[2:])


async def test_odd_segments_are_keys(store: ZooKeeperStore) -> None:
    keys = ["/a//b", "/.", "/..", "/zookeeper", "/with space", "/ünïcode"]
    for k in keys:
        await store.put(k, k.encode(), expect_version=None)
    assert await store.list("") == sorted(keys)
    for k in keys:
        got = await store.get(k)
        assert got is not None and got.value == k.encode()


async def test_parent_and_child_keys_are_independent(store: ZooKeeperStore) -> None:
    await store.put("/m/apps", b"parent", expect_version=None)
    await store.put("/m/apps/web", b"child", expect_version=None)
    assert await store.get("/m") is None  # a folder, never written
    assert await store.delete("/m/apps")
    assert await store.get("/m/apps") is None
    got = await store.get("/m/apps/web")
    assert got is not None and got.value == b"child"
    assert await store.list("/m") == ["/m/apps/web"]
    v = await store.put("/m/apps", b"again", expect_version=None)
    assert v >= 1 and (await store.get("/m/apps")) == (await store.get_many(["/m/apps"]))["/m/apps"]


async def test_partial_segment_prefix(store: ZooKeeperStore) -> None:
    for k in ["/m/apps/a", "/m/appsx/b", "/m/b", "/mm"]:
        await store.put(k, b"", expect_version=None)
    assert await store.list("/m/ap") == ["/m/apps/a", "/m/appsx/b"]
    assert await store.list("/m") == ["/m/apps/a", "/m/appsx/b", "/m/b", "/mm"]
    assert await store.list("/nothing/here/") == []


async def test_two_clients_share_state_and_race_fairly(zk_server: ZooKeeperServer) -> None:
    root = f"/shared{next(_roots)}"
    a = await ZooKeeperStore.open(zk_server.hosts, root)
    b = await ZooKeeperStore.open(zk_server.hosts, root)
    try:
        v1 = await a.put("/leader/term", b"1", expect_version=None)
        got = await b.get("/leader/term")
        assert got is not None and got.version == v1
        outcomes = await asyncio.gather(
            a.put("/leader/term", b"a", expect_version=v1),
            b.put("/leader/term", b"b", expect_version=v1),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if isinstance(o, int)]
        losers = [o for o in outcomes if isinstance(o, VersionConflict)]
        assert len(winners) == 1 and len(losers) == 1
        final = await a.get("/leader/term")
        assert final is not None and final.version == winners[0]
    finally:
        await a.close()
        await b.close()


async def test_batch_larger_than_one_request(store: ZooKeeperStore) -> None:
    items: list[tuple[str, bytes | None]] = [(f"/big/{i:04d}", bytes([i % 256]) * 4000) for i in range(600)]
    await store.put_many(items)  # ~2.4 MB: several transactions, in order
    keys = await store.list("/big/")
    assert len(keys) == 600
    got = await store.get_many(keys[:3] + ["/big/missing"])
    assert sorted(got) == keys[:3]
    await store.put_many([(k, None) for k in keys])
    assert await store.list("/big/") == []


async def test_oversized_value_is_refused_and_writes_nothing(store: ZooKeeperStore) -> None:
    from pydcos.store import StoreError

    with pytest.raises(StoreError, match="at most"):
        await store.put("/huge", b"x" * (2 * 1024 * 1024), expect_version=None)
    with pytest.raises(StoreError, match="at most"):
        await store.put_many([("/ok", b"1"), ("/huge", b"x" * (2 * 1024 * 1024))])
    assert await store.list("") == []


async def test_unreachable_server_is_unavailable() -> None:
    server = ZooKeeperServer()
    await server.start()
    store = await ZooKeeperStore.open(server.hosts, "/gone", timeout=2)
    try:
        await store.put("/a", b"1", expect_version=None)
        await server.close()
        with pytest.raises(StoreUnavailable):
            await store.get("/a")
    finally:
        await store.close()
        await server.close()


async def test_no_server_at_all_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await ZooKeeperStore.open("127.0.0.1:1", "/x", timeout=1)


def test_a_killed_test_run_leaves_no_zookeeper_behind() -> None:
    # The server gets SIGTERM when the process that started it dies, even by SIGKILL.
    script = (
        "import asyncio, sys\n"
        "from pydcos.testing.zookeeper import ZooKeeperServer\n"
        "async def main():\n"
        "    zk = ZooKeeperServer()\n"
        "    await zk.start()\n"
        "    print(zk._proc.pid, zk._dir, flush=True)\n"
        "    await asyncio.sleep(3600)\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pid_text, folder = child.stdout.readline().split()
        jvm = int(pid_text)
        assert _alive(jvm)
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 20
    while _alive(jvm):
        assert time.monotonic() < deadline, "ZooKeeper outlived the process that started it"
        time.sleep(0.05)
    shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie (not yet reaped by init) is gone for our purpose
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
