"""A framework that runs N tasks on one custom executor (examples/custom_executor.py), sends it a
framework message, and exits 0 once every task finished and the executor answered.

    python examples/executor_framework.py 127.0.1.1:5050 3
"""

from __future__ import annotations

import base64
import sys
import threading
from pathlib import Path

from pydcos.mesos.scheduler import Scheduler, SchedulerDriver

EXECUTOR = Path(__file__).resolve().parent / "custom_executor.py"
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED"}
CPUS, MEM = 0.1, 32.0


def scalar(offer: dict, name: str) -> float:
    return sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == name and "scalar" in r)


def resources(cpus: float, mem: float) -> list[dict]:
    return [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]


class ExecutorFramework(Scheduler):
    def __init__(self, count: int) -> None:
        self.waiting = [f"task-{i}" for i in range(count)]
        self.count, self.states, self.reply = count, {}, None
        self.executor = {"executor_id": {"value": "shell-executor"}, "name": "shell executor",
                         "command": {"value": f"{sys.executable} {EXECUTOR}"}, "resources": resources(0.1, 64)}
        self.done = threading.Event()

    def resource_offers(self, driver: SchedulerDriver, offers: list[dict]) -> None:
        for offer in offers:
            cpus, mem, tasks = scalar(offer, "cpus") - 0.1, scalar(offer, "mem") - 64, []
            while self.waiting and cpus >= CPUS and mem >= MEM:
                name = self.waiting.pop()
                data = base64.b64encode(f"echo {name} ran in $MESOS_SANDBOX".encode()).decode()
                tasks.append({"name": name, "task_id": {"value": name}, "agent_id": offer["agent_id"],
                              "executor": self.executor, "data": data, "resources": resources(CPUS, MEM)})
                cpus, mem = cpus - CPUS, mem - MEM
            driver.launch_tasks([offer["id"]], tasks, {"refuse_seconds": 1})

    def status_update(self, driver: SchedulerDriver, status: dict) -> None:
        task_id, state = status["task_id"]["value"], status["state"]
        print(task_id, state, status.get("message", ""), flush=True)
        if state == "TASK_RUNNING" and not self.states:
            driver.send_framework_message(self.executor["executor_id"], status["agent_id"], b"ping")
        self.states[task_id] = state
        self.check()

    def framework_message(self, driver: SchedulerDriver, executor_id: dict, agent_id: dict, data: bytes) -> None:
        print("message from", executor_id["value"], data.decode(), flush=True)
        self.reply = data
        self.check()

    def check(self) -> None:
        finished = len(self.states) == self.count and all(s in TERMINAL for s in self.states.values())
        if finished and self.reply is not None:
            self.done.set()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        print("error:", message, flush=True)
        self.done.set()


def main() -> int:
    master, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    framework = ExecutorFramework(count)
    driver = SchedulerDriver(framework, {"user": "root", "name": "executor-framework"}, master)
    driver.start()
    finished = framework.done.wait(120)
    driver.stop(failover=True)  # no TEARDOWN: with failover_timeout 0 the master removes it at once
    driver.join()
    ok = finished and framework.reply == b"pong: ping" and all(s == "TASK_FINISHED" for s in framework.states.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
