"""`/v2/tasks`: every task, and killing tasks by id (`/v2/tasks/delete`)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from pydcos.marathon import commands
from pydcos.marathon.api.common import Params, core, decode, deployment_result, json_response, qbool, service
from pydcos.marathon.errors import NotFound
from pydcos.marathon.queries import render_task

_STATES = {"running": {"TASK_RUNNING"}, "staging": {"TASK_STAGING", "TASK_STARTING"},
           "killing": {"TASK_KILLING"}}


class TaskIds(msgspec.Struct):
    ids: list[str]


_IDS_DECODER = msgspec.json.Decoder(TaskIds)


async def list_tasks(request: web.Request, params: Params) -> web.StreamResponse:
    c = core(request)
    wanted: set[str] = set()
    for status in request.query.getall("status", []):
        wanted |= _STATES.get(status.lower(), set())
    tasks = [render_task(c, i) for i in c.instances if not wanted or i.state in wanted]
    return json_response({"tasks": tasks})


async def delete_tasks(request: web.Request, params: Params) -> web.StreamResponse:
    body = decode(await request.read(), _IDS_DECODER)
    c = core(request)
    rendered = [render_task(c, i) for t in body.ids if (i := c.instances.get(t)) is not None]
    if body.ids and not rendered:
        raise NotFound(f"None of the tasks {', '.join(body.ids[:5])} exists")
    _, plan = commands.kill_tasks(c, body.ids, scale=qbool(request, "scale"), force=qbool(request, "force"),
                                  wipe=qbool(request, "wipe"))
    await service(request).commit()
    if plan is not None:
        return deployment_result(plan)
    return json_response({"tasks": rendered})
