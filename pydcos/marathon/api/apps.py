"""`/v2/apps`: list, create, read, update, delete, restart, versions and the app's tasks."""

from __future__ import annotations

from aiohttp import web

from pydcos.marathon import commands, ids
from pydcos.marathon.api.common import (
    Params,
    core,
    decode,
    deployment_result,
    json_response,
    qbool,
    service,
)
from pydcos.marathon.errors import InvalidInput, NotFound, Problem
from pydcos.marathon.model import APP_SPEC_DECODER, APP_SPECS_DECODER
from pydcos.marathon.queries import render_app, render_apps, render_task
from pydcos.marathon.render import app_definition_json


def app_path(raw: str) -> str:
    try:
        return ids.canonical(raw)
    except ids.BadId as exc:
        raise InvalidInput([Problem("/id", (ids.SEGMENT_RULE,))]) from exc


def _known(request: web.Request, raw: str) -> str:
    app_id = app_path(raw)
    if app_id not in core(request).root.apps:
        raise NotFound(f"App '{app_id}' does not exist")
    return app_id


async def list_apps(request: web.Request, params: Params) -> web.StreamResponse:
    q = request.query
    embed = q.getall("embed", [])
    apps = render_apps(core(request), embed, cmd=q.get("cmd"), id_part=q.get("id"), label=q.get("label"))
    return json_response({"apps": apps})


async def create_app(request: web.Request, params: Params) -> web.StreamResponse:
    body = await request.read()
    spec = decode(body, APP_SPEC_DECODER)
    c = core(request)
    plan = commands.put_apps(c, [(spec, None)], create_only=True, force=qbool(request, "force"))
    app_id = next(iter(plan.target))
    app = c.root.apps[app_id]
    c.emit("api_post_event", lambda: {"clientIp": request.remote or "", "uri": "/v2/apps",
                                      "appDefinition": app_definition_json(app)})
    await service(request).commit()
    out = render_app(c, app)
    out["deployments"] = [{"id": plan.id}]
    return json_response(out, status=201, headers={"Location": f"/v2/apps{app_id}",
                                                   "Marathon-Deployment-Id": plan.id})


async def get_app(request: web.Request, params: Params) -> web.StreamResponse:
    c = core(request)
    app_id = _known(request, params["id"])
    embed = request.query.getall("embed", [])
    return json_response({"app": render_app(c, c.root.apps[app_id], embed, single=True)})


async def put_app(request: web.Request, params: Params) -> web.StreamResponse:
    body = await request.read()
    spec = decode(body, APP_SPEC_DECODER)
    c = core(request)
    app_id = app_path(params["id"])
    existed = app_id in c.root.apps
    plan = commands.put_apps(c, [(spec, app_id)], create_only=False, force=qbool(request, "force"))
    app = c.root.apps.get(app_id)
    if app is not None:
        c.emit("api_post_event", lambda: {"clientIp": request.remote or "", "uri": f"/v2/apps{app_id}",
                                          "appDefinition": app_definition_json(app)})
    await service(request).commit()
    return deployment_result(plan, 200 if existed else 201)


async def put_apps(request: web.Request, params: Params) -> web.StreamResponse:
    specs = decode(await request.read(), APP_SPECS_DECODER)
    if not specs:
        raise InvalidInput([Problem("/", ("expected a list of apps",))])
    plan = commands.put_apps(core(request), [(s, None) for s in specs], create_only=False,
                             force=qbool(request, "force"), batch=True)
    await service(request).commit()
    return deployment_result(plan)


async def delete_app(request: web.Request, params: Params) -> web.StreamResponse:
    app_id = _known(request, params["id"])
    plan = commands.delete_app(core(request), app_id, force=qbool(request, "force"))
    await service(request).commit()
    return deployment_result(plan)


async def restart_app(request: web.Request, params: Params) -> web.StreamResponse:
    app_id = _known(request, params["id"])
    plan = commands.restart_app(core(request), app_id, force=qbool(request, "force"))
    await service(request).commit()
    return deployment_result(plan)


async def list_versions(request: web.Request, params: Params) -> web.StreamResponse:
    app_id = _known(request, params["id"])
    versions = sorted(core(request).versions.get(app_id, {}), reverse=True)
    return json_response({"versions": versions})


async def get_version(request: web.Request, params: Params) -> web.StreamResponse:
    app_id = _known(request, params["id"])
    kept = core(request).versions.get(app_id, {}).get(params["version"])
    if kept is None:
        raise NotFound(f"App '{app_id}' does not exist in version {params['version']}")
    return json_response(app_definition_json(kept))


async def app_tasks(request: web.Request, params: Params) -> web.StreamResponse:
    app_id = _known(request, params["id"])
    c = core(request)
    return json_response({"tasks": [render_task(c, i) for i in c.instances.of_app(app_id)]})


async def kill_app_tasks(request: web.Request, params: Params) -> web.StreamResponse:
    app_id = _known(request, params["id"])
    c = core(request)
    host = request.query.get("host")
    chosen = [i for i in c.instances.of_app(app_id) if host is None or i.host == host]
    return await _kill(request, [i.task_id for i in chosen], single=False)


async def kill_app_task(request: web.Request, params: Params) -> web.StreamResponse:
    app_id = _known(request, params["id"])
    instance = core(request).instances.get(params["task"])
    if instance is None or instance.app_id != app_id:
        raise NotFound(f"Task '{params['task']}' does not exist")
    return await _kill(request, [instance.task_id], single=True)


async def _kill(request: web.Request, task_ids: list[str], *, single: bool) -> web.StreamResponse:
    c = core(request)
    rendered = [render_task(c, i) for t in task_ids if (i := c.instances.get(t)) is not None]
    killed, plan = commands.kill_tasks(c, task_ids, scale=qbool(request, "scale"), force=qbool(request, "force"),
                                       wipe=qbool(request, "wipe"))
    await service(request).commit()
    if plan is not None:
        return deployment_result(plan)
    if single:
        return json_response({"task": rendered[0]})
    return json_response({"tasks": rendered})
