"""The master's aiohttp application: every route in one table."""

from __future__ import annotations

import asyncio
import functools

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


def guarded(handler: Handler) -> Handler:
    """The one catch-all, around every route: our bug, not the client's. Log it, count it, answer
    500. A wrapper per route rather than an aiohttp middleware: an application without
    middlewares has its handlers called directly, without the middleware chain (and aiohttp's own
    current-app fix-up layer) around every scheduler call."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (web.HTTPException, asyncio.CancelledError):
            raise
        except Exception:
            master = request.app[MASTER]
            master.unhandled_errors += 1
            log.exception("unhandled_error", path=request.path, method=request.method)
            return web.Response(status=500, text="Internal error; see the master log")

    return run


def make_app(master: Master) -> web.Application:
    app = web.Application(client_max_size=scheduler_api.MAX_BODY)
    app[MASTER] = master
    r = app.router
    r.add_post("/api/v1/scheduler", guarded(scheduler_api.scheduler))
    r.add_post("/api/v1", guarded(operator_api.operator_v1))
    r.add_get(internal.AGENT_PATH, guarded(agent_link.agent_socket))
    for path in ("/master/state", "/master/state.json", "/state", "/state.json"):
        r.add_get(path, guarded(operator_api.state))
    for path in ("/master/state-summary", "/state-summary"):
        r.add_get(path, guarded(operator_api.state_summary))
    for path in ("/master/slaves", "/slaves"):
        r.add_get(path, guarded(operator_api.slaves))
    for path in ("/master/frameworks", "/frameworks"):
        r.add_get(path, guarded(operator_api.frameworks))
    for path in ("/master/tasks", "/master/tasks.json", "/tasks"):
        r.add_get(path, guarded(operator_api.tasks))
    for path in ("/master/redirect", "/redirect"):
        r.add_get(path, guarded(operator_api.redirect))
    for path in ("/master/teardown", "/teardown", "/master/shutdown"):
        r.add_post(path, guarded(operator_api.teardown))
    r.add_get("/version", guarded(operator_api.version))
    for path in ("/health", "/master/health"):
        r.add_get(path, guarded(operator_api.health))
    r.add_get("/metrics/snapshot", guarded(operator_api.metrics_snapshot))
    for path in ("/files/read", "/files/read.json"):
        r.add_get(path, guarded(operator_api.files_read))
    r.add_get("/", guarded(root))
    return app
