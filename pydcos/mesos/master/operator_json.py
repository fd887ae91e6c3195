"""The v1 operator API's shapes (`POST /api/v1`): GET_* answers and SUBSCRIBE events. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from pydcos import MESOS_VERSION
from pydcos.mesos import resources as res
from pydcos.mesos.master.registry import AgentEntry, FrameworkEntry, TaskEntry
from pydcos.mesos.v1.messages import TaskStatus

if TYPE_CHECKING:
    from pydcos.mesos.master.state import MasterState

Json = dict[str, Any]


def _ns(seconds: float) -> Json:
    return {"nanoseconds": int(seconds * 1e9)}


def task_v1(task: TaskEntry) -> Json:
    t = task.task
    out: Json = {
        "name": t.name,
        "task_id": {"value": task.task_id},
        "framework_id": {"value": task.framework_id},
        "agent_id": {"value": task.agent_id},
        "state": task.state,
        "resources": msgspec.to_builtins(res.to_v1(task.resources)),
        "statuses": msgspec.to_builtins(task.statuses),
    }
    if t.executor is not None:
        out["executor_id"] = {"value": t.executor.executor_id.value}
    for key in ("labels", "discovery", "container"):
        value = getattr(t, key)
        if value is not None:
            out[key] = value
    if task.statuses:
        out["status_update_state"] = task.statuses[-1].state
        if task.statuses[-1].uuid:
            out["status_update_uuid"] = task.statuses[-1].uuid
    return out


def agent_v1(agent: AgentEntry) -> Json:
    return {
        "agent_info": msgspec.to_builtins(agent.info),
        "active": agent.connected,
        "pid": agent.pid,
        "version": agent.version or MESOS_VERSION,
        "registered_time": _ns(agent.registered_time),
        "total_resources": msgspec.to_builtins(res.to_v1(agent.total)),
    }


def framework_v1(fw: FrameworkEntry) -> Json:
    out: Json = {
        "framework_info": msgspec.to_builtins(fw.info),
        "active": fw.active,
        "connected": fw.connected,
        "recovered": fw.recovered,
        "registered_time": _ns(fw.registered_time),
    }
    if fw.reregistered_time is not None:
        out["reregistered_time"] = _ns(fw.reregistered_time)
    return out


def get_tasks(state: MasterState) -> Json:
    tasks: list[Json] = []
    completed: list[Json] = []
    unreachable: list[Json] = []
    for fw in list(state.frameworks.values()) + list(state.completed_frameworks):
        for task in fw.tasks.values():
            (unreachable if task.state == "TASK_UNREACHABLE" else tasks).append(task_v1(task))
        completed.extend(task_v1(t) for t in fw.completed_tasks)
    return {"pending_tasks": [], "tasks": tasks, "unreachable_tasks": unreachable,
            "completed_tasks": completed, "orphan_tasks": []}


def get_agents(state: MasterState) -> Json:
    """Agents known from the registry that have not re-registered since a restart are `recovered_agents`."""
    return {"agents": [agent_v1(a) for a in state.agents.values() if not a.recovered],
            "recovered_agents": [msgspec.to_builtins(a.info) for a in state.agents.values() if a.recovered]}


def get_frameworks(state: MasterState) -> Json:
    return {
        "frameworks": [framework_v1(f) for f in state.frameworks.values()],
        "completed_frameworks": [framework_v1(f) for f in state.completed_frameworks],
        "recovered_frameworks": [],
    }


def get_executors(state: MasterState) -> Json:
    executors = []
    for fw in state.frameworks.values():
        for task in fw.tasks.values():
            if task.task.executor is not None:
                executors.append({"executor_info": msgspec.to_builtins(task.task.executor),
                                  "agent_id": {"value": task.agent_id}})
    return {"executors": executors, "orphan_executors": []}


def get_state(state: MasterState) -> Json:
    return {
        "get_tasks": get_tasks(state),
        "get_executors": get_executors(state),
        "get_frameworks": get_frameworks(state),
        "get_agents": get_agents(state),
    }


# --- SUBSCRIBE events -----------------------------------------------------------------------


def task_added(task: TaskEntry) -> Json:
    return {"type": "TASK_ADDED", "task_added": {"task": task_v1(task)}}


def task_updated(task: TaskEntry, status: TaskStatus) -> Json:
    return {"type": "TASK_UPDATED", "task_updated": {
        "framework_id": {"value": task.framework_id},
        "status": status,  # a frozen struct: encoded as it is, once, when the event is written
        "state": task.state,
    }}


def agent_added(agent: AgentEntry) -> Json:
    return {"type": "AGENT_ADDED", "agent_added": {"agent": agent_v1(agent)}}


def agent_removed(agent_id: str) -> Json:
    return {"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": agent_id}}}


def framework_added(fw: FrameworkEntry, *, new: bool) -> Json:
    kind = "framework_added" if new else "framework_updated"
    return {"type": kind.upper(), kind: {"framework": framework_v1(fw)}}


def framework_removed(fw: FrameworkEntry) -> Json:
    return {"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": msgspec.to_builtins(fw.info)}}
