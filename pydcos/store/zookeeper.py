"""The ZooKeeper store: the same `Store` contract on a ZooKeeper ensemble, for several masters.

Layout. A key is split at `/` and every segment becomes one znode named `=` + the segment
(`/marathon/apps/web` → `<root>/=/=marathon/=apps/=web`). The `=` keeps every name legal in
ZooKeeper (no empty, `.`, `..` or `zookeeper` names) and, being a fixed prefix, keeps string prefixes
of keys as prefixes of znode names, so `list("/m/ap")` lists the children of `/m` whose names start
with `=ap` and walks below them. A znode holds a key when its data starts with a marker byte; a
znode that only exists as the parent of deeper keys holds no data. Values are stored as marker +
value, so an empty value is still a key.

Versions are ZooKeeper's own data versions plus one (a znode's first write is version 0), so they
grow with every write and a compare-and-set is ZooKeeper's `setData(version=...)`: nothing is read
and then written without the server checking that nobody wrote in between.

`put_many` is one ZooKeeper multi-op transaction, all or nothing, as long as the batch fits in one
ZooKeeper request (about 1 MB, the server's `jute.maxbuffer`); a larger batch is written as several
transactions in order, each all or nothing. kazoo's client blocks, so every call runs on a worker
thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import (  # type: ignore[import-untyped]
    BadVersionError,
    KazooException,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]

from pydcos.store.errors import StoreError, StoreUnavailable, VersionConflict
from pydcos.store.interface import ANY_VERSION, Versioned, check_version

T = TypeVar("T")

KEY_MARK: Final = b"\x01"
SEGMENT_MARK: Final = "="
# One transaction must fit in one ZooKeeper request (jute.maxbuffer, 1 MiB by default); keep room
# for the paths and the request framing.
MAX_BATCH_BYTES: Final = 768 * 1024
MAX_VALUE_BYTES: Final = MAX_BATCH_BYTES
_RETRIES: Final = 5

Batch = list[tuple[str, bytes | None]]


# -- pure key <-> znode mapping --------------------------------------------------------------


def znode_of(root: str, key: str) -> str:
    return root + "".join("/" + SEGMENT_MARK + seg for seg in key.split("/"))


def key_of(root: str, path: str) -> str:
    rel = path[len(root) + 1:]
    return "/".join(seg[len(SEGMENT_MARK):] for seg in rel.split("/"))


def prefix_search(root: str, prefix: str) -> tuple[str, str]:
    """The znode whose children may hold keys starting with `prefix`, and the name prefix they need."""
    *parents, partial = prefix.split("/")
    folder = znode_of(root, "/".join(parents)) if parents else root
    return folder, SEGMENT_MARK + partial


def batch_chunks(items: Sequence[tuple[str, bytes | None]]) -> list[Batch]:
    """Split a batch, in order, into runs small enough for one ZooKeeper request each."""
    chunks: list[Batch] = [[]]
    size = 0
    for key, value in items:
        cost = len(key) * 2 + 64 + (len(value) if value is not None else 0)
        if chunks[-1] and size + cost > MAX_BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append((key, value))
        size += cost
    return chunks


def _present(data: bytes) -> bool:
    return data.startswith(KEY_MARK)


# -- the store -------------------------------------------------------------------------------


class ZooKeeperStore:
    """`hosts` is a connect string (`h1:2181,h2:2181`); every key lives below `root`."""

    def __init__(self, hosts: str, root: str = "/pydcos", *, timeout: float = 10.0) -> None:
        if not root.startswith("/") or root.endswith("/"):
            raise ValueError(f"root must start and not end with '/': {root!r}")
        self.hosts = hosts
        self.root = root
        self.timeout = timeout
        self._client: KazooClient | None = None
        self._connecting = threading.Lock()

    @classmethod
    async def open(
        cls, hosts: str, root: str = "/pydcos", *, timeout: float = 10.0  # noqa: ASYNC109 (bounds each request)
    ) -> ZooKeeperStore:
        store = cls(hosts, root, timeout=timeout)
        await store._run(lambda zk: None)
        return store

    def _connect(self) -> KazooClient:
        with self._connecting:  # calls run on several worker threads; one client serves them all
            return self._client or self._start_client()

    def _start_client(self) -> KazooClient:
        client = KazooClient(hosts=self.hosts, timeout=self.timeout)
        try:
            client.start(timeout=self.timeout)
            client.ensure_path_async(self.root).get(timeout=self.timeout)
        except BaseException:
            client.stop()
            client.close()
            raise
        self._client = client
        return client

    async def _run(self, work: Callable[[KazooClient], T]) -> T:
        def call() -> T:
            return work(self._connect())

        try:
            return await asyncio.to_thread(call)
        except StoreError:
            raise
        except (KazooException, KazooTimeoutError) as exc:
            raise StoreUnavailable(f"zookeeper store {self.hosts}{self.root}: {exc!r}") from exc

    def _wait(self, result: Any) -> Any:
        # kazoo queues a request while it reconnects and its blocking calls then wait for ever;
        # every wait here is bounded, and a timeout is StoreUnavailable.
        return result.get(timeout=self.timeout)

    def _path(self, key: str) -> str:
        return znode_of(self.root, key)

    def _read(self, zk: KazooClient, path: str) -> tuple[bytes, Any] | None:
        try:
            data, stat = self._wait(zk.get_async(path))
        except NoNodeError:
            return None
        return bytes(data or b""), stat

    async def get(self, key: str) -> Versioned | None:
        def work(zk: KazooClient) -> Versioned | None:
            found = self._read(zk, self._path(key))
            if found is None or not _present(found[0]):
                return None
            return Versioned(found[0][len(KEY_MARK):], found[1].version + 1)

        return await self._run(work)

    async def put(self, key: str, value: bytes, *, expect_version: int | None) -> int:
        if len(value) > MAX_VALUE_BYTES:
            raise StoreError(f"value of {key!r} is {len(value)} bytes; the zookeeper store holds at most "
                             f"{MAX_VALUE_BYTES}")
        path, data = self._path(key), KEY_MARK + value

        def work(zk: KazooClient) -> int:
            for _ in range(_RETRIES):
                found = self._read(zk, path)
                current = found[1].version + 1 if found is not None and _present(found[0]) else None
                check_version(key, expect_version, current)
                try:
                    if found is None:
                        self._wait(zk.create_async(path, data, makepath=True))
                        return 1
                    # The server checks the version: a write in between makes this fail, not win.
                    return int(self._wait(zk.set_async(path, data, version=found[1].version)).version) + 1
                except (NodeExistsError, BadVersionError, NoNodeError):
                    if expect_version != ANY_VERSION:
                        latest = self._read(zk, path)
                        found_now = latest[1].version + 1 if latest and _present(latest[0]) else None
                        raise VersionConflict(key, expect_version, found_now) from None
            raise StoreUnavailable(f"zookeeper store: {key!r} kept changing under an unconditional write")

        return await self._run(work)

    async def delete(self, key: str, *, expect_version: int = ANY_VERSION) -> bool:
        path = self._path(key)

        def work(zk: KazooClient) -> bool:
            for _ in range(_RETRIES):
                found = self._read(zk, path)
                current = found[1].version + 1 if found is not None and _present(found[0]) else None
                if current is None and expect_version == ANY_VERSION:
                    return False
                check_version(key, expect_version, current)
                assert found is not None
                stat = found[1]
                try:
                    if stat.numChildren:
                        self._wait(zk.set_async(path, b"", version=stat.version))  # deeper keys keep their parent
                    else:
                        self._wait(zk.delete_async(path, version=stat.version))
                    return True
                except (BadVersionError, NoNodeError, NotEmptyError):
                    if expect_version != ANY_VERSION:
                        raise VersionConflict(key, expect_version, None) from None
            raise StoreUnavailable(f"zookeeper store: {key!r} kept changing under a delete")

        return await self._run(work)

    async def list(self, prefix: str) -> list[str]:
        folder, name_prefix = prefix_search(self.root, prefix)

        def work(zk: KazooClient) -> list[str]:
            try:
                names = self._wait(zk.get_children_async(folder))
            except NoNodeError:
                return []
            level = [f"{folder}/{n}" for n in names if n.startswith(name_prefix)]
            keys: list[str] = []
            # Breadth first, one level's reads in flight together: a big tree costs one round trip
            # per level, not one per znode.
            while level:
                datas = [zk.get_async(p) for p in level]
                kids = [zk.get_children_async(p) for p in level]
                nxt: list[str] = []
                for path, data_result, kids_result in zip(level, datas, kids, strict=True):
                    try:
                        data, _ = self._wait(data_result)
                        children = self._wait(kids_result)
                    except NoNodeError:
                        continue  # deleted while we walked
                    if _present(bytes(data or b"")):
                        keys.append(key_of(self.root, path))
                    nxt.extend(f"{path}/{c}" for c in children)
                level = nxt
            return sorted(keys)

        return await self._run(work)

    async def get_many(self, keys: Sequence[str]) -> dict[str, Versioned]:
        wanted = list(dict.fromkeys(keys))

        def work(zk: KazooClient) -> dict[str, Versioned]:
            pending = [(k, zk.get_async(self._path(k))) for k in wanted]
            out: dict[str, Versioned] = {}
            for key, result in pending:
                try:
                    data, stat = self._wait(result)
                except NoNodeError:
                    continue
                data = bytes(data or b"")
                if _present(data):
                    out[key] = Versioned(data[len(KEY_MARK):], stat.version + 1)
            return out

        return await self._run(work)

    async def put_many(self, items: Sequence[tuple[str, bytes | None]]) -> None:
        batch = list(items)
        for key, value in batch:
            if value is not None and len(value) > MAX_VALUE_BYTES:
                raise StoreError(f"value of {key!r} is {len(value)} bytes; the zookeeper store holds at most "
                                 f"{MAX_VALUE_BYTES}")
        if not batch:
            return

        def work(zk: KazooClient) -> None:
            for chunk in batch_chunks(batch):
                self._commit(zk, chunk)

        await self._run(work)

    def _commit(self, zk: KazooClient, chunk: Batch) -> None:
        """One transaction for `chunk`, planned from a fresh read; retried when a concurrent writer
        changed a znode the plan relied on (the transaction then fails whole, nothing lands)."""
        paths = list(dict.fromkeys(self._path(k) for k, _ in chunk))
        for _ in range(_RETRIES):
            reads = {p: zk.get_async(p) for p in paths}
            exists: dict[str, tuple[bool, bool]] = {}  # path -> (znode exists, has children)
            for path, result in reads.items():
                try:
                    _, stat = self._wait(result)
                    exists[path] = (True, bool(stat.numChildren))
                except NoNodeError:
                    exists[path] = (False, False)
            present: dict[str, bool] = {}
            tx = zk.transaction()
            for key, value in chunk:
                path = self._path(key)
                there, has_children = exists[path]
                if value is not None:
                    if there:
                        tx.set_data(path, KEY_MARK + value)
                    else:
                        parent = path.rsplit("/", 1)[0]
                        self._wait(zk.ensure_path_async(parent))  # parents are plain folders, harmless if the tx fails
                        tx.create(path, KEY_MARK + value)
                        exists[path] = (True, has_children)
                    present[path] = True
                elif there:
                    if has_children:
                        tx.set_data(path, b"")
                    else:
                        tx.delete(path)
                        exists[path] = (False, False)
                    present[path] = False
            results = self._wait(tx.commit_async())
            failed = [r for r in results if isinstance(r, Exception)]
            if not failed:
                return
            if not all(isinstance(r, (NodeExistsError, NoNodeError, NotEmptyError, BadVersionError))
                       or type(r).__name__ == "RolledBackError" for r in failed):
                raise failed[0]
        raise StoreUnavailable("zookeeper store: a batch kept meeting concurrent writers")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            def stop() -> None:
                client.stop()
                client.close()

            await asyncio.to_thread(stop)
