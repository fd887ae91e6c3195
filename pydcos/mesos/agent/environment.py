"""The environment a command task starts with. Pure.

A base the agent sets (sandbox, ids, endpoint, host, ports, PATH, LIBPROCESS_IP), then the task's
own `command.environment` variables over it. Nothing of the agent's own environment leaks in.

>>> from pydcos.mesos.v1.messages import Id, TaskInfo, ranges
>>> t = TaskInfo(name="web", task_id=Id("web.1"), resources=[ranges("ports", [(31000, 31001)])])
>>> env = task_environment(t, TaskContext("S0", "F0", "web.1", "/w/sb", "10.0.0.2", 5051, "10.0.0.2"))
>>> env["PORTS"], env["PORT0"], env["PORT1"], env["PORT"], env["MESOS_AGENT_ENDPOINT"]
('31000,31001', '31000', '31001', '31000', '10.0.0.2:5051')
"""

from __future__ import annotations

from dataclasses import dataclass

from pydcos.mesos.agent.config import DEFAULT_TASK_PATH
from pydcos.mesos.v1.messages import CommandInfo, TaskInfo

# Marathon asks for a few ports per task; an absurd range must not become a huge environment.
MAX_PORT_VARIABLES = 1000


@dataclass(frozen=True, slots=True)
class TaskContext:
    agent_id: str
    framework_id: str
    executor_id: str
    sandbox: str
    agent_ip: str
    agent_port: int
    hostname: str
    path: str = DEFAULT_TASK_PATH


def task_ports(task: TaskInfo) -> list[int]:
    """The ports of the task's `ports` range resources, in the order the task lists them."""
    ports: list[int] = []
    for resource in task.resources:
        if resource.name != "ports" or resource.ranges is None:
            continue
        for span in resource.ranges.range:
            if span.end - span.begin + len(ports) >= MAX_PORT_VARIABLES:
                return ports
            ports.extend(range(span.begin, span.end + 1))
    return ports


def base_environment(task: TaskInfo, ctx: TaskContext) -> dict[str, str]:
    env = {
        "PATH": ctx.path,
        "MESOS_SANDBOX": ctx.sandbox,
        "MESOS_DIRECTORY": ctx.sandbox,
        "MESOS_TASK_ID": task.task_id.value,
        "MESOS_FRAMEWORK_ID": ctx.framework_id,
        "MESOS_EXECUTOR_ID": ctx.executor_id,
        "MESOS_AGENT_ID": ctx.agent_id,
        "MESOS_SLAVE_ID": ctx.agent_id,
        "MESOS_AGENT_ENDPOINT": f"{ctx.agent_ip}:{ctx.agent_port}",
        "MESOS_SLAVE_PID": f"slave(1)@{ctx.agent_ip}:{ctx.agent_port}",
        "HOST": ctx.hostname,
        "LIBPROCESS_IP": ctx.agent_ip,
    }
    ports = task_ports(task)
    if ports:
        env["PORTS"] = ",".join(map(str, ports))
        env["PORT"] = str(ports[0])
        for i, port in enumerate(ports):
            env[f"PORT{i}"] = str(port)
    return env


def task_environment(task: TaskInfo, ctx: TaskContext) -> dict[str, str]:
    """The base environment with the task's own variables over it (secrets are not supported
    and skipped). Names with `=` or NUL and values with NUL cannot be passed and are skipped."""
    env = base_environment(task, ctx)
    overlay_command_environment(env, task.command)
    return env


def overlay_command_environment(env: dict[str, str], command: CommandInfo | None) -> None:
    """Put the command's own VALUE variables over `env`, skipping names no process could hold."""
    if command is None or command.environment is None:
        return
    for var in command.environment.variables:
        if var.type not in (None, "VALUE"):
            continue
        if not var.name or "=" in var.name or "\0" in var.name or "\0" in var.value:
            continue
        env[var.name] = var.value


# --- custom executors ---------------------------------------------------------------------

_DURATION_UNITS = (("weeks", 604800.0), ("days", 86400.0), ("hrs", 3600.0), ("mins", 60.0), ("secs", 1.0),
                   ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9))


def format_duration(seconds: float) -> str:
    """A duration the way Mesos prints it, which every executor library parses back: the largest
    unit that divides it whole, down to nanoseconds (COMPAT §5.4: the unit suffix is required).

    >>> format_duration(5), format_duration(900), format_duration(0.5), format_duration(0)
    ('5secs', '15mins', '500ms', '0ns')
    """
    nanos = round(max(0.0, seconds) * 1e9)
    if nanos == 0:
        return "0ns"
    for name, size in _DURATION_UNITS:
        unit = round(size * 1e9)
        if nanos % unit == 0:
            return f"{nanos // unit}{name}"
    return f"{nanos}ns"


@dataclass(frozen=True, slots=True)
class ExecutorContext:
    agent_id: str
    framework_id: str
    executor_id: str
    sandbox: str
    agent_ip: str
    agent_port: int
    hostname: str
    checkpoint: bool
    shutdown_grace_s: float
    recovery_timeout_s: float = 900.0
    subscription_backoff_max_s: float = 2.0
    path: str = DEFAULT_TASK_PATH


def executor_environment(command: CommandInfo | None, ctx: ExecutorContext) -> dict[str, str]:
    """What a custom executor starts with (COMPAT §5.4), then its command's own variables.

    >>> ctx = ExecutorContext("S0", "F0", "ex", "/w/sb", "10.0.0.2", 5051, "h", True, 5.0)
    >>> env = executor_environment(None, ctx)
    >>> env["MESOS_AGENT_ENDPOINT"], env["MESOS_CHECKPOINT"], env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"]
    ('10.0.0.2:5051', '1', '5secs')
    >>> env["MESOS_RECOVERY_TIMEOUT"], env["MESOS_SUBSCRIPTION_BACKOFF_MAX"]
    ('15mins', '2secs')
    """
    env = {
        "PATH": ctx.path,
        "MESOS_SANDBOX": ctx.sandbox,
        "MESOS_DIRECTORY": ctx.sandbox,
        "MESOS_FRAMEWORK_ID": ctx.framework_id,
        "MESOS_EXECUTOR_ID": ctx.executor_id,
        "MESOS_AGENT_ID": ctx.agent_id,
        "MESOS_SLAVE_ID": ctx.agent_id,
        "MESOS_AGENT_ENDPOINT": f"{ctx.agent_ip}:{ctx.agent_port}",
        "MESOS_SLAVE_PID": f"slave(1)@{ctx.agent_ip}:{ctx.agent_port}",
        "MESOS_CHECKPOINT": "1" if ctx.checkpoint else "0",
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": format_duration(ctx.shutdown_grace_s),
        "HOST": ctx.hostname,
        "LIBPROCESS_IP": ctx.agent_ip,
    }
    if ctx.checkpoint:
        # The C++ executor library exits at start without these when checkpointing.
        env["MESOS_RECOVERY_TIMEOUT"] = format_duration(ctx.recovery_timeout_s)
        env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = format_duration(ctx.subscription_backoff_max_s)
    overlay_command_environment(env, command)
    return env
