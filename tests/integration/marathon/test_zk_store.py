"""Marathon keeps its state in ZooKeeper when given `--zk`: a second Marathon process (here: a new
instance on the same ZooKeeper path, as after a failover) finds every app, version and task."""

from __future__ import annotations

from dataclasses import replace

import aiohttp
from marathon_helpers import Client, marathon_config

from pydcos.core.waiting import wait_until
from pydcos.marathon import records
from pydcos.marathon.service import Marathon
from pydcos.mesos.master.service import Master
from pydcos.store.zookeeper import ZooKeeperStore
from pydcos.testing.simulated_agent import SimulatedAgent
from pydcos.testing.zookeeper import zookeeper_server


async def test_state_in_zookeeper_survives_a_new_marathon(master: Master, agents: list[SimulatedAgent]) -> None:
    async with zookeeper_server() as zk, aiohttp.ClientSession() as session:
        config = replace(marathon_config(master), zk=f"zk://{zk.hosts}/marathon", work_dir=None)
        async with Marathon(config) as first:
            await wait_until(lambda: first.core.connected, what="subscribed")
            c = Client(first.url, session)
            await c.call("POST", "/v2/apps", {"id": "/zk/web", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 2})
            await c.wait_no_deployments()
            status, body = await c.call("PUT", "/v2/apps/zk/web", {"env": {"A": "1"}})
            assert status == 200, body
            await c.wait_no_deployments()
            before = {t["id"] for t in (await c.wait_running("/zk/web", 2))["tasks"]}
            versions = (await c.get("/v2/apps/zk/web/versions"))["versions"]
            assert (await c.app("/zk/web"))["env"] == {"A": "1"}
            framework_id = first.core.framework_id
            info = (await c.get("/v2/info"))["zookeeper_config"]
            assert (info["zk"], info["zk_hosts"], info["zk_path"]) == (config.zk, zk.hosts, "/marathon")
        # What Marathon wrote is really in ZooKeeper, under its path.
        store = await ZooKeeperStore.open(zk.hosts, "/marathon")
        try:
            assert await store.get(records.FRAMEWORK_ID_KEY) is not None
            assert await store.list(records.APPS_PREFIX + "/")
        finally:
            await store.close()
        launched = sum(len(a.tasks) for a in agents)
        async with Marathon(config) as second:
            await wait_until(lambda: second.core.connected, what="subscribed again")
            assert second.core.framework_id == framework_id
            c = Client(second.url, session)
            app = await c.wait_running("/zk/web", 2)
            assert {t["id"] for t in app["tasks"]} == before
            assert app["env"] == {"A": "1"}
            assert (await c.get("/v2/apps/zk/web/versions"))["versions"] == versions
            assert sum(len(a.tasks) for a in agents) == launched  # nothing relaunched
