"""`/v2/groups`: the group tree; create, update (scaleBy, or roll back to a kept version), delete; the
kept versions of the tree (group_versions.py)."""

from __future__ import annotations

from aiohttp import web
from msgspec import structs

from pydcos.marathon import commands, ids
from pydcos.marathon.api.common import Params, core, decode, deployment_result, json_response, qbool, service
from pydcos.marathon.errors import InvalidInput, NotFound, Problem
from pydcos.marathon.groups import RootGroup
from pydcos.marathon.model import GROUP_SPEC_DECODER, GroupSpec
from pydcos.marathon.queries import render_group
from pydcos.marathon.render import AppCounts, Json, app_definition_json, app_json, group_json


def group_path(raw: str) -> str:
    try:
        return ids.canonical(raw or "/")
    except ids.BadId as exc:
        raise InvalidInput([Problem("/id", (ids.SEGMENT_RULE,))]) from exc


def _known(request: web.Request, raw: str) -> str:
    group_id = group_path(raw)
    if group_id not in core(request).root.groups:
        raise NotFound(f"Group '{group_id}' does not exist")
    return group_id


async def get_group(request: web.Request, params: Params) -> web.StreamResponse:
    group_id = _known(request, params.get("id", "/"))
    c = core(request)
    return json_response(render_group(c, c.root, group_id))


async def list_group_versions(request: web.Request, params: Params) -> web.StreamResponse:
    """The kept versions of the tree in which the group exists, newest first."""
    group_id = _known(request, params.get("id", "/"))
    return json_response(core(request).group_history.versions(group_id))


async def get_group_version(request: web.Request, params: Params) -> web.StreamResponse:
    group_id = group_path(params.get("id", "/"))
    tree = core(request).group_history.tree(params["version"])
    if tree is None or group_id not in tree.groups:
        raise NotFound(f"Group '{group_id}' does not exist in version {params['version']}")
    return json_response(_group_as_kept(tree, group_id))


def _group_as_kept(tree: RootGroup, group_id: str) -> Json:
    """A group of a kept version: its apps' definitions as they were (with zero counters, which the
    clients expect on every app), not today's tasks."""
    apps, groups = tree.children(group_id)
    meta = tree.groups[group_id]
    return group_json(group_id, (app_json(app_definition_json(a), AppCounts(), []) for a in apps),
                      (_group_as_kept(tree, g.id) for g in groups), meta.dependencies, meta.version or tree.version)


async def create_group(request: web.Request, params: Params) -> web.StreamResponse:
    spec = decode(await request.read(), GROUP_SPEC_DECODER)
    base = group_path(params.get("id", "/"))
    raw = spec.id if isinstance(spec.id, str) else ""
    if not raw.strip("/"):
        raise InvalidInput([Problem("/id", ("a group to create needs an id",))])
    try:
        group_id = ids.canonical(raw, base)
    except ids.BadId as exc:
        raise InvalidInput([Problem("/id", (ids.SEGMENT_RULE,))]) from exc
    plan = commands.create_group(core(request), spec, group_id, force=qbool(request, "force"))
    await service(request).commit()
    return deployment_result(plan, 201)


async def update_group(request: web.Request, params: Params) -> web.StreamResponse:
    body = await request.read()
    group_id = group_path(params.get("id", "/"))
    if "version" in params:  # PUT /v2/groups/{id}/versions/{v}: a rollback, the body may be empty
        spec = decode(body, GROUP_SPEC_DECODER) if body.strip() else GroupSpec()
        spec = structs.replace(spec, version=params["version"])
    else:
        spec = decode(body, GROUP_SPEC_DECODER)
    plan = commands.update_group(core(request), spec, group_id, force=qbool(request, "force"))
    await service(request).commit()
    return deployment_result(plan)


async def delete_group(request: web.Request, params: Params) -> web.StreamResponse:
    group_id = _known(request, params.get("id", "/"))
    plan = commands.delete_group(core(request), group_id, force=qbool(request, "force"))
    await service(request).commit()
    return deployment_result(plan)
