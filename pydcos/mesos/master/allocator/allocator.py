"""The hierarchical DRF allocator (Mesos 1.0 semantics), incremental. Pure: see the package docstring."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydcos.mesos.master.allocator.agents import (
    AgentState,
    clean,
    intersect_roles,
    vec_of_roles,
)
from pydcos.mesos.master.allocator.filters import Filters
from pydcos.mesos.master.allocator.role_tree import RoleTree
from pydcos.mesos.master.allocator.sorter import ZERO, Vec, dominant_share, vec_add, vec_sub
from pydcos.mesos.resources import Resources, RoleResources, add_roles, flatten, subtract_roles

UNRESERVED = "*"


@dataclass(frozen=True, slots=True)
class Allocation:
    """Everything `role` may take on one agent, allocated to one framework (one offer's worth).

    `resources` keeps the reservation role keys (`*` and/or `role`), so an offer shows each
    resource's `role` as Mesos does. The dict is the caller's: the allocator keeps its own copy.
    """

    framework_id: str
    agent_id: str
    resources: RoleResources
    role: str


class _Framework:
    __slots__ = ("id", "roles", "active", "suppressed", "filters", "agents")

    def __init__(self, framework_id: str, roles: tuple[str, ...], active: bool, suppressed: set[str]) -> None:
        self.id = framework_id
        self.roles = roles
        self.active = active
        self.suppressed = suppressed
        self.filters = Filters()
        self.agents: set[str] = set()  # where it holds something (offered or used)


def _clean_roles(roles: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(r for r in roles if r))
    return out or (UNRESERVED,)


def _valid_weight(weight: float) -> bool:
    return isinstance(weight, int | float) and math.isfinite(weight) and weight > 0


def _neg(v: Vec) -> Vec:
    return (-v[0], -v[1], -v[2], -v[3])


class Allocator:
    """Hierarchical DRF: roles by weighted dominant share, then frameworks within a role.

    Changed only through its methods. Invariants (checked by `validate`): no agent is
    over-committed (available + held + orphans == total on every agent); each sorter's
    allocations equal what the agents say is held; the role and framework orders equal a
    from-scratch sort. Unknown agent or framework ids are ignored, never raised.
    """

    def __init__(
        self,
        *,
        weights: Mapping[str, float] | None = None,
        min_cpus: float = 0.01,
        min_mem: float = 32.0,
    ) -> None:
        self._tree = RoleTree({r: float(w) for r, w in (weights or {}).items() if _valid_weight(w)})
        self._min_cpus = round(min_cpus * 1000)
        self._min_mem = round(min_mem * 1000)
        self._agents: dict[str, AgentState] = {}
        self._frameworks: dict[str, _Framework] = {}
        self._orphan_agents: dict[str, set[str]] = {}  # unknown framework -> agents holding orphans
        self._rotation = 0

    # --- agents -------------------------------------------------------------------------

    def add_agent(
        self,
        agent_id: str,
        total: Mapping[str, Resources],
        used: Mapping[str, Mapping[str, Resources]] | None = None,
    ) -> None:
        """Add an agent; `used` (framework id -> resources) is already in use by its tasks.

        Used resources of frameworks the allocator does not know yet are unavailable but count
        towards no share until `add_used` attributes them. What exceeds `total` is ignored.
        A known `agent_id` is ignored (remove it first to change its total).
        """
        if agent_id in self._agents:
            return
        agent = AgentState(agent_id, clean(total))
        self._agents[agent_id] = agent
        self._tree.set_total(vec_add(self._tree.total, vec_of_roles(agent.total)))
        for framework_id, resources in (used or {}).items():
            taken = agent.take(clean(resources))
            if not taken:
                continue
            fw = self._frameworks.get(framework_id)
            if fw is not None:
                self._attribute(agent, fw, taken, None)
            else:
                agent.orphans[framework_id] = add_roles(agent.orphans.get(framework_id, {}), taken)
                self._orphan_agents.setdefault(framework_id, set()).add(agent_id)

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        for framework_id, by_role in agent.held.items():
            fw = self._frameworks[framework_id]
            for role, res in by_role.items():
                self._tree.account(role, fw.id, _neg(vec_of_roles(res)))
            fw.agents.discard(agent_id)
            for role in list(by_role):
                self._maybe_leave(fw, role)
        for framework_id in agent.orphans:
            self._unindex_orphan(framework_id, agent_id)
        for fw in self._frameworks.values():
            fw.filters.drop_agent(agent_id)
        self._tree.set_total(vec_sub(self._tree.total, vec_of_roles(agent.total)))

    def activate_agent(self, agent_id: str) -> None:
        if (agent := self._agents.get(agent_id)) is not None:
            agent.active = True

    def deactivate_agent(self, agent_id: str) -> None:
        """Offer nothing more on this agent; its resources still count in the cluster total."""
        if (agent := self._agents.get(agent_id)) is not None:
            agent.active = False

    # --- frameworks ---------------------------------------------------------------------

    def add_framework(
        self,
        framework_id: str,
        roles: Sequence[str],
        *,
        active: bool = True,
        suppressed_roles: Sequence[str] = (),
    ) -> None:
        """Add a framework (no roles means `*`). A known id is updated in place instead."""
        fw = self._frameworks.get(framework_id)
        if fw is None:
            fw = _Framework(framework_id, (), active, set())
            self._frameworks[framework_id] = fw
        else:
            fw.active = active
        self._set_roles(fw, _clean_roles(roles))
        fw.suppressed = set(suppressed_roles) & set(fw.roles)
        self._sync(fw)

    def update_framework(self, framework_id: str, roles: Sequence[str]) -> None:
        """Change a framework's roles. What it holds under a dropped role stays counted there
        until recovered; suppression of dropped roles is forgotten."""
        if (fw := self._frameworks.get(framework_id)) is None:
            return
        self._set_roles(fw, _clean_roles(roles))
        fw.suppressed &= set(fw.roles)
        self._sync(fw)

    def remove_framework(self, framework_id: str) -> None:
        """Forget a framework and free everything it held (or had unattributed) on every agent."""
        fw = self._frameworks.get(framework_id)
        for agent_id in self._orphan_agents.pop(framework_id, set()):
            agent = self._agents[agent_id]
            agent.give_back(agent.orphans.pop(framework_id))
        if fw is None:
            return
        for agent_id in list(fw.agents):
            agent = self._agents[agent_id]
            for role, res in list(agent.held.get(framework_id, {}).items()):
                self._release_held(agent, fw, role, res)
        fw.roles = ()
        for role in [r for r in self._tree.frameworks if self._tree.has(r, framework_id)]:
            self._maybe_leave(fw, role)
        del self._frameworks[framework_id]

    def activate_framework(self, framework_id: str) -> None:
        if (fw := self._frameworks.get(framework_id)) is not None and not fw.active:
            fw.active = True
            self._sync(fw)

    def deactivate_framework(self, framework_id: str) -> None:
        """No offers until re-activated; what it holds still counts, and its filters are kept."""
        if (fw := self._frameworks.get(framework_id)) is not None and fw.active:
            fw.active = False
            self._sync(fw)

    def suppress(self, framework_id: str, roles: Sequence[str] | None = None) -> None:
        """Stop offers to the framework for `roles` (all of its roles when None)."""
        if (fw := self._frameworks.get(framework_id)) is None:
            return
        fw.suppressed |= set(fw.roles if roles is None else roles) & set(fw.roles)
        self._sync(fw)

    def revive(self, framework_id: str, roles: Sequence[str] | None = None) -> None:
        """Clear all of the framework's filters and un-suppress `roles` (all when None)."""
        if (fw := self._frameworks.get(framework_id)) is None:
            return
        fw.filters.clear()
        fw.suppressed -= set(fw.roles if roles is None else roles)
        self._sync(fw)

    def update_weights(self, weights: Mapping[str, float]) -> None:
        """Set role weights (missing roles keep theirs; non-positive or non-finite are ignored)."""
        for role, weight in weights.items():
            if _valid_weight(weight):
                self._tree.set_weight(role, float(weight))

    # --- resources ----------------------------------------------------------------------

    def add_used(
        self,
        agent_id: str,
        framework_id: str,
        resources: Mapping[str, Resources],
        *,
        role: str | None = None,
    ) -> None:
        """Count `resources` as held by the framework (tasks it runs there), under `role`.

        Resources the agent reported as used by this framework before it was known are
        attributed first; the rest is taken from what is available (anything beyond is ignored).
        Without `role`, reserved resources go to their own role when the framework has it and
        everything else to the framework's first role.
        """
        agent = self._agents.get(agent_id)
        fw = self._frameworks.get(framework_id)
        if agent is None or fw is None:
            return
        want = clean(resources)
        orphans = agent.orphans.get(framework_id)
        if orphans:
            adopted = intersect_roles(orphans, want)
            left = subtract_roles(orphans, adopted)
            if left:
                agent.orphans[framework_id] = left
            else:
                del agent.orphans[framework_id]
                self._unindex_orphan(framework_id, agent_id)
            self._attribute(agent, fw, adopted, role)
            want = subtract_roles(want, adopted)
        if want:
            self._attribute(agent, fw, agent.take(want), role)

    def recover(
        self,
        agent_id: str,
        framework_id: str,
        resources: Mapping[str, Resources],
        *,
        refuse_seconds: float | None = None,
        now: float = 0.0,
        role: str | None = None,
    ) -> None:
        """Give back resources the framework held on the agent (declined, rescinded, task ended).

        Only what it actually held is freed, so recovering twice cannot over-free. With
        `refuse_seconds > 0` the framework is also filtered from `resources` on this agent
        until `now + refuse_seconds`. `role` says which of its roles the resources were
        allocated under (multi-role frameworks); without it, the role holding them is found.
        """
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        want = clean(resources)
        fw = self._frameworks.get(framework_id)
        if fw is not None and want:
            held = agent.held.get(framework_id, {})
            rank = {r: i for i, r in enumerate(fw.roles)}
            for alloc_role in sorted(
                held, key=lambda r: (r != role, r not in want, rank.get(r, len(rank)), r)
            ):
                part = intersect_roles(held[alloc_role], want)
                if part:
                    self._release_held(agent, fw, alloc_role, part)
                    want = subtract_roles(want, part)
                    if not want:
                        break
        orphans = agent.orphans.get(framework_id)
        if orphans and want:
            part = intersect_roles(orphans, want)
            left = subtract_roles(orphans, part)
            if left:
                agent.orphans[framework_id] = left
            else:
                del agent.orphans[framework_id]
                self._unindex_orphan(framework_id, agent_id)
            agent.give_back(part)
        if refuse_seconds is not None:
            self.add_filter(agent_id, framework_id, resources, refuse_seconds, now)

    def add_filter(
        self,
        agent_id: str,
        framework_id: str,
        resources: Mapping[str, Resources],
        refuse_seconds: float,
        now: float,
    ) -> None:
        """Offer the framework nothing contained in `resources` on the agent until `now + refuse_seconds`.

        Zero, negative or NaN `refuse_seconds` make no filter (Mesos skips zero-second filters).
        """
        fw = self._frameworks.get(framework_id)
        if fw is None or agent_id not in self._agents or not refuse_seconds > 0:
            return
        fw.filters.add(agent_id, resources, now + refuse_seconds)

    def expire_filters(self, now: float) -> None:
        """Drop expired filters everywhere (they are also dropped lazily when looked at)."""
        for fw in self._frameworks.values():
            fw.filters.expire(now)

    # --- allocation ---------------------------------------------------------------------

    def allocate(self, now: float, agent_ids: Iterable[str] | None = None) -> list[Allocation]:
        """One allocation round over `agent_ids` (in that order), or over every agent.

        Every agent: a rotating start so no agent is always first. On each agent, roles go in
        ascending weighted share and the first eligible framework of a role gets everything the
        role may take there (`*` plus the role's reservation); then the next role.
        """
        self._tree.refresh()
        agents = self._agents
        if agent_ids is None:
            ids = list(agents)
            if ids:
                k = self._rotation % len(ids)
                self._rotation += 1
                ids = ids[k:] + ids[:k]
        else:
            ids = [a for a in dict.fromkeys(agent_ids) if a in agents]
        out: list[Allocation] = []
        min_cpus, min_mem = self._min_cpus, self._min_mem
        roles = self._tree.roles
        role_keys = roles.ordered_keys()
        offer = self._offer
        for agent_id in ids:
            agent = agents[agent_id]
            avail = agent.available
            if not avail or not agent.active or not role_keys:
                continue
            star = agent.avail_vec.get(UNRESERVED)
            if star is not None and (star[0] >= min_cpus or star[1] >= min_mem):
                for _, role in role_keys:
                    # `offer` re-sorts `role_keys` when it allocates: stop iterating right away.
                    if offer(agent, role, now, out):
                        break
            if not avail or (len(avail) == 1 and UNRESERVED in avail):
                continue
            # Reservations left: their roles in order (a role seen above cannot take them
            # now: whatever refused `*` plus a reservation also refuses the reservation alone).
            for _, role in sorted(
                roles.key(r) for r in avail if r != UNRESERVED and roles.is_active(r)
            ):
                offer(agent, role, now, out)
        return out

    def _offer(self, agent: AgentState, role: str, now: float, out: list[Allocation]) -> bool:
        """Give everything `role` may take on `agent` to its first eligible framework."""
        avail = agent.available
        vecs = agent.avail_vec
        sv = vecs.get(UNRESERVED)
        mv = None if role == UNRESERVED else vecs.get(role)
        if mv is None:
            if sv is None:
                return False
            v = sv
            offered = {UNRESERVED: avail[UNRESERVED]}
        elif sv is None:
            v = mv
            offered = {role: avail[role]}
        else:
            v = (sv[0] + mv[0], sv[1] + mv[1], sv[2] + mv[2], sv[3] + mv[3])
            offered = {UNRESERVED: avail[UNRESERVED], role: avail[role]}
        if v[0] < self._min_cpus and v[1] < self._min_mem:
            return False
        sorter = self._tree.frameworks[role]
        frameworks = self._frameworks
        agent_id = agent.id
        for _, framework_id in sorter.ordered_keys():
            fw = frameworks[framework_id]
            if fw.filters and fw.filters.refuses(agent_id, offered, now):
                continue
            for key in offered:
                del avail[key]
                del vecs[key]
            held = agent.held.get(framework_id)
            if held is None:  # the common case, `agent.hold` inlined
                agent.held[framework_id] = {role: dict(offered)}
                fw.agents.add(agent_id)
            else:
                agent.hold(framework_id, role, offered)
            sorter.allocated(framework_id, v)
            self._tree.roles.allocated(role, v)
            out.append(Allocation(framework_id, agent_id, offered, role))
            return True
        return False

    # --- reading ------------------------------------------------------------------------

    def framework_share(self, framework_id: str, role: str | None = None) -> float:
        """Dominant share of what the framework holds (under `role`, or under all its roles)."""
        self._tree.refresh()
        if role is not None:
            return self._tree.framework_share(role, framework_id)
        return dominant_share(self._tree.framework_allocation(framework_id), self._tree.total)

    def role_share(self, role: str) -> float:
        """The role's dominant share divided by its weight: the key roles are sorted by."""
        self._tree.refresh()
        return self._tree.role_share(role)

    def role_order(self) -> list[str]:
        """Roles that have an offerable framework, in the order they are served."""
        self._tree.refresh()
        return self._tree.role_order()

    def framework_order(self, role: str) -> list[str]:
        """Offerable frameworks of `role`, in the order they are served."""
        self._tree.refresh()
        return self._tree.framework_order(role)

    def allocated(self, framework_id: str) -> dict[str, RoleResources]:
        """agent id -> what the framework holds there (offered or used), by reservation role."""
        fw = self._frameworks.get(framework_id)
        if fw is None:
            return {}
        return {a: self._agents[a].holds(framework_id) for a in sorted(fw.agents)}

    def available(self, agent_id: str) -> RoleResources:
        agent = self._agents.get(agent_id)
        return dict(agent.available) if agent is not None else {}

    def total(self) -> Resources:
        """The cluster total, every agent's reserved and unreserved resources together."""
        return flatten({a.id: flatten(a.total) for a in self._agents.values()})

    def weight(self, role: str) -> float:
        return self._tree.weight(role)

    def validate(self) -> None:
        """Check every invariant; raises AssertionError naming the first one broken."""
        self._tree.refresh()
        total = ZERO
        expect: dict[tuple[str, str], Vec] = {}
        for agent in self._agents.values():
            agent.validate()
            total = vec_add(total, vec_of_roles(agent.total))
            for framework_id, by_role in agent.held.items():
                assert agent.id in self._frameworks[framework_id].agents, f"{framework_id} misses {agent.id}"
                for role, res in by_role.items():
                    key = (role, framework_id)
                    expect[key] = vec_add(expect.get(key, ZERO), vec_of_roles(res))
            for framework_id in agent.orphans:
                assert agent.id in self._orphan_agents[framework_id], f"orphan index misses {agent.id}"
        assert total == self._tree.total, f"cluster total {self._tree.total} != sum of agents {total}"
        offerable: dict[tuple[str, str], bool] = {}
        for fw in self._frameworks.values():
            assert all(fw.id in self._agents[a].held for a in fw.agents), f"{fw.id} lists stale agents"
            for role in fw.roles:
                expect.setdefault((role, fw.id), ZERO)
                offerable[(role, fw.id)] = fw.active and role not in fw.suppressed
        self._tree.validate(expect, offerable)

    # --- internals ----------------------------------------------------------------------

    def _set_roles(self, fw: _Framework, roles: tuple[str, ...]) -> None:
        old = fw.roles
        fw.roles = roles
        for role in roles:
            if role not in old and not self._tree.has(role, fw.id):
                self._tree.join(role, fw.id)
        for role in old:
            if role not in roles:
                self._tree.set_offerable(role, fw.id, False)
                self._maybe_leave(fw, role)

    def _sync(self, fw: _Framework) -> None:
        """Make the tree match the framework: offerable iff active and not suppressed."""
        for role in fw.roles:
            self._tree.set_offerable(role, fw.id, fw.active and role not in fw.suppressed)

    def _maybe_leave(self, fw: _Framework, role: str) -> None:
        """Forget (role, fw) once the role is not the framework's and nothing is held under it."""
        if role in fw.roles or not self._tree.has(role, fw.id):
            return
        if any(role in self._agents[a].held.get(fw.id, {}) for a in fw.agents):
            return
        self._tree.leave(role, fw.id)

    def _attribute(
        self, agent: AgentState, fw: _Framework, resources: RoleResources, role: str | None
    ) -> None:
        """Record `resources` (already out of `available`) as held by `fw`."""
        by_role: dict[str, RoleResources] = {}
        for key, res in resources.items():
            if role is not None and role in fw.roles:
                alloc_role = role
            else:
                alloc_role = key if key != UNRESERVED and key in fw.roles else fw.roles[0]
            by_role.setdefault(alloc_role, {})[key] = res
        for alloc_role, part in by_role.items():
            agent.hold(fw.id, alloc_role, part)
            fw.agents.add(agent.id)
            self._tree.account(alloc_role, fw.id, vec_of_roles(part))

    def _release_held(self, agent: AgentState, fw: _Framework, role: str, part: RoleResources) -> None:
        """Free `part` (held by `fw` under `role` on `agent`) back to the agent."""
        agent.unhold(fw.id, role, part)
        agent.give_back(part)
        self._tree.account(role, fw.id, _neg(vec_of_roles(part)))
        if fw.id not in agent.held:
            fw.agents.discard(agent.id)
        if role not in fw.roles:
            self._maybe_leave(fw, role)

    def _unindex_orphan(self, framework_id: str, agent_id: str) -> None:
        agents = self._orphan_agents.get(framework_id)
        if agents is not None:
            agents.discard(agent_id)
            if not agents:
                del self._orphan_agents[framework_id]
