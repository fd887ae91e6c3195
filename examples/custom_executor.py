"""A custom executor on pydcos.mesos.executor: runs each task's `data` as a shell command (or
just echoes the task's name), reports TASK_RUNNING then TASK_FINISHED or TASK_FAILED, and
answers every framework message with `pong: <message>`.

The agent starts it (see examples/executor_framework.py); it reads everything from MESOS_*.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import threading

from pydcos.mesos.executor import Executor, ExecutorDriver


class ShellExecutor(Executor):
    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def registered(self, driver: ExecutorDriver, executor_info: dict, framework_info: dict, agent_info: dict) -> None:
        print(f"registered on {agent_info.get('hostname')} for {framework_info.get('name')}", flush=True)

    def launch_task(self, driver: ExecutorDriver, task: dict) -> None:
        # Callbacks run on the driver's thread: each task runs on a thread of its own.
        threading.Thread(target=self.run_task, args=(driver, task), daemon=True).start()

    def run_task(self, driver: ExecutorDriver, task: dict) -> None:
        task_id = task["task_id"]
        driver.send_status_update({"task_id": task_id, "state": "TASK_RUNNING"})
        command = base64.b64decode(task["data"]).decode() if task.get("data") else f"echo {task['name']}"
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdout=subprocess.PIPE)
        self.procs[task_id["value"]] = proc
        out, _ = proc.communicate()
        print(f"{task_id['value']}: {out.decode().strip()}", flush=True)
        state = "TASK_FINISHED" if proc.returncode == 0 else ("TASK_KILLED" if proc.returncode < 0 else "TASK_FAILED")
        driver.send_status_update({"task_id": task_id, "state": state, "data": base64.b64encode(out).decode(),
                                   "message": f"exit status {proc.returncode}"})

    def kill_task(self, driver: ExecutorDriver, task_id: dict) -> None:
        proc = self.procs.get(task_id["value"])
        if proc is not None:
            proc.kill()  # its run_task thread reports TASK_KILLED

    def framework_message(self, driver: ExecutorDriver, data: bytes) -> None:
        driver.send_framework_message(b"pong: " + data)

    def shutdown(self, driver: ExecutorDriver) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()


if __name__ == "__main__":
    status = ExecutorDriver(ShellExecutor()).run()
    sys.exit(0 if status == "DRIVER_STOPPED" else 1)
