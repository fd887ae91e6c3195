"""The two DRF levels: roles by weighted share, and each role's frameworks by their share in it. Pure.

A (role, framework) pair is a *client*: it exists while the framework has the role or still
holds something allocated under it, and it is *offerable* while the framework is active and has
not suppressed the role. A role is in the role order while it has an offerable client, and
exists while it has any client. The cluster total is shared by every sorter; a change marks
them stale and `refresh` re-sorts them once (agents come and go in bursts at start-up).

>>> t = RoleTree({"web": 2.0})
>>> t.set_total((4000, 4096000, 0, 0)); t.refresh()
>>> t.join("web", "f1"); t.set_offerable("web", "f1", True)
>>> t.join("batch", "f2"); t.set_offerable("batch", "f2", True)
>>> t.account("web", "f1", (2000, 0, 0, 0)); t.account("batch", "f2", (1000, 0, 0, 0))
>>> t.role_order(), t.role_share("web"), t.role_share("batch")
(['batch', 'web'], 0.25, 0.25)
"""

from __future__ import annotations

from collections.abc import Mapping

from pydcos.mesos.master.allocator.sorter import ZERO, DrfSorter, SortKey, Vec, vec_add


class RoleTree:
    """Invariant (checked by `validate`): a role's allocation in the role sorter is the sum of its
    clients' allocations, and a role is active there iff its framework sorter has an active client."""

    __slots__ = ("roles", "frameworks", "_weights", "_total", "_stale")

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.roles = DrfSorter()                       # role -> weighted share of its clients
        self.frameworks: dict[str, DrfSorter] = {}     # role -> its clients, by share in the role
        self._weights = dict(weights or {})
        self._total: Vec = ZERO
        self._stale = False

    # --- the cluster --------------------------------------------------------------------

    @property
    def total(self) -> Vec:
        return self._total

    def set_total(self, total: Vec) -> None:
        if total != self._total:
            self._total = total
            self._stale = True

    def refresh(self) -> None:
        """Re-sort everything if the total changed since the last call; cheap otherwise."""
        if self._stale:
            self._stale = False
            self.roles.set_total(self._total)
            for sorter in self.frameworks.values():
                sorter.set_total(self._total)

    def weight(self, role: str) -> float:
        return self._weights.get(role, 1.0)

    def set_weight(self, role: str, weight: float) -> None:
        self._weights[role] = weight
        self.roles.set_weight(role, weight)

    # --- clients ------------------------------------------------------------------------

    def has(self, role: str, framework_id: str) -> bool:
        sorter = self.frameworks.get(role)
        return sorter is not None and framework_id in sorter

    def join(self, role: str, framework_id: str) -> None:
        """Add the client, not offerable yet (creating the role if new)."""
        sorter = self.frameworks.get(role)
        if sorter is None:
            sorter = self.frameworks[role] = DrfSorter(self._total)
            self.roles.add(role, weight=self.weight(role), active=False)
        sorter.add(framework_id, active=False)

    def leave(self, role: str, framework_id: str) -> None:
        """Remove a client that holds nothing (dropping the role with its last client)."""
        sorter = self.frameworks.get(role)
        if sorter is None or framework_id not in sorter:
            return
        assert sorter.allocation(framework_id) == ZERO, f"{framework_id} leaves {role} holding resources"
        sorter.remove(framework_id)
        if len(sorter) == 0:
            del self.frameworks[role]
            self.roles.remove(role)
        else:
            self._sync_role(role, sorter)

    def set_offerable(self, role: str, framework_id: str, offerable: bool) -> None:
        sorter = self.frameworks.get(role)
        if sorter is None:
            return
        if offerable:
            sorter.activate(framework_id)
        else:
            sorter.deactivate(framework_id)
        self._sync_role(role, sorter)

    def account(self, role: str, framework_id: str, delta: Vec) -> None:
        """The client got (positive) or gave back (negative) `delta`: move it and its role."""
        self.frameworks[role].allocated(framework_id, delta)
        self.roles.allocated(role, delta)

    # --- reading ------------------------------------------------------------------------

    def role_keys(self) -> list[SortKey]:
        """The live role order (offerable roles only): stop iterating once you `account`."""
        return self.roles.ordered_keys()

    def role_order(self) -> list[str]:
        return self.roles.order()

    def role_share(self, role: str) -> float:
        return self.roles.share(role)

    def framework_order(self, role: str) -> list[str]:
        sorter = self.frameworks.get(role)
        return sorter.order() if sorter is not None else []

    def framework_share(self, role: str, framework_id: str) -> float:
        sorter = self.frameworks.get(role)
        return sorter.share(framework_id) if sorter is not None else 0.0

    def framework_allocation(self, framework_id: str) -> Vec:
        """What the framework holds under all of its roles together."""
        total = ZERO
        for sorter in self.frameworks.values():
            total = vec_add(total, sorter.allocation(framework_id))
        return total

    def validate(self, expect: Mapping[tuple[str, str], Vec], offerable: Mapping[tuple[str, str], bool]) -> None:
        """`expect`: (role, framework) -> allocation, for every client that should exist."""
        assert not self._stale, "validate after refresh"
        assert set(self.roles.clients()) == set(self.frameworks), "role sorter and framework sorters differ"
        self.roles.validate()
        for role, sorter in self.frameworks.items():
            sorter.validate()
            clients = sorted(sorter.clients())
            assert clients == sorted(f for r, f in expect if r == role), f"clients of {role}: {clients}"
            role_alloc = ZERO
            for framework_id in clients:
                alloc = expect[(role, framework_id)]
                assert sorter.allocation(framework_id) == alloc, f"allocation of {framework_id} in {role}"
                assert sorter.is_active(framework_id) == offerable.get((role, framework_id), False), (
                    f"offerability of {framework_id} in {role}"
                )
                role_alloc = vec_add(role_alloc, alloc)
            assert self.roles.allocation(role) == role_alloc, f"allocation of role {role}"
            assert self.roles.is_active(role) == sorter.has_active(), f"activity of role {role}"
            assert self.roles.weight(role) == self.weight(role), f"weight of role {role}"

    def _sync_role(self, role: str, sorter: DrfSorter) -> None:
        if sorter.has_active():
            self.roles.activate(role)
        else:
            self.roles.deactivate(role)
