"""Marathon's wire and stored model as msgspec structs (`rename="camel"`: `health_checks` travels as
`healthChecks`). Pure.

Two shapes per object: the *spec* a client sends (`AppSpec`, `GroupSpec`: every field optional,
`UNSET` when absent so a PUT changes only what it names) and the canonical *definition* Marathon
keeps (`AppDefinition`: every default filled in, version stamped). Unknown request fields are
ignored (clients send back what GET gave them). Output JSON is built in render.py, whitelisted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType

JsonObject = dict[str, Any]
KillSelection = Literal["YOUNGEST_FIRST", "OLDEST_FIRST"]
HealthProtocol = Literal["HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"]


def format_time(ts: float) -> str:
    """Marathon's datetime form, always with milliseconds and `Z` (marathon-python needs both).

    >>> format_time(1472731200.123)
    '2016-09-01T12:00:00.123Z'
    """
    ms = int(round(ts * 1000))
    moment = dt.datetime.fromtimestamp(ms // 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def parse_time(text: str) -> float | None:
    """The epoch seconds of a Marathon datetime, or None when `text` is not one."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


class _Camel(Struct, rename="camel", omit_defaults=True, frozen=True):
    pass


class CommandValue(Struct, frozen=True):
    value: str


class PortDefinition(_Camel, frozen=True):
    port: int = 0
    protocol: str = "tcp"
    name: str | None = None
    labels: dict[str, str] = {}


class PortMapping(_Camel, frozen=True):
    container_port: int = 0
    host_port: int | None = 0
    service_port: int = 0
    protocol: str = "tcp"
    name: str | None = None
    labels: dict[str, str] = {}


class Docker(_Camel, frozen=True):
    image: str | None = None
    network: Literal["BRIDGE", "HOST", "USER", "NONE"] | None = None
    port_mappings: list[PortMapping] | None = None
    parameters: list[JsonObject] = []
    privileged: bool = False
    force_pull_image: bool = False


class Volume(_Camel, frozen=True):
    container_path: str | None = None
    host_path: str | None = None
    mode: Literal["RO", "RW"] = "RW"
    persistent: JsonObject | None = None
    external: JsonObject | None = None


class Container(_Camel, frozen=True):
    type: Literal["DOCKER", "MESOS"] = "DOCKER"
    docker: Docker | None = None
    volumes: list[Volume] = []
    port_mappings: list[PortMapping] | None = None


class HealthCheck(_Camel, frozen=True):
    protocol: HealthProtocol = "HTTP"
    path: str | None = None
    port_index: int | None = None
    port: int | None = None
    command: CommandValue | str | None = None
    grace_period_seconds: float = 300
    interval_seconds: float = 60
    timeout_seconds: float = 20
    max_consecutive_failures: int = 3
    ignore_http1xx: bool = False

    def command_text(self) -> str | None:
        if isinstance(self.command, CommandValue):
            return self.command.value
        return self.command


class ReadinessCheck(_Camel, frozen=True):
    name: str = "readinessCheck"
    protocol: Literal["HTTP", "HTTPS"] = "HTTP"
    path: str = "/"
    port_name: str = "http-api"
    interval_seconds: float = 30
    timeout_seconds: float = 10
    http_status_codes_for_ready: list[int] = msgspec.field(default_factory=lambda: [200])
    preserve_last_response: bool = False


class UpgradeStrategy(_Camel, frozen=True):
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0


class FetchUri(_Camel, frozen=True):
    uri: str
    executable: bool = False
    extract: bool = True
    cache: bool = False
    output_file: str | None = None


class Residency(_Camel, frozen=True):
    relaunch_escalation_timeout_seconds: int = 3600
    task_lost_behavior: Literal["WAIT_FOREVER", "RELAUNCH_AFTER_TIMEOUT"] = "WAIT_FOREVER"


class Secret(_Camel, frozen=True):
    source: str


class UnreachableEnabled(_Camel, frozen=True):
    """What happens to an instance whose agent is unreachable (Marathon 1.4's defaults): it is
    replaced after `inactive_after_seconds` and forgotten (killed if it comes back) after
    `expunge_after_seconds`. The app may say `"disabled"` instead: never replaced."""

    inactive_after_seconds: int = 300
    expunge_after_seconds: int = 600


UnreachableStrategy = UnreachableEnabled | Literal["disabled"]


class UnreachableStrategySpec(_Camel, frozen=True):
    """`unreachableStrategy` as sent; marathon-python also knows (and sends back) the early 1.4
    names `unreachableInactiveAfterSeconds` / `unreachableExpungeAfterSeconds`."""

    inactive_after_seconds: int | UnsetType = UNSET
    expunge_after_seconds: int | UnsetType = UNSET
    unreachable_inactive_after_seconds: int | UnsetType = UNSET
    unreachable_expunge_after_seconds: int | UnsetType = UNSET


class VersionInfo(_Camel, frozen=True):
    last_scaling_at: str
    last_config_change_at: str


ConstraintSpec = list[str | int | float]


class AppSpec(_Camel, frozen=True):
    """An app as a client sends it. UNSET = not given; None = given as null (reset to default)."""

    id: str | UnsetType = UNSET
    cmd: str | None | UnsetType = UNSET
    args: list[str] | None | UnsetType = UNSET
    user: str | None | UnsetType = UNSET
    env: dict[str, str] | None | UnsetType = UNSET
    instances: int | UnsetType = UNSET
    cpus: float | UnsetType = UNSET
    mem: float | UnsetType = UNSET
    disk: float | UnsetType = UNSET
    gpus: int | UnsetType = UNSET
    executor: str | None | UnsetType = UNSET
    constraints: list[ConstraintSpec] | None | UnsetType = UNSET
    uris: list[str] | None | UnsetType = UNSET
    fetch: list[FetchUri] | None | UnsetType = UNSET
    store_urls: list[str] | None | UnsetType = UNSET
    ports: list[int] | None | UnsetType = UNSET
    port_definitions: list[PortDefinition] | None | UnsetType = UNSET
    require_ports: bool | None | UnsetType = UNSET
    backoff_seconds: float | UnsetType = UNSET
    backoff_factor: float | UnsetType = UNSET
    max_launch_delay_seconds: float | UnsetType = UNSET
    container: Container | None | UnsetType = UNSET
    health_checks: list[HealthCheck] | None | UnsetType = UNSET
    readiness_checks: list[ReadinessCheck] | None | UnsetType = UNSET
    dependencies: list[str] | None | UnsetType = UNSET
    upgrade_strategy: UpgradeStrategy | None | UnsetType = UNSET
    labels: dict[str, str] | None | UnsetType = UNSET
    accepted_resource_roles: list[str] | None | UnsetType = UNSET
    ip_address: JsonObject | None | UnsetType = UNSET
    version: str | UnsetType = UNSET
    residency: Residency | None | UnsetType = UNSET
    secrets: dict[str, Secret] | None | UnsetType = UNSET
    task_kill_grace_period_seconds: float | None | UnsetType = UNSET
    kill_selection: KillSelection | UnsetType = UNSET
    unreachable_strategy: UnreachableStrategySpec | Literal["disabled"] | None | UnsetType = UNSET


class AppDefinition(_Camel, frozen=True):
    """The canonical app Marathon keeps: defaults filled in, ports assigned, version stamped.

    `ports` is not kept: it is `port_definitions[*].port` (the service ports) on the wire.
    """

    id: str
    cmd: str | None = None
    args: list[str] | None = None
    user: str | None = None
    env: dict[str, str] = {}
    instances: int = 1
    cpus: float = 1.0
    mem: float = 128.0
    disk: float = 0.0
    gpus: int = 0
    executor: str = ""
    constraints: list[list[str]] = []
    fetch: list[FetchUri] = []
    store_urls: list[str] = []
    port_definitions: list[PortDefinition] = []
    require_ports: bool = False
    backoff_seconds: float = 1.0
    backoff_factor: float = 1.15
    max_launch_delay_seconds: float = 3600.0
    container: Container | None = None
    health_checks: list[HealthCheck] = []
    readiness_checks: list[ReadinessCheck] = []
    dependencies: list[str] = []
    upgrade_strategy: UpgradeStrategy = UpgradeStrategy()
    labels: dict[str, str] = {}
    accepted_resource_roles: list[str] | None = None
    ip_address: JsonObject | None = None
    residency: Residency | None = None
    secrets: dict[str, Secret] = {}
    task_kill_grace_period_seconds: float | None = None
    kill_selection: KillSelection = "YOUNGEST_FIRST"
    unreachable_strategy: UnreachableStrategy = UnreachableEnabled()
    version: str = ""
    version_info: VersionInfo | None = None

    @property
    def service_ports(self) -> list[int]:
        return [p.port for p in self.port_definitions]

    @property
    def config_version(self) -> str:
        """The version of the last change that was not only scaling: tasks of older configs are
        outdated and a deployment replaces them."""
        return self.version_info.last_config_change_at if self.version_info else self.version

    def uris(self) -> list[str]:
        return [f.uri for f in self.fetch]


class GroupSpec(_Camel, frozen=True):
    id: str | UnsetType = UNSET
    apps: list[AppSpec] | None | UnsetType = UNSET
    groups: list[GroupSpec] | None | UnsetType = UNSET
    dependencies: list[str] | None | UnsetType = UNSET
    version: str | UnsetType = UNSET
    scale_by: float | UnsetType = UNSET


class GroupMeta(_Camel, frozen=True):
    """A group as kept: its apps and subgroups are found by path, so only this is stored."""

    id: str
    dependencies: list[str] = []
    version: str = ""


APP_SPEC_DECODER = msgspec.json.Decoder(AppSpec)
APP_SPECS_DECODER = msgspec.json.Decoder(list[AppSpec])
GROUP_SPEC_DECODER = msgspec.json.Decoder(GroupSpec)
APP_DEFINITION_DECODER = msgspec.json.Decoder(AppDefinition)
ENCODER = msgspec.json.Encoder()
