"""What Marathon keeps in the store, under which keys, in which form. Pure.

    /marathon/framework-id                  the framework id (tasks survive a restart through it)
    /marathon/apps/<app path>               the current AppDefinition
    /marathon/app-versions/<app path>/<v>   every kept version of it
    /marathon/groups                        the group metadata and the root version
    /marathon/deployments/<id>              a running deployment: plan and current step
    /marathon/instances/<task id>           an instance: where it runs, its state and health
"""

from __future__ import annotations

import msgspec

from pydcos.marathon.deployments import DeploymentRun
from pydcos.marathon.instances import Instance
from pydcos.marathon.model import AppDefinition, GroupMeta

PREFIX = "/marathon"
FRAMEWORK_ID_KEY = f"{PREFIX}/framework-id"
APPS_PREFIX = f"{PREFIX}/apps"
VERSIONS_PREFIX = f"{PREFIX}/app-versions"
GROUPS_KEY = f"{PREFIX}/groups"
DEPLOYMENTS_PREFIX = f"{PREFIX}/deployments/"
INSTANCES_PREFIX = f"{PREFIX}/instances/"


class GroupsRecord(msgspec.Struct):
    version: str
    groups: list[GroupMeta]


ENCODER = msgspec.json.Encoder()
APP_DECODER = msgspec.json.Decoder(AppDefinition)
GROUPS_DECODER = msgspec.json.Decoder(GroupsRecord)
RUN_DECODER = msgspec.json.Decoder(DeploymentRun)
INSTANCE_DECODER = msgspec.json.Decoder(Instance)


def app_key(app_id: str) -> str:
    return APPS_PREFIX + app_id


def version_key(app_id: str, version: str) -> str:
    return f"{VERSIONS_PREFIX}{app_id}/{version}"


def split_version_key(key: str) -> tuple[str, str] | None:
    """(app id, version) of a version key."""
    rest = key.removeprefix(VERSIONS_PREFIX)
    app_id, sep, version = rest.rpartition("/")
    if not sep or not app_id:
        return None
    return app_id, version


def deployment_key(deployment_id: str) -> str:
    return DEPLOYMENTS_PREFIX + deployment_id


def instance_key(task_id: str) -> str:
    return INSTANCES_PREFIX + task_id


def encode(obj: object) -> bytes:
    return ENCODER.encode(obj)


class Snapshot(msgspec.Struct):
    """Everything loaded back at start."""

    framework_id: str | None = None
    apps: dict[str, AppDefinition] = {}
    versions: dict[str, dict[str, AppDefinition]] = {}
    groups: GroupsRecord | None = None
    runs: list[DeploymentRun] = []
    instances: list[Instance] = []
