"""unreachableStrategy: the pure rules, the app model, and the core acting on TASK_UNREACHABLE with
a fake clock (inactive -> replaced, expunged -> forgotten, back -> counted again)."""

from __future__ import annotations

import msgspec
import pytest
from core_helpers import Harness

from pydcos.marathon import commands, records, storage, unreachable
from pydcos.marathon.app_specs import apply_spec
from pydcos.marathon.core import MarathonCore
from pydcos.marathon.errors import InvalidInput
from pydcos.marathon.instances import Instance
from pydcos.marathon.model import APP_SPEC_DECODER, AppDefinition, UnreachableEnabled
from pydcos.marathon.render import app_definition_json
from pydcos.marathon.validation import validate_app
from pydcos.store import MemoryStore

# --- the pure rules -----------------------------------------------------------------------------


def _instance(state: str = "TASK_RUNNING") -> Instance:
    return Instance(task_id="web.1", app_id="/web", version="v", config_version="v", agent_id="a1", host="h",
                    state=state)


@pytest.mark.parametrize(("elapsed", "expected"), [
    (0.0, "unreachable"), (9.9, "unreachable"), (10.0, "inactive"), (19.9, "inactive"), (20.0, "expunge"),
])
def test_verdict_follows_the_two_limits(elapsed: float, expected: str) -> None:
    strategy = UnreachableEnabled(inactive_after_seconds=10, expunge_after_seconds=20)
    assert unreachable.verdict(strategy, since=100.0, now=100.0 + elapsed) == expected


def test_zero_limits_act_at_once_and_disabled_never() -> None:
    assert unreachable.verdict(UnreachableEnabled(0, 0), since=5.0, now=5.0) == "expunge"
    assert unreachable.verdict(UnreachableEnabled(0, 60), since=5.0, now=5.0) == "inactive"
    assert unreachable.verdict("disabled", since=0.0, now=1e12) == "unreachable"


def test_note_state_starts_the_clock_once_and_stops_it_on_any_other_state() -> None:
    inst = _instance("TASK_UNREACHABLE")
    assert unreachable.note_state(inst, 10.0) and inst.unreachable_since == 10.0
    assert not unreachable.note_state(inst, 20.0) and inst.unreachable_since == 10.0  # repeated report
    inst.unreachable_inactive = True
    inst.state = "TASK_RUNNING"
    assert unreachable.note_state(inst, 30.0)
    assert inst.unreachable_since is None and not inst.unreachable_inactive
    assert not unreachable.note_state(inst, 31.0)


def test_due_sorts_instances_into_inactive_and_expunge() -> None:
    fresh, old, older, back = (_instance("TASK_UNREACHABLE") for _ in range(4))
    fresh.unreachable_since, old.unreachable_since, older.unreachable_since = 95.0, 85.0, 50.0
    back.state = "TASK_RUNNING"
    back.unreachable_since = 0.0  # stale bookkeeping of a state that moved on: ignored
    found = unreachable.due([fresh, old, older, back], lambda i: UnreachableEnabled(10, 20), now=100.0)
    assert found.inactive == [old] and found.expunge == [older]
    old.unreachable_inactive = True
    assert unreachable.due([old], lambda i: UnreachableEnabled(10, 20), now=100.0).inactive == []  # once


def test_an_unreachable_instance_counts_until_it_is_inactive() -> None:
    inst = _instance("TASK_UNREACHABLE")
    assert inst.active
    inst.unreachable_inactive = True
    assert not inst.active
    assert not _instance("TASK_LOST").active


# --- the app model ----------------------------------------------------------------------------------


def _app(body: str) -> AppDefinition:
    return apply_spec(APP_SPEC_DECODER.decode(body.encode()), "/web", None)


def test_defaults_are_marathon_1_4s_and_are_rendered_on_every_app() -> None:
    app = _app('{"cmd": "x"}')
    assert app.unreachable_strategy == UnreachableEnabled(300, 600)
    assert app_definition_json(app)["unreachableStrategy"] == {"inactiveAfterSeconds": 300,
                                                                "expungeAfterSeconds": 600}


@pytest.mark.parametrize(("given", "kept"), [
    ('"disabled"', "disabled"),
    ('{"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}', UnreachableEnabled(0, 0)),
    ('{"inactiveAfterSeconds": 60}', UnreachableEnabled(60, 600)),  # the other one: default
    ('{"unreachableInactiveAfterSeconds": 5, "unreachableExpungeAfterSeconds": 7}', UnreachableEnabled(5, 7)),
    ("null", UnreachableEnabled(300, 600)),
])
def test_strategy_forms_are_accepted(given: str, kept: object) -> None:
    app = _app(f'{{"cmd": "x", "unreachableStrategy": {given}}}')
    assert app.unreachable_strategy == kept
    assert validate_app(app) == []
    rendered = app_definition_json(app)["unreachableStrategy"]
    assert rendered == kept if kept == "disabled" else set(rendered) == {"inactiveAfterSeconds",
                                                                         "expungeAfterSeconds"}


@pytest.mark.parametrize(("given", "path"), [
    ('{"inactiveAfterSeconds": -1, "expungeAfterSeconds": 5}', "/unreachableStrategy/inactiveAfterSeconds"),
    ('{"inactiveAfterSeconds": 0, "expungeAfterSeconds": -5}', "/unreachableStrategy/expungeAfterSeconds"),
    ('{"inactiveAfterSeconds": 700}', "/unreachableStrategy/inactiveAfterSeconds"),  # > default expunge 600
    ('{"inactiveAfterSeconds": 20, "expungeAfterSeconds": 10}', "/unreachableStrategy/inactiveAfterSeconds"),
])
def test_bad_strategies_are_refused_with_their_path(given: str, path: str) -> None:
    problems = validate_app(_app(f'{{"cmd": "x", "unreachableStrategy": {given}}}'))
    assert [p.path for p in problems] == [path]


@pytest.mark.parametrize("given", ['"enabled"', "5", '{"inactiveAfterSeconds": "10"}', '{"expungeAfterSeconds": 1.5}'])
def test_wrong_shapes_are_refused_by_the_decoder(given: str) -> None:
    with pytest.raises(msgspec.ValidationError, match="unreachableStrategy"):
        APP_SPEC_DECODER.decode(f'{{"cmd": "x", "unreachableStrategy": {given}}}'.encode())


def test_a_bad_strategy_changes_nothing() -> None:
    h = Harness()
    h.create('{"id": "/web", "cmd": "x", "cpus": 0.1}')
    spec = APP_SPEC_DECODER.decode(b'{"unreachableStrategy": {"inactiveAfterSeconds": 9, "expungeAfterSeconds": 1}}')
    with pytest.raises(InvalidInput):
        commands.put_apps(h.core, [(spec, "/web")], create_only=False, force=True)
    assert h.core.root.apps["/web"].unreachable_strategy == UnreachableEnabled()


# --- the core ---------------------------------------------------------------------------------------


def _running(h: Harness, body: str) -> str:
    h.create(body)
    [task] = h.offer()
    h.update(task.task_id.value, "TASK_RUNNING")
    assert not h.core.deployments.runs
    return task.task_id.value


def _tick(h: Harness, seconds: float) -> None:
    h.clock.advance(seconds)
    h.core.tick()
    h.drain()


def test_unreachable_instance_is_replaced_after_inactive_and_forgotten_after_expunge() -> None:
    h = Harness()
    old = _running(h, '{"id": "/web", "cmd": "x", "cpus": 0.1, '
                      '"unreachableStrategy": {"inactiveAfterSeconds": 60, "expungeAfterSeconds": 120}}')
    h.update(old, "TASK_UNREACHABLE")
    assert h.core.instances.get(old) is not None and h.core.instances.get(old).unreachable_since is not None  # type: ignore[union-attr]
    assert h.offer() == []  # it still counts: nothing to launch
    _tick(h, 59)
    assert h.offer() == []
    _tick(h, 1)
    [replacement] = h.offer(agent="a2", host="10.0.0.2")
    h.update(replacement.task_id.value, "TASK_RUNNING", agent="a2")
    assert {i.task_id for i in h.core.instances} == {old, replacement.task_id.value}  # kept, inactive
    assert records.instance_key(old) in h.store
    _tick(h, 60)
    assert h.core.instances.get(old) is None
    assert records.instance_key(old) not in h.store
    assert h.offer() == [] and h.kills() == []
    # It comes back after all: an unknown running task, killed.
    h.update(old, "TASK_RUNNING")
    assert h.kills() == [old]


def test_back_before_inactive_it_simply_runs_on() -> None:
    h = Harness()
    old = _running(h, '{"id": "/web", "cmd": "x", "cpus": 0.1}')
    h.update(old, "TASK_UNREACHABLE")
    _tick(h, 299)
    assert h.offer() == []
    h.update(old, "TASK_RUNNING")
    inst = h.core.instances.get(old)
    assert inst is not None and inst.unreachable_since is None
    _tick(h, 1000)
    assert h.offer() == [] and h.kills() == [] and h.core.instances.get(old) is not None


def test_back_after_its_replacement_started_the_excess_is_killed() -> None:
    h = Harness()
    old = _running(h, '{"id": "/web", "cmd": "x", "cpus": 0.1, '
                      '"unreachableStrategy": {"inactiveAfterSeconds": 10, "expungeAfterSeconds": 1000}}')
    h.update(old, "TASK_UNREACHABLE")
    _tick(h, 10)
    [new] = h.offer(agent="a2", host="10.0.0.2")
    h.update(new.task_id.value, "TASK_RUNNING", agent="a2")
    h.update(old, "TASK_RUNNING")
    assert h.kills() == [new.task_id.value]  # two for one: the youngest goes (killSelection)


def test_disabled_never_replaces_and_never_forgets() -> None:
    h = Harness()
    old = _running(h, '{"id": "/web", "cmd": "x", "cpus": 0.1, "unreachableStrategy": "disabled"}')
    h.update(old, "TASK_UNREACHABLE")
    _tick(h, 10 * 365 * 24 * 3600)
    assert h.offer() == [] and h.core.instances.get(old) is not None


def test_zero_strategy_replaces_and_forgets_at_once() -> None:
    h = Harness()
    old = _running(h, '{"id": "/web", "cmd": "x", "cpus": 0.1, '
                      '"unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}}')
    h.update(old, "TASK_UNREACHABLE")
    assert h.core.instances.get(old) is None
    assert len(h.offer()) == 1


def test_killing_an_unreachable_instance_forgets_it_at_once() -> None:
    h = Harness()
    h.create('{"id": "/web", "cmd": "x", "cpus": 0.1, "instances": 2}')
    tasks = [t.task_id.value for t in h.offer()]
    for t in tasks:
        h.update(t, "TASK_RUNNING")
    h.update(tasks[0], "TASK_UNREACHABLE")
    commands.put_apps(h.core, [(APP_SPEC_DECODER.decode(b'{"instances": 1}'), "/web")], create_only=False,
                      force=False)
    h.drain()
    # The unreachable one goes first (not running), and is forgotten: its kill may never be confirmed.
    assert h.kills() == [tasks[0]]
    assert [i.task_id for i in h.core.instances] == [tasks[1]]
    assert not h.core.deployments.runs


def test_deleting_an_app_does_not_wait_for_its_unreachable_instances() -> None:
    h = Harness()
    old = _running(h, '{"id": "/web", "cmd": "x", "cpus": 0.1}')
    h.update(old, "TASK_UNREACHABLE")
    commands.delete_app(h.core, "/web", force=False)
    h.drain()
    assert not h.core.deployments.runs and len(h.core.instances) == 0
    assert "app_terminated_event" in h.event_types()


async def test_the_unreachable_clock_survives_a_restart() -> None:
    h = Harness()
    old = _running(h, '{"id": "/web", "cmd": "x", "cpus": 0.1, '
                      '"unreachableStrategy": {"inactiveAfterSeconds": 60, "expungeAfterSeconds": 120}}')
    h.update(old, "TASK_UNREACHABLE")
    _tick(h, 30)
    store = MemoryStore()
    await store.put_many(list(h.store.items()))
    fresh = MarathonCore(h.core.config, h.clock, lambda: "n1")
    fresh.listening = lambda event_type: True
    fresh.restore(await storage.load(store))
    fresh.subscribed("fw-1")
    fresh.drain()
    assert fresh.instances.get(old) is not None and fresh.instances.get(old).active  # type: ignore[union-attr]
    h.clock.advance(30)
    fresh.tick()
    fresh.drain()
    assert not fresh.instances.get(old).active  # type: ignore[union-attr]
    assert fresh.queue.entries["/web"].count == 1
