"""Sandbox directories: made with no more file system calls than a launch needs."""

from __future__ import annotations

import doctest
import os
import shutil
from pathlib import Path

import pytest

from pydcos.mesos.agent import sandbox_dirs
from pydcos.mesos.agent.sandbox_dirs import SandboxDirs


def test_doctests() -> None:
    assert doctest.testmod(sandbox_dirs).failed == 0


def run_dir(root: Path, framework: str, executor: str, container: str) -> str:
    return str(root / "frameworks" / framework / "executors" / executor / "runs" / container)


def test_the_shared_parent_is_made_once_and_then_only_the_run_levels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = SandboxDirs()
    dirs.make(run_dir(tmp_path, "F", "t1", "c1"))
    made: list[str] = []
    real_mkdir = os.mkdir

    def mkdir(path: str, mode: int = 0o777) -> None:
        made.append(path)
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os.path, "exists", lambda path: pytest.fail(f"looked at {path}"))
    second = run_dir(tmp_path, "F", "t2", "c2")
    dirs.make(second)
    assert made == [second.rsplit("/", 2)[0], second.rsplit("/", 1)[0], second]
    assert os.path.isdir(second) and (os.stat(second).st_mode & 0o777) == 0o755 & ~_umask()


def test_a_relaunch_into_an_existing_executor_or_run_is_fine(tmp_path: Path) -> None:
    dirs = SandboxDirs()
    dirs.make(run_dir(tmp_path, "F", "ex", "c1"))
    dirs.make(run_dir(tmp_path, "F", "ex", "c2"))  # the executor's directory and runs exist
    dirs.make(run_dir(tmp_path, "F", "ex", "c2"))  # so does the run
    assert sorted(os.listdir(tmp_path / "frameworks/F/executors/ex/runs")) == ["c1", "c2"]


def test_a_removed_parent_is_made_again(tmp_path: Path) -> None:
    dirs = SandboxDirs()
    dirs.make(run_dir(tmp_path, "F", "t1", "c1"))
    shutil.rmtree(tmp_path / "frameworks")
    dirs.make(run_dir(tmp_path, "F", "t2", "c2"))
    assert os.path.isdir(run_dir(tmp_path, "F", "t2", "c2"))


def test_other_layouts_and_failures(tmp_path: Path) -> None:
    dirs = SandboxDirs()
    dirs.make(str(tmp_path / "plain" / "dir"))  # not <parent>/<executor>/runs/<run>: plain makedirs
    assert os.path.isdir(tmp_path / "plain" / "dir") and len(dirs) == 0
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        dirs.make(str(tmp_path / "file" / "executors" / "t" / "runs" / "c"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
