"""After a reboot of the machine the checkpoint is not recovered (as Mesos: the tasks died with
the machine): the agent starts afresh under a new id. Without a reboot it recovers as usual."""

from __future__ import annotations

import os

import pytest
from agent_fake_master import FakeMaster, command_task, fast_config, run
from test_agent_checkpoint_writes import CHECKPOINTING

from pydcos.core.waiting import wait_until
from pydcos.mesos.agent import checkpoint_store
from pydcos.mesos.agent.service import Agent


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def exists(path: str) -> bool:
    return os.path.exists(path)


async def test_a_reboot_since_the_checkpoint_starts_the_agent_afresh(
    master: FakeMaster, work_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_store, "current_boot_id", lambda: "boot-1")
    agent = Agent(fast_config(master.address, work_dir))
    await agent.start()
    try:
        await wait_until(lambda: agent.registered.is_set(), what="registered")
        first_id = agent.agent_id
        await master.send(run(command_task("t", "exit 0"), fw=CHECKPOINTING))
        await master.wait_status("t", "TASK_FINISHED")
    finally:
        await agent.close()
    store = checkpoint_store.CheckpointStore(work_dir)
    assert store.latest_agent_id() == first_id
    assert read(store.boot_id_path()) == "boot-1"

    # Same boot: the agent id is recovered.
    again = Agent(fast_config(master.address, work_dir))
    await again.start()
    try:
        assert again.checkpoints is not None and again.checkpoints.latest_agent_id() == first_id
    finally:
        await again.close()

    # Another boot: wiped, and a new id at registration.
    monkeypatch.setattr(checkpoint_store, "current_boot_id", lambda: "boot-2")
    rebooted = Agent(fast_config(master.address, work_dir))
    await rebooted.start()
    try:
        assert not exists(os.path.join(work_dir, "meta", "slaves", first_id or "", "frameworks"))
        await wait_until(lambda: rebooted.registered.is_set() and rebooted.agent_id not in (None, first_id),
                         what="registered under a new id")
        assert read(store.boot_id_path()) == "boot-2"
    finally:
        await rebooted.close()
