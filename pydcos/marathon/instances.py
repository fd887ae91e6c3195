"""Instances (Marathon's tasks) and the tracker that indexes them by task and by app. Pure.

An instance is created when its launch goes out and forgotten when Mesos reports it terminal.
`killing` marks one Marathon asked to kill: it no longer counts toward the app's instances, so its
replacement can start at once, but it still holds its place until Mesos confirms the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from pydcos.mesos.v1.messages import TERMINAL_STATES

STAGED_STATES = frozenset({"TASK_STAGING", "TASK_STARTING"})
# States in which Marathon replaces the instance (it is gone or may never come back).
LOST_STATES = frozenset({"TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE", "TASK_DROPPED", "TASK_UNKNOWN",
                         "TASK_GONE_BY_OPERATOR"})


class HealthResult(msgspec.Struct):
    """One health check's record for one instance (times are epoch seconds)."""

    alive: bool = False
    consecutive_failures: int = 0
    first_success: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    last_failure_cause: str | None = None


class Instance(msgspec.Struct):
    task_id: str
    app_id: str
    version: str  # the app's version when launched
    config_version: str  # the app's last config change when launched: older = outdated
    agent_id: str
    host: str
    ports: list[int] = []
    service_ports: list[int] = []
    attributes: dict[str, str] = {}
    state: str = "TASK_STAGING"
    staged_at: float = 0.0
    started_at: float | None = None
    killing: bool = False
    kill_sent_at: float | None = None
    mesos_healthy: bool | None = None
    health: list[HealthResult] = []
    ip_addresses: list[str] = []
    # Since when Mesos reports the instance TASK_UNREACHABLE (wall clock, kept across restarts),
    # and whether that has lasted past the app's inactiveAfterSeconds (then it is replaced).
    unreachable_since: float | None = None
    unreachable_inactive: bool = False

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def running(self) -> bool:
        return self.state == "TASK_RUNNING"

    @property
    def active(self) -> bool:
        """Counts toward the app's instances: alive and not being killed. An unreachable one
        counts until its app's unreachableStrategy gives up on it (unreachable.py)."""
        if self.state == "TASK_UNREACHABLE":
            return not self.killing and not self.unreachable_inactive
        return not self.killing and self.state not in TERMINAL_STATES and self.state not in LOST_STATES


INSTANCE_DECODER = msgspec.json.Decoder(Instance)


class InstanceTracker:
    """Every known instance, by task id and by app. Changed only through its methods."""

    def __init__(self) -> None:
        self._by_id: dict[str, Instance] = {}
        self._by_app: dict[str, dict[str, Instance]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Instance]:
        return iter(list(self._by_id.values()))

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._by_id

    def get(self, task_id: str) -> Instance | None:
        return self._by_id.get(task_id)

    def add(self, instance: Instance) -> None:
        self._by_id[instance.task_id] = instance
        self._by_app.setdefault(instance.app_id, {})[instance.task_id] = instance

    def remove(self, task_id: str) -> Instance | None:
        instance = self._by_id.pop(task_id, None)
        if instance is not None:
            app = self._by_app.get(instance.app_id)
            if app is not None:
                app.pop(task_id, None)
                if not app:
                    del self._by_app[instance.app_id]
        return instance

    def of_app(self, app_id: str) -> list[Instance]:
        return list(self._by_app.get(app_id, {}).values())

    def count_of_app(self, app_id: str) -> int:
        return len(self._by_app.get(app_id, ()))

    def app_ids(self) -> Iterable[str]:
        return list(self._by_app)
