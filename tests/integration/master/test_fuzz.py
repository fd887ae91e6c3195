"""Random and truncated bodies at every master input; afterwards it still answers and its state is intact."""

from __future__ import annotations

import json
import random

import aiohttp

from pydcos.mesos import internal
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient, command_task
from pydcos.testing.simulated_agent import SimulatedAgent

SEED = 20261125


def mutations(rng: random.Random, valid: bytes, count: int) -> list[bytes]:
    """Truncations, byte flips, type swaps and random JSON derived from a valid body."""
    out = [valid[:i] for i in range(0, len(valid), max(1, len(valid) // 20))]
    weird: list[object] = [None, True, -1, 1e308, "", "x" * 1000, [], {}, [None], {"value": 5}]
    try:
        parsed = json.loads(valid)
    except ValueError:
        parsed = {"body": valid.decode()}
    for _ in range(count):
        choice = rng.random()
        if choice < 0.3:
            data = bytearray(valid)
            for _ in range(rng.randint(1, 5)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            out.append(bytes(data))
        elif choice < 0.8:
            doc = json.loads(json.dumps(parsed))
            node = doc
            path = []
            while isinstance(node, dict) and node and rng.random() < 0.7:
                key = rng.choice(list(node))
                path.append(key)
                if not isinstance(node[key], dict):
                    break
                node = node[key]
            if isinstance(node, dict) and node:
                node[rng.choice(list(node))] = rng.choice(weird)
            out.append(json.dumps(doc).encode())
        else:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))))
    return out


async def test_scheduler_api_survives_garbage(master: Master, agent: SimulatedAgent) -> None:
    rng = random.Random(SEED)
    async with aiohttp.ClientSession() as session, SchedulerClient(master.url, {"user": "u", "name": "f"}) as s:
        offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
        fid = {"value": s.framework_id}
        valid_calls = [
            {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "g", "failover_timeout": 1}}},
            {"type": "ACCEPT", "framework_id": fid, "accept": {"offer_ids": [offer["id"]], "operations": [
                {"type": "LAUNCH", "launch": {"task_infos": [command_task("t", agent.agent_id or "", "true")]}}]}},
            {"type": "DECLINE", "framework_id": fid, "decline": {"offer_ids": [offer["id"]],
                                                                  "filters": {"refuse_seconds": 1}}},
            {"type": "KILL", "framework_id": fid, "kill": {"task_id": {"value": "t"}}},
            {"type": "ACKNOWLEDGE", "framework_id": fid, "acknowledge": {
                "agent_id": {"value": agent.agent_id}, "task_id": {"value": "t"}, "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}},
            {"type": "RECONCILE", "framework_id": fid, "reconcile": {"tasks": [{"task_id": {"value": "t"}}]}},
            {"type": "MESSAGE", "framework_id": fid, "message": {
                "agent_id": {"value": agent.agent_id}, "executor_id": {"value": "e"}, "data": "aGk="}},
        ]
        statuses: dict[int, int] = {}
        headers = {"Mesos-Stream-Id": s.stream_id or "", "Content-Type": "application/json"}
        for valid in valid_calls:
            for body in mutations(rng, json.dumps(valid).encode(), 40):
                if body.startswith(b'{"type": "SUBSCRIBE"'):
                    continue  # a valid SUBSCRIBE opens a stream; covered elsewhere
                async with session.post(master.url + "/api/v1/scheduler", data=body, headers=headers) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    assert r.status in (200, 202, 400, 403, 415), (r.status, body)
        for body in mutations(rng, b'{"type": "GET_STATE"}', 30):
            async with session.post(master.url + "/api/v1", data=body) as r:
                await r.read()
                assert r.status in (200, 400), (r.status, body)
        for body in mutations(rng, b"frameworkId=nope", 20):
            async with session.post(master.url + "/master/teardown", data=body) as r:
                await r.read()
                assert r.status in (200, 400), (r.status, body)
        assert statuses.get(400, 0) > 0 and statuses.get(202, 0) > 0
        # Still answering, and the framework is still subscribed.
        async with session.get(master.url + "/master/state") as r:
            assert r.status == 200
        assert master.state.frameworks[s.framework_id or ""].connected
    master.state.validate()
    assert master.unhandled_errors == 0


async def test_agent_link_survives_garbage_frames(master: Master) -> None:
    rng = random.Random(SEED + 1)
    async with aiohttp.ClientSession() as session:
        # Garbage as the first frame: refused, the master stays up.
        for body in [b"", b"{", b'{"type":"register"}', bytes(range(50))]:
            ws = await session.ws_connect(master.url + internal.AGENT_PATH)
            await ws.send_bytes(body)
            msg = await ws.receive()
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.BINARY)
            await ws.close()
        agent = SimulatedAgent(master.url, "127.0.2.9", session=session)
        await agent.start()
        assert agent._ws is not None
        update = json.dumps({"type": "status_updates", "updates": [{"framework_id": "f", "status": {
            "task_id": {"value": "t"}, "state": "TASK_RUNNING", "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}}]}).encode()
        for body in mutations(rng, update, 100):
            await agent._ws.send_bytes(body)
        await agent._ws.send_str("not json at all")
        async with session.get(master.url + "/master/state") as r:
            state = await r.json()
        assert [s["id"] for s in state["slaves"]] == [agent.agent_id]
        await agent.close()
    master.state.validate()
    assert master.unhandled_errors == 0
