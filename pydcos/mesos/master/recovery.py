"""A restarted master takes its registry back. Pure.

`restore(state, snapshot)` runs once, on an empty `MasterState`, before the master serves
anything. What it sets up, as Mesos does after a failover:

- agents: *recovered* (inactive, tasks unknown, nothing offered) until they re-register with
  their ids and report their tasks; after `agent_reregister_timeout` they become unreachable.
- frameworks: *recovered* and disconnected until they re-subscribe with their ids (same id); their
  failover timeout counts from their disconnection, or from this restart if they were connected
  when the previous master stopped.
- removed frameworks: their ids stay refused; the newest `max_completed_frameworks` are shown as
  completed frameworks with their completed tasks.
- unreachable agents, with the times they were declared so.
"""

from __future__ import annotations

from pydcos.mesos import resources as res
from pydcos.mesos.master.launch import task_resources
from pydcos.mesos.master.registry import AgentEntry, FrameworkEntry, Instruction, Persist, TaskEntry
from pydcos.mesos.master.registry_records import (
    AgentRecord,
    CompletedTaskRecord,
    Delete,
    FrameworkRecord,
    RegistryOp,
    Snapshot,
    history_id,
)
from pydcos.mesos.master.state import MasterState


def restore(state: MasterState, snapshot: Snapshot) -> list[Instruction]:
    """Load `snapshot` into a fresh state. Returns the clean-up writes (history nobody shows)."""
    assert not state.agents and not state.frameworks, "restore runs on a fresh state only"
    for agent_id, agent_record in snapshot.agents.items():
        _restore_agent(state, agent_id, agent_record)
    for framework_id, framework_record in snapshot.frameworks.items():
        _restore_framework(state, framework_id, framework_record)
    _restore_removed(state, snapshot)
    for agent_id, unreachable in sorted(snapshot.unreachable.items(), key=lambda kv: kv[1].time):
        if agent_id not in state.agents:
            state.unreachable_agents[agent_id] = unreachable.time
    ops = _restore_history(state, snapshot)
    return [Persist(tuple(ops), wait=False)] if ops else []


def _restore_agent(state: MasterState, agent_id: str, record: AgentRecord) -> None:
    try:
        total = res.from_v1(record.info.resources)
    except ValueError:
        total = {}
    state.agents[agent_id] = AgentEntry(
        id=agent_id, info=record.info, ip=record.ip, port=record.port, zone=record.zone,
        version=record.version, total=total, registered_time=record.registered_time,
        connected=False, disconnected_at=state.clock.monotonic(), recovered=True)


def _restore_framework(state: MasterState, framework_id: str, record: FrameworkRecord) -> None:
    now = state.clock.monotonic()
    if record.disconnected_time is None:
        disconnected_at = now
    else:
        # Monotonic time does not survive a restart: carry over how long ago it disconnected.
        disconnected_at = now - max(0.0, state.clock.wall() - record.disconnected_time)
    fw = FrameworkEntry(id=framework_id, info=record.info, registered_time=record.registered_time,
                        disconnected_at=disconnected_at, recovered=True)
    state.frameworks[framework_id] = fw
    state.allocator.add_framework(framework_id, record.info.all_roles(), active=False)


def _restore_removed(state: MasterState, snapshot: Snapshot) -> None:
    """Every removed id is refused; the newest few are shown as completed frameworks."""
    state.removed_framework_ids.update(snapshot.removed_frameworks)
    newest = sorted(snapshot.removed_frameworks.items(), key=lambda kv: (kv[1].seq, kv[1].unregistered_time))
    state.next_removal_seq = max((r.seq + 1 for r in snapshot.removed_frameworks.values()), default=0)
    limit = state.completed_frameworks.maxlen or 0
    for framework_id, record in newest[len(newest) - limit:] if limit else []:
        state.completed_frameworks.append(FrameworkEntry(
            id=framework_id, info=record.info, registered_time=record.registered_time,
            unregistered_time=record.unregistered_time))


def _restore_history(state: MasterState, snapshot: Snapshot) -> list[RegistryOp]:
    owners = {fw.id: fw for fw in state.completed_frameworks}
    owners.update(state.frameworks)
    ops: list[RegistryOp] = []
    limit = state.config.max_completed_tasks_per_framework
    for history_key, record in snapshot.completed_tasks.items():  # sorted: oldest first
        if not history_key.isdigit():
            continue  # not a key we wrote: leave it alone
        seq = int(history_key)
        fw = owners.get(record.framework_id)
        if fw is None:
            # Its framework left the history (a deletion lost in a crash): nobody shows it.
            ops.append(Delete("completed_tasks", history_key))
            continue
        fw.completed_tasks.append(_task(record, seq))
        state.next_history_seq = max(state.next_history_seq, seq + 1)
    for fw in owners.values():
        while len(fw.completed_tasks) > limit:
            evicted = fw.completed_tasks.popleft()
            assert evicted.history_seq is not None
            ops.append(Delete("completed_tasks", history_id(evicted.history_seq)))
    return ops


def _task(record: CompletedTaskRecord, seq: int) -> TaskEntry:
    try:
        resources = task_resources(record.task)
    except ValueError:
        resources = {}
    return TaskEntry(record.framework_id, record.agent_id, record.executor_id, record.task, resources,
                     state=record.state, statuses=list(record.statuses), history_seq=seq)
