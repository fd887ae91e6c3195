"""Marathon's state on a Store: loading it back at start, and writing changes behind the loop.

The core queues `Persist(key, value)`; the `Persister` coalesces them (the latest value of a key
wins) and writes each batch with one `put_many`, one transaction. An API change awaits `flush()`
before answering, so what a client was told exists survives a crash; instance updates are
written behind without anyone waiting.
"""

from __future__ import annotations

import asyncio
import contextlib

from pydcos.core.log import get_logger
from pydcos.marathon import records
from pydcos.marathon.event_subscriptions import SUBSCRIPTIONS_KEY, decode_subscriptions
from pydcos.store import Store, StoreError

log = get_logger("pydcos.marathon.storage")
RETRY_S = 1.0


async def load(store: Store) -> records.Snapshot:
    snap = records.Snapshot()
    found = await store.get(records.FRAMEWORK_ID_KEY)
    snap.framework_id = found.value.decode() if found else None
    app_keys = await store.list(records.APPS_PREFIX + "/")
    for item in (await store.get_many(app_keys)).values():
        app = records.APP_DECODER.decode(item.value)
        snap.apps[app.id] = app
    version_keys = await store.list(records.VERSIONS_PREFIX + "/")
    for key, item in (await store.get_many(version_keys)).items():
        split = records.split_version_key(key)
        if split is not None:
            snap.versions.setdefault(split[0], {})[split[1]] = records.APP_DECODER.decode(item.value)
    groups = await store.get(records.GROUPS_KEY)
    snap.groups = records.GROUPS_DECODER.decode(groups.value) if groups else None
    run_keys = await store.list(records.DEPLOYMENTS_PREFIX)
    snap.runs = [records.RUN_DECODER.decode(v.value) for v in (await store.get_many(run_keys)).values()]
    instance_keys = await store.list(records.INSTANCES_PREFIX)
    snap.instances = [records.INSTANCE_DECODER.decode(v.value)
                      for v in (await store.get_many(instance_keys)).values()]
    await _load_group_versions(store, snap)
    log.event("state_loaded", apps=len(snap.apps), instances=len(snap.instances), deployments=len(snap.runs),
              framework_id=snap.framework_id or "")
    return snap


async def _load_group_versions(store: Store, snap: records.Snapshot) -> None:
    tree_keys = await store.list(records.GROUP_VERSIONS_PREFIX)
    snap.trees = [records.TREE_DECODER.decode(v.value) for v in (await store.get_many(tree_keys)).values()]
    app_keys = await store.list(records.GROUP_APPS_PREFIX + "/")
    for key, item in (await store.get_many(app_keys)).items():
        split = records.split_group_app_key(key)
        if split is not None:
            snap.tree_apps.setdefault(split[0], {})[split[1]] = records.APP_DECODER.decode(item.value)


async def load_subscriptions(store: Store) -> list[str]:
    """The HTTP callback URLs subscribed (kept apart from the core's state: delivery is the shell's)."""
    found = await store.get(SUBSCRIPTIONS_KEY)
    return decode_subscriptions(found.value) if found else []


class Persister:
    """Write-behind of the core's Persist instructions. Owned by the service: start(), close()."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: dict[str, bytes | None] = {}
        self._queued = 0  # writes handed in
        self._written = 0  # writes durable
        self._wake = asyncio.Event()
        self._done = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def write(self, key: str, value: bytes | None) -> None:
        self._pending.pop(key, None)
        self._pending[key] = value
        self._queued += 1
        self._wake.set()

    @property
    def queued(self) -> int:
        """How many writes were handed in so far; `written_upto(queued)` waits for all of them."""
        return self._queued

    @property
    def written(self) -> int:
        return self._written

    async def flush(self) -> None:
        """Return once everything written so far is in the store."""
        await self.written_upto(self._queued)

    async def written_upto(self, target: int) -> None:
        """Return once the first `target` writes handed in are in the store."""
        async with self._done:
            await self._done.wait_for(lambda: self._written >= target)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, {}
            upto = self._queued
            while True:
                try:
                    await self.store.put_many(list(batch.items()))
                    break
                except StoreError as exc:
                    self.failures += 1
                    log.warning("store_write_failed", keys=len(batch), error=str(exc))
                    await asyncio.sleep(RETRY_S)
                    # newer values written meanwhile win over the batch being retried
                    batch = {**batch, **self._pending}
                    self._pending = {}
                    upto = self._queued
            async with self._done:
                self._written = upto
                self._done.notify_all()

    async def close(self) -> None:
        if self._task is not None:
            if self._pending:
                with contextlib.suppress(asyncio.TimeoutError, StoreError):
                    await asyncio.wait_for(self.flush(), 5.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
