"""The Mesos master's allocator: hierarchical dominant resource fairness, as in Mesos 1.0. Pure.

No IO, no clock, no randomness: time comes in as the `now` argument, and everything in and out
is plain data (`RoleResources`: reservation role -> `Resources`, `*` = unreserved).

    add_agent(agent_id, total, used=None)        remove_agent / activate_agent / deactivate_agent
    add_framework(framework_id, roles, *, active=True, suppressed_roles=())
    update_framework(framework_id, roles)        remove_framework (frees all it held)
    activate_framework / deactivate_framework    suppress(fid, roles=None) / revive(fid, roles=None)
    update_weights({role: weight})
    add_used(agent_id, fid, resources, *, role=None)              tasks already running
    recover(agent_id, fid, resources, *, refuse_seconds=None, now=0.0, role=None)
    add_filter(agent_id, fid, resources, refuse_seconds, now)     expire_filters(now)
    allocate(now, agent_ids=None) -> list[Allocation(framework_id, agent_id, resources, role)]
    framework_share(fid, role=None) / role_share(role) / role_order() / framework_order(role)
    allocated(fid) -> {agent_id: RoleResources}     available(agent_id)     total()    validate()

One round (`allocate`): agents in a rotating order; on each agent, roles in ascending weighted
dominant share (share of the cluster's cpus/mem/disk/gpus held by the role, over its weight),
and within a role its frameworks in ascending dominant share of what they hold under that role.
The first eligible framework of a role gets everything the role may take there: the unreserved
`*` resources plus those reserved for the role (Mesos offers whole agents). Then the next role
on the same agent (it may hold reservations for other roles), then the next agent. Ties go to
the smaller id. Eligible: the framework is active, the role is not suppressed for it, the offer
is at least the minimum allocatable (cpus >= 0.01 or mem >= 32 MB) and no live filter of the
framework on that agent contains the offer.

Allocated resources count towards the framework's and the role's share from allocation until
`recover`. Shares move incrementally: an allocation re-sorts only the framework that received
and its role; only adding or removing an agent re-sorts everything (once, at the next read).

Modules: `sorter` (`DrfSorter`, one incremental DRF order), `role_tree` (the two levels: roles,
then each role's frameworks), `agents` (one agent's available/held books), `filters` (declined
offers), `allocator` (the `Allocator` and the allocation loop). tests/unit/allocator holds a
naive reference allocator that the property tests compare this one with.

Multi-role frameworks (a pydcos extension; DC/OS 1.8 frameworks have one role) are sorted in
each of their roles by what they hold under that role, as in Mesos 1.5. `Allocation.role` says
under which role an allocation was made; pass it back as `role=` to `recover`, or the allocator
frees from the role that holds the resources (reservations first, then the framework's roles in
order).

Unknown agent or framework ids are ignored by every call (a stale message must not crash the
master); re-adding a known agent is ignored, re-adding a known framework updates it.

>>> from pydcos.mesos.resources import Resources
>>> alloc = Allocator()
>>> alloc.add_agent("a1", {"*": Resources.parse("cpus:4;mem:1024")})
>>> alloc.add_framework("f1", ["web"])
>>> [(a.framework_id, a.agent_id, a.resources["*"].render()) for a in alloc.allocate(now=0.0)]
[('f1', 'a1', 'cpus:4;mem:1024')]
>>> alloc.recover("a1", "f1", {"*": Resources.parse("cpus:4;mem:1024")}, refuse_seconds=5, now=0.0)
>>> alloc.allocate(now=1.0), len(alloc.allocate(now=5.0))
([], 1)
"""

from __future__ import annotations

from pydcos.mesos.master.allocator.allocator import UNRESERVED, Allocation, Allocator
from pydcos.mesos.master.allocator.filters import Filters, OfferFilter
from pydcos.mesos.master.allocator.sorter import DrfSorter, Vec, dominant_share, vec_of

__all__ = [
    "UNRESERVED",
    "Allocation",
    "Allocator",
    "DrfSorter",
    "Filters",
    "OfferFilter",
    "Vec",
    "dominant_share",
    "vec_of",
]
