"""The checkpoint on disk (`checkpoint.py` describes the layout and decides; this does the IO).

Container records are written atomically (tmp + rename). Update log lines are appended in
batches, one per event-loop turn, in a thread (`write_batch`), before the updates of that turn go
to the master; acks are appended too. Nothing here is fsynced but the agent id and the machine's
boot id: the page cache outlives a crashed agent, and after a reboot the checkpoint is not used.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from dataclasses import dataclass

from pydcos.core.log import get_logger
from pydcos.mesos.agent import checkpoint as ck

log = get_logger("pydcos.agent.checkpoint")

TaskKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Write:
    path: str
    data: bytes | None  # None = remove the directory `path`


def write_atomic(path: str, data: bytes, *, durable: bool = False) -> None:
    """tmp + rename; `durable`: fsynced (file and directory), to survive a machine crash too."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        dir_fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


def current_boot_id() -> str | None:
    """This boot of the machine (Linux): a reboot since the checkpoint means its tasks are gone."""
    try:
        with open(BOOT_ID_PATH, encoding="ascii") as f:
            return f.read().strip() or None
    except OSError:
        return None


def write_batch(writes: list[Write]) -> None:
    """Append each line to its log, in order; remove finished directories.

    Not fsynced: what is written is in the page cache, which outlives the agent's process (the
    crash we recover from); a machine crash ends in a reboot, after which the checkpoint is not
    used at all (`CheckpointStore.rebooted`, as Mesos). An fsync per log per round was most of
    the disk work of a burst of updates (a thousand virtio flushes for a scale-down of a
    thousand tasks)."""
    grouped: dict[str, list[bytes]] = {}
    removals: list[str] = []
    for w in writes:
        if w.data is None:
            removals.append(w.path)
            continue
        grouped.setdefault(w.path, []).append(w.data)
    for path, chunks in grouped.items():
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, b"".join(chunks))
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("checkpoint_write_failed", path=path, error=exc.strerror or str(exc))
    for path in removals:
        remove_run(path)


def remove_run(directory: str) -> None:
    """Its record first (one unlink: an agent killed halfway leaves a directory recovery skips,
    never a record whose update log is already gone), then the rest."""
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(directory, "container.json"))
    try:  # the layout we wrote, removed by name: a third of the system calls of a tree walk
        tasks = os.path.join(directory, "tasks")
        for name in os.listdir(tasks):
            os.unlink(os.path.join(tasks, name, "updates"))
            os.rmdir(os.path.join(tasks, name))
        os.rmdir(tasks)
        os.rmdir(directory)
    except OSError:  # something else in there (or already gone): walk it
        shutil.rmtree(directory, ignore_errors=True)


def read_start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return ck.proc_start_time(f.read())
    except OSError:
        return None


def read_exit_code(sandbox: str) -> int | None:
    try:
        with open(os.path.join(sandbox, ck.EXIT_FILE), encoding="ascii") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@dataclass(slots=True)
class RecoveredRun:
    record: ck.ContainerRecord
    directory: str  # the run's meta directory
    logs: dict[str, list[ck.LogLine]]  # task id -> its log


class CheckpointStore:
    def __init__(self, work_dir: str) -> None:
        self.root = os.path.join(work_dir, "meta")
        self.logs: dict[TaskKey, str] = {}  # checkpointed tasks -> their update log
        self.runs: dict[TaskKey, str] = {}  # checkpointed tasks -> their run's meta directory
        self._tasks_in_run: dict[str, set[TaskKey]] = {}

    # --- paths --------------------------------------------------------------------------

    def latest_path(self) -> str:
        return os.path.join(self.root, "slaves", "latest")

    def run_dir(self, agent_id: str, framework_id: str, executor_id: str, container_id: str) -> str:
        return os.path.join(self.root, "slaves", agent_id, "frameworks", framework_id, "executors",
                            executor_id, "runs", container_id)

    # --- agent id -----------------------------------------------------------------------

    def latest_agent_id(self) -> str | None:
        try:
            with open(self.latest_path(), encoding="utf-8") as f:
                value = f.read().strip()
        except OSError:
            return None
        return value or None

    def set_latest_agent_id(self, agent_id: str) -> None:
        """With the machine's boot id, written first: both durable (written once per registration)."""
        boot_id = current_boot_id()
        if boot_id is not None:
            write_atomic(self.boot_id_path(), boot_id.encode(), durable=True)
        write_atomic(self.latest_path(), agent_id.encode(), durable=True)

    def boot_id_path(self) -> str:
        return os.path.join(self.root, "boot_id")

    def rebooted(self) -> bool:
        """The machine rebooted since the checkpoint was written (as Mesos: its tasks are gone and
        the agent starts afresh). A checkpoint without a boot id (older pydcos) counts as this boot."""
        try:
            with open(self.boot_id_path(), encoding="ascii") as f:
                recorded = f.read().strip()
        except OSError:
            return False
        now = current_boot_id()
        return bool(recorded) and now is not None and recorded != now

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # --- containers ---------------------------------------------------------------------

    def container_started(self, agent_id: str, record: ck.ContainerRecord) -> None:
        """Record a started container (with its pid) and where its tasks' updates go."""
        directory = self.run_dir(agent_id, record.framework_id, record.executor_id, record.container_id)
        write_atomic(os.path.join(directory, "container.json"), ck.encode_record(record))
        for task in record.tasks:
            self.track((record.framework_id, task.task_id.value), directory)

    def track(self, key: TaskKey, directory: str) -> None:
        """Updates of this task go to its log in the run's directory."""
        self.logs[key] = os.path.join(directory, "tasks", key[1], "updates")
        self.runs[key] = directory
        self._tasks_in_run.setdefault(directory, set()).add(key)

    def task_done(self, key: TaskKey) -> str | None:
        """The task's terminal update was acknowledged: the run's directory, when no other task
        of the run (a custom executor's) is left, to be removed."""
        self.logs.pop(key, None)
        directory = self.runs.pop(key, None)
        if directory is None:
            return None
        left = self._tasks_in_run.get(directory, set())
        left.discard(key)
        if left:
            return None
        self._tasks_in_run.pop(directory, None)
        return directory

    def rewrite(self, key: TaskKey, record: ck.ContainerRecord) -> None:
        directory = self.runs.get(key)
        if directory is not None:
            write_atomic(os.path.join(directory, "container.json"), ck.encode_record(record))

    def load(self, agent_id: str) -> list[RecoveredRun]:
        base = os.path.join(self.root, "slaves", agent_id, "frameworks")
        out: list[RecoveredRun] = []
        for fw_dir in _subdirs(base):
            for ex_dir in _subdirs(os.path.join(fw_dir, "executors")):
                for run_dir in _subdirs(os.path.join(ex_dir, "runs")):
                    if not os.path.exists(os.path.join(run_dir, "container.json")):  # removal cut short
                        shutil.rmtree(run_dir, ignore_errors=True)
                        continue
                    run = self._load_run(run_dir)
                    if run is None:
                        log.warning("checkpoint_unreadable", directory=run_dir)
                        shutil.rmtree(run_dir, ignore_errors=True)
                    else:
                        out.append(run)
        return out

    def _load_run(self, directory: str) -> RecoveredRun | None:
        try:
            with open(os.path.join(directory, "container.json"), "rb") as f:
                record = ck.decode_record(f.read())
        except OSError:
            return None
        if record is None:
            return None
        logs: dict[str, list[ck.LogLine]] = {}
        for task in record.tasks:
            try:
                with open(os.path.join(directory, "tasks", task.task_id.value, "updates"), "rb") as f:
                    logs[task.task_id.value] = ck.parse_log(f.read())
            except OSError:
                logs[task.task_id.value] = []
        return RecoveredRun(record, directory, logs)


def _subdirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return sorted(e.path for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def kill_orphans(sandboxes_root: str, keep_groups: set[int]) -> int:
    """SIGKILL every process left by a previous run of this agent (its environment names a
    sandbox under `sandboxes_root`) whose process group is not being recovered. Only processes
    found alive right now are signalled, so nobody else's process is hit. Returns how many."""
    prefix = ("MESOS_SANDBOX=" + sandboxes_root.rstrip("/") + "/").encode()
    me = os.getpid()
    killed = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if not any(v.startswith(prefix) for v in env.split(b"\0")):
            continue
        try:
            if os.getpgid(pid) in keep_groups:
                continue
        except ProcessLookupError:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed
