"""Kept versions of the group tree: bounded, stored, restored, and group rollback as a deployment."""

from __future__ import annotations

import json

import pytest
from core_helpers import Harness

from pydcos.marathon import commands, records
from pydcos.marathon.core import CoreConfig, MarathonCore
from pydcos.marathon.errors import DeploymentLocked, NotFound
from pydcos.marathon.group_versions import GroupHistory
from pydcos.marathon.groups import RootGroup
from pydcos.marathon.model import GROUP_SPEC_DECODER, AppDefinition, GroupSpec


def group(h: Harness, group_id: str, apps: list[dict[str, object]], force: bool = False) -> str:
    spec = GROUP_SPEC_DECODER.decode(json.dumps({"id": group_id, "apps": apps}).encode())
    plan = commands.update_group(h.core, spec, group_id, force=force)
    h.drain()
    h.clock.advance(1)
    return plan.version


def sleeper(name: str, cmd: str = "sleep 1", instances: int = 0) -> dict[str, object]:
    return {"id": name, "cmd": cmd, "cpus": 0.1, "mem": 8, "instances": instances}


def snapshot_of(store: dict[str, bytes]) -> records.Snapshot:
    """What storage.load would read back from these keys (only the tree parts and the current state)."""
    snap = records.Snapshot()
    for key, value in store.items():
        if key.startswith(records.GROUP_VERSIONS_PREFIX):
            snap.trees.append(records.TREE_DECODER.decode(value))
        elif key.startswith(records.GROUP_APPS_PREFIX + "/"):
            split = records.split_group_app_key(key)
            assert split is not None
            snap.tree_apps.setdefault(split[0], {})[split[1]] = records.APP_DECODER.decode(value)
        elif key.startswith(records.APPS_PREFIX + "/"):
            app = records.APP_DECODER.decode(value)
            snap.apps[app.id] = app
        elif key == records.GROUPS_KEY:
            snap.groups = records.GROUPS_DECODER.decode(value)
    return snap


def test_every_change_is_a_version_listed_newest_first_where_the_group_exists() -> None:
    h = Harness()
    v1 = group(h, "/prod", [sleeper("a")])
    v2 = group(h, "/prod", [sleeper("a", "sleep 2")])
    v3 = group(h, "/dev", [sleeper("b")])
    history = h.core.group_history
    assert history.versions("/") == [v3, v2, v1]
    assert history.versions("/prod") == [v3, v2, v1]
    assert history.versions("/dev") == [v3]
    old = history.tree(v1)
    assert old is not None and old.apps["/prod/a"].cmd == "sleep 1" and "/dev" not in old.groups


def test_history_is_bounded_and_the_store_keeps_only_what_kept_versions_name() -> None:
    h = Harness(max_versions=2)
    v1 = group(h, "/prod", [sleeper("a")])
    group(h, "/prod", [sleeper("a", "sleep 2")])
    v3 = group(h, "/prod", [sleeper("a", "sleep 3")])
    versions = h.core.group_history.versions()
    assert len(versions) == 2 and versions[0] == v3 and v1 not in versions
    trees = sorted(k for k in h.store if k.startswith(records.GROUP_VERSIONS_PREFIX))
    assert len(trees) == 2 and records.group_version_key(v1) not in h.store
    kept_apps = {records.split_group_app_key(k) for k in h.store if k.startswith(records.GROUP_APPS_PREFIX + "/")}
    named = {(a, v) for k in trees for a, v in records.TREE_DECODER.decode(h.store[k]).apps.items()}
    assert kept_apps == named and len(named) == 2


def test_restore_brings_the_versions_back_and_drops_broken_or_orphaned_records() -> None:
    h = Harness()
    v1 = group(h, "/prod", [sleeper("a")])
    v2 = group(h, "/prod", [sleeper("a", "sleep 2"), sleeper("b")])
    store = dict(h.store)
    orphan = records.group_app_key("/gone", "2000-01-01T00:00:00.000Z")
    store[orphan] = records.encode(AppDefinition(id="/gone", cmd="x"))
    again = MarathonCore(CoreConfig(), h.clock, lambda: "x")
    again.restore(snapshot_of(store))
    assert again.group_history.versions("/prod") == [v2, v1]
    tree = again.group_history.tree(v2)
    assert tree is not None and set(tree.apps) == {"/prod/a", "/prod/b"}
    deleted = [i.key for i in again.drain() if getattr(i, "value", b"") is None]
    assert orphan in deleted

    old = again.group_history.tree(v1)
    assert old is not None
    broken = dict(store)
    del broken[records.group_app_key("/prod/a", old.apps["/prod/a"].version)]
    third = MarathonCore(CoreConfig(), h.clock, lambda: "x")
    third.restore(snapshot_of(broken))
    assert third.group_history.versions() == [v2]  # v1 named a definition that is gone


def test_a_store_without_versions_starts_its_history_with_the_current_tree() -> None:
    h = Harness()
    group(h, "/prod", [sleeper("a")])
    store = {k: v for k, v in h.store.items() if not k.startswith((records.GROUP_VERSIONS_PREFIX,
                                                                     records.GROUP_APPS_PREFIX + "/"))}
    again = MarathonCore(CoreConfig(), h.clock, lambda: "x")
    again.restore(snapshot_of(store))
    assert again.group_history.versions() == [again.root.version]


def test_rollback_puts_the_group_back_as_it_was_including_deleted_apps() -> None:
    h = Harness()
    v1 = group(h, "/prod", [sleeper("a"), sleeper("b")])
    group(h, "/prod", [sleeper("a", "sleep 2", instances=1)])  # /prod/b deleted, /prod/a changed
    group(h, "/other", [sleeper("c")])
    assert "/prod/b" not in h.core.root.apps
    a_before = h.core.root.apps["/prod/a"]
    plan = commands.update_group(h.core, GroupSpec(version=v1), "/prod", force=True)
    h.drain()
    apps = h.core.root.apps
    assert apps["/prod/a"].cmd == "sleep 1" and apps["/prod/a"].instances == 0 and "/prod/b" in apps
    assert apps["/prod/a"].version == plan.version and apps["/prod/a"].config_version == plan.version
    assert a_before.version != plan.version
    assert "/other/c" in apps  # outside the group: untouched
    assert sorted(plan.affected_apps) == ["/prod/a", "/prod/b"]
    assert h.core.group_history.versions("/prod")[0] == plan.version


def test_rollback_of_an_unchanged_app_keeps_it_as_it_is() -> None:
    h = Harness()
    v1 = group(h, "/prod", [sleeper("a"), sleeper("b")])
    group(h, "/prod", [sleeper("a"), sleeper("b", "sleep 9")])
    a = h.core.root.apps["/prod/a"]
    plan = commands.update_group(h.core, GroupSpec(version=v1), "/prod", force=False)
    h.drain()
    assert h.core.root.apps["/prod/a"] is a
    assert plan.affected_apps == ["/prod/b"]


def test_rollback_of_the_root_and_of_a_deleted_group() -> None:
    h = Harness()
    v1 = group(h, "/team/prod", [sleeper("a")])
    commands.delete_group(h.core, "/team", force=False)
    h.drain()
    assert "/team" not in h.core.root.groups
    commands.rollback_group(h.core, "/team/prod", v1, h.core.next_version(), force=False)
    h.drain()
    assert "/team/prod/a" in h.core.root.apps and "/team" in h.core.root.groups
    group(h, "/x", [sleeper("b")])
    commands.update_group(h.core, GroupSpec(version=v1), "/", force=False)
    h.drain()
    assert set(h.core.root.apps) == {"/team/prod/a"}


def test_rollback_to_an_unknown_version_or_group_is_404_and_changes_nothing() -> None:
    h = Harness()
    v1 = group(h, "/prod", [sleeper("a")])
    before = h.core.root
    with pytest.raises(NotFound) as unknown:
        commands.update_group(h.core, GroupSpec(version="2001-01-01T00:00:00.000Z"), "/prod", force=False)
    assert "does not exist in version" in unknown.value.message
    with pytest.raises(NotFound):
        commands.update_group(h.core, GroupSpec(version=v1), "/nope", force=False)
    assert h.core.root is before


def test_rollback_conflicts_with_a_running_deployment_unless_forced() -> None:
    h = Harness()
    v1 = group(h, "/prod", [sleeper("a")])
    group(h, "/prod", [sleeper("a", "sleep 2", instances=2)])  # waits for offers: still deploying
    [running] = h.core.deployments.runs
    with pytest.raises(DeploymentLocked):
        commands.update_group(h.core, GroupSpec(version=v1), "/prod", force=False)
    assert h.core.root.apps["/prod/a"].cmd == "sleep 2"
    commands.update_group(h.core, GroupSpec(version=v1), "/prod", force=True)
    h.drain()
    assert running not in h.core.deployments.runs and "deployment_failed" in h.event_types()
    assert h.core.root.apps["/prod/a"].cmd == "sleep 1"


def test_history_add_is_idempotent_and_skips_the_unversioned_tree() -> None:
    history = GroupHistory(max_versions=3)
    assert history.add(RootGroup()) == []
    root = RootGroup().with_app(AppDefinition(id="/a", version="v1"), "v1")
    assert len(history.add(root)) == 2  # the app's definition, the tree record
    assert history.add(root) == []
    assert len(history) == 1
