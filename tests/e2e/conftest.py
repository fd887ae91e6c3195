"""End-to-end fixtures: real `pydcos cluster up --detach` clusters on test loopback blocks.

Every test under tests/e2e is marked `e2e`. `local_cluster` is one cluster shared by the whole
session (1 master, 2 private agents, 1 public agent); a test that changes a cluster, or needs
another shape, starts its own with `pydcos.testing.cluster.run_local_cluster(...)`. When a test
that used `local_cluster` fails, its report carries the tail of every daemon's log.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from clients.marathon_e2e import MarathonCurl, marathon_of, require_client_venv

from pydcos.testing.cluster import LocalCluster, run_local_cluster

E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    with run_local_cluster() as cluster:
        yield cluster


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        cluster = getattr(item, "funcargs", {}).get("local_cluster")
        if isinstance(cluster, LocalCluster):
            report.sections.append(("daemon logs (local_cluster)", cluster.log_tails()))


@pytest.fixture
def marathon(local_cluster: LocalCluster) -> MarathonCurl:
    """curl against the shared cluster's Marathon (a test module may override it)."""
    require_client_venv()
    return marathon_of(local_cluster)


@pytest.fixture
def app_ids(marathon: MarathonCurl) -> Iterator[list[str]]:
    """Ids a test creates; each is deleted afterwards, whatever happened."""
    ids: list[str] = []
    yield ids
    for app_id in ids:
        marathon.remove_app(app_id)
