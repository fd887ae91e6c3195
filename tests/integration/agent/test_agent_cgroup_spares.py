"""Spare cgroups: a finished container's cgroups serve the next container with the same limits
(cgroup v1), unless something of the old one is left; spares are trimmed and removed at close."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from agent_fake_master import FRAMEWORK_ID, FakeMaster, run

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.cgroups import CgroupIsolator
from pydcos.mesos.agent.isolation import SPARE_PREFIX, Limits
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.v1.messages import CommandInfo, Id, TaskInfo, scalar

PROBE = CgroupIsolator.detect()
needs_v1 = pytest.mark.skipif(isinstance(PROBE, str) or PROBE.layout.version != 1,
                              reason=f"needs usable cgroup v1 hierarchies: {PROBE}")
LIMITS = Limits(cpu_shares=102, memory_bytes=32 << 20)


def task(task_id: str, command: str, cpus: float = 0.1, mem: float = 32) -> TaskInfo:
    return TaskInfo(name=task_id, task_id=Id(task_id), resources=[scalar("cpus", cpus), scalar("mem", mem)],
                    command=CommandInfo(value=command))


def spare_dirs(isolator: CgroupIsolator, agent_key: str) -> list[Path]:
    return sorted(p for c in isolator.layout.controllers()
                  for p in Path(isolator.layout.base(c, isolator.root_name), agent_key).glob(SPARE_PREFIX + "*"))


def container_dirs(isolator: CgroupIsolator, agent_key: str, container_id: str) -> dict[str, Path]:
    paths = isolator.layout.container_paths(isolator.root_name, agent_key, container_id)
    return {c: Path(p) for c, p in paths.items()}


def thread_cgroups() -> dict[str, str]:
    lines = Path("/proc/thread-self/cgroup").read_text().splitlines()
    return {c: line.split(":", 2)[2] for line in lines for c in line.split(":", 2)[1].split(",")}


@pytest.fixture
def isolator() -> CgroupIsolator:
    assert not isinstance(PROBE, str)
    found = CgroupIsolator(PROBE.layout, root_name=PROBE.root_name)
    found.spawn_inside = PROBE.spawn_inside
    found.agent_key = f"spares-test-{os.getpid()}"
    return found


@needs_v1
async def test_the_next_task_with_the_same_limits_gets_the_finished_ones_cgroups(
    agent: Agent, master: FakeMaster
) -> None:
    isolator = agent.isolator
    assert isolator is not None and isolator.spares == 0
    await master.send(run(task("first", "true")))
    await master.wait_status("first", "TASK_FINISHED")
    await wait_until(lambda: isolator.spares == 1, what="one spare")
    assert len(spare_dirs(isolator, isolator.agent_key)) == len(isolator.layout.controllers())

    await master.send(run(task("second", "exec sleep 60")))
    await master.wait_status("second", "TASK_RUNNING")
    assert isolator.spares == 0 and spare_dirs(isolator, isolator.agent_key) == []
    cid, pid = agent.tasks.container_id(FRAMEWORK_ID, "second"), agent.tasks.pid(FRAMEWORK_ID, "second")
    assert cid is not None and pid is not None
    dirs = container_dirs(isolator, isolator.agent_key, cid)
    assert (dirs["cpu"] / "cpu.shares").read_text().strip() == "102"
    assert (dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
    for d in dirs.values():
        assert (d / "cgroup.procs").read_text().split() == [str(pid)]

    # Other limits: a cgroup of its own, the spare stays for a task that fits it.
    await master.send(internal.KillTask(FRAMEWORK_ID, "second"))
    await master.wait_status("second", "TASK_KILLED")
    await wait_until(lambda: isolator.spares == 1, what="the killed task's cgroups kept")
    assert not any(d.exists() for d in dirs.values())
    await master.send(run(task("bigger", "exec sleep 60", cpus=0.2, mem=64)))
    await master.wait_status("bigger", "TASK_RUNNING")
    bigger = agent.tasks.container_id(FRAMEWORK_ID, "bigger")
    assert bigger is not None and isolator.spares == 1
    limit = container_dirs(isolator, isolator.agent_key, bigger)["memory"] / "memory.limit_in_bytes"
    assert limit.read_text().strip() == str(64 << 20)


@needs_v1
async def test_an_oom_killed_containers_cgroups_are_not_reused(agent: Agent, master: FakeMaster) -> None:
    hog = f"{sys.executable} -c \"x = b'x' * (300 << 20)\""
    await master.send(run(task("hog", hog, mem=40)))
    failed = await master.wait_status("hog", "TASK_FAILED", within=30)
    assert failed.reason == "REASON_CONTAINER_LIMITATION_MEMORY"
    assert agent.isolator is not None
    await wait_until(lambda: len(agent.isolator) == 0, what="its cgroups gone")  # type: ignore[arg-type]
    assert agent.isolator.spares == 0
    # The next task with those limits reports an OOM kill of its own only.
    await master.send(run(task("fine", f"{sys.executable} -c \"x = b'x' * (4 << 20)\"", mem=40)))
    await master.wait_status("fine", "TASK_FINISHED", within=30)


@needs_v1
def test_a_cgroup_with_a_process_left_is_not_kept(isolator: CgroupIsolator) -> None:
    isolator.create("busy", LIMITS)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        _move(isolator, "busy", sleeper.pid)
        assert not isolator.release("busy", oom=False, now=0.0)  # busy: killed, removed later
        assert isolator.spares == 0
        sleeper.wait(timeout=10)  # SIGKILLed by release
        assert sleeper.returncode == -9
        assert isolator.destroy("busy")
    finally:
        sleeper.kill()
        sleeper.wait()
        isolator.close()


@needs_v1
def test_spares_are_trimmed_when_idle_and_removed_at_close(isolator: CgroupIsolator) -> None:
    try:
        isolator.create("c0", LIMITS)
        isolator.create("c1", LIMITS)
        assert isolator.release("c0", oom=False, now=10.0)
        assert isolator.release("c1", oom=False, now=20.0)
        assert isolator.spares == 2 and len(isolator) == 0
        assert isolator.trim_spares(older_than=15.0) == 1
        assert isolator.spares == 1 and len(spare_dirs(isolator, isolator.agent_key)) == 2
        isolator.create("c2", LIMITS)
        assert isolator.spares == 0
        assert isolator.release("c2", oom=True, now=30.0)  # an OOM kill: removed, not kept
        assert isolator.spares == 0 and spare_dirs(isolator, isolator.agent_key) == []
        isolator.create("c3", LIMITS)
        assert isolator.release("c3", oom=False, now=40.0)
    finally:
        isolator.close()
    assert isolator.spares == 0
    assert not Path(isolator.layout.base("memory", isolator.root_name), isolator.agent_key).exists()


@needs_v1
def test_spares_a_dead_run_of_the_agent_left_are_removed(isolator: CgroupIsolator) -> None:
    isolator.create("old", LIMITS)
    assert isolator.release("old", oom=False, now=0.0)
    left = spare_dirs(isolator, isolator.agent_key)
    assert left
    restarted = CgroupIsolator(isolator.layout, root_name=isolator.root_name)
    restarted.agent_key = isolator.agent_key
    try:
        restarted.create("new", LIMITS)  # a fresh cgroup: the old run's spares are not its own
        assert not any(p.exists() for p in left) and restarted.spares == 0
        assert restarted.destroy("new")
    finally:
        restarted.close()


@needs_v1
def test_the_launching_thread_is_inside_only_for_the_spawn(isolator: CgroupIsolator) -> None:
    if not isolator.spawn_inside:
        pytest.skip("the agent's own cgroup is not visible here")
    home = thread_cgroups()
    try:
        isolator.create("spawn", LIMITS)
        with isolator.spawning("spawn"):
            inside = thread_cgroups()
            child = subprocess.Popen(["sleep", "60"])
        assert thread_cgroups() == home
        for controller in isolator.layout.controllers():
            assert inside[controller].endswith(f"/{isolator.agent_key}/spawn")
            assert Path(f"/proc/{child.pid}/cgroup").read_text().count(f"/{isolator.agent_key}/spawn") == 2
        child.kill()
        child.wait()
        assert isolator.release("spawn", oom=False, now=0.0)
    finally:
        isolator.close()


def _move(isolator: CgroupIsolator, container_id: str, pid: int) -> None:
    """Put another process into a container's cgroups."""
    for path in container_dirs(isolator, isolator.agent_key, container_id).values():
        (path / "cgroup.procs").write_text(str(pid))


def open_fds(isolator: CgroupIsolator) -> int:
    """Descriptors this process holds on files in the isolator's cgroups (not counting others:
    a collected object of another test may close its own meanwhile)."""
    roots = tuple(isolator.layout.base(c, isolator.root_name) + "/" for c in isolator.layout.controllers())
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(roots)
    return count


@needs_v1
def test_a_spare_keeps_its_open_files_through_reuse_and_gives_them_back(isolator: CgroupIsolator) -> None:
    before = open_fds(isolator)
    try:
        for i in range(20):  # one pair of cgroups serves them all, renamed each time
            cid = f"c{i}"
            isolator.create(cid, LIMITS)
            with isolator.spawning(cid):
                child = subprocess.Popen([sys.executable, "-c", "pass"])
            assert child.wait() == 0
            assert isolator.limitation(cid) is None
            assert isolator.release(cid, oom=False, now=float(i))
            assert isolator.spares == 1
        kept = open_fds(isolator) - before
        assert 0 < kept <= 8  # tasks files, oom_control, usage, peak reset: not one set per container
    finally:
        isolator.close()
    assert open_fds(isolator) == before


@needs_v1
def test_files_read_through_a_kept_descriptor_are_current(isolator: CgroupIsolator) -> None:
    """The kept oom_control descriptor must see an OOM kill that happened after it was opened."""
    small = Limits(cpu_shares=102, memory_bytes=32 << 20)
    try:
        isolator.create("warm", small)
        assert isolator.limitation("warm") is None  # opens and reads oom_control
        assert isolator.release("warm", oom=False, now=1.0)
        isolator.create("hog", small)  # the spare, its oom_control descriptor already open
        with isolator.spawning("hog"):
            child = subprocess.Popen([sys.executable, "-c", "b = bytearray(256 << 20)"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert child.wait() == -9
        message = isolator.limitation("hog")
        assert message is not None and "Memory limit exceeded" in message
        assert isolator.release("hog", oom=True, now=2.0)  # OOM-killed: removed, not kept
        assert isolator.spares == 0
    finally:
        isolator.close()


@needs_v1
def test_past_the_descriptor_budget_files_are_opened_per_use(isolator: CgroupIsolator) -> None:
    isolator._fd_budget.limit = 0
    before = open_fds(isolator)
    try:
        for i in range(3):
            isolator.create(f"c{i}", LIMITS)
            with isolator.spawning(f"c{i}"):
                child = subprocess.Popen([sys.executable, "-c", "pass"])
            assert child.wait() == 0
            assert isolator.limitation(f"c{i}") is None
            assert open_fds(isolator) == before
            assert isolator.release(f"c{i}", oom=False, now=float(i))
        assert isolator.spares == 1 and open_fds(isolator) == before
    finally:
        isolator.close()
