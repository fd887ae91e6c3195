"""`/v2/deployments`: the running deployments; DELETE rolls one back (or, forced, just stops it)."""

from __future__ import annotations

from aiohttp import web

from pydcos.marathon import commands
from pydcos.marathon.api.common import Params, core, deployment_result, json_response, qbool, service
from pydcos.marathon.queries import render_deployments


async def list_deployments(request: web.Request, params: Params) -> web.StreamResponse:
    return json_response(render_deployments(core(request)))


async def delete_deployment(request: web.Request, params: Params) -> web.StreamResponse:
    force = qbool(request, "force")
    plan = commands.cancel_deployment(core(request), params["id"], force=force)
    await service(request).commit()
    if plan is None:
        return web.Response(status=202)
    return deployment_result(plan)
