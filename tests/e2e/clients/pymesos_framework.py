"""A small framework on the public pymesos 0.3.15 library, run by the e2e tests in .venv-clients.

Usage: python pymesos_framework.py MASTER_HOST:PORT N
Launches N command tasks (`echo hello-I`), waits until each reaches a terminal state, prints one
JSON line {"framework_id": ..., "states": {task_id: state}} and exits 0 (1 on timeout).
"""

import json
import sys
import threading
import uuid

from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED"}


class HelloScheduler(Scheduler):
    def __init__(self, count):
        self.to_launch = [f"hello-{i}" for i in range(count)]
        self.states = {}
        self.done = threading.Event()
        self.framework_id = None

    def registered(self, driver, framework_id, master_info):
        self.framework_id = framework_id["value"]

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus = sum(r.scalar.value for r in offer.resources if r.name == "cpus")
            mem = sum(r.scalar.value for r in offer.resources if r.name == "mem")
            tasks = []
            while self.to_launch and cpus >= 0.1 and mem >= 32:
                name = self.to_launch.pop()
                task = Dict()
                task.task_id.value = name
                task.agent_id.value = offer.agent_id.value
                task.name = name
                task.command.value = f"echo {name}"
                task.resources = [
                    dict(name="cpus", type="SCALAR", scalar={"value": 0.1}),
                    dict(name="mem", type="SCALAR", scalar={"value": 32}),
                ]
                tasks.append(task)
                cpus -= 0.1
                mem -= 32
            driver.launchTasks(offer.id, tasks, {"refuse_seconds": 1})

    def statusUpdate(self, driver, update):
        self.states[update.task_id.value] = update.state
        if update.state in TERMINAL and not self.to_launch and all(
            s in TERMINAL for s in self.states.values()
        ) and len(self.states) == self.expected:
            self.done.set()


def main():
    master, count = sys.argv[1], int(sys.argv[2])
    scheduler = HelloScheduler(count)
    scheduler.expected = count
    framework = Dict()
    framework.user = "root"
    framework.name = f"pymesos-e2e-{uuid.uuid4().hex[:6]}"
    framework.hostname = "127.0.0.1"
    driver = MesosSchedulerDriver(scheduler, framework, master, use_addict=True)
    driver.start()
    ok = scheduler.done.wait(120)
    driver.stop()
    driver.join()
    print(json.dumps({"framework_id": scheduler.framework_id, "states": scheduler.states}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
