"""The scheduler driver finds its master through ZooKeeper (`zk://`) and follows a leader change.

A real ZooKeeper server (the Debian package's jars, see pydcos.testing.zookeeper) holds the leader
records; the test writes them itself, exactly as Mesos masters do (COMPAT.md §8).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from kazoo.client import KazooClient  # type: ignore[import-untyped]

from pydcos.core.waiting import wait_until
from pydcos.mesos.detector import NoMasterDetected, detect_leader
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master
from pydcos.mesos.scheduler import Scheduler, SchedulerDriver
from pydcos.testing.zookeeper import ZooKeeperServer


class Recorder(Scheduler):
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def registered(self, driver: SchedulerDriver, framework_id: str, master_info: dict[str, Any]) -> None:
        self.events.append(("registered", master_info["id"]))

    def reregistered(self, driver: SchedulerDriver, master_info: dict[str, Any]) -> None:
        self.events.append(("reregistered", master_info["id"]))


@pytest.fixture
async def zk() -> AsyncIterator[ZooKeeperServer]:
    async with ZooKeeperServer() as server:
        yield server


@pytest.fixture
async def zk_client(zk: ZooKeeperServer) -> AsyncIterator[KazooClient]:
    client = KazooClient(hosts=zk.hosts, timeout=10)
    await asyncio.to_thread(client.start, 10)
    try:
        yield client
    finally:
        await asyncio.to_thread(client.stop)
        await asyncio.to_thread(client.close)


def master_record(master: Master) -> bytes:
    info = master.state.master_info
    ip, port = master.config.ip, master.bound_port
    info = msgspec.structs.replace(info, port=port, pid=f"master@{ip}:{port}",
                                   address=msgspec.structs.replace(info.address, port=port))
    return msgspec.json.encode(info)


async def register(client: KazooClient, master: Master) -> str:
    path: str = await asyncio.to_thread(client.create, "/mesos/json.info_", master_record(master),
                                        ephemeral=True, sequence=True, makepath=True)
    return path


def config() -> MasterConfig:
    return MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.2)


async def test_no_registered_master_is_a_clear_error(zk: ZooKeeperServer) -> None:
    with pytest.raises(NoMasterDetected, match="no master registered under /mesos"):
        await detect_leader(f"zk://{zk.hosts}/mesos", timeout=10)


async def test_driver_follows_the_zookeeper_leader(zk: ZooKeeperServer, zk_client: KazooClient) -> None:
    zk_url = f"zk://{zk.hosts}/mesos"
    # A lower-sequence legacy `info_` node and `log_replicas` must not be taken for the leader.
    await asyncio.to_thread(zk_client.create, "/mesos/info_", b"garbage", ephemeral=True, sequence=True,
                            makepath=True)
    await asyncio.to_thread(zk_client.create, "/mesos/log_replicas", b"")
    first = Master(config())
    second = Master(config())
    await first.start()
    try:
        await second.start()
        assert first.state.master_info.id != second.state.master_info.id
        first_node = await register(zk_client, first)
        assert await detect_leader(zk_url, timeout=10) == first.url

        rec = Recorder()
        driver = SchedulerDriver(rec, {"user": "root", "name": "zk-drv", "failover_timeout": 60}, zk_url)
        driver.start()
        try:
            await wait_until(lambda: rec.events == [("registered", first.state.master_info.id)],
                             timeout=10, what="registered with the first master")
            fid = driver.framework_id
            assert fid in first.state.frameworks

            # Leader change: the first master's record goes, the second one's takes over, then
            # the first master dies and the driver must ask ZooKeeper again.
            await asyncio.to_thread(zk_client.delete, first_node)
            await register(zk_client, second)
            await first.close()
            await wait_until(lambda: ("reregistered", second.state.master_info.id) in rec.events,
                             timeout=15, what="re-subscribed to the second master")
            assert driver.framework_id == fid
            assert second.state.frameworks[fid or ""].connected
        finally:
            await asyncio.to_thread(driver.stop, True)
            await asyncio.to_thread(driver.join)
    finally:
        await first.close()
        await second.close()
