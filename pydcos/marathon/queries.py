"""Read-side views of the core for the API: apps with their counters, tasks, groups, deployments,
the queue. Pure; every object goes through render.py's whitelists.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydcos.marathon import health as hl
from pydcos.marathon.groups import RootGroup
from pydcos.marathon.instances import STAGED_STATES, Instance
from pydcos.marathon.model import AppDefinition, format_time
from pydcos.marathon.render import (
    AppCounts,
    app_json,
    deployment_json,
    group_json,
    task_json,
)

if TYPE_CHECKING:
    from pydcos.marathon.core import MarathonCore

Json = dict[str, Any]
EMBEDS = ("app.tasks", "app.counts", "app.deployments", "app.readiness", "app.lastTaskFailure", "app.failures",
          "app.taskStats")


def app_counts(core: MarathonCore, instances: Iterable[Instance]) -> AppCounts:
    staged = running = healthy = unhealthy = 0
    for i in instances:
        if i.state in STAGED_STATES:
            staged += 1
        elif i.running:
            running += 1
            app = core.app_for(i)
            if app is not None and app.health_checks:
                if hl.is_healthy(i, app):
                    healthy += 1
                elif hl.is_unhealthy(i, app):
                    unhealthy += 1
    return AppCounts(staged, running, healthy, unhealthy)


def render_task(core: MarathonCore, instance: Instance) -> Json:
    app = core.app_for(instance)
    return task_json(instance, with_health=app is not None and bool(app.health_checks))


def last_failure_json(core: MarathonCore, app_id: str) -> Json | None:
    f = core.last_failures.get(app_id)
    if f is None:
        return None
    return {"appId": f.app_id, "host": f.host, "message": f.message, "taskId": f.task_id, "slaveId": f.agent_id,
            "state": f.state, "timestamp": format_time(f.timestamp), "version": f.version}


def _stats(core: MarathonCore, instances: list[Instance], now: float) -> Json:
    lifetimes = [now - i.started_at for i in instances if i.started_at is not None]
    counts = app_counts(core, instances)
    return {"stats": {
        "counts": {"staged": counts.staged, "running": counts.running, "healthy": counts.healthy,
                   "unhealthy": counts.unhealthy},
        "lifeTime": {"averageSeconds": statistics.fmean(lifetimes) if lifetimes else 0.0,
                     "medianSeconds": statistics.median(lifetimes) if lifetimes else 0.0},
    }}


def task_stats(core: MarathonCore, app: AppDefinition, instances: list[Instance]) -> Json:
    now = core.clock.wall()
    scaled_at = app.version_info.last_scaling_at if app.version_info else app.version
    out: Json = {}
    groups = {
        "startedAfterLastScaling": [i for i in instances if format_time(i.staged_at) >= scaled_at],
        "withLatestConfig": [i for i in instances if i.config_version == app.config_version],
        "withOutdatedConfig": [i for i in instances if i.config_version != app.config_version],
        "totalSummary": instances,
    }
    for name, members in groups.items():
        if members:
            out[name] = _stats(core, members, now)
    return out


def normalise_embeds(embed: Iterable[str]) -> set[str]:
    """`apps.tasks` (the older form marathon-python may send) means `app.tasks`."""
    return {("app." + e[5:]) if e.startswith("apps.") else e for e in embed}


def render_app(core: MarathonCore, app: AppDefinition, embed: Iterable[str] = (), *, single: bool = False) -> Json:
    wanted = normalise_embeds(embed)
    instances = core.instances.of_app(app.id)
    deployments = [r.id for r in core.deployments.of_app(app.id)]
    tasks = None
    if single or "app.tasks" in wanted:
        tasks = [render_task(core, i) for i in instances]
    failure = None
    if single or "app.lastTaskFailure" in wanted:
        failure = last_failure_json(core, app.id)
    stats = task_stats(core, app, instances) if "app.taskStats" in wanted else None
    return app_json(core.cache.get(app), app_counts(core, instances), deployments, tasks=tasks,
                    last_failure=failure, task_stats=stats,
                    readiness=core.readiness.results_json(app.id) if "app.readiness" in wanted else None)


def _matches(app: AppDefinition, cmd: str | None, id_part: str | None, label: str | None) -> bool:
    if cmd is not None and cmd not in (app.cmd or ""):
        return False
    if id_part is not None and id_part not in app.id:
        return False
    if label is not None:
        for clause in filter(None, (c.strip() for c in label.split(","))):
            key, op, value = (clause.partition("==") if "==" in clause else clause.partition("!="))
            if not op:
                if clause not in app.labels:
                    return False
            elif op == "==" and app.labels.get(key.strip()) != value.strip():
                return False
            elif op == "!=" and app.labels.get(key.strip()) == value.strip():
                return False
    return True


def render_apps(core: MarathonCore, embed: Iterable[str], cmd: str | None = None, id_part: str | None = None,
                label: str | None = None) -> list[Json]:
    wanted = normalise_embeds(embed)
    return [render_app(core, app, wanted) for app in sorted(core.root.apps.values(), key=lambda a: a.id)
            if _matches(app, cmd, id_part, label)]


def render_group(core: MarathonCore, root: RootGroup, group_id: str, embed_apps: bool = True) -> Json:
    apps, groups = root.children(group_id)
    meta = root.groups.get(group_id)
    return group_json(
        group_id,
        (render_app(core, a) for a in apps) if embed_apps else (),
        (render_group(core, root, g.id, embed_apps) for g in groups),
        meta.dependencies if meta else [],
        (meta.version if meta and meta.version else root.version),
    )


def render_deployments(core: MarathonCore) -> list[Json]:
    return [deployment_json(run, core.readiness.results_json) for run in core.deployments.runs.values()]


def render_queue(core: MarathonCore, embed_offers: bool) -> list[Json]:
    now = core.clock.monotonic()
    out = []
    for entry in core.queue.pending():
        app = core.root.apps.get(entry.app_id)
        if app is None:
            continue
        left = entry.backoff.time_left(now)
        item: Json = {
            "count": entry.count,
            "delay": {"timeLeftSeconds": round(left, 3), "overdue": left <= 0},
            "overdue": left <= 0,
            "since": format_time(entry.since),
            "processedOffersSummary": {
                "processedOffersCount": entry.processed,
                "unusedOffersCount": entry.unused,
                "lastUnusedOfferAt": format_time(entry.last_unused_at) if entry.last_unused_at else None,
                "lastUsedOfferAt": format_time(entry.last_used_at) if entry.last_used_at else None,
                "rejectSummaryLastOffers": [
                    {"reason": reason, "declined": entry.rejects.get(reason, 0), "processed": entry.processed}
                    for reason in _REASONS
                ],
            },
            "app": render_app(core, app),
        }
        if embed_offers:
            item["lastUnusedOffers"] = [
                {"offer": {"id": o.offer_id, "agentId": o.agent_id, "hostname": o.hostname, "resources": [],
                           "attributes": []},
                 "reason": list(o.reasons), "timestamp": format_time(o.timestamp)}
                for o in entry.last_unused_offers
            ]
        out.append(item)
    return out


_REASONS = ("UnfulfilledRole", "UnfulfilledConstraint", "NoCorrespondingReservationFound", "AgentMaintenance",
            "InsufficientCpus", "InsufficientMemory", "InsufficientDisk", "InsufficientGpus", "InsufficientPorts",
            "DeclinedScarceResources")
