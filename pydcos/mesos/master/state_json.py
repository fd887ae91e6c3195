"""`/master/state`, `/master/state-summary` and friends, rendered from the master state. Pure.

Shapes are Mesos 1.0's, and every list key is always present (the dcos CLI indexes them, and
Mesos-DNS and marathon-lb parse the state strictly; COMPAT §4.8).

At 10,000 agents and 100,000 tasks, building the state as Python dicts costs seconds, so each task,
agent row and framework row is rendered once to JSON bytes and kept on its entry (`rendered`)
until the state says it changed (`MasterState.task_changed`, `place_task`, `take_offer`, ...);
the documents are assembled from those fragments (`msgspec.Raw`). `check_rendered` compares every
kept fragment with a fresh rendering, so a change that forgot to drop one fails the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import msgspec

from pydcos import MESOS_VERSION
from pydcos.mesos import resources as res
from pydcos.mesos.master.registry import AgentEntry, FrameworkEntry, TaskEntry
from pydcos.mesos.master.resource_sums import sum_resources
from pydcos.mesos.master.state import MasterState
from pydcos.mesos.v1.messages import Attribute

Json = dict[str, Any]

TASK_STATE_COUNTERS = (
    "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED",
    "TASK_KILLED", "TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_UNREACHABLE",
)


def attributes_json(attributes: Iterable[Attribute]) -> Json:
    out: Json = {}
    for a in attributes:
        if a.text is not None:
            out[a.name] = a.text.value
        elif a.scalar is not None:
            out[a.name] = a.scalar.value
        elif a.ranges is not None:
            out[a.name] = res.render_spans(tuple((r.begin, r.end) for r in a.ranges.range))
        elif a.set is not None:
            out[a.name] = "{" + ",".join(a.set.item) + "}"
    return out


def _resources(role_resources: res.RoleResources) -> Json:
    if len(role_resources) == 1:  # the usual case: nothing to add up
        return next(iter(role_resources.values())).state_json()
    return res.flatten(role_resources).state_json()


def _to_builtins(obj: object) -> Any:
    return msgspec.to_builtins(obj)


_ENCODER = msgspec.json.Encoder()


def task_raw(task: TaskEntry) -> msgspec.Raw:
    """The task's JSON, rendered once until it changes."""
    if task.rendered is None:
        task.rendered = msgspec.Raw(_ENCODER.encode(task_json(task)))
    return task.rendered


def _cached(rendered: dict[str, msgspec.Raw], kind: str, render: Callable[[], Json]) -> msgspec.Raw:
    found = rendered.get(kind)
    if found is None:
        found = rendered[kind] = msgspec.Raw(_ENCODER.encode(render()))
    return found


def task_json(task: TaskEntry) -> Json:
    t = task.task
    out: Json = {
        "id": task.task_id,
        "name": t.name,
        "framework_id": task.framework_id,
        "executor_id": t.executor.executor_id.value if t.executor else "",
        "slave_id": task.agent_id,
        "state": task.state,
        "resources": _resources(task.resources),
        "statuses": [_status_json(s) for s in task.statuses],
    }
    if t.labels is not None:
        out["labels"] = t.labels.get("labels", [])
    if t.discovery is not None:
        out["discovery"] = t.discovery
    if t.container is not None:
        out["container"] = t.container
    return out


def _status_json(status: Any) -> Json:
    out: Json = {"state": status.state, "timestamp": status.timestamp or 0.0}
    if status.container_status is not None:
        out["container_status"] = status.container_status
    if status.healthy is not None:
        out["healthy"] = status.healthy
    return out


def agent_json(state: MasterState, agent: AgentEntry) -> Json:
    if agent.static_json is None:
        agent.static_json = _agent_static_json(agent)
    offered = sum_resources(state.offers[o].resources for o in agent.offers)
    out: Json = dict(agent.static_json)
    out["used_resources"] = _resources(agent.used)
    out["offered_resources"] = offered.state_json()
    out["active"] = agent.connected
    return out


def _agent_static_json(agent: AgentEntry) -> Json:
    """What an entry never changes (a re-registration makes a new entry): rendered once."""
    out: Json = {
        "id": agent.id,
        "pid": agent.pid,
        "hostname": agent.info.hostname,
        "port": agent.port,
        "registered_time": agent.registered_time,
        "resources": _resources(agent.total),
        "used_resources": {},
        "offered_resources": {},
        "reserved_resources": {role: r.state_json() for role, r in agent.total.items() if role != "*"},
        "unreserved_resources": agent.total.get("*", res.EMPTY).state_json(),
        "attributes": attributes_json(agent.info.attributes),
        "active": False,
        "version": agent.version or MESOS_VERSION,
    }
    if agent.reregistered_time is not None:
        out["reregistered_time"] = agent.reregistered_time
    return out


def agent_summary_json(state: MasterState, agent: AgentEntry) -> Json:
    row = agent_json(state, agent)
    tasks = [state.frameworks[f].tasks[t] for f, t in agent.task_keys
             if f in state.frameworks and t in state.frameworks[f].tasks]
    row.update(_count_states(tasks))
    row["framework_ids"] = sorted({t.framework_id for t in tasks})
    return row


def framework_json(state: MasterState, fw: FrameworkEntry, *, tasks: bool = True) -> Json:
    out = _framework_head(state, fw)
    if tasks:
        out["tasks"] = [task_json(t) for t in fw.tasks.values()]
        out["completed_tasks"] = [task_json(t) for t in fw.completed_tasks]
        out["offers"] = [_offer_json(state, o) for o in fw.offers]
    return out


def _framework_head(state: MasterState, fw: FrameworkEntry) -> Json:
    """Everything but the task and offer lists."""
    info = fw.info
    used = fw.usage.total()
    offered = sum_resources(state.offers[o].resources for o in fw.offers)
    out: Json = {
        "id": fw.id,
        "name": info.name,
        "user": info.user,
        "hostname": info.hostname or "",
        "webui_url": info.webui_url or "",
        "failover_timeout": info.failover_timeout,
        "checkpoint": info.checkpoint,
        "role": info.role,
        "registered_time": fw.registered_time,
        "unregistered_time": fw.unregistered_time or 0.0,
        "active": fw.active,
        "connected": fw.connected,
        "recovered": fw.recovered,
        "capabilities": [c.type for c in info.capabilities],
        "resources": (used + offered).state_json(),
        "used_resources": used.state_json(),
        "offered_resources": offered.state_json(),
        "executors": [],
    }
    if info.roles:
        out["roles"] = list(info.roles)
    if info.principal is not None:
        out["principal"] = info.principal
    if fw.reregistered_time is not None:
        out["reregistered_time"] = fw.reregistered_time
    if info.labels is not None:
        out["labels"] = info.labels.get("labels", [])
    return out


def framework_summary_json(state: MasterState, fw: FrameworkEntry) -> Json:
    row = _framework_head(state, fw)
    row.update(_count_states(list(fw.tasks.values()) + list(fw.completed_tasks)))
    row["slave_ids"] = sorted({t.agent_id for t in fw.tasks.values()})
    return row


def _framework_raw(state: MasterState, fw: FrameworkEntry) -> msgspec.Raw:
    """The framework's `/master/state` object, its task lists assembled from the tasks' fragments."""
    def render() -> Json:
        out = _framework_head(state, fw)
        out["tasks"] = [task_raw(t) for t in fw.tasks.values()]
        out["completed_tasks"] = [task_raw(t) for t in fw.completed_tasks]
        out["offers"] = [_offer_json(state, o) for o in fw.offers]
        return out

    return _cached(fw.rendered, "state", render)


def _offer_json(state: MasterState, offer_id: str) -> Json:
    offer = state.offers[offer_id]
    return {
        "id": offer.id,
        "framework_id": offer.framework_id,
        "slave_id": offer.agent_id,
        "resources": _resources(offer.resources),
    }


def _common(state: MasterState) -> Json:
    info = state.master_info
    return {
        "version": MESOS_VERSION,
        "build_date": "",
        "build_time": 0,
        "build_user": "pydcos",
        "start_time": state.start_time,
        "elected_time": state.elected_time,
        "id": info.id,
        "pid": info.pid,
        "hostname": info.hostname,
        "cluster": state.config.cluster_name,
        "leader": info.pid,
        "leader_info": _to_builtins(info),
    }


def master_state(state: MasterState, flags: Json) -> Json:
    """`/master/state`; agent and framework entries are pre-encoded fragments (encode with msgspec)."""
    active = sum(1 for a in state.agents.values() if a.connected)
    out = _common(state)
    out.update({
        "activated_slaves": active,
        "deactivated_slaves": len(state.agents) - active,
        "unreachable_slaves": len(state.unreachable_agents),
        "flags": flags,
        "slaves": [_cached(a.rendered, "state", partial(agent_json, state, a)) for a in state.agents.values()],
        "frameworks": [_framework_raw(state, f) for f in state.frameworks.values()],
        "completed_frameworks": [_framework_raw(state, f) for f in state.completed_frameworks],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    })
    return out


def _count_states(tasks: Iterable[TaskEntry]) -> Json:
    counts = dict.fromkeys(TASK_STATE_COUNTERS, 0)
    for task in tasks:
        if task.state in counts:
            counts[task.state] += 1
    return counts


def state_summary(state: MasterState) -> Json:
    """`/master/state-summary`, assembled from pre-encoded rows (encode with msgspec)."""
    return {
        "hostname": state.master_info.hostname,
        "cluster": state.config.cluster_name,
        "slaves": [_cached(a.rendered, "summary", partial(agent_summary_json, state, a))
                   for a in state.agents.values()],
        "frameworks": [_cached(f.rendered, "summary", partial(framework_summary_json, state, f))
                       for f in state.frameworks.values()],
    }


def tasks_json(state: MasterState, limit: int, offset: int, order: str) -> Json:
    tasks: list[TaskEntry] = []
    for fw in list(state.frameworks.values()) + list(state.completed_frameworks):
        tasks.extend(fw.tasks.values())
        tasks.extend(fw.completed_tasks)
    tasks.sort(key=lambda t: t.statuses[0].timestamp or 0.0 if t.statuses else 0.0, reverse=order == "des")
    return {"tasks": [task_raw(t) for t in tasks[offset: offset + limit]]}


def check_rendered(state: MasterState) -> None:
    """Every kept fragment equals a fresh rendering (run by `MasterState.validate`)."""

    def same(kept: msgspec.Raw, fresh: Json) -> bool:
        # Decoded first: a kept framework row holds kept task fragments, compared by value.
        return bool(msgspec.json.decode(bytes(kept)) == msgspec.json.decode(_ENCODER.encode(fresh)))

    for fw in [*state.frameworks.values(), *state.completed_frameworks]:
        for task in [*fw.tasks.values(), *fw.completed_tasks]:
            if task.rendered is not None:
                assert same(task.rendered, task_json(task)), f"stale task JSON {task.task_id}"
        if "state" in fw.rendered:
            assert same(fw.rendered["state"], framework_json(state, fw)), f"stale framework JSON {fw.id}"
        if "summary" in fw.rendered:
            assert same(fw.rendered["summary"], framework_summary_json(state, fw)), f"stale framework row {fw.id}"
    for agent in state.agents.values():
        if agent.static_json is not None:
            assert agent.static_json == _agent_static_json(agent), f"stale agent JSON {agent.id}"
        if "state" in agent.rendered:
            assert same(agent.rendered["state"], agent_json(state, agent)), f"stale agent JSON {agent.id}"
        if "summary" in agent.rendered:
            assert same(agent.rendered["summary"], agent_summary_json(state, agent)), f"stale agent row {agent.id}"
