"""cgroups isolation: a cgroup per container, limits from its resources, OOM kills read back.

The pure decisions (layout, paths, values, OOM parsing) are in `isolation.py`; this module does
the file system work. Per container:

    create(cid, limits)   mkdir the container's cgroup in each hierarchy, write its limits (or
                          rename a spare with the same limits into place)
    attach(cid, pid)      write the pid to `cgroup.procs`, right after the process was started
    limitation(cid)       after the main process ended: the OOM message, or None
    release(cid)          after it ended: keep its cgroups as a spare, else destroy them
    destroy(cid)          SIGKILL everything still listed in the cgroup, then rmdir it

Spares: creating and removing a cgroup pair costs about 0.1 ms per container, and bursts of
short tasks with the same resources are common. On v1 a finished container's cgroups, once
empty and not OOM-killed (isolation.spare_reusable), are renamed to `spare-<n>` in the agent's
directory and renamed into the next container with the same limits, so its limits need no
writing. At most MAX_SPARES are kept, each for SPARE_IDLE_S; `trim_spares` and `close` remove
them, and a restarted agent removes those its previous run left. v2 cannot rename a cgroup.

Files kept open: every launch writes a cgroup's `tasks` and every end reads `memory.oom_control`
and `memory.usage_in_bytes` and resets the peak. Opening a cgroup file costs several times the
read or write itself (the first open after a task ended measured 40 µs), so each container's
cgroups (`_Cgroups`) keep those descriptors open; a descriptor follows its cgroup through the
spare renames, so a spare is reused with its files already open. They are read with pread at
offset 0, which restarts these single-value files. Not `cgroup.procs`: v1 caches its pid list per
open file, so it is opened afresh each time. Open descriptors are bounded (`fd_budget`, a quarter
of the soft RLIMIT_NOFILE); past it a file is opened and closed around each use.

Getting the process in without a window: on v1 the agent moves its own launching thread into
the container's cgroups (`tasks` takes single threads), starts the process with vfork (the
child is born inside), and moves the thread back: about 0.1 ms per launch, and nothing the task
forks can escape. It writes "0" (the writing thread itself), not its thread id: the kernel then
skips the global lock that migrating another thread takes, whose RCU grace period made one
move-in in ten wait 0.5 ms or more. Meanwhile page faults of the agent are charged to the
container's (empty) cgroup, which is why the thread stays there only for the spawn. On v2 threads of a
domain cgroup cannot move alone, so the pid is written to `cgroup.procs` right after `Popen`
returns (the agent uses no preexec hook, which keeps launches on the vfork path): in that window
of some tens of microseconds the task runs in the agent's cgroup, and what it forks then stays
there. Such early children still die with the task's process group on a kill; they only escape
the limits. The same fallback is used on v1 when the agent's own cgroup is not visible.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import resource
import signal
import time
from collections.abc import Iterator

from pydcos.core.log import get_logger
from pydcos.mesos.agent.isolation import (
    SPARE_PREFIX,
    Layout,
    Limits,
    choose_layout,
    limit_writes,
    memory_limitation_message,
    memory_usage_file,
    oom_files,
    oom_killed,
    parse_int,
    peak_reset,
    spare_reusable,
)

log = get_logger("pydcos.agent.cgroups")

PROC_MOUNTS = "/proc/self/mounts"
PROC_CGROUP = "/proc/self/cgroup"
KILL_ROUNDS = 3
# Spare cgroups: enough for a burst of short tasks to reuse, few enough that idle ones cost little
# kernel memory (a memory cgroup holds per-cpu statistics); each is removed after SPARE_IDLE_S.
MAX_SPARES = 256
SPARE_IDLE_S = 30.0


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode("ascii"))
    finally:
        os.close(fd)


def _read_small(path: str) -> bytes:
    """A cgroup file's first bytes (enough to tell empty from not, or to hold a number)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 64)
    finally:
        os.close(fd)


class _FdBudget:
    """How many cgroup files the isolator may keep open, and how many are."""

    __slots__ = ("limit", "used")

    def __init__(self) -> None:
        self.limit: int | None = None
        self.used = 0

    def take(self) -> bool:
        """Whether one more file may be kept open (it is then counted)."""
        if self.limit is None:  # read at first use: by then the agent lifted its soft limit
            self.limit = fd_budget()  # (containerizer.raise_fd_limit)
        if self.used >= self.limit:
            return False
        self.used += 1
        return True


class _Cgroups:
    """One container's cgroups (a path per controller) and the files kept open in them."""

    __slots__ = ("paths", "_fds", "_budget")

    def __init__(self, paths: dict[str, str], budget: _FdBudget) -> None:
        self.paths = paths
        self._fds: dict[tuple[str, str], int] = {}
        self._budget = budget

    def _open(self, controller: str, name: str, flags: int) -> tuple[int, bool]:
        fd = self._fds.get((controller, name))
        if fd is not None:
            return fd, True
        fd = os.open(os.path.join(self.paths[controller], name), flags | os.O_CLOEXEC)
        if self._budget.take():
            self._fds[(controller, name)] = fd
            return fd, True
        return fd, False

    def read(self, controller: str, name: str, size: int = 4096) -> bytes:
        """A single-value file's contents (not `cgroup.procs`: see the module doc)."""
        fd, kept = self._open(controller, name, os.O_RDONLY)
        try:
            return os.pread(fd, size, 0)
        finally:
            if not kept:
                os.close(fd)

    def write(self, controller: str, name: str, data: bytes) -> None:
        fd, kept = self._open(controller, name, os.O_WRONLY)
        try:
            os.pwrite(fd, data, 0)
        finally:
            if not kept:
                os.close(fd)

    def rename(self, targets: dict[str, str]) -> None:
        """Move each cgroup to its target; `paths` says where each one is, even when a rename
        fails half way (raises OSError). The open files follow."""
        for controller, target in targets.items():
            os.rename(self.paths[controller], target)
            self.paths[controller] = target

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._budget.used -= len(self._fds)
        self._fds.clear()


def fd_budget() -> int:
    """A quarter of the soft limit on open files: the rest is for tasks' pidfds, sockets, logs."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return 0
    return 16_384 if soft == resource.RLIM_INFINITY else max(0, soft // 4)


class CgroupIsolator:
    """Owns the container cgroups of one agent. `agent_key` (the agent id once registered) names
    the agent's directory; set it before the first container."""

    def __init__(self, layout: Layout, *, root_name: str = "pydcos", cpu_quota: bool = False) -> None:
        self.layout = layout
        self.root_name = root_name
        self.cpu_quota = cpu_quota
        self.agent_key = "unregistered"
        self._groups: dict[str, _Cgroups] = {}
        self._fd_budget = _FdBudget()
        self._limits: dict[str, Limits] = {}
        self._agent_dirs: set[str] = set()
        self._dirs_of_agent: dict[str, dict[str, str]] = {}  # agent key -> controller -> its directory
        self.spawn_inside = layout.version == 1
        self.reuse = layout.version == 1  # v2 cannot rename a cgroup
        self._spares: dict[Limits, list[tuple[_Cgroups, float]]] = {}  # oldest first
        self._spare_count = 0
        self._spare_names = itertools.count()
        self._home_fds: dict[str, int] = {}  # controller -> the agent's own `tasks` file, open

    # --- detection ----------------------------------------------------------------------

    @classmethod
    def detect(cls, *, root_name: str = "pydcos", cpu_quota: bool = False) -> CgroupIsolator | str:
        """A working isolator, or why cgroups cannot be used here (probed by creating, limiting
        and removing a cgroup under the pydcos parent)."""
        try:
            layout = choose_layout(_read(PROC_MOUNTS), _read(PROC_CGROUP))
        except OSError as exc:
            return f"cannot read {exc.filename}: {exc.strerror}"
        if isinstance(layout, str):
            return layout
        # Inside a container without a cgroup namespace, /proc/self/cgroup names a path that is
        # the mount's root here: use the root then.
        own = {c: (p if os.path.isdir(os.path.join(layout.mounts[c], p.lstrip("/"))) else "/")
               for c, p in layout.own.items()}
        isolator = cls(Layout(layout.version, layout.mounts, own), root_name=root_name, cpu_quota=cpu_quota)
        # Moving the launching thread back needs its true cgroup: only when it is visible.
        isolator.spawn_inside = layout.version == 1 and own == layout.own
        problem = isolator._probe()
        return problem if problem is not None else isolator

    def _probe(self) -> str | None:
        key, agent_dir = "probe", f"probe-{os.getpid()}-{id(self):x}"
        try:
            if self.layout.version == 2:
                self._enable_v2_controllers()
            self.create(key, Limits(cpu_shares=1024, memory_bytes=64 * 1024 * 1024), agent_key=agent_dir)
        except OSError as exc:
            return f"cgroups under {self.layout.base(self.layout.controllers()[0], self.root_name)} " \
                   f"are not writable: {exc.strerror or exc} ({exc.filename or ''})"
        finally:
            self.destroy(key)
            self._agent_dirs.discard(agent_dir)
            self._rmdir_agent_dirs([agent_dir])
        return None

    def _enable_v2_controllers(self) -> None:
        """v2 only delegates a controller to children listed in the parent's subtree_control."""
        mount, own = self.layout.mounts[""], self.layout.own[""].strip("/")
        chain = [os.path.join(mount, own)] if own else [mount]
        chain.append(self.layout.base("", self.root_name))
        os.makedirs(chain[-1], exist_ok=True)
        for directory in chain:
            enabled = _read(os.path.join(directory, "cgroup.subtree_control")).split()
            wanted = [c for c in ("cpu", "memory") if c not in enabled]
            if wanted:
                _write(os.path.join(directory, "cgroup.subtree_control"), " ".join("+" + c for c in wanted))

    # --- containers ---------------------------------------------------------------------

    def create(self, container_id: str, limits: Limits, *, agent_key: str | None = None) -> None:
        """Make the container's cgroups and write its limits. Raises OSError."""
        key = agent_key or self.agent_key
        dirs = self._dirs_of_agent.get(key)
        if dirs is None:  # a launch needs them every time: joined once per agent
            dirs = self._dirs_of_agent[key] = self.layout.agent_dirs(self.root_name, key)
        paths = {c: f"{agent_dir}/{container_id}" for c, agent_dir in dirs.items()}
        if key not in self._agent_dirs:
            self._prepare_agent_dir(key)
        self._limits[container_id] = limits
        spare = self._take_spare(limits, paths)
        if spare is not None:
            self._groups[container_id] = spare
            return
        group = self._groups[container_id] = _Cgroups(paths, self._fd_budget)
        for path in paths.values():
            try:
                os.mkdir(path, 0o755)
            except FileNotFoundError:  # the agent's directory was removed under us: make it again
                self._prepare_agent_dir(key)
                os.mkdir(path, 0o755)
        for controller, name, value in limit_writes(self.layout.version, limits):
            _write(os.path.join(group.paths[controller], name), value)

    def _prepare_agent_dir(self, key: str) -> None:
        ours = {p for spares in self._spares.values() for spare, _ in spares for p in spare.paths.values()}
        for controller in self.layout.controllers():
            agent_dir = os.path.join(self.layout.base(controller, self.root_name), key)
            os.makedirs(agent_dir, exist_ok=True)
            for path in _subdirs(agent_dir):  # spares a previous run of this agent left (all empty)
                if path.rsplit("/", 1)[-1].startswith(SPARE_PREFIX) and path not in ours:
                    with contextlib.suppress(OSError):
                        os.rmdir(path)
        if self.layout.version == 2:
            agent_dir = os.path.join(self.layout.base("", self.root_name), key)
            enabled = _read(os.path.join(agent_dir, "cgroup.subtree_control")).split()
            wanted = [c for c in ("cpu", "memory") if c not in enabled]
            if wanted:
                _write(os.path.join(agent_dir, "cgroup.subtree_control"), " ".join("+" + c for c in wanted))
        self._agent_dirs.add(key)

    def adopt(self, container_id: str, limits: Limits) -> None:
        """Track a container's cgroups left by a previous run of the agent (same agent id)."""
        paths = {c: p for c, p in self.layout.container_paths(self.root_name, self.agent_key, container_id).items()
                 if os.path.isdir(p)}
        if paths:
            self._groups[container_id] = _Cgroups(paths, self._fd_budget)
            self._limits[container_id] = limits
            self._agent_dirs.add(self.agent_key)

    def update(self, container_id: str, limits: Limits) -> None:
        """New limits for a running container (a custom executor that received another task)."""
        group = self._groups.get(container_id)
        if group is None:
            return
        self._limits[container_id] = limits
        for controller, name, value in limit_writes(self.layout.version, limits):
            if controller not in group.paths:
                continue
            try:
                _write(os.path.join(group.paths[controller], name), value)
            except OSError as exc:
                log.warning("cgroup_limit_update_failed", container_id=container_id, file=name,
                            error=exc.strerror or str(exc))

    @contextlib.contextmanager
    def spawning(self, container_id: str) -> Iterator[None]:
        """Around the spawn of the container's process (v1): the calling thread sits in the
        container's cgroups, so the child is born there. Raises OSError when it cannot move in."""
        group = self._groups.get(container_id)
        if not self.spawn_inside or group is None:
            yield
            return
        moved: list[str] = []
        try:
            for controller in group.paths:
                group.write(controller, "tasks", b"0")  # "0": this thread (see the module doc)
                moved.append(controller)
            yield
        finally:
            for controller in moved:
                try:
                    os.pwrite(self._home_fd(controller), b"0", 0)
                except OSError as exc:
                    log.warning("cgroup_thread_move_back_failed", controller=controller,
                                error=exc.strerror or str(exc))

    def spawn_moves(self, container_id: str) -> tuple[list[str], list[str]]:
        """For a spawn by the task launcher (v1): the `tasks` files its thread writes "0" to
        before the spawn (the container's) and after it (its home: the agent's, where it was born)."""
        group = self._groups.get(container_id)
        if not self.spawn_inside or group is None:
            return [], []
        enter = [os.path.join(path, "tasks") for path in group.paths.values()]
        leave = [os.path.join(self.layout.mounts[c], self.layout.own[c].lstrip("/"), "tasks") for c in group.paths]
        return enter, leave

    def _home_fd(self, controller: str) -> int:
        """The agent's own `tasks` file in a hierarchy, opened once: every launch writes to it."""
        fd = self._home_fds.get(controller)
        if fd is None:
            home = os.path.join(self.layout.mounts[controller], self.layout.own[controller].lstrip("/"))
            fd = self._home_fds[controller] = os.open(os.path.join(home, "tasks"), os.O_WRONLY | os.O_CLOEXEC)
        return fd

    def attach(self, container_id: str, pid: int) -> None:
        """Move a just-started process into the container's cgroups (when it was not born there).
        A process that already exited is fine (ESRCH); anything else raises OSError."""
        if self.spawn_inside:
            return
        group = self._groups.get(container_id)
        for path in group.paths.values() if group else ():
            try:
                _write(os.path.join(path, "cgroup.procs"), str(pid))
            except ProcessLookupError:
                return

    def pids(self, container_id: str) -> set[int]:
        out: set[int] = set()
        group = self._groups.get(container_id)
        for path in group.paths.values() if group else ():
            with contextlib.suppress(OSError):
                out.update(int(p) for p in _read(os.path.join(path, "cgroup.procs")).split() if p.isdigit())
        return out

    def kill_all(self, container_id: str) -> None:
        """SIGKILL every process in the container's cgroups (`cgroup.kill` on v2 when present)."""
        group = self._groups.get(container_id)
        if self.layout.version == 2 and group is not None and "" in group.paths:
            with contextlib.suppress(OSError):
                _write(os.path.join(group.paths[""], "cgroup.kill"), "1")
                return
        for _ in range(KILL_ROUNDS):  # a process may fork between the read and the kill
            pids = self.pids(container_id)
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def limitation(self, container_id: str) -> str | None:
        """After the container's main process ended: the memory limitation that killed it, if any."""
        group = self._groups.get(container_id)
        if group is None:
            return None
        (controller, events), (_, peak) = oom_files(self.layout.version)
        if controller not in group.paths:
            return None
        try:
            contents = {events: group.read(controller, events).decode("ascii", "replace")}
        except OSError:
            return None
        if not oom_killed(self.layout.version, contents):
            return None
        try:  # read only after an OOM kill: this runs for every task that ends
            peak_bytes = parse_int(_read(os.path.join(group.paths[controller], peak)))
        except OSError:
            peak_bytes = None
        return memory_limitation_message(self._limits[container_id].memory_bytes, peak_bytes)

    def release(self, container_id: str, *, oom: bool, now: float) -> bool:
        """After the container's processes ended: keep its cgroups as a spare for the next
        container with the same limits when nothing of it is left, else `destroy` them. False
        while one is still busy (what is left is SIGKILLed): call `destroy` again later. `now`
        (monotonic) dates the spare for `trim_spares`."""
        group = self._groups.get(container_id)
        limits = self._limits.get(container_id)
        if (group is None or limits is None or not self.reuse or self._spare_count >= MAX_SPARES
                or oom or len(group.paths) != len(self.layout.controllers())):
            return self.destroy(container_id)
        usage_controller, usage_file = memory_usage_file(self.layout.version)
        try:
            left = {int(pid) for p in group.paths.values()
                    for pid in _read_small(os.path.join(p, "cgroup.procs")).split() if pid.isdigit()}
            if left:  # members still dying (a kill ends the leader first): SIGKILL them, remove it later
                for pid in left:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                return False
            charged = parse_int(group.read(usage_controller, usage_file, 64).decode("ascii"))
        except (OSError, KeyError, UnicodeDecodeError):
            return self.destroy(container_id)
        if not spare_reusable(self.layout.version, oom=oom, processes_left=bool(left), charged_bytes=charged):
            return self.destroy(container_id)
        name = f"{SPARE_PREFIX}{next(self._spare_names)}"
        try:
            reset = peak_reset(self.layout.version)
            if reset is not None:
                group.write(reset[0], reset[1], reset[2].encode("ascii"))
            group.rename({c: os.path.join(os.path.dirname(path), name) for c, path in group.paths.items()})
        except OSError:
            return self.destroy(container_id)
        del self._groups[container_id]
        del self._limits[container_id]
        self._spares.setdefault(limits, []).append((group, now))
        self._spare_count += 1
        return True

    def _take_spare(self, limits: Limits, paths: dict[str, str]) -> _Cgroups | None:
        """Rename a spare with these limits to the container's paths; None when there is none."""
        spares = self._spares.get(limits)
        while spares:
            spare, _ = spares.pop()
            self._spare_count -= 1
            if not spares:
                del self._spares[limits]
            was = dict(spare.paths)
            try:
                spare.rename({c: paths[c] for c in was})
                for path in spare.paths.values():
                    # Renaming keeps the old mtime: a fresh one keeps collect_garbage away until it runs.
                    os.utime(path)
                return spare
            except (OSError, KeyError):  # e.g. the agent's id changed: a cgroup is renamed within its parent only
                with contextlib.suppress(OSError):
                    spare.rename({c: path for c, path in was.items() if spare.paths[c] != path})
                self._discard(spare)
            spares = self._spares.get(limits)
        return None

    def trim_spares(self, older_than: float) -> int:
        """Remove the spares released before `older_than` (monotonic). Returns how many went."""
        removed = 0
        for limits in list(self._spares):
            spares = self._spares[limits]
            while spares and spares[0][1] < older_than:
                spare, _ = spares.pop(0)
                self._discard(spare)
                self._spare_count -= 1
                removed += 1
            if not spares:
                del self._spares[limits]
        return removed

    @property
    def spares(self) -> int:
        return self._spare_count

    def _discard(self, group: _Cgroups) -> None:
        group.close()
        for path in group.paths.values():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("cgroup_remove_failed", path=path, error=exc.strerror or str(exc))

    def destroy(self, container_id: str) -> bool:
        """Remove the container's cgroups, SIGKILLing whatever still keeps one busy. False while
        one is still busy (killed processes not yet gone): call again later."""
        group = self._groups.get(container_id)
        if group is None:
            return True
        group.close()
        left = {}
        for controller, path in group.paths.items():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    log.warning("cgroup_remove_failed", container_id=container_id, path=path,
                                error=exc.strerror or str(exc))
                left[controller] = path
        if left:
            group.paths = left
            self.kill_all(container_id)  # rmdir failed: something still runs in there
            return False
        del self._groups[container_id]
        self._limits.pop(container_id, None)
        return True

    def forget(self, container_id: str) -> None:
        """Stop tracking a container whose cgroups could not be removed (logged by the caller)."""
        group = self._groups.pop(container_id, None)
        if group is not None:
            group.close()
        self._limits.pop(container_id, None)

    def __len__(self) -> int:
        return len(self._groups)

    def collect_garbage(self, min_age_s: float = 60.0) -> int:
        """Remove what agents that died without cleaning up left under the pydcos parent: empty
        container and agent cgroups older than `min_age_s`. The kernel refuses to remove a
        cgroup that still has processes or children, and the age keeps a live agent's cgroup
        between its creation and its process's start out of reach. Returns how many went."""
        removed = 0
        old = time.time() - min_age_s
        for controller in self.layout.controllers():
            base = self.layout.base(controller, self.root_name)
            for agent_dir in _subdirs(base):
                for container_dir in _subdirs(agent_dir):
                    removed += _rmdir_if_older(container_dir, old)
                if agent_dir.rsplit("/", 1)[-1] not in self._agent_dirs:
                    removed += _rmdir_if_older(agent_dir, old)
        return removed

    def kill_stale(self, agent_key: str, keep: set[str]) -> int:
        """SIGKILL what runs in the container cgroups a previous run of this agent (`agent_key`)
        left, except the containers in `keep` (being recovered). Returns how many processes."""
        killed = 0
        for controller in self.layout.controllers():
            for container_dir in _subdirs(os.path.join(self.layout.base(controller, self.root_name), agent_key)):
                if container_dir.rsplit("/", 1)[-1] in keep:
                    continue
                with contextlib.suppress(OSError):
                    for pid in {int(p) for p in _read(os.path.join(container_dir, "cgroup.procs")).split()}:
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(pid, signal.SIGKILL)
                            killed += 1
        return killed

    def close(self) -> None:
        """Remove the spares and the agent's directories (the containers' cgroups are gone by now)."""
        self.trim_spares(older_than=float("inf"))
        for fd in self._home_fds.values():
            os.close(fd)
        self._home_fds.clear()
        self._rmdir_agent_dirs(list(self._agent_dirs))
        self._agent_dirs.clear()

    def _rmdir_agent_dirs(self, keys: list[str]) -> None:
        for key in keys:
            for controller in self.layout.controllers():
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(self.layout.base(controller, self.root_name), key))


def _subdirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as entries:
            return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _rmdir_if_older(path: str, than: float) -> int:
    try:
        if os.stat(path).st_mtime >= than:
            return 0
        os.rmdir(path)
        return 1
    except OSError:  # busy (processes or children in it), or gone meanwhile
        return 0
