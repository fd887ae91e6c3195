"""A custom executor on pymesos 0.3.15's MesosExecutorDriver (run with .venv-clients/bin/python).

It echoes each task's data back in TASK_FINISHED, answers framework messages with `pong: ...`,
and prints what it saw, for the test to read from its sandbox's stdout.
"""

import json
import os
import sys
import threading

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data


class Echo(Executor):
    def registered(self, driver, executor_info, framework_info, agent_info):
        seen = {"executor_id": executor_info["executor_id"], "framework_id": framework_info["id"],
                "agent_id": agent_info["id"], "grace": driver.grace_shutdown_period,
                "pid": os.getpid(), "pgid": os.getpgid(0)}
        print("registered " + json.dumps(seen), flush=True)

    def launchTask(self, driver, task):
        def run():
            driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_RUNNING"})
            driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_FINISHED",
                                     "data": task.get("data", ""), "message": "echoed"})

        threading.Thread(target=run, daemon=True).start()

    def frameworkMessage(self, driver, message):
        driver.sendFrameworkMessage(encode_data(b"pong: " + decode_data(message)))

    def shutdown(self, driver):
        print("shutdown", flush=True)


if __name__ == "__main__":
    driver = MesosExecutorDriver(Echo(), use_addict=True)
    driver.run()
    sys.exit(0)
