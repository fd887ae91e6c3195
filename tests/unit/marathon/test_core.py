"""MarathonCore end to end without sockets: offers, launches, updates, deployments, backoff."""

from __future__ import annotations

import pytest
from core_helpers import Harness

from pydcos.marathon import commands, records, storage
from pydcos.marathon.core import MarathonCore
from pydcos.marathon.errors import AlreadyExists, DeploymentLocked, InvalidInput, NotFound
from pydcos.marathon.model import APP_SPEC_DECODER
from pydcos.store import MemoryStore


def env_of(task: object) -> dict[str, str]:
    return {v.name: v.value for v in task.command.environment.variables}  # type: ignore[attr-defined]


def test_new_app_revives_then_launches_on_the_offer() -> None:
    h = Harness()
    h.take_calls()
    plan = h.create('{"id": "/web", "cmd": "sleep 1", "cpus": 0.5, "mem": 64, "instances": 3}')
    assert [c.type for c in h.take_calls()] == ["REVIVE"]
    tasks = h.offer()
    assert len(tasks) == 3
    task = tasks[0]
    assert task.task_id.value.startswith("web.") and task.name == "web"
    env = env_of(task)
    assert env["MARATHON_APP_ID"] == "/web" and env["HOST"] == "10.0.0.1" and env["PORT0"] == "31000"
    assert env["MARATHON_APP_VERSION"] == plan.version and env["MESOS_TASK_ID"] == task.task_id.value
    assert {env_of(t)["PORT0"] for t in tasks} == {"31000", "31001", "31002"}
    assert task.discovery is not None and task.discovery["name"] == "web"
    h.run_all(tasks)
    assert "deployment_success" in h.event_types()
    assert len(h.core.deployments) == 0


def test_offers_with_nothing_waiting_are_declined_and_suppressed() -> None:
    h = Harness()
    h.take_calls()
    assert h.offer() == []
    calls = h.take_calls()
    assert [c.type for c in calls] == ["DECLINE", "SUPPRESS"]
    assert calls[0].decline is not None and calls[0].decline.filters is not None
    assert calls[0].decline.filters.refuse_seconds == 120.0
    h.offer()
    assert [c.type for c in h.take_calls()] == ["DECLINE"]


def test_offer_too_small_is_declined_and_counted() -> None:
    h = Harness()
    h.create('{"id": "/big", "cmd": "x", "cpus": 8}')
    assert h.offer() == []
    entry = h.core.queue.entries["/big"]
    assert entry.count == 1 and entry.unused == 1 and entry.rejects["InsufficientCpus"] == 1


def test_failed_task_is_replaced_after_backoff() -> None:
    h = Harness()
    h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1, "backoffSeconds": 10, "backoffFactor": 2}')
    [task] = h.offer()
    h.update(task.task_id.value, "TASK_RUNNING")
    h.update(task.task_id.value, "TASK_FAILED", message="boom")
    assert h.core.last_failures["/svc"].message == "boom"
    assert h.offer() == []  # backed off for 10 s
    h.clock.advance(10.1)
    h.take_calls()
    h.core.tick()
    h.drain()
    assert any(c.type == "REVIVE" for c in h.take_calls())
    [again] = h.offer()
    h.update(again.task_id.value, "TASK_FAILED")
    h.clock.advance(10.1)
    assert h.offer() == []  # now 20 s
    h.clock.advance(10)
    assert len(h.offer()) == 1


def test_killed_by_us_is_not_a_failure() -> None:
    h = Harness()
    h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1, "instances": 2}')
    tasks = h.offer()
    h.run_all(tasks)
    killed, _ = commands.kill_tasks(h.core, [tasks[0].task_id.value], scale=False, force=False)
    h.drain()
    assert h.kills() == [tasks[0].task_id.value]
    h.update(tasks[0].task_id.value, "TASK_KILLED")
    assert "/svc" not in h.core.last_failures
    assert len(h.offer()) == 1  # replaced at once, no backoff


def test_kill_with_scale_lowers_instances() -> None:
    h = Harness()
    h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1, "instances": 3}')
    tasks = h.offer()
    h.run_all(tasks)
    _, plan = commands.kill_tasks(h.core, [tasks[1].task_id.value], scale=True, force=False)
    h.drain()
    assert plan is not None and h.core.root.apps["/svc"].instances == 2
    assert h.kills() == [tasks[1].task_id.value]
    assert h.offer() == []


def test_conflicting_change_is_409_unless_forced() -> None:
    h = Harness()
    first = h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1, "instances": 2}')
    spec = APP_SPEC_DECODER.decode(b'{"instances": 5}')
    with pytest.raises(DeploymentLocked) as info:
        commands.put_apps(h.core, [(spec, "/svc")], create_only=False, force=False)
    assert info.value.deployment_ids == [first.id]
    assert h.core.root.apps["/svc"].instances == 2
    commands.put_apps(h.core, [(spec, "/svc")], create_only=False, force=True)
    h.drain()
    assert "deployment_failed" in h.event_types()
    assert first.id not in h.core.deployments.runs
    assert len(h.offer()) == 5


def test_create_existing_app_is_conflict_and_bad_app_is_invalid() -> None:
    h = Harness()
    h.create('{"id": "/svc", "cmd": "x"}')
    with pytest.raises(AlreadyExists):
        h.create('{"id": "/svc", "cmd": "x"}')
    with pytest.raises(InvalidInput) as info:
        h.create('{"id": "/other", "cmd": "x", "cpus": 0}')
    assert info.value.problems[0].path == "/cpus"
    assert "/other" not in h.core.root.apps
    with pytest.raises(InvalidInput):
        h.create('{"id": "/Bad_Id", "cmd": "x"}')


def test_rollback_of_a_deployment_restores_the_previous_app() -> None:
    h = Harness()
    h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1, "instances": 1}')
    h.run_all(h.offer())
    spec = APP_SPEC_DECODER.decode(b'{"cmd": "y"}')
    update = commands.put_apps(h.core, [(spec, "/svc")], create_only=False, force=False)
    h.drain()
    assert [a.action for a in update.steps[0]] == ["RestartApplication"]
    rollback = commands.cancel_deployment(h.core, update.id, force=False)
    h.drain()
    assert rollback is not None and h.core.root.apps["/svc"].cmd == "x"
    with pytest.raises(NotFound):
        commands.cancel_deployment(h.core, update.id, force=False)


def test_rolling_restart_replaces_every_instance() -> None:
    h = Harness()
    h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1, "instances": 2,'
             ' "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}}')
    old = h.offer()
    h.run_all(old)
    commands.restart_app(h.core, "/svc", force=False)
    h.drain()
    killed = h.kills()
    assert len(killed) == 1
    h.update(killed[0], "TASK_KILLED")
    [new] = h.offer()
    h.update(new.task_id.value, "TASK_RUNNING")
    killed = h.kills()
    assert len(killed) == 1 and killed[0] != new.task_id.value
    h.update(killed[0], "TASK_KILLED")
    [new2] = h.offer()
    h.update(new2.task_id.value, "TASK_RUNNING")
    assert len(h.core.deployments) == 0
    assert {i.task_id for i in h.core.instances} == {new.task_id.value, new2.task_id.value}


def test_unknown_running_task_is_killed() -> None:
    h = Harness()
    h.take_calls()
    h.update("ghost.1", "TASK_RUNNING")
    assert h.kills() == ["ghost.1"]


def test_subscribe_reconciles_known_tasks_then_all() -> None:
    h = Harness()
    h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1}')
    [task] = h.offer()
    h.take_calls()
    h.core.subscribed("fw-1")
    h.drain()
    reconciles = [c for c in h.take_calls() if c.type == "RECONCILE"]
    assert len(reconciles) == 2 and reconciles[1].reconcile is not None
    assert [t.task_id.value for t in reconciles[0].reconcile.tasks] == [task.task_id.value]  # type: ignore[union-attr]
    assert reconciles[1].reconcile.tasks == []


def test_dependencies_launch_in_order() -> None:
    h = Harness()
    commands.put_apps(h.core, [(APP_SPEC_DECODER.decode(b'{"id": "/db", "cmd": "x", "cpus": 0.1}'), None),
                               (APP_SPEC_DECODER.decode(b'{"id": "/web", "cmd": "x", "cpus": 0.1, '
                                                        b'"dependencies": ["/db"]}'), None)],
                      create_only=False, force=False, batch=True)
    h.drain()
    first = h.offer()
    assert [t.task_id.value.split(".")[0] for t in first] == ["db"]
    h.run_all(first)
    second = h.offer()
    assert [t.task_id.value.split(".")[0] for t in second] == ["web"]


async def test_state_survives_a_restart_through_the_store() -> None:
    h = Harness()
    h.create('{"id": "/g/svc", "cmd": "x", "cpus": 0.1, "instances": 2}')
    tasks = h.offer()
    h.update(tasks[0].task_id.value, "TASK_RUNNING")
    store = MemoryStore()
    await store.put_many(list(h.store.items()))
    snap = await storage.load(store)
    assert snap.framework_id == "fw-1"
    fresh = MarathonCore(h.core.config, h.clock, lambda: "x")
    fresh.restore(snap)
    assert fresh.root.apps == h.core.root.apps and "/g" in fresh.root.groups
    assert {i.task_id: i.state for i in fresh.instances} == {i.task_id: i.state for i in h.core.instances}
    assert list(fresh.deployments.runs) == list(h.core.deployments.runs)
    assert records.app_key("/g/svc") in h.store


def test_nothing_is_decided_before_mesos_is_reconnected() -> None:
    h = Harness()
    h.create('{"id": "/svc", "cmd": "x", "cpus": 0.1, "instances": 1}')
    [task] = h.offer()
    h.update(task.task_id.value, "TASK_RUNNING")
    h.core.disconnected()
    commands.put_apps(h.core, [(APP_SPEC_DECODER.decode(b'{"instances": 0}'), "/svc")], create_only=False,
                      force=False)
    h.take_calls()
    h.drain()
    assert h.kills() == []
    h.core.subscribed("fw-1")
    h.drain()
    assert h.kills() == [task.task_id.value]
