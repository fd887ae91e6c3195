"""HTTP and TCP health checks against real listeners, and the event stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from marathon_helpers import Client

from pydcos.core.waiting import wait_until
from pydcos.marathon.service import Marathon


class Target:
    """An HTTP server on both agents' addresses and one port: what a health check probes."""

    def __init__(self) -> None:
        self.healthy = True
        self.hits = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(status=200 if self.healthy else 503)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        first = web.TCPSite(self._runner, "127.0.3.1", 0)
        await first.start()
        self.port = self._runner.addresses[0][1]
        await web.TCPSite(self._runner, "127.0.3.2", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    t = Target()
    await t.start()
    yield t
    await t.close()


async def test_healthy_tasks_finish_the_deployment_and_unhealthy_ones_are_replaced(
        client: Client, target: Target) -> None:
    app = {"id": "/checked", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 2,
           "healthChecks": [{"protocol": "HTTP", "path": "/health", "port": target.port, "gracePeriodSeconds": 0,
                             "intervalSeconds": 0.1, "timeoutSeconds": 0.05, "maxConsecutiveFailures": 2}]}
    status, body = await client.call("POST", "/v2/apps", app)
    assert status == 201, body

    async def all_healthy() -> bool:
        a = await client.app("/checked")
        return a["tasksHealthy"] == 2

    await wait_until(all_healthy, what="2 healthy")
    await client.wait_no_deployments()
    before = {t["id"] for t in (await client.app("/checked"))["tasks"]}
    result = (await client.app("/checked"))["tasks"][0]["healthCheckResults"][0]
    assert result["alive"] is True and result["firstSuccess"].endswith("Z")

    target.healthy = False

    async def replaced() -> bool:
        a = await client.app("/checked")
        return not ({t["id"] for t in a["tasks"]} & before)

    await wait_until(replaced, what="unhealthy tasks replaced")
    target.healthy = True
    await wait_until(all_healthy, what="healthy again")


async def test_failing_tcp_check_marks_unhealthy_without_killing_when_told(client: Client) -> None:
    app = {"id": "/tcp", "cmd": "x", "cpus": 0.1, "mem": 8,
           "healthChecks": [{"protocol": "TCP", "gracePeriodSeconds": 0, "intervalSeconds": 0.1,
                             "timeoutSeconds": 0.05, "maxConsecutiveFailures": 0}]}
    await client.call("POST", "/v2/apps", app)
    first = await client.wait_running("/tcp", 1)

    async def unhealthy() -> dict[str, Any] | None:
        a = await client.app("/tcp")
        return a if a["tasksUnhealthy"] == 1 and a["tasks"][0]["healthCheckResults"][0]["consecutiveFailures"] >= 3 \
            else None

    a = await wait_until(unhealthy, what="unhealthy task")
    result = a["tasks"][0]["healthCheckResults"][0]
    assert result["alive"] is False and "TCP" in result["lastFailureCause"]
    assert a["tasks"][0]["id"] == first["tasks"][0]["id"]  # maxConsecutiveFailures 0: never killed


async def read_events(url: str, out: list[dict[str, Any]], ready: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Accept": "text/event-stream"}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            ready.set()
            async for line in response.content:
                if line.startswith(b"data: "):
                    out.append(json.loads(line[6:]))


async def test_event_stream_carries_the_lifecycle(client: Client, marathon: Marathon) -> None:
    seen: list[dict[str, Any]] = []
    ready = asyncio.Event()
    reader = asyncio.ensure_future(read_events(marathon.url + "/v2/events", seen, ready))
    filtered: list[dict[str, Any]] = []
    ready2 = asyncio.Event()
    only = asyncio.ensure_future(read_events(marathon.url + "/v2/events?event_type=deployment_success",
                                             filtered, ready2))
    try:
        await asyncio.wait_for(asyncio.gather(ready.wait(), ready2.wait()), 5)
        await wait_until(lambda: len(marathon.bus.subscribers) == 2, what="two subscribers")
        await client.call("POST", "/v2/apps", {"id": "/ev", "cmd": "x", "cpus": 0.1, "mem": 8})
        await wait_until(lambda: any(e["eventType"] == "deployment_success" for e in seen), what="success event")
        await wait_until(lambda: filtered, what="filtered event")
    finally:
        for task in (reader, only):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    types = [e["eventType"] for e in seen]
    for wanted in ("api_post_event", "deployment_info", "status_update_event", "deployment_step_success",
                   "deployment_success", "instance_changed_event"):
        assert wanted in types, (wanted, types)
    assert {e["eventType"] for e in filtered} == {"deployment_success"}
    assert all("timestamp" in e and e["timestamp"].endswith("Z") for e in seen)
    info = next(e for e in seen if e["eventType"] == "deployment_info")
    assert set(info["plan"]) == {"id", "version", "original", "target", "steps"}
    assert set(info["plan"]["target"]) == {"id", "apps", "groups", "dependencies", "version"}
    update = next(e for e in seen if e["eventType"] == "status_update_event")
    assert update["appId"] == "/ev" and update["taskStatus"] == "TASK_RUNNING"
