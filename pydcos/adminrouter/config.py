"""Admin Router's settings, declared once: the command line, the tests and the renderer read these fields."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from pydcos.adminrouter.errors import RouterConfigError

DCOS_VERSION = "1.8.8"
DEFAULT_IDENTITY_PORT = 8101
DEFAULT_TOKEN_LIFETIME_S = 5 * 24 * 3600.0  # DC/OS's default: five days


def split_hostport(value: str, *, default_port: int | None = None) -> tuple[str, int]:
    """`"10.0.0.1:5050"` -> `("10.0.0.1", 5050)`; a bare host takes `default_port`."""
    host, colon, port = value.rpartition(":")
    if not colon:
        if default_port is None:
            raise RouterConfigError(f"{value!r} is not host:port")
        host, port = value, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RouterConfigError(f"{value!r} is not host:port")
    return host, int(port)


def _check_ipv4(what: str, value: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise RouterConfigError(f"{what} must be an IPv4 address, got {value!r}") from None


@dataclass(frozen=True)
class RouterConfig:
    """Everything `python -m pydcos.adminrouter` is told. Addresses are `ip:port`."""

    ip: str = "127.0.0.1"
    port: int = 80
    # The identity service (and the router's internal endpoints) listen on ip:identity_port.
    identity_port: int = DEFAULT_IDENTITY_PORT
    masters: tuple[str, ...] = ("127.0.0.1:5050",)
    marathon: tuple[str, ...] = ("127.0.0.1:8080",)
    # Where nginx resolves `leader.mesos` (UDP), and the dns daemon's HTTP API.
    dns: str = "127.0.0.1:53"
    dns_http: tuple[str, ...] = ("127.0.0.1:8123",)
    # The name `/mesos/` goes to; an IP address here skips the resolver (tests without a dns).
    mesos_leader_host: str = "leader.mesos"
    mesos_port: int = 5050
    work_dir: Path = Path("adminrouter")
    log_file: Path | None = None
    public_ip: str | None = None  # PUBLIC_IPV4 in /metadata; default: ip
    nginx_binary: str = "nginx"
    # The user nginx's workers run as; None: nginx's own default (only matters when run as root).
    nginx_user: str | None = None
    worker_processes: int = 1
    poll_interval_s: float = 1.0
    upstream_timeout_s: float = 5.0
    token_lifetime_s: float = DEFAULT_TOKEN_LIFETIME_S
    # How long nginx may reuse a positive token check without asking the identity service.
    auth_cache_s: int = 5
    max_body: str = "16m"
    # A failed login costs a credit; `login_burst` credits per (uid, source), one back every
    # `login_refill_s` seconds. With no credit left even a right password is answered 429.
    login_burst: int = 10
    login_refill_s: float = 30.0
    # Old workers finishing long requests (event streams) after a reload are ended after this.
    worker_shutdown_timeout_s: int = 300

    def __post_init__(self) -> None:
        _check_ipv4("--ip", self.ip)
        if self.public_ip is not None:
            _check_ipv4("--public-ip", self.public_ip)
        for what, port in (("--port", self.port), ("--identity-port", self.identity_port),
                           ("--mesos-port", self.mesos_port)):
            if not 0 < port < 65536:
                raise RouterConfigError(f"{what} must be in 1..65535, got {port}")
        for value in (*self.masters, *self.marathon, *self.dns_http, self.dns):
            host, _ = split_hostport(value)
            _check_ipv4(f"address {value!r}", host)
        if not self.masters:
            raise RouterConfigError("at least one master is needed")
        if self.poll_interval_s <= 0 or self.upstream_timeout_s <= 0 or self.token_lifetime_s <= 0:
            raise RouterConfigError("intervals, timeouts and the token lifetime must be positive")
        if self.auth_cache_s < 0 or self.worker_processes < 1 or self.login_burst < 1:
            raise RouterConfigError("auth cache >= 0, worker processes >= 1 and login burst >= 1")

    @property
    def identity_address(self) -> str:
        return f"{self.ip}:{self.identity_port}"

    @property
    def url(self) -> str:
        """The router's own URL, as `core.dcos_url` wants it: no `:80` (the CLI compares netlocs)."""
        return f"http://{self.ip}" if self.port == 80 else f"http://{self.ip}:{self.port}"

    @property
    def nginx_log_prefix(self) -> Path:
        """nginx's logs sit beside the daemon's own: `adminrouter.log` -> `adminrouter-nginx-*.log`."""
        if self.log_file is None:
            return self.work_dir / "logs" / "adminrouter"
        return self.log_file.with_suffix("")
