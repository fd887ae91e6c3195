"""Marathon's pure modules import no IO and read no clock or randomness; their doctests run."""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3] / "pydcos" / "marathon"
FORBIDDEN = {"asyncio", "aiohttp", "kazoo", "sqlite3", "time", "random", "socket", "subprocess", "uvloop", "uuid"}
PURE = ["app_control.py", "app_specs.py", "backoff.py", "commands.py", "constraints.py", "core.py",
        "deployments.py", "errors.py", "events.py", "groups.py", "health.py", "ids.py", "instances.py",
        "launch_queue.py", "model.py", "offer_matcher.py", "offers.py", "planner.py", "queries.py", "records.py",
        "render.py", "task_builder.py", "validation.py", "wire.py", "unreachable.py", "event_subscriptions.py"]
WITH_DOCTESTS = ["ids", "model", "constraints", "validation", "planner", "backoff", "health", "app_control",
                 "unreachable", "event_subscriptions", "events"]


@pytest.mark.parametrize("module", PURE)
def test_pure_module_has_no_io_imports(module: str) -> None:
    names: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / module).read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    assert names & FORBIDDEN == set()


@pytest.mark.parametrize("module", WITH_DOCTESTS)
def test_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"pydcos.marathon.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_modules_stay_small() -> None:
    for path in ROOT.rglob("*.py"):
        assert len(path.read_text().splitlines()) < 600, path
