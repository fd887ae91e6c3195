"""Offer filters: what a framework declined, per agent, until when. Pure.

A framework that declines (or returns) resources with `refuse_seconds` is not offered, on that
agent, anything contained in what it declined until the filter expires: Mesos's
`RefusedOfferFilter`. Time is an argument; a filter is expired once `now >= expiry`, and expired
filters are dropped when they are next looked at.

>>> from pydcos.mesos.resources import Resources
>>> f = Filters()
>>> f.add("a1", {"*": Resources.parse("cpus:4;mem:1024")}, expiry=5.0)
>>> f.refuses("a1", {"*": Resources.parse("cpus:2;mem:512")}, now=1.0)
True
>>> f.refuses("a1", {"*": Resources.parse("cpus:8;mem:512")}, now=1.0)
False
>>> f.refuses("a1", {"*": Resources.parse("cpus:2;mem:512")}, now=5.0), len(f)
(False, 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydcos.mesos.resources import Resources, RoleResources, contains_roles


@dataclass(frozen=True, slots=True)
class OfferFilter:
    resources: RoleResources
    expiry: float


class Filters:
    """One framework's filters, by agent id. Invariant: no agent maps to an empty list."""

    __slots__ = ("_by_agent",)

    def __init__(self) -> None:
        self._by_agent: dict[str, list[OfferFilter]] = {}

    def __len__(self) -> int:
        return sum(len(fs) for fs in self._by_agent.values())

    def __bool__(self) -> bool:
        return bool(self._by_agent)

    def add(self, agent_id: str, resources: Mapping[str, Resources], expiry: float) -> None:
        kept = {role: r for role, r in resources.items() if not r.is_empty()}
        self._by_agent.setdefault(agent_id, []).append(OfferFilter(kept, expiry))

    def refuses(self, agent_id: str, offer: Mapping[str, Resources], now: float) -> bool:
        """Whether a live filter on `agent_id` contains all of `offer`; drops expired ones."""
        filters = self._by_agent.get(agent_id)
        if filters is None:
            return False
        live = [f for f in filters if now < f.expiry]
        if len(live) != len(filters):
            if live:
                self._by_agent[agent_id] = live
            else:
                del self._by_agent[agent_id]
        return any(contains_roles(f.resources, offer) for f in live)

    def drop_agent(self, agent_id: str) -> None:
        self._by_agent.pop(agent_id, None)

    def clear(self) -> None:
        self._by_agent.clear()

    def expire(self, now: float) -> None:
        """Drop every filter expired at `now` (bounds memory for agents never offered again)."""
        for agent_id in list(self._by_agent):
            live = [f for f in self._by_agent[agent_id] if now < f.expiry]
            if live:
                self._by_agent[agent_id] = live
            else:
                del self._by_agent[agent_id]
