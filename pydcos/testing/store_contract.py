"""The contract every `Store` back end passes, as pytest test functions over a `store` fixture.

A test module imports them and provides `store` for its back end:

    from pydcos.testing.store_contract import *  # noqa: F403
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from pydcos.store import ANY_VERSION, Store, VersionConflict

__all__ = [
    "test_missing_key_is_none",
    "test_create_then_update_with_version",
    "test_stale_write_is_rejected",
    "test_create_of_existing_key_conflicts",
    "test_update_of_missing_key_conflicts",
    "test_any_version_overwrites",
    "test_delete",
    "test_list_by_prefix_is_sorted_and_exact",
    "test_put_many_writes_and_deletes_in_order",
    "test_binary_values_round_trip",
    "test_cancelled_write_then_close_is_safe",
]


async def test_missing_key_is_none(store: Store) -> None:
    assert await store.get("/nope") is None


async def test_create_then_update_with_version(store: Store) -> None:
    v1 = await store.put("/marathon/apps/web", b"{}", expect_version=None)
    v2 = await store.put("/marathon/apps/web", b'{"a":1}', expect_version=v1)
    assert v2 > v1
    got = await store.get("/marathon/apps/web")
    assert got is not None and got.value == b'{"a":1}' and got.version == v2


async def test_stale_write_is_rejected(store: Store) -> None:
    v1 = await store.put("/marathon/apps/web", b"{}", expect_version=None)
    await store.put("/marathon/apps/web", b"{}", expect_version=v1)
    with pytest.raises(VersionConflict):
        await store.put("/marathon/apps/web", b"x", expect_version=v1)
    got = await store.get("/marathon/apps/web")
    assert got is not None and got.value == b"{}"


async def test_create_of_existing_key_conflicts(store: Store) -> None:
    await store.put("/k", b"1", expect_version=None)
    with pytest.raises(VersionConflict):
        await store.put("/k", b"2", expect_version=None)


async def test_update_of_missing_key_conflicts(store: Store) -> None:
    with pytest.raises(VersionConflict):
        await store.put("/k", b"2", expect_version=3)


async def test_any_version_overwrites(store: Store) -> None:
    await store.put("/k", b"1", expect_version=ANY_VERSION)
    await store.put("/k", b"2", expect_version=ANY_VERSION)
    got = await store.get("/k")
    assert got is not None and got.value == b"2"


async def test_delete(store: Store) -> None:
    v = await store.put("/k", b"1", expect_version=None)
    with pytest.raises(VersionConflict):
        await store.delete("/k", expect_version=v + 1)
    assert await store.delete("/k", expect_version=v)
    assert await store.get("/k") is None
    assert not await store.delete("/k")


async def test_list_by_prefix_is_sorted_and_exact(store: Store) -> None:
    for key in ["/m/apps/b", "/m/apps/a", "/m/appsx", "/m/deployments/1", "/n"]:
        await store.put(key, b"", expect_version=None)
    assert await store.list("/m/apps/") == ["/m/apps/a", "/m/apps/b"]
    assert await store.list("/m/") == ["/m/apps/a", "/m/apps/b", "/m/appsx", "/m/deployments/1"]
    assert len(await store.list("")) == 5


async def test_put_many_writes_and_deletes_in_order(store: Store) -> None:
    await store.put("/gone", b"x", expect_version=None)
    await store.put_many([("/a", b"1"), ("/b", b"2"), ("/a", b"3"), ("/gone", None), ("/never", None)])
    got = await store.get_many(["/a", "/b", "/gone", "/never"])
    assert {k: v.value for k, v in got.items()} == {"/a": b"3", "/b": b"2"}
    assert got["/a"].version > got["/b"].version


async def test_binary_values_round_trip(store: Store) -> None:
    data = bytes(range(256)) * 10
    await store.put("/bin", data, expect_version=None)
    got = await store.get("/bin")
    assert got is not None and got.value == data


async def test_cancelled_write_then_close_is_safe(store: Store) -> None:
    task = asyncio.ensure_future(store.put_many([(f"/k{i}", b"x" * 100) for i in range(2000)]))
    await asyncio.sleep(0)  # let it start (on sqlite: on its worker thread)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await store.close()  # must not close the connection under the running thread
