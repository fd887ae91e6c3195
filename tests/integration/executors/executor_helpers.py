"""TaskInfos and RunTasks for executor tests."""

from __future__ import annotations

import base64

from pydcos.mesos import internal
from pydcos.mesos.v1.messages import (
    CommandInfo,
    CommandURI,
    ExecutorInfo,
    FrameworkInfo,
    Id,
    TaskInfo,
    scalar,
)

FRAMEWORK_ID = "fake-master-1-0000"


def framework(checkpoint: bool = False, fw_id: str = FRAMEWORK_ID) -> FrameworkInfo:
    return FrameworkInfo(user="", name="executor-test", id=Id(fw_id), checkpoint=checkpoint)


def executor_info(command: str, executor_id: str = "ex1", *, uris: list[CommandURI] | None = None,
                  mem: float = 64, user: str | None = None) -> ExecutorInfo:
    return ExecutorInfo(executor_id=Id(executor_id), name="test executor", source="tests",
                        command=CommandInfo(value=command, uris=uris or [], user=user),
                        resources=[scalar("cpus", 0.1), scalar("mem", mem)])


def executor_task(task_id: str, executor: ExecutorInfo, data: bytes | None = None, mem: float = 32) -> TaskInfo:
    return TaskInfo(name=task_id.split(".")[0], task_id=Id(task_id), agent_id=None,
                    resources=[scalar("cpus", 0.1), scalar("mem", mem)], executor=executor,
                    data=base64.b64encode(data).decode() if data is not None else None)


def run(*tasks: TaskInfo, fw: FrameworkInfo | None = None) -> internal.RunTasks:
    return internal.RunTasks([internal.RunTask(fw or framework(), t) for t in tasks])
