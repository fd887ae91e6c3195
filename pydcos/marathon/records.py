"""What Marathon keeps in the store, under which keys, in which form. Pure.

    /marathon/framework-id                  the framework id (tasks survive a restart through it)
    /marathon/apps/<app path>               the current AppDefinition
    /marathon/app-versions/<app path>/<v>   every kept version of it
    /marathon/groups                        the group metadata and the root version
    /marathon/deployments/<id>              a running deployment: plan and current step
    /marathon/instances/<task id>           an instance: where it runs, its state and health
    /marathon/group-versions/<v>            a kept version of the whole tree: groups, app ids and versions
    /marathon/group-apps/<app path>/<v>     an app definition a kept tree version names (one copy each)
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
GROUP_VERSIONS_PREFIX = f"{PREFIX}/group-versions/"
GROUP_APPS_PREFIX = f"{PREFIX}/group-apps"


class GroupsRecord(msgspec.Struct):
    version: str
    groups: list[GroupMeta]


class TreeRecord(msgspec.Struct):
    """One kept version of the whole group tree; its apps by id and version (group_versions.py)."""

    version: str
    groups: list[GroupMeta]
    apps: dict[str, str]


ENCODER = msgspec.json.Encoder()
APP_DECODER = msgspec.json.Decoder(AppDefinition)
GROUPS_DECODER = msgspec.json.Decoder(GroupsRecord)
RUN_DECODER = msgspec.json.Decoder(DeploymentRun)
INSTANCE_DECODER = msgspec.json.Decoder(Instance)
TREE_DECODER = msgspec.json.Decoder(TreeRecord)


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


def group_version_key(version: str) -> str:
    return GROUP_VERSIONS_PREFIX + version


def group_app_key(app_id: str, version: str) -> str:
    return f"{GROUP_APPS_PREFIX}{app_id}/{version}"


def split_group_app_key(key: str) -> tuple[str, str] | None:
    """(app id, version) of a group-apps key."""
    app_id, sep, version = key.removeprefix(GROUP_APPS_PREFIX).rpartition("/")
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
    trees: list[TreeRecord] = []
    tree_apps: dict[str, dict[str, AppDefinition]] = {}
