"""The scheduler driver library: implement `Scheduler` callbacks, never touch the protocol.

`SchedulerDriver` speaks the Mesos v1 scheduler HTTP API (JSON) with asyncio inside a thread of
its own and offers a blocking facade, like the classic libmesos driver. It finds the leading
master from a list (`"h1:5050,h2:5050"`, `http://` URLs allowed) by following the masters'
redirects, or from ZooKeeper (`"zk://h1:2181,h2:2181/mesos"`, asked again before every
(re)subscription, see `pydcos.mesos.detector`). It reconnects with capped exponential backoff and
re-subscribes with its framework id, so tasks survive a master failover or a lost connection.

    class Hello(Scheduler):
        def resource_offers(self, driver, offers):
            for offer in offers:
                driver.launch_tasks([offer["id"]], [task_for(offer)])

    SchedulerDriver(Hello(), {"user": "root", "name": "hello"}, "127.0.1.1:5050").run()

Callbacks run on the driver's own thread; they receive plain JSON-shaped dicts (Mesos v1 field
names) and may call any driver method.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

import aiohttp
import msgspec

from pydcos.core.log import get_logger
from pydcos.mesos._driver_loop import DriverLoop, DriverStatus
from pydcos.mesos.detector import NoMasterDetected, detect_leader, parse_zk_url
from pydcos.mesos.v1.recordio import RecordIODecoder

__all__ = ["Scheduler", "SchedulerDriver", "DriverStatus", "parse_masters"]

log = get_logger("pydcos.scheduler")

Json = dict[str, Any]


class Scheduler:
    """Callbacks; override what you need. Each gets the driver first."""

    def registered(self, driver: SchedulerDriver, framework_id: str, master_info: Json) -> None: ...
    def reregistered(self, driver: SchedulerDriver, master_info: Json) -> None: ...
    def disconnected(self, driver: SchedulerDriver) -> None: ...
    def resource_offers(self, driver: SchedulerDriver, offers: list[Json]) -> None: ...
    def offer_rescinded(self, driver: SchedulerDriver, offer_id: Json) -> None: ...
    def status_update(self, driver: SchedulerDriver, status: Json) -> None: ...
    def framework_message(self, driver: SchedulerDriver, executor_id: Json, agent_id: Json, data: bytes) -> None: ...
    def agent_lost(self, driver: SchedulerDriver, agent_id: Json) -> None: ...
    def executor_lost(self, driver: SchedulerDriver, executor_id: Json, agent_id: Json, status: int | None) -> None: ...
    def error(self, driver: SchedulerDriver, message: str) -> None: ...


def parse_masters(spec: str) -> list[str]:
    """`h1:5050,http://h2:5050` -> base URLs. A bare host gets port 5050.

    >>> parse_masters("127.0.1.1,http://127.0.1.2:5051/")
    ['http://127.0.1.1:5050', 'http://127.0.1.2:5051']

    `zk://` URLs name no master themselves: `SchedulerDriver` asks ZooKeeper (`detect_leader`).
    """
    if spec.startswith(("zk://", "zoo://")):
        raise ValueError("zk:// master URLs are resolved by the ZooKeeper detector (detect_leader), not here")
    urls = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        if "://" not in item:
            item = "http://" + item
        scheme, _, rest = item.partition("://")
        hostport = rest.split("/", 1)[0]
        if ":" not in hostport:
            hostport += ":5050"
        urls.append(f"{scheme}://{hostport}")
    if not urls:
        raise ValueError("no master given")
    return urls


class SchedulerDriver(DriverLoop):
    THREAD_NAME = "pydcos-scheduler-driver"
    BACKOFF_START = 0.2
    BACKOFF_MAX = 10.0
    ZK_TIMEOUT = 10.0

    def __init__(self, scheduler: Scheduler, framework_info: Json, master: str, *,
                 implicit_acknowledgements: bool = True, failover: bool = False) -> None:
        self.scheduler = scheduler
        self.framework_info = dict(framework_info)
        self.framework_info.setdefault("failover_timeout", 0.0)
        self.zk_url: str | None = None
        if master.startswith(("zk://", "zoo://")):
            parse_zk_url(master)  # a malformed URL fails here, not on the driver thread
            self.zk_url = master
            self.masters: list[str] = []
        else:
            self.masters = parse_masters(master)
        self.implicit_acknowledgements = implicit_acknowledgements
        self.failover = failover
        fid = self.framework_info.get("id")
        self.framework_id: str | None = fid["value"] if isinstance(fid, dict) else None
        super().__init__()
        self.connected = False
        self._leader: str | None = None
        self._stream_id: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()

    # --- lifecycle (blocking facade) --------------------------------------------------------

    def stop(self, failover: bool = False) -> str:
        """Stop; without `failover` the framework is torn down (its tasks are killed)."""
        if self.status != DriverStatus.RUNNING:
            return self.status
        teardown = not (failover or self.failover) and self.connected
        if self._on_driver_thread():
            # Called from a callback: the loop is this thread, so it cannot be waited on; the
            # teardown is sent first and the loop ends after it.
            self.status = DriverStatus.STOPPED
            self._spawn_on_loop(self._teardown_then_end(teardown))
            return self.status
        if teardown:
            with contextlib.suppress(Exception):
                self._submit(self._call({"type": "TEARDOWN"})).result(10)
        self.status = DriverStatus.STOPPED
        self._cancel()
        return self.status

    async def _teardown_then_end(self, teardown: bool) -> None:
        if teardown:
            await self._call({"type": "TEARDOWN"})
        if self._main is not None:
            self._main.cancel()

    def _spawn_on_loop(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _fire(self, body: Json) -> None:
        """Send a call without waiting (safe from callbacks on the driver thread and from others)."""
        if self._loop is None or self.status != DriverStatus.RUNNING:
            return
        with contextlib.suppress(RuntimeError):  # the loop has just ended
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._call(body)))

    # --- calls ------------------------------------------------------------------------------

    def launch_tasks(self, offer_ids: Sequence[Json], tasks: Sequence[Json], filters: Json | None = None) -> None:
        if not tasks:
            self.decline_offer(offer_ids, filters)
            return
        self.accept_offers(offer_ids, [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}], filters)

    def accept_offers(self, offer_ids: Sequence[Json], operations: Sequence[Json], filters: Json | None = None) -> None:
        accept: Json = {"offer_ids": list(offer_ids), "operations": list(operations)}
        if filters is not None:
            accept["filters"] = filters
        self._fire({"type": "ACCEPT", "accept": accept})

    def decline_offer(self, offer_ids: Sequence[Json], filters: Json | None = None) -> None:
        decline: Json = {"offer_ids": list(offer_ids)}
        if filters is not None:
            decline["filters"] = filters
        self._fire({"type": "DECLINE", "decline": decline})

    def revive_offers(self, roles: Iterable[str] = ()) -> None:
        self._fire({"type": "REVIVE", "revive": {"roles": list(roles)}})

    def suppress_offers(self, roles: Iterable[str] = ()) -> None:
        self._fire({"type": "SUPPRESS", "suppress": {"roles": list(roles)}})

    def kill_task(self, task_id: Json, agent_id: Json | None = None) -> None:
        kill: Json = {"task_id": task_id}
        if agent_id is not None:
            kill["agent_id"] = agent_id
        self._fire({"type": "KILL", "kill": kill})

    def acknowledge_status_update(self, status: Json) -> None:
        if "uuid" not in status:
            return
        self._fire({"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}})

    def reconcile_tasks(self, statuses: Sequence[Json]) -> None:
        tasks = [{"task_id": s["task_id"], **({"agent_id": s["agent_id"]} if "agent_id" in s else {})}
                 for s in statuses]
        self._fire({"type": "RECONCILE", "reconcile": {"tasks": tasks}})

    def shutdown_executor(self, executor_id: Json, agent_id: Json) -> None:
        self._fire({"type": "SHUTDOWN", "shutdown": {"executor_id": executor_id, "agent_id": agent_id}})

    def send_framework_message(self, executor_id: Json, agent_id: Json, data: bytes) -> None:
        self._fire({"type": "MESSAGE", "message": {
            "agent_id": agent_id, "executor_id": executor_id, "data": base64.b64encode(data).decode()}})

    async def _call(self, body: Json) -> None:
        if not self.connected or self._session is None or self._leader is None:
            log.event("call_dropped_not_connected", type=body.get("type"))
            return
        body = {**body, "framework_id": {"value": self.framework_id}}
        headers = {"Mesos-Stream-Id": self._stream_id or ""}
        try:
            async with self._session.post(self._leader + "/api/v1/scheduler", data=msgspec.json.encode(body),
                                          headers={**headers, "Content-Type": "application/json"}) as r:
                if r.status not in (200, 202):
                    text = await r.text()
                    log.warning("call_refused", type=body["type"], status=r.status, message=text[:200])
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.event("call_failed", type=body["type"], error=type(exc).__name__)

    # --- the event loop side --------------------------------------------------------------------

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=None)
        self._session = aiohttp.ClientSession(timeout=timeout)
        backoff = self.BACKOFF_START
        while True:
            subscribed = False
            if self.zk_url is not None:
                await self._detect_leader()
            for master in list(self.masters):
                try:
                    subscribed = await self._subscribe_and_follow(master)
                except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                    log.event("master_unreachable", master=master, error=type(exc).__name__)
                if self.connected:
                    self.connected = False
                    self.scheduler.disconnected(self)
                if subscribed:
                    break
            backoff = self.BACKOFF_START if subscribed else min(backoff * 2, self.BACKOFF_MAX)
            await asyncio.sleep(backoff)

    async def _detect_leader(self) -> None:
        """Point `masters` at ZooKeeper's current leader; none found means none to try this round."""
        assert self.zk_url is not None
        try:
            leader = await detect_leader(self.zk_url, self.ZK_TIMEOUT)
        except (NoMasterDetected, ValueError) as exc:
            log.event("leader_not_detected", zk=self.zk_url, error=str(exc))
            self.masters = []
            return
        if self.masters != [leader]:
            log.event("leader_detected", zk=self.zk_url, master=leader)
        self.masters = [leader]

    async def _subscribe_and_follow(self, master: str) -> bool:
        """One SUBSCRIBE; follows a redirect to the leader; returns when the stream ends."""
        assert self._session is not None
        info = dict(self.framework_info)
        body: Json = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if self.framework_id:
            info["id"] = {"value": self.framework_id}
            body["framework_id"] = {"value": self.framework_id}
        url = master
        for _ in range(3):
            response = await self._session.post(url + "/api/v1/scheduler", data=msgspec.json.encode(body),
                                                headers={"Content-Type": "application/json"},
                                                allow_redirects=False)
            if response.status == 307 and "Location" in response.headers:
                location = response.headers["Location"]
                response.release()
                url = parse_masters(location.removeprefix("//").split("/")[0])[0]
                continue
            break
        if response.status != 200:
            text = await response.text()
            log.warning("subscribe_refused", master=url, status=response.status, message=text[:200])
            return False
        self._leader = url
        self._stream_id = response.headers.get("Mesos-Stream-Id")
        decoder = RecordIODecoder()
        try:
            async for chunk in response.content.iter_any():
                for record in decoder.feed(chunk):
                    try:
                        self._dispatch(msgspec.json.decode(record))
                    except Exception:
                        # A callback raised: like libmesos, stop rather than go on half-informed.
                        log.exception("scheduler_callback_failed")
                        self.abort()
                        raise
        finally:
            response.close()
        return True

    def _dispatch(self, event: Json) -> None:
        kind = event.get("type")
        s = self.scheduler
        if kind == "SUBSCRIBED":
            payload = event["subscribed"]
            again = self.framework_id is not None
            self.framework_id = payload["framework_id"]["value"]
            self.connected = True
            if again:
                s.reregistered(self, payload.get("master_info", {}))
            else:
                s.registered(self, self.framework_id, payload.get("master_info", {}))
        elif kind == "OFFERS":
            s.resource_offers(self, event["offers"].get("offers", []))
        elif kind == "RESCIND":
            s.offer_rescinded(self, event["rescind"]["offer_id"])
        elif kind == "UPDATE":
            status = event["update"]["status"]
            s.status_update(self, status)
            if self.implicit_acknowledgements:
                self.acknowledge_status_update(status)
        elif kind == "MESSAGE":
            m = event["message"]
            s.framework_message(self, m["executor_id"], m["agent_id"], base64.b64decode(m.get("data", "")))
        elif kind == "FAILURE":
            f = event["failure"]
            if "executor_id" in f:
                s.executor_lost(self, f["executor_id"], f["agent_id"], f.get("status"))
            else:
                s.agent_lost(self, f["agent_id"])
        elif kind == "ERROR":
            # The master removed the framework (teardown, failover timeout): nothing to reconnect to.
            s.error(self, event["error"]["message"])
            self.abort()

    async def _cleanup(self) -> None:
        self.connected = False
        if self._session is not None:
            await self._session.close()
