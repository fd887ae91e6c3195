"""Resource isolation with cgroups, decided without touching the machine. Pure.

Which hierarchy to use (v2 when the unified hierarchy is mounted at /sys/fs/cgroup, else the v1
`cpu` and `memory` hierarchies), where a container's cgroups live, what to write into them, and
how to read an OOM kill back. The shell in `cgroups.py` does the file system work.

Container cgroups nest under the agent's own cgroup, so an agent started inside a delegated
subtree (a systemd service, a container) stays inside it:

    <mount>/<controller>/<agent's own cgroup>/pydcos/<agent id>/<container id>     (v1)
    <mount>/<agent's own cgroup>/pydcos/<agent id>/<container id>                  (v2)

>>> limits_for(Resources.parse("cpus:0.5;mem:64"), cpu_quota=True)
Limits(cpu_shares=512, cpu_quota_us=50000, memory_bytes=67108864)
>>> limits_for(Resources.parse("cpus:0.001;mem:1"), cpu_quota=False)
Limits(cpu_shares=2, cpu_quota_us=None, memory_bytes=33554432)
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Literal

from pydcos.mesos.resources import Resources

# As Mesos's cgroups isolators: 1024 shares per cpu, at least 2; a 100 ms CFS period with at least
# 1 ms of quota; at least 32 MB of memory, so a tiny `mem` cannot make a task unstartable.
CPU_SHARES_PER_CPU = 1024
MIN_CPU_SHARES = 2
CFS_PERIOD_US = 100_000
MIN_CFS_QUOTA_US = 1_000
MIN_MEMORY_BYTES = 32 * 1024 * 1024
MB = 1024 * 1024
CGROUP_MOUNT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("cpu", "memory")

Version = Literal[1, 2]


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_shares: int | None = None
    cpu_quota_us: int | None = None
    memory_bytes: int | None = None


def limits_for(resources: Resources, *, cpu_quota: bool) -> Limits:
    """The limits for a container holding these resources (no `cpus` or `mem`: no such limit)."""
    cpus = resources.scalar("cpus")
    mem = resources.scalar("mem")
    shares = max(MIN_CPU_SHARES, int(cpus * CPU_SHARES_PER_CPU)) if cpus > 0 else None
    quota = max(MIN_CFS_QUOTA_US, int(cpus * CFS_PERIOD_US)) if cpus > 0 and cpu_quota else None
    memory = max(MIN_MEMORY_BYTES, int(mem * MB)) if mem > 0 else None
    return Limits(cpu_shares=shares, cpu_quota_us=quota, memory_bytes=memory)


def v2_cpu_weight(shares: int) -> int:
    """cgroup v2 `cpu.weight` (1..10000) for v1 shares (2..262144), as systemd and runc map them.

    >>> v2_cpu_weight(2), v2_cpu_weight(1024), v2_cpu_weight(262144)
    (1, 39, 10000)
    """
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the hierarchies are: for v1 the mount point and the agent's own path per controller;
    for v2 one mount (key "") and the agent's own path."""

    version: Version
    mounts: dict[str, str]  # controller ("" for v2) -> mount point
    own: dict[str, str]  # controller ("" for v2) -> the agent's own cgroup, "/..."

    def controllers(self) -> tuple[str, ...]:
        return ("",) if self.version == 2 else V1_CONTROLLERS

    def base(self, controller: str, root_name: str) -> str:
        """The pydcos parent directory for a controller."""
        own = self.own.get(controller, "/").lstrip("/")
        return posixpath.join(self.mounts[controller], own, root_name)

    def container_paths(self, root_name: str, agent_key: str, container_id: str) -> dict[str, str]:
        return {c: f"{agent_dir}/{container_id}"
                for c, agent_dir in self.agent_dirs(root_name, agent_key).items()}

    def agent_dirs(self, root_name: str, agent_key: str) -> dict[str, str]:
        """Each controller's directory for one agent's containers."""
        return {c: posixpath.join(self.base(c, root_name), agent_key) for c in self.controllers()}


def parse_mounts(text: str) -> tuple[str | None, dict[str, str]]:
    """From /proc/self/mounts: (the cgroup2 mount point if any, v1 controller -> mount point).

    >>> parse_mounts("cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\\n"
    ...              "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0")
    ('/sys/fs/cgroup/unified', {'memory': '/sys/fs/cgroup/memory'})
    """
    unified: str | None = None
    v1: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        mount_point = fields[1].replace("\\040", " ")
        if fields[2] == "cgroup2":
            if unified is None or mount_point == CGROUP_MOUNT:
                unified = mount_point
        elif fields[2] == "cgroup":
            for option in fields[3].split(","):
                if option in V1_CONTROLLERS:
                    v1.setdefault(option, mount_point)
    return unified, v1


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """From /proc/self/cgroup: controller -> own path ("" is the v2 entry).

    >>> parse_proc_cgroup("4:memory:/pa/x\\n2:cpu,cpuacct:/\\n0::/user.slice")
    {'memory': '/pa/x', 'cpu': '/', 'cpuacct': '/', '': '/user.slice'}
    """
    own: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            own[controller] = parts[2] or "/"
    return own


def choose_layout(mounts_text: str, proc_cgroup_text: str) -> Layout | str:
    """The layout to use, or why there is none. v2 only when unified is mounted at /sys/fs/cgroup
    itself (a hybrid system's `unified` directory carries no cpu or memory controller)."""
    unified, v1 = parse_mounts(mounts_text)
    own = parse_proc_cgroup(proc_cgroup_text)
    if unified == CGROUP_MOUNT:
        return Layout(version=2, mounts={"": unified}, own={"": own.get("", "/")})
    missing = [c for c in V1_CONTROLLERS if c not in v1]
    if missing:
        return f"no cgroup v1 hierarchy for {', '.join(missing)} and no cgroup v2 at {CGROUP_MOUNT}"
    return Layout(version=1, mounts=dict(v1), own={c: own.get(c, "/") for c in V1_CONTROLLERS})


def limit_writes(version: Version, limits: Limits) -> list[tuple[str, str, str]]:
    """(controller, file, value) to write, in order.

    >>> limit_writes(2, Limits(cpu_shares=1024, cpu_quota_us=50000, memory_bytes=MIN_MEMORY_BYTES))
    [('', 'cpu.weight', '39'), ('', 'cpu.max', '50000 100000'), ('', 'memory.max', '33554432')]
    """
    out: list[tuple[str, str, str]] = []
    if version == 1:
        if limits.cpu_shares is not None:
            out.append(("cpu", "cpu.shares", str(limits.cpu_shares)))
        if limits.cpu_quota_us is not None:
            out.append(("cpu", "cpu.cfs_period_us", str(CFS_PERIOD_US)))
            out.append(("cpu", "cpu.cfs_quota_us", str(limits.cpu_quota_us)))
        if limits.memory_bytes is not None:
            out.append(("memory", "memory.limit_in_bytes", str(limits.memory_bytes)))
        return out
    if limits.cpu_shares is not None:
        out.append(("", "cpu.weight", str(v2_cpu_weight(limits.cpu_shares))))
    if limits.cpu_quota_us is not None:
        out.append(("", "cpu.max", f"{limits.cpu_quota_us} {CFS_PERIOD_US}"))
    if limits.memory_bytes is not None:
        out.append(("", "memory.max", str(limits.memory_bytes)))
    return out


def oom_files(version: Version) -> tuple[tuple[str, str], ...]:
    """(controller, file) to read after the container's main process ended."""
    if version == 1:
        return (("memory", "memory.oom_control"), ("memory", "memory.max_usage_in_bytes"))
    return (("", "memory.events"), ("", "memory.peak"))


def _counter(text: str, name: str) -> int:
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return 0


def oom_killed(version: Version, contents: dict[str, str]) -> bool:
    """Whether the kernel OOM-killed a process of the container (`contents`: file -> text).

    >>> oom_killed(1, {"memory.oom_control": "oom_kill_disable 0\\nunder_oom 0\\noom_kill 1"})
    True
    >>> oom_killed(2, {"memory.events": "low 0\\nhigh 0\\nmax 3\\noom 1\\noom_kill 0"})
    False
    """
    if version == 1:
        text = contents.get("memory.oom_control", "")
        return _counter(text, "oom_kill") > 0 or _counter(text, "under_oom") > 0
    return _counter(contents.get("memory.events", ""), "oom_kill") > 0


def memory_limitation_message(limit_bytes: int | None, peak_bytes: int | None) -> str:
    """Mesos's wording for a container killed over its memory limit.

    >>> memory_limitation_message(64 * MB, 70 * MB)
    'Memory limit exceeded: Requested: 64MB Maximum Used: 70MB'
    """
    requested = f"{limit_bytes // MB}MB" if limit_bytes else "unknown"
    used = f"{peak_bytes // MB}MB" if peak_bytes else "unknown"
    return f"Memory limit exceeded: Requested: {requested} Maximum Used: {used}"


# A finished container's cgroups are kept as a spare for the next container with the same limits
# (v1 only: cgroup v2 cannot rename a cgroup) when nothing of it is left: no process, no OOM kill,
# and at most this much memory still charged to it (page cache the kernel reclaims first), so a
# reused cgroup leaves its next task practically all of its limit.
SPARE_MAX_CHARGED_BYTES = 1024 * 1024
SPARE_PREFIX = "spare-"


def memory_usage_file(version: Version) -> tuple[str, str]:
    """(controller, file) holding what is charged to a cgroup now."""
    return ("memory", "memory.usage_in_bytes") if version == 1 else ("", "memory.current")


def peak_reset(version: Version) -> tuple[str, str, str] | None:
    """(controller, file, value) that restarts a reused cgroup's peak memory figure, if any."""
    return ("memory", "memory.max_usage_in_bytes", "0") if version == 1 else None


def spare_reusable(version: Version, *, oom: bool, processes_left: bool, charged_bytes: int | None) -> bool:
    """Whether a finished container's cgroups may serve the next container with the same limits.

    >>> spare_reusable(1, oom=False, processes_left=False, charged_bytes=491_520)
    True
    >>> spare_reusable(1, oom=False, processes_left=False, charged_bytes=4 << 20)
    False
    >>> spare_reusable(2, oom=False, processes_left=False, charged_bytes=0)
    False
    """
    if version != 1 or oom or processes_left or charged_bytes is None:
        return False
    return charged_bytes <= SPARE_MAX_CHARGED_BYTES


def parse_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None
