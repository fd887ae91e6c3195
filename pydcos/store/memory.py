"""The in-memory store: for tests and for a marathon that need not survive its restart."""

from __future__ import annotations

from collections.abc import Sequence

from pydcos.store.interface import ANY_VERSION, Versioned, check_version


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, Versioned] = {}

    async def get(self, key: str) -> Versioned | None:
        return self._data.get(key)

    async def put(self, key: str, value: bytes, *, expect_version: int | None) -> int:
        current = self._data.get(key)
        check_version(key, expect_version, current.version if current else None)
        version = (current.version if current else 0) + 1
        self._data[key] = Versioned(bytes(value), version)
        return version

    async def delete(self, key: str, *, expect_version: int = ANY_VERSION) -> bool:
        current = self._data.get(key)
        if current is None:
            if expect_version != ANY_VERSION:
                check_version(key, expect_version, None)
            return False
        check_version(key, expect_version, current.version)
        del self._data[key]
        return True

    async def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self._data if k.startswith(prefix))

    async def get_many(self, keys: Sequence[str]) -> dict[str, Versioned]:
        return {k: v for k in keys if (v := self._data.get(k)) is not None}

    async def put_many(self, items: Sequence[tuple[str, bytes | None]]) -> None:
        for key, value in items:
            if value is None:
                self._data.pop(key, None)
            else:
                current = self._data.get(key)
                self._data[key] = Versioned(bytes(value), (current.version if current else 0) + 1)

    async def close(self) -> None:
        return None
