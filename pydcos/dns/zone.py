"""The domain's records, kept in step with the master's state one change at a time. Pure.

`Catalog` holds the `MasterView` and a `Zone`. Every part of the cluster (each task, agent,
framework, the masters, this server) contributes its records under its own key; an event redoes
only the contributions it touches, and only contributions whose inputs changed are redone on a
full snapshot. The zone reference-counts each value, so two tasks with one name share it and the
name goes when the last one does, and it collects the names whose answers changed (`take_dirty`)
for the precomputed answers to follow.

    cat = Catalog(RecordConfig(masters=("10.0.0.1:5050",)), serial=1)
    cat.load(view_from_state(body))     # a snapshot
    cat.apply(EVENT_DECODER.decode(record))   # then events
    cat.zone.a["web.marathon.mesos."]   # {"10.0.0.7": 1}
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from pydcos.dns.master_view import Event, MasterView, TaskKey, apply_event
from pydcos.dns.records import (
    EMPTY,
    RecordConfig,
    Records,
    agent_records,
    framework_records,
    listener_records,
    master_records,
    task_records,
)


class Zone:
    """All records of one domain.

    Invariants: `a` and `srv` hold exactly the union of the contributions, each value counted once
    per contribution that has it; `_present[n]` counts the names with records at or below `n`, so a
    name exists when it has records or something below it has (an empty non-terminal). Changed
    only through `set_records`.
    """

    def __init__(self, cfg: RecordConfig, serial: int = 1) -> None:
        self.origin = cfg.zone
        self.a: dict[str, dict[str, int]] = {}
        self.srv: dict[str, dict[tuple[str, int], int]] = {}
        self.contributions: dict[Hashable, Records] = {}
        self.serial = serial
        self._present: dict[str, int] = {}
        self._srv_by_target: dict[str, dict[str, int]] = {}
        self._dirty: set[str] = set()

    def exists(self, name: str) -> bool:
        return name == self.origin or name in self._present

    def in_zone(self, name: str) -> bool:
        return name == self.origin or name.endswith("." + self.origin)

    def take_dirty(self) -> set[str]:
        """Names whose answers changed since the last call; a change also moves the SOA serial."""
        dirty, self._dirty = self._dirty, set()
        if dirty:
            self.serial = (self.serial + 1) & 0xFFFFFFFF
        return dirty

    def set_records(self, key: Hashable, records: Records | None) -> None:
        new = records or EMPTY
        old = self.contributions.get(key, EMPTY)
        if old == new:
            return
        if new is EMPTY:
            self.contributions.pop(key, None)
        else:
            self.contributions[key] = new
        # Add before removing: a value that stays keeps its place in the round-robin order.
        for name, ip in new.a:
            self._add_a(name, ip)
        for name, target, port in new.srv:
            self._add_srv(name, target, port)
        for name, ip in old.a:
            self._remove_a(name, ip)
        for name, target, port in old.srv:
            self._remove_srv(name, target, port)

    # --- reference counting ------------------------------------------------------------------

    def _add_a(self, name: str, ip: str) -> None:
        values = self.a.get(name)
        if values is None:
            values = self.a[name] = {}
            if name not in self.srv:
                self._mark_present(name, 1)
        values[ip] = values.get(ip, 0) + 1
        if values[ip] == 1:
            self._touch_a(name)

    def _remove_a(self, name: str, ip: str) -> None:
        values = self.a[name]
        values[ip] -= 1
        if values[ip]:
            return
        del values[ip]
        self._touch_a(name)
        if not values:
            del self.a[name]
            if name not in self.srv:
                self._mark_present(name, -1)

    def _add_srv(self, name: str, target: str, port: int) -> None:
        values = self.srv.get(name)
        if values is None:
            values = self.srv[name] = {}
            if name not in self.a:
                self._mark_present(name, 1)
        key = (target, port)
        values[key] = values.get(key, 0) + 1
        if values[key] == 1:
            self._dirty.add(name)
            users = self._srv_by_target.setdefault(target, {})
            users[name] = users.get(name, 0) + 1

    def _remove_srv(self, name: str, target: str, port: int) -> None:
        values = self.srv[name]
        key = (target, port)
        values[key] -= 1
        if values[key]:
            return
        del values[key]
        self._dirty.add(name)
        users = self._srv_by_target[target]
        users[name] -= 1
        if not users[name]:
            del users[name]
            if not users:
                del self._srv_by_target[target]
        if not values:
            del self.srv[name]
            if name not in self.a:
                self._mark_present(name, -1)

    def _touch_a(self, name: str) -> None:
        """An A set changed: its answer, and every SRV answer that lists it as extra, must be redone."""
        self._dirty.add(name)
        self._dirty.update(self._srv_by_target.get(name, ()))

    def _mark_present(self, name: str, delta: int) -> None:
        node = name
        suffix = "." + self.origin
        present = self._present
        while node.endswith(suffix):
            count = present.get(node, 0) + delta
            if count:
                present[node] = count
            else:
                del present[node]
            # A name that appears or goes changes the answer (NODATA or NXDOMAIN) for itself.
            if count == (1 if delta > 0 else 0):
                self._dirty.add(node)
            node = node[node.index(".") + 1:]


class Catalog:
    """A `MasterView` and its `Zone`, kept in step. Changed only through `load`, `apply`, `set_leader`."""

    def __init__(self, cfg: RecordConfig, serial: int = 1) -> None:
        self.cfg = cfg
        self.view = MasterView()
        self.zone = Zone(cfg, serial)
        self._inputs: dict[Hashable, tuple[object, ...]] = {}
        self.zone.set_records(("listener",), listener_records(cfg))
        self.zone.set_records(("masters",), master_records(None, cfg))

    def load(self, view: MasterView) -> None:
        """Take a whole snapshot; only what differs from the current view is redone."""
        old, self.view = self.view, view
        for key in old.tasks.keys() - view.tasks.keys():
            self._set(("task", *key), None)
        for fid in old.frameworks.keys() - view.frameworks.keys():
            self._set(("framework", fid), None)
        for aid in old.agents.keys() - view.agents.keys():
            self._set(("agent", aid), None)
        for fw in view.frameworks.values():
            self._refresh_framework(fw.id)
        for agent in view.agents.values():
            self._refresh_agent(agent.id)
        for key in view.tasks:
            self._refresh_task(key)
        self.set_leader(view.leader)

    def apply(self, event: Event) -> None:
        self.apply_many([event])

    def apply_many(self, events: Iterable[Event]) -> None:
        """Apply events in order, then refresh each record set they touched once: a task that
        started and ended within one read of the stream costs no records at all."""
        touched: dict[tuple[str, str | TaskKey], None] = {}
        for event in events:
            for change in apply_event(self.view, event):
                touched[change] = None
        for kind, ident in touched:
            if isinstance(ident, tuple):
                self._refresh_task(ident)
            elif kind == "agent":
                self._refresh_agent(ident)
                self._refresh_tasks(k for k, t in self.view.tasks.items() if t.agent_id == ident)
            else:
                self._refresh_framework(ident)
                self._refresh_tasks(k for k in self.view.tasks if k[0] == ident)

    def set_leader(self, leader: str | None) -> None:
        self.view.leader = leader
        self._set(("masters",), master_records(leader, self.cfg), (leader,))

    def task_records(self) -> dict[TaskKey, Records]:
        out: dict[TaskKey, Records] = {}
        for key, records in self.zone.contributions.items():
            if isinstance(key, tuple) and key[0] == "task":
                out[(key[1], key[2])] = records
        return out

    def _refresh_tasks(self, keys: Iterable[TaskKey]) -> None:
        for key in list(keys):
            self._refresh_task(key)

    def _refresh_task(self, key: TaskKey) -> None:
        task = self.view.tasks.get(key)
        if task is None:
            self._set(("task", *key), None)
            return
        agent = self.view.agents.get(task.agent_id)
        fw = self.view.frameworks.get(task.framework_id)
        inputs = (task, agent, fw)
        if self._inputs.get(("task", *key)) != inputs:
            self._set(("task", *key), task_records(task, agent, fw, self.cfg), inputs)

    def _refresh_agent(self, agent_id: str) -> None:
        agent = self.view.agents.get(agent_id)
        if agent is None:
            self._set(("agent", agent_id), None)
        elif self._inputs.get(("agent", agent_id)) != (agent,):
            self._set(("agent", agent_id), agent_records(agent, self.cfg), (agent,))

    def _refresh_framework(self, framework_id: str) -> None:
        fw = self.view.frameworks.get(framework_id)
        if fw is None:
            self._set(("framework", framework_id), None)
        elif self._inputs.get(("framework", framework_id)) != (fw,):
            self._set(("framework", framework_id), framework_records(fw, self.cfg), (fw,))

    def _set(self, key: Hashable, records: Records | None, inputs: tuple[object, ...] | None = None) -> None:
        if inputs is None:
            self._inputs.pop(key, None)
        else:
            self._inputs[key] = inputs
        self.zone.set_records(key, records)
