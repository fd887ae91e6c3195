"""The group tree: apps and groups kept flat by path, the tree derived when asked. Pure.

A `RootGroup` is never changed in place: every operation returns a new one (copying the two
dicts costs microseconds even for thousands of apps), so a deployment can hold the tree it
started from. Groups above an app exist implicitly and are created with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import msgspec

from pydcos.marathon import app_ports, ids
from pydcos.marathon.errors import Problem
from pydcos.marathon.model import AppDefinition, GroupMeta, PortDefinition, PortMapping


@dataclass(frozen=True)
class RootGroup:
    apps: Mapping[str, AppDefinition] = field(default_factory=dict)
    groups: Mapping[str, GroupMeta] = field(default_factory=lambda: {ids.ROOT: GroupMeta(id=ids.ROOT)})
    version: str = ""

    # --- reading --------------------------------------------------------------------------

    def app(self, app_id: str) -> AppDefinition | None:
        return self.apps.get(app_id)

    def has_group(self, group_id: str) -> bool:
        return group_id in self.groups

    def apps_under(self, group_id: str) -> list[AppDefinition]:
        return [a for a in self.apps.values() if ids.is_under(a.id, group_id)]

    def groups_under(self, group_id: str) -> list[GroupMeta]:
        return [g for g in self.groups.values() if ids.is_under(g.id, group_id)]

    def children(self, group_id: str) -> tuple[list[AppDefinition], list[GroupMeta]]:
        apps = [a for a in self.apps.values() if ids.parent(a.id) == group_id]
        groups = [g for g in self.groups.values() if g.id != ids.ROOT and ids.parent(g.id) == group_id]
        return sorted(apps, key=lambda a: a.id), sorted(groups, key=lambda g: g.id)

    # --- changing -------------------------------------------------------------------------

    def with_app(self, app: AppDefinition, version: str) -> RootGroup:
        apps = dict(self.apps)
        apps[app.id] = app
        groups = dict(self.groups)
        for group_id in ids.ancestors(app.id):
            meta = groups.get(group_id)
            groups[group_id] = (GroupMeta(id=group_id, version=version) if meta is None
                                else msgspec.structs.replace(meta, version=version))
        return RootGroup(apps, groups, version)

    def without_app(self, app_id: str, version: str) -> RootGroup:
        apps = dict(self.apps)
        apps.pop(app_id, None)
        return RootGroup(apps, self._touch(ids.parent(app_id), version), version)

    def with_group(self, meta: GroupMeta, version: str) -> RootGroup:
        groups = dict(self._touch(ids.parent(meta.id), version))
        groups[meta.id] = msgspec.structs.replace(meta, version=version)
        return RootGroup(dict(self.apps), groups, version)

    def without_group(self, group_id: str, version: str) -> RootGroup:
        if group_id == ids.ROOT:
            return RootGroup({}, {ids.ROOT: GroupMeta(id=ids.ROOT, version=version)}, version)
        apps = {k: v for k, v in self.apps.items() if not ids.is_under(k, group_id)}
        groups = {k: v for k, v in self._touch(ids.parent(group_id), version).items()
                  if not ids.is_under(k, group_id)}
        return RootGroup(apps, groups, version)

    def _touch(self, group_id: str, version: str) -> dict[str, GroupMeta]:
        groups = dict(self.groups)
        for gid in [group_id, *ids.ancestors(group_id)] if group_id != ids.ROOT else [ids.ROOT]:
            meta = groups.get(gid)
            if meta is not None:
                groups[gid] = msgspec.structs.replace(meta, version=version)
        return groups


# --- tree checks ------------------------------------------------------------------------------


def id_collisions(root: RootGroup, app_ids: Iterable[str], group_ids: Iterable[str] = ()) -> list[Problem]:
    """An app may not sit where a group is, nor below another app."""
    out: list[Problem] = []
    for app_id in app_ids:
        if app_id in root.groups:
            out.append(Problem("/id", (f"An app with the path {app_id} conflicts with the existing group",)))
        for above in ids.ancestors(app_id):
            if above in root.apps:
                out.append(Problem("/id", (f"The app {app_id} cannot be below the app {above}",)))
    for group_id in group_ids:
        if group_id in root.apps:
            out.append(Problem("/id", (f"A group with the path {group_id} conflicts with the existing app",)))
    return out


def resolve_dependencies(root: RootGroup, app: AppDefinition) -> set[str]:
    """The apps `app` waits for: its own dependencies and its groups', groups meaning all their apps."""
    wanted = list(app.dependencies)
    for group_id in ids.ancestors(app.id):
        meta = root.groups.get(group_id)
        if meta is not None:
            wanted.extend(meta.dependencies)
    out: set[str] = set()
    for raw in wanted:
        try:
            dep = ids.canonical(raw, ids.parent(app.id))
        except ids.BadId:
            continue
        if dep in root.apps:
            out.add(dep)
        elif dep in root.groups:
            out.update(a.id for a in root.apps_under(dep))
    out.discard(app.id)
    return out


def dependency_layers(root: RootGroup, starts: Iterable[str] | None = None) -> tuple[dict[str, int], list[str]]:
    """The layer of each app reachable from `starts` (all apps when None; 0 = depends on nothing)
    and the apps caught in a cycle."""
    deps: dict[str, set[str]] = {}

    def deps_of(app_id: str) -> set[str]:
        if app_id not in deps:
            app = root.apps.get(app_id)
            deps[app_id] = resolve_dependencies(root, app) if app is not None else set()
        return deps[app_id]

    layer: dict[str, int] = {}
    cyclic: set[str] = set()
    for start in sorted(root.apps if starts is None else starts):
        if start in layer or start not in root.apps:
            continue
        # iterative depth-first walk; `on_path` holds the apps on the way down
        stack: list[tuple[str, list[str]]] = [(start, sorted(deps_of(start)))]
        on_path = {start}
        while stack:
            node, pending = stack[-1]
            nxt = next((d for d in pending if d not in layer), None)
            if nxt is None:
                layer[node] = 1 + max((layer[d] for d in deps_of(node) if d in layer), default=-1)
                stack.pop()
                on_path.discard(node)
                continue
            pending.remove(nxt)
            if nxt in on_path:
                cyclic.add(nxt)
                continue
            on_path.add(nxt)
            stack.append((nxt, sorted(deps_of(nxt))))
    return layer, sorted(cyclic)


def assign_service_ports(
    root: RootGroup, app: AppDefinition, previous: AppDefinition | None, port_range: tuple[int, int]
) -> tuple[AppDefinition, list[Problem]]:
    """Give each service port asked for as 0 (a port definition's `port`, or a Docker port mapping's
    `servicePort`) a port from `port_range` no other app uses, keeping the one it had before at the
    same position. With port mappings, the port definitions follow them, one per mapping with its
    service port (Marathon 1.3 does the same), so that `ports`, the tasks' `servicePorts` and the
    task's discovery info all show the mappings' service ports."""
    mappings = app_ports.port_mappings(app)
    wanted = app_ports.service_ports_wanted(app)
    if not any(p == 0 for p in wanted) and (not mappings or app.service_ports == wanted):
        return app, []
    used = {p for other in root.apps.values() if other.id != app.id for p in other.service_ports}
    used.update(p for p in wanted if p)
    old = previous.service_ports if previous is not None else []
    candidate = port_range[0]
    chosen_ports: list[int] = []
    for i, port in enumerate(wanted):
        if port != 0:
            chosen_ports.append(port)
            continue
        if i < len(old) and old[i] not in used and port_range[0] <= old[i] <= port_range[1]:
            chosen = old[i]
        else:
            while candidate in used and candidate <= port_range[1]:
                candidate += 1
            if candidate > port_range[1]:
                where = f"{app_ports.MAPPINGS_PATH}({i})/servicePort" if mappings else f"/portDefinitions({i})/port"
                return app, [Problem(where, ("no free service port left",))]
            chosen = candidate
        used.add(chosen)
        chosen_ports.append(chosen)
    if not mappings:
        definitions = [msgspec.structs.replace(pd, port=p) for pd, p in zip(app.port_definitions, chosen_ports, strict=True)]
        return msgspec.structs.replace(app, port_definitions=definitions), []
    return _with_mapped_service_ports(app, mappings, chosen_ports), []


def _with_mapped_service_ports(app: AppDefinition, mappings: list[PortMapping], ports: list[int]) -> AppDefinition:
    assert app.container is not None and app.container.docker is not None
    docker = msgspec.structs.replace(app.container.docker, port_mappings=[
        msgspec.structs.replace(pm, service_port=p) for pm, p in zip(mappings, ports, strict=True)])
    definitions = [
        msgspec.structs.replace(app.port_definitions[i], port=p) if i < len(app.port_definitions)
        else PortDefinition(port=p, protocol=mappings[i].protocol)
        for i, p in enumerate(ports)
    ]
    return msgspec.structs.replace(app, container=msgspec.structs.replace(app.container, docker=docker),
                                   port_definitions=definitions)
