from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pydcos.mesos import resources as res
from pydcos.mesos.resources import Resources
from pydcos.mesos.v1 import messages as v1


def test_parse_and_render_round_trip() -> None:
    r = Resources.parse("cpus:4;mem:4096;disk:10000;ports:[31000-31999,32000-32001];gpus_set:{a,b}")
    assert r.scalar("cpus") == 4 and r.ranges["ports"] == ((31000, 32001),)
    assert Resources.parse(r.render()) == r


@pytest.mark.parametrize("text", ["cpus", "cpus:", "cpus:-1", "ports:[1-", "ports:[abc]", "x:{a", "cpus:nan"])
def test_parse_rejects_bad_flags(text: str) -> None:
    with pytest.raises(ValueError):
        Resources.parse(text)


def test_ports_subtract_and_render_like_mesos() -> None:
    have = Resources.parse("ports:[31000-31010]")
    left = have - Resources.parse("ports:[31003-31004]")
    assert res.render_spans(left.ranges["ports"]) == "[31000-31002, 31005-31010]"
    assert not left.contains(Resources.parse("ports:[31004-31004]"))


def test_scalars_do_not_drift() -> None:
    r = Resources.parse("cpus:1")
    tenth = Resources.parse("cpus:0.1")
    for _ in range(10):
        r = r - tenth
    assert r.is_empty()


def test_from_v1_groups_roles_and_rejects_bad_values() -> None:
    rr = res.from_v1([v1.scalar("cpus", 2), v1.scalar("cpus", 1, role="slave_public"),
                      v1.ranges("ports", [(1, 2)])])
    assert rr["*"].scalar("cpus") == 2 and rr["slave_public"].scalar("cpus") == 1
    with pytest.raises(ValueError):
        res.from_v1([v1.Resource(name="cpus", type="SCALAR")])
    with pytest.raises(ValueError):
        res.from_v1([v1.ranges("ports", [(5, 1)])])


spans = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200)).map(lambda t: (min(t), max(t))), max_size=6)


@given(spans, spans)
def test_span_subtraction_matches_sets(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    def points(s: tuple[tuple[int, int], ...]) -> set[int]:
        return {p for lo, hi in s for p in range(lo, hi + 1)}

    na, nb = res.normalize_spans(a), res.normalize_spans(b)
    assert points(res.subtract_spans(na, nb)) == points(na) - points(nb)
    assert res.spans_contain(na, nb) == (points(nb) <= points(na))


many_spans = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)).map(lambda t: (min(t), max(t))), max_size=20)


@given(many_spans, many_spans)
def test_port_arithmetic_of_resources_matches_sets(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    def points(r: Resources) -> set[int]:
        return {p for lo, hi in r.ranges.get("ports", ()) for p in range(lo, hi + 1)}

    ra, rb = Resources.of(ranges={"ports": a}), Resources.of(ranges={"ports": b})
    for result, expected in ((ra + rb, points(ra) | points(rb)), (ra - rb, points(ra) - points(rb))):
        assert points(result) == expected
        assert result.ranges.get("ports", ()) == res.normalize_spans(result.ranges.get("ports", ()))
    assert ra.contains(rb) == (points(rb) <= points(ra))
