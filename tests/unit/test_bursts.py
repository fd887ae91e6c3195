"""The burst-end rule shared by the master's agent channels and its HTTP cork."""

from __future__ import annotations

from pydcos.core.bursts import IDLE_TURNS, MAX_TURNS, BurstEnd


def test_two_turns_without_growth_end_it() -> None:
    end = BurstEnd(1)
    assert [end.step(n) for n in (2, 3, 3, 3)] == [False, False, False, True]
    assert IDLE_TURNS == 2


def test_a_batch_that_keeps_growing_ends_after_max_turns() -> None:
    end = BurstEnd(0)
    ended = [end.step(n) for n in range(1, MAX_TURNS + 1)]
    assert ended == [False] * (MAX_TURNS - 1) + [True]
