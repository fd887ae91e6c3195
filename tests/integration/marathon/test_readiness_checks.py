"""Readiness checks against a real HTTP server: one agent on 127.0.0.1 whose only ports are the
server's, so every task's readiness port is a port the server listens on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from marathon_helpers import Client, marathon_config
from whitelists import check_app, check_deployment

from pydcos.core.waiting import wait_until
from pydcos.marathon.service import Marathon
from pydcos.mesos.master.service import Master
from pydcos.testing.simulated_agent import SimulatedAgent

Json = dict[str, Any]
READY_AFTER = 3


class ReadyServer:
    """Answers `GET /ready` 503 ("warming") until a port has been asked `ready_after` times (or,
    with `held`, until released), then 200 ("ready")."""

    def __init__(self, ports: int = 2, ready_after: int = READY_AFTER) -> None:
        self.ready_after = ready_after
        self.held = False
        self.hits: dict[int, int] = {}
        self.ports: list[int] = []
        self._count = ports
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        port = int(sock[1]) if sock else 0
        self.hits[port] = self.hits.get(port, 0) + 1
        if self.held or self.hits[port] < self.ready_after:
            return web.Response(status=503, text="warming")
        return web.Response(status=200, text="ready")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ready", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        for _ in range(self._count):
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
        self.ports = [addr[1] for addr in self._runner.addresses]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[ReadyServer]:
    s = ReadyServer()
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def ready_client(master: Master, server: ReadyServer, tmp_path: Path) -> AsyncIterator[tuple[Client, Marathon]]:
    ports = ",".join(f"{p}-{p}" for p in server.ports)
    agent = SimulatedAgent(master.url, "127.0.0.1", f"cpus:4;mem:4096;disk:1000;ports:[{ports}]")
    await agent.start()
    try:
        config = replace(marathon_config(master), work_dir=str(tmp_path / "marathon"))
        async with Marathon(config) as m, aiohttp.ClientSession() as session:
            await wait_until(lambda: m.core.connected, what="marathon subscribed")
            yield Client(m.url, session), m
            assert m.unhandled_errors == 0
    finally:
        await agent.close()


def app_with_check(app_id: str, **extra: Any) -> Json:
    return {"id": app_id, "cmd": "serve", "cpus": 0.1, "mem": 8, "instances": 1,
            "portDefinitions": [{"port": 0, "name": "http"}],
            "readinessChecks": [{"name": "warm", "path": "/ready", "portName": "http", "intervalSeconds": 0.2,
                                 "timeoutSeconds": 0.1, "preserveLastResponse": True}], **extra}


async def current_results(client: Client, app_id: str) -> list[Json]:
    for deployment in await client.get("/v2/deployments"):
        for action in deployment["currentActions"]:
            if action["app"] == app_id:
                results: list[Json] = action["readinessCheckResults"]
                return results
    return []


async def test_the_deployment_waits_until_the_task_answers_ready(
        ready_client: tuple[Client, Marathon], server: ReadyServer) -> None:
    client, _ = ready_client
    status, created = await client.call("POST", "/v2/apps", app_with_check("/warm"))
    assert status == 201, created

    async def not_ready_yet() -> list[Json] | None:
        results = await current_results(client, "/warm")
        return results if results and results[0]["ready"] is False else None

    [result] = await wait_until(not_ready_yet, what="a not-ready readiness result")
    task = (await client.app("/warm"))["tasks"][0]
    assert result == {"name": "warm", "taskId": task["id"], "ready": False,
                      "lastResponse": {"status": 503, "contentType": "text/plain", "body": "warming"}}
    for deployment in await client.get("/v2/deployments"):
        check_deployment(deployment)
    [listed] = (await client.get("/v2/apps?embed=apps.readiness"))["apps"]
    check_app(listed)
    assert listed["readinessCheckResults"] and listed["readinessCheckResults"][0]["taskId"] == task["id"]

    await client.wait_no_deployments()
    port = task["ports"][0]
    assert server.hits[port] == READY_AFTER  # probed until ready, and not once more
    app = (await client.get("/v2/apps/warm?embed=app.readiness"))["app"]
    assert app["readinessCheckResults"] == []  # shown only while a deployment acts on the app


async def test_a_rolling_restart_keeps_the_old_task_until_the_new_one_is_ready(
        ready_client: tuple[Client, Marathon], server: ReadyServer) -> None:
    client, marathon = ready_client
    await client.call("POST", "/v2/apps", app_with_check("/roll"))
    await client.wait_no_deployments()
    [old] = (await client.app("/roll"))["tasks"]
    server.held = True
    status, body = await client.call("POST", "/v2/apps/roll/restart")
    assert status == 200, body

    async def new_task_probed_twice() -> Json | None:
        results = await current_results(client, "/roll")
        new = [r for r in results if r["taskId"] != old["id"]]
        port = next((t["ports"][0] for t in (await client.app("/roll"))["tasks"] if t["id"] != old["id"]), None)
        return new[0] if new and port is not None and server.hits.get(port, 0) >= 2 else None

    result = await wait_until(new_task_probed_twice, what="the new task probed twice, not ready")
    assert result["ready"] is False
    tasks = {t["id"]: t for t in (await client.app("/roll"))["tasks"]}
    assert old["id"] in tasks and tasks[old["id"]]["state"] == "TASK_RUNNING"
    assert not marathon.core.instances.get(old["id"]).killing  # type: ignore[union-attr]
    assert [r["taskId"] for r in await current_results(client, "/roll")] == [result["taskId"]]

    server.held = False
    await client.wait_no_deployments()
    assert [t["id"] for t in (await client.app("/roll"))["tasks"]] == [result["taskId"]]


async def test_a_readiness_port_that_refuses_reads_as_504(ready_client: tuple[Client, Marathon],
                                                        server: ReadyServer) -> None:
    client, _ = ready_client
    await server.close()  # nothing listens any more: every probe is refused
    await client.call("POST", "/v2/apps", app_with_check("/refused"))

    async def refused() -> Json | None:
        results = await current_results(client, "/refused")
        return results[0] if results else None

    result = await wait_until(refused, what="a refused probe's result")
    assert result["ready"] is False and result["lastResponse"]["status"] == 504
    assert result["lastResponse"]["body"].startswith("Marathon could not query http://127.0.0.1:")
    status, body = await client.call("DELETE", "/v2/apps/refused?force=true")
    assert status == 200, body
