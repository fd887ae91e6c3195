"""Process exits on the event loop: pidfds in one epoll set, that set watched by the loop.

A pidfd becomes readable when its process exits. Registering each pidfd with the loop
(`loop.add_reader`) costs uvloop a poll handle per fd: made, started, stopped and closed for
every task, with extra epoll_ctl calls when a pidfd number comes back for the next task. Measured
in the agent during a burst of short tasks: 26 µs of CPU per task. Here each pidfd costs one
`epoll_ctl` to add and one to remove, and the loop watches a single descriptor, the epoll set.

Level-triggered, like `add_reader`: a callback that does not `unwatch` its pidfd is called again.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable

from pydcos.core.log import get_logger

log = get_logger("pydcos.agent.exit_watch")


class ExitWatcher:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._epoll: select.epoll | None = None
        self._callbacks: dict[int, Callable[[], None]] = {}

    def __len__(self) -> int:
        return len(self._callbacks)

    def watch(self, pidfd: int, callback: Callable[[], None]) -> None:
        """Call `callback` (from the loop) once `pidfd`'s process has exited, until `unwatch`."""
        if self._epoll is None:
            self._epoll = select.epoll()
            self._loop.add_reader(self._epoll.fileno(), self._ready)
        self._epoll.register(pidfd, select.EPOLLIN)
        self._callbacks[pidfd] = callback

    def unwatch(self, pidfd: int) -> None:
        """Before closing `pidfd`."""
        if self._callbacks.pop(pidfd, None) is not None and self._epoll is not None:
            try:
                self._epoll.unregister(pidfd)
            except (OSError, ValueError):  # closed already: the kernel dropped it from the set
                pass

    def _ready(self) -> None:
        assert self._epoll is not None
        for fd, _ in self._epoll.poll(0):
            callback = self._callbacks.get(fd)
            if callback is None:  # unwatched by an earlier callback of this round
                continue
            try:
                callback()
            except Exception:  # one failing callback must not keep the others from running
                log.exception("exit_callback_failed", pidfd=fd)

    def close(self) -> None:
        if self._epoll is not None:
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None
        self._callbacks.clear()
