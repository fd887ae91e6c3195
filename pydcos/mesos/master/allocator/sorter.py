"""Incremental dominant-resource-fairness order. Pure.

A `DrfSorter` keeps its clients (roles, or the frameworks of one role) in ascending order of
weighted dominant share. Allocations are tracked as `Vec`s, integer thousandths of the four
scalars DRF looks at, so that adding and taking back the same amounts always returns a client to
exactly the same share: no float drift, and a from-scratch sort agrees with the incremental one.

>>> s = DrfSorter((4000, 4096000, 0, 0))
>>> s.add("web"); s.add("batch", weight=2.0)
>>> s.allocated("web", (1000, 0, 0, 0)); s.allocated("batch", (2000, 0, 0, 0))
>>> s.order(), s.share("web"), s.share("batch")
(['batch', 'web'], 0.25, 0.25)
"""

from __future__ import annotations

from bisect import bisect_left, insort

from pydcos.mesos.resources import Resources

# cpus, mem, disk, gpus in thousandths (Mesos's own fixed point): exact integer arithmetic.
Vec = tuple[int, int, int, int]
ZERO: Vec = (0, 0, 0, 0)
DRF_SCALARS = ("cpus", "mem", "disk", "gpus")

# (weighted share, client id): ties go to the smaller id, so the order never depends on history.
SortKey = tuple[float, str]


def vec_of(res: Resources) -> Vec:
    """The DRF scalars of `res` in thousandths.

    >>> vec_of(Resources.parse("cpus:0.5;mem:128;ports:[1-2]"))
    (500, 128000, 0, 0)
    """
    s = res.scalars
    return (
        round(s.get("cpus", 0.0) * 1000),
        round(s.get("mem", 0.0) * 1000),
        round(s.get("disk", 0.0) * 1000),
        round(s.get("gpus", 0.0) * 1000),
    )


def vec_add(a: Vec, b: Vec) -> Vec:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


def vec_sub(a: Vec, b: Vec) -> Vec:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3])


def dominant_share(alloc: Vec, total: Vec, weight: float = 1.0) -> float:
    """max over the scalars of allocated/total (kinds the cluster lacks are skipped), / weight.

    Division is correctly rounded, so equal ratios give equal floats whatever the kind.

    >>> dominant_share((1000, 512000, 0, 0), (4000, 1024000, 0, 0))
    0.5
    """
    # Unrolled: this runs twice per allocation, and the loop form cost a third of a round.
    c, m, d, g = total
    share = alloc[0] / c if c > 0 else 0.0
    if m > 0 and (x := alloc[1] / m) > share:
        share = x
    if d > 0 and (x := alloc[2] / d) > share:
        share = x
    if g > 0 and (x := alloc[3] / g) > share:
        share = x
    return share / weight if weight != 1.0 else share


class DrfSorter:
    """Clients in ascending (weighted dominant share, id) order; only active clients are ordered.

    Invariants (checked by `validate`): `_key[c] == (dominant_share(_alloc[c], _total, _weight[c]), c)`
    for every client, and `_order` is exactly the sorted keys of the active clients. Every
    mutator moves at most the one client it names, in O(log n) search plus a list shift; only
    `set_total` (an agent came or went) re-sorts everything.
    """

    __slots__ = ("_total", "_alloc", "_weight", "_key", "_active", "_order")

    def __init__(self, total: Vec = ZERO) -> None:
        self._total = total
        self._alloc: dict[str, Vec] = {}
        self._weight: dict[str, float] = {}
        self._key: dict[str, SortKey] = {}
        self._active: set[str] = set()
        # A plain sorted list: with hundreds of clients a bisect and a memmove beat a SortedList.
        self._order: list[SortKey] = []

    # --- membership ---------------------------------------------------------------------

    def __contains__(self, client: object) -> bool:
        return client in self._key

    def __len__(self) -> int:
        return len(self._key)

    def clients(self) -> list[str]:
        return list(self._key)

    def add(self, client: str, *, weight: float = 1.0, active: bool = True) -> None:
        if client in self._key:
            return
        self._alloc[client] = ZERO
        self._weight[client] = weight
        key = (0.0, client)
        self._key[client] = key
        if active:
            self._active.add(client)
            insort(self._order, key)

    def remove(self, client: str) -> None:
        key = self._key.pop(client, None)
        if key is None:
            return
        if client in self._active:
            self._active.discard(client)
            self._unlink(key)
        del self._alloc[client]
        del self._weight[client]

    def activate(self, client: str) -> None:
        if client in self._key and client not in self._active:
            self._active.add(client)
            insort(self._order, self._key[client])

    def deactivate(self, client: str) -> None:
        if client in self._active:
            self._active.discard(client)
            self._unlink(self._key[client])

    def is_active(self, client: str) -> bool:
        return client in self._active

    def has_active(self) -> bool:
        return bool(self._order)

    # --- allocations --------------------------------------------------------------------

    def allocated(self, client: str, delta: Vec) -> None:
        """Add `delta` (negative entries take back) to the client's allocation and move it."""
        old = self._alloc.get(client)
        if old is None:
            return
        alloc = (old[0] + delta[0], old[1] + delta[1], old[2] + delta[2], old[3] + delta[3])
        self._alloc[client] = alloc
        # The allocation loop's hot path: `_rekey` inlined (validate() checks the result).
        new = (dominant_share(alloc, self._total, self._weight[client]), client)
        old_key = self._key[client]
        if new != old_key:
            self._key[client] = new
            if client in self._active:
                order = self._order
                del order[bisect_left(order, old_key)]
                insort(order, new)

    def allocation(self, client: str) -> Vec:
        return self._alloc.get(client, ZERO)

    def set_weight(self, client: str, weight: float) -> None:
        if client in self._key and self._weight[client] != weight:
            self._weight[client] = weight
            self._rekey(client, dominant_share(self._alloc[client], self._total, weight))

    def weight(self, client: str) -> float:
        return self._weight.get(client, 1.0)

    def set_total(self, total: Vec) -> None:
        """The cluster changed size: every share changes, so re-key and re-sort once."""
        self._total = total
        self._key = {
            c: (dominant_share(a, total, self._weight[c]), c) for c, a in self._alloc.items()
        }
        self._order = sorted(self._key[c] for c in self._active)

    # --- reading ------------------------------------------------------------------------

    def share(self, client: str) -> float:
        key = self._key.get(client)
        return key[0] if key is not None else 0.0

    def key(self, client: str) -> SortKey:
        return self._key[client]

    def order(self) -> list[str]:
        """Active clients, lowest share first."""
        return [c for _, c in self._order]

    def ordered_keys(self) -> list[SortKey]:
        """The live sorted list, for the allocation loop: stop iterating once you mutate."""
        return self._order

    def validate(self) -> None:
        for c, alloc in self._alloc.items():
            expect = (dominant_share(alloc, self._total, self._weight[c]), c)
            assert self._key[c] == expect, f"stale sort key for {c}: {self._key[c]} != {expect}"
            assert min(alloc) >= 0, f"negative allocation for {c}: {alloc}"
        assert self._order == sorted(self._key[c] for c in self._active), "order out of date"

    # --- internals ----------------------------------------------------------------------

    def _rekey(self, client: str, share: float) -> None:
        old = self._key[client]
        new = (share, client)
        if new == old:
            return
        self._key[client] = new
        if client in self._active:
            self._unlink(old)
            insort(self._order, new)

    def _unlink(self, key: SortKey) -> None:
        order = self._order
        i = bisect_left(order, key)
        assert i < len(order) and order[i] == key, f"sort key {key} missing from the order"
        del order[i]
