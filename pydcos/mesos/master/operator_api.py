"""Operator endpoints as Mesos serves them: state JSON, health, version, metrics, teardown,
the master log through the files API, and the v1 operator API (`POST /api/v1`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from typing import Any
from urllib.parse import parse_qs

import msgspec
from aiohttp import web

from pydcos import MESOS_VERSION
from pydcos.core.http_chunks import write_chunks
from pydcos.core.log import get_logger
from pydcos.mesos.master import operator_json, state_json
from pydcos.mesos.master.service import MASTER, Master
from pydcos.mesos.v1.recordio import frame

log = get_logger("pydcos.master.operator_api")

_ENCODER = msgspec.json.Encoder()
MAX_READ = 16 * 4096
MAX_BURST = 1000  # operator events written together at most


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_ENCODER.encode(data), status=status, content_type="application/json")


def _jsonp(request: web.Request, data: Any) -> web.Response:
    callback = request.query.get("jsonp")
    if callback and callback.replace("_", "").replace(".", "").isalnum():
        body = callback.encode() + b"(" + _ENCODER.encode(data) + b");"
        return web.Response(body=body, content_type="text/javascript")
    return json_response(data)


async def state(request: web.Request) -> web.Response:
    master: Master = request.app[MASTER]
    return _jsonp(request, state_json.master_state(master.state, master.flags))


async def state_summary(request: web.Request) -> web.Response:
    return _jsonp(request, state_json.state_summary(request.app[MASTER].state))


async def slaves(request: web.Request) -> web.Response:
    st = request.app[MASTER].state
    return json_response({"slaves": [state_json.agent_json(st, a) for a in st.agents.values()],
                          "recovered_slaves": [msgspec.to_builtins(a.info) for a in st.agents.values()
                                               if a.recovered]})


async def frameworks(request: web.Request) -> web.Response:
    st = request.app[MASTER].state
    return json_response({
        "frameworks": [state_json.framework_json(st, f) for f in st.frameworks.values()],
        "completed_frameworks": [state_json.framework_json(st, f) for f in st.completed_frameworks],
        "unregistered_frameworks": [],
    })


def _int_arg(request: web.Request, name: str, default: int) -> int:
    try:
        return max(0, int(request.query.get(name, default)))
    except ValueError:
        raise web.HTTPBadRequest(text=f"Failed to parse '{name}'") from None


async def tasks(request: web.Request) -> web.Response:
    limit = _int_arg(request, "limit", 100)
    offset = _int_arg(request, "offset", 0)
    order = request.query.get("order", "des")
    if order not in ("asc", "des"):
        raise web.HTTPBadRequest(text="'order' must be 'asc' or 'des'")
    return json_response(state_json.tasks_json(request.app[MASTER].state, limit, offset, order))


async def version(request: web.Request) -> web.Response:
    return json_response({"version": MESOS_VERSION, "build_user": "pydcos", "build_date": "", "build_time": 0})


async def health(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def redirect(request: web.Request) -> web.Response:
    master: Master = request.app[MASTER]
    raise web.HTTPTemporaryRedirect(location=f"//{master.config.ip}:{master.bound_port}")


async def teardown(request: web.Request) -> web.Response:
    # The dcos CLI posts `frameworkId=ID` without a Content-Type: parse it as a form regardless.
    body = (await request.read()).decode("utf-8", "replace")
    values = parse_qs(body).get("frameworkId") or [request.query.get("frameworkId", "")]
    framework_id = values[0].strip()
    if not framework_id:
        raise web.HTTPBadRequest(text="Missing 'frameworkId' query parameter in the request body")
    master: Master = request.app[MASTER]
    if framework_id not in master.state.frameworks:
        raise web.HTTPBadRequest(text=f"No framework found with specified ID {framework_id}")
    master.execute(master.state.teardown(framework_id, "Framework removed by the operator"))
    log.event("framework_torn_down_by_operator", framework_id=framework_id)
    return web.Response(status=200)


async def metrics_snapshot(request: web.Request) -> web.Response:
    master: Master = request.app[MASTER]
    st = master.state
    totals = {"cpus": 0.0, "mem": 0.0, "disk": 0.0}
    used = {"cpus": 0.0, "mem": 0.0, "disk": 0.0}
    for agent in st.agents.values():
        row = state_json.agent_json(st, agent)
        for key in totals:
            totals[key] += float(row["resources"].get(key, 0.0))
            used[key] += float(row["used_resources"].get(key, 0.0))
    running = sum(1 for f in st.frameworks.values() for t in f.tasks.values() if t.state == "TASK_RUNNING")
    staging = sum(1 for f in st.frameworks.values() for t in f.tasks.values() if t.state == "TASK_STAGING")
    out: dict[str, float] = {
        "master/elected": 1.0,
        "master/uptime_secs": master.clock.wall() - st.start_time,
        "master/slaves_active": float(sum(1 for a in st.agents.values() if a.connected)),
        "master/slaves_inactive": float(sum(1 for a in st.agents.values() if not a.connected)),
        "master/slaves_unreachable": float(len(st.unreachable_agents)),
        "master/frameworks_active": float(sum(1 for f in st.frameworks.values() if f.active)),
        "master/frameworks_inactive": float(sum(1 for f in st.frameworks.values() if not f.active)),
        "master/frameworks_connected": float(sum(1 for f in st.frameworks.values() if f.connected)),
        "master/outstanding_offers": float(len(st.offers)),
        "master/tasks_running": float(running),
        "master/tasks_staging": float(staging),
        "master/unhandled_errors_total": float(master.unhandled_errors),
        "master/slaves_recovered": float(sum(1 for a in st.agents.values() if a.recovered)),
        "registrar/transactions": float(master.registrar.transactions),
        "registrar/writes": float(master.registrar.writes),
        "registrar/held_actions": float(master.held_actions),
    }
    for key in totals:
        out[f"master/{key}_total"] = totals[key]
        out[f"master/{key}_used"] = used[key]
        out[f"master/{key}_percent"] = used[key] / totals[key] if totals[key] else 0.0
    for name, value in st.counters.items():
        out[name] = float(value)
    for generation, stats in enumerate(gc.get_stats()):
        out[f"system/gc_collections_gen{generation}"] = float(stats["collections"])
    return json_response(out)


async def files_read(request: web.Request) -> web.Response:
    """`/files/read.json?path=/master/log`: the master's own log, with Mesos's offset semantics."""
    master: Master = request.app[MASTER]
    if request.query.get("path") != "/master/log":
        raise web.HTTPNotFound(text="No such file or directory")
    offset = _signed_arg(request, "offset", -1)
    length = _signed_arg(request, "length", -1)
    path = master.config.log_file
    size = await asyncio.to_thread(_size, path) if path else None
    if path is None or size is None:
        raise web.HTTPNotFound(text="The master log is not available (no --log-file)")
    if offset == -1:
        return json_response({"data": "", "offset": size})
    if offset < 0 or length < -1:
        raise web.HTTPBadRequest(text="Negative offset or length provided")
    count = MAX_READ if length == -1 else min(length, MAX_READ)
    data = await asyncio.to_thread(_read_at, path, offset, count)
    return json_response({"data": data.decode("utf-8", "replace"), "offset": offset})


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _read_at(path: str, offset: int, count: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(count)


def _signed_arg(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        raise web.HTTPBadRequest(text=f"Failed to parse '{name}'") from None


# --- v1 operator API ------------------------------------------------------------------------


_SIMPLE_CALLS = {
    "GET_STATE": ("get_state", operator_json.get_state),
    "GET_AGENTS": ("get_agents", operator_json.get_agents),
    "GET_FRAMEWORKS": ("get_frameworks", operator_json.get_frameworks),
    "GET_TASKS": ("get_tasks", operator_json.get_tasks),
    "GET_EXECUTORS": ("get_executors", operator_json.get_executors),
}


async def operator_v1(request: web.Request) -> web.StreamResponse:
    master: Master = request.app[MASTER]
    try:
        call = msgspec.json.decode(await request.read())
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=f"Failed to parse body into JSON: {exc}") from None
    kind = call.get("type") if isinstance(call, dict) else None
    if not isinstance(kind, str):
        raise web.HTTPBadRequest(text="Failed to validate master::Call: Expecting 'type' to be present")
    if kind == "GET_HEALTH":
        return json_response({"type": kind, "get_health": {"healthy": True}})
    if kind == "GET_VERSION":
        return json_response({"type": kind, "get_version": {"version_info": {"version": MESOS_VERSION}}})
    if kind == "GET_FLAGS":
        flags = [{"name": k, "value": v} for k, v in master.flags.items()]
        return json_response({"type": kind, "get_flags": {"flags": flags}})
    if kind == "GET_MASTER":
        return json_response({"type": kind, "get_master": {
            "master_info": msgspec.to_builtins(master.state.master_info)}})
    if kind in _SIMPLE_CALLS:
        key, render = _SIMPLE_CALLS[kind]
        return json_response({"type": kind, key: render(master.state)})
    if kind == "SUBSCRIBE":
        return await _operator_subscribe(request, master)
    raise web.HTTPBadRequest(text=f"Unsupported master::Call type '{kind}'")


async def _operator_subscribe(request: web.Request, master: Master) -> web.StreamResponse:
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.enable_chunked_encoding()
    await response.prepare(request)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    master.add_watcher(queue)
    try:
        subscribed = {"type": "SUBSCRIBED", "subscribed": {
            "get_state": operator_json.get_state(master.state),
            "heartbeat_interval_seconds": master.config.heartbeat_interval,
        }}
        await response.write(frame(_ENCODER.encode(subscribed)))
        heartbeat = frame(b'{"type":"HEARTBEAT"}')
        await response.write(heartbeat)
        while True:
            record = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(master.config.heartbeat_interval):
                    record = await queue.get()
            if record is None:
                await response.write(heartbeat)
                continue
            burst = [record]
            while not queue.empty() and len(burst) < MAX_BURST:
                burst.append(queue.get_nowait())
            await write_chunks(response, burst)  # one record per chunk, one write per burst
    except (ConnectionError, RuntimeError):
        pass
    finally:
        master.remove_watcher(queue)
    return response
