"""Scheduler calls other than SUBSCRIBE, applied to the master state. Pure.

Each function takes the state and the subscribed framework and returns instructions. Problems
with a call's content (an unknown offer, a task too large, an unknown task id) are answered
asynchronously with an UPDATE, never with an HTTP error (COMPAT §4.5).
"""

from __future__ import annotations

from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos import resources as res
from pydcos.mesos.master import operator_json
from pydcos.mesos.master.launch import check_launch
from pydcos.mesos.master.registry import FrameworkEntry, Instruction, SendEvent, SendToAgent, TaskEntry
from pydcos.mesos.master.state import MasterState
from pydcos.mesos.v1 import messages as v1

log = get_logger("pydcos.master.calls")


def handle_call(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    handler = _HANDLERS.get(call.type)
    if handler is None:
        return []
    state.count(f"master/messages_{call.type.lower()}")
    return handler(state, fw, call)


def _teardown(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    return state.teardown(fw.id)


def _accept(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    assert call.accept is not None
    accept = call.accept
    refuse = accept.filters.refuse_seconds if accept.filters else 5.0
    offer_ids = [o.value for o in accept.offer_ids]
    launches = [t for op in accept.operations if op.type == "LAUNCH" and op.launch for t in op.launch.task_infos]
    groups = [op for op in accept.operations if op.type == "LAUNCH_GROUP"]
    for op in accept.operations:
        if op.type not in ("LAUNCH", "LAUNCH_GROUP"):
            log.event("operation_ignored", framework_id=fw.id, operation=op.type)

    problem = _offers_problem(state, fw, offer_ids)
    if problem is not None:
        # Return whatever valid offers were named, then drop every task of the call.
        out: list[Instruction] = []
        for offer_id in offer_ids:
            offer = state.offers.get(offer_id)
            if offer is not None and offer.framework_id == fw.id:
                out += state._rescind_offer(offer_id, notify=False)
        agent_id = _first_agent(state, offer_ids) or ""
        for task in launches + [t for g in groups if g.launch_group for t in g.launch_group.task_group.tasks]:
            out.append(state._master_update(
                fw, task.task_id.value, task.target_agent() or agent_id, state._lost_state(fw, False),
                problem, "REASON_INVALID_OFFERS"))
        return out

    agent_id = state.offers[offer_ids[0]].agent_id
    agent = state.agents[agent_id]
    offered: res.RoleResources = {}
    for offer_id in offer_ids:
        offer = state.take_offer(offer_id)
        assert offer is not None  # checked by _offers_problem
        offered = res.add_roles(offered, offer.resources)

    out = []
    for group in groups:
        assert group.launch_group is not None
        for task in group.launch_group.task_group.tasks:
            out.append(state._master_update(
                fw, task.task_id.value, agent_id, "TASK_ERROR",
                "LAUNCH_GROUP (task groups, the default executor) is not supported by this master yet",
                "REASON_TASK_GROUP_INVALID"))

    checked, remaining = check_launch(launches, offered, agent_id, fw.tasks)
    run: list[internal.RunTask] = []
    for item in checked:
        task_id = item.task.task_id.value
        if item.error is not None:
            state.count("master/invalid_tasks")
            out.append(state._master_update(fw, task_id, agent_id, "TASK_ERROR", item.error, "REASON_TASK_INVALID"))
            continue
        if not agent.connected:
            remaining = res.add_roles(remaining, item.resources)
            out.append(state._master_update(
                fw, task_id, agent_id, state._lost_state(fw, False), "Agent is not connected",
                "REASON_SLAVE_REMOVED"))
            continue
        task = _with_agent(item.task, agent_id)
        executor_id = task.executor.executor_id.value if task.executor else task_id
        entry = TaskEntry(fw.id, agent_id, executor_id, task, item.resources)
        entry.statuses.append(v1.TaskStatus(
            task_id=task.task_id, state="TASK_STAGING", agent_id=v1.Id(agent_id), timestamp=state.clock.wall()))
        fw.tasks[task_id] = entry
        state.place_task(agent, entry)
        state.task_changed(entry)
        if state.watching:
            state.emit(operator_json.task_added(entry))
        run.append(internal.RunTask(framework=fw.info, task=task))
    if run:
        state.count("master/tasks_staged", len(run))
        out.append(SendToAgent(agent_id, internal.RunTasks(run)))
    # What the tasks use stays allocated to the framework; the rest goes back under the call's filter.
    if remaining:
        state.recover(agent_id, fw.id, remaining, refuse)
    return out


def _offers_problem(state: MasterState, fw: FrameworkEntry, offer_ids: list[str]) -> str | None:
    if not offer_ids:
        return "No offers specified"
    if len(set(offer_ids)) != len(offer_ids):
        return "Duplicate offers specified"
    agents = set()
    for offer_id in offer_ids:
        offer = state.offers.get(offer_id)
        if offer is None:
            return f"Offer {offer_id} is no longer valid"
        if offer.framework_id != fw.id:
            return f"Offer {offer_id} has invalid framework"
        agents.add(offer.agent_id)
    if len(agents) > 1:
        return "Aggregated offers must belong to one single agent"
    return None


def _first_agent(state: MasterState, offer_ids: list[str]) -> str | None:
    for offer_id in offer_ids:
        offer = state.offers.get(offer_id)
        if offer is not None:
            return offer.agent_id
    return None


def _with_agent(task: v1.TaskInfo, agent_id: str) -> v1.TaskInfo:
    import msgspec

    return msgspec.structs.replace(task, agent_id=v1.Id(agent_id), slave_id=None)


def _decline(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    assert call.decline is not None
    refuse = call.decline.filters.refuse_seconds if call.decline.filters else 5.0
    for offer_id in (o.value for o in call.decline.offer_ids):
        offer = state.offers.get(offer_id)
        if offer is None or offer.framework_id != fw.id:
            continue
        state.take_offer(offer_id)
        state.recover(offer.agent_id, fw.id, offer.resources, refuse)
    return []


def _roles(roles: list[str], role: str | None) -> list[str] | None:
    chosen = list(roles) + ([role] if role else [])
    return chosen or None


def _revive(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    roles = _roles(call.revive.roles, call.revive.role) if call.revive else None
    state.allocator.revive(fw.id, roles)
    state.allocate_all = True
    return []


def _suppress(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    roles = _roles(call.suppress.roles, call.suppress.role) if call.suppress else None
    state.allocator.suppress(fw.id, roles)
    return []


def _kill(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    assert call.kill is not None
    task_id = call.kill.task_id.value
    task = fw.tasks.get(task_id)
    if task is None:
        agent_id = call.kill.agent_id.value if call.kill.agent_id else ""
        return [state._master_update(fw, task_id, agent_id, "TASK_LOST", "Attempted to kill an unknown task",
                                     "REASON_RECONCILIATION")]
    agent = state.agents.get(task.agent_id)
    if agent is None or not agent.connected:
        log.event("kill_deferred", framework_id=fw.id, task_id=task_id, agent_id=task.agent_id)
        return []
    policy = call.kill.kill_policy or task.task.kill_policy
    return [SendToAgent(task.agent_id, internal.KillTask(fw.id, task_id, policy))]


def _shutdown(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    assert call.shutdown is not None
    agent_id = call.shutdown.agent_id.value
    agent = state.agents.get(agent_id)
    if agent is None or not agent.connected:
        return []
    return [SendToAgent(agent_id, internal.ShutdownExecutor(fw.id, call.shutdown.executor_id.value))]


def _acknowledge(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    assert call.acknowledge is not None
    ack = call.acknowledge
    task_id = ack.task_id.value
    task = fw.tasks.get(task_id)
    agent_id = task.agent_id if task else ack.agent_id.value
    out: list[Instruction] = []
    if task is not None and task.pending_update is not None and task.pending_update.uuid == ack.uuid:
        task.pending_update = None
        if task.state in v1.TERMINAL_STATES:
            out += state.complete_task(fw, task)
    agent = state.agents.get(agent_id)
    if agent is None or not agent.connected:
        return out
    out.append(SendToAgent(agent_id, internal.AcknowledgeUpdates([internal.Ack(fw.id, task_id, ack.uuid)])))
    return out


def _reconcile(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    assert call.reconcile is not None
    out: list[Instruction] = []
    if not call.reconcile.tasks:
        for task in fw.tasks.values():
            out.append(_reconcile_answer(state, fw, task))
        return out
    for item in call.reconcile.tasks:
        task_id = item.task_id.value
        known = fw.tasks.get(task_id)
        if known is not None:
            out.append(_reconcile_answer(state, fw, known))
            continue
        agent_id = item.agent_id.value if item.agent_id else ""
        if agent_id and agent_id in state.unreachable_agents:
            lost = "TASK_UNREACHABLE" if fw.partition_aware else "TASK_LOST"
            out.append(state._master_update(fw, task_id, agent_id, lost, "Reconciliation: Agent is unreachable",
                                            "REASON_RECONCILIATION"))
        elif agent_id and agent_id in state.agents and not state.agents[agent_id].connected:
            continue  # the agent may come back and tell the truth: Mesos answers nothing yet
        elif not agent_id and _agents_recovering(state):
            continue  # after a restart, any agent not re-registered yet may hold it: no answer yet
        else:
            gone = "TASK_GONE" if fw.partition_aware else "TASK_LOST"
            out.append(state._master_update(fw, task_id, agent_id, gone, "Reconciliation: Task is unknown",
                                            "REASON_RECONCILIATION"))
    return out


def _agents_recovering(state: MasterState) -> bool:
    return any(a.recovered for a in state.agents.values())


def _reconcile_answer(state: MasterState, fw: FrameworkEntry, task: TaskEntry) -> SendEvent:
    latest = task.latest_status
    status = v1.TaskStatus(
        task_id=task.task.task_id,
        state=task.state,  # type: ignore[arg-type]
        message="Reconciliation: Latest task state",
        source="SOURCE_MASTER",
        reason="REASON_RECONCILIATION",
        agent_id=v1.Id(task.agent_id),
        executor_id=v1.Id(task.executor_id) if task.task.executor else None,
        timestamp=latest.timestamp if latest else state.clock.wall(),
        healthy=latest.healthy if latest else None,
        data=latest.data if latest else None,
        container_status=latest.container_status if latest else None,
    )
    return SendEvent(fw.id, v1.Event(type="UPDATE", update=v1.Update(status)))


def _message(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    assert call.message is not None
    agent_id = call.message.agent_id.value
    agent = state.agents.get(agent_id)
    if agent is None or not agent.connected:
        return []
    return [SendToAgent(agent_id, internal.FrameworkToExecutor(fw.id, call.message.executor_id.value,
                                                               call.message.data))]


def _ignored(state: MasterState, fw: FrameworkEntry, call: v1.Call) -> list[Instruction]:
    # REQUEST goes to the allocator in Mesos, whose default ignores it; no inverse offers exist here.
    return []


_HANDLERS = {
    "TEARDOWN": _teardown,
    "ACCEPT": _accept,
    "DECLINE": _decline,
    "REVIVE": _revive,
    "SUPPRESS": _suppress,
    "KILL": _kill,
    "SHUTDOWN": _shutdown,
    "ACKNOWLEDGE": _acknowledge,
    "RECONCILE": _reconcile,
    "MESSAGE": _message,
    "REQUEST": _ignored,
    "ACCEPT_INVERSE_OFFERS": _ignored,
    "DECLINE_INVERSE_OFFERS": _ignored,
}
