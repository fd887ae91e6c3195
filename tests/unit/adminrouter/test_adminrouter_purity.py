"""Admin Router's pure modules import no IO and read no clock or randomness; no module passes 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3] / "pydcos" / "adminrouter"
FORBIDDEN = {"asyncio", "aiohttp", "kazoo", "sqlite3", "time", "random", "socket", "subprocess", "uvloop",
             "ctypes", "os", "secrets", "uuid"}
PURE = ["view.py", "render.py", "config.py", "identity/records.py", "identity/tokens.py", "identity/rate_limit.py"]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_module_has_no_io_imports(module: str) -> None:
    assert imported(ROOT / module) & FORBIDDEN == set()


def test_no_module_passes_600_lines() -> None:
    for path in ROOT.rglob("*.py"):
        assert len(path.read_text().splitlines()) < 600, path
