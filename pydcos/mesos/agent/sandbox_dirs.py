"""Creating sandbox directories with as few file system calls as a launch allows.

A sandbox is `.../frameworks/<framework>/executors/<executor>/runs/<container>` (task_launch.py).
`os.makedirs` looks at every level from the leaf up before it creates anything; here the parent
all of a framework's sandboxes share (`.../executors`) is remembered once made, so a launch does
only what it must: mkdir the executor's directory, its `runs` and the run itself. Each creation
allocates an inode, which on some file systems is the dearest part of a launch (ext4 without a
journal scans past every inode deleted in the last seconds), so none is done twice.

>>> dirs = SandboxDirs()
>>> import tempfile; root = tempfile.mkdtemp()
>>> path = f"{root}/frameworks/F/executors/t1/runs/c1"
>>> dirs.make(path); os.path.isdir(path)
True
>>> dirs.make(f"{root}/frameworks/F/executors/t1/runs/c2"); len(dirs)
1
>>> import shutil; shutil.rmtree(root)
"""

from __future__ import annotations

import os

SANDBOX_DIR_MODE = 0o755
# A framework's sandboxes share `<...>/executors`; remembering a few thousand of them is cheap.
MAX_KNOWN_PARENTS = 4096


class SandboxDirs:
    """Remembers the `executors` directories made so far (never removed while the agent runs;
    if one is, the next launch below it finds out and makes it again)."""

    def __init__(self) -> None:
        self._known: set[str] = set()

    def __len__(self) -> int:
        return len(self._known)

    def make(self, sandbox: str, mode: int = SANDBOX_DIR_MODE) -> None:
        """Create the run directory `sandbox` and whatever of its parents is missing. An
        existing run directory is fine (a relaunch into it). Raises OSError."""
        parent, executor, runs, run = _split(sandbox)
        if parent is None or parent not in self._known:
            os.makedirs(sandbox, mode=mode, exist_ok=True)
            if parent is not None and len(self._known) < MAX_KNOWN_PARENTS:
                self._known.add(parent)
            return
        try:
            for path in (executor, runs, run):
                try:
                    os.mkdir(path, mode)
                except FileExistsError:
                    pass
        except FileNotFoundError:  # the shared parent went away: make the whole chain again
            self._known.discard(parent)
            os.makedirs(sandbox, mode=mode, exist_ok=True)


def _split(sandbox: str) -> tuple[str | None, str, str, str]:
    """(the shared parent, the executor's directory, its `runs`, the run) of a sandbox path;
    the parent is None when the path is not laid out as `<parent>/<executor>/runs/<run>`.

    >>> _split("/w/executors/t1/runs/c1")
    ('/w/executors', '/w/executors/t1', '/w/executors/t1/runs', '/w/executors/t1/runs/c1')
    >>> _split("/w/other/c1")[0] is None
    True
    """
    runs, _, _ = sandbox.rpartition("/")
    executor, _, runs_name = runs.rpartition("/")
    parent, _, _ = executor.rpartition("/")
    if runs_name != "runs" or not parent:
        return None, executor, runs, sandbox
    return parent, executor, runs, sandbox
