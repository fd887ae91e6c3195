"""Task statuses as the command executor and the agent send them. Pure.

>>> exit_outcome(0, killed=False)
('TASK_FINISHED', 'Command exited with status 0', None)
>>> exit_outcome(-9, killed=False)
('TASK_FAILED', 'Command terminated with signal Killed', 'REASON_COMMAND_EXECUTOR_FAILED')
"""

from __future__ import annotations

import signal

from pydcos.mesos.v1.messages import Id, StatusSource, TaskState, TaskStatus


def signal_name(signum: int) -> str:
    """`strsignal` text, as Mesos prints it ("Killed", "Terminated"); the number if unknown."""
    try:
        text = signal.strsignal(signum)
    except ValueError:
        text = None
    return text or f"signal {signum}"


def exit_outcome(returncode: int | None, *, killed: bool) -> tuple[TaskState, str, str | None]:
    """(state, message, reason) for a command whose process ended with `returncode`
    (negative = killed by that signal, None = unknown, e.g. reaped elsewhere)."""
    if returncode is None:
        message = "Command exited with an unknown status"
    elif returncode < 0:
        message = f"Command terminated with signal {signal_name(-returncode)}"
    else:
        message = f"Command exited with status {returncode}"
    if killed:
        return "TASK_KILLED", message, None
    if returncode == 0:
        return "TASK_FINISHED", message, None
    return "TASK_FAILED", message, "REASON_COMMAND_EXECUTOR_FAILED"


def container_status(container_id: str | None, ip: str | None) -> dict[str, object] | None:
    """The `container_status` Mesos attaches: the container id and, when known, the task's IP
    (tasks share the agent's network here, so it is the agent's IP)."""
    if container_id is None:
        return None
    out: dict[str, object] = {"container_id": {"value": container_id}}
    if ip:
        out["network_infos"] = [{"ip_addresses": [{"ip_address": ip}]}]
    return out


def make_status(
    *,
    task_id: str,
    state: TaskState,
    agent_id: str,
    executor_id: str | None,
    uuid: str,
    timestamp: float,
    source: StatusSource = "SOURCE_EXECUTOR",
    message: str | None = None,
    reason: str | None = None,
    container_id: str | None = None,
    ip: str | None = None,
) -> TaskStatus:
    return TaskStatus(
        task_id=Id(task_id),
        state=state,
        message=message,
        source=source,
        reason=reason,
        agent_id=Id(agent_id),
        executor_id=Id(executor_id) if executor_id else None,
        timestamp=timestamp,
        uuid=uuid,
        container_status=container_status(container_id, ip),
    )
