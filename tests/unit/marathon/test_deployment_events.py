"""Deployment and group-change events: the whole tree before and after in every plan, the step each
event is about, step failures on cancel, group_change_success/failed. Pure, fake clock."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from core_helpers import Harness

from pydcos.marathon import commands, storage
from pydcos.marathon.core import MarathonCore
from pydcos.marathon.errors import DeploymentLocked
from pydcos.marathon.events import PlanView, changed_group, common_group, tree_json
from pydcos.marathon.groups import RootGroup
from pydcos.marathon.model import APP_SPEC_DECODER, AppDefinition, GroupMeta
from pydcos.marathon.planner import plan
from pydcos.marathon.render import app_definition_json
from pydcos.marathon.wire import encode_json
from pydcos.store import MemoryStore

Json = dict[str, Any]


def _wire(events: list[Json]) -> list[Json]:
    """The events as a client decodes them (the plan travels pre-encoded, as msgspec.Raw)."""
    return [msgspec.json.decode(encode_json(e)) for e in events]


def _events(h: Harness, kind: str) -> list[Json]:
    return [e for e in _wire(h.events) if e["eventType"] == kind]


def _app_ids(group: Json) -> list[str]:
    return [a["id"] for a in group["apps"]] + [i for g in group["groups"] for i in _app_ids(g)]


def _scale(h: Harness, app_id: str, n: int, force: bool = False) -> Any:
    spec = APP_SPEC_DECODER.decode(f'{{"instances": {n}}}'.encode())
    out = commands.put_apps(h.core, [(spec, app_id)], create_only=False, force=force)
    h.drain()
    return out


def test_tree_json_nests_groups_and_keeps_every_app() -> None:
    root = RootGroup()
    for app_id in ("/a", "/prod/web", "/prod/db/main", "/prod/db/replica"):
        root = root.with_app(AppDefinition(id=app_id, cmd="x", version="v1"), "v1")
    root = root.with_group(GroupMeta(id="/empty", dependencies=["/prod"]), "v2")
    tree = tree_json(root, app_definition_json)
    assert tree["id"] == "/" and [a["id"] for a in tree["apps"]] == ["/a"]
    assert [g["id"] for g in tree["groups"]] == ["/empty", "/prod"]
    empty, prod = tree["groups"]
    assert empty["dependencies"] == ["/prod"] and empty["apps"] == [] and empty["groups"] == []
    assert [g["id"] for g in prod["groups"]] == ["/prod/db"]
    assert sorted(_app_ids(tree)) == ["/a", "/prod/db/main", "/prod/db/replica", "/prod/web"]
    assert all(set(g) == {"id", "apps", "groups", "dependencies", "version"} for g in (tree, empty, prod))


def test_every_deployment_event_carries_the_whole_tree_before_and_after() -> None:
    h = Harness()
    h.create('{"id": "/other/keep", "cmd": "x", "cpus": 0.1}')
    h.run_all(h.offer())
    h.events.clear()
    created = h.create('{"id": "/web", "cmd": "x", "cpus": 0.1, "instances": 2}')
    h.run_all(h.offer())
    kinds = [e["eventType"] for e in h.events if e["eventType"].startswith(("deployment", "group_change"))]
    assert kinds == ["deployment_info", "group_change_success", "deployment_step_success", "deployment_info",
                     "deployment_step_success", "deployment_success"]
    plans = [e["plan"] for e in h.events if "plan" in e]
    assert all(p is plans[0] for p in plans)  # rendered and encoded once, shared by every event
    events = _wire(h.events)
    p = next(e["plan"] for e in events if "plan" in e)
    assert set(p) == {"id", "version", "original", "target", "steps"} and p["id"] == created.id
    assert sorted(_app_ids(p["original"])) == ["/other/keep"]
    assert sorted(_app_ids(p["target"])) == ["/other/keep", "/web"]
    assert p["steps"] == [{"actions": [{"action": "StartApplication", "app": "/web"}]},
                          {"actions": [{"action": "ScaleApplication", "app": "/web"}]}]
    info1, success1, info2, success2 = (e for e in events if "currentStep" in e)
    assert info1["currentStep"] == success1["currentStep"] == {"actions": [{"action": "StartApplication",
                                                                             "app": "/web"}]}
    assert info2["currentStep"] == success2["currentStep"] == {"actions": [{"action": "ScaleApplication",
                                                                             "app": "/web"}]}
    assert _events(h, "deployment_success")[0]["id"] == created.id
    assert _events(h, "group_change_success") == [{"groupId": "/", "version": created.version,
                                                   "eventType": "group_change_success",
                                                   "timestamp": _events(h, "group_change_success")[0]["timestamp"]}]


def test_a_forced_deployment_fails_the_step_under_way_then_the_deployment() -> None:
    h = Harness()
    first = h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1, "instances": 2}')
    h.events.clear()
    second = _scale(h, "/svc", 5, force=True)
    kinds = [e["eventType"] for e in h.events if e["eventType"].startswith(("deployment", "group_change"))]
    assert kinds[:2] == ["deployment_step_failure", "deployment_failed"]
    failure, failed = _wire(h.events[:2])
    assert failure["plan"]["id"] == first.id and failed["id"] == first.id
    assert failure["currentStep"] == {"actions": [{"action": "ScaleApplication", "app": "/svc"}]}
    assert "/svc" in _app_ids(failure["plan"]["target"])
    assert _events(h, "group_change_success")[0]["version"] == second.version


def test_a_refused_change_is_a_group_change_failed_and_changes_nothing() -> None:
    h = Harness()
    first = h.create('{"id": "/prod/svc", "cmd": "x", "cpus": 0.1, "instances": 2}')
    h.events.clear()
    with pytest.raises(DeploymentLocked):
        _scale(h, "/prod/svc", 5)
    h.drain()
    [failed] = _wire(h.events)
    assert failed["eventType"] == "group_change_failed" and failed["groupId"] == "/prod"
    assert first.id in failed["reason"] and failed["version"]
    assert h.core.root.apps["/prod/svc"].instances == 2 and list(h.core.deployments.runs) == [first.id]


def test_rollback_fails_the_old_deployment_and_starts_the_way_back() -> None:
    h = Harness()
    h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1}')
    h.run_all(h.offer())
    update = commands.put_apps(h.core, [(APP_SPEC_DECODER.decode(b'{"cmd": "y"}'), "/svc")], create_only=False,
                               force=False)
    h.drain()
    h.events.clear()
    back = commands.cancel_deployment(h.core, update.id, force=False)
    h.drain()
    assert back is not None
    kinds = [e["eventType"] for e in h.events if e["eventType"].startswith(("deployment", "group_change"))]
    assert kinds[:4] == ["deployment_step_failure", "deployment_failed", "deployment_info", "group_change_success"]
    events = _wire(h.events)
    assert events[0]["plan"]["id"] == update.id and events[2]["plan"]["id"] == back.id


def test_a_forced_cancel_is_a_step_failure_too() -> None:
    h = Harness()
    first = h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1}')
    h.events.clear()
    commands.cancel_deployment(h.core, first.id, force=True)
    h.drain()
    assert [e["eventType"] for e in h.events] == ["deployment_step_failure", "deployment_failed"]


async def test_a_deployment_restored_after_a_restart_still_shows_whole_trees() -> None:
    h = Harness()
    h.create('{"id": "/keep", "cmd": "x", "cpus": 0.1}')
    h.run_all(h.offer())
    running = h.create('{"id": "/g/new", "cmd": "x", "cpus": 0.1}')
    store = MemoryStore()
    await store.put_many(list(h.store.items()))
    fresh = MarathonCore(h.core.config, h.clock, lambda: "n1")
    fresh.listening = lambda event_type: True
    fresh.restore(await storage.load(store))
    commands.cancel_deployment(fresh, running.id, force=True)
    out = _wire([i.render() for i in fresh.drain() if hasattr(i, "render")])
    failed = next(e for e in out if e["eventType"] == "deployment_failed")
    assert sorted(_app_ids(failed["plan"]["target"])) == ["/g/new", "/keep"]
    assert sorted(_app_ids(failed["plan"]["original"])) == ["/keep"]


def test_plan_view_renders_its_trees_once() -> None:
    calls: list[str] = []

    def definition(app: AppDefinition) -> Json:
        calls.append(app.id)
        return app_definition_json(app)

    before = RootGroup().with_app(AppDefinition(id="/a", cmd="x", version="v1"), "v1")
    after = before.with_app(AppDefinition(id="/b", cmd="x", version="v2"), "v2")
    view = PlanView(plan(before, after, "d1", "v2"), before, after, definition)
    assert view.raw() is view.raw()
    assert sorted(calls) == ["/a", "/a", "/b"]
    assert [a["id"] for a in view.json()["target"]["apps"]] == ["/a", "/b"]


@pytest.mark.parametrize(("paths", "group"), [
    ([], "/"), (["/"], "/"), (["/a"], "/a"), (["/a/b", "/a/c"], "/a"), (["/a/b", "/ab"], "/"),
    (["/a/b/c", "/a/b"], "/a/b"),
])
def test_common_group(paths: list[str], group: str) -> None:
    assert common_group(paths) == group


def test_changed_group_is_the_apps_group_or_the_changed_groups() -> None:
    empty = RootGroup()
    one = empty.with_app(AppDefinition(id="/prod/web", cmd="x"), "v1")
    assert changed_group(empty, one, ["/prod/web"]) == "/prod"
    deps = one.with_group(GroupMeta(id="/prod", dependencies=["/db"]), "v2")
    assert changed_group(one, deps, []) == "/prod"
    assert changed_group(one, one, []) == "/"
