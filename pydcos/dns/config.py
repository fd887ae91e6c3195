"""The dns daemon's settings, declared once: the command line, tests and `/v1/config` read these fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydcos.dns.errors import DnsConfigError
from pydcos.dns.records import IP_SOURCES, RecordConfig
from pydcos.dns.resolver import ResolverSettings

MESOS_DNS_VERSION = "v0.6.0"


@dataclass(frozen=True)
class DnsConfig:
    ip: str = "127.0.0.1"
    port: int = 53
    # The HTTP API listens on http_ip (default: ip) and http_port.
    http_ip: str | None = None
    http_port: int = 8123
    # Masters as `ip:port`, in the order that numbers `master0`, `master1`, ...
    masters: tuple[str, ...] = ("127.0.0.1:5050",)
    zk: str | None = None  # accepted for the command line; ZooKeeper leader detection comes later
    domain: str = "mesos"
    # TTL of A and SRV answers. Resolvers that cache keep a moved or ended task for up to this long;
    # the server itself follows the master within a second whatever the TTL.
    ttl: int = 60
    # TTL of negative answers (and the SOA's MINIMUM): short, so that a name looked up just before its
    # task runs is not cached as missing.
    negative_ttl: int = 1
    # Names outside the domain go to upstream resolvers, or are REFUSED when forwarding is off.
    forward: bool = True
    # Upstreams as `ip` or `ip:port`; None reads `resolv_conf`, leaving out this server itself.
    upstreams: tuple[str, ...] | None = None
    resolv_conf: str = "/etc/resolv.conf"
    upstream_timeout: float = 5.0
    max_forwarded: int = 1000
    # The safety-net poll of /master/state while the event stream is up; also the HTTP timeout.
    refresh_seconds: float = 30.0
    state_timeout: float = 10.0
    ip_sources: tuple[str, ...] = ("netinfo", "mesos", "host")
    enforce_rfc952: bool = False
    enumeration: bool = True
    # UDP through recvmmsg/sendmmsg batches where the platform has them (udp_batch.py).
    udp_batch: bool = True
    tcp_idle_timeout: float = 10.0
    max_tcp_connections: int = 1000
    log_file: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.ttl < 2**31 or not 0 <= self.negative_ttl < 2**31:
            raise DnsConfigError("ttl must be positive and both TTLs below 2^31")
        if unknown := set(self.ip_sources) - set(IP_SOURCES):
            raise DnsConfigError(f"unknown IP sources {sorted(unknown)}; known: {', '.join(IP_SOURCES)}")
        if not self.domain.strip(".") or any(not 0 < len(x) < 64 for x in self.domain.strip(".").split(".")):
            raise DnsConfigError(f"bad domain {self.domain!r}")
        for master in self.masters:
            host, colon, port = master.rpartition(":")
            if not colon or not host or not port.isdigit():
                raise DnsConfigError(f"master {master!r} is not ip:port")

    @property
    def zone(self) -> str:
        return self.domain.strip(".").lower() + "."

    def record_config(self) -> RecordConfig:
        ns = () if self.ip in ("0.0.0.0", "") else (self.ip,)
        return RecordConfig(domain=self.domain.strip(".").lower(), masters=self.masters,
                            ip_sources=self.ip_sources, enforce_rfc952=self.enforce_rfc952, ns_addresses=ns)

    def resolver_settings(self) -> ResolverSettings:
        return ResolverSettings(ttl=self.ttl, negative_ttl=self.negative_ttl, soa_mname=f"ns1.{self.zone}",
                                soa_rname=f"root.ns1.{self.zone}", forward=self.forward)

    def mesos_dns_json(self, upstreams: list[str], serial: int) -> dict[str, Any]:
        """`/v1/config` in Mesos-DNS's own keys."""
        s = self.resolver_settings()
        return {
            "RefreshSeconds": self.refresh_seconds, "Port": self.port, "Timeout": self.upstream_timeout,
            "StateTimeoutSeconds": self.state_timeout, "ZkDetectionTimeout": 30, "HttpPort": self.http_port,
            "TTL": self.ttl, "SOASerial": serial, "SOARefresh": s.soa_refresh, "SOARetry": s.soa_retry,
            "SOAExpire": s.soa_expire, "SOAMinttl": self.negative_ttl, "SOAMname": s.soa_mname,
            "SOARname": s.soa_rname, "Masters": list(self.masters), "Resolvers": upstreams,
            "IPSources": list(self.ip_sources), "Zk": self.zk or "", "Domain": self.domain.strip(".").lower(),
            "File": "", "Listener": self.ip, "HTTPListener": self.http_ip or self.ip,
            "RecurseOn": self.forward, "DnsOn": True, "HttpOn": True, "ExternalOn": self.forward,
            "EnforceRFC952": self.enforce_rfc952, "EnumerationOn": self.enumeration, "MesosHTTPSOn": False,
        }
