"""The Mesos link: waiting for a master that starts late, following a 307 to the leader, and the
pipelined call connection."""

from __future__ import annotations

import socket

from aiohttp import web
from marathon_helpers import marathon_config

from pydcos.core.waiting import wait_until
from pydcos.marathon.mesos_link import redirect_target
from pydcos.marathon.service import Marathon
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master
from pydcos.mesos.v1.call_pipeline import CallPipeline


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redirect_targets() -> None:
    assert redirect_target("//10.0.0.2:5050/api/v1/scheduler", "http://a:5050") == "http://10.0.0.2:5050"
    assert redirect_target("http://10.0.0.2:5050/api/v1/scheduler", "http://a:5050") == "http://10.0.0.2:5050"
    assert redirect_target("10.0.0.2:5050", "https://a:5050") == "https://10.0.0.2:5050"


async def test_marathon_waits_for_a_master_that_starts_late() -> None:
    port = free_port()
    master_config = MasterConfig(ip="127.0.0.1", port=port, allocation_interval=0.1)
    config = marathon_config(Master(master_config))
    async with Marathon(config) as m:
        assert not m.core.connected  # nothing listens yet: the link retries with backoff
        async with Master(master_config) as master:
            await wait_until(lambda: m.core.connected, timeout=15, what="subscribed once the master is up")
            assert m.core.framework_id in master.state.frameworks


async def test_subscription_follows_a_redirect_to_the_leader(master: Master) -> None:
    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": f"//127.0.0.1:{master.bound_port}/api/v1/scheduler"})

    app = web.Application()
    app.router.add_post("/api/v1/scheduler", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    follower = f"127.0.0.1:{runner.addresses[0][1]}"
    try:
        from dataclasses import replace

        async with Marathon(replace(marathon_config(master), master=follower)) as m:
            await wait_until(lambda: m.core.connected, what="subscribed through the redirect")
            assert m.link is not None and m.link.url == master.url
    finally:
        await runner.cleanup()


async def test_pipeline_keeps_order_and_counts_rejections() -> None:
    seen: list[bytes] = []

    async def call(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(body)
        return web.Response(status=400 if body == b"bad" else 202)

    app = web.Application()
    app.router.add_post("/api/v1/scheduler", call)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    pipeline = CallPipeline(f"http://127.0.0.1:{runner.addresses[0][1]}", 5.0)
    try:
        await pipeline.open()
        bodies = [str(i).encode() for i in range(300)] + [b"bad"]
        for body in bodies:
            await pipeline.send("KILL", body, "stream")
        await wait_until(lambda: len(seen) == len(bodies) and pipeline.failed == 1, what="all answered")
        assert seen == bodies
    finally:
        await pipeline.close()
        await runner.cleanup()
