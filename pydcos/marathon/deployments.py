"""Running deployments: which step each is at, what it means for each app, conflicts. Pure.

A deployment's current step holds actions; an app with an action there is driven by it, an app
whose action comes in a later step is held (nothing launched or killed for it yet), and an app
whose actions are all behind is back to its steady state. The core asks `progress()` after every
change; a step is done when every action in it is done, and a deployment when its last step is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from pydcos.marathon.planner import Action, DeploymentPlan


class DeploymentRun(msgspec.Struct):
    plan: DeploymentPlan
    step_index: int = 0  # the current step, 0-based; == len(steps) when finished

    @property
    def id(self) -> str:
        return self.plan.id

    @property
    def finished(self) -> bool:
        return self.step_index >= len(self.plan.steps)

    def current_actions(self) -> tuple[Action, ...]:
        return () if self.finished else self.plan.steps[self.step_index]


RUN_DECODER = msgspec.json.Decoder(DeploymentRun)


@dataclass(frozen=True)
class StepDone:
    run: DeploymentRun
    step: tuple[Action, ...]


@dataclass(frozen=True)
class RunDone:
    run: DeploymentRun


Progress = StepDone | RunDone


class Deployments:
    """Every running deployment, in start order. Changed only through its methods."""

    def __init__(self) -> None:
        self.runs: dict[str, DeploymentRun] = {}
        self._by_app: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.runs)

    def get(self, deployment_id: str) -> DeploymentRun | None:
        return self.runs.get(deployment_id)

    def add(self, run: DeploymentRun) -> None:
        self.runs[run.id] = run
        for app_id in run.plan.affected_apps:
            self._by_app.setdefault(app_id, set()).add(run.id)

    def remove(self, deployment_id: str) -> DeploymentRun | None:
        run = self.runs.pop(deployment_id, None)
        if run is not None:
            for app_id in run.plan.affected_apps:
                ids = self._by_app.get(app_id)
                if ids is not None:
                    ids.discard(deployment_id)
                    if not ids:
                        del self._by_app[app_id]
        return run

    def of_app(self, app_id: str) -> list[DeploymentRun]:
        return [self.runs[d] for d in sorted(self._by_app.get(app_id, ()))]

    def conflicts(self, app_ids: Iterable[str]) -> list[str]:
        """Ids of running deployments touching any of `app_ids`."""
        found: set[str] = set()
        for app_id in app_ids:
            found |= self._by_app.get(app_id, set())
        return sorted(found, key=lambda d: list(self.runs).index(d))

    def action_for(self, app_id: str) -> tuple[Action | None, bool]:
        """The action driving the app now, and whether it is held for a later step."""
        for run_id in self._by_app.get(app_id, ()):
            run = self.runs[run_id]
            for action in run.current_actions():
                if action.app_id == app_id:
                    return action, False
            later = run.plan.steps[run.step_index + 1:]
            if any(a.app_id == app_id for step in later for a in step):
                return None, True
        return None, False

    def progress(self, action_done: Callable[[Action], bool]) -> list[Progress]:
        """Advance every deployment whose current step is complete, as far as it goes."""
        out: list[Progress] = []
        for run in list(self.runs.values()):
            while not run.finished and all(action_done(a) for a in run.current_actions()):
                step = run.current_actions()
                run.step_index += 1
                out.append(StepDone(run, step))
            if run.finished:
                self.remove(run.id)
                out.append(RunDone(run))
        return out
