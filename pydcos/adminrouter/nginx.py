"""Running Debian's nginx with our configuration: validate, start, reload, stop. The one place with
nginx processes.

    install(rendered) : write the static files, write `nginx.conf.new`, `nginx -t -c` it, rename it
                        over `nginx.conf` (a refused file never replaces the running one)
    start()           : `nginx -c nginx.conf -p ROOT -e ERRORLOG -g 'daemon off;'` as our child, in
                        our session (so `pydcos cluster down` finds it), SIGTERM'd if we die
    reload()          : SIGHUP: nginx starts new workers on the new file and lets the old ones
                        finish their requests (graceful; no request is dropped)
    stop()            : SIGQUIT (graceful), then SIGTERM, then SIGKILL, each after a deadline

nginx's master leads a process group of its own: when it dies (even by SIGKILL) its workers
live on, still holding the listening sockets, so the group is killed whenever the master is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

from pydcos.adminrouter.errors import NginxConfigInvalid, NginxStartFailed
from pydcos.adminrouter.render import NginxLayout, RenderedConfig
from pydcos.core.log import get_logger
from pydcos.core.waiting import WaitTimeout, wait_until

log = get_logger(__name__)

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
VALIDATE_TIMEOUT_S = 30.0
START_TIMEOUT_S = 10.0


def _child_setup() -> None:
    """In the child, before exec: lead a process group of its own (workers outlive a killed master,
    still holding its sockets, so they are ended as a group), and get SIGTERM when the router dies.
    (preexec_fn rather than `process_group=`: uvloop's subprocess_exec does not take the latter.)"""
    os.setpgid(0, 0)
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, path)


class Nginx:
    """Owns one nginx master process. `reloads` counts configurations swapped in while it ran."""

    def __init__(self, layout: NginxLayout, *, binary: str = "nginx") -> None:
        self.layout = layout
        self.binary = binary
        self.reloads = 0
        self.installed_text: str | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def prepare_dirs(self) -> None:
        layout = self.layout
        for directory in (layout.root, layout.static, layout.static / "empty", layout.temp, layout.cache,
                          layout.access_log.parent):
            directory.mkdir(parents=True, exist_ok=True)
        # The token cache holds tokens (as cache keys): only we may read it.
        layout.cache.chmod(0o700)

    async def validate(self, text: str) -> Path:
        """Write `text` beside the live file and have nginx test it; return the tested file."""
        candidate = self.layout.conf.with_name("nginx.conf.new")
        _write_atomically(candidate, text.encode())
        proc = await asyncio.create_subprocess_exec(
            self.binary, "-t", "-q", "-c", str(candidate), "-p", str(self.layout.root),
            "-e", str(self.layout.error_log),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            async with asyncio.timeout(VALIDATE_TIMEOUT_S):
                output, _ = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise NginxConfigInvalid("nginx -t did not finish") from None
        if proc.returncode != 0:
            raise NginxConfigInvalid(output.decode(errors="replace"))
        return candidate

    async def install(self, rendered: RenderedConfig) -> bool:
        """Make `rendered` the configuration on disk; False when it already was. Raises
        NginxConfigInvalid (leaving the live file alone) when nginx refuses it."""
        if rendered.text == self.installed_text:
            return False
        self.prepare_dirs()
        for name, content in rendered.static_files.items():
            path = self.layout.static / name
            if not path.exists() or path.read_bytes() != content:
                _write_atomically(path, content)
        candidate = await self.validate(rendered.text)
        os.replace(candidate, self.layout.conf)
        self.installed_text = rendered.text
        return True

    async def start(self) -> None:
        if self.running:
            return
        self.layout.pid.unlink(missing_ok=True)
        with self.layout.error_log.open("ab") as errors:
            self._proc = await asyncio.create_subprocess_exec(
                self.binary, "-c", str(self.layout.conf), "-p", str(self.layout.root),
                "-e", str(self.layout.error_log), "-g", "daemon off;",
                stdin=asyncio.subprocess.DEVNULL, stdout=errors, stderr=errors,
                preexec_fn=_child_setup,
            )  # fmt: skip
        proc = self._proc

        def listening() -> bool:
            if proc.returncode is not None:
                raise NginxStartFailed(f"nginx exited with code {proc.returncode}; see {self.layout.error_log}")
            # nginx writes its pid file once its listening sockets are open.
            return self.layout.pid.exists() and self.layout.pid.read_text().strip() == str(proc.pid)

        try:
            await wait_until(listening, timeout=START_TIMEOUT_S, interval=0.02, what="nginx to listen")
        except WaitTimeout:
            await self.stop()
            raise NginxStartFailed(f"nginx did not start within {START_TIMEOUT_S}s; see {self.layout.error_log}") from None
        log.event("nginx_started", pid=proc.pid, conf=self.layout.conf)

    def reload(self) -> None:
        """Graceful: new workers take the new file, old ones finish what they serve."""
        if self._proc is None or self._proc.returncode is not None:
            return
        self._proc.send_signal(signal.SIGHUP)
        self.reloads += 1
        log.event("nginx_reloaded", pid=self._proc.pid, reloads=self.reloads)

    async def wait(self) -> int:
        """Until the master exits; then end whatever is left of its group (orphaned workers)."""
        assert self._proc is not None
        code = await self._proc.wait()
        self._end_group(self._proc.pid)
        return code

    @staticmethod
    def _end_group(pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    async def stop(self, grace_s: float = 5.0) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        for sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                async with asyncio.timeout(grace_s):
                    await proc.wait()
                break
            except TimeoutError:
                continue
        self._end_group(proc.pid)
        log.event("nginx_stopped", pid=proc.pid, code=proc.returncode)
