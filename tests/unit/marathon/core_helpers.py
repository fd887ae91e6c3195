"""Driving MarathonCore by hand in unit tests: offers, updates and a fake clock, no sockets."""

from __future__ import annotations

import itertools
from typing import Any

from pydcos.core.clock import FakeClock
from pydcos.marathon import commands
from pydcos.marathon.core import CallMesos, CoreConfig, Instruction, MarathonCore, Persist
from pydcos.marathon.events import Emit
from pydcos.marathon.model import APP_SPEC_DECODER
from pydcos.marathon.planner import DeploymentPlan
from pydcos.mesos.resources import Resources
from pydcos.mesos.v1 import messages as v1


class Harness:
    def __init__(self, **config: Any) -> None:
        self.clock = FakeClock()
        counter = itertools.count(1)
        self.core = MarathonCore(CoreConfig(**config), self.clock, lambda: f"u{next(counter)}")
        self.core.listening = lambda event_type: True
        self.events: list[dict[str, Any]] = []
        self.calls: list[v1.Call] = []
        self.store: dict[str, bytes] = {}
        self._offers = itertools.count(1)
        self.core.subscribed("fw-1")
        self.drain()

    def drain(self) -> list[Instruction]:
        out = self.core.drain()
        for i in out:
            if isinstance(i, CallMesos):
                self.calls.append(i.call)
            elif isinstance(i, Persist):
                if i.value is None:
                    self.store.pop(i.key, None)
                else:
                    self.store[i.key] = i.value
            elif isinstance(i, Emit):
                self.events.append(i.render())
        return out

    def take_calls(self, kind: str | None = None) -> list[v1.Call]:
        found = [c for c in self.calls if kind is None or c.type == kind]
        self.calls = [c for c in self.calls if not (kind is None or c.type == kind)]
        return found

    def event_types(self) -> list[str]:
        return [e["eventType"] for e in self.events]

    def create(self, body: str, force: bool = False) -> DeploymentPlan:
        plan = commands.put_apps(self.core, [(APP_SPEC_DECODER.decode(body.encode()), None)], create_only=True,
                                 force=force)
        self.drain()
        return plan

    def offer(self, agent: str = "a1", host: str = "10.0.0.1", resources: str = "cpus:4;mem:4096;disk:1000;ports:[31000-31099]",
              role: str = "*", attributes: dict[str, str] | None = None) -> list[v1.TaskInfo]:
        offer = v1.Offer(
            id=v1.Id(f"o{next(self._offers)}"), framework_id=v1.Id("fw-1"), agent_id=v1.Id(agent), hostname=host,
            resources=Resources.parse(resources).to_v1(role),
            attributes=[v1.Attribute(name=k, type="TEXT", text=v1.Text(v)) for k, v in (attributes or {}).items()],
        )
        self.core.offers([offer])
        self.drain()
        launched = []
        for call in self.take_calls("ACCEPT"):
            assert call.accept is not None
            for op in call.accept.operations:
                assert op.launch is not None
                launched.extend(op.launch.task_infos)
        return launched

    def update(self, task_id: str, state: str, agent: str = "a1", **extra: Any) -> None:
        self.core.status_update(v1.TaskStatus(task_id=v1.Id(task_id), state=state, agent_id=v1.Id(agent),  # type: ignore[arg-type]
                                              timestamp=self.clock.wall(), **extra))
        self.drain()

    def run_all(self, tasks: list[v1.TaskInfo], agent: str = "a1") -> None:
        for t in tasks:
            self.update(t.task_id.value, "TASK_RUNNING", agent)

    def kills(self) -> list[str]:
        return [c.kill.task_id.value for c in self.take_calls("KILL") if c.kill is not None]
