"""`/v2/queue`: what waits to launch and why offers did not fit; resetting an app's backoff."""

from __future__ import annotations

from aiohttp import web

from pydcos.marathon import ids
from pydcos.marathon.api.common import Params, core, json_response, service
from pydcos.marathon.errors import NotFound
from pydcos.marathon.queries import render_queue


async def get_queue(request: web.Request, params: Params) -> web.StreamResponse:
    embed = "lastUnusedOffers" in request.query.getall("embed", [])
    return json_response({"queue": render_queue(core(request), embed)})


async def reset_delay(request: web.Request, params: Params) -> web.StreamResponse:
    c = core(request)
    try:
        app_id = ids.canonical(params["id"])
    except ids.BadId as exc:
        raise NotFound(f"Application {params['id']} not found in tasks queue.") from exc
    if not c.reset_delay(app_id):
        raise NotFound(f"Application {app_id} not found in tasks queue.")
    await service(request).commit()
    return web.Response(status=204)
