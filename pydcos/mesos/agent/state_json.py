"""The agent's `/state` document in Mesos 1.0's shape, and its metrics snapshot. Pure.

Every list key is always present, even empty: the dcos CLI indexes them directly (COMPAT §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydcos.mesos.agent.config import MESOS_VERSION
from pydcos.mesos.agent.state import AgentState, ExecutorEntry, FrameworkEntry, TaskEntry
from pydcos.mesos.resources import Resources
from pydcos.mesos.v1.messages import TaskStatus

BUILD_DATE = "2016-08-26 00:00:00"
BUILD_TIME = 1472169600.0
BUILD_USER = "pydcos"


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """What `/state` says about the agent itself."""

    agent_id: str  # "" until registered
    ip: str
    port: int
    hostname: str
    role: str
    total: Resources
    attributes: dict[str, object]
    flags: dict[str, str]
    master_hostname: str
    start_time: float
    log_file: str | None = None

    @property
    def pid(self) -> str:
        return f"slave(1)@{self.ip}:{self.port}"


def version_json() -> dict[str, Any]:
    return {
        "version": MESOS_VERSION,
        "build_date": BUILD_DATE,
        "build_time": BUILD_TIME,
        "build_user": BUILD_USER,
    }


def status_json(status: TaskStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"state": status.state, "timestamp": status.timestamp or 0.0}
    if status.healthy is not None:  # set by health checks (health_runner.py), as Mesos shows it
        out["healthy"] = status.healthy
    if status.labels is not None:
        out["labels"] = status.labels
    if status.container_status is not None:
        out["container_status"] = status.container_status
    return out


def task_json(task: TaskEntry, agent_id: str, executor: ExecutorEntry) -> dict[str, Any]:
    info = task.info
    out: dict[str, Any] = {
        "id": task.id,
        "name": info.name,
        "framework_id": task.framework_id,
        # Mesos leaves a command task's executor_id empty; the CLI finds the executor by its lists.
        "executor_id": "" if executor.command_task else task.executor_id,
        "slave_id": agent_id,
        "state": task.state,
        "resources": task.resources.state_json(),
        "statuses": [status_json(s) for s in task.statuses],
    }
    if info.labels is not None:
        out["labels"] = info.labels.get("labels", [])
    if info.discovery is not None:
        out["discovery"] = info.discovery
    if info.container is not None:
        out["container"] = info.container
    return out


def executor_json(executor: ExecutorEntry, agent_id: str) -> dict[str, Any]:
    def tasks(entries: Any) -> list[dict[str, Any]]:
        return [task_json(t, agent_id, executor) for t in entries]

    return {
        "id": executor.id,
        "name": executor.name,
        "source": executor.source,
        "container": executor.container_id,
        "directory": executor.directory,
        "resources": executor.resources().state_json(),
        "tasks": tasks(executor.tasks.values()),
        "queued_tasks": tasks(executor.queued_tasks.values()),
        # Mesos lists terminated (not yet acknowledged) tasks with the completed ones.
        "completed_tasks": tasks([*executor.completed_tasks, *executor.terminated_tasks.values()]),
    }


def framework_json(fw: FrameworkEntry, agent_id: str) -> dict[str, Any]:
    info = fw.info
    return {
        "id": fw.id,
        "name": info.name,
        "user": info.user,
        "failover_timeout": info.failover_timeout,
        "hostname": info.hostname or "",
        "role": info.role or "*",
        "checkpoint": info.checkpoint,
        "executors": [executor_json(e, agent_id) for e in fw.executors.values()],
        "completed_executors": [executor_json(e, agent_id) for e in fw.completed_executors],
    }


def state_json(ident: AgentIdentity, state: AgentState) -> dict[str, Any]:
    reserved = {ident.role: ident.total.state_json()} if ident.role != "*" else {}
    unreserved = ident.total.state_json() if ident.role == "*" else Resources().state_json()
    out: dict[str, Any] = {
        "version": MESOS_VERSION,
        "build_date": BUILD_DATE,
        "build_time": BUILD_TIME,
        "build_user": BUILD_USER,
        "start_time": ident.start_time,
        "id": ident.agent_id,
        "pid": ident.pid,
        "hostname": ident.hostname,
        "resources": ident.total.state_json(),
        "reserved_resources": reserved,
        "unreserved_resources": unreserved,
        "attributes": ident.attributes,
        "master_hostname": ident.master_hostname,
        "flags": ident.flags,
        "frameworks": [framework_json(fw, ident.agent_id) for fw in state.frameworks.values()],
        "completed_frameworks": [framework_json(fw, ident.agent_id) for fw in state.completed_frameworks],
    }
    if ident.log_file:
        out["external_log_file"] = ident.log_file
    return out


STATE_COUNTERS = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING")
TERMINAL_COUNTERS = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_GONE")


def metrics_json(
    ident: AgentIdentity, state: AgentState, *, registered: bool, now: float, counters: dict[str, float]
) -> dict[str, float]:
    """The flat `/metrics/snapshot` object with Mesos's agent metric names."""
    used = state.used_resources()
    live = state.count_by_state()
    out: dict[str, float] = {
        "slave/registered": 1.0 if registered else 0.0,
        "slave/uptime_secs": max(0.0, now - ident.start_time),
        "slave/frameworks_active": float(len(state.frameworks)),
        "slave/executors_running": float(sum(len(fw.executors) for fw in state.frameworks.values())),
    }
    for name in STATE_COUNTERS:
        out[f"slave/tasks_{name.lower()[5:]}"] = float(live.get(name, 0))
    for name in TERMINAL_COUNTERS:
        out[f"slave/tasks_{name.lower()[5:]}"] = float(state.terminal_counts.get(name, 0))
    for res in ("cpus", "mem", "disk", "gpus"):
        total = ident.total.scalar(res)
        use = used.scalar(res)
        out[f"slave/{res}_total"] = total
        out[f"slave/{res}_used"] = use
        out[f"slave/{res}_percent"] = use / total if total else 0.0
    out.update(counters)
    return out
