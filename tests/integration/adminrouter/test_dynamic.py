"""What changes while the router runs: streams pass through unbuffered, new agents and services
become routes (graceful reloads that drop no request), and `/mesos/` follows `leader.mesos`."""

from __future__ import annotations

import asyncio

import aiohttp
from ar_env import RouterEnv
from ar_fakes import AGENT_PORT, MASTER_PORT, SERVICE_PORT, Upstream

from pydcos.core.waiting import wait_until


async def test_scheduler_stream_is_not_buffered(env: RouterEnv) -> None:
    token = await env.login()
    headers = {"Authorization": f"token={token}", "Content-Type": "application/json"}
    async with env.http.post(f"{env.url}/mesos/api/v1/scheduler", data=b'{"type":"SUBSCRIBE"}',
                             headers=headers) as r:  # fmt: skip
        assert r.status == 200 and r.headers["Mesos-Stream-Id"] == "stream-7"
        assert r.headers["Transfer-Encoding"] == "chunked"
        # The first record arrives while the upstream still holds the stream open.
        async with asyncio.timeout(5):
            first = await r.content.readuntil(b"}")
        assert first == b'21\n{"type":"SUBSCRIBED"}'
        env.master.stream_release.set()
        rest = await r.content.read()
    assert rest == b'20\n{"type":"HEARTBEAT"}'


async def test_event_stream_is_not_buffered(env: RouterEnv) -> None:
    token = await env.login()
    async with env.http.get(f"{env.url}/service/marathon/v2/events?event_type=deployment_info",
                            headers={"Authorization": f"token={token}", "Accept": "text/event-stream"}) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        async with asyncio.timeout(5):
            line = await r.content.readline()
        assert line.startswith(b"event: event_stream_attached")
        env.marathon.stream_release.set()


async def test_new_agent_and_services_become_routes(env: RouterEnv) -> None:
    token = await env.login()
    reloads = env.router.nginx.reloads
    env.master.state["slaves"].append({"id": "new-agent-S1", "pid": f"slave(1)@{env.agent.ip}:{AGENT_PORT}"})
    env.master.state["frameworks"].append(
        {"name": "spark", "webui_url": f"http://{env.service.ip}:{SERVICE_PORT}/ui", "active": True})
    env.marathon.state["apps"] = [{
        "id": "/web", "labels": {"DCOS_SERVICE_NAME": "web", "DCOS_SERVICE_PORT_INDEX": "1"},
        "tasks": [{"host": env.service.ip, "ports": [1, SERVICE_PORT], "state": "TASK_RUNNING"}],
    }]  # fmt: skip
    assert env.router.watcher is not None
    env.router.watcher.poke()

    async def routed() -> bool:
        statuses = [(await env.get(p, token))[0] for p in
                    ("/slave/new-agent-S1/state", "/service/spark/x", "/service/web/y?z=1")]
        return statuses == [200, 200, 200]

    await wait_until(routed, timeout=10, what="new agent and services routed")
    assert env.router.nginx.reloads > reloads
    assert (await env.get("/service/spark/jobs?a=b", token))[1]["path_qs"] == "/ui/jobs?a=b"
    status, body, _ = await env.get("/service/web/static/app.js", token)
    assert (status, body["server"], body["path_qs"]) == (200, "service", "/static/app.js")
    assert (await env.get("/service/spark/x"))[0] == 401


async def test_reloads_drop_no_request(env: RouterEnv) -> None:
    """Requests on fresh connections keep flowing while the configuration is swapped 8 times."""
    token = await env.login()
    failures: list[str] = []
    done = asyncio.Event()
    count = 0

    async def client() -> None:
        nonlocal count
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            while not done.is_set():
                try:
                    async with http.get(f"{env.url}/marathon/v2/info", headers={"Authorization": f"token={token}"}) as r:
                        await r.read()
                        if r.status != 200:
                            failures.append(f"status {r.status}")
                except aiohttp.ClientError as exc:
                    failures.append(repr(exc))
                count += 1

    clients = [asyncio.create_task(client()) for _ in range(4)]
    assert env.router.watcher is not None
    start = env.router.nginx.reloads
    for n in range(8):
        env.master.state["slaves"].append({"id": f"reload-agent-S{n}", "pid": f"slave(1)@{env.agent.ip}:{AGENT_PORT}"})
        env.router.watcher.poke()
        await wait_until(lambda n=n: env.router.nginx.reloads >= start + n + 1, timeout=10, what="a reload")
        # Let the new workers take over before the next swap.
        seen = count
        await wait_until(lambda seen=seen: count >= seen + 20, timeout=10, what="requests after the reload")
    done.set()
    await asyncio.gather(*clients)
    assert failures == [] and count > 100


async def test_mesos_follows_leader_mesos(env: RouterEnv) -> None:
    token = await env.login()
    assert (await env.get("/mesos/master/state.json", token))[1]["server"] == "master"
    other = Upstream("master-2", f"{env.block}.1.6", MASTER_PORT)
    await other.start()
    try:
        env.dns.leader = other.ip

        async def moved() -> bool:
            return (await env.get("/mesos/master/state.json", token))[1].get("server") == "master-2"

        await wait_until(moved, timeout=10, interval=0.2, what="/mesos/ to reach the new leader")
    finally:
        await other.close()
