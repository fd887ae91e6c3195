"""The allocator by example: DRF order, weights, reservations, filters, suppression, recovery."""

from __future__ import annotations

import pytest

from pydcos.mesos.master.allocator import Allocation, Allocator, Filters
from pydcos.mesos.resources import Resources, RoleResources


def r(text: str) -> Resources:
    return Resources.parse(text)


def star(text: str) -> RoleResources:
    return {"*": r(text)}


AGENT = "cpus:4;mem:1024"


def who(allocations: list[Allocation]) -> list[tuple[str, str]]:
    return [(a.agent_id, a.framework_id) for a in allocations]


def cluster(agents: int, *, weights: dict[str, float] | None = None) -> Allocator:
    alloc = Allocator(weights=weights)
    for i in range(agents):
        alloc.add_agent(f"a{i}", star(AGENT))
    return alloc


# --- DRF order ------------------------------------------------------------------------------


def test_free_agent_goes_to_the_role_furthest_below_its_share() -> None:
    alloc = cluster(2)
    alloc.add_framework("f-web", ["web"])
    alloc.add_framework("f-batch", ["batch"])
    alloc.add_used("a0", "f-web", star("cpus:1;mem:128"))
    assert alloc.role_share("web") == 0.125
    assert who(alloc.allocate(0.0, ["a1"])) == [("a1", "f-batch")]
    alloc.validate()


def test_frameworks_of_a_role_take_turns_by_their_own_share() -> None:
    alloc = cluster(4)
    alloc.add_framework("f1", ["web"])
    alloc.add_framework("f2", ["web"])
    alloc.add_used("a0", "f1", star("cpus:0.5;mem:64"))   # f1 starts ahead, so f2 goes first
    got = alloc.allocate(0.0, ["a0", "a1", "a2", "a3"])
    assert who(got) == [("a0", "f2"), ("a1", "f1"), ("a2", "f2"), ("a3", "f1")]
    assert alloc.framework_share("f1") == 8.5 / 16            # cpus dominate: 0.5 + 4 + 4 of 16
    assert alloc.framework_share("f2", "web") == 1984 / 4096  # mem dominates: 960 + 1024 of 4096
    alloc.validate()


def test_ties_go_to_the_smaller_id() -> None:
    alloc = cluster(1)
    alloc.add_framework("fb", ["web"])
    alloc.add_framework("fa", ["web"])
    assert who(alloc.allocate(0.0)) == [("a0", "fa")]


def test_a_weighted_role_gets_its_weight_in_agents() -> None:
    alloc = cluster(6, weights={"heavy": 2.0})
    alloc.add_framework("f-heavy", ["heavy"])
    alloc.add_framework("f-light", ["light"])
    got = alloc.allocate(0.0, [f"a{i}" for i in range(6)])
    assert sorted(f for _, f in who(got)) == ["f-heavy"] * 4 + ["f-light"] * 2
    assert alloc.role_share("heavy") == alloc.role_share("light") == pytest.approx(2 / 6)
    assert alloc.role_order() == ["heavy", "light"]  # equal shares: by name


def test_update_weights_reorders_the_roles() -> None:
    alloc = cluster(2)
    alloc.add_framework("f1", ["a"])
    alloc.add_framework("f2", ["b"])
    alloc.allocate(0.0)
    assert alloc.role_order() == ["a", "b"]
    alloc.update_weights({"b": 4.0, "a": -1.0})  # the bad weight is ignored
    assert alloc.role_order() == ["b", "a"]
    assert alloc.weight("a") == 1.0
    alloc.validate()


def test_agents_are_visited_in_a_rotating_order() -> None:
    alloc = cluster(3)
    alloc.add_framework("f1", ["web"])
    first = alloc.allocate(0.0)
    for a in first:
        alloc.recover(a.agent_id, a.framework_id, a.resources)
    second = alloc.allocate(0.0)
    assert [a.agent_id for a in first] == ["a0", "a1", "a2"]
    assert [a.agent_id for a in second] == ["a1", "a2", "a0"]


# --- reservations ---------------------------------------------------------------------------


def test_public_agent_is_offered_only_to_its_role() -> None:
    alloc = Allocator()
    alloc.add_agent("public", {"slave_public": r(AGENT)})
    alloc.add_framework("marathon", ["*"])
    assert alloc.allocate(0.0) == []
    alloc.add_framework("marathon-lb", ["slave_public"])
    [offer] = alloc.allocate(0.0)
    assert (offer.framework_id, offer.role, list(offer.resources)) == ("marathon-lb", "slave_public", ["slave_public"])


def test_role_gets_unreserved_plus_its_reservation_and_other_roles_their_own() -> None:
    alloc = Allocator()
    alloc.add_agent("a0", {"*": r("cpus:2;mem:512"), "db": r("cpus:1;mem:256"), "web": r("cpus:1;mem:64")})
    alloc.add_framework("f-db", ["db"])
    alloc.add_framework("f-web", ["web"])
    alloc.add_framework("f-any", ["*"])
    got = {a.framework_id: a.resources for a in alloc.allocate(0.0)}
    # All shares are zero: `*` goes first by name and takes the unreserved part; the others
    # still get their own reservations on the same agent.
    assert got == {
        "f-any": {"*": r("cpus:2;mem:512")},
        "f-db": {"db": r("cpus:1;mem:256")},
        "f-web": {"web": r("cpus:1;mem:64")},
    }
    assert alloc.available("a0") == {}
    alloc.validate()


def test_reserved_role_that_comes_first_takes_unreserved_too() -> None:
    alloc = Allocator()
    alloc.add_agent("a0", {"*": r("cpus:2;mem:512"), "db": r("cpus:1;mem:256")})
    alloc.add_framework("f-db", ["db"])
    alloc.add_framework("f-web", ["web"])
    [offer] = alloc.allocate(0.0)
    assert offer.framework_id == "f-db"
    assert offer.resources == {"*": r("cpus:2;mem:512"), "db": r("cpus:1;mem:256")}


# --- filters --------------------------------------------------------------------------------


def test_declined_resources_are_filtered_until_expiry() -> None:
    alloc = cluster(1)
    alloc.add_framework("f1", ["web"])
    [offer] = alloc.allocate(0.0)
    alloc.recover("a0", "f1", offer.resources, refuse_seconds=5.0, now=1.0)
    assert alloc.allocate(5.99) == []
    assert who(alloc.allocate(6.0)) == [("a0", "f1")]


def test_a_filter_only_covers_what_was_declined() -> None:
    alloc = cluster(1)
    alloc.add_framework("f1", ["web"])
    alloc.add_used("a0", "f1", star("cpus:2;mem:512"))
    [offer] = alloc.allocate(0.0)
    assert offer.resources == star("cpus:2;mem:512")
    alloc.recover("a0", "f1", offer.resources, refuse_seconds=60.0, now=0.0)
    assert alloc.allocate(1.0) == []
    alloc.recover("a0", "f1", star("cpus:1;mem:256"))  # a task ended: the offer is bigger now
    assert alloc.allocate(2.0)[0].resources == star("cpus:3;mem:768")


def test_a_filtered_framework_is_skipped_for_the_next_one() -> None:
    alloc = cluster(1)
    alloc.add_framework("f1", ["web"])
    alloc.add_framework("f2", ["web"])
    alloc.add_filter("a0", "f1", star(AGENT), 10.0, 0.0)
    assert who(alloc.allocate(0.0)) == [("a0", "f2")]


def test_zero_refuse_seconds_make_no_filter() -> None:
    alloc = cluster(1)
    alloc.add_framework("f1", ["web"])
    [offer] = alloc.allocate(0.0)
    alloc.recover("a0", "f1", offer.resources, refuse_seconds=0.0, now=0.0)
    assert who(alloc.allocate(0.0)) == [("a0", "f1")]


def test_revive_clears_filters() -> None:
    alloc = cluster(1)
    alloc.add_framework("f1", ["web"])
    [offer] = alloc.allocate(0.0)
    alloc.recover("a0", "f1", offer.resources, refuse_seconds=1e9, now=0.0)
    assert alloc.allocate(1.0) == []
    alloc.revive("f1")
    assert who(alloc.allocate(1.0)) == [("a0", "f1")]


# --- suppression, activity ------------------------------------------------------------------


def test_suppressed_framework_gets_nothing_until_revived() -> None:
    alloc = cluster(2)
    alloc.add_framework("f1", ["web"], suppressed_roles=["web"])
    alloc.add_framework("f2", ["batch"])
    assert who(alloc.allocate(0.0, ["a0"])) == [("a0", "f2")]
    alloc.suppress("f2")
    assert alloc.allocate(0.0, ["a1"]) == []
    assert alloc.role_order() == []
    alloc.revive("f1", ["web"])
    assert who(alloc.allocate(0.0, ["a1"])) == [("a1", "f1")]


def test_suppressing_one_role_of_a_multi_role_framework() -> None:
    alloc = Allocator()
    alloc.add_agent("a0", {"web": r(AGENT)})
    alloc.add_agent("a1", {"db": r(AGENT)})
    alloc.add_framework("f1", ["web", "db"])
    alloc.suppress("f1", ["db"])
    got = alloc.allocate(0.0)
    assert [(a.agent_id, a.role) for a in got] == [("a0", "web")]
    alloc.revive("f1", ["db"])
    assert [(a.agent_id, a.role) for a in alloc.allocate(0.0)] == [("a1", "db")]


def test_inactive_agent_and_framework_get_no_offers() -> None:
    alloc = cluster(2)
    alloc.add_framework("f1", ["web"], active=False)
    assert alloc.allocate(0.0) == []
    alloc.activate_framework("f1")
    alloc.deactivate_agent("a0")
    assert who(alloc.allocate(0.0)) == [("a1", "f1")]
    alloc.activate_agent("a0")
    alloc.deactivate_framework("f1")
    assert alloc.allocate(0.0) == []
    assert alloc.framework_share("f1") == 0.5  # still holds a1 while inactive
    alloc.activate_framework("f1")
    assert who(alloc.allocate(0.0)) == [("a0", "f1")]


def test_minimum_allocatable() -> None:
    alloc = Allocator()
    alloc.add_agent("tiny", star("cpus:0.009;mem:31;ports:[1-100]"))
    alloc.add_agent("cpus", star("cpus:0.01"))
    alloc.add_agent("mem", star("mem:32"))
    alloc.add_framework("f1", ["web"])
    assert sorted(a.agent_id for a in alloc.allocate(0.0)) == ["cpus", "mem"]


# --- recovery -------------------------------------------------------------------------------


def test_recover_returns_resources_and_lowers_the_share() -> None:
    alloc = cluster(1)
    alloc.add_framework("f1", ["web"])
    [offer] = alloc.allocate(0.0)
    assert alloc.framework_share("f1") == 1.0
    alloc.recover("a0", "f1", star("cpus:1;mem:256"))       # the unused part of an accept
    assert alloc.framework_share("f1") == 0.75
    assert alloc.available("a0") == star("cpus:1;mem:256")
    alloc.recover("a0", "f1", star("cpus:8;mem:8192"))      # more than it holds: only its part
    assert alloc.framework_share("f1") == 0.0
    assert alloc.available("a0") == offer.resources
    assert alloc.allocated("f1") == {}
    alloc.validate()


def test_remove_framework_frees_everything_it_held() -> None:
    alloc = cluster(3)
    alloc.add_framework("f1", ["web"])
    alloc.add_framework("f2", ["web"])
    alloc.allocate(0.0)
    assert set(alloc.allocated("f1")) == {"a0", "a2"}
    alloc.remove_framework("f1")
    assert alloc.available("a0") == star(AGENT) and alloc.available("a2") == star(AGENT)
    assert alloc.role_share("web") == pytest.approx(1 / 3)
    assert sorted(who(alloc.allocate(0.0))) == [("a0", "f2"), ("a2", "f2")]
    alloc.validate()


def test_remove_agent_drops_its_allocations_and_total() -> None:
    alloc = cluster(2)
    alloc.add_framework("f1", ["web"])
    alloc.allocate(0.0, ["a0"])
    assert alloc.framework_share("f1") == 0.5
    alloc.remove_agent("a0")
    assert alloc.framework_share("f1") == 0.0 and alloc.allocated("f1") == {}
    assert alloc.total() == r(AGENT)
    alloc.validate()


def test_used_resources_of_an_unknown_framework_are_held_until_attributed() -> None:
    alloc = Allocator()
    alloc.add_agent("a0", star(AGENT), used={"f-old": star("cpus:1;mem:256")})
    alloc.add_framework("f-new", ["web"])
    [offer] = alloc.allocate(0.0)
    assert offer.resources == star("cpus:3;mem:768")
    alloc.add_framework("f-old", ["web"])
    alloc.add_used("a0", "f-old", star("cpus:1;mem:256"))   # re-subscribed: adopted, not taken twice
    assert alloc.framework_share("f-old") == 0.25
    assert alloc.available("a0") == {}
    alloc.remove_framework("f-old")
    assert alloc.available("a0") == star("cpus:1;mem:256")
    alloc.validate()


def test_multi_role_framework_is_sorted_in_each_role_by_what_it_holds_there() -> None:
    alloc = cluster(3)
    alloc.add_framework("f-multi", ["a", "b"])
    alloc.add_framework("f-a", ["a"])
    got = alloc.allocate(0.0)
    assert [(a.agent_id, a.framework_id, a.role) for a in got] == [
        ("a0", "f-a", "a"), ("a1", "f-multi", "b"), ("a2", "f-multi", "a")]
    assert alloc.framework_share("f-multi") == pytest.approx(2 / 3)
    assert alloc.framework_share("f-multi", "b") == pytest.approx(1 / 3)
    alloc.recover("a2", "f-multi", got[2].resources)  # no role given: found where it is held
    assert alloc.framework_share("f-multi", "a") == 0.0
    alloc.validate()


def test_a_dropped_role_keeps_its_allocation_until_recovered() -> None:
    alloc = cluster(1)
    alloc.add_framework("f1", ["old"])
    [offer] = alloc.allocate(0.0)
    alloc.update_framework("f1", ["new"])
    assert alloc.role_share("old") == 1.0 and alloc.role_order() == ["new"]
    alloc.recover("a0", "f1", offer.resources)
    assert alloc.role_share("old") == 0.0
    alloc.validate()


def test_unknown_ids_are_ignored() -> None:
    alloc = cluster(1)
    alloc.add_framework("f1", ["web"])
    alloc.add_agent("a0", star("cpus:100;mem:100"))           # known agent: ignored
    for call in (alloc.remove_agent, alloc.activate_agent, alloc.deactivate_agent):
        call("nope")
    for fcall in (alloc.remove_framework, alloc.activate_framework, alloc.deactivate_framework,
                  alloc.suppress, alloc.revive):
        fcall("nope")
    alloc.update_framework("nope", ["x"])
    alloc.add_used("nope", "f1", star("cpus:1"))
    alloc.add_used("a0", "nope", star("cpus:1"))
    alloc.recover("nope", "f1", star("cpus:1"), refuse_seconds=5.0)
    alloc.recover("a0", "nope", star("cpus:1"), refuse_seconds=5.0)
    alloc.add_filter("a0", "nope", star("cpus:1"), 5.0, 0.0)
    assert who(alloc.allocate(0.0, ["nope", "a0", "a0"])) == [("a0", "f1")]
    assert alloc.framework_share("nope") == alloc.role_share("nope") == 0.0
    assert alloc.allocated("nope") == {} and alloc.available("nope") == {}
    assert alloc.framework_order("nope") == []
    alloc.validate()


def test_used_resources_count_for_their_reservation_role_or_the_first_role() -> None:
    alloc = Allocator()
    alloc.add_agent("a0", {"*": r("cpus:4;mem:1024"), "db": r("cpus:4;mem:1024")})
    alloc.add_framework("f1", ["batch", "*", "db"])
    alloc.add_used("a0", "f1", {"*": r("cpus:1;mem:32"), "db": r("cpus:2;mem:32")})
    alloc.add_used("a0", "f1", {"*": r("cpus:0.5;mem:32")}, role="*")
    assert alloc.framework_share("f1", "batch") == 1 / 8
    assert alloc.framework_share("f1", "db") == 2 / 8
    assert alloc.framework_share("f1", "*") == 0.5 / 8
    alloc.recover("a0", "f1", {"*": r("cpus:1.5;mem:64")})   # frees from batch first (its first role)
    assert (alloc.framework_share("f1", "batch"), alloc.framework_share("f1", "*")) == (0.0, 0.0)
    alloc.validate()


def test_filters_expire_one_by_one() -> None:
    filters = Filters()
    filters.add("a0", star(AGENT), expiry=5.0)
    filters.add("a0", star("cpus:1;mem:32"), expiry=10.0)
    filters.add("a1", star(AGENT), expiry=5.0)
    filters.expire(5.0)
    assert len(filters) == 1
    assert filters.refuses("a0", star("cpus:1"), now=9.0) and not filters.refuses("a0", star("cpus:2"), now=9.0)
    assert not filters.refuses("a0", star("cpus:1"), now=10.0) and not filters


def test_removing_an_agent_drops_filters_on_it() -> None:
    alloc = cluster(1)
    alloc.add_framework("f1", ["web"])
    alloc.add_filter("a0", "f1", star(AGENT), 100.0, 0.0)
    alloc.expire_filters(50.0)
    assert alloc.allocate(50.0) == []
    alloc.remove_agent("a0")
    alloc.add_agent("a0", star(AGENT))   # the same id back: a new agent, no old filters
    assert who(alloc.allocate(50.0)) == [("a0", "f1")]
