"""The agent's settings, as one frozen dataclass, and the pure parsing of its resource flags.

`AgentConfig` is built once (by `__main__` from flags, or by a test) and passed in; nothing reads
global state. Resource detection touches the machine and lives in `detect_resources`; everything
else here is pure.

>>> agent_resources("cpus:2", Resources.parse("cpus:8;mem:4096;disk:100;ports:[31000-32000]")).render()
'cpus:2;mem:4096;disk:100;ports:[31000-32000]'
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Literal

from pydcos.mesos.resources import Resources
from pydcos.mesos.v1.messages import Attribute, Range, Ranges, Scalar, Text, ValueSet

Zone = Literal["private", "public"]
Recover = Literal["reconnect", "cleanup"]
Isolation = Literal["auto", "cgroups", "none"]
MESOS_VERSION = "1.0.1"
PUBLIC_ROLE = "slave_public"
DEFAULT_PORTS = "[31000-32000]"
DEFAULT_TASK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The resources every agent advertises; missing ones are detected (as Mesos does).
DETECTED_NAMES = ("cpus", "mem", "disk", "ports")


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Every setting of one agent. Timings are in seconds."""

    ip: str = "127.0.0.1"
    port: int = 5051  # 0 = pick a free port at start (the real one is `Agent.port`)
    master: str = "127.0.0.1:5050"  # host:port, or a comma list tried in turn
    work_dir: str = "/var/lib/pydcos/agent"
    resources: str | None = None  # None = detect; given names override detected ones
    attributes: str = ""
    zone: Zone = "private"
    default_role: str | None = None  # None = `slave_public` in the public zone, else `*`
    hostname: str | None = None  # None = ip: tasks are reached by it
    log_file: str | None = None  # served as the virtual file /slave/log
    log_level: str = "INFO"
    switch_user: bool = True  # run tasks as their user when the agent runs as root
    reap_orphans: bool = True  # become child subreaper and reap what is left of task groups
    task_path: str = DEFAULT_TASK_PATH
    # recovery: checkpoint frameworks with `checkpoint: true` under WORK/meta; at start recover
    # them (reconnect) or kill everything of the previous run and register anew (cleanup)
    checkpoint: bool = True
    recover_executors: bool = True  # re-attach checkpointing frameworks' custom executors
    recover: Recover = "reconnect"
    # master link
    registration_backoff_s: float = 0.1
    registration_backoff_max_s: float = 5.0
    registration_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    heartbeat_s: float = 5.0  # WebSocket ping interval: a dead master is noticed within ~2x this
    # status updates
    status_update_retry_s: float = 2.0
    status_update_retry_max_s: float = 60.0
    # tasks
    kill_grace_s: float = 3.0
    executor_shutdown_grace_s: float = 5.0
    # custom executors
    executor_registration_timeout_s: float = 60.0  # started but not subscribed: its tasks fail
    executor_heartbeat_s: float = 15.0  # HEARTBEAT on an idle executor stream
    executor_recovery_timeout_s: float = 900.0  # MESOS_RECOVERY_TIMEOUT for checkpointing executors
    # after an agent restart, a re-attached executor that has not subscribed again by then is
    # killed and its tasks fail (Mesos's --executor_reregistration_timeout)
    executor_reregistration_timeout_s: float = 5.0
    # fetcher
    fetch_timeout_s: float = 300.0  # per URI
    fetch_cache_dir: str | None = None  # None = WORK/fetch-cache
    # isolation: cgroups when usable (auto), required (cgroups), or process groups only (none)
    isolation: Isolation = "auto"
    cgroups_root: str = "pydcos"  # the parent cgroup's name, under the agent's own cgroup
    cgroups_cpu_quota: bool = False  # also cap cpu time (CFS quota), not only share it
    # bounded history in /state
    max_completed_frameworks: int = 50
    max_completed_executors_per_framework: int = 1000
    max_completed_tasks_per_executor: int = 200
    # extra flags shown in /state `flags` (for the cluster tooling)
    extra_flags: tuple[tuple[str, str], ...] = field(default=())

    @property
    def advertised_hostname(self) -> str:
        return self.hostname or self.ip

    @property
    def role(self) -> str:
        if self.default_role:
            return self.default_role
        return PUBLIC_ROLE if self.zone == "public" else "*"

    @property
    def cache_dir(self) -> str:
        return self.fetch_cache_dir or os.path.join(self.work_dir, "fetch-cache")

    @property
    def masters(self) -> list[str]:
        return [m.strip() for m in self.master.split(",") if m.strip()]


def agent_resources(flag: str | None, detected: Resources) -> Resources:
    """The flag's resources plus detected values for the standard names the flag leaves out."""
    given = Resources.parse(flag) if flag else Resources()
    names = set(given.scalars) | set(given.ranges) | set(given.sets)
    missing = Resources.of(
        scalars={k: v for k, v in detected.scalars.items() if k in DETECTED_NAMES and k not in names},
        ranges={k: v for k, v in detected.ranges.items() if k in DETECTED_NAMES and k not in names},
    )
    return given + missing


def detect_resources(work_dir: str) -> Resources:
    """cpus = cpu count, mem = total MB - 1024 (at least 1024), disk = free MB of the work dir."""
    cpus = float(os.cpu_count() or 1)
    try:
        total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        total_mb = 2048
    mem = float(max(total_mb - 1024, 1024))
    probe = work_dir
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe.rstrip("/")) or "/"
    try:
        disk = float(shutil.disk_usage(probe or "/").free // (1024 * 1024))
    except OSError:
        disk = 0.0
    return Resources.parse(f"cpus:{cpus:g};mem:{mem:g};disk:{disk:g};ports:{DEFAULT_PORTS}")


def parse_attributes(text: str) -> list[Attribute]:
    """Mesos's `--attributes` form `rack:r1;zone:a;level:3;ids:[1-4];tags:{a,b}`.

    A number is a SCALAR, `[a-b,...]` RANGES, `{x,y}` a SET, anything else TEXT.
    Raises ValueError on an entry without a name or value.
    """
    out: list[Attribute] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, value = part.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ValueError(f"bad attribute {part!r}: expected name:value")
        out.append(_attribute(name, value))
    return out


def _attribute(name: str, value: str) -> Attribute:
    if value.startswith("[") and value.endswith("]"):
        spans: list[Range] = []
        for span in filter(None, (s.strip() for s in value[1:-1].split(","))):
            begin, dash, end = span.partition("-")
            if not dash:
                raise ValueError(f"bad range {span!r} in attribute {name!r}")
            spans.append(Range(int(begin), int(end)))
        return Attribute(name=name, type="RANGES", ranges=Ranges(spans))
    if value.startswith("{") and value.endswith("}"):
        items = [i.strip() for i in value[1:-1].split(",") if i.strip()]
        return Attribute(name=name, type="SET", set=ValueSet(items))
    try:
        number = float(value)
    except ValueError:
        return Attribute(name=name, type="TEXT", text=Text(value))
    if number != number or number in (float("inf"), float("-inf")):
        return Attribute(name=name, type="TEXT", text=Text(value))
    return Attribute(name=name, type="SCALAR", scalar=Scalar(number))


def attributes_json(attributes: list[Attribute]) -> dict[str, object]:
    """The `/state` form: name -> value (numbers for scalars, Mesos strings for ranges and sets)."""
    out: dict[str, object] = {}
    for a in attributes:
        if a.type == "SCALAR" and a.scalar is not None:
            out[a.name] = a.scalar.value
        elif a.type == "RANGES" and a.ranges is not None:
            out[a.name] = "[" + ", ".join(f"{r.begin}-{r.end}" for r in a.ranges.range) + "]"
        elif a.type == "SET" and a.set is not None:
            out[a.name] = "{" + ",".join(a.set.item) + "}"
        elif a.text is not None:
            out[a.name] = a.text.value
    return out


def flags_json(config: AgentConfig, resources: Resources, port: int | None = None) -> dict[str, str]:
    """The `/state` `flags` object: Mesos shows every flag value as a string."""
    flags = {
        "ip": config.ip,
        "port": str(config.port if port is None else port),
        "master": config.master,
        "work_dir": config.work_dir,
        "resources": resources.render(),
        "attributes": config.attributes,
        "default_role": config.role,
        "hostname": config.advertised_hostname,
        "switch_user": str(config.switch_user).lower(),
        "registration_backoff_factor": f"{config.registration_backoff_s:g}secs",
        "executor_shutdown_grace_period": f"{config.executor_shutdown_grace_s:g}secs",
        "executor_registration_timeout": f"{config.executor_registration_timeout_s:g}secs",
        "isolation": config.isolation,
        "fetcher_cache_dir": config.cache_dir,
        "zone": config.zone,
        "version": MESOS_VERSION,
    }
    if config.log_file:
        flags["external_log_file"] = config.log_file
    flags.update(dict(config.extra_flags))
    return flags
