"""Recorded master states and golden-file helpers for the dns unit tests."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"
MASTERS = ("127.0.0.1:5050", "127.0.0.2:5050", "127.0.0.3:5050")


def check_golden(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run pytest --update-golden"
    assert text == path.read_text()
