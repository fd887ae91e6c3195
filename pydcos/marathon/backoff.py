"""Launch backoff per app: after each failure the next launch waits longer. Pure.

The first failure delays by `backoffSeconds`; each further one multiplies the delay by
`backoffFactor`, capped at `maxLaunchDelaySeconds`. A new configuration (or
`DELETE /v2/queue/{app}/delay`) starts over without delay.

>>> b = Backoff()
>>> [round(b.failed(1.0, 2.0, 10.0, now=0.0), 3) for _ in range(5)]
[1.0, 2.0, 4.0, 8.0, 10.0]
>>> b.until
10.0
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    delay: float = 0.0  # the last delay applied; 0 = none yet
    until: float = 0.0  # monotonic time before which nothing launches

    def failed(self, backoff_seconds: float, factor: float, max_delay: float, *, now: float) -> float:
        if self.delay <= 0:
            self.delay = backoff_seconds
        else:
            self.delay = self.delay * factor
        self.delay = min(self.delay, max_delay)
        self.until = now + self.delay
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0
        self.until = 0.0

    def time_left(self, now: float) -> float:
        return max(0.0, self.until - now)
