"""Property tests: random operation sequences against the naive reference allocator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from allocator_reference import ReferenceAllocator
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pydcos.mesos.master.allocator import Allocation, Allocator
from pydcos.mesos.resources import Resources, RoleResources, add_roles, contains_roles, subtract_roles

ROLES = ["*", "r1", "r2", "slave_public"]
AGENTS = ["a0", "a1", "a2", "a3", "a-unknown"]
FRAMEWORKS = ["f0", "f1", "f2", "f3", "f-unknown"]
WEIGHTS = {"r1": 2.0, "slave_public": 0.5}

scalars = st.fixed_dictionaries(
    {
        "cpus": st.sampled_from([0, 0.005, 0.5, 1, 2.5, 4]),
        "mem": st.sampled_from([0, 16, 32, 100, 512]),
        "disk": st.sampled_from([0, 0, 100]),
        "gpus": st.sampled_from([0, 0, 0, 1]),
    }
)
port_spans = st.lists(st.tuples(st.integers(1, 12), st.integers(0, 3)).map(lambda t: (t[0], t[0] + t[1])), max_size=2)
resources = st.builds(lambda s, p: Resources.of(s, {"ports": p} if p else None), scalars, port_spans)
role_resources = st.dictionaries(st.sampled_from(ROLES), resources, min_size=1, max_size=2)
role_lists = st.lists(st.sampled_from(ROLES), min_size=0, max_size=2)
maybe_roles = st.none() | st.lists(st.sampled_from(ROLES), min_size=1, max_size=2)

allocate_op = st.tuples(st.just("allocate"), st.sampled_from([0.0, 1.0, 5.0]),
                        st.none() | st.lists(st.sampled_from(AGENTS), max_size=3))
recover_op = st.tuples(st.just("recover_offer"), st.integers(0, 50), st.booleans(),
                       st.sampled_from([None, 0.0, 2.0, 5.0]))
add_agent_op = st.tuples(st.just("add_agent"), st.sampled_from(AGENTS[:4]), role_resources,
                         st.dictionaries(st.sampled_from(FRAMEWORKS), role_resources, max_size=2))
add_framework_op = st.tuples(st.just("add_framework"), st.sampled_from(FRAMEWORKS[:4]), role_lists, st.just(True),
                             st.lists(st.sampled_from(ROLES), max_size=0))
ops = st.one_of(
    allocate_op, allocate_op, allocate_op, recover_op, recover_op,
    st.tuples(st.just("add_agent"), st.sampled_from(AGENTS), role_resources,
              st.dictionaries(st.sampled_from(FRAMEWORKS), role_resources, max_size=2)),
    st.tuples(st.just("remove_agent"), st.sampled_from(AGENTS)),
    st.tuples(st.just("agent_active"), st.sampled_from(AGENTS), st.booleans()),
    st.tuples(st.just("add_framework"), st.sampled_from(FRAMEWORKS), role_lists, st.booleans(), role_lists),
    st.tuples(st.just("update_framework"), st.sampled_from(FRAMEWORKS), role_lists),
    st.tuples(st.just("remove_framework"), st.sampled_from(FRAMEWORKS)),
    st.tuples(st.just("framework_active"), st.sampled_from(FRAMEWORKS), st.booleans()),
    st.tuples(st.just("suppress"), st.sampled_from(FRAMEWORKS), maybe_roles),
    st.tuples(st.just("revive"), st.sampled_from(FRAMEWORKS), maybe_roles),
    st.tuples(st.just("allocate"), st.sampled_from([0.0, 1.0, 5.0]),
              st.none() | st.lists(st.sampled_from(AGENTS), max_size=3)),
    st.tuples(st.just("recover_offer"), st.integers(0, 50), st.booleans(),
              st.sampled_from([None, 0.0, 2.0, 5.0])),
    st.tuples(st.just("recover_raw"), st.sampled_from(AGENTS), st.sampled_from(FRAMEWORKS), role_resources,
              st.sampled_from([None, 3.0])),
    st.tuples(st.just("add_used"), st.sampled_from(AGENTS), st.sampled_from(FRAMEWORKS), role_resources,
              st.none() | st.sampled_from(ROLES)),
)


def norm(rr: Mapping[str, Resources]) -> list[tuple[str, Any, Any, Any]]:
    return sorted(
        (k, sorted(v.scalars.items()), sorted(v.ranges.items()), sorted((n, sorted(s)) for n, s in v.sets.items()))
        for k, v in rr.items()
        if not v.is_empty()
    )


def norm_allocations(allocations: list[Allocation]) -> list[tuple[str, str, str, Any]]:
    return [(a.framework_id, a.agent_id, a.role, norm(a.resources)) for a in allocations]


def check_round(before: dict[str, RoleResources], allocations: list[Allocation]) -> None:
    """Every allocation is within what its agent had available for that role at the time."""
    for a in allocations:
        assert set(a.resources) <= {"*", a.role}, a
        assert contains_roles(before[a.agent_id], a.resources), (a, before[a.agent_id])
        before[a.agent_id] = subtract_roles(before[a.agent_id], a.resources)


def run(alloc: Allocator, ref: ReferenceAllocator, op: tuple[Any, ...], offers: list[Allocation], now: float,
        ) -> float:
    name = op[0]
    if name == "add_agent":
        alloc.add_agent(op[1], op[2], used=op[3])
        ref.add_agent(op[1], op[2], op[3])
    elif name == "remove_agent":
        alloc.remove_agent(op[1])
        ref.remove_agent(op[1])
    elif name == "agent_active":
        (alloc.activate_agent if op[2] else alloc.deactivate_agent)(op[1])
        ref.set_agent_active(op[1], op[2])
    elif name == "add_framework":
        alloc.add_framework(op[1], op[2], active=op[3], suppressed_roles=op[4])
        ref.add_framework(op[1], op[2], op[3], op[4])
    elif name == "update_framework":
        alloc.update_framework(op[1], op[2])
        ref.update_framework(op[1], op[2])
    elif name == "remove_framework":
        alloc.remove_framework(op[1])
        ref.remove_framework(op[1])
    elif name == "framework_active":
        (alloc.activate_framework if op[2] else alloc.deactivate_framework)(op[1])
        ref.set_framework_active(op[1], op[2])
    elif name == "suppress":
        alloc.suppress(op[1], op[2])
        ref.suppress(op[1], op[2])
    elif name == "revive":
        alloc.revive(op[1], op[2])
        ref.revive(op[1], op[2])
    elif name == "allocate":
        now += op[1]
        before = {a: alloc.available(a) for a in AGENTS}
        got = alloc.allocate(now, op[2])
        want = ref.allocate(now, op[2])
        assert norm_allocations(got) == norm_allocations(want)
        event(f"allocations={min(len(got), 3)}")
        check_round(before, got)
        offers.extend(got)
    elif name == "recover_offer" and offers:
        offer = offers.pop(op[1] % len(offers))
        alloc.recover(offer.agent_id, offer.framework_id, offer.resources, refuse_seconds=op[3], now=now,
                      role=offer.role if op[2] else None)
        ref.recover(offer.agent_id, offer.framework_id, offer.resources, op[3], now, offer.role if op[2] else None)
    elif name == "recover_raw":
        alloc.recover(op[1], op[2], op[3], refuse_seconds=op[4], now=now)
        ref.recover(op[1], op[2], op[3], op[4], now, None)
    elif name == "add_used":
        alloc.add_used(op[1], op[2], op[3], role=op[4])
        ref.add_used(op[1], op[2], op[3], op[4])
    return now


def check_same_state(alloc: Allocator, ref: ReferenceAllocator) -> None:
    alloc.validate()
    assert alloc.role_order() == ref.role_order()
    for role in ROLES:
        assert alloc.framework_order(role) == ref.framework_order(role), role
        assert alloc.role_share(role) == ref.role_share(role), role
        for f in FRAMEWORKS:
            assert alloc.framework_share(f, role) == ref.framework_share(role, f), (f, role)
    for a in AGENTS:
        assert norm(alloc.available(a)) == (norm(ref.available(a)) if a in ref.agents else []), a


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(add_agent_op, min_size=1, max_size=4), st.lists(add_framework_op, min_size=1, max_size=4),
       st.lists(ops, min_size=3, max_size=40))
def test_incremental_allocator_matches_the_naive_reference(
    setup_agents: list[tuple[Any, ...]], setup_frameworks: list[tuple[Any, ...]], sequence: list[tuple[Any, ...]]
) -> None:
    alloc = Allocator(weights=WEIGHTS)
    ref = ReferenceAllocator(weights=WEIGHTS)
    offers: list[Allocation] = []
    now = 0.0
    for op in [*setup_frameworks, *setup_agents, *sequence, ("allocate", 1.0, None)]:
        now = run(alloc, ref, op, offers, now)
        check_same_state(alloc, ref)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(AGENTS[:4]), role_resources), min_size=1, max_size=6, unique_by=lambda t: t[0]),
    st.lists(st.tuples(st.sampled_from(FRAMEWORKS[:4]), role_lists), min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=20),
)
def test_no_agent_is_ever_overcommitted(
    agents: list[tuple[str, RoleResources]],
    frameworks: list[tuple[str, list[str]]],
    churn: list[tuple[int, bool]],
) -> None:
    alloc = Allocator()
    for agent_id, total in agents:
        alloc.add_agent(agent_id, total)
    for fid, roles in frameworks:
        alloc.add_framework(fid, roles)
    totals = dict(agents)
    held: list[Allocation] = []
    for now, (pick, remove) in enumerate(churn):
        held += alloc.allocate(float(now))
        for agent_id, total in totals.items():
            used: RoleResources = {}
            for a in held:
                if a.agent_id == agent_id:
                    assert contains_roles(subtract_roles(total, used), a.resources), "over-committed"
                    used = add_roles(used, a.resources)
        if held:
            a = held.pop(pick % len(held))
            if remove:
                alloc.remove_framework(a.framework_id)
                held = [h for h in held if h.framework_id != a.framework_id]
            else:
                alloc.recover(a.agent_id, a.framework_id, a.resources)
        alloc.validate()
