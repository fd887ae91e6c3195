"""Sums of many tasks' resources, fast enough for 100,000 tasks. Pure.

Adding `Resources` values one by one re-normalises ranges and re-rounds scalars at every step;
these functions add everything in one pass and normalise once. `Usage` is a running sum that can
also give one task's resources back.

>>> a = {"*": Resources.parse("cpus:0.1;ports:[1-2]")}
>>> sum_role_resources([a, a])["*"].render()
'cpus:0.2;ports:[1-2]'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydcos.mesos.resources import Resources, RoleResources, Span


def sum_role_resources(parts: Iterable[RoleResources]) -> RoleResources:
    """The sum, role by role (what `add_roles` over all of them gives)."""
    roles: dict[str, tuple[dict[str, float], dict[str, list[Span]], dict[str, set[str]]]] = {}
    for role_resources in parts:
        for role, r in role_resources.items():
            bucket = roles.get(role)
            if bucket is None:
                bucket = roles[role] = ({}, {}, {})
            _accumulate(r, *bucket)
    out: RoleResources = {}
    for role, (scalars, spans, items) in roles.items():
        total = Resources.of(scalars, spans, items)
        if not total.is_empty():
            out[role] = total
    return out


def sum_resources(parts: Iterable[RoleResources]) -> Resources:
    """The sum across roles (what `flatten` of the sum gives)."""
    scalars: dict[str, float] = {}
    spans: dict[str, list[Span]] = {}
    items: dict[str, set[str]] = {}
    for role_resources in parts:
        for r in role_resources.values():
            _accumulate(r, scalars, spans, items)
    return Resources.of(scalars, spans, items)


def _accumulate(r: Resources, scalars: dict[str, float], spans: dict[str, list[Span]],
                items: dict[str, set[str]]) -> None:
    for name, value in r.scalars.items():
        scalars[name] = scalars.get(name, 0.0) + value
    for name, found in r.ranges.items():
        spans.setdefault(name, []).extend(found)
    for name, values in r.sets.items():
        items.setdefault(name, set()).update(values)


class Usage:
    """A running sum of many tasks' resources that can also give one back: scalars in thousandths
    (exact), ranges and set items counted, so one task's ports leaving keep another's. Flattened
    across roles, as the state endpoints show it.

    >>> u = Usage(); a = {"*": Resources.parse("cpus:0.1;ports:[1-2]")}
    >>> u.add(a); u.add(a); u.remove(a); u.total().render()
    'cpus:0.1;ports:[1-2]'
    """

    __slots__ = ("_scalars", "_spans", "_items")

    def __init__(self) -> None:
        self._scalars: Counter[str] = Counter()
        self._spans: Counter[tuple[str, Span]] = Counter()
        self._items: Counter[tuple[str, str]] = Counter()

    def add(self, resources: RoleResources, sign: int = 1) -> None:
        for r in resources.values():
            for name, value in r.scalars.items():
                self._scalars[name] += sign * round(value * 1000)
            for name, spans in r.ranges.items():
                for span in spans:
                    self._spans[(name, span)] += sign
            for name, values in r.sets.items():
                for item in values:
                    self._items[(name, item)] += sign

    def remove(self, resources: RoleResources) -> None:
        self.add(resources, -1)

    def total(self) -> Resources:
        spans: dict[str, list[Span]] = {}
        for (name, span), n in self._spans.items():
            if n > 0:
                spans.setdefault(name, []).append(span)
        items: dict[str, list[str]] = {}
        for (name, item), n in self._items.items():
            if n > 0:
                items.setdefault(name, []).append(item)
        return Resources.of({k: v / 1000 for k, v in self._scalars.items()}, spans, items)
