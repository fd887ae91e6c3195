"""A naive allocator with the same semantics, for property tests: nothing incremental.

Every share is computed from the holdings on every use, available resources are total minus
holdings on every use, and each agent re-sorts every role and framework from scratch (the Mesos
1.0 loop: a snapshot of the role order per agent). Slow and obviously right is the point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydcos.mesos.master.allocator import Allocation, dominant_share, vec_of
from pydcos.mesos.master.allocator.sorter import ZERO, Vec, vec_add
from pydcos.mesos.resources import EMPTY, Resources, RoleResources, add_roles, contains_roles, subtract_roles


def _clean(r: Mapping[str, Resources]) -> RoleResources:
    return {k: v for k, v in r.items() if not v.is_empty()}


def _common(a: Mapping[str, Resources], b: Mapping[str, Resources]) -> RoleResources:
    return _clean({k: a[k] - (a[k] - v) for k, v in b.items() if k in a})


def _vec(r: Mapping[str, Resources]) -> Vec:
    v = ZERO
    for x in r.values():
        v = vec_add(v, vec_of(x))
    return v


@dataclass
class RefFramework:
    roles: tuple[str, ...]
    active: bool = True
    suppressed: set[str] = field(default_factory=set)
    filters: list[tuple[str, RoleResources, float]] = field(default_factory=list)  # agent, res, expiry


@dataclass
class RefAgent:
    total: RoleResources
    active: bool = True


class ReferenceAllocator:
    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = dict(weights or {})
        self.agents: dict[str, RefAgent] = {}
        self.frameworks: dict[str, RefFramework] = {}
        # (agent, framework, allocation role) -> resources; framework may be unknown (role "")
        self.held: dict[tuple[str, str, str], RoleResources] = {}
        self.rotation = 0

    # --- derived, from scratch ----------------------------------------------------------

    def total(self) -> Vec:
        v = ZERO
        for a in self.agents.values():
            v = vec_add(v, _vec(a.total))
        return v

    def available(self, agent_id: str) -> RoleResources:
        avail = dict(self.agents[agent_id].total)
        for (a, _, _), res in self.held.items():
            if a == agent_id:
                avail = subtract_roles(avail, res)
        return _clean(avail)

    def alloc_vec(self, role: str, framework_id: str | None = None) -> Vec:
        v = ZERO
        for (_, f, r), res in self.held.items():
            if r == role and f in self.frameworks and (framework_id is None or f == framework_id):
                v = vec_add(v, _vec(res))
        return v

    def role_share(self, role: str) -> float:
        return dominant_share(self.alloc_vec(role), self.total(), self.weights.get(role, 1.0))

    def framework_share(self, role: str, framework_id: str) -> float:
        return dominant_share(self.alloc_vec(role, framework_id), self.total())

    def offerable(self, role: str) -> list[str]:
        return [
            f for f, fw in self.frameworks.items() if fw.active and role in fw.roles and role not in fw.suppressed
        ]

    def role_order(self) -> list[str]:
        roles = {r for fw in self.frameworks.values() for r in fw.roles if self.offerable(r)}
        return sorted(roles, key=lambda r: (self.role_share(r), r))

    def framework_order(self, role: str) -> list[str]:
        return sorted(self.offerable(role), key=lambda f: (self.framework_share(role, f), f))

    # --- operations ---------------------------------------------------------------------

    def add_agent(self, agent_id: str, total: RoleResources, used: Mapping[str, RoleResources]) -> None:
        if agent_id in self.agents:
            return
        self.agents[agent_id] = RefAgent(_clean(total))
        for f, res in used.items():
            taken = _common(self.available(agent_id), res)
            if taken:
                if f in self.frameworks:
                    self._attribute(agent_id, f, taken, None)
                else:
                    self._hold(agent_id, f, "", taken)

    def remove_agent(self, agent_id: str) -> None:
        if self.agents.pop(agent_id, None) is None:
            return
        self.held = {k: v for k, v in self.held.items() if k[0] != agent_id}
        for fw in self.frameworks.values():
            fw.filters = [x for x in fw.filters if x[0] != agent_id]

    def add_framework(self, f: str, roles: Sequence[str], active: bool, suppressed: Sequence[str]) -> None:
        clean_roles = tuple(dict.fromkeys(r for r in roles if r)) or ("*",)
        fw = self.frameworks.get(f)
        if fw is None:
            fw = self.frameworks[f] = RefFramework(clean_roles)
        fw.roles = clean_roles
        fw.active = active
        fw.suppressed = set(suppressed) & set(clean_roles)

    def update_framework(self, f: str, roles: Sequence[str]) -> None:
        if (fw := self.frameworks.get(f)) is not None:
            self.add_framework(f, roles, fw.active, sorted(fw.suppressed))

    def set_framework_active(self, f: str, active: bool) -> None:
        if (fw := self.frameworks.get(f)) is not None:
            fw.active = active

    def set_agent_active(self, agent_id: str, active: bool) -> None:
        if (agent := self.agents.get(agent_id)) is not None:
            agent.active = active

    def remove_framework(self, f: str) -> None:
        self.frameworks.pop(f, None)
        self.held = {k: v for k, v in self.held.items() if k[1] != f}

    def add_used(self, agent_id: str, f: str, res: RoleResources, role: str | None) -> None:
        if agent_id not in self.agents or f not in self.frameworks:
            return
        want = _clean(res)
        orphans = self.held.get((agent_id, f, ""), {})
        adopted = _common(orphans, want)
        if adopted:
            self._unhold(agent_id, f, "", adopted)
            self._attribute(agent_id, f, adopted, role)
            want = subtract_roles(want, adopted)
        taken = _common(self.available(agent_id), want)
        if taken:
            self._attribute(agent_id, f, taken, role)

    def recover(self, agent_id: str, f: str, res: RoleResources, refuse: float | None, now: float,
                role: str | None) -> None:
        if agent_id not in self.agents:
            return
        want = _clean(res)
        fw = self.frameworks.get(f)
        if fw is not None:
            held_roles = [r for (a, g, r) in self.held if a == agent_id and g == f and r != ""]
            rank = {r: i for i, r in enumerate(fw.roles)}
            for r in sorted(held_roles, key=lambda r: (r != role, r not in want, rank.get(r, len(rank)), r)):
                part = _common(self.held[(agent_id, f, r)], want)
                if part:
                    self._unhold(agent_id, f, r, part)
                    want = subtract_roles(want, part)
        orphans = self.held.get((agent_id, f, ""))
        if orphans and want:
            self._unhold(agent_id, f, "", _common(orphans, want))
        if fw is not None and refuse is not None and refuse > 0:
            fw.filters.append((agent_id, _clean(res), now + refuse))

    def revive(self, f: str, roles: Sequence[str] | None) -> None:
        if (fw := self.frameworks.get(f)) is not None:
            fw.filters = []
            fw.suppressed -= set(fw.roles if roles is None else roles)

    def suppress(self, f: str, roles: Sequence[str] | None) -> None:
        if (fw := self.frameworks.get(f)) is not None:
            fw.suppressed |= set(fw.roles if roles is None else roles) & set(fw.roles)

    def allocate(self, now: float, agent_ids: Iterable[str] | None) -> list[Allocation]:
        if agent_ids is None:
            ids = list(self.agents)
            if ids:
                k = self.rotation % len(ids)
                self.rotation += 1
                ids = ids[k:] + ids[:k]
        else:
            ids = [a for a in dict.fromkeys(agent_ids) if a in self.agents]
        out: list[Allocation] = []
        for agent_id in ids:
            if not self.agents[agent_id].active:
                continue
            for role in self.role_order():  # a snapshot per agent, as Mesos 1.0 takes
                avail = self.available(agent_id)
                offer = {k: v for k, v in avail.items() if k == "*" or k == role}
                flat = _flat(offer)
                if not offer or (flat.scalar("cpus") < 0.01 and flat.scalar("mem") < 32):
                    continue
                for f in self.framework_order(role):
                    if any(a == agent_id and now < exp and contains_roles(r, offer)
                           for a, r, exp in self.frameworks[f].filters):
                        continue
                    self._hold(agent_id, f, role, offer)
                    out.append(Allocation(f, agent_id, offer, role))
                    break
        return out

    # --- holdings -----------------------------------------------------------------------

    def _attribute(self, agent_id: str, f: str, res: RoleResources, role: str | None) -> None:
        roles = self.frameworks[f].roles
        for k, x in res.items():
            r = role if role is not None and role in roles else (k if k != "*" and k in roles else roles[0])
            self._hold(agent_id, f, r, {k: x})

    def _hold(self, agent_id: str, f: str, role: str, res: RoleResources) -> None:
        key = (agent_id, f, role)
        self.held[key] = add_roles(self.held.get(key, {}), res)

    def _unhold(self, agent_id: str, f: str, role: str, res: RoleResources) -> None:
        key = (agent_id, f, role)
        left = _clean(subtract_roles(self.held[key], res))
        if left:
            self.held[key] = left
        else:
            del self.held[key]


def _flat(r: Mapping[str, Resources]) -> Resources:
    out = EMPTY
    for x in r.values():
        out = out + x
    return out
