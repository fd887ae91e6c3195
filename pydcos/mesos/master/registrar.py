"""The registrar: writes the master's registry changes to the store, in order, in batches.

Every `Persist` instruction's operations are *staged* into the open batch; one writer task writes
one batch per store transaction, so a burst of 1,000 agent registrations arriving in one loop turn
(or while the previous transaction is being written) costs one transaction, not 1,000. Batches are
numbered; `stage` says which batch holds the operations, and `on_committed(n)` is called once
batch `n` (and so every earlier one) is durable. The master holds back what must wait for a
write until then (service.py).

A write that keeps failing is fatal, as in Mesos: the master cannot acknowledge what it cannot
record, so `on_failed` is called and nothing more is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

from pydcos.core.log import get_logger
from pydcos.mesos.master.registry_records import PREFIX, RegistryOp, Snapshot, decode_snapshot, encode_ops
from pydcos.store import Store, StoreError

log = get_logger("pydcos.master.registrar")


class Registrar:
    def __init__(
        self,
        store: Store,
        on_committed: Callable[[int], None],
        on_failed: Callable[[BaseException], None],
        *,
        attempts: int = 3,
        retry_delay: float = 0.5,
    ) -> None:
        self.store = store
        self._on_committed = on_committed
        self._on_failed = on_failed
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._items: list[tuple[str, bytes | None]] = []
        self._writer: asyncio.Task[None] | None = None
        self.open_batch = 1
        self.committed = 0
        self.failed: BaseException | None = None
        self.transactions = 0
        self.writes = 0

    async def load(self) -> Snapshot:
        keys = await self.store.list(PREFIX)
        found = await self.store.get_many(keys)
        snapshot = decode_snapshot({k: v.value for k, v in found.items()})
        for bad in snapshot.bad_keys:
            log.warning("registry_record_ignored", key=bad)
        return snapshot

    def stage(self, ops: Iterable[RegistryOp]) -> int:
        """Queue the operations; returns the number of the batch that will hold them."""
        if self.failed is None:
            self._items.extend(encode_ops(ops))
            if self._writer is None or self._writer.done():
                # Started on the next loop turn: whatever else this turn stages joins the batch.
                self._writer = asyncio.ensure_future(self._write_batches())
        return self.open_batch

    @property
    def idle(self) -> bool:
        return not self._items and (self._writer is None or self._writer.done())

    async def _write_batches(self) -> None:
        while self._items and self.failed is None:
            items, self._items = self._items, []
            batch, self.open_batch = self.open_batch, self.open_batch + 1
            try:
                await self._write(items)
            except StoreError as exc:
                self.failed = exc
                self._items = []
                log.exception("registry_write_failed", batch=batch, items=len(items))
                self._on_failed(exc)
                return
            self.committed = batch
            self.transactions += 1
            self.writes += len(items)
            self._on_committed(batch)

    async def _write(self, items: list[tuple[str, bytes | None]]) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                await self.store.put_many(items)
                return
            except StoreError as exc:
                if attempt == self._attempts:
                    raise
                log.warning("registry_write_retried", attempt=attempt, error=str(exc))
                await asyncio.sleep(self._retry_delay * attempt)

    async def flush(self, within: float = 10.0) -> bool:
        """Wait until everything staged so far is written (or the write failed). False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._writer is not None and not self._writer.done():
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.wait({self._writer}, timeout=left)
        return True

    async def close(self, within: float = 10.0) -> None:
        if not await self.flush(within) and self._writer is not None:
            log.warning("registry_close_unflushed", items=len(self._items))
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
