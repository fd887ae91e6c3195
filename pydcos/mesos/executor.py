"""The executor driver library: implement `Executor` callbacks, never touch the protocol.

`ExecutorDriver` speaks the Mesos v1 executor HTTP API (JSON) to the agent that started the
process, with asyncio inside a thread of its own and a blocking facade, like the classic
libmesos driver (and like `pydcos.mesos.scheduler.SchedulerDriver`). Everything it needs comes
from the environment the agent sets (`MESOS_AGENT_ENDPOINT`, `MESOS_FRAMEWORK_ID`,
`MESOS_EXECUTOR_ID`, `MESOS_CHECKPOINT`, ...).

    class Echo(Executor):
        def launch_task(self, driver, task):
            driver.send_status_update({"task_id": task["task_id"], "state": "TASK_RUNNING"})
            driver.send_status_update({"task_id": task["task_id"], "state": "TASK_FINISHED"})

    ExecutorDriver(Echo()).run()

Updates are kept until the agent says ACKNOWLEDGED (the scheduler acknowledged them) and sent
again with a re-SUBSCRIBE, in order. When the connection to the agent is lost, a checkpointing
executor (`MESOS_CHECKPOINT=1`) re-subscribes, backing off up to `MESOS_SUBSCRIPTION_BACKOFF_MAX`,
for at most `MESOS_RECOVERY_TIMEOUT`, with its unacknowledged tasks and updates; any other
executor shuts down, as Mesos's own library does.

Callbacks run on the driver's thread, one at a time: hand long work to threads of your own.
They receive plain JSON-shaped dicts (Mesos v1 field names) and may call any driver method.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import time
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from pydcos.core.log import get_logger
from pydcos.mesos._driver_loop import DriverLoop, DriverStatus
from pydcos.mesos.v1.recordio import RecordIODecoder, RecordIOError

__all__ = ["DriverStatus", "Executor", "ExecutorDriver", "parse_duration"]

log = get_logger("pydcos.executor")

Json = dict[str, Any]

_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "secs": 1.0, "mins": 60.0, "hrs": 3600.0,
          "days": 86400.0, "weeks": 604800.0}


def parse_duration(text: str) -> float:
    """Seconds in a Mesos duration (`5secs`, `15mins`, `500ms`, `1.5hrs`).

    >>> parse_duration("5secs"), parse_duration("15mins"), parse_duration("500ms")
    (5.0, 900.0, 0.5)
    """
    text = text.strip()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * _UNITS[unit]
            except ValueError:
                break
    raise ValueError(f"bad duration {text!r}: expected a number and one of {', '.join(_UNITS)}")


class Executor:
    """Callbacks; override what you need. Each gets the driver first."""

    def registered(self, driver: ExecutorDriver, executor_info: Json, framework_info: Json,
                   agent_info: Json) -> None: ...
    def reregistered(self, driver: ExecutorDriver, agent_info: Json) -> None: ...
    def disconnected(self, driver: ExecutorDriver) -> None: ...
    def launch_task(self, driver: ExecutorDriver, task: Json) -> None: ...

    def launch_task_group(self, driver: ExecutorDriver, tasks: list[Json]) -> None:
        for task in tasks:
            self.launch_task(driver, task)

    def kill_task(self, driver: ExecutorDriver, task_id: Json) -> None: ...
    def framework_message(self, driver: ExecutorDriver, data: bytes) -> None: ...
    def shutdown(self, driver: ExecutorDriver) -> None: ...
    def error(self, driver: ExecutorDriver, message: str) -> None: ...


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ValueError(f"${name} is not set: executors are started by a Mesos agent, which sets it")
    return value


class ExecutorDriver(DriverLoop):
    """Blocking facade over the executor's connection to its agent (see the module docstring)."""

    THREAD_NAME = "pydcos-executor-driver"

    def __init__(self, executor: Executor, *, environment: Mapping[str, str] | None = None) -> None:
        super().__init__()
        env = os.environ if environment is None else environment
        self.executor = executor
        self.endpoint = _required(env, "MESOS_AGENT_ENDPOINT").removeprefix("http://").rstrip("/")
        self.framework_id = _required(env, "MESOS_FRAMEWORK_ID")
        self.executor_id = _required(env, "MESOS_EXECUTOR_ID")
        self.checkpoint = env.get("MESOS_CHECKPOINT", "0") == "1"
        self.recovery_timeout = parse_duration(env.get("MESOS_RECOVERY_TIMEOUT", "15mins"))
        self.backoff_max = max(0.01, parse_duration(env.get("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs")))
        self.shutdown_grace = parse_duration(env.get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"))
        self.sandbox = env.get("MESOS_SANDBOX", "")
        self.connected = False
        self.agent_info: Json | None = None
        # Launched tasks and sent updates the agent has not acknowledged yet (by task id, by uuid).
        self.unacknowledged_tasks: dict[str, Json] = {}
        self.unacknowledged_updates: dict[str, Json] = {}
        self._registered_once = False
        self._shutting_down = False
        self._launched: set[str] = set()  # every task id ever launched here: a second LAUNCH is ignored
        self._session: aiohttp.ClientSession | None = None
        self._outgoing: asyncio.Queue[Json] | None = None
        self._subscribed: asyncio.Event | None = None

    # --- lifecycle (blocking facade) --------------------------------------------------------

    def _on_loop_start(self) -> None:
        self._outgoing = asyncio.Queue()
        self._subscribed = asyncio.Event()

    def stop(self) -> str:
        if self.status == DriverStatus.RUNNING:
            self.status = DriverStatus.STOPPED
            self._cancel()
        return self.status

    # --- calls (any thread) -----------------------------------------------------------------

    def send_status_update(self, status: Json) -> None:
        """Send a TaskStatus (`task_id` and `state` at least). The driver adds `uuid`,
        `timestamp` and `source`, and keeps it until the agent acknowledges it."""
        status = dict(status)
        status.setdefault("uuid", base64.b64encode(uuid.uuid4().bytes).decode("ascii"))
        status.setdefault("timestamp", time.time())
        status.setdefault("source", "SOURCE_EXECUTOR")
        if isinstance(status.get("data"), bytes):
            status["data"] = base64.b64encode(status["data"]).decode("ascii")
        self._post({"type": "UPDATE", "update": {"status": status}})

    def send_framework_message(self, data: bytes) -> None:
        self._post({"type": "MESSAGE", "message": {"data": base64.b64encode(data).decode("ascii")}})

    def _post(self, body: Json) -> None:
        if self._loop is None or self.status != DriverStatus.RUNNING:
            log.event("executor_call_dropped", type=body["type"], status=self.status)
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._enqueue, body)

    def _enqueue(self, body: Json) -> None:
        if body["type"] == "UPDATE":
            status = body["update"]["status"]
            self.unacknowledged_updates[status["uuid"]] = status
        assert self._outgoing is not None
        self._outgoing.put_nowait(body)

    # --- the event loop side --------------------------------------------------------------------

    async def _run(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        sender = asyncio.create_task(self._send_loop(), name="executor-sender")
        lost_at: float | None = None
        try:
            while True:
                try:
                    if not await self._subscribe_and_follow():
                        return
                    if self._shutting_down:
                        await self._drain()
                        return
                except (aiohttp.ClientError, OSError, TimeoutError, RecordIOError) as exc:
                    log.event("agent_unreachable", endpoint=self.endpoint, error=type(exc).__name__)
                if self.connected:
                    self.connected = False
                    assert self._subscribed is not None
                    self._subscribed.clear()
                    self.executor.disconnected(self)
                    lost_at = None
                now = time.monotonic()
                lost_at = now if lost_at is None else lost_at
                if self._registered_once and not self.checkpoint:
                    log.event("agent_connection_lost", action="shutting down (not checkpointing)")
                    self._shut_down()
                    return
                if now - lost_at > self.recovery_timeout:
                    log.event("agent_recovery_timed_out", after_s=self.recovery_timeout)
                    self._shut_down()
                    return
                await asyncio.sleep(random.uniform(0.0, self.backoff_max))
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    def _shut_down(self) -> None:
        """SHUTDOWN (or the agent is gone for good): tell the executor; the driver then stops
        once the updates the executor sent meanwhile have left (within the grace period)."""
        self._shutting_down = True
        try:
            self.executor.shutdown(self)
        finally:
            if self.status == DriverStatus.RUNNING:
                self.status = DriverStatus.STOPPED

    async def _drain(self) -> None:
        assert self._outgoing is not None
        await asyncio.sleep(0)  # calls made from the shutdown callback are enqueued by now
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.1, self.shutdown_grace * 0.8)):
                await self._outgoing.join()

    async def _subscribe_and_follow(self) -> bool:
        """One SUBSCRIBE and its stream; False when the agent refused it (give up)."""
        assert self._session is not None
        body = self._body({"type": "SUBSCRIBE", "subscribe": {
            "unacknowledged_tasks": list(self.unacknowledged_tasks.values()),
            "unacknowledged_updates": [{"status": s} for s in self.unacknowledged_updates.values()],
        }})
        response = await self._session.post(f"http://{self.endpoint}/api/v1/executor", data=body,
                                            headers={"Content-Type": "application/json",
                                                     "Accept": "application/json"})
        if response.status != 200:
            text = (await response.text())[:300]
            response.release()
            if response.status == 503:
                return True  # the agent is not ready: try again
            log.warning("subscribe_refused", status=response.status, message=text)
            self.executor.error(self, f"SUBSCRIBE answered {response.status}: {text}")
            self.abort()
            return False
        decoder = RecordIODecoder()
        try:
            async for chunk in response.content.iter_any():
                for record in decoder.feed(chunk):
                    try:
                        self._dispatch(msgspec.json.decode(record))
                    except Exception:
                        # A callback raised: like libmesos, stop rather than go on half-informed.
                        log.exception("executor_callback_failed")
                        self.abort()
                        return False
                    if self._shutting_down:
                        return True
                    if self.status != DriverStatus.RUNNING:
                        return False
        finally:
            response.close()
        return True

    def _body(self, call: Json) -> bytes:
        call["framework_id"] = {"value": self.framework_id}
        call["executor_id"] = {"value": self.executor_id}
        return msgspec.json.encode(call)

    async def _send_loop(self) -> None:
        """Calls leave one at a time, in order, once subscribed (updates must not overtake)."""
        assert self._outgoing is not None and self._subscribed is not None and self._session is not None
        url = f"http://{self.endpoint}/api/v1/executor"
        while True:
            body = await self._outgoing.get()
            try:
                await self._send_one(url, body)
            finally:
                self._outgoing.task_done()

    async def _send_one(self, url: str, body: Json) -> None:
        assert self._subscribed is not None and self._session is not None
        if body["type"] == "UPDATE" and body["update"]["status"]["uuid"] not in self.unacknowledged_updates:
            return  # acknowledged already (it went with a re-SUBSCRIBE)
        await self._subscribed.wait()
        try:
            async with asyncio.timeout(30):
                async with self._session.post(url, data=self._body(body),
                                              headers={"Content-Type": "application/json"}) as r:
                    if r.status >= 300:
                        log.warning("call_refused", type=body["type"], status=r.status,
                                    message=(await r.text())[:200])
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            # An update stays unacknowledged and goes with the next SUBSCRIBE.
            log.event("call_failed", type=body["type"], error=type(exc).__name__)

    def _dispatch(self, event: Json) -> None:
        kind = event.get("type")
        e = self.executor
        if kind == "SUBSCRIBED":
            payload = event["subscribed"]
            self.agent_info = payload.get("agent_info", {})
            self.connected = True
            assert self._subscribed is not None
            self._subscribed.set()
            if self._registered_once:
                e.reregistered(self, self.agent_info or {})
            else:
                self._registered_once = True
                e.registered(self, payload.get("executor_info", {}), payload.get("framework_info", {}),
                             self.agent_info or {})
        elif kind == "LAUNCH":
            task = event["launch"]["task"]
            if self._remember_task(task):
                e.launch_task(self, task)
        elif kind == "LAUNCH_GROUP":
            tasks = [t for t in event["launch_group"]["task_group"].get("tasks", []) if self._remember_task(t)]
            if tasks:
                e.launch_task_group(self, tasks)
        elif kind == "KILL":
            e.kill_task(self, event["kill"]["task_id"])
        elif kind == "ACKNOWLEDGED":
            ack = event["acknowledged"]
            self.unacknowledged_updates.pop(ack["uuid"], None)
            self.unacknowledged_tasks.pop(ack["task_id"]["value"], None)
        elif kind == "MESSAGE":
            e.framework_message(self, base64.b64decode(event["message"].get("data", "")))
        elif kind == "ERROR":
            e.error(self, event["error"].get("message", ""))
        elif kind == "SHUTDOWN":
            self._shut_down()

    def _remember_task(self, task: Json) -> bool:
        task_id = task["task_id"]["value"]
        if task_id in self._launched:
            log.warning("duplicate_launch_ignored", task_id=task_id)
            return False
        self._launched.add(task_id)
        self.unacknowledged_tasks[task_id] = task
        return True

    async def _cleanup(self) -> None:
        self.connected = False
        if self._session is not None:
            await self._session.close()
