"""The cgroup descriptor budget is read when first needed, after the agent lifted its soft limit."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

from pydcos.mesos.agent.cgroups import _FdBudget, fd_budget


@pytest.fixture
def soft_limit() -> Iterator[tuple[int, int]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield soft, hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_quarter_of_the_soft_limit_read_at_first_use(soft_limit: tuple[int, int]) -> None:
    soft, hard = soft_limit
    budget = _FdBudget()
    lowered = min(soft, 512)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))  # as if lifted after construction
    assert budget.take() and budget.limit == lowered // 4 == fd_budget()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert budget.take() and budget.limit == lowered // 4  # read once


def test_a_set_limit_wins() -> None:
    budget = _FdBudget()
    budget.limit = 0
    assert not budget.take() and budget.limit == 0 and budget.used == 0
