"""The deployment planner and the group tree it works on."""

from __future__ import annotations

from pydcos.marathon.groups import RootGroup, assign_service_ports, dependency_layers, id_collisions
from pydcos.marathon.model import AppDefinition, GroupMeta, PortDefinition, VersionInfo
from pydcos.marathon.planner import plan, revert


def app(app_id: str, version: str = "v1", instances: int = 1, config: str | None = None, **kw: object) -> AppDefinition:
    info = VersionInfo(last_scaling_at=version, last_config_change_at=config or version)
    return AppDefinition(id=app_id, cmd="x", instances=instances, version=version, version_info=info, **kw)  # type: ignore[arg-type]


def tree(*apps: AppDefinition) -> RootGroup:
    root = RootGroup()
    for a in apps:
        root = root.with_app(a, a.version)
    return root


def actions(p: object) -> list[list[str]]:
    return [[f"{a.action}:{a.app_id}" for a in step] for step in p.steps]  # type: ignore[attr-defined]


def test_new_app_starts_then_scales() -> None:
    p = plan(RootGroup(), tree(app("/web", instances=2)), "d", "v1")
    assert actions(p) == [["StartApplication:/web"], ["ScaleApplication:/web"]]
    assert p.affected_apps == ["/web"] and p.original == {"/web": None}


def test_new_app_with_no_instances_only_starts() -> None:
    assert actions(plan(RootGroup(), tree(app("/web", instances=0)), "d", "v1")) == [["StartApplication:/web"]]


def test_scale_only_change_scales() -> None:
    before = tree(app("/web", "v1", 1))
    after = tree(app("/web", "v2", 5, config="v1"))
    assert actions(plan(before, after, "d", "v2")) == [["ScaleApplication:/web"]]


def test_config_change_restarts_and_removal_stops_first() -> None:
    before = tree(app("/web", "v1"), app("/old", "v1"))
    after = tree(app("/web", "v2"))
    assert actions(plan(before, after, "d", "v2")) == [["StopApplication:/old"], ["RestartApplication:/web"]]


def test_unchanged_tree_plans_nothing() -> None:
    root = tree(app("/web"))
    assert plan(root, root, "d", "v1").steps == ()


def test_dependencies_come_first_in_layers() -> None:
    db = app("/prod/db")
    cache = app("/prod/cache")
    web = app("/prod/web", dependencies=["/prod/db", "cache"])
    lb = app("/lb", dependencies=["/prod"])
    p = plan(RootGroup(), tree(db, cache, web, lb), "d", "v1")
    scale_steps = actions(p)[1:]
    assert scale_steps == [["ScaleApplication:/prod/cache", "ScaleApplication:/prod/db"],
                           ["ScaleApplication:/prod/web"], ["ScaleApplication:/lb"]]


def test_group_dependencies_apply_to_their_apps() -> None:
    root = tree(app("/db"), app("/front/web"))
    root = root.with_group(GroupMeta(id="/front", dependencies=["/db"]), "v1")
    layers, cyclic = dependency_layers(root)
    assert layers == {"/db": 0, "/front/web": 1} and cyclic == []


def test_cycles_are_found() -> None:
    _, cyclic = dependency_layers(tree(app("/a", dependencies=["/b"]), app("/b", dependencies=["/a"])))
    assert cyclic


def test_revert_puts_the_original_back() -> None:
    before = tree(app("/web", "v1"))
    after = tree(app("/web", "v2"), app("/new", "v2"))
    p = plan(before, after, "d", "v2")
    back = revert(after, p, "v3")
    assert set(back.apps) == {"/web"} and back.apps["/web"].version == "v1"


def test_service_ports_are_assigned_uniquely_and_kept() -> None:
    first, _ = assign_service_ports(RootGroup(), app("/a", port_definitions=[PortDefinition(0), PortDefinition(0)]),
                                    None, (10000, 20000))
    assert first.service_ports == [10000, 10001]
    root = tree(first)
    second, _ = assign_service_ports(root, app("/b", port_definitions=[PortDefinition(0)]), None, (10000, 20000))
    assert second.service_ports == [10002]
    again, _ = assign_service_ports(root, app("/a", port_definitions=[PortDefinition(0), PortDefinition(0)]), first,
                                    (10000, 20000))
    assert again.service_ports == [10000, 10001]


def test_service_ports_run_out() -> None:
    _, problems = assign_service_ports(RootGroup(), app("/a", port_definitions=[PortDefinition(0)] * 3), None,
                                       (10000, 10001))
    assert problems and problems[0].path == "/portDefinitions(2)/port"


def test_app_cannot_replace_a_group_or_sit_below_an_app() -> None:
    root = tree(app("/g/web"))
    assert id_collisions(root, ["/g"])
    assert id_collisions(root, ["/g/web/x"])
    assert not id_collisions(root, ["/g/api"])


def test_removing_a_group_removes_everything_below() -> None:
    root = tree(app("/g/a"), app("/g/sub/b"), app("/h"))
    left = root.without_group("/g", "v2")
    assert set(left.apps) == {"/h"} and "/g/sub" not in left.groups and "/" in left.groups
