"""cgroups isolation on a real agent: limits written per container, OOM kills reported as
REASON_CONTAINER_LIMITATION_MEMORY, nothing of a container left behind, and the fallback."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_fake_master import FRAMEWORK_ID, FakeMaster, command_task, run, sandbox_of

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.cgroups import CgroupIsolator
from pydcos.mesos.agent.errors import IsolationError
from pydcos.mesos.agent.isolation import Limits
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.v1.messages import CommandInfo, ExecutorInfo, Id, TaskInfo, scalar

PROBE = CgroupIsolator.detect()
needs_cgroups = pytest.mark.skipif(isinstance(PROBE, str), reason=f"cgroups not usable here: {PROBE}")


def task(task_id: str, command: str, cpus: float = 0.1, mem: float = 32) -> TaskInfo:
    return TaskInfo(name=task_id, task_id=Id(task_id), resources=[scalar("cpus", cpus), scalar("mem", mem)],
                    command=CommandInfo(value=command))


def cgroup_dirs(agent: Agent, container_id: str) -> dict[str, Path]:
    assert agent.isolator is not None
    paths = agent.isolator.layout.container_paths(agent.isolator.root_name, agent.isolator.agent_key, container_id)
    return {c: Path(p) for c, p in paths.items()}


def proc_cgroup(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


@needs_cgroups
async def test_limits_are_written_and_the_task_runs_inside(make_agent: Any, master: FakeMaster) -> None:
    agent: Agent = await make_agent(cgroups_cpu_quota=True)
    assert agent.isolation.startswith("cgroups_v")
    await master.send(run(task("lim.1", "exec sleep 60", cpus=0.5, mem=64)))
    await master.wait_status("lim.1", "TASK_RUNNING")
    cid = agent.tasks.container_id(FRAMEWORK_ID, "lim.1")
    pid = agent.tasks.pid(FRAMEWORK_ID, "lim.1")
    assert cid is not None and pid is not None
    dirs = cgroup_dirs(agent, cid)
    if agent.isolator and agent.isolator.layout.version == 1:
        assert (dirs["cpu"] / "cpu.shares").read_text().strip() == "512"
        assert (dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    for d in dirs.values():
        assert str(pid) in (d / "cgroup.procs").read_text().split()
    assert cid in proc_cgroup(pid)
    await master.send(internal.KillTask(FRAMEWORK_ID, "lim.1"))
    await master.wait_status("lim.1", "TASK_KILLED")
    await wait_until(lambda: not any(d.exists() for d in dirs.values()), what="cgroups removed")


@needs_cgroups
async def test_a_task_over_its_memory_limit_fails_with_the_limitation(agent: Agent, master: FakeMaster) -> None:
    hog = f"{sys.executable} -c \"x = b'x' * (300 << 20); print(len(x))\""
    await master.send(run(task("hog.1", hog, mem=40)))
    failed = await master.wait_status("hog.1", "TASK_FAILED", within=30)
    assert failed.reason == "REASON_CONTAINER_LIMITATION_MEMORY", failed
    assert failed.source == "SOURCE_AGENT"
    assert failed.message is not None and failed.message.startswith("Memory limit exceeded: Requested: 40MB")
    # A task within its limit is not affected.
    await master.send(run(task("fine.1", f"{sys.executable} -c \"x = b'x' * (4 << 20)\"", mem=64)))
    await master.wait_status("fine.1", "TASK_FINISHED", within=30)


@needs_cgroups
async def test_nothing_of_a_killed_task_is_left_not_even_what_left_its_group(
    agent: Agent, master: FakeMaster
) -> None:
    # `setsid` puts the child out of the task's process group: only the cgroup still finds it.
    await master.send(run(task("esc.1", "setsid sleep 300 & echo $! > escaped.pid; exec sleep 300")))
    await master.wait_status("esc.1", "TASK_RUNNING")
    pid_file = sandbox_of(agent, "esc.1") / "escaped.pid"
    await wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), what="escaped child started")
    escaped = int(pid_file.read_text())
    assert alive(escaped) and os.getpgid(escaped) != agent.tasks.pid(FRAMEWORK_ID, "esc.1")
    cid = agent.tasks.container_id(FRAMEWORK_ID, "esc.1")
    assert cid is not None
    dirs = cgroup_dirs(agent, cid)
    await master.send(internal.KillTask(FRAMEWORK_ID, "esc.1"))
    await master.wait_status("esc.1", "TASK_KILLED")
    await wait_until(lambda: not alive(escaped), what="escaped child killed")
    await wait_until(lambda: not any(d.exists() for d in dirs.values()), what="cgroups removed")


@needs_cgroups
async def test_a_finished_task_leaves_no_process_or_cgroup(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(task("fin.1", "setsid sleep 300 & echo $! > escaped.pid")))
    await master.wait_status("fin.1", "TASK_FINISHED")
    escaped = int((sandbox_of(agent, "fin.1") / "escaped.pid").read_text())
    await wait_until(lambda: not alive(escaped), what="leftover killed with its cgroup")
    assert agent.isolator is not None
    await wait_until(lambda: len(agent.isolator) == 0, what="no container cgroup tracked")  # type: ignore[arg-type]


@needs_cgroups
async def test_an_executor_container_holds_the_executor_and_its_tasks(agent: Agent, master: FakeMaster) -> None:
    executor = ExecutorInfo(executor_id=Id("ex1"), command=CommandInfo(value="exec sleep 60"),
                            resources=[scalar("cpus", 0.1), scalar("mem", 64)])

    def executor_task(task_id: str) -> TaskInfo:
        return TaskInfo(name=task_id, task_id=Id(task_id), executor=executor,
                        resources=[scalar("cpus", 0.2), scalar("mem", 32)])

    await master.send(run(executor_task("t1")))
    await wait_until(lambda: agent.tasks.executors.pid(FRAMEWORK_ID, "ex1"), what="executor started")
    entry = agent.state.executor(FRAMEWORK_ID, "ex1")
    assert entry is not None and agent.isolator is not None
    dirs = cgroup_dirs(agent, entry.container_id)
    if agent.isolator.layout.version == 1:
        assert (dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
        assert (dirs["cpu"] / "cpu.shares").read_text().strip() == str(int(0.3 * 1024))
        await master.send(run(executor_task("t2")))
        await wait_until(lambda: (dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(128 << 20),
                         what="limit raised for the second task")
    await master.send(internal.ShutdownExecutor(FRAMEWORK_ID, "ex1"))
    await master.wait_status("t1", "TASK_KILLED")
    await wait_until(lambda: not any(d.exists() for d in dirs.values()), what="cgroups removed")


async def test_isolation_none_runs_with_process_groups_only(make_agent: Any, master: FakeMaster) -> None:
    agent: Agent = await make_agent(isolation="none")
    assert agent.isolator is None and agent.isolation == "none"
    await master.send(run(command_task("plain.1", "true")))
    await master.wait_status("plain.1", "TASK_FINISHED")


async def test_unusable_cgroups_fall_back_or_refuse(
    make_agent: Any, master: FakeMaster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(CgroupIsolator, "detect", classmethod(lambda cls, **kw: "no cgroup v1 hierarchy for memory"))
    agent: Agent = await make_agent(isolation="auto")
    assert agent.isolator is None
    assert sum("cgroups_unavailable" in r.getMessage() for r in caplog.records) == 1
    await master.send(run(command_task("plain.2", "true")))
    await master.wait_status("plain.2", "TASK_FINISHED")
    with pytest.raises(IsolationError, match="no cgroup v1 hierarchy for memory"):
        await make_agent(isolation="cgroups")


@needs_cgroups
def test_cgroups_left_by_a_dead_agent_are_collected() -> None:
    assert not isinstance(PROBE, str)
    dead = CgroupIsolator(PROBE.layout, root_name=PROBE.root_name)
    key = f"gc-test-{os.getpid()}"
    dead.create("stale", Limits(memory_bytes=64 << 20), agent_key=key)
    dead.create("fresh", Limits(memory_bytes=64 << 20), agent_key=key)
    stale = {c: Path(p) for c, p in PROBE.layout.container_paths(PROBE.root_name, key, "stale").items()}
    fresh = {c: Path(p) for c, p in PROBE.layout.container_paths(PROBE.root_name, key, "fresh").items()}
    for path in stale.values():
        os.utime(path, (1, 1))
    assert PROBE.collect_garbage(min_age_s=60) >= len(stale)
    assert not any(p.exists() for p in stale.values()) and all(p.exists() for p in fresh.values())
    assert dead.destroy("fresh")
    dead.close()
    assert not any(p.parent.exists() for p in fresh.values())
