"""The fetcher: puts a command's `uris` into its sandbox before the process starts.

    plan_fetch (pure) -> per item: download (aiohttp, or a file copy in a thread)
                                   [into the cache first when `cache` is set, then copied]
                      -> extract in a thread (tar*, zip; never outside the sandbox) or chmod +x

Every download is bounded by the fetch timeout. Whatever goes wrong (a missing file, an HTTP
error, a timeout, an unreadable archive, a member that would land outside the sandbox) raises
`FetchFailed` with the URI and the cause; nothing else escapes. Partial downloads are written
to a temporary name and renamed only once complete, so neither the sandbox nor the cache ever
holds half a file under the real name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tarfile
import zipfile

import aiohttp

from pydcos.core.log import get_logger
from pydcos.mesos.agent.errors import FetchFailed
from pydcos.mesos.agent.fetch_plan import FetchItem, member_problem, plan_fetch
from pydcos.mesos.v1.messages import CommandURI

log = get_logger("pydcos.agent.fetcher")

CHUNK = 256 * 1024
# A burst of tasks with URIs must not open thousands of connections or copies at once.
MAX_CONCURRENT_FETCHES = 32
EXECUTABLE_MODE = 0o755
FILE_MODE = 0o644


class Fetcher:
    """One per agent. `close()` ends its HTTP session."""

    def __init__(self, *, timeout_s: float, cache_dir: str | None) -> None:
        self.timeout_s = timeout_s
        self.cache_dir = cache_dir
        self._session: aiohttp.ClientSession | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)
        self.fetched = 0
        self.cache_hits = 0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, uris: list[CommandURI], sandbox: str, owner: tuple[int, int] | None = None) -> None:
        """Fetch every URI into `sandbox` (created if needed), in order; chown what was fetched to
        `owner` (uid, gid) when given. Raises FetchFailed."""
        await asyncio.to_thread(os.makedirs, sandbox, 0o755, True)  # failures are noted in it too
        items = plan_fetch(uris, sandbox, self.cache_dir)
        for item in items:
            try:
                async with self._slots:
                    await self._fetch_one(item)
            except FetchFailed:
                raise
            except TimeoutError:
                raise FetchFailed(f"Failed to fetch '{item.uri}': timed out after {self.timeout_s:g}s") from None
            except aiohttp.ClientError as exc:
                raise FetchFailed(f"Failed to fetch '{item.uri}': {type(exc).__name__}: {exc}") from None
            except OSError as exc:
                raise FetchFailed(f"Failed to fetch '{item.uri}': {_os_reason(exc)}") from None
            self.fetched += 1
            log.event("uri_fetched", uri=item.uri, dest=item.dest, extracted=item.archive or "",
                      cached=bool(item.cache_path))
        if owner is not None:
            await asyncio.to_thread(_chown_tree, sandbox, *owner)

    async def _fetch_one(self, item: FetchItem) -> None:
        if item.cache_path is None:
            await self._download(item, item.dest)
        else:
            lock = self._locks.setdefault(item.cache_path, asyncio.Lock())
            async with lock:
                if await asyncio.to_thread(os.path.isfile, item.cache_path):
                    self.cache_hits += 1
                else:
                    await self._download(item, item.cache_path)
            await asyncio.to_thread(_copy, item.cache_path, item.dest)
        if item.archive is not None:
            await asyncio.to_thread(extract, item.dest, os.path.dirname(item.dest), item.archive, item.uri)
        if item.executable:
            os.chmod(item.dest, EXECUTABLE_MODE)

    async def _download(self, item: FetchItem, target: str) -> None:
        if item.scheme == "file":
            await asyncio.to_thread(_copy, item.source, target)
            return
        session = self._session
        if session is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(30.0, self.timeout_s))
            session = self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        partial = f"{target}.part-{os.getpid()}-{id(item):x}"
        try:
            async with asyncio.timeout(self.timeout_s):
                async with session.get(item.source) as response:
                    if response.status != 200:
                        raise FetchFailed(
                            f"Failed to fetch '{item.uri}': HTTP {response.status} {response.reason or ''}".rstrip())
                    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
                    try:
                        async for chunk in response.content.iter_chunked(CHUNK):
                            os.write(fd, chunk)
                    finally:
                        os.close(fd)
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)


def _copy(source: str, target: str) -> None:
    """Copy a regular file under a temporary name, then rename (runs in a thread)."""
    if os.path.isdir(source):
        raise FetchFailed(f"Failed to fetch '{source}': it is a directory")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = f"{target}.part-{os.getpid()}"
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)


def extract(path: str, into: str, kind: str, uri: str) -> None:
    """Extract an archive into a directory, refusing members that would land outside it
    (runs in a thread). Raises FetchFailed."""
    try:
        if kind == "tar":
            with tarfile.open(path) as archive:
                # The `data` filter refuses absolute names, `..`, links leading out and devices.
                archive.extractall(into, filter="data")
        else:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    problem = member_problem(info.filename)
                    if problem is not None:
                        raise FetchFailed(f"Failed to extract '{uri}': {problem}")
                archive.extractall(into)
    except FetchFailed:
        raise
    except tarfile.FilterError as exc:
        raise FetchFailed(f"Failed to extract '{uri}': {exc}") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise FetchFailed(f"Failed to extract '{uri}': not a readable {kind} archive ({exc})") from None
    except OSError as exc:
        raise FetchFailed(f"Failed to extract '{uri}': {_os_reason(exc)}") from None


def _chown_tree(root: str, uid: int, gid: int) -> None:
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(directory, name), uid, gid, follow_symlinks=False)
    os.chown(root, uid, gid)


def _os_reason(exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return f"{reason}: '{exc.filename}'" if exc.filename else reason
