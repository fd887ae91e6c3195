"""DrfSorter: the incremental order always equals a from-scratch sort."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pydcos.mesos.master.allocator import DrfSorter, dominant_share
from pydcos.mesos.master.allocator.sorter import ZERO, Vec, vec_add

TOTAL: Vec = (16_000, 64_000_000, 1_000_000, 2_000)


def test_order_follows_dominant_share_then_id() -> None:
    s = DrfSorter(TOTAL)
    for c in ("c", "b", "a"):
        s.add(c)
    assert s.order() == ["a", "b", "c"]
    s.allocated("a", (8_000, 0, 0, 0))     # a: 0.5 of cpus
    s.allocated("b", (0, 16_000_000, 0, 0))  # b: 0.25 of mem
    assert s.order() == ["c", "b", "a"]
    s.allocated("a", (-8_000, 0, 0, 0))
    assert s.order() == ["a", "c", "b"] and s.share("a") == 0.0


def test_weight_divides_the_share() -> None:
    s = DrfSorter(TOTAL)
    s.add("heavy", weight=4.0)
    s.add("light")
    s.allocated("heavy", (8_000, 0, 0, 0))
    s.allocated("light", (4_000, 0, 0, 0))
    assert s.share("heavy") == 0.125 and s.order() == ["heavy", "light"]
    s.set_weight("heavy", 1.0)
    assert s.order() == ["light", "heavy"]


def test_inactive_clients_keep_their_allocation_but_leave_the_order() -> None:
    s = DrfSorter(TOTAL)
    s.add("a")
    s.add("b", active=False)
    s.allocated("b", (1_000, 0, 0, 0))
    assert s.order() == ["a"] and s.share("b") == 1 / 16
    s.activate("b")
    s.deactivate("a")
    assert s.order() == ["b"]
    s.validate()


def test_a_new_total_rescales_every_share() -> None:
    s = DrfSorter(TOTAL)
    s.add("a")
    s.allocated("a", (0, 0, 0, 1_000))
    assert s.share("a") == 0.5
    s.set_total((16_000, 64_000_000, 1_000_000, 0))  # the GPU agent left
    assert s.share("a") == 0.0
    s.validate()


def test_unknown_clients_are_ignored() -> None:
    s = DrfSorter(TOTAL)
    s.allocated("x", (1, 1, 1, 1))
    s.activate("x")
    s.deactivate("x")
    s.remove("x")
    s.set_weight("x", 2.0)
    assert s.share("x") == 0.0 and s.allocation("x") == ZERO and s.order() == []


vecs = st.tuples(*(st.integers(0, 4_000) for _ in range(4)))
sorter_ops = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "activate", "deactivate", "alloc", "free", "weight", "total"]),
        st.sampled_from("abcdef"),
        vecs,
        st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(sorter_ops)
def test_incremental_order_equals_a_from_scratch_sort(ops: list[tuple[str, str, Vec, float]]) -> None:
    s = DrfSorter(TOTAL)
    total = TOTAL
    alloc: dict[str, Vec] = {}
    weight: dict[str, float] = {}
    active: set[str] = set()
    for op, c, v, w in ops:
        if op == "add" and c not in alloc:
            s.add(c, weight=w)
            alloc[c], weight[c] = ZERO, w
            active.add(c)
        elif op == "remove":
            s.remove(c)
            alloc.pop(c, None)
            active.discard(c)
        elif op == "activate" and c in alloc:
            s.activate(c)
            active.add(c)
        elif op == "deactivate":
            s.deactivate(c)
            active.discard(c)
        elif op == "alloc" and c in alloc:
            s.allocated(c, v)
            alloc[c] = vec_add(alloc[c], v)
        elif op == "free" and c in alloc:
            back = tuple(-min(x, y) for x, y in zip(alloc[c], v, strict=True))
            s.allocated(c, back)  # type: ignore[arg-type]
            alloc[c] = vec_add(alloc[c], back)  # type: ignore[arg-type]
        elif op == "weight" and c in alloc:
            s.set_weight(c, w)
            weight[c] = w
        elif op == "total":
            total = vec_add(TOTAL, v)
            s.set_total(total)
        s.validate()
        expect = sorted(active, key=lambda x: (dominant_share(alloc[x], total, weight[x]), x))
        assert s.order() == expect
