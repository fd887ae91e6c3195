"""Marathon's REST API v2 on aiohttp: one catch-all route and our own dispatch table.

The table matches the path after collapsing `//` (marathon-python sends `/v2/apps//web`) and
dropping a trailing `/`, which aiohttp's router cannot do before routing. Every handler gets
`(request, params)`; a `MarathonError` becomes its JSON answer, anything else is our bug: logged,
counted, answered 500.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from aiohttp import web

from pydcos.core.log import get_logger
from pydcos.marathon.api import apps, deployments, events, groups, info, queue, tasks
from pydcos.marathon.api.common import MAX_BODY, Handler, error_response, json_response
from pydcos.marathon.errors import MarathonError
from pydcos.marathon.service import SERVICE, Marathon

log = get_logger("pydcos.marathon.api")
_SLASHES = re.compile(r"/{2,}")
APP = r"(?P<id>/?.+?)"


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler


def _r(methods: str, pattern: str, handler: Handler) -> Route:
    return Route(frozenset(methods.split()), re.compile(f"^{pattern}$"), handler)


ROUTES: tuple[Route, ...] = (
    _r("GET", "/v2/apps", apps.list_apps),
    _r("POST", "/v2/apps", apps.create_app),
    _r("PUT PATCH", "/v2/apps", apps.put_apps),
    _r("POST", f"/v2/apps/{APP}/restart", apps.restart_app),
    _r("GET", f"/v2/apps/{APP}/versions", apps.list_versions),
    _r("GET", f"/v2/apps/{APP}/versions/(?P<version>[^/]+)", apps.get_version),
    _r("GET", f"/v2/apps/{APP}/tasks", apps.app_tasks),
    _r("DELETE", f"/v2/apps/{APP}/tasks", apps.kill_app_tasks),
    _r("DELETE", f"/v2/apps/{APP}/tasks/(?P<task>[^/]+)", apps.kill_app_task),
    _r("GET", f"/v2/apps/{APP}", apps.get_app),
    _r("PUT PATCH", f"/v2/apps/{APP}", apps.put_app),
    _r("DELETE", f"/v2/apps/{APP}", apps.delete_app),
    _r("GET", "/v2/tasks", tasks.list_tasks),
    _r("POST", "/v2/tasks/delete", tasks.delete_tasks),
    _r("GET", "/v2/deployments", deployments.list_deployments),
    _r("DELETE", "/v2/deployments/(?P<id>[^/]+)", deployments.delete_deployment),
    _r("GET", "/v2/groups", groups.get_group),
    _r("POST", "/v2/groups", groups.create_group),
    _r("PUT PATCH", "/v2/groups", groups.update_group),
    _r("DELETE", "/v2/groups", groups.delete_group),
    _r("GET", f"/v2/groups/{APP}/versions", groups.list_group_versions),
    _r("GET", "/v2/groups/versions", groups.list_group_versions),
    _r("GET", "/v2/groups/versions/(?P<version>[^/]+)", groups.get_group_version),
    _r("PUT", "/v2/groups/versions/(?P<version>[^/]+)", groups.update_group),
    _r("GET", f"/v2/groups/{APP}/versions/(?P<version>[^/]+)", groups.get_group_version),
    _r("PUT", f"/v2/groups/{APP}/versions/(?P<version>[^/]+)", groups.update_group),
    _r("GET", f"/v2/groups/{APP}", groups.get_group),
    _r("POST", f"/v2/groups/{APP}", groups.create_group),
    _r("PUT PATCH", f"/v2/groups/{APP}", groups.update_group),
    _r("DELETE", f"/v2/groups/{APP}", groups.delete_group),
    _r("GET", "/v2/queue", queue.get_queue),
    _r("DELETE", f"/v2/queue/{APP}/delay", queue.reset_delay),
    _r("GET", "/v2/info", info.get_info),
    _r("GET", "/v2/leader", info.get_leader),
    _r("DELETE", "/v2/leader", info.delete_leader),
    _r("GET", "/ping", info.ping),
    _r("GET", "/metrics", info.metrics),
    _r("GET", "/v2/events", events.event_stream),
    _r("GET POST DELETE", "/v2/eventSubscriptions", info.event_subscriptions),
    _r("GET HEAD POST PUT DELETE", "/v2/pods(/.*)?", info.no_pods),
)


def normalise(path: str) -> str:
    path = _SLASHES.sub("/", path)
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path


def resolve(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for a request, its parameters, and whether the path exists for another method."""
    known_path = False
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is None:
            continue
        if method in route.methods or (method == "HEAD" and "GET" in route.methods):
            return route, {k: v for k, v in found.groupdict().items() if v is not None}, True
        known_path = True
    return None, {}, known_path


async def dispatch(request: web.Request) -> web.StreamResponse:
    path = normalise(request.rel_url.path)
    route, params, known = resolve(request.method, path)
    if route is None:
        status = 405 if known else 404
        return json_response({"message": f"{request.method} {path} is not supported" if known
                              else f"{path} not found"}, status=status)
    try:
        return await route.handler(request, params)
    except MarathonError as exc:
        log.event("request_refused", method=request.method, path=path, status=exc.status, why=exc.message[:200])
        return error_response(exc)
    except (web.HTTPException, asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        m = request.app[SERVICE]
        m.unhandled_errors += 1
        log.exception("unhandled_error", method=request.method, path=path)
        return json_response({"message": "internal error; see the marathon log"}, status=500)


def make_app(marathon: Marathon) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[SERVICE] = marathon
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
