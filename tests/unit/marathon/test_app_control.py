"""What an app needs now: scaling, rolling restarts within the upgrade strategy, stopping."""

from __future__ import annotations

from pydcos.marathon.app_control import decide
from pydcos.marathon.instances import Instance
from pydcos.marathon.model import AppDefinition, UpgradeStrategy, VersionInfo


def app(n: int, config: str = "c2", min_health: float = 1.0, over: float = 1.0, **kw: object) -> AppDefinition:
    return AppDefinition(id="/web", cmd="x", instances=n, version=config,
                         version_info=VersionInfo(config, config),
                         upgrade_strategy=UpgradeStrategy(min_health, over), **kw)  # type: ignore[arg-type]


def inst(n: int, config: str = "c1", state: str = "TASK_RUNNING", staged: float = 0.0) -> Instance:
    return Instance(task_id=f"t{n}", app_id="/web", version=config, config_version=config, agent_id="a",
                    host="h", state=state, staged_at=staged or float(n))


def healthy(i: Instance) -> bool:
    return i.running


def test_scale_up_launches_the_difference() -> None:
    d = decide(app(3, "c1"), [inst(1)], "ScaleApplication", healthy=healthy)
    assert d.launch == 2 and d.kill == [] and not d.done


def test_scale_down_kills_staged_first_then_youngest() -> None:
    instances = [inst(1), inst(2), inst(3, state="TASK_STAGING"), inst(4)]
    d = decide(app(2, "c1"), instances, "ScaleApplication", healthy=healthy)
    assert d.kill == ["t3", "t4"]


def test_oldest_first_kill_selection() -> None:
    instances = [inst(1), inst(2), inst(3)]
    d = decide(app(1, "c1", kill_selection="OLDEST_FIRST"), instances, None, healthy=healthy)
    assert d.kill == ["t1", "t2"]


def test_scale_is_done_only_when_all_are_healthy_and_kills_confirmed() -> None:
    instances = [inst(1), inst(2, state="TASK_STAGING")]
    assert not decide(app(2, "c1"), instances, "ScaleApplication", healthy=healthy).done
    instances[1].state = "TASK_RUNNING"
    assert decide(app(2, "c1"), instances, "ScaleApplication", healthy=healthy).done
    instances.append(inst(3))
    instances[2].killing = True
    assert not decide(app(2, "c1"), instances, "ScaleApplication", healthy=healthy).done


def test_killing_instances_do_not_count_so_replacements_start() -> None:
    instances = [inst(1), inst(2)]
    instances[0].killing = True
    assert decide(app(2, "c1"), instances, None, healthy=healthy).launch == 1


def test_rolling_restart_with_default_strategy_starts_all_new_first() -> None:
    # minimumHealthCapacity 1, maximumOverCapacity 1: n new may start beside n old
    old = [inst(i) for i in range(3)]
    d = decide(app(3), old, "RestartApplication", healthy=healthy)
    assert d.launch == 3 and d.kill == []


def test_rolling_restart_kills_one_old_per_new_healthy() -> None:
    old = [inst(i) for i in range(3)]
    new = [inst(10, "c2"), inst(11, "c2", state="TASK_STAGING")]
    d = decide(app(3, min_health=1.0, over=0.34), old + new, "RestartApplication", healthy=healthy)
    assert len(d.kill) == 1 and d.kill[0].startswith("t") and d.kill[0] not in ("t10", "t11")


def test_rolling_restart_half_capacity_kills_half_at_once() -> None:
    old = [inst(i) for i in range(4)]
    d = decide(app(4, min_health=0.5, over=0.0), old, "RestartApplication", healthy=healthy)
    assert len(d.kill) == 2 and d.launch == 2


def test_strategy_that_would_deadlock_gets_one_extra() -> None:
    old = [inst(i) for i in range(2)]
    d = decide(app(2, min_health=1.0, over=0.0), old, "RestartApplication", healthy=healthy)
    assert d.kill == [] and d.launch == 1


def test_restart_done_when_only_new_healthy_remain() -> None:
    new = [inst(10, "c2"), inst(11, "c2")]
    assert decide(app(2), new, "RestartApplication", healthy=healthy).done


def test_unhealthy_old_instances_go_at_once() -> None:
    old = [inst(1), inst(2, state="TASK_STAGING")]
    d = decide(app(2, min_health=1.0, over=0.0), old, "RestartApplication", healthy=healthy)
    assert "t2" in d.kill


def test_stop_kills_everything_and_is_done_when_gone() -> None:
    d = decide(None, [inst(1), inst(2)], "StopApplication", healthy=healthy)
    assert sorted(d.kill) == ["t1", "t2"] and not d.done
    assert decide(None, [], "StopApplication", healthy=healthy).done


def test_held_app_does_nothing() -> None:
    d = decide(app(3), [], None, healthy=healthy, held=True)
    assert d.launch == 0 and d.kill == [] and not d.done
