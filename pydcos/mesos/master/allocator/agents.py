"""One agent's books for the allocator: total, available, and who holds what. Pure.

Invariant (checked by `validate`): `total == available + sum(held) + sum(orphans)`, role by role,
and `avail_vec[role] == vec_of(available[role])` for every role key. `held` is what known
frameworks hold (offered or used), by framework and by the framework role it was allocated
under; `orphans` is what an agent reported in use by frameworks the allocator does not know yet
(agent re-registration after a master failover): it is not available, but counts towards no share.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydcos.mesos.master.allocator.sorter import ZERO, Vec, vec_add, vec_of
from pydcos.mesos.resources import EMPTY, Resources, RoleResources, add_roles, subtract_roles


def clean(resources: Mapping[str, Resources]) -> RoleResources:
    """A fresh dict without empty entries."""
    return {role: r for role, r in resources.items() if not r.is_empty()}


def intersect(a: Resources, b: Resources) -> Resources:
    """What `a` and `b` have in common: the minimum of each scalar, shared ranges and items.

    >>> intersect(Resources.parse("cpus:4;ports:[1-10]"), Resources.parse("cpus:1;ports:[5-20]")).render()
    'cpus:1;ports:[5-10]'
    """
    if a.contains(b):  # the usual case (what a task held is given back), without two subtractions
        return b
    return a - (a - b)


def intersect_roles(a: Mapping[str, Resources], b: Mapping[str, Resources]) -> RoleResources:
    out: RoleResources = {}
    for role, res in b.items():
        have = a.get(role)
        if have is not None and not (common := intersect(have, res)).is_empty():
            out[role] = common
    return out


def vec_of_roles(resources: Mapping[str, Resources]) -> Vec:
    total = ZERO
    for res in resources.values():
        total = vec_add(total, vec_of(res))
    return total


def equal_roles(a: Mapping[str, Resources], b: Mapping[str, Resources]) -> bool:
    for role in set(a) | set(b):
        x, y = a.get(role, EMPTY), b.get(role, EMPTY)
        if not (x.contains(y) and y.contains(x)):
            return False
    return True


class AgentState:
    """Mutated only by the `Allocator` that owns it."""

    __slots__ = ("id", "total", "available", "avail_vec", "held", "orphans", "active")

    def __init__(self, agent_id: str, total: RoleResources) -> None:
        self.id = agent_id
        self.total = total
        self.available: RoleResources = dict(total)
        self.avail_vec: dict[str, Vec] = {role: vec_of(r) for role, r in total.items()}
        self.held: dict[str, dict[str, RoleResources]] = {}   # framework -> allocation role -> resources
        self.orphans: dict[str, RoleResources] = {}           # unknown framework -> resources
        self.active = True

    def take(self, want: Mapping[str, Resources]) -> RoleResources:
        """Remove from `available` what it has of `want`; returns what was taken."""
        taken = intersect_roles(self.available, want)
        for role, res in taken.items():
            self._set(role, self.available[role] - res)
        return taken

    def give_back(self, resources: Mapping[str, Resources]) -> None:
        for role, res in resources.items():
            have = self.available.get(role)
            self._set(role, res if have is None else have + res)

    def hold(self, framework_id: str, role: str, resources: RoleResources) -> None:
        by_role = self.held.setdefault(framework_id, {})
        prev = by_role.get(role)
        by_role[role] = dict(resources) if prev is None else add_roles(prev, resources)

    def unhold(self, framework_id: str, role: str, resources: Mapping[str, Resources]) -> None:
        by_role = self.held[framework_id]
        left = subtract_roles(by_role[role], resources)
        if left:
            by_role[role] = left
        else:
            del by_role[role]
            if not by_role:
                del self.held[framework_id]

    def holds(self, framework_id: str) -> RoleResources:
        out: RoleResources = {}
        for res in self.held.get(framework_id, {}).values():
            out = add_roles(out, res)
        return out

    def validate(self) -> None:
        accounted = dict(self.available)
        for by_role in self.held.values():
            for part in by_role.values():
                accounted = add_roles(accounted, part)
        for part in self.orphans.values():
            accounted = add_roles(accounted, part)
        assert equal_roles(accounted, self.total), (
            f"agent {self.id}: available + allocated {accounted} != total {self.total}"
        )
        assert set(self.avail_vec) == set(self.available), f"agent {self.id}: vec keys out of date"
        for role, res in self.available.items():
            assert not res.is_empty(), f"agent {self.id}: empty available entry for {role}"
            assert self.avail_vec[role] == vec_of(res), f"agent {self.id}: stale vec for {role}"

    def _set(self, role: str, res: Resources) -> None:
        if res.is_empty():
            self.available.pop(role, None)
            self.avail_vec.pop(role, None)
        else:
            self.available[role] = res
            self.avail_vec[role] = vec_of(res)
