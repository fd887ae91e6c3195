"""Mesos-DNS's HTTP API (:8123, `/mesos_dns/...` through the router; COMPAT §7), plus `/health`.

    GET /v1/version                          {"Service": "Mesos-DNS", "URL": ..., "Version": ...}
    GET /v1/config                           the settings, in Mesos-DNS's keys
    GET /v1/hosts/{host}                     [{"host": "NAME.", "ip": "..."}]     (A records)
    GET /v1/services/{service}               [{"service", "host", "ip", "port"}]  (SRV records)
    GET /v1/enumerate, /v1/axfr              every framework, task and record (when enumeration is on)

A name without records gives one empty entry (`[{"host": "", "ip": ""}]`), as Mesos-DNS does.
JSON is compact and ASCII-only.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from pydcos.dns.config import MESOS_DNS_VERSION, DnsConfig
from pydcos.dns.records import enumerate_json
from pydcos.dns.zone import Catalog


class ApiSource(Protocol):
    config: DnsConfig
    catalog: Catalog

    def upstream_list(self) -> list[str]: ...

    def health(self) -> dict[str, Any]: ...


SOURCE = web.AppKey("dns_source", ApiSource)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, separators=(",", ":")), status=status,
                        content_type="application/json")


def _fqdn(text: str) -> str:
    name = text.replace(".*", "").lower()
    return name if name.endswith(".") else name + "."


async def version(request: web.Request) -> web.Response:
    return json_response({"Service": "Mesos-DNS", "URL": "https://github.com/mesosphere/mesos-dns",
                          "Version": MESOS_DNS_VERSION})


async def config(request: web.Request) -> web.Response:
    source = request.app[SOURCE]
    return json_response(source.config.mesos_dns_json(source.upstream_list(), source.catalog.zone.serial))


async def hosts(request: web.Request) -> web.Response:
    name = _fqdn(request.match_info["host"])
    ips = request.app[SOURCE].catalog.zone.a.get(name, {})
    rows = [{"host": name, "ip": ip} for ip in ips] or [{"host": "", "ip": ""}]
    return json_response(rows)


async def host_ports(request: web.Request) -> web.Response:
    return web.Response(status=501, text="To be implemented...")


async def services(request: web.Request) -> web.Response:
    service = request.match_info["service"]
    zone = request.app[SOURCE].catalog.zone
    rows = []
    for target, port in zone.srv.get(_fqdn(service), {}):
        ip = next(iter(zone.a.get(target, {})), "")
        rows.append({"service": service, "host": target, "ip": ip, "port": str(port)})
    return json_response(rows or [{"service": "", "host": "", "ip": "", "port": ""}])


async def enumerate_records(request: web.Request) -> web.Response:
    catalog = request.app[SOURCE].catalog
    return json_response(enumerate_json(catalog.view, catalog.task_records()))


async def axfr(request: web.Request) -> web.Response:
    source = request.app[SOURCE]
    zone = source.catalog.zone
    settings = source.config.resolver_settings()
    return json_response({
        "Records": {"SRVs": {name: [f"{t}:{p}" for t, p in targets] for name, targets in zone.srv.items()},
                    "As": {name: list(ips) for name, ips in zone.a.items()}},
        "Serial": zone.serial, "Mname": settings.soa_mname, "Rname": settings.soa_rname,
        "TTL": source.config.ttl, "RefreshSeconds": source.config.refresh_seconds,
        "Domain": source.config.domain.strip(".").lower(),
    })


async def health(request: web.Request) -> web.Response:
    return json_response(request.app[SOURCE].health())


def make_app(source: ApiSource) -> web.Application:
    app = web.Application()
    app[SOURCE] = source
    app.router.add_get("/v1/version", version)
    app.router.add_get("/v1/config", config)
    app.router.add_get("/v1/hosts/{host}", hosts)
    app.router.add_get("/v1/hosts/{host}/ports", host_ports)
    app.router.add_get("/v1/services/{service}", services)
    if source.config.enumeration:
        app.router.add_get("/v1/enumerate", enumerate_records)
        app.router.add_get("/v1/axfr", axfr)
    app.router.add_get("/health", health)
    return app
