"""Helpers for Marathon integration tests: a small REST client that waits on conditions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp

from pydcos.core.waiting import wait_until
from pydcos.marathon.config import MarathonConfig
from pydcos.marathon.core import CoreConfig
from pydcos.mesos.master.service import Master

Json = dict[str, Any]


class Client:
    """A small Marathon client: (status, json) per call."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session

    async def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        kwargs: Json = {}
        if raw is not None:
            kwargs["data"] = raw
            kwargs["headers"] = {"Content-Type": "application/json"}
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.base + path, **kwargs) as r:
            text = await r.read()
            try:
                data = await r.json(content_type=None) if text else None
            except ValueError:
                data = text.decode()
            return r.status, data

    async def get(self, path: str) -> Any:
        status, data = await self.call("GET", path)
        assert status == 200, (status, data)
        return data

    async def app(self, app_id: str) -> Json:
        data: Json = (await self.get(f"/v2/apps{app_id}"))["app"]
        return data

    async def wait_running(self, app_id: str, n: int, timeout: float = 15.0) -> Json:
        async def check() -> Json | None:
            app = await self.app(app_id)
            return app if app["tasksRunning"] == n and len(app["tasks"]) == n else None

        return await wait_until(check, timeout=timeout, what=f"{app_id} running {n}")

    async def wait_no_deployments(self, timeout: float = 15.0) -> None:
        async def check() -> bool:
            return await self.get("/v2/deployments") == []

        await wait_until(check, timeout=timeout, what="no deployments")


def marathon_config(master: Master, **core: Any) -> MarathonConfig:
    return MarathonConfig(
        ip="127.0.0.1", port=0, master=master.url, mesos_user="nobody", tick_interval=0.1, health_interval=0.05,
        core=replace(CoreConfig(decline_refuse_seconds=0.2, kill_retry_seconds=1.0), **core),
    )
