"""HTTP callback subscriptions against real HTTP receivers on 127.0.0.1: events arrive in order, a
slow, a dead and a refusing subscriber hold up neither the API nor the others, subscriptions
survive a restart, bad callback URLs are refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from marathon_helpers import Client, marathon_config

from pydcos.core.waiting import wait_until
from pydcos.marathon.callbacks import CallbackConfig
from pydcos.marathon.service import Marathon
from pydcos.mesos.master.service import Master
from pydcos.testing.simulated_agent import SimulatedAgent

Json = dict[str, Any]
APP = {"cmd": "x", "cpus": 0.1, "mem": 8}


class Receiver:
    """An HTTP server recording the events POSTed to it, in arrival order. `hold` makes every
    request wait until released (a slow subscriber); `status` is what it answers."""

    def __init__(self, status: int = 200, hold: bool = False) -> None:
        self.events: list[Json] = []
        self.content_types: list[str] = []
        self.status = status
        self.held = 0  # requests waiting
        self._release = asyncio.Event()
        if not hold:
            self._release.set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def release(self) -> None:
        self._release.set()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.held += 1
        try:
            await self._release.wait()
        finally:
            self.held -= 1
        self.content_types.append(request.content_type)
        self.events.append(json.loads(body))
        return web.Response(status=self.status)

    def types(self) -> list[str]:
        return [e["eventType"] for e in self.events]

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/events", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/events"
        return self

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receivers() -> AsyncIterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        await r.close()


async def receiver(made: list[Receiver], **kwargs: Any) -> Receiver:
    r = await Receiver(**kwargs).start()
    made.append(r)
    return r


def dead_url() -> str:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/events"


def callbacks_marathon(master: Master, work_dir: Path, **callbacks: Any) -> Marathon:
    config = replace(marathon_config(master), work_dir=str(work_dir), callbacks=CallbackConfig(**callbacks))
    return Marathon(config)


async def subscribe(client: Client, url: str, method: str = "POST") -> Json:
    status, body = await client.call(method, f"/v2/eventSubscriptions?callbackUrl={url}")
    assert status == 200, body
    return body  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def event_stream(url: str) -> AsyncIterator[list[Json]]:
    """The /v2/events stream read into a list in the background, for comparing orders."""
    seen: list[Json] = []
    opened = asyncio.Event()

    async def read() -> None:
        async with aiohttp.ClientSession() as session, session.get(url + "/v2/events") as response:
            opened.set()
            async for line in response.content:
                if line.startswith(b"data: "):
                    seen.append(json.loads(line[6:]))

    task = asyncio.ensure_future(read())
    try:
        await asyncio.wait_for(opened.wait(), 10)
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def upto(events: list[Json], event_type: str) -> list[Json]:
    end = next(i for i, e in enumerate(events) if e["eventType"] == event_type)
    return events[: end + 1]


def counters(metrics: Json) -> dict[str, int]:
    return {k.removeprefix("pydcos.marathon."): v["count"] for k, v in metrics["counters"].items()}


async def test_events_are_posted_in_the_order_of_the_stream(client: Client, marathon: Marathon,
                                                            receivers: list[Receiver]) -> None:
    r = await receiver(receivers)
    async with event_stream(marathon.url) as stream:
        await wait_until(lambda: marathon.bus.subscribers, what="stream attached")
        answer = await subscribe(client, r.url)
        assert set(answer) == {"callbackUrl", "clientIp", "eventType", "timestamp"}
        assert answer["eventType"] == "subscribe_event" and answer["callbackUrl"] == r.url
        assert answer["timestamp"].endswith("Z")
        assert await client.get("/v2/eventSubscriptions") == {"callbackUrls": [r.url]}
        assert (await client.get("/v2/info"))["event_subscriber"] == {"type": "http_callback",
                                                                       "http_endpoints": [r.url]}
        await client.call("POST", "/v2/apps", {"id": "/cb/web", "instances": 2, **APP})
        await wait_until(lambda: "deployment_success" in r.types(), what="deployment_success posted")
        await wait_until(lambda: any(e["eventType"] == "deployment_success" for e in stream), what="on the stream")
    assert r.events[0] == answer  # a new subscriber hears its own subscription first
    assert set(r.content_types) == {"application/json"}
    from_subscription = stream[next(i for i, e in enumerate(stream) if e["eventType"] == "subscribe_event"):]
    assert upto(r.events, "deployment_success") == upto(from_subscription, "deployment_success")
    for wanted in ("api_post_event", "group_change_success", "deployment_info", "status_update_event",
                   "deployment_step_success", "deployment_success"):
        assert wanted in r.types(), wanted
    info = next(e for e in r.events if e["eventType"] == "deployment_info")
    assert set(info["plan"]) == {"id", "version", "original", "target", "steps"}
    delivered = counters(await client.get("/metrics"))["event_callbacks_delivered"]
    assert delivered >= len(upto(r.events, "deployment_success"))


async def test_bad_callback_urls_are_refused_and_change_nothing(client: Client, receivers: list[Receiver]) -> None:
    good = await receiver(receivers)
    await subscribe(client, good.url)
    for query in ("", "?callbackUrl=", "?callbackUrl=ftp://127.0.0.1/x", "?callbackUrl=http://",
                  "?callbackUrl=http://127.0.0.1:99999/", "?callbackUrl=not-a-url", "?callbackUrl=%20http://a/"):
        for method in ("POST", "DELETE"):
            status, body = await client.call(method, "/v2/eventSubscriptions" + query)
            assert status == 422, (method, query, body)
            assert body["details"][0]["path"] == "/callbackUrl" and body["message"]
    assert await client.get("/v2/eventSubscriptions") == {"callbackUrls": [good.url]}
    assert good.types() == ["subscribe_event"] or await wait_until(lambda: good.types() == ["subscribe_event"])


async def test_unsubscribing_stops_delivery_at_once(client: Client, receivers: list[Receiver]) -> None:
    stays, leaves = await receiver(receivers), await receiver(receivers)
    await subscribe(client, stays.url)
    await subscribe(client, leaves.url)
    answer = await subscribe(client, leaves.url, method="DELETE")
    assert answer["eventType"] == "unsubscribe_event" and answer["callbackUrl"] == leaves.url
    assert await client.get("/v2/eventSubscriptions") == {"callbackUrls": [stays.url]}
    again = await subscribe(client, leaves.url, method="DELETE")  # not subscribed: answered all the same
    assert again["eventType"] == "unsubscribe_event"
    await client.call("POST", "/v2/apps", {"id": "/cb/after", **APP})
    await wait_until(lambda: "api_post_event" in stays.types(), what="the remaining subscriber served")
    assert "unsubscribe_event" in stays.types()
    assert "api_post_event" not in leaves.types() and "unsubscribe_event" not in leaves.types()


async def test_slow_dead_and_refusing_subscribers_hold_up_nobody(
        master: Master, agents: list[SimulatedAgent], tmp_path: Path, receivers: list[Receiver]) -> None:
    # A queue short enough for the slow subscriber to overflow (each app below makes a dozen
    # events or more), long enough for a burst; a timeout far longer than the test, so its first
    # request is stuck in flight for as long as we hold it.
    async with callbacks_marathon(master, tmp_path / "m", queue_size=30, timeout=60.0, retries=2,
                                  backoff=0.01, backoff_max=0.05) as m, aiohttp.ClientSession() as session:
        await wait_until(lambda: m.core.connected, what="marathon subscribed")
        client = Client(m.url, session)
        good, slow = await receiver(receivers), await receiver(receivers, hold=True)
        refusing = await receiver(receivers, status=400)
        dead = dead_url()
        for url in (slow.url, dead, refusing.url, good.url):
            await subscribe(client, url)
        await wait_until(lambda: slow.held == 1, what="the slow subscriber's first request in flight")

        # While it is stuck, the API works, deployments finish and the others are served in order.
        for n in range(6):
            status, _ = await client.call("POST", "/v2/apps", {"id": f"/cb/app{n}", "instances": 2, **APP})
            assert status == 201
            await client.wait_no_deployments()
        await wait_until(lambda: good.types().count("deployment_success") == 6, what="6 deployments posted")
        assert slow.events == [] and slow.held == 1
        got = counters(await client.get("/metrics"))
        assert got["event_callbacks_dropped"] > 0  # the slow one's queue of 30 overflowed
        assert got["event_callbacks_failed"] > 0 and got["event_callbacks_retried"] > 0  # dead: retried, given up
        assert refusing.events and m.callbacks.queued(refusing.url) <= 30
        assert (await client.get("/metrics"))["gauges"]["service.mesosphere.marathon.event_callbacks.subscribers"] \
            == {"value": 4}

        # Released, the slow one gets its first event, then what its queue kept: in order.
        slow.release()
        await wait_until(lambda: len(slow.events) >= 31, what="the slow subscriber catching up")
        assert slow.events[0]["eventType"] == "subscribe_event" and slow.events[0]["callbackUrl"] == slow.url
        positions = [good.events.index(e) for e in slow.events[1:] if e in good.events]
        assert positions == sorted(positions) and len(positions) >= 30

        # Unsubscribing the dead one stops its retries.
        await subscribe(client, dead, method="DELETE")
        assert dead not in m.callbacks.urls and m.callbacks.queued(dead) == 0
        assert m.unhandled_errors == 0


async def test_subscriptions_survive_a_restart(master: Master, agents: list[SimulatedAgent], tmp_path: Path,
                                               receivers: list[Receiver]) -> None:
    r = await receiver(receivers)
    other = await receiver(receivers)
    async with aiohttp.ClientSession() as session:
        async with callbacks_marathon(master, tmp_path / "m") as first:
            await wait_until(lambda: first.core.connected, what="marathon subscribed")
            client = Client(first.url, session)
            await subscribe(client, r.url)
            await subscribe(client, other.url)
            await subscribe(client, other.url, method="DELETE")
        async with callbacks_marathon(master, tmp_path / "m") as second:
            await wait_until(lambda: second.core.connected, what="marathon subscribed again")
            client = Client(second.url, session)
            assert await client.get("/v2/eventSubscriptions") == {"callbackUrls": [r.url]}
            await client.call("POST", "/v2/apps", {"id": "/cb/restarted", **APP})
            await wait_until(lambda: "deployment_success" in r.types(), what="events from the restarted marathon")
            assert "api_post_event" not in other.types()
