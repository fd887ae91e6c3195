"""Agent (re)registration, status updates and agent loss, applied to the master state. Pure.

The agent is the source of truth for its tasks: on re-registration the master adopts the tasks the
agent reports and declares lost the ones the agent no longer has.
"""

from __future__ import annotations

import msgspec

from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos import resources as res
from pydcos.mesos.master import operator_json
from pydcos.mesos.master.launch import task_resources
from pydcos.mesos.master.registry import (
    AgentEntry,
    FrameworkEntry,
    Instruction,
    Persist,
    SendEvent,
    SendToAgent,
    TaskEntry,
)
from pydcos.mesos.master.registry_records import Delete, Put, RegistryOp, UnreachableRecord
from pydcos.mesos.master.resource_sums import sum_role_resources
from pydcos.mesos.master.state import MasterState
from pydcos.mesos.v1 import messages as v1

log = get_logger("pydcos.master.agents")


class RegistrationRefused(ValueError):
    """The registration is malformed; the shell answers `Refused` and closes the connection."""


def register(state: MasterState, msg: internal.RegisterAgent) -> tuple[str, list[Instruction]]:
    """A new agent or a re-registration. Returns the agent id and the instructions."""
    try:
        total = res.from_v1(msg.info.resources)
    except ValueError as exc:
        raise RegistrationRefused(f"invalid resources: {exc}") from exc
    if not total:
        raise RegistrationRefused("an agent must offer some resources")
    if msg.port <= 0 or msg.port > 65535 or not msg.ip:
        raise RegistrationRefused(f"invalid address {msg.ip}:{msg.port}")
    now = state.clock.wall()
    agent_id = msg.agent_id
    out: list[Instruction] = []
    if agent_id is not None and agent_id in state.agents:
        # A second connection for the same agent replaces the first (the shell closes the old one).
        out += state._rescind_offers(state.agents[agent_id].offers, notify=True)
        state.allocator.remove_agent(agent_id)
    if agent_id is None:
        agent_id = state.ids.agent()
        state.count("master/slave_registrations")
    else:
        state.count("master/slave_reregistrations")
    was_unreachable = state.unreachable_agents.pop(agent_id, None) is not None
    previous = state.agents.get(agent_id)
    info = msgspec.structs.replace(msg.info, id=v1.Id(agent_id))
    agent = AgentEntry(
        id=agent_id, info=info, ip=msg.ip, port=msg.port, zone=msg.zone, version=msg.version,
        total=total, registered_time=previous.registered_time if previous else now,
        reregistered_time=now if msg.agent_id else None,
    )
    state.agents[agent_id] = agent
    # Write-ahead: the agent hears its id only once the registry holds it. A re-registration that
    # changes nothing (the usual case after a master restart) writes nothing and waits for nothing.
    ops: list[RegistryOp] = []
    if previous is None or previous.record() != agent.record():
        ops.append(Put("agents", agent_id, agent.record()))
    if was_unreachable:
        ops.append(Delete("unreachable", agent_id))
    if ops:
        out.append(Persist(tuple(ops)))
    out.append(SendToAgent(agent_id, internal.AgentRegistered(agent_id, state.ids.master_id)))
    out += _adopt_tasks(state, agent, msg, previous, was_unreachable)
    by_framework: dict[str, list[res.RoleResources]] = {}
    for fid, tid in agent.task_keys:
        by_framework.setdefault(fid, []).append(state.frameworks[fid].tasks[tid].resources)
    if len(by_framework) == 1:
        used = dict.fromkeys(by_framework, agent.used)  # the usual case: one framework, summed already
    else:
        used = {fid: sum_role_resources(parts) for fid, parts in by_framework.items()}
    state.allocator.add_agent(agent_id, total, used)
    state.dirty_agents.add(agent_id)
    if state.watching:
        state.emit(operator_json.agent_added(agent))
    log.event("agent_registered", agent_id=agent_id, ip=msg.ip, zone=msg.zone,
              reregistered=msg.agent_id is not None, tasks=len(agent.task_keys))
    return agent_id, out


def _adopt_tasks(
    state: MasterState, agent: AgentEntry, msg: internal.RegisterAgent, previous: AgentEntry | None,
    was_unreachable: bool,
) -> list[Instruction]:
    out: list[Instruction] = []
    placed: list[TaskEntry] = []
    reported = {(t.framework_id, t.task.task_id.value): t for t in msg.tasks}
    infos = {f.id.value: f for f in msg.frameworks if f.id is not None}
    # Tasks the master placed here that the agent no longer knows: lost while it was away.
    if previous is not None:
        for key in previous.task_keys - set(reported):
            fid, tid = key
            fw = state.frameworks.get(fid)
            task = fw.tasks.get(tid) if fw else None
            if fw is None or task is None or task.state in v1.TERMINAL_STATES:
                continue
            state.set_task_state(task, state._lost_state(fw, False), "Task was not found on the re-registered agent")
            out.append(state._master_update(fw, tid, agent.id, task.state,
                                            "Task was not found on the re-registered agent", "REASON_SLAVE_RESTARTED"))
            out += state.complete_task(fw, task)
    for (fid, tid), record in reported.items():
        fw = state.frameworks.get(fid)
        if fw is None:
            if fid in state.removed_framework_ids:
                out.append(SendToAgent(agent.id, internal.ShutdownFramework(fid)))
                continue
            info = infos.get(fid) or v1.FrameworkInfo(user="", name="", id=v1.Id(fid))
            fw = FrameworkEntry(id=fid, info=info, registered_time=state.clock.wall(), recovered=True,
                                learnt_from_agents=True)
            state.frameworks[fid] = fw
            state.allocator.add_framework(fid, info.all_roles(), active=False)
        task = fw.tasks.get(tid)
        if was_unreachable and not fw.learnt_from_agents and not fw.partition_aware and task is None:
            # The framework was told this task is lost and has likely replaced it: kill it.
            out.append(SendToAgent(agent.id, internal.KillTask(fid, tid)))
            continue
        if task is None:
            try:
                resources = task_resources(record.task)
            except ValueError:
                resources = {}
            task = TaskEntry(fid, agent.id, record.executor_id, record.task, resources, state=record.state)
            if record.status is not None:
                task.statuses.append(record.status)
            fw.tasks[tid] = task
        else:
            if task.agent_id != agent.id:
                state.unplace_task(task)
            task.agent_id = agent.id
            task.state = record.state
            task.reported_gone = False
        state.task_changed(task)
        if task.state not in v1.TERMINAL_STATES:
            placed.append(task)
    state.place_tasks(agent, placed)
    return out


def status_updates(state: MasterState, agent_id: str, msg: internal.StatusUpdates) -> list[Instruction]:
    out: list[Instruction] = []
    agent = state.agents.get(agent_id)
    # What the frame's terminal updates free, summed per framework: the allocator is given each
    # framework's resources back once per frame, not once per task (a frame carries hundreds).
    freed: dict[str, list[res.RoleResources]] = {}
    for update in msg.updates:
        status = update.status
        if status.agent_id is None or status.agent_id.value != agent_id:
            status = msgspec.structs.replace(status, agent_id=v1.Id(agent_id))
        fw = state.frameworks.get(update.framework_id)
        if fw is None:
            # The framework is gone: acknowledge on its behalf so the agent stops retrying.
            if status.uuid is not None and agent is not None:
                out.append(SendToAgent(agent_id, internal.AcknowledgeUpdates(
                    [internal.Ack(update.framework_id, status.task_id.value, status.uuid)])))
            continue
        task = fw.tasks.get(status.task_id.value)
        if task is not None:
            was_terminal = task.state in v1.TERMINAL_STATES
            task.state = status.state
            task.statuses.append(status)
            del task.statuses[: -state.config.max_task_statuses]
            state.task_changed(task)
            if status.state in v1.TERMINAL_STATES and not was_terminal:
                freed.setdefault(fw.id, []).append(task.resources)
                state.unplace_task(task)
                state.count(f"master/{status.state.lower()}")
            if status.uuid is not None:
                task.pending_update = status
            if state.watching:
                state.emit(operator_json.task_updated(task, status))
        if fw.connected:
            out.append(SendEvent(fw.id, v1.Event(type="UPDATE", update=v1.Update(status))))
    for framework_id, parts in freed.items():
        state.recover(agent_id, framework_id, parts[0] if len(parts) == 1 else sum_role_resources(parts))
    return out


def executor_message(state: MasterState, agent_id: str, msg: internal.ExecutorToFramework) -> list[Instruction]:
    fw = state.frameworks.get(msg.framework_id)
    if fw is None or not fw.connected:
        return []
    event = v1.Event(type="MESSAGE", message=v1.EventMessage(
        agent_id=v1.Id(agent_id), executor_id=v1.Id(msg.executor_id), data=msg.data))
    return [SendEvent(fw.id, event)]


def executor_terminated(state: MasterState, agent_id: str, msg: internal.ExecutorTerminated) -> list[Instruction]:
    fw = state.frameworks.get(msg.framework_id)
    if fw is None or not fw.connected:
        return []
    event = v1.Event(type="FAILURE", failure=v1.Failure(
        agent_id=v1.Id(agent_id), executor_id=v1.Id(msg.executor_id), status=msg.status))
    return [SendEvent(fw.id, event)]


def agent_disconnected(state: MasterState, agent_id: str) -> list[Instruction]:
    """The agent's connection ended. It gets `agent_unreachable_timeout` to come back."""
    agent = state.agents.get(agent_id)
    if agent is None or not agent.connected:
        return []
    agent.connected = False
    agent.disconnected_at = state.clock.monotonic()
    agent.rendered.clear()
    state.allocator.deactivate_agent(agent_id)
    log.event("agent_disconnected", agent_id=agent_id)
    return state._rescind_offers(agent.offers, notify=True)


def expire_agents(state: MasterState) -> list[Instruction]:
    """Agents disconnected for longer than `agent_unreachable_timeout`, and agents recovered from
    the registry that did not re-register within `agent_reregister_timeout`, become unreachable."""
    now = state.clock.monotonic()
    config = state.config
    out: list[Instruction] = []
    for agent in list(state.agents.values()):
        if agent.connected or agent.disconnected_at is None:
            continue
        timeout = config.agent_reregister_timeout if agent.recovered else config.agent_unreachable_timeout
        if now - agent.disconnected_at >= timeout:
            out += agent_unreachable(state, agent.id)
    return out


def agent_unreachable(state: MasterState, agent_id: str) -> list[Instruction]:
    """Silent past the timeout: its tasks are lost to their frameworks, which hear FAILURE."""
    agent = state.agents.pop(agent_id, None)
    if agent is None:
        return []
    now = state.clock.wall()
    ops: list[RegistryOp] = [Delete("agents", agent_id), Put("unreachable", agent_id, UnreachableRecord(now))]
    state.unreachable_agents[agent_id] = now
    while len(state.unreachable_agents) > state.config.max_unreachable_agents:
        oldest = next(iter(state.unreachable_agents))
        del state.unreachable_agents[oldest]
        ops.append(Delete("unreachable", oldest))
    # Write-ahead: frameworks hear TASK_LOST only once a restarted master would also know the agent is gone.
    out: list[Instruction] = [Persist(tuple(ops))]
    out += state._rescind_offers(agent.offers, notify=True)
    state.allocator.remove_agent(agent_id)
    notified: set[str] = set()
    for fid, tid in sorted(agent.task_keys):
        fw = state.frameworks.get(fid)
        task = fw.tasks.get(tid) if fw else None
        if fw is None or task is None:
            continue
        lost = "TASK_UNREACHABLE" if fw.partition_aware else "TASK_LOST"
        message = "Agent is unreachable"
        state.set_task_state(task, lost, message)
        task.reported_gone = True
        task.pending_update = None
        if fw.connected:
            out.append(state._master_update(fw, tid, agent_id, lost, message, "REASON_SLAVE_REMOVED",
                                            task.executor_id if task.task.executor else None))
            notified.add(fid)
        if not fw.partition_aware:
            out += state.complete_task(fw, task)
    for fw in state.frameworks.values():
        if fw.connected:
            out.append(SendEvent(fw.id, v1.Event(type="FAILURE", failure=v1.Failure(agent_id=v1.Id(agent_id)))))
    state.count("master/slave_unreachable_completed")
    if state.watching:
        state.emit(operator_json.agent_removed(agent_id))
    log.event("agent_unreachable", agent_id=agent_id, tasks=len(agent.task_keys))
    return out
