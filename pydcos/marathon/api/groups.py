"""`/v2/groups`: the group tree; create, update (scaleBy, version), delete."""

from __future__ import annotations

from aiohttp import web
from msgspec import structs

from pydcos.marathon import commands, ids
from pydcos.marathon.api.common import Params, core, decode, deployment_result, json_response, qbool, service
from pydcos.marathon.errors import InvalidInput, NotFound, Problem
from pydcos.marathon.model import GROUP_SPEC_DECODER
from pydcos.marathon.queries import render_group


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
    group_id = _known(request, params.get("id", "/"))
    meta = core(request).root.groups[group_id]
    return json_response([meta.version or core(request).root.version])


async def get_group_version(request: web.Request, params: Params) -> web.StreamResponse:
    group_id = _known(request, params.get("id", "/"))
    c = core(request)
    meta = c.root.groups[group_id]
    if params["version"] not in (meta.version, c.root.version):
        raise NotFound(f"Group '{group_id}' does not exist in version {params['version']}")
    return json_response(render_group(c, c.root, group_id))


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
    spec = decode(await request.read(), GROUP_SPEC_DECODER)
    group_id = group_path(params.get("id", "/"))
    if "version" in params:
        spec = structs.replace(spec, version=params["version"])
    plan = commands.update_group(core(request), spec, group_id, force=qbool(request, "force"))
    await service(request).commit()
    return deployment_result(plan)


async def delete_group(request: web.Request, params: Params) -> web.StreamResponse:
    group_id = _known(request, params.get("id", "/"))
    plan = commands.delete_group(core(request), group_id, force=qbool(request, "force"))
    await service(request).commit()
    return deployment_result(plan)
