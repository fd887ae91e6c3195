"""`/v2/info`, `/v2/leader`, `/ping`, `/metrics`, `/v2/eventSubscriptions`, and 404 for pods."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pydcos.marathon.api.common import Params, json_response, service
from pydcos.marathon.config import VERSION
from pydcos.marathon.errors import InvalidInput, NotFound, Problem
from pydcos.marathon.event_subscriptions import SUBSCRIPTIONS_KEY, check_callback_url, encode_subscriptions
from pydcos.marathon.events import Emit
from pydcos.marathon.model import format_time
from pydcos.mesos.detector import parse_zk_url
from pydcos.store.zookeeper import MAX_VALUE_BYTES


def info_json(request: web.Request) -> dict[str, Any]:
    m = service(request)
    cfg = m.config
    core = cfg.core
    zk_hosts, zk_path = parse_zk_url(cfg.zk) if cfg.zk else ("", "/marathon")
    return {
        "name": "marathon",
        "version": VERSION,
        "buildref": "pydcos",
        "elected": True,
        "leader": m.leader,
        "frameworkId": m.core.framework_id,
        "event_subscriber": {"type": "http_callback", "http_endpoints": m.callbacks.urls},
        "http_config": {"assets_path": None, "http_port": m.bound_port, "https_port": 8443},
        "marathon_config": {
            "checkpoint": True, "executor": "//cmd", "failover_timeout": int(cfg.failover_timeout),
            "framework_name": cfg.framework_name, "ha": False, "hostname": cfg.advertised_hostname,
            "leader_proxy_connection_timeout_ms": 5000, "leader_proxy_read_timeout_ms": 10000,
            "local_port_min": core.service_port_range[0], "local_port_max": core.service_port_range[1],
            "maintenance_mode": False, "master": ",".join(cfg.masters), "mesos_leader_ui_url": None,
            "mesos_role": cfg.mesos_role, "mesos_user": cfg.mesos_user, "new_group_enforce_role": "off",
            "webui_url": f"http://{m.leader}", "reconciliation_initial_delay": 0,
            "reconciliation_interval": int(core.reconciliation_interval * 1000),
            "task_launch_timeout": 300000, "marathon_store_timeout": 2000, "task_reservation_timeout": 20000,
            "features": [], "access_control_allow_origin": None,
            "decline_offer_duration": int(core.idle_refuse_seconds * 1000), "default_network_name": None,
            "env_vars_prefix": None, "launch_token": 100, "launch_token_refresh_interval": 30000,
            "max_instances_per_offer": 0, "mesos_bridge_name": "mesos-bridge",
            "mesos_heartbeat_failure_threshold": 5, "mesos_heartbeat_interval": 15000,
            "min_revive_offers_interval": 0, "offer_matching_timeout": 1000, "on_elected_prepare_timeout": 180000,
            "revive_offers_for_new_apps": True, "revive_offers_repetitions": 1, "scale_apps_initial_delay": 0,
            "scale_apps_interval": int(core.scale_check_interval * 1000), "store_cache": True,
            "task_launch_confirm_timeout": 300000, "task_lost_expunge_initial_delay": 300000,
            "task_lost_expunge_interval": 30000,
        },
        "zookeeper_config": {
            "zk": cfg.zk, "zk_future_timeout": {"duration": 10}, "zk_hosts": zk_hosts,
            "zk_max_versions": core.max_versions, "zk_path": zk_path, "zk_session_timeout": 10000, "zk_state": None, "zk_timeout": 10000,
            "zk_connection_timeout": 10000, "zk_compression": False, "zk_compression_threshold": 65536,
            "zk_max_node_size": MAX_VALUE_BYTES,
        },
    }


async def get_info(request: web.Request, params: Params) -> web.StreamResponse:
    return json_response(info_json(request))


async def get_leader(request: web.Request, params: Params) -> web.StreamResponse:
    return json_response({"leader": service(request).leader})


async def delete_leader(request: web.Request, params: Params) -> web.StreamResponse:
    # One Marathon, no election yet: there is nobody to hand leadership to.
    return json_response({"message": "Leadership abdicated"})


async def ping(request: web.Request, params: Params) -> web.StreamResponse:
    return web.Response(text="pong", content_type="text/plain")


async def metrics(request: web.Request, params: Params) -> web.StreamResponse:
    m = service(request)
    c = m.core
    gauges: dict[str, dict[str, float]] = {
        "service.mesosphere.marathon.app.count": {"value": len(c.root.apps)},
        "service.mesosphere.marathon.group.count": {"value": len(c.root.groups)},
        "service.mesosphere.marathon.task.running.count": {"value": sum(1 for i in c.instances if i.running)},
        "service.mesosphere.marathon.task.staged.count": {"value": sum(1 for i in c.instances if not i.running)},
        "service.mesosphere.marathon.deployments.active": {"value": len(c.deployments)},
        "service.mesosphere.marathon.launchQueue.count": {"value": sum(e.count for e in c.queue.pending())},
        "service.mesosphere.marathon.uptime": {"value": m.clock.wall() - m.started_at},
        "service.mesosphere.marathon.event_stream.clients": {"value": len(m.bus.subscribers)},
        "service.mesosphere.marathon.event_callbacks.subscribers": {"value": len(m.callbacks.urls)},
        "jvm.memory.total.used": {"value": m.rss_bytes()},
    }
    counters = {f"pydcos.marathon.{k}": {"count": v} for k, v in sorted(m.counters.items())}
    counters["pydcos.marathon.unhandled_errors_total"] = {"count": m.unhandled_errors}
    if m.link is not None:
        counters["pydcos.marathon.mesos_calls_failed"] = {"count": m.link.calls_failed}
    return json_response({"version": "3.0.0", "gauges": gauges, "counters": counters, "histograms": {},
                          "meters": {}, "timers": {}})


async def event_subscriptions(request: web.Request, params: Params) -> web.StreamResponse:
    """HTTP callbacks: every event is also POSTed to each subscribed URL (callbacks.py). The list
    is stored before the answer, so it survives a restart; each change is itself an event."""
    m = service(request)
    if request.method == "GET":
        return json_response({"callbackUrls": m.callbacks.urls})
    url = check_callback_url(request.query.get("callbackUrl"))
    if request.method == "POST":
        kind = "subscribe_event"
        if url not in m.callbacks.urls and len(m.callbacks.urls) >= m.config.callbacks.max_subscribers:
            raise InvalidInput([Problem("/callbackUrl", (
                f"there are {m.config.callbacks.max_subscribers} subscriptions already (the most kept)",))],
                message="Too many event subscriptions")
        changed = m.callbacks.subscribe(url)
    else:
        kind = "unsubscribe_event"
        changed = await m.callbacks.unsubscribe(url)
    if changed:
        m.persister.write(SUBSCRIPTIONS_KEY, encode_subscriptions(m.callbacks.urls))
        await m.commit()
    wall = m.clock.wall()
    body = {"callbackUrl": url, "clientIp": request.remote or "", "eventType": kind, "timestamp": format_time(wall)}
    # A new subscriber receives its own subscribe_event; one that left no longer hears anything.
    m.bus.publish(Emit(kind, wall, lambda: dict(body)))
    return json_response(body)


async def no_pods(request: web.Request, params: Params) -> web.StreamResponse:
    raise NotFound("pods are not supported")
