"""Marathon's event objects for `/v2/events` (COMPAT §6.6). Pure.

Every event has `eventType` and `timestamp`, and only the types clients know are ever sent (an
unknown `eventType` ends marathon-python's stream). Builders are called only when someone listens
for that type (see `Emit`), so a deployment plan is not rendered for nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydcos.marathon.instances import Instance
from pydcos.marathon.model import format_time

Json = dict[str, Any]

EVENT_TYPES = frozenset({
    "api_post_event", "status_update_event", "framework_message_event", "subscribe_event",
    "unsubscribe_event", "add_health_check_event", "remove_health_check_event", "failed_health_check_event",
    "health_status_changed_event", "unhealthy_task_kill_event", "group_change_success", "group_change_failed",
    "deployment_success", "deployment_failed", "deployment_info", "deployment_step_success",
    "deployment_step_failure", "event_stream_attached", "event_stream_detached", "app_terminated_event",
    "instance_changed_event", "unknown_instance_terminated_event", "unhealthy_instance_kill_event",
    "instance_health_changed_event", "pod_created_event", "pod_updated_event", "pod_deleted_event",
})


@dataclass(frozen=True)
class Emit:
    """An event to publish; `build` makes its fields (without eventType/timestamp) when wanted."""

    event_type: str
    wall: float
    build: Callable[[], Json]

    def render(self) -> Json:
        body = self.build()
        body["eventType"] = self.event_type
        body["timestamp"] = format_time(self.wall)
        return body


def status_update(instance: Instance, message: str) -> Json:
    return {
        "slaveId": instance.agent_id,
        "taskId": instance.task_id,
        "taskStatus": instance.state,
        "message": message,
        "appId": instance.app_id,
        "host": instance.host,
        "ports": list(instance.ports),
        "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"} for ip in instance.ip_addresses],
        "version": instance.version,
    }


CONDITIONS = {
    "TASK_STAGING": "Staging", "TASK_STARTING": "Starting", "TASK_RUNNING": "Running",
    "TASK_KILLING": "Killing", "TASK_FINISHED": "Finished", "TASK_FAILED": "Failed", "TASK_KILLED": "Killed",
    "TASK_ERROR": "Error", "TASK_LOST": "Gone", "TASK_DROPPED": "Dropped", "TASK_UNREACHABLE": "Unreachable",
    "TASK_GONE": "Gone", "TASK_GONE_BY_OPERATOR": "Gone", "TASK_UNKNOWN": "Unknown",
}


def instance_changed(instance: Instance) -> Json:
    return {
        "instanceId": instance.task_id,
        "condition": CONDITIONS.get(instance.state, "Unknown"),
        "runSpecId": instance.app_id,
        "agentId": instance.agent_id,
        "host": instance.host,
        "runSpecVersion": instance.version,
    }


def health_changed(instance: Instance, alive: bool) -> Json:
    return {"appId": instance.app_id, "taskId": instance.task_id, "instanceId": instance.task_id,
            "version": instance.version, "alive": alive}


def failed_health_check(instance: Instance, health_check: Json) -> Json:
    return {"appId": instance.app_id, "taskId": instance.task_id, "instanceId": instance.task_id,
            "healthCheck": health_check}


def unhealthy_kill(instance: Instance, reason: str) -> Json:
    return {"appId": instance.app_id, "taskId": instance.task_id, "instanceId": instance.task_id,
            "version": instance.version, "reason": reason, "host": instance.host, "slaveId": instance.agent_id}
