"""Run N command tasks on a pydcos (or Mesos) cluster with the pydcos scheduler driver.

    python examples/hello_framework.py 127.0.1.1:5050 5
"""

from __future__ import annotations

import sys
import threading

from pydcos.mesos.scheduler import Scheduler, SchedulerDriver

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED"}
CPUS, MEM = 0.1, 32.0


def scalar(offer: dict, name: str) -> float:
    return sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == name and "scalar" in r)


class Hello(Scheduler):
    def __init__(self, count: int) -> None:
        self.waiting = [f"hello-{i}" for i in range(count)]
        self.states: dict[str, str] = {}
        self.count = count
        self.done = threading.Event()

    def resource_offers(self, driver: SchedulerDriver, offers: list[dict]) -> None:
        for offer in offers:
            cpus, mem, tasks = scalar(offer, "cpus"), scalar(offer, "mem"), []
            while self.waiting and cpus >= CPUS and mem >= MEM:
                name = self.waiting.pop()
                tasks.append({
                    "name": name,
                    "task_id": {"value": name},
                    "agent_id": offer["agent_id"],
                    "command": {"value": f"echo {name} from $HOSTNAME; echo sandbox=$MESOS_SANDBOX"},
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": CPUS}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": MEM}},
                    ],
                })
                cpus, mem = cpus - CPUS, mem - MEM
            driver.launch_tasks([offer["id"]], tasks, {"refuse_seconds": 1})

    def status_update(self, driver: SchedulerDriver, status: dict) -> None:
        self.states[status["task_id"]["value"]] = status["state"]
        print(status["task_id"]["value"], status["state"], status.get("message", ""), flush=True)
        if len(self.states) == self.count and all(s in TERMINAL for s in self.states.values()):
            self.done.set()

    def error(self, driver: SchedulerDriver, message: str) -> None:
        print("error:", message, flush=True)
        self.done.set()


def main() -> int:
    master, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    hello = Hello(count)
    driver = SchedulerDriver(hello, {"user": "root", "name": "hello-framework"}, master)
    driver.start()
    finished = hello.done.wait(120)
    driver.stop()
    driver.join()
    ok = finished and all(s == "TASK_FINISHED" for s in hello.states.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
