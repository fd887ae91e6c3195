"""`python -m pydcos.dns`: run the dns daemon (Mesos-DNS) beside a master."""

from __future__ import annotations

import argparse
import contextlib

from pydcos.core.log import setup_logging
from pydcos.core.service import run_loop, serve_until_signalled
from pydcos.dns.config import DnsConfig
from pydcos.dns.service import DnsServer


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_args(argv: list[str] | None = None) -> tuple[DnsConfig, str]:
    d = DnsConfig()
    p = argparse.ArgumentParser(prog="pydcos-dns", description="pydcos dns (Mesos-DNS)")
    p.add_argument("--ip", default=d.ip, help="address for DNS (UDP and TCP) and, by default, HTTP")
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--http-ip", default=None)
    p.add_argument("--http-port", type=int, default=d.http_port)
    p.add_argument("--masters", default=",".join(d.masters), help="ip:port,ip:port (masterN order)")
    p.add_argument("--zk", default=None, help="zk://host:2181/mesos (accepted; leader detection uses --masters)")
    p.add_argument("--domain", default=d.domain)
    p.add_argument("--ttl", type=int, default=d.ttl)
    p.add_argument("--negative-ttl", type=int, default=d.negative_ttl)
    p.add_argument("--no-forward", action="store_true", help="REFUSED for names outside the domain")
    p.add_argument("--upstreams", default=None, help="ip[:port],... (default: resolv.conf minus this server)")
    p.add_argument("--resolv-conf", default=d.resolv_conf)
    p.add_argument("--upstream-timeout", type=float, default=d.upstream_timeout)
    p.add_argument("--refresh-seconds", type=float, default=d.refresh_seconds)
    p.add_argument("--state-timeout", type=float, default=d.state_timeout)
    p.add_argument("--ip-sources", default=",".join(d.ip_sources))
    p.add_argument("--enforce-rfc952", action="store_true")
    p.add_argument("--no-enumeration", action="store_true")
    p.add_argument("--no-udp-batch", action="store_true", help="plain asyncio UDP instead of recvmmsg batches")
    p.add_argument("--log-file", default=None)
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    config = DnsConfig(
        ip=a.ip, port=a.port, http_ip=a.http_ip, http_port=a.http_port, masters=_list(a.masters), zk=a.zk,
        domain=a.domain, ttl=a.ttl, negative_ttl=a.negative_ttl, forward=not a.no_forward,
        upstreams=_list(a.upstreams) if a.upstreams is not None else None, resolv_conf=a.resolv_conf,
        upstream_timeout=a.upstream_timeout, refresh_seconds=a.refresh_seconds, state_timeout=a.state_timeout,
        ip_sources=_list(a.ip_sources), enforce_rfc952=a.enforce_rfc952, enumeration=not a.no_enumeration,
        udp_batch=not a.no_udp_batch, log_file=a.log_file,
    )
    return config, a.log_level


async def serve(config: DnsConfig) -> None:
    await serve_until_signalled(DnsServer(config))


def main(argv: list[str] | None = None) -> None:
    config, level = parse_args(argv)
    setup_logging(level=level, path=config.log_file)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(config))


if __name__ == "__main__":
    main()
