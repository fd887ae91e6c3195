"""Validation of LAUNCH operations against the offered resources. Pure.

Every problem becomes a TASK_ERROR for that task (never an HTTP error: pymesos dies on a non-2xx
reply and then tears its framework down, COMPAT §4.5). Resources of valid tasks are taken from
what remains of the offers in order, so two tasks cannot both use the same port.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass

import msgspec

from pydcos.mesos import resources as res
from pydcos.mesos.resources import RoleResources
from pydcos.mesos.v1.messages import TaskInfo


@dataclass(frozen=True, slots=True)
class CheckedTask:
    task: TaskInfo
    resources: RoleResources
    error: str | None = None


_KEY = msgspec.json.Encoder()
# Most tasks of a cluster ask for the same few resource shapes: parse each shape once. Bounded, and
# what it holds never changes (a RoleResources is replaced, never changed in place; callers get a copy).
_PARSED: dict[bytes, RoleResources] = {}
_PARSED_MAX = 4096


def task_resources(task: TaskInfo) -> RoleResources:
    """Task resources plus its executor's (a custom executor's resources are charged once per task here)."""
    executor = task.executor.resources if task.executor is not None else None
    key = _KEY.encode((task.resources, executor))
    found = _PARSED.get(key)
    if found is None:
        found = res.from_v1(task.resources)
        if executor:
            found = res.add_roles(found, res.from_v1(executor))
        if len(_PARSED) < _PARSED_MAX:
            _PARSED[key] = found
    return dict(found)


def _task_problem(task: TaskInfo, agent_id: str, known_task_ids: Container[str], new_ids: set[str]) -> str | None:
    if not task.task_id.value:
        return "Task ID must not be empty"
    if "/" in task.task_id.value or any(c.isspace() for c in task.task_id.value):
        return "Task ID must not contain slashes or spaces"
    if task.task_id.value in known_task_ids or task.task_id.value in new_ids:
        return f"Task has duplicate ID: {task.task_id.value}"
    target = task.target_agent()
    if target is not None and target != agent_id:
        return f"Task uses invalid agent: {target}"
    if (task.command is None) == (task.executor is None):
        return "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
    if task.command is not None and task.command.shell and not task.command.value:
        return "Shell command of task is missing 'value'"
    if task.command is not None and not task.command.shell and not task.command.value:
        return "Command of task is missing 'value' (the program to run)"
    return None


def check_launch(
    tasks: Iterable[TaskInfo], offered: RoleResources, agent_id: str, known_task_ids: Container[str]
) -> tuple[list[CheckedTask], RoleResources]:
    """Check each task; return them with their resources or error, and what is left of the offer.

    `known_task_ids` is only looked into (the framework's task dict will do: never copied, which
    would make a launch cost as much as the framework's 100,000 tasks)."""
    remaining = dict(offered)
    seen: set[str] = set()
    checked: list[CheckedTask] = []
    for task in tasks:
        problem = _task_problem(task, agent_id, known_task_ids, seen)
        needed: RoleResources = {}
        if problem is None:
            try:
                needed = task_resources(task)
            except ValueError as exc:
                problem = f"Task uses invalid resources: {exc}"
        if problem is None and not needed:
            problem = "Task uses no resources"
        if problem is None and not res.contains_roles(remaining, needed):
            problem = (
                f"Task uses more resources ({res.flatten(needed).render()}) than available in the "
                f"offers ({res.flatten(remaining).render()})"
            )
        if problem is not None:
            checked.append(CheckedTask(task, {}, problem))
            continue
        remaining = res.subtract_roles(remaining, needed)
        seen.add(task.task_id.value)
        checked.append(CheckedTask(task, needed))
    return checked, remaining
