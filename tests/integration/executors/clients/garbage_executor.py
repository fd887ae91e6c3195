"""An executor that sends garbage to the agent instead of subscribing, then exits with status 1."""

import json
import os
import sys
import urllib.error
import urllib.request

URL = f"http://{os.environ['MESOS_AGENT_ENDPOINT']}/api/v1/executor"


def post(body: bytes) -> int:
    request = urllib.request.Request(URL, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


print(post(b"\x00\xffnot json at all"), flush=True)
ids = {"framework_id": {"value": os.environ["MESOS_FRAMEWORK_ID"]},
       "executor_id": {"value": os.environ["MESOS_EXECUTOR_ID"]}}
no_uuid = {"type": "UPDATE", **ids, "update": {"status": {"task_id": {"value": "t1"}, "state": "TASK_RUNNING"}}}
print(post(json.dumps(no_uuid).encode()), flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "stay":
    import time

    time.sleep(60)
sys.exit(1)
