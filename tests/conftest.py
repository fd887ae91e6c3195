"""Options and fixtures shared by every tier of tests.

- `--runslow`: also run tests marked `slow` (skipped otherwise). `e2e` tests always run.
- `--update-golden`: rewrite golden files from the current output instead of comparing.
- `clients_python`: the interpreter of `.venv-clients`, where the old client libraries live
  (pymesos 0.3.15, marathon-python 0.13.0; made by scripts/setup-clients.sh).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLIENTS_VENV_ENV = "PYDCOS_CLIENTS_VENV"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files instead of comparing",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def update_golden(pytestconfig: pytest.Config) -> bool:
    return bool(pytestconfig.getoption("--update-golden"))


@pytest.fixture(scope="session")
def clients_python() -> Path:
    """`.venv-clients/bin/python` (or $PYDCOS_CLIENTS_VENV/bin/python); fails with the fix if missing."""
    venv = Path(os.environ.get(CLIENTS_VENV_ENV, REPO / ".venv-clients"))
    python = venv / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run scripts/setup-clients.sh (./pydcos.sh test does)")
    return python
