"""The SQLite store: one file, WAL journal, every call on a worker thread (never on the loop).

One connection serves all calls, one call at a time (an asyncio lock orders them), so a
conditional write reads and writes in one transaction without racing another.
`synchronous=NORMAL` under WAL keeps commits durable across a process crash (not a power loss),
which is what a restarted daemon needs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from pydcos.store.errors import StoreUnavailable
from pydcos.store.interface import ANY_VERSION, Versioned, check_version

T = TypeVar("T")

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, version INTEGER NOT NULL)"


def _prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """Keys k with lo <= k < hi are exactly those starting with `prefix` (hi None = no bound)."""
    if not prefix:
        return "", None
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return prefix, None
    return prefix, prefix[:-1] + chr(last + 1)


class SqliteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        store = cls(path)
        await store._run(lambda: None)
        return store

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    async def _run(self, work: Callable[[], T]) -> T:
        def call() -> T:
            self._connect()
            return work()

        async with self._lock:
            # The thread cannot be stopped: a cancelled caller still waits for it, so the lock is
            # never released (nor the connection closed) while sqlite3 works on another thread.
            work_done = asyncio.ensure_future(asyncio.to_thread(call))
            try:
                return await asyncio.shield(work_done)
            except asyncio.CancelledError:
                await asyncio.wait({work_done})
                raise
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"sqlite store {self.path}: {exc}") from exc

    def _version(self, key: str) -> int | None:
        assert self._conn is not None
        row = self._conn.execute("SELECT version FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    async def get(self, key: str) -> Versioned | None:
        def work() -> Versioned | None:
            assert self._conn is not None
            row = self._conn.execute("SELECT value, version FROM kv WHERE key = ?", (key,)).fetchone()
            return None if row is None else Versioned(bytes(row[0]), int(row[1]))

        return await self._run(work)

    async def put(self, key: str, value: bytes, *, expect_version: int | None) -> int:
        def work() -> int:
            assert self._conn is not None
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                current = self._version(key)
                check_version(key, expect_version, current)
                version = (current or 0) + 1
                self._conn.execute(
                    "INSERT OR REPLACE INTO kv (key, value, version) VALUES (?, ?, ?)", (key, value, version)
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return version

        return await self._run(work)

    async def delete(self, key: str, *, expect_version: int = ANY_VERSION) -> bool:
        def work() -> bool:
            assert self._conn is not None
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                current = self._version(key)
                if current is None and expect_version == ANY_VERSION:
                    found = False
                else:
                    check_version(key, expect_version, current)
                    self._conn.execute("DELETE FROM kv WHERE key = ?", (key,))
                    found = True
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return found

        return await self._run(work)

    async def list(self, prefix: str) -> list[str]:
        lo, hi = _prefix_bounds(prefix)

        def work() -> list[str]:
            assert self._conn is not None
            if hi is None:
                rows = self._conn.execute("SELECT key FROM kv WHERE key >= ? ORDER BY key", (lo,))
            else:
                rows = self._conn.execute("SELECT key FROM kv WHERE key >= ? AND key < ? ORDER BY key", (lo, hi))
            return [str(r[0]) for r in rows if str(r[0]).startswith(prefix)]

        return await self._run(work)

    async def get_many(self, keys: Sequence[str]) -> dict[str, Versioned]:
        wanted = list(keys)

        def work() -> dict[str, Versioned]:
            assert self._conn is not None
            out: dict[str, Versioned] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, value, version in self._conn.execute(
                    f"SELECT key, value, version FROM kv WHERE key IN ({marks})", chunk
                ):
                    out[str(key)] = Versioned(bytes(value), int(version))
            return out

        return await self._run(work)

    async def put_many(self, items: Sequence[tuple[str, bytes | None]]) -> None:
        batch = list(items)
        if not batch:
            return

        def work() -> None:
            assert self._conn is not None
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for key, value in batch:
                    if value is None:
                        self._conn.execute("DELETE FROM kv WHERE key = ?", (key,))
                    else:
                        self._conn.execute(
                            "INSERT INTO kv (key, value, version) VALUES (?, ?, 1) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = kv.version + 1",
                            (key, value),
                        )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

        await self._run(work)

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await asyncio.to_thread(conn.close)
