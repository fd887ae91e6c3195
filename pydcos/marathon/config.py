"""Marathon's settings: one frozen dataclass, filled by `__main__` from flags or by a test."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

from pydcos.marathon.callbacks import CallbackConfig
from pydcos.marathon.core import CoreConfig

VERSION = "1.3.6"
_WILDCARDS = ("0.0.0.0", "::")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root"


@dataclass(frozen=True)
class MarathonConfig:
    ip: str = "127.0.0.1"
    port: int = 8080  # 0 = any free port (see Marathon.url)
    hostname: str | None = None
    master: str = "127.0.0.1:5050"  # host:port, a comma list of them, or http(s) URLs
    work_dir: str | None = None  # None = keep state in memory only
    zk: str | None = None  # zk://hosts/path: keep state in ZooKeeper instead (several marathons share it)
    log_file: str | None = None
    framework_name: str = "marathon"
    # DC/OS registers Marathon with `slave_public`, so public agents offer to it too; apps land
    # there only when they accept that role (`acceptedResourceRoles: ["slave_public"]`).
    mesos_role: str = "slave_public"
    mesos_user: str = field(default_factory=_user)
    failover_timeout: float = 7 * 24 * 3600.0  # tasks survive a marathon down this long
    core: CoreConfig = field(default_factory=CoreConfig)
    tick_interval: float = 1.0
    health_interval: float = 0.5  # how often due health probes are looked for
    max_concurrent_probes: int = 256
    connect_timeout: float = 5.0
    reconnect_backoff_min: float = 0.2
    reconnect_backoff_max: float = 10.0
    # A stream silent for this many heartbeat intervals is considered dead.
    heartbeat_misses: float = 3.0
    store_timeout: float = 5.0  # an API change waits this long for its write, then answers 503
    max_event_queue: int = 10000  # per SSE client; a client that falls this far behind is cut off
    callbacks: CallbackConfig = field(default_factory=CallbackConfig)  # /v2/eventSubscriptions delivery

    @property
    def advertised_hostname(self) -> str:
        return self.hostname or self.ip

    @property
    def framework_hostname(self) -> str:
        """FrameworkInfo.hostname. An HTTP API framework has no libprocess pid, so Mesos-DNS can make
        `marathon.mesos` only from this field, and only when it is an address: our IP, whatever
        name `--hostname` gives; that name only when we listen on every address."""
        if self.ip and self.ip not in _WILDCARDS:
            return self.ip
        return self.advertised_hostname

    @property
    def masters(self) -> list[str]:
        return [m.strip() for m in self.master.split(",") if m.strip()]
