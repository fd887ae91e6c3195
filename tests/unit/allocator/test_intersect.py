"""`intersect`: what two resource values have in common, also on its fast path (one contains the other)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pydcos.mesos.master.allocator.agents import intersect
from pydcos.mesos.resources import Resources

spans = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)).map(lambda t: (min(t), max(t))), max_size=8)
amounts = st.integers(0, 4000).map(lambda n: n / 1000)


@given(spans, spans, amounts, amounts)
def test_intersect_is_the_minimum_of_each_part(a: list[tuple[int, int]], b: list[tuple[int, int]],
                                               cpus_a: float, cpus_b: float) -> None:
    ra = Resources.of({"cpus": cpus_a}, {"ports": a})
    rb = Resources.of({"cpus": cpus_b}, {"ports": b})
    assert intersect(ra, rb) == ra - (ra - rb)
    assert intersect(ra, ra - (ra - rb)) == ra - (ra - rb)  # contained: the fast path
