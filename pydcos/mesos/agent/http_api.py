"""The agent's HTTP endpoints: state, health, version, metrics, the files API, and the executor
API (`POST /api/v1/executor`, in executor_api.py).

Answers are compact ASCII JSON. A files API mistake gets its 400/403/404 with a text message;
the one catch-all (a middleware) logs our own bugs with their traceback, counts them and
answers 500, so no request can take the agent down.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from pydcos.core.log import get_logger
from pydcos.mesos.agent import executor_api, files
from pydcos.mesos.agent.errors import FilesError
from pydcos.mesos.agent.state_json import version_json
from pydcos.mesos.v1.messages import encode

log = get_logger("pydcos.agent.http")

DOWNLOAD_CHUNK = 256 * 1024
MAX_BODY = 64 * 1024 * 1024


class AgentView(Protocol):
    """What the HTTP layer reads from the agent."""

    def state_document(self) -> dict[str, Any]: ...

    def metrics_snapshot(self) -> dict[str, float]: ...

    def file_roots(self) -> files.FileRoots: ...

    def executor_directories(self) -> list[str]: ...

    def count(self, name: str) -> None: ...

    def executor_endpoint(self) -> executor_api.ExecutorEndpoint: ...


AGENT = web.AppKey("agent", AgentView)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode(body), status=status, content_type="application/json")


@web.middleware
async def catch_all(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except FilesError as exc:
        log.event("files_request_refused", path=request.path, status=exc.status, reason=exc.message)
        return web.Response(status=exc.status, text=exc.message + "\n")
    except Exception:
        request.app[AGENT].count("agent/unhandled_errors_total")
        log.exception("unhandled_http_error", method=request.method, path=request.path)
        return web.Response(status=500, text="Internal Server Error\n")


async def get_state(request: web.Request) -> web.Response:
    return json_response(request.app[AGENT].state_document())


async def get_health(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def get_version(request: web.Request) -> web.Response:
    return json_response(version_json())


async def get_metrics(request: web.Request) -> web.Response:
    return json_response(request.app[AGENT].metrics_snapshot())


async def files_read(request: web.Request) -> web.Response:
    q = request.query
    answer = files.read(request.app[AGENT].file_roots(), q.get("path"), q.get("offset"), q.get("length"))
    return json_response(answer)


async def files_browse(request: web.Request) -> web.Response:
    return json_response(files.browse(request.app[AGENT].file_roots(), request.query.get("path")))


async def files_debug(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    return json_response(files.debug(agent.file_roots(), agent.executor_directories()))


async def files_download(request: web.Request) -> web.StreamResponse:
    fd, size, name = files.open_download(request.app[AGENT].file_roots(), request.query.get("path"))
    try:
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": "attachment; filename=" + urllib.parse.quote(name),
            }
        )
        response.content_length = size
        await response.prepare(request)
        offset = 0
        while offset < size:
            chunk = os.pread(fd, min(DOWNLOAD_CHUNK, size - offset), offset)
            if not chunk:
                break  # the file shrank: the client sees a short body
            await response.write(chunk)
            offset += len(chunk)
        await response.write_eof()
        return response
    finally:
        os.close(fd)


async def executor_call(request: web.Request) -> web.StreamResponse:
    return await executor_api.handle(request, request.app[AGENT].executor_endpoint())


def make_app(agent: AgentView) -> web.Application:
    # Executor calls carry TaskInfos (a re-SUBSCRIBE all its unacknowledged ones, `data` included).
    app = web.Application(middlewares=[catch_all], client_max_size=MAX_BODY)
    app[AGENT] = agent
    for prefix in ("", "/slave(1)"):
        for suffix in ("", ".json"):
            app.router.add_get(f"{prefix}/state{suffix}", get_state)
    app.router.add_get("/health", get_health)
    app.router.add_get("/version", get_version)
    app.router.add_get("/metrics/snapshot", get_metrics)
    app.router.add_post("/api/v1/executor", executor_call)
    for suffix in ("", ".json"):
        app.router.add_get(f"/files/read{suffix}", files_read)
        app.router.add_get(f"/files/browse{suffix}", files_browse)
        app.router.add_get(f"/files/download{suffix}", files_download)
        app.router.add_get(f"/files/debug{suffix}", files_debug)
    return app
