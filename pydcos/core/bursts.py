"""When a burst is over: the rule the master's agent channels and its HTTP cork share. Pure.

A burst of pipelined scheduler calls reaches the master one call per loop turn or two (aiohttp
runs each request as its own task). Whatever batches what those calls produce waits, one loop
turn at a time, while the batch still grows; two turns without growth end the burst, and
MAX_TURNS turns end it whatever happens, so a lone message waits some microseconds and a
never-ending stream is still written regularly.

>>> end = BurstEnd(1)
>>> [end.step(n) for n in (2, 3, 3, 3)]
[False, False, False, True]
"""

from __future__ import annotations

MAX_TURNS = 64
IDLE_TURNS = 2


class BurstEnd:
    __slots__ = ("_seen", "_idle", "_turns")

    def __init__(self, size: int) -> None:
        self._seen = size
        self._idle = 0
        self._turns = 0

    def step(self, size: int) -> bool:
        """Called once per loop turn with the batch's size now: whether the burst is over."""
        self._turns += 1
        if size == self._seen:
            self._idle += 1
        else:
            self._seen, self._idle = size, 0
        return self._idle >= IDLE_TURNS or self._turns >= MAX_TURNS
