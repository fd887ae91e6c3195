"""Shared by the Admin Router integration tests (conftest.py re-exports the fixture).

An Admin Router in this process (identity service, watcher) with a real nginx child, in front of
stand-in upstreams on their own loopback addresses (ar_fakes.py):

    router  B.1.1:18080 (nginx), B.1.1:8101 (identity)     master   B.1.2:5050
    marathon B.1.3:8080     dns HTTP B.1.4:8123     dns (leader.mesos) B.1.5:53
    agent   B.2.1:5051      a service task B.2.1:31000
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ar_fakes import (
    AGENT_PORT,
    DNS_HTTP_PORT,
    MARATHON_PORT,
    MASTER_PORT,
    SERVICE_PORT,
    LeaderDns,
    Upstream,
    free_block,
    leader_dns,
)
from yarl import URL

from pydcos.adminrouter.config import RouterConfig
from pydcos.adminrouter.identity.passwords import PasswordHasher
from pydcos.adminrouter.service import AdminRouter

ADMIN, ADMIN_PASSWORD = "admin", "s3cret-Admin-pw"
AGENT_ID = "0c6f6a1e-7a8b-4c52-9e2f-1b2c3d4e5f60-S0"

NGINX_MISSING = shutil.which("nginx") is None


@dataclass
class RouterEnv:
    router: AdminRouter
    master: Upstream
    marathon: Upstream
    dns_http: Upstream
    agent: Upstream
    service: Upstream
    dns: LeaderDns
    http: aiohttp.ClientSession
    block: str

    @property
    def url(self) -> str:
        return self.router.url

    async def login(self, uid: str = ADMIN, password: str = ADMIN_PASSWORD) -> str:
        async with self.http.post(f"{self.url}/acs/api/v1/auth/login", json={"uid": uid, "password": password}) as r:
            assert r.status == 200, await r.text()
            token: str = (await r.json())["token"]
            return token

    async def get(self, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"token={token}"
        # encoded=True: the path and query go out exactly as written (%2F stays %2F).
        async with self.http.get(URL(f"{self.url}{path}", encoded=True), headers=headers, **kwargs) as r:
            body = await r.read()
            try:
                parsed: Any = await r.json(content_type=None)
            except ValueError:
                parsed = body
            return r.status, parsed, r


def router_config(block: str, work_dir: Path, **overrides: Any) -> RouterConfig:
    settings: dict[str, Any] = dict(
        ip=f"{block}.1.1", port=18080, identity_port=8101,
        masters=(f"{block}.1.2:{MASTER_PORT}",), marathon=(f"{block}.1.3:{MARATHON_PORT}",),
        dns=f"{block}.1.5:53", dns_http=(f"{block}.1.4:{DNS_HTTP_PORT}",),
        work_dir=work_dir, log_file=work_dir / "logs" / "adminrouter.log",
        nginx_user="root", poll_interval_s=0.2, login_burst=5, login_refill_s=60.0,
    )  # fmt: skip
    settings.update(overrides)
    return RouterConfig(**settings)


@pytest.fixture
async def env(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[RouterEnv]:
    if NGINX_MISSING:
        pytest.fail("nginx is not installed: ./pydcos.sh install adds it")
    block = free_block()
    overrides: dict[str, Any] = getattr(request, "param", {})
    master = Upstream("master", f"{block}.1.2", MASTER_PORT)
    master.state["slaves"] = [{"id": AGENT_ID, "pid": f"slave(1)@{block}.2.1:{AGENT_PORT}"}]
    master.state["frameworks"] = [{"name": "marathon", "webui_url": f"http://{block}.1.3:8080", "active": True}]
    upstreams = [
        master,
        Upstream("marathon", f"{block}.1.3", MARATHON_PORT),
        Upstream("dns", f"{block}.1.4", DNS_HTTP_PORT),
        Upstream("agent", f"{block}.2.1", AGENT_PORT),
        Upstream("service", f"{block}.2.1", SERVICE_PORT),
    ]
    for upstream in upstreams:
        await upstream.start()
    config = router_config(block, tmp_path / "adminrouter", **overrides)
    try:
        async with leader_dns(f"{block}.1.5", 53, master.ip) as dns, \
                AdminRouter(config, hasher=PasswordHasher(fast_for_tests=True)) as router, \
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:  # fmt: skip
            e = RouterEnv(router, *upstreams, dns=dns, http=http, block=block)
            async with http.put(f"{e.url}/acs/api/v1/users/{ADMIN}",
                                json={"password": ADMIN_PASSWORD, "description": "first"}) as r:  # fmt: skip
                assert r.status == 201, await r.text()
            yield e
            assert router.identity is not None
            assert router.identity.counters.get("unhandled_errors", 0) == 0
            assert router.render_errors == 0, router.last_render_error
    finally:
        for upstream in upstreams:
            await upstream.close()


async def raw_http(ip: str, port: int, request: bytes, *, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send bytes as they are (no client-side normalising of paths) and read the status line."""
    reader, writer = await asyncio.open_connection(ip, port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(timeout):
            data = await reader.read()  # requests carry `Connection: close`
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data
