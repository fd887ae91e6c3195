"""`wipe=true` on task kills (Marathon 1.4): the instance is killed and forgotten at once."""

from __future__ import annotations

from core_helpers import Harness

from pydcos.marathon import commands, records


def _running(h: Harness, n: int) -> list[str]:
    h.create(f'{{"id": "/svc", "cmd": "x", "cpus": 0.1, "instances": {n}}}')
    tasks = [t.task_id.value for t in h.offer()]
    for t in tasks:
        h.update(t, "TASK_RUNNING")
    h.take_calls()
    return tasks


def test_wipe_kills_and_forgets_at_once_and_the_app_gets_a_replacement() -> None:
    h = Harness()
    tasks = _running(h, 2)
    killed, plan = commands.kill_tasks(h.core, [tasks[0]], scale=False, force=False, wipe=True)
    h.drain()
    assert plan is None and [i.task_id for i in killed] == [tasks[0]]
    assert h.kills() == [tasks[0]]
    assert h.core.instances.get(tasks[0]) is None  # not waiting for TASK_KILLED
    assert records.instance_key(tasks[0]) not in h.store
    [replacement] = h.offer()
    # Mesos confirms the kill later: a terminal update of a task we no longer know changes nothing.
    h.update(tasks[0], "TASK_KILLED")
    assert h.kills() == [] and "/svc" not in h.core.last_failures
    assert {i.task_id for i in h.core.instances} == {tasks[1], replacement.task_id.value}


def test_without_wipe_the_instance_stays_until_mesos_confirms() -> None:
    h = Harness()
    tasks = _running(h, 1)
    commands.kill_tasks(h.core, [tasks[0]], scale=False, force=False)
    h.drain()
    assert h.core.instances.get(tasks[0]) is not None
    h.update(tasks[0], "TASK_KILLED")
    assert h.core.instances.get(tasks[0]) is None


def test_wipe_with_scale_lowers_the_count_and_launches_nothing() -> None:
    h = Harness()
    tasks = _running(h, 3)
    _, plan = commands.kill_tasks(h.core, tasks[:2], scale=True, force=False, wipe=True)
    h.drain()
    assert plan is not None and h.core.root.apps["/svc"].instances == 1
    assert sorted(h.kills()) == sorted(tasks[:2])
    assert [i.task_id for i in h.core.instances] == [tasks[2]]
    assert h.offer() == []
    assert not h.core.deployments.runs


def test_wiping_unknown_ids_does_nothing() -> None:
    h = Harness()
    _running(h, 1)
    killed, plan = commands.kill_tasks(h.core, ["svc.nope"], scale=False, force=False, wipe=True)
    h.drain()
    assert killed == [] and plan is None and h.kills() == [] and len(h.core.instances) == 1
