"""Agent recovery at start (`checkpoint.py` decides; this reads the machine and carries it out).

    reconnect (default): agent id from meta/slaves/latest; each checkpointed command task is
        rebuilt in AgentState, its update log replayed into the StatusUpdateManager, and then
        re-attached (alive, same start time) or given its final status; everything else left
        by the previous run (non-checkpointing frameworks' tasks, custom executors) is killed.
    cleanup: the checkpoint is wiped, everything of the previous run killed; a new agent id.
    no checkpointing: as cleanup, and nothing is written.

The master then learns the recovered tasks from the re-registration (`Agent.registration`), and
every unacknowledged update is resent on registration.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec

from pydcos.core.log import get_logger
from pydcos.mesos.agent import checkpoint as ck
from pydcos.mesos.agent.checkpoint_store import (
    RecoveredRun,
    kill_orphans,
    read_exit_code,
    read_start_time,
    remove_run,
)
from pydcos.mesos.agent.task_launch import sandboxes_root

if TYPE_CHECKING:
    from pydcos.mesos.agent.service import Agent

log = get_logger("pydcos.agent.recovery")


async def recover(agent: Agent) -> None:
    store = agent.checkpoints
    root = sandboxes_root(agent.config.work_dir)
    rebooted = store is not None and store.rebooted()
    if rebooted:  # as Mesos: the tasks died with the machine; a new agent id, nothing recovered
        log.event("agent_host_rebooted", consequence="starting afresh")
    if store is None or agent.config.recover == "cleanup" or rebooted:
        killed = await asyncio.to_thread(kill_orphans, root, set())
        if store is not None:
            previous = store.latest_agent_id()
            if previous is not None and agent.isolator is not None:
                killed += await asyncio.to_thread(agent.isolator.kill_stale, previous, set())
            await asyncio.to_thread(store.wipe)
        mode = "no_checkpoint" if store is None else "rebooted" if rebooted else "cleanup"
        log.event("agent_recovery", mode=mode, orphans_killed=killed)
        return
    agent_id = store.latest_agent_id()
    if agent_id is None:
        killed = await asyncio.to_thread(kill_orphans, root, set())
        log.event("agent_recovery", mode="reconnect", agent_id="", recovered=0, orphans_killed=killed)
        return
    runs = await asyncio.to_thread(store.load, agent_id)
    agent.set_recovered_agent_id(agent_id)
    plans: list[tuple[ck.ContainerRecord, ck.Replayed, ck.Decision]] = []
    executors: list[tuple[RecoveredRun, int | None, dict[str, tuple[str, bool]]]] = []
    for run in runs:
        if run.record.executor is not None:
            if agent.config.recover_executors:
                executors.append(_rebuild_executor(agent, run))
            continue
        plan = _rebuild(agent, run)
        if plan is not None:
            plans.append(plan)
    keep = {d.pid for _, _, d in plans if isinstance(d, ck.Reattach)} | {pid for _, pid, _ in executors if pid}
    killed = await asyncio.to_thread(kill_orphans, root, keep)
    if agent.isolator is not None:  # what left its process group and cleared its environment
        adopted = {r.container_id for r, _, d in plans if isinstance(d, ck.Reattach)}
        adopted |= {run.record.container_id for run, pid, _ in executors if pid}
        killed += await asyncio.to_thread(agent.isolator.kill_stale, agent_id, adopted)
    counts = {"reattached": 0, "ended": 0, "done": 0}
    for record, replayed, decision in plans:
        counts[_carry_out(agent, record, replayed, decision)] += 1
    for run, pid, uuids in executors:
        counts["reattached" if _carry_out_executor(agent, run, pid, uuids) else "ended"] += 1
    agent.tasks.containers.release_unclaimed()
    log.event("agent_recovery", mode="reconnect", agent_id=agent_id, orphans_killed=killed,
              pending_updates=agent.updates.pending_count(), **counts)


def _rebuild(agent: Agent, run: RecoveredRun) -> tuple[ck.ContainerRecord, ck.Replayed, ck.Decision] | None:
    """Put the run's task back into the bookkeeping and the update manager; None when it is over."""
    record = run.record
    store = agent.checkpoints
    assert store is not None
    fw_id = record.framework_id
    if len(record.tasks) != 1:
        remove_run(run.directory)
        return None
    task = record.tasks[0]
    task_id = task.task_id.value
    try:
        agent.state.add_command_task(record.framework, task, container_id=record.container_id,
                                     directory=record.sandbox)
    except ValueError as exc:
        log.warning("checkpoint_task_unusable", framework_id=fw_id, task_id=task_id, reason=str(exc))
        remove_run(run.directory)
        return None
    replayed = ck.replay(agent.updates, run.logs.get(task_id, []))
    for update in replayed.updates:
        agent.state.update_status(fw_id, update.status)
    if replayed.completed:
        agent.state.terminal_acknowledged(fw_id, task_id)
        agent.state.executor_terminated(fw_id, task_id)
        remove_run(run.directory)
        return None
    store.track((fw_id, task_id), run.directory)
    record, alive, returncode = _task_now(agent, record)
    return record, replayed, ck.decide(record, replayed, alive=alive, returncode=returncode)


def _task_now(agent: Agent, record: ck.ContainerRecord) -> tuple[ck.ContainerRecord, bool, int | None]:
    """Is the task's process alive, and if not, how did it end? The task launcher knows for the
    tasks it started (and whether their kill was requested); else the pid and its start time
    say whether it runs, and an older agent's wrapper may have left the exit status in a file."""
    containers = agent.tasks.containers
    pid = record.pid
    if containers.launcher is not None and pid is not None:
        child = containers.launched_running(pid)
        ended = None if child is not None else containers.launched_exit(pid)
        known = child or ended
        if known is not None:
            if known.kill_requested and not record.kill_requested:
                record = msgspec.structs.replace(record, kill_requested=True)
            return record, child is not None, ended.returncode if ended is not None else None
    alive = (record.pid is not None and record.start_time is not None
             and read_start_time(record.pid) == record.start_time)
    code = None if alive else read_exit_code(record.sandbox)
    return record, alive, None if code is None else ck.exit_returncode(code)


def _carry_out(agent: Agent, record: ck.ContainerRecord, replayed: ck.Replayed, decision: ck.Decision) -> str:
    fw_id, task_id = record.framework_id, record.executor_id
    tasks = agent.tasks
    if isinstance(decision, ck.Done):
        agent.state.executor_terminated(fw_id, task_id)
        return "done"
    if isinstance(decision, ck.Reattach):
        if tasks.adopt(record, decision.pid):
            if replayed.latest is None:  # it started, but TASK_RUNNING never reached the log
                tasks.recovered_running(fw_id, task_id, record.container_id)
            return "reattached"
        record, _, returncode = _task_now(agent, record)  # it ended just now
        decision = ck.decide(record, replayed, alive=False, returncode=returncode)
        assert isinstance(decision, ck.Ended)
    log.event("task_ended_while_agent_down", framework_id=fw_id, task_id=task_id, state=decision.state,
              message=decision.message)
    tasks.recovered_status(fw_id, task_id, record.container_id, decision.state, decision.message, decision.reason)
    return "ended"


def _rebuild_executor(agent: Agent, run: RecoveredRun) -> tuple[RecoveredRun, int | None, dict[str, tuple[str, bool]]]:
    """Put a custom executor's tasks back: those it sent updates for as launched, the others as
    queued (sent on its SUBSCRIBE unless it lists them). Returns its pid when it is still alive
    with the same start time, and the uuids it sent (acknowledged or not), against duplicates."""
    record = run.record
    store = agent.checkpoints
    assert store is not None
    fw_id = record.framework_id
    uuids: dict[str, tuple[str, bool]] = {}
    for task in record.tasks:
        task_id = task.task_id.value
        try:
            agent.state.add_executor_task(record.framework, task, container_id=record.container_id,
                                          directory=record.sandbox)
        except ValueError as exc:
            log.warning("checkpoint_task_unusable", framework_id=fw_id, task_id=task_id, reason=str(exc))
            continue
        lines = run.logs.get(task_id, [])
        replayed = ck.replay(agent.updates, lines)
        if replayed.updates:
            agent.state.launch_queued(fw_id, task_id)
        for update in replayed.updates:
            agent.state.update_status(fw_id, update.status)
            uuids[update.status.uuid or ""] = (task_id, False)
        for line in lines:
            if isinstance(line, ck.AckLine) and line.uuid in uuids:
                uuids[line.uuid] = (task_id, True)
        if replayed.completed:
            agent.state.terminal_acknowledged(fw_id, task_id)
        else:
            store.track((fw_id, task_id), run.directory)
    alive = (record.pid is not None and record.start_time is not None
             and read_start_time(record.pid) == record.start_time)
    return run, record.pid if alive else None, uuids


def _carry_out_executor(agent: Agent, run: RecoveredRun, pid: int | None,
                        uuids: dict[str, tuple[str, bool]]) -> bool:
    record = run.record
    fw_id, executor_id = record.framework_id, record.executor_id
    executor = agent.state.executor(fw_id, executor_id)
    if executor is None:
        return False
    if pid is not None and agent.tasks.executors.adopt(record, pid, uuids):
        return True
    for task_id in [*executor.queued_tasks, *executor.tasks]:
        agent.tasks.executors.recovered_failure(fw_id, executor_id, task_id)
    agent.state.executor_terminated(fw_id, executor_id)
    if not agent.state.executor(fw_id, executor_id):
        remove_run(run.directory)
    return False
