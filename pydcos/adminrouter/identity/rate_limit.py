"""Login attempts per (uid, source): a token bucket of failures. Pure: the time comes in.

Each failed login spends a credit; credits come back one per `refill_s` up to `burst`. With no
credit left every attempt, even with the right password, is refused until one comes back, so a
password cannot be guessed faster than one try per `refill_s`.

>>> limiter = LoginLimiter(burst=2, refill_s=10.0)
>>> key = ("alice", "10.0.0.9")
>>> limiter.record_failure(key, now=0.0); limiter.record_failure(key, now=0.0)
>>> limiter.retry_after(key, now=1.0)
9.0
>>> limiter.retry_after(key, now=10.0)
0.0
"""

from __future__ import annotations

from collections import OrderedDict


class LoginLimiter:
    """Invariant: at most `max_entries` keys are tracked; the least recently touched go first
    (a forgotten key starts again with a full bucket, which only ever loosens the limit for it)."""

    def __init__(self, *, burst: int = 10, refill_s: float = 30.0, max_entries: int = 10_000) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self.max_entries = max_entries
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def _credits(self, key: tuple[str, str], now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None:
            return float(self.burst)
        credits, at = entry
        return min(float(self.burst), credits + max(0.0, now - at) / self.refill_s)

    def retry_after(self, key: tuple[str, str], now: float) -> float:
        """0 when an attempt may go ahead; otherwise the seconds until it may."""
        credits = self._credits(key, now)
        return 0.0 if credits >= 1.0 else (1.0 - credits) * self.refill_s

    def record_failure(self, key: tuple[str, str], now: float) -> None:
        self._buckets[key] = (max(0.0, self._credits(key, now) - 1.0), now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_entries:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)
