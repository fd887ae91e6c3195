"""The response key whitelists of COMPAT §6.3: marathon-python crashes on any other key."""

from __future__ import annotations

import re
from typing import Any

APP = set("""acceptedResourceRoles args backoffFactor backoffSeconds cmd constraints container cpus dependencies
deployments disk env executor healthChecks id role instances killSelection labels lastTaskFailure
maxLaunchDelaySeconds mem ports requirePorts storeUrls taskRateLimit tasks tasksRunning tasksStaged tasksHealthy
taskKillGracePeriodSeconds tasksUnhealthy upgradeStrategy unreachableStrategy uris user version versionInfo
ipAddress fetch taskStats readinessChecks readinessCheckResults secrets portDefinitions residency gpus
networks""".split())
APP_REQUIRED = set("""id cmd args container cpus mem disk instances healthChecks tasksRunning tasksHealthy
tasksStaged tasksUnhealthy deployments labels version versionInfo""".split())
LAST_FAILURE = set("appId host message taskId instanceId slaveId state timestamp version".split())
TASK = set("""appId healthCheckResults host id ports servicePorts slaveId stagedAt startedAt version ipAddresses
state localVolumes region zone role""".split())
HEALTH_RESULT = set("alive consecutiveFailures firstSuccess lastFailure lastSuccess taskId lastFailureCause "
                    "instanceId".split())
DEPLOYMENT = set("affectedApps currentActions currentStep id steps totalSteps version affectedPods".split())
ACTION = set("action app apps type readinessCheckResults pod".split())
ACTIONS = {"StartApplication", "StopApplication", "ScaleApplication", "RestartApplication", "ResolveArtifacts",
           "KillAllOldTasksOf"}
GROUP = set("apps dependencies groups id pods version".split())
QUEUE_ITEM = set("app overdue count delay since processedOffersSummary lastUnusedOffers".split())
INFO = set("""event_subscriber frameworkId http_config leader marathon_config name version elected
zookeeper_config buildref""".split())
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")

Json = dict[str, Any]


def _only(obj: Json, allowed: set[str], what: str) -> None:
    extra = set(obj) - allowed
    assert not extra, f"{what} has keys outside the whitelist: {sorted(extra)}"


def _time(value: Any, what: str) -> None:
    assert value is None or (isinstance(value, str) and DATETIME.match(value)), f"{what}: bad datetime {value!r}"


def check_task(task: Json) -> None:
    _only(task, TASK, "task")
    for key in ("stagedAt", "startedAt"):
        _time(task.get(key), f"task.{key}")
    for result in task.get("healthCheckResults", []):
        _only(result, HEALTH_RESULT, "healthCheckResult")
        for key in ("firstSuccess", "lastFailure", "lastSuccess"):
            _time(result.get(key), f"healthCheckResult.{key}")
    for ip in task.get("ipAddresses", []):
        _only(ip, {"ipAddress", "protocol"}, "ipAddress")


def check_app(app: Json) -> None:
    _only(app, APP, "app")
    missing = APP_REQUIRED - set(app)
    assert not missing, f"app misses {sorted(missing)}"
    _only(app["upgradeStrategy"], {"maximumOverCapacity", "minimumHealthCapacity"}, "upgradeStrategy")
    _only(app["versionInfo"], {"lastScalingAt", "lastConfigChangeAt"}, "versionInfo")
    for key in ("lastScalingAt", "lastConfigChangeAt"):
        _time(app["versionInfo"][key], f"versionInfo.{key}")
    _time(app["version"], "version")
    for d in app["deployments"]:
        _only(d, {"id"}, "app.deployments[]")
    for pd in app.get("portDefinitions", []):
        _only(pd, {"port", "protocol", "name", "labels"}, "portDefinition")
    if app.get("container") is not None:
        _only(app["container"], {"docker", "type", "portMappings", "volumes"}, "container")
    if "lastTaskFailure" in app:
        _only(app["lastTaskFailure"], LAST_FAILURE, "lastTaskFailure")
        _time(app["lastTaskFailure"]["timestamp"], "lastTaskFailure.timestamp")
    for task in app.get("tasks", []):
        check_task(task)
    for hc in app["healthChecks"]:
        if "command" in hc:
            assert isinstance(hc["command"], dict) and set(hc["command"]) == {"value"}
    assert app["killSelection"] in ("YOUNGEST_FIRST", "OLDEST_FIRST")


def check_deployment(d: Json) -> None:
    _only(d, DEPLOYMENT, "deployment")
    for step in d["steps"]:
        _only(step, {"actions"}, "step")
        for action in step["actions"]:
            _only(action, ACTION, "action")
            assert action["action"] in ACTIONS
    for action in d["currentActions"]:
        _only(action, ACTION, "currentAction")


def check_group(g: Json) -> None:
    _only(g, GROUP, "group")
    for app in g["apps"]:
        check_app(app)
    for sub in g["groups"]:
        check_group(sub)


def check_queue_item(item: Json) -> None:
    _only(item, QUEUE_ITEM, "queue item")
    assert set(item["delay"]) == {"timeLeftSeconds", "overdue"}
    check_app(item["app"])


def check_info(info: Json) -> None:
    _only(info, INFO, "info")
    for key in ("http_config", "marathon_config", "zookeeper_config"):
        assert isinstance(info[key], dict), key
