"""What waits to launch, per app: how many, since when, the backoff, and what offers said. Pure.

The count is set by the core from the app's goal (core.py recomputes it after every change), so
the queue never drifts from the truth; the entry keeps what `/v2/queue` shows about the offers
that came by (`processedOffersSummary`, `lastUnusedOffers`).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from pydcos.marathon.backoff import Backoff

MAX_UNUSED_OFFERS = 50


@dataclass
class UnusedOffer:
    offer_id: str
    agent_id: str
    hostname: str
    reasons: list[str]
    timestamp: float


@dataclass
class QueueEntry:
    app_id: str
    count: int = 0
    since: float = 0.0  # wall time the app started waiting
    backoff: Backoff = field(default_factory=Backoff)
    config_version: str = ""
    processed: int = 0
    unused: int = 0
    last_unused_at: float | None = None
    last_used_at: float | None = None
    rejects: Counter[str] = field(default_factory=Counter)
    last_unused_offers: deque[UnusedOffer] = field(default_factory=lambda: deque(maxlen=MAX_UNUSED_OFFERS))

    def delayed(self, now: float) -> bool:
        return self.backoff.until > now


class LaunchQueue:
    """Entries by app id, in the order apps started waiting. Changed only through its methods."""

    def __init__(self) -> None:
        self.entries: dict[str, QueueEntry] = {}
        self._pending: set[str] = set()  # apps with a count above 0

    def entry(self, app_id: str) -> QueueEntry:
        found = self.entries.get(app_id)
        if found is None:
            found = self.entries[app_id] = QueueEntry(app_id)
        return found

    def set_count(self, app_id: str, count: int, *, wall: float, config_version: str) -> bool:
        """Record how many instances of the app wait; True when it went from none to some."""
        entry = self.entry(app_id)
        if entry.config_version != config_version:
            entry.config_version = config_version
            entry.backoff.reset()
        newly = entry.count == 0 and count > 0
        if newly:
            entry.since = wall
            entry.processed = entry.unused = 0
            entry.rejects.clear()
            entry.last_unused_offers.clear()
        entry.count = max(0, count)
        if entry.count:
            self._pending.add(app_id)
        else:
            self._pending.discard(app_id)
        return newly

    def waiting(self, now: float) -> list[QueueEntry]:
        """Entries with something to launch and no backoff in the way, oldest first."""
        entries = (self.entries[a] for a in self._pending)
        return sorted((e for e in entries if not e.delayed(now)), key=lambda e: (e.since, e.app_id))

    def pending(self) -> list[QueueEntry]:
        return sorted((self.entries[a] for a in self._pending), key=lambda e: (e.since, e.app_id))

    def any_waiting(self) -> bool:
        return bool(self._pending)

    def earliest_delay_end(self, now: float) -> float | None:
        ends = [e.backoff.until for a in self._pending if (e := self.entries[a]).backoff.until > now]
        return min(ends, default=None)

    def remove(self, app_id: str) -> None:
        self.entries.pop(app_id, None)
        self._pending.discard(app_id)

    def offer_used(self, app_id: str, wall: float) -> None:
        entry = self.entry(app_id)
        entry.processed += 1
        entry.last_used_at = wall

    def offer_unused(self, app_id: str, offer: UnusedOffer) -> None:
        entry = self.entry(app_id)
        entry.processed += 1
        entry.unused += 1
        entry.last_unused_at = offer.timestamp
        for reason in offer.reasons:
            entry.rejects[reason] += 1
        entry.last_unused_offers.append(offer)
