"""The deployment planner: from the tree as it is to the tree as wanted, the ordered steps. Pure.

Marathon's order: first stop the apps that go away, then start the new ones at 0 instances, then
for each dependency layer (dependencies first) restart the apps whose configuration changed and
scale the ones whose instance count changed.

>>> from pydcos.marathon.model import AppDefinition
>>> before = RootGroup()
>>> after = before.with_app(AppDefinition(id="/db", cmd="x", version="v1"), "v1")
>>> after = after.with_app(AppDefinition(id="/web", cmd="x", dependencies=["/db"], version="v1"), "v1")
>>> [[f"{a.action}:{a.app_id}" for a in step] for step in plan(before, after, "d1", "v1").steps]
[['StartApplication:/db', 'StartApplication:/web'], ['ScaleApplication:/db'], ['ScaleApplication:/web']]
"""

from __future__ import annotations

from typing import Literal

import msgspec

from pydcos.marathon.groups import RootGroup, dependency_layers
from pydcos.marathon.model import AppDefinition

ActionKind = Literal["StartApplication", "StopApplication", "ScaleApplication", "RestartApplication"]


class Action(msgspec.Struct, frozen=True, array_like=True):
    action: ActionKind
    app_id: str


Step = tuple[Action, ...]


class DeploymentPlan(msgspec.Struct, frozen=True):
    id: str
    version: str
    steps: tuple[Step, ...]
    # The affected apps as they were before (None = did not exist) and as wanted (None = removed):
    # a rollback puts `original` back.
    original: dict[str, AppDefinition | None] = {}
    target: dict[str, AppDefinition | None] = {}

    @property
    def affected_apps(self) -> list[str]:
        return sorted(self.original)


def changed_apps(original: RootGroup, target: RootGroup) -> dict[str, tuple[AppDefinition | None, AppDefinition | None]]:
    out: dict[str, tuple[AppDefinition | None, AppDefinition | None]] = {}
    for app_id in original.apps.keys() | target.apps.keys():
        before, after = original.apps.get(app_id), target.apps.get(app_id)
        if before is after:
            continue
        if before is None or after is None or before.version != after.version or before != after:
            out[app_id] = (before, after)
    return out


def plan(original: RootGroup, target: RootGroup, deployment_id: str, version: str) -> DeploymentPlan:
    changes = changed_apps(original, target)
    stops = tuple(Action("StopApplication", a) for a in sorted(changes) if changes[a][1] is None)
    starts = tuple(Action("StartApplication", a) for a in sorted(changes) if changes[a][0] is None)
    layers, _ = dependency_layers(target, [a for a, (_, t) in changes.items() if t is not None])
    by_layer: dict[int, list[Action]] = {}
    for app_id in sorted(changes):
        before, after = changes[app_id]
        if after is None:
            continue
        if before is None:
            kind: ActionKind | None = "ScaleApplication" if after.instances > 0 else None
        elif before.config_version != after.config_version:
            kind = "RestartApplication"
        elif before.instances != after.instances:
            kind = "ScaleApplication"
        else:
            kind = None
        if kind is not None:
            by_layer.setdefault(layers.get(app_id, 0), []).append(Action(kind, app_id))
    steps: list[Step] = [s for s in (stops, starts) if s]
    steps.extend(tuple(by_layer[n]) for n in sorted(by_layer))
    return DeploymentPlan(
        id=deployment_id,
        version=version,
        steps=tuple(steps),
        original={a: b for a, (b, _) in changes.items()},
        target={a: t for a, (_, t) in changes.items()},
    )


def revert(current: RootGroup, cancelled: DeploymentPlan, version: str) -> RootGroup:
    """The tree with the cancelled deployment's apps put back as they were before it."""
    out = current
    for app_id, before in cancelled.original.items():
        if before is None:
            out = out.without_app(app_id, version)
        else:
            out = out.with_app(before, version)
    return out
