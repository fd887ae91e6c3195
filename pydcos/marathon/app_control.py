"""What one app needs right now: how many instances should wait to launch, which to kill, and
whether the deployment action on it is complete. Pure.

| action | goal |
|---|---|
| none (steady) | `instances` active instances, whatever their version (failed ones are replaced) |
| StartApplication | nothing to do (the app starts at 0; a ScaleApplication follows) |
| ScaleApplication | `instances` active, all healthy, nothing left being killed |
| RestartApplication | replace outdated instances, never fewer than `minimumHealthCapacity * n` healthy and never more than `(1 + maximumOverCapacity) * n` in all |
| StopApplication | nothing left |

>>> from pydcos.marathon.model import AppDefinition
>>> app = AppDefinition(id="/web", cmd="x", instances=3)
>>> decide(app, [], "ScaleApplication", healthy=lambda i: True)
AppDecision(launch=3, kill=[], done=False)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydcos.marathon.instances import Instance
from pydcos.marathon.model import AppDefinition
from pydcos.marathon.planner import ActionKind


@dataclass(frozen=True)
class AppDecision:
    launch: int = 0
    kill: list[str] = field(default_factory=list)
    done: bool = True


HOLD = AppDecision(0, [], False)


def kill_order(instances: Sequence[Instance], selection: str) -> list[Instance]:
    """Instances in the order they should go: not yet running first, then by age."""
    youngest_first = selection != "OLDEST_FIRST"
    return sorted(instances, key=lambda i: (i.running, -i.staged_at if youngest_first else i.staged_at))


def _scale(app: AppDefinition, instances: Sequence[Instance], target: int,
           healthy: Callable[[Instance], bool]) -> AppDecision:
    active = [i for i in instances if i.active]
    launch = max(0, target - len(active))
    excess = len(active) - target
    kill = [i.task_id for i in kill_order(active, app.kill_selection)[:excess]] if excess > 0 else []
    done = (len(active) == target and all(healthy(i) for i in active)
            and not any(i.killing for i in instances))
    return AppDecision(launch, kill, done)


def _restart(app: AppDefinition, instances: Sequence[Instance], healthy: Callable[[Instance], bool]) -> AppDecision:
    n = app.instances
    active = [i for i in instances if i.active]
    new = [i for i in active if i.config_version == app.config_version]
    old = [i for i in active if i.config_version != app.config_version]
    strategy = app.upgrade_strategy
    min_healthy = math.ceil(n * strategy.minimum_health_capacity)
    max_capacity = math.floor(n * (1 + strategy.maximum_over_capacity))
    if old and n > 0 and max_capacity <= min_healthy:
        max_capacity = min_healthy + 1  # otherwise nothing may start and nothing may stop
    kill: list[str] = []
    if len(new) > n:
        kill += [i.task_id for i in kill_order(new, app.kill_selection)[: len(new) - n]]
        new = [i for i in new if i.task_id not in kill]
    healthy_new = sum(1 for i in new if healthy(i))
    unhealthy_old = [i for i in old if not healthy(i)]
    healthy_old = [i for i in old if healthy(i)]
    kill += [i.task_id for i in unhealthy_old]
    spare = max(0, len(healthy_old) + healthy_new - min_healthy)
    kill += [i.task_id for i in kill_order(healthy_old, app.kill_selection)[:spare]]
    remaining_old = len(old) - len(unhealthy_old) - min(spare, len(healthy_old))
    launch = max(0, min(n - len(new), max_capacity - remaining_old - len(new)))
    done = (not old and len(new) == n and healthy_new == n and not any(i.killing for i in instances))
    return AppDecision(launch, kill, done)


def decide(app: AppDefinition | None, instances: Sequence[Instance], action: ActionKind | None, *,
           healthy: Callable[[Instance], bool], held: bool = False) -> AppDecision:
    """The decision for one app (`app` None = removed: everything goes)."""
    if held:
        return HOLD
    if app is None or action == "StopApplication":
        kill = [i.task_id for i in instances if not i.killing and not i.terminal]
        return AppDecision(0, kill, done=not instances)
    if action == "StartApplication":
        return AppDecision(0, [], True)
    if action == "RestartApplication":
        return _restart(app, instances, healthy)
    return _scale(app, instances, app.instances, healthy)
