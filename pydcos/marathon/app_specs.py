"""From what a client sent (`AppSpec`) to the definition Marathon keeps (`AppDefinition`). Pure.

`apply_spec` starts from defaults (POST) or from the app as it is (PUT: only named fields change;
null resets a field to its default). `uris` become `fetch` entries; `ports` become port
definitions. Service ports are assigned later, against the whole tree (groups.py).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from pydcos.marathon.model import (
    AppDefinition,
    AppSpec,
    FetchUri,
    PortDefinition,
    UnreachableEnabled,
    UnreachableStrategy,
    UnreachableStrategySpec,
)

_ARCHIVES = (".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")

# spec field -> definition field, for the fields copied as they are (None = the default)
_PLAIN = (
    "cmd", "args", "user", "instances", "cpus", "mem", "disk", "gpus", "backoff_seconds",
    "backoff_factor", "max_launch_delay_seconds", "container", "health_checks", "readiness_checks",
    "upgrade_strategy", "accepted_resource_roles", "ip_address", "residency", "task_kill_grace_period_seconds",
    "kill_selection", "env", "labels", "store_urls", "secrets", "executor", "require_ports",
)  # fmt: skip


def fetch_of_uri(uri: str) -> FetchUri:
    return FetchUri(uri=uri, extract=uri.lower().endswith(_ARCHIVES))


def _constraint(raw: list[str | int | float]) -> list[str]:
    return [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in raw]


def unreachable_strategy_of(spec: UnreachableStrategySpec | str | None) -> UnreachableStrategy:
    """The strategy a spec asks for: fields not given take Marathon's defaults (not the old values)."""
    if spec is None:
        return UnreachableEnabled()
    if isinstance(spec, str):
        return "disabled"
    default = UnreachableEnabled()
    inactive = spec.inactive_after_seconds if spec.inactive_after_seconds is not UNSET \
        else spec.unreachable_inactive_after_seconds
    expunge = spec.expunge_after_seconds if spec.expunge_after_seconds is not UNSET \
        else spec.unreachable_expunge_after_seconds
    return UnreachableEnabled(
        inactive_after_seconds=default.inactive_after_seconds if inactive is UNSET else inactive,
        expunge_after_seconds=default.expunge_after_seconds if expunge is UNSET else expunge)


def apply_spec(spec: AppSpec, app_id: str, base: AppDefinition | None) -> AppDefinition:
    """The definition `spec` asks for, on top of `base` (None = defaults). Not yet validated."""
    current = base if base is not None else AppDefinition(id=app_id)
    defaults = AppDefinition(id=app_id)
    changes: dict[str, Any] = {"id": app_id}
    for name in _PLAIN:
        value = getattr(spec, name)
        if value is UNSET:
            continue
        changes[name] = getattr(defaults, name) if value is None else value
    if spec.constraints is not UNSET:
        changes["constraints"] = [_constraint(c) for c in (spec.constraints or [])]
    if spec.unreachable_strategy is not UNSET:
        changes["unreachable_strategy"] = unreachable_strategy_of(spec.unreachable_strategy)
    if spec.dependencies is not UNSET:
        changes["dependencies"] = list(spec.dependencies or [])
    if spec.fetch is not UNSET and spec.fetch:
        changes["fetch"] = list(spec.fetch)
    elif spec.uris is not UNSET:
        changes["fetch"] = [fetch_of_uri(u) for u in (spec.uris or [])]
    elif spec.fetch is not UNSET:
        changes["fetch"] = []
    if spec.port_definitions is not UNSET and spec.port_definitions is not None:
        changes["port_definitions"] = list(spec.port_definitions)
    elif spec.ports is not UNSET and spec.ports is not None:
        changes["port_definitions"] = [PortDefinition(port=p) for p in spec.ports]
    elif base is None:
        # Marathon gives every new app one port unless told otherwise.
        changes["port_definitions"] = [PortDefinition(port=0)]
    if spec.cmd is not UNSET and spec.cmd is not None and spec.args is UNSET:
        changes["args"] = None  # switching to cmd drops args (and the other way round)
    if spec.args is not UNSET and spec.args is not None and spec.cmd is UNSET:
        changes["cmd"] = None
    merged = msgspec.structs.replace(current, **changes)
    return merged


def is_scale_only(spec: AppSpec) -> bool:
    """A body that only scales (`{"instances": n}`, maybe with the id): the config is unchanged."""
    named = {f for f in spec.__struct_fields__ if getattr(spec, f) is not UNSET}
    return named <= {"instances", "id"} and "instances" in named


def config_equal(a: AppDefinition, b: AppDefinition) -> bool:
    """Same configuration, ignoring instances and version stamps."""
    strip = {"instances": 0, "version": "", "version_info": None}
    return msgspec.structs.replace(a, **strip) == msgspec.structs.replace(b, **strip)
