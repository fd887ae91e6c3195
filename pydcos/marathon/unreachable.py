"""Instances on unreachable agents and the app's `unreachableStrategy` (Marathon 1.4). Pure.

Marathon registers as PARTITION_AWARE, so when an agent goes silent the master reports its tasks
TASK_UNREACHABLE (not TASK_LOST): they may come back. The instance is kept and still counts
toward the app's instances; after `inactiveAfterSeconds` it stops counting, so a replacement is
launched; after `expungeAfterSeconds` it is forgotten (and killed as an unknown task if it ever
comes back). With `"disabled"` it is never given up. Time is the wall clock, kept with the
instance, so a restarted Marathon goes on counting where it stopped.

>>> from pydcos.marathon.model import UnreachableEnabled
>>> verdict(UnreachableEnabled(inactive_after_seconds=60, expunge_after_seconds=120), since=0.0, now=59.0)
'unreachable'
>>> verdict(UnreachableEnabled(inactive_after_seconds=60, expunge_after_seconds=120), since=0.0, now=60.0)
'inactive'
>>> verdict("disabled", since=0.0, now=1e9)
'unreachable'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydcos.core.log import get_logger
from pydcos.marathon import records
from pydcos.marathon.instances import Instance
from pydcos.marathon.model import AppDefinition, UnreachableEnabled, UnreachableStrategy

if TYPE_CHECKING:
    from pydcos.marathon.core import MarathonCore

log = get_logger("pydcos.marathon.unreachable")

UNREACHABLE = "TASK_UNREACHABLE"
Verdict = Literal["unreachable", "inactive", "expunge"]


def verdict(strategy: UnreachableStrategy, *, since: float, now: float) -> Verdict:
    """What an instance unreachable since `since` is at `now` under `strategy`."""
    if isinstance(strategy, str):  # "disabled"
        return "unreachable"
    elapsed = now - since
    if elapsed >= strategy.expunge_after_seconds:
        return "expunge"
    if elapsed >= strategy.inactive_after_seconds:
        return "inactive"
    return "unreachable"


def strategy_of(app: AppDefinition | None) -> UnreachableStrategy:
    """The app's strategy; the default one for an instance whose app is gone."""
    return app.unreachable_strategy if app is not None else UnreachableEnabled()


def note_state(instance: Instance, when: float) -> bool:
    """Keep the instance's unreachable bookkeeping in step with its (new) state; True if it changed.

    Entering TASK_UNREACHABLE starts the clock (a repeated report keeps the first time); any
    other state (it came back, or ended) stops it."""
    if instance.state == UNREACHABLE:
        if instance.unreachable_since is None:
            instance.unreachable_since = when
            return True
        return False
    if instance.unreachable_since is None and not instance.unreachable_inactive:
        return False
    instance.unreachable_since = None
    instance.unreachable_inactive = False
    return True


@dataclass
class Due:
    """Unreachable instances whose strategy now says: stop counting them, or forget them."""

    inactive: list[Instance] = field(default_factory=list)
    expunge: list[Instance] = field(default_factory=list)


def due(instances: Iterable[Instance], strategy_of: Callable[[Instance], UnreachableStrategy], now: float) -> Due:
    """Among `instances`, those whose unreachable time crossed a limit of their app's strategy."""
    out = Due()
    for instance in instances:
        since = instance.unreachable_since
        if since is None or instance.state != UNREACHABLE:
            continue
        found = verdict(strategy_of(instance), since=since, now=now)
        if found == "expunge":
            out.expunge.append(instance)
        elif found == "inactive" and not instance.unreachable_inactive:
            out.inactive.append(instance)
    return out


def apply(core: MarathonCore, instances: Iterable[Instance]) -> None:
    """Act on what the strategies say now: stop counting (the app then launches a replacement)
    or expunge. Called for an instance as it turns unreachable, and for all of them every tick."""
    def strategy(i: Instance) -> UnreachableStrategy:
        return strategy_of(core.root.apps.get(i.app_id) or core.app_for(i))

    # (a kill retry in the same tick may have expunged one already)
    current = [i for i in instances if core.instances.get(i.task_id) is i]
    found = due(current, strategy, core.clock.wall())
    for instance in found.inactive:
        instance.unreachable_inactive = True
        core.persist(records.instance_key(instance.task_id), records.encode(instance))
        core.touch([instance.app_id])
        log.event("unreachable_instance_inactive", task_id=instance.task_id)
    for instance in found.expunge:
        core.expunge(instance.task_id, "unreachable longer than expungeAfterSeconds")
