"""Errors of the marathon package; each maps to one HTTP answer at the API seam.

    MarathonError                      {"message"} with `status`
    ├── NotFound                       404 unknown app, group, task, deployment or version
    ├── InvalidInput                   422 {"message", "details": [{"path", "errors"}]}
    ├── MalformedJson                  400 not JSON at all
    ├── DeploymentLocked               409 {"message", "deployments": [{"id"}]}
    ├── AlreadyExists                  409 {"message"}: POST of an app or group that exists
    └── Unavailable                    503 the store does not answer, or (later) not the leader
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One validation problem: the JSON path (`/healthChecks(0)/portIndex`) and what is wrong."""

    path: str
    errors: tuple[str, ...]

    def json(self) -> dict[str, object]:
        return {"path": self.path, "errors": list(self.errors)}


class MarathonError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, object]:
        return {"message": self.message}


class NotFound(MarathonError):
    status = 404


class MalformedJson(MarathonError):
    status = 400


class InvalidInput(MarathonError):
    status = 422

    def __init__(self, problems: list[Problem], message: str = "Object is not valid") -> None:
        super().__init__(message)
        self.problems = problems

    def body(self) -> dict[str, object]:
        return {"message": self.message, "details": [p.json() for p in self.problems]}


class DeploymentLocked(MarathonError):
    status = 409

    def __init__(self, deployment_ids: list[str]) -> None:
        ids = ", ".join(deployment_ids)
        super().__init__(
            "App is locked by one or more deployments. Override with the option '?force=true'. "
            f"View details at '/v2/deployments/<DEPLOYMENT_ID>'. Deployments: {ids}"
        )
        self.deployment_ids = deployment_ids

    def body(self) -> dict[str, object]:
        return {"message": self.message, "deployments": [{"id": d} for d in self.deployment_ids]}


class AlreadyExists(MarathonError):
    status = 409


class Unavailable(MarathonError):
    status = 503
