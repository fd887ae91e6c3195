"""Pure cores import no IO and read no clock or randomness (CONVENTIONS: pure cores, thin shells)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "pydcos"
FORBIDDEN = {"asyncio", "aiohttp", "kazoo", "sqlite3", "time", "random", "socket", "subprocess", "uvloop"}

PURE_MODULES = [
    "mesos/resources.py",
    "mesos/internal.py",
    "mesos/v1/messages.py",
    "mesos/v1/recordio.py",
    "mesos/master/state.py",
    "mesos/master/registry.py",
    "mesos/master/launch.py",
    "mesos/master/scheduler_calls.py",
    "mesos/master/agent_messages.py",
    "mesos/master/state_json.py",
    "mesos/master/operator_json.py",
    "mesos/master/registry_records.py",
    "mesos/master/recovery.py",
    "mesos/master/resource_sums.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mesos/master/allocator").glob("*.py")),
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_has_no_io_imports(module: str) -> None:
    path = ROOT / module
    assert path.exists(), module
    assert imported_modules(path) & FORBIDDEN == set()
