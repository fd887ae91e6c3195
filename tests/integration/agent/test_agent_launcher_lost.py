"""The agent when its task launcher dies under it: the tasks it started keep being watched and
reported (the agent is the launcher's parent and a subreaper, so they become its children), and
the next checkpointed launch starts a new launcher."""

from __future__ import annotations

import os
import signal

from agent_fake_master import FRAMEWORK_ID, FakeMaster, command_task, run
from test_agent_checkpoint_writes import CHECKPOINTING

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.service import Agent


def launcher_pid(agent: Agent) -> int:
    launcher = agent.tasks.containers.launcher
    assert launcher is not None and launcher.hello is not None
    return launcher.hello.pid


async def test_tasks_outlive_their_launcher_and_report_real_statuses(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(command_task("exits-4", "sleep 0.5; exit 4"),
                          command_task("killed", "exec sleep 60"), fw=CHECKPOINTING))
    await master.wait_status("exits-4", "TASK_RUNNING")
    await master.wait_status("killed", "TASK_RUNNING")
    first = launcher_pid(agent)
    os.kill(first, signal.SIGKILL)
    await wait_until(lambda: not agent.tasks.containers.launcher or not agent.tasks.containers.launcher.connected,
                     what="the agent noticing the launcher is gone")

    # Became the agent's children: the exit status is real, not "terminated while unwatched".
    failed = await master.wait_status("exits-4", "TASK_FAILED")
    assert failed.message == "Command exited with status 4"
    await master.send(internal.KillTask(FRAMEWORK_ID, "killed"))
    await master.wait_status("killed", "TASK_KILLED")

    # The next checkpointed task starts a new launcher, and runs as usual.
    await master.send(run(command_task("after", "exit 0"), fw=CHECKPOINTING))
    await master.wait_status("after", "TASK_FINISHED")
    assert launcher_pid(agent) != first
