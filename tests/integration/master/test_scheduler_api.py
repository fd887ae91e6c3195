"""The v1 scheduler API on real sockets, with agents simulated over the real agent protocol."""

from __future__ import annotations

import aiohttp

from pydcos.core.waiting import wait_until
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient, command_task
from pydcos.testing.simulated_agent import SimulatedAgent

FW = {"user": "root", "name": "test-framework"}


async def test_subscribe_streams_subscribed_then_heartbeat(master: Master) -> None:
    async with aiohttp.ClientSession() as session:
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": FW}}
        async with session.post(master.url + "/api/v1/scheduler", json=body) as response:
            assert response.status == 200
            assert response.headers["Transfer-Encoding"] == "chunked"
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.headers["Mesos-Stream-Id"]
            first = await response.content.readline()
            length = int(first)
            record = await response.content.readexactly(length)
            assert b'"type":"SUBSCRIBED"' in record
            assert b'"master_info"' in record
            second = await response.content.readline()
            record2 = await response.content.readexactly(int(second))
            assert record2 == b'{"type":"HEARTBEAT"}'


async def test_offer_launch_update_ack(master: Master, agent: SimulatedAgent) -> None:
    async with SchedulerClient(master.url, FW) as s:
        offers = (await s.next_event("OFFERS"))["offers"]["offers"]
        offer = offers[0]
        assert offer["agent_id"]["value"] == agent.agent_id
        assert offer["hostname"] == "127.0.2.1"
        task = command_task("t1", agent.agent_id or "", "sleep 100")
        status = await s.call("ACCEPT", accept={
            "offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]})
        assert status == 202
        running = await s.wait_update("t1", {"TASK_RUNNING"})
        assert running["agent_id"]["value"] == agent.agent_id
        assert "uuid" in running
        await wait_until(lambda: "t1" not in agent.unacked, what="ack reaches the agent")
        fw = master.state.frameworks[s.framework_id or ""]
        assert fw.tasks["t1"].state == "TASK_RUNNING"
        # Kill goes to the agent, whose KILLED comes back.
        assert await s.call("KILL", kill={"task_id": {"value": "t1"}}) == 202
        await s.wait_update("t1", {"TASK_KILLED"})
        await wait_until(lambda: "t1" not in fw.tasks, what="acknowledged terminal task leaves the active list")
        assert fw.completed_tasks[-1].task_id == "t1"


async def test_bad_launches_become_updates_not_http_errors(master: Master, agent: SimulatedAgent) -> None:
    async with SchedulerClient(master.url, FW) as s:
        offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
        too_big = command_task("big", agent.agent_id or "", "true", cpus=1000)
        no_command = command_task("nocmd", agent.agent_id or "", "true")
        del no_command["command"]
        ok = command_task("ok", agent.agent_id or "", "true")
        dup = command_task("ok", agent.agent_id or "", "true")
        ops = [{"type": "LAUNCH", "launch": {"task_infos": [too_big, no_command, ok, dup]}}]
        assert await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": ops}) == 202
        assert (await s.wait_update("big", {"TASK_ERROR"}))["reason"] == "REASON_TASK_INVALID"
        await s.wait_update("nocmd", {"TASK_ERROR"})
        await s.wait_update("ok", {"TASK_RUNNING"})
        dup_status = [u for u in s.updates if u["task_id"]["value"] == "ok" and u["state"] == "TASK_ERROR"]
        assert dup_status and "duplicate" in dup_status[0]["message"]
        # The same offer again is no longer valid: the task is lost, not an HTTP error.
        again = command_task("late", agent.agent_id or "", "true")
        ops = [{"type": "LAUNCH", "launch": {"task_infos": [again]}}]
        assert await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": ops}) == 202
        late = await s.wait_update("late", {"TASK_LOST", "TASK_DROPPED"})
        assert late["reason"] == "REASON_INVALID_OFFERS"
        assert "uuid" not in late


async def test_malformed_calls_get_400_or_403(master: Master) -> None:
    url = master.url + "/api/v1/scheduler"
    async with aiohttp.ClientSession() as session, SchedulerClient(master.url, FW) as s:
        async def post(body: bytes, headers: dict[str, str] | None = None) -> int:
            async with session.post(url, data=body, headers=headers or {}) as r:
                await r.read()
                return r.status

        assert await post(b"{not json") == 400
        assert await post(b'{"type": "NOPE"}') == 400
        assert await post(b'{"type": "ACCEPT", "framework_id": {"value": "x"}}') == 400
        assert await post(b'{"type": "DECLINE", "framework_id": {"value": "unknown"}, "decline": {}}',
                          {"Mesos-Stream-Id": "x"}) == 403
        fid = s.framework_id
        body = b'{"type": "REVIVE", "framework_id": {"value": "%s"}}' % (fid or "").encode()
        assert await post(body) == 400  # no stream id
        assert await post(body, {"Mesos-Stream-Id": "wrong"}) == 400
        assert await post(body, {"Mesos-Stream-Id": s.stream_id or ""}) == 202
        # Unknown fields are ignored, never rejected.
        body = (b'{"type": "REVIVE", "framework_id": {"value": "%s"}, "extra": 1, "revive": {"x": 2}}'
                % (fid or "").encode())
        assert await post(body, {"Mesos-Stream-Id": s.stream_id or ""}) == 202


async def test_decline_filter_and_revive(master: Master, agent: SimulatedAgent) -> None:
    async with SchedulerClient(master.url, FW) as s:
        offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
        await s.call("DECLINE", decline={"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 3600}})
        assert not master.state.offers
        master.state.allocate_all = True
        master.request_allocation()
        await wait_until(lambda: not master._allocation_scheduled, what="allocation ran")
        assert not master.state.offers
        await s.call("REVIVE")
        again = (await s.next_event("OFFERS"))["offers"]["offers"][0]
        assert again["agent_id"] == offer["agent_id"]


async def test_failover_keeps_tasks_and_reconcile(master: Master, agent: SimulatedAgent) -> None:
    info = {**FW, "failover_timeout": 60}
    s = SchedulerClient(master.url, info)
    await s.subscribe()
    offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
    task = command_task("keep", agent.agent_id or "", "sleep 100")
    await s.call("ACCEPT", accept={"offer_ids": [offer["id"]],
                                   "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]})
    await s.wait_update("keep", {"TASK_RUNNING"})
    fid = s.framework_id
    await s.close()
    await wait_until(lambda: not master.state.frameworks[fid or ""].connected, what="framework disconnected")
    async with SchedulerClient(master.url, info, framework_id=fid) as again:
        assert again.framework_id == fid
        await again.call("RECONCILE", reconcile={"tasks": []})
        status = await again.wait_update("keep", {"TASK_RUNNING"})
        assert status["reason"] == "REASON_RECONCILIATION"
        assert "uuid" not in status
        await again.call("RECONCILE", reconcile={"tasks": [{"task_id": {"value": "nope"}}]})
        await again.wait_update("nope", {"TASK_LOST"})


async def test_teardown_kills_tasks_and_refuses_resubscribe(master: Master, agent: SimulatedAgent) -> None:
    s = SchedulerClient(master.url, FW)
    await s.subscribe()
    offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
    task = command_task("doomed", agent.agent_id or "", "sleep 100")
    await s.call("ACCEPT", accept={"offer_ids": [offer["id"]],
                                   "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]})
    await s.wait_update("doomed", {"TASK_RUNNING"})
    fid = s.framework_id
    assert await s.call("TEARDOWN") == 202
    await wait_until(lambda: agent.tasks["doomed"].state == "TASK_KILLED", what="agent killed the task")
    await wait_until(s.closed.is_set, what="stream closed")
    await s.close()
    assert fid not in master.state.frameworks
    again = SchedulerClient(master.url, FW, framework_id=fid)
    try:
        await again.subscribe()
        raise AssertionError("a removed framework must not subscribe again")
    except TimeoutError:
        pass
    finally:
        await again.close()


async def test_agent_loss_reports_lost_and_failure(master: Master, agent: SimulatedAgent) -> None:
    async with SchedulerClient(master.url, FW) as s:
        offer = (await s.next_event("OFFERS"))["offers"]["offers"][0]
        task = command_task("gone", agent.agent_id or "", "sleep 100")
        await s.call("ACCEPT", accept={"offer_ids": [offer["id"]],
                                       "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]})
        await s.wait_update("gone", {"TASK_RUNNING"})
        await agent.disconnect()
        lost = await s.wait_update("gone", {"TASK_LOST"}, timeout=10)
        assert lost["reason"] == "REASON_SLAVE_REMOVED"
        failure = await s.next_event("FAILURE", timeout=10)
        assert failure["failure"]["agent_id"]["value"] == agent.agent_id
        assert agent.agent_id in master.state.unreachable_agents


async def test_operator_endpoints(master: Master, agent: SimulatedAgent) -> None:
    async with aiohttp.ClientSession() as session, SchedulerClient(master.url, FW) as s:
        await s.next_event("OFFERS")
        async with session.get(master.url + "/master/state.json") as r:
            state = await r.json()
        for key in ("slaves", "frameworks", "completed_frameworks", "orphan_tasks", "unregistered_frameworks"):
            assert isinstance(state[key], list)
        assert state["slaves"][0]["pid"] == "slave(1)@127.0.2.1:5051"
        fw = state["frameworks"][0]
        assert fw["name"] == "test-framework" and fw["active"] is True
        assert "pid" not in fw
        for key in ("tasks", "completed_tasks", "offers", "executors"):
            assert isinstance(fw[key], list)
        async with session.get(master.url + "/version") as r:
            version = (await r.json())["version"]
            assert all(part.isdigit() for part in version.split("."))
        async with session.get(master.url + "/master/state-summary") as r:
            summary = await r.json()
            assert summary["slaves"][0]["id"] == agent.agent_id
        async with session.post(master.url + "/api/v1", json={"type": "GET_AGENTS"}) as r:
            agents = (await r.json())["get_agents"]["agents"]
            assert agents[0]["agent_info"]["id"]["value"] == agent.agent_id
        async with session.get(master.url + "/metrics/snapshot") as r:
            assert (await r.json())["master/slaves_active"] == 1.0
        # The CLI's teardown: a form body with no Content-Type.
        async with session.post(master.url + "/master/teardown",
                                data=f"frameworkId={s.framework_id}".encode(),
                                skip_auto_headers=["Content-Type"]) as r:
            assert r.status == 200
        assert s.framework_id not in master.state.frameworks
