"""Changes asked for through the API, turned into a target tree and a deployment. Pure.

Each command validates everything first and raises (InvalidInput 422, NotFound 404,
AlreadyExists or DeploymentLocked 409) before anything changes; only then does it call
`core.deploy`, which switches the tree and starts the deployment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec
from msgspec import UNSET

from pydcos.marathon import ids
from pydcos.marathon.app_specs import apply_spec, config_equal
from pydcos.marathon.errors import AlreadyExists, DeploymentLocked, InvalidInput, NotFound, Problem
from pydcos.marathon.group_versions import replace_subtree
from pydcos.marathon.groups import RootGroup, assign_service_ports, dependency_layers, id_collisions
from pydcos.marathon.instances import Instance
from pydcos.marathon.model import AppDefinition, AppSpec, GroupMeta, GroupSpec, VersionInfo
from pydcos.marathon.planner import DeploymentPlan, plan, revert
from pydcos.marathon.validation import id_problem, validate_app

if TYPE_CHECKING:
    from pydcos.marathon.core import MarathonCore


def stamp(app: AppDefinition, previous: AppDefinition | None, version: str) -> AppDefinition:
    """Give a changed app its new version; a pure scale keeps its config version."""
    if previous is not None and config_equal(previous, app):
        if previous.instances == app.instances:
            return previous
        info = VersionInfo(last_scaling_at=version, last_config_change_at=previous.config_version)
    else:
        info = VersionInfo(last_scaling_at=version, last_config_change_at=version)
    return msgspec.structs.replace(app, version=version, version_info=info)


def _resolve_id(spec: AppSpec, path_id: str | None, prefix: str, base: str = ids.ROOT) -> str:
    raw = path_id if path_id is not None else (spec.id if spec.id is not UNSET else None)
    if raw is None or not raw.strip("/"):
        raise InvalidInput([Problem(f"{prefix}/id", ("is required and must not be the root",))])
    app_id, problems = id_problem(raw, base, f"{prefix}/id")
    if app_id is None:
        raise InvalidInput(problems)
    return app_id


def _rollback_target(core: MarathonCore, app_id: str, version: str) -> AppDefinition:
    kept = core.versions.get(app_id, {}).get(version)
    if kept is None:
        raise NotFound(f"App '{app_id}' does not exist in version {version}")
    return kept


def _finish_app(core: MarathonCore, root: RootGroup, app: AppDefinition, previous: AppDefinition | None,
                version: str, prefix: str) -> AppDefinition:
    problems = validate_app(app, prefix)
    if problems:
        raise InvalidInput(problems)
    app, port_problems = assign_service_ports(root, app, previous, core.config.service_port_range)
    if port_problems:
        raise InvalidInput([Problem(prefix + p.path, p.errors) for p in port_problems])
    return stamp(app, previous, version)


def check_tree(target: RootGroup, changed: Sequence[str]) -> None:
    _, cyclic = dependency_layers(target, changed)
    if cyclic:
        raise InvalidInput([Problem("/dependencies", (f"Dependency graph has cyclic dependencies: {cyclic}",))])


def put_apps(core: MarathonCore, specs: Sequence[tuple[AppSpec, str | None]], *, create_only: bool,
             force: bool, batch: bool = False) -> DeploymentPlan:
    """POST /v2/apps (create_only), PUT /v2/apps/{id} and PUT /v2/apps (`batch`: paths get `/(i)`)."""
    version = core.next_version()
    target = core.root
    changed: list[str] = []
    for index, (spec, path_id) in enumerate(specs):
        prefix = f"/({index})" if batch else ""
        app_id = _resolve_id(spec, path_id, prefix)
        previous = target.apps.get(app_id)
        if create_only and previous is not None:
            raise AlreadyExists(f"An app with id [{app_id}] already exists.")
        if spec.version is not UNSET and previous is not None and _only_version(spec):
            wanted = _rollback_target(core, app_id, spec.version)
            app = msgspec.structs.replace(wanted, version="", version_info=None)
            app = stamp(app, None, version)
        else:
            app = _finish_app(core, target, apply_spec(spec, app_id, previous), previous, version, prefix)
        if previous is None and (problems := id_collisions(target, [app_id])):
            raise InvalidInput(problems)
        if app is not previous:
            target = target.with_app(app, version)
            changed.append(app_id)
    check_tree(target, changed)
    return core.deploy(target, force=force)


def _only_version(spec: AppSpec) -> bool:
    named = {f for f in spec.__struct_fields__ if getattr(spec, f) is not UNSET}
    return named <= {"version", "id"}


def delete_app(core: MarathonCore, app_id: str, *, force: bool) -> DeploymentPlan:
    if app_id not in core.root.apps:
        raise NotFound(f"App '{app_id}' does not exist")
    return core.deploy(core.root.without_app(app_id, core.next_version()), force=force)


def restart_app(core: MarathonCore, app_id: str, *, force: bool) -> DeploymentPlan:
    app = core.root.apps.get(app_id)
    if app is None:
        raise NotFound(f"App '{app_id}' does not exist")
    version = core.next_version()
    restarted = msgspec.structs.replace(app, version=version,
                                        version_info=VersionInfo(last_scaling_at=version, last_config_change_at=version))
    return core.deploy(core.root.with_app(restarted, version), force=force)


def kill_tasks(core: MarathonCore, task_ids: Sequence[str], *, scale: bool, force: bool,
               wipe: bool = False) -> tuple[list[Instance], DeploymentPlan | None]:
    """Kill instances; with `scale`, lower their apps' instance counts by as many (a deployment).
    With `wipe` (Marathon 1.4), also forget them at once instead of waiting for Mesos to confirm
    their end: their apps see them gone and launch replacements (unless `scale`)."""
    found = [i for t in task_ids if (i := core.instances.get(t)) is not None]
    if not scale:
        return _kill(core, found, wipe), None
    version = core.next_version()
    target = core.root
    by_app: dict[str, int] = {}
    for instance in found:
        if not instance.killing:
            by_app[instance.app_id] = by_app.get(instance.app_id, 0) + 1
    for app_id, count in by_app.items():
        app = target.apps.get(app_id)
        if app is not None:
            scaled = msgspec.structs.replace(app, instances=max(0, app.instances - count))
            target = target.with_app(stamp(scaled, app, version), version)
    new_plan = plan(core.root, target, "check", version)
    conflicts = core.deployments.conflicts(new_plan.affected_apps)
    if conflicts and not force:
        raise DeploymentLocked(conflicts)
    killed = _kill(core, found, wipe)
    return killed, core.deploy(target, force=True)


def _kill(core: MarathonCore, found: Sequence[Instance], wipe: bool) -> list[Instance]:
    killed = core.kill_and_forget(i.task_id for i in found)
    if wipe:
        for instance in killed:
            core.expunge(instance.task_id, "wiped through the API")
    return killed


def cancel_deployment(core: MarathonCore, deployment_id: str, *, force: bool) -> DeploymentPlan | None:
    """Without force: roll the deployment's apps back (a new deployment). With force: just stop it."""
    run = core.deployments.get(deployment_id)
    if run is None:
        raise NotFound(f"DeploymentPlan {deployment_id} does not exist")
    if force:
        core.cancel_run(deployment_id, "canceled by the user")
        return None
    version = core.next_version()
    target = revert(core.root, run.plan, version)
    core.cancel_run(deployment_id, "rolled back by the user")
    return core.deploy(target, force=True)


# --- groups ---------------------------------------------------------------------------------


def _apply_group(core: MarathonCore, root: RootGroup, spec: GroupSpec, group_id: str, version: str,
                 prefix: str, changed: list[str]) -> RootGroup:
    meta = root.groups.get(group_id) or GroupMeta(id=group_id)
    if spec.dependencies is not UNSET:
        meta = msgspec.structs.replace(meta, dependencies=list(spec.dependencies or []))
    if problems := id_collisions(root, [], [group_id]):
        raise InvalidInput(problems)
    root = root.with_group(meta, version)
    if spec.apps is not UNSET:
        wanted: set[str] = set()
        for i, app_spec in enumerate(spec.apps or []):
            at = f"{prefix}/apps({i})"
            app_id = _resolve_id(app_spec, None, at, group_id)
            if ids.parent(app_id) != group_id:
                raise InvalidInput([Problem(f"{at}/id", (f"app {app_id} is not a direct child of {group_id}",))])
            previous = root.apps.get(app_id)
            app = _finish_app(core, root, apply_spec(app_spec, app_id, None), previous, version, at)
            if previous is None and (problems := id_collisions(root, [app_id])):
                raise InvalidInput(problems)
            if app is not previous:
                root = root.with_app(app, version)
            wanted.add(app_id)
            changed.append(app_id)
        for gone in [a.id for a in root.children(group_id)[0] if a.id not in wanted]:
            root = root.without_app(gone, version)
    for i, sub in enumerate(spec.groups or [] if spec.groups is not UNSET else []):
        raw = sub.id if sub.id is not UNSET else ""
        sub_id, problems = id_problem(raw, group_id, f"{prefix}/groups({i})/id")
        if sub_id is None or sub_id == group_id:
            raise InvalidInput(problems or [Problem(f"{prefix}/groups({i})/id", ("must name a subgroup",))])
        root = _apply_group(core, root, sub, sub_id, version, f"{prefix}/groups({i})", changed)
    return root


def create_group(core: MarathonCore, spec: GroupSpec, group_id: str, *, force: bool) -> DeploymentPlan:
    if group_id in core.root.groups and group_id != ids.ROOT:
        raise AlreadyExists(f"Group {group_id} is already created. Use PUT to change this group.")
    return update_group(core, spec, group_id, force=force)


def update_group(core: MarathonCore, spec: GroupSpec, group_id: str, *, force: bool) -> DeploymentPlan:
    version = core.next_version()
    if spec.scale_by is not UNSET:
        return _scale_group(core, group_id, spec.scale_by, version, force)
    if spec.version is not UNSET:
        return rollback_group(core, group_id, spec.version, version, force=force)
    changed: list[str] = []
    target = _apply_group(core, core.root, spec, group_id, version, "", changed)
    check_tree(target, changed)
    return core.deploy(target, force=force)


def rollback_group(core: MarathonCore, group_id: str, old_version: str, version: str, *,
                   force: bool) -> DeploymentPlan:
    """The group, with everything below it, as it was in a kept tree version (a new deployment)."""
    old = core.group_history.tree(old_version)
    if old is None or group_id not in old.groups:
        raise NotFound(f"Group '{group_id}' does not exist in version {old_version}")

    def restamp(app: AppDefinition, current: AppDefinition | None) -> AppDefinition:
        return stamp(msgspec.structs.replace(app, version="", version_info=None), current, version)

    target = replace_subtree(core.root, old, group_id, version, restamp)
    check_tree(target, [a.id for a in target.apps_under(group_id)])
    return core.deploy(target, force=force)


def _scale_group(core: MarathonCore, group_id: str, factor: float, version: str, force: bool) -> DeploymentPlan:
    if group_id not in core.root.groups:
        raise NotFound(f"Group '{group_id}' does not exist")
    if not math.isfinite(factor) or factor < 0:
        raise InvalidInput([Problem("/scaleBy", ("must be 0 or more",))])
    target = core.root
    for app in core.root.apps_under(group_id):
        scaled = msgspec.structs.replace(app, instances=math.ceil(app.instances * factor))
        target = target.with_app(stamp(scaled, app, version), version)
    return core.deploy(target, force=force)


def delete_group(core: MarathonCore, group_id: str, *, force: bool) -> DeploymentPlan:
    if group_id not in core.root.groups:
        raise NotFound(f"Group '{group_id}' does not exist")
    return core.deploy(core.root.without_group(group_id, core.next_version()), force=force)
