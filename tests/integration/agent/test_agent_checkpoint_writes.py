"""Checkpoint writes of a checkpointing framework's tasks, off the event loop: every update is in
its task's log before the master sees it, a requested kill reaches the container's record, and a
finished run's directory is removed after all of that (and stays removed)."""

from __future__ import annotations

import glob
from pathlib import Path

import msgspec
import pytest
from agent_fake_master import FRAMEWORK_ID, FakeMaster, command_task, fast_config, run

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.checkpoint_store import Write
from pydcos.mesos.agent.service import Agent, split_by_path
from pydcos.mesos.v1.messages import DurationInfo, FrameworkInfo, Id, KillPolicy

CHECKPOINTING = FrameworkInfo(user="", name="ckpt", id=Id(FRAMEWORK_ID), checkpoint=True)


def run_dirs(work_dir: str, task_id: str) -> list[str]:
    return glob.glob(f"{work_dir}/meta/slaves/*/frameworks/*/executors/{task_id}/runs/*")


def pending_writes(agent: Agent) -> float:
    return agent.metrics_snapshot()["agent/checkpoint_writes_pending"]


async def test_every_update_of_a_burst_is_in_its_log_before_it_is_sent(
    master: FakeMaster, work_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = Agent(fast_config(master.address, work_dir))
    sent: list[internal.StatusUpdate] = []
    send = agent.link.send

    def checking_send(msg: internal.AgentToMaster) -> None:
        if isinstance(msg, internal.StatusUpdates):
            for update in msg.updates:
                [log_file] = glob.glob(f"{work_dir}/meta/slaves/*/frameworks/*/executors/"
                                       f"{update.status.task_id.value}/runs/*/tasks/*/updates")
                with open(log_file, "rb") as f:
                    assert (update.status.uuid or "").encode() in f.read(), update
                sent.append(update)
        send(msg)

    monkeypatch.setattr(agent.link, "send", checking_send)
    await agent.start()
    try:
        await wait_until(lambda: agent.registered.is_set(), what="agent registered")
        await master.send(run(*(command_task(f"b{i}", "true") for i in range(40)), fw=CHECKPOINTING))
        await wait_until(lambda: len({u.status.task_id.value for u in sent if u.status.state == "TASK_FINISHED"}) == 40,
                         timeout=30, what="40 tasks finished")
    finally:
        await agent.close()


def kill_in_record(run_dir: str) -> bool:
    return bool(msgspec.json.decode(Path(run_dir, "container.json").read_bytes()).get("kill_requested"))


async def test_a_requested_kill_is_kept_by_the_launcher_and_the_finished_run_is_removed(
    agent: Agent, master: FakeMaster, work_dir: str
) -> None:
    # The command ignores SIGTERM: the kill waits out its grace period.
    task = command_task("stubborn", "trap '' TERM; exec sleep 60", grace_s=30)
    await master.send(run(task, fw=CHECKPOINTING))
    await master.wait_status("stubborn", "TASK_RUNNING")
    [run_dir] = run_dirs(work_dir, "stubborn")
    [cid] = [c for (_, t), c in agent.tasks._container_of.items() if t == "stubborn"]
    assert agent.tasks.containers.remembers_kills(cid)  # the task launcher started it
    await master.send(internal.KillTask(FRAMEWORK_ID, "stubborn"))
    await wait_until(lambda: pending_writes(agent) == 0, what="nothing left to write")

    # The launcher remembers the request (and tells a restarted agent): no record rewrite per kill.
    assert not kill_in_record(run_dir)
    assert master.states("stubborn") == ["TASK_RUNNING"]
    await master.send(internal.KillTask(FRAMEWORK_ID, "stubborn", KillPolicy(DurationInfo(0))))  # no grace left
    await master.wait_status("stubborn", "TASK_KILLED")
    await wait_until(lambda: not run_dirs(work_dir, "stubborn") and pending_writes(agent) == 0,
                     what="the finished run's directory removed, nothing left to write")
    await master.send(run(command_task("next", "true"), fw=CHECKPOINTING))  # later rounds of writes
    await master.wait_status("next", "TASK_FINISHED")
    await wait_until(lambda: pending_writes(agent) == 0, what="nothing left to write")
    assert run_dirs(work_dir, "stubborn") == []


def test_a_round_of_lines_is_split_by_log_with_each_logs_lines_in_order() -> None:
    lines = [Write(f"log{i % 20}", f"{i}\n".encode()) for i in range(60)]
    parts = split_by_path(lines, parts=4, min_paths=4)
    assert len(parts) == 4
    for part in parts:
        by_path: dict[str, list[bytes]] = {}
        for w in part:
            by_path.setdefault(w.path, []).append(w.data or b"")
        for path, data in by_path.items():
            assert data == [w.data for w in lines if w.path == path]  # all of its lines, in order
    assert sorted(w.data or b"" for p in parts for w in p) == sorted(w.data or b"" for w in lines)
    assert split_by_path(lines[:5], parts=4, min_paths=8) == [lines[:5]]  # a few logs: one thread

