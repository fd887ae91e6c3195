"""cgroups decisions: which hierarchy, where a container's cgroups are, what is written, OOM."""

from __future__ import annotations

import doctest
from typing import Literal

from pydcos.mesos.agent import isolation
from pydcos.mesos.agent.isolation import (
    MB,
    SPARE_MAX_CHARGED_BYTES,
    Layout,
    Limits,
    choose_layout,
    limit_writes,
    limits_for,
    memory_limitation_message,
    memory_usage_file,
    oom_killed,
    peak_reset,
    spare_reusable,
    v2_cpu_weight,
)
from pydcos.mesos.resources import Resources

HYBRID_MOUNTS = """tmpfs /sys/fs/cgroup tmpfs rw 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0
"""
HYBRID_SELF = "4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/\n"
UNIFIED_MOUNTS = "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n"


def test_limits() -> None:
    assert limits_for(Resources.parse("cpus:2;mem:1024"), cpu_quota=False) == Limits(2048, None, 1024 * MB)
    assert limits_for(Resources.parse("cpus:0.005"), cpu_quota=True) == Limits(5, 1000, None)
    assert limits_for(Resources.parse("disk:10"), cpu_quota=True) == Limits()


def test_hybrid_machine_uses_v1_under_the_agents_own_cgroups() -> None:
    layout = choose_layout(HYBRID_MOUNTS, HYBRID_SELF)
    assert isinstance(layout, Layout) and layout.version == 1
    assert layout.container_paths("pydcos", "S0", "c1") == {
        "cpu": "/sys/fs/cgroup/cpu,cpuacct/pydcos/S0/c1",
        "memory": "/sys/fs/cgroup/memory/process_api/abc/pydcos/S0/c1",
    }


def test_unified_machine_uses_v2() -> None:
    layout = choose_layout(UNIFIED_MOUNTS, "0::/system.slice/pydcos-agent.service\n")
    assert isinstance(layout, Layout) and layout.version == 2
    assert layout.container_paths("pydcos", "S0", "c1") == {
        "": "/sys/fs/cgroup/system.slice/pydcos-agent.service/pydcos/S0/c1"}


def test_no_usable_hierarchy_says_why() -> None:
    reason = choose_layout("cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n", "")
    assert reason == "no cgroup v1 hierarchy for cpu and no cgroup v2 at /sys/fs/cgroup"


def test_writes() -> None:
    limits = Limits(cpu_shares=512, cpu_quota_us=50_000, memory_bytes=64 * MB)
    assert limit_writes(1, limits) == [("cpu", "cpu.shares", "512"), ("cpu", "cpu.cfs_period_us", "100000"),
                                       ("cpu", "cpu.cfs_quota_us", "50000"),
                                       ("memory", "memory.limit_in_bytes", str(64 * MB))]
    assert limit_writes(2, Limits(memory_bytes=MB)) == [("", "memory.max", str(MB))]
    assert v2_cpu_weight(2048) == 79


def test_oom_detection() -> None:
    assert not oom_killed(1, {"memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"})
    assert oom_killed(1, {"memory.oom_control": "oom_kill_disable 0\nunder_oom 1\n"})  # kernels before 4.13
    assert oom_killed(2, {"memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n"})
    assert not oom_killed(2, {})
    assert memory_limitation_message(32 * MB, None) == "Memory limit exceeded: Requested: 32MB Maximum Used: unknown"


def test_doctests() -> None:
    assert doctest.testmod(isolation).failed == 0


def test_a_finished_container_is_a_spare_only_when_nothing_of_it_is_left() -> None:
    def reusable(version: Literal[1, 2] = 1, oom: bool = False, left: bool = False,
                 charged: int | None = 480 * 1024) -> bool:
        return spare_reusable(version, oom=oom, processes_left=left, charged_bytes=charged)

    assert reusable()
    assert not reusable(oom=True)
    assert not reusable(left=True)
    assert not reusable(charged=SPARE_MAX_CHARGED_BYTES + 1)
    assert not reusable(charged=None)
    assert not reusable(version=2)  # v2 cannot rename a cgroup


def test_what_a_reused_cgroup_reads_and_resets() -> None:
    assert memory_usage_file(1) == ("memory", "memory.usage_in_bytes")
    assert memory_usage_file(2) == ("", "memory.current")
    assert peak_reset(1) == ("memory", "memory.max_usage_in_bytes", "0")
    assert peak_reset(2) is None
