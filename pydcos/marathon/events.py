"""Marathon's event objects for `/v2/events` and HTTP callbacks (COMPAT §6.6). Pure.

Every event has `eventType` and `timestamp`, and only the types clients know are ever sent (an
unknown `eventType` ends marathon-python's stream). Builders are called only when someone listens
for that type (see `Emit`), so a deployment plan is not rendered for nobody. A deployment's
events share one `PlanView`, which renders the whole tree before and after once, on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from pydcos.marathon import ids
from pydcos.marathon.groups import RootGroup
from pydcos.marathon.instances import Instance
from pydcos.marathon.model import AppDefinition, GroupMeta, format_time
from pydcos.marathon.planner import Action, DeploymentPlan
from pydcos.marathon.render import group_json, steps_json
from pydcos.marathon.wire import encode_json

Json = dict[str, Any]

EVENT_TYPES = frozenset({
    "api_post_event", "status_update_event", "framework_message_event", "subscribe_event",
    "unsubscribe_event", "add_health_check_event", "remove_health_check_event", "failed_health_check_event",
    "health_status_changed_event", "unhealthy_task_kill_event", "group_change_success", "group_change_failed",
    "deployment_success", "deployment_failed", "deployment_info", "deployment_step_success",
    "deployment_step_failure", "event_stream_attached", "event_stream_detached", "app_terminated_event",
    "instance_changed_event", "unknown_instance_terminated_event", "unhealthy_instance_kill_event",
    "instance_health_changed_event", "pod_created_event", "pod_updated_event", "pod_deleted_event",
})


@dataclass(frozen=True)
class Emit:
    """An event to publish; `build` makes its fields (without eventType/timestamp) when wanted."""

    event_type: str
    wall: float
    build: Callable[[], Json]

    def render(self) -> Json:
        body = self.build()
        body["eventType"] = self.event_type
        body["timestamp"] = format_time(self.wall)
        return body


def status_update(instance: Instance, message: str) -> Json:
    return {
        "slaveId": instance.agent_id,
        "taskId": instance.task_id,
        "taskStatus": instance.state,
        "message": message,
        "appId": instance.app_id,
        "host": instance.host,
        "ports": list(instance.ports),
        "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"} for ip in instance.ip_addresses],
        "version": instance.version,
    }


CONDITIONS = {
    "TASK_STAGING": "Staging", "TASK_STARTING": "Starting", "TASK_RUNNING": "Running",
    "TASK_KILLING": "Killing", "TASK_FINISHED": "Finished", "TASK_FAILED": "Failed", "TASK_KILLED": "Killed",
    "TASK_ERROR": "Error", "TASK_LOST": "Gone", "TASK_DROPPED": "Dropped", "TASK_UNREACHABLE": "Unreachable",
    "TASK_GONE": "Gone", "TASK_GONE_BY_OPERATOR": "Gone", "TASK_UNKNOWN": "Unknown",
}


def instance_changed(instance: Instance) -> Json:
    return {
        "instanceId": instance.task_id,
        "condition": CONDITIONS.get(instance.state, "Unknown"),
        "runSpecId": instance.app_id,
        "agentId": instance.agent_id,
        "host": instance.host,
        "runSpecVersion": instance.version,
    }


def health_changed(instance: Instance, alive: bool) -> Json:
    return {"appId": instance.app_id, "taskId": instance.task_id, "instanceId": instance.task_id,
            "version": instance.version, "alive": alive}


def failed_health_check(instance: Instance, health_check: Json) -> Json:
    return {"appId": instance.app_id, "taskId": instance.task_id, "instanceId": instance.task_id,
            "healthCheck": health_check}


def unhealthy_kill(instance: Instance, reason: str) -> Json:
    return {"appId": instance.app_id, "taskId": instance.task_id, "instanceId": instance.task_id,
            "version": instance.version, "reason": reason, "host": instance.host, "slaveId": instance.agent_id}


# --- deployments and group changes ------------------------------------------------------------


def tree_json(root: RootGroup, definition: Callable[[AppDefinition], Json]) -> Json:
    """The whole tree as `GET /v2/groups` draws it, apps as definitions. Apps and groups are put
    under their parents in one pass: asking each group for its children would cost
    groups x apps on a big tree."""
    apps: dict[str, list[AppDefinition]] = {}
    for app in root.apps.values():
        apps.setdefault(ids.parent(app.id), []).append(app)
    groups: dict[str, list[GroupMeta]] = {}
    for meta in root.groups.values():
        if meta.id != ids.ROOT:
            groups.setdefault(ids.parent(meta.id), []).append(meta)

    def one(group_id: str) -> Json:
        meta = root.groups.get(group_id)
        return group_json(
            group_id,
            (definition(a) for a in sorted(apps.get(group_id, ()), key=lambda a: a.id)),
            (one(g.id) for g in sorted(groups.get(group_id, ()), key=lambda g: g.id)),
            meta.dependencies if meta else [],
            meta.version if meta and meta.version else root.version,
        )

    return one(ids.ROOT)


class PlanView:
    """A deployment as its events carry it: `{id, version, original, target, steps}` with the
    whole root group before and after. Rendered and encoded once, when the first event is built,
    and embedded as those bytes in every event of the deployment: with thousands of apps the plan
    is megabytes, and encoding it is the costly part."""

    def __init__(self, plan: DeploymentPlan, original: RootGroup, target: RootGroup,
                 definition: Callable[[AppDefinition], Json]) -> None:
        self.plan = plan
        self.original = original
        self.target = target
        self._definition = definition
        self._raw: msgspec.Raw | None = None

    @classmethod
    def restored(cls, plan: DeploymentPlan, current: RootGroup,
                 definition: Callable[[AppDefinition], Json]) -> PlanView:
        """The view of a deployment taken back from the store, whose trees were not kept: the
        target is the tree as it is, the original that tree with the plan's apps put back."""
        apps = dict(current.apps)
        groups = dict(current.groups)
        for app_id, before in plan.original.items():
            if before is None:
                apps.pop(app_id, None)
                continue
            apps[app_id] = before
            for group_id in ids.ancestors(app_id):
                groups.setdefault(group_id, GroupMeta(id=group_id))
        return cls(plan, RootGroup(apps, groups, current.version), current, definition)

    def raw(self) -> msgspec.Raw:
        """The plan as compact ASCII JSON (the wire's form), encoded on first use."""
        if self._raw is None:
            p = self.plan
            plan = {"id": p.id, "version": p.version, "original": tree_json(self.original, self._definition),
                    "target": tree_json(self.target, self._definition), "steps": steps_json(p)}
            self._raw = msgspec.Raw(encode_json(plan))
        return self._raw

    def json(self) -> Json:
        decoded: Json = msgspec.json.decode(self.raw())
        return decoded


class PlanViews:
    """The running deployments as their events show them, by deployment id. A view lives from the
    deployment's start to its last event; events already queued keep their own reference."""

    def __init__(self, definition: Callable[[AppDefinition], Json]) -> None:
        self._definition = definition
        self._views: dict[str, PlanView] = {}

    def start(self, plan: DeploymentPlan, original: RootGroup, target: RootGroup) -> None:
        self._views[plan.id] = PlanView(plan, original, target, self._definition)

    def of(self, plan: DeploymentPlan, current: RootGroup) -> PlanView:
        view = self._views.get(plan.id)
        if view is None:  # a deployment restored after a restart
            view = self._views[plan.id] = PlanView.restored(plan, current, self._definition)
        return view

    def end(self, plan: DeploymentPlan, current: RootGroup) -> PlanView:
        """The view for the deployment's last events, forgotten here."""
        view = self.of(plan, current)
        del self._views[plan.id]
        return view


def plan_event(view: PlanView, step: Sequence[Action]) -> Json:
    """deployment_info, deployment_step_success, deployment_step_failure."""
    return {"plan": view.raw(), "currentStep": {"actions": [{"action": a.action, "app": a.app_id} for a in step]}}


def deployment_result(view: PlanView) -> Json:
    """deployment_success, deployment_failed."""
    return {"id": view.plan.id, "plan": view.raw()}


def common_group(paths: Iterable[str]) -> str:
    """The deepest group holding every one of `paths` (groups themselves).

    >>> common_group(["/prod/web", "/prod/db/main"])
    '/prod'
    """
    common: list[str] | None = None
    for path in paths:
        parts = [p for p in path.split("/") if p]
        if common is None:
            common = parts
        else:
            n = 0
            while n < min(len(common), len(parts)) and common[n] == parts[n]:
                n += 1
            common = common[:n]
    return "/" + "/".join(common) if common else ids.ROOT


def changed_group(original: RootGroup, target: RootGroup, affected_apps: Iterable[str]) -> str:
    """The group a change is about (group_change_success/failed `groupId`): the group holding the
    apps it touches (an app's own group for a one-app change), or else the groups added, removed or
    given new dependencies."""
    apps = [ids.parent(a) for a in affected_apps]
    if apps:
        return common_group(apps)
    groups = [g for g in original.groups.keys() | target.groups.keys()
              if (original.groups.get(g) is None) != (target.groups.get(g) is None)
              or _dependencies(original, g) != _dependencies(target, g)]
    return common_group(groups) if groups else ids.ROOT


def _dependencies(root: RootGroup, group_id: str) -> list[str]:
    meta = root.groups.get(group_id)
    return meta.dependencies if meta else []


def group_change(group_id: str, version: str, reason: str | None = None) -> Json:
    """group_change_success, or group_change_failed when there is a reason."""
    out: Json = {"groupId": group_id, "version": version}
    if reason is not None:
        out["reason"] = reason
    return out
