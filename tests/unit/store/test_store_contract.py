"""The store contract (pydcos/testing/store_contract.py) on the memory and SQLite back ends, and what
only SQLite has; ZooKeeper runs the same contract against a real server in tests/integration/store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pydcos.store import MemoryStore, SqliteStore, Store, StoreUnavailable
from pydcos.testing.store_contract import *  # noqa: F403 (the contract's tests, run on the `store` below)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "state.db")
    yield s
    await s.close()


async def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = SqliteStore(path)
    await first.put_many([("/a", b"1")])
    v = await first.put("/b", b"2", expect_version=None)
    await first.close()
    second = SqliteStore(path)
    got = await second.get("/b")
    assert got is not None and got.version == v
    assert await second.list("/") == ["/a", "/b"]
    await second.close()


async def test_sqlite_unusable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    store = SqliteStore(tmp_path / "dir.db")
    with pytest.raises(StoreUnavailable):
        await store.get("/a")
    await store.close()
