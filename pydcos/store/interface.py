"""The storage seam: a small async key-value protocol with per-key versions.

Keys are `/`-separated paths (`/marathon/apps/web`); values are opaque bytes. Every write returns the
key's new version, a positive integer that grows with each write of that key. A conditional write
names the version it expects: `None` means "the key must not exist", `ANY_VERSION` means "whatever
is there". `put_many` writes (or, with a `None` value, deletes) several keys unconditionally in one
transaction: either all of them land or none.

>>> import asyncio
>>> from pydcos.store.memory import MemoryStore
>>> async def demo() -> int:
...     store = MemoryStore()
...     v1 = await store.put("/a", b"x", expect_version=None)
...     return await store.put("/a", b"y", expect_version=v1)
>>> asyncio.run(demo())
2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

import msgspec

ANY_VERSION: Final = -1


class Versioned(msgspec.Struct, frozen=True):
    value: bytes
    version: int


class Store(Protocol):
    async def get(self, key: str) -> Versioned | None:
        """The value and version at `key`, or None."""
        ...

    async def put(self, key: str, value: bytes, *, expect_version: int | None) -> int:
        """Write `value`; raise VersionConflict unless the key is at `expect_version`."""
        ...

    async def delete(self, key: str, *, expect_version: int = ANY_VERSION) -> bool:
        """Remove `key`; False if it was not there. VersionConflict on a version mismatch."""
        ...

    async def list(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`, sorted."""
        ...

    async def get_many(self, keys: Sequence[str]) -> dict[str, Versioned]:
        """The values of the keys that exist."""
        ...

    async def put_many(self, items: Sequence[tuple[str, bytes | None]]) -> None:
        """Unconditional writes (None deletes), applied in order in one transaction."""
        ...

    async def close(self) -> None: ...


def check_version(key: str, expected: int | None, found: int | None) -> None:
    """Raise VersionConflict unless `found` satisfies `expected` (shared by every back end)."""
    from pydcos.store.errors import VersionConflict

    if expected == ANY_VERSION:
        return
    if expected != found:
        raise VersionConflict(key, expected, found)
