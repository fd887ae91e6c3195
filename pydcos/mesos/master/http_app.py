"""The master's aiohttp application: every route in one table."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos.master import agent_link, operator_api, scheduler_api
from pydcos.mesos.master.service import MASTER, Master

log = get_logger("pydcos.master.http")


async def root(request: web.Request) -> web.Response:
    # mesoshttp probes `GET http://ip:port/` before talking to a master (COMPAT §8).
    return web.Response(text="pydcos Mesos master\n")


@web.middleware
async def count_unhandled(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one catch-all: our bug, not the client's. Log it, count it, answer 500."""
    try:
        return await handler(request)
    except (web.HTTPException, asyncio.CancelledError):
        raise
    except Exception:
        master = request.app[MASTER]
        master.unhandled_errors += 1
        log.exception("unhandled_error", path=request.path, method=request.method)
        return web.Response(status=500, text="Internal error; see the master log")


def make_app(master: Master) -> web.Application:
    app = web.Application(client_max_size=scheduler_api.MAX_BODY, middlewares=[count_unhandled])
    app[MASTER] = master
    r = app.router
    r.add_post("/api/v1/scheduler", scheduler_api.scheduler)
    r.add_post("/api/v1", operator_api.operator_v1)
    r.add_get(internal.AGENT_PATH, agent_link.agent_socket)
    for path in ("/master/state", "/master/state.json", "/state", "/state.json"):
        r.add_get(path, operator_api.state)
    for path in ("/master/state-summary", "/state-summary"):
        r.add_get(path, operator_api.state_summary)
    for path in ("/master/slaves", "/slaves"):
        r.add_get(path, operator_api.slaves)
    for path in ("/master/frameworks", "/frameworks"):
        r.add_get(path, operator_api.frameworks)
    for path in ("/master/tasks", "/master/tasks.json", "/tasks"):
        r.add_get(path, operator_api.tasks)
    for path in ("/master/redirect", "/redirect"):
        r.add_get(path, operator_api.redirect)
    for path in ("/master/teardown", "/teardown", "/master/shutdown"):
        r.add_post(path, operator_api.teardown)
    r.add_get("/version", operator_api.version)
    for path in ("/health", "/master/health"):
        r.add_get(path, operator_api.health)
    r.add_get("/metrics/snapshot", operator_api.metrics_snapshot)
    for path in ("/files/read", "/files/read.json"):
        r.add_get(path, operator_api.files_read)
    r.add_get("/", root)
    return app
