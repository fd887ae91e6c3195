"""A real, throwaway ZooKeeper server for tests, run from the Debian `zookeeper` package's jars.

    async with ZooKeeperServer() as zk:
        url = f"zk://{zk.hosts}/mesos"

Each server gets its own temporary data directory and a free loopback port; it is stopped by its pid
and its directory removed on exit. When the jars or java are missing, `ZooKeeperNotInstalled` is
raised (an AssertionError, so the test fails, never skips): run ./pydcos.sh to install them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from pydcos.cluster.processes import set_parent_death_signal

__all__ = ["ZooKeeperServer", "ZooKeeperNotInstalled", "find_classpath", "zookeeper_server"]

JAR_DIRS = (Path("/usr/share/zookeeper"), Path("/usr/share/java"))
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"


class ZooKeeperNotInstalled(AssertionError):
    pass


def find_classpath() -> str:
    """zookeeper.jar (its manifest names the other Debian jars) plus a quiet slf4j binding."""
    for folder in JAR_DIRS:
        jar = folder / "zookeeper.jar"
        if jar.is_file():
            extra = [p for p in (folder / "slf4j-nop.jar",) if p.is_file()]
            return os.pathsep.join(str(p) for p in (jar, *extra))
    raise ZooKeeperNotInstalled(
        "ZooKeeper server not found (no zookeeper.jar in /usr/share/zookeeper or /usr/share/java): "
        "run ./pydcos.sh install (it installs the Debian package `zookeeper`)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ZooKeeperServer:
    """One standalone server on 127.0.0.1; `hosts` is its `host:port` connect string."""

    def __init__(self, *, start_timeout: float = 30.0) -> None:
        self.start_timeout = start_timeout
        self.port = 0
        self.hosts = ""
        self._dir: Path | None = None
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        classpath = find_classpath()
        java = shutil.which("java")
        if java is None:
            raise ZooKeeperNotInstalled("java not found on PATH: run ./pydcos.sh install")
        self._dir = Path(tempfile.mkdtemp(prefix="pydcos-zk-"))
        self.port = _free_port()
        self.hosts = f"127.0.0.1:{self.port}"
        cfg = self._dir / "zoo.cfg"
        cfg.write_text("\n".join([
            "tickTime=500",
            f"dataDir={self._dir / 'data'}",
            f"clientPort={self.port}",
            "clientPortAddress=127.0.0.1",
            "admin.enableServer=false",
            "4lw.commands.whitelist=ruok",
            "",
        ]))
        log = open(self._dir / "zookeeper.log", "wb")  # noqa: ASYNC230 (a local file, opened once at start)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                java, "-Xmx256m", "-cp", classpath, MAIN_CLASS, str(cfg),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                # A test run killed before its clean-up (a timeout, ^C) must not leave a JVM behind.
                preexec_fn=set_parent_death_signal)
        finally:
            log.close()
        try:
            await self._wait_ready()
        except BaseException:
            await self.close()
            raise

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            assert self._proc is not None
            if self._proc.returncode is not None:
                raise AssertionError(f"ZooKeeper exited with {self._proc.returncode}: {self.log_tail()}")
            if await self._ruok():
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"ZooKeeper did not answer ruok within {self.start_timeout}s: "
                                     f"{self.log_tail()}")
            await asyncio.sleep(0.1)

    async def _ruok(self) -> bool:
        try:
            async with asyncio.timeout(2):
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                try:
                    writer.write(b"ruok")
                    await writer.drain()
                    return await reader.read(4) == b"imok"
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except (OSError, TimeoutError):
            return False

    def log_tail(self, n: int = 2000) -> str:
        if self._dir is None:
            return ""
        with contextlib.suppress(OSError):
            return (self._dir / "zookeeper.log").read_text(errors="replace")[-n:]
        return ""

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def __aenter__(self) -> ZooKeeperServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


@contextlib.asynccontextmanager
async def zookeeper_server(start_timeout: float = 30.0) -> AsyncIterator[ZooKeeperServer]:
    async with ZooKeeperServer(start_timeout=start_timeout) as server:
        yield server
