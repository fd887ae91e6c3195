"""The kept versions of the whole group tree, for `/v2/groups[/{id}]/versions[/{v}]` and for rolling
a group back (`PUT /v2/groups/{id}` with `{"version": v}`). Pure.

Every change of the tree is a new version of the root group, as in Marathon. The last
`max_versions` are kept: in memory as the trees themselves (immutable; they share their app
definitions with each other and with the current tree), in the store as one small record per
version naming each app by id and version, beside one copy of each app definition some kept
version names. An app's own history (`/v2/apps/{id}/versions`) is kept apart and may drop
definitions a tree still names (all of them when the app is deleted); a kept tree holds on to what
it needs, so rolling a group back brings back the apps deleted since.

>>> from pydcos.marathon.model import AppDefinition
>>> history = GroupHistory(max_versions=2)
>>> for v in ("v1", "v2", "v3"):
...     _ = history.add(RootGroup().with_app(AppDefinition(id="/prod/web", version=v), v))
>>> history.versions("/prod"), history.tree("v1")
(['v3', 'v2'], None)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec

from pydcos.core.log import get_logger
from pydcos.marathon import ids, records
from pydcos.marathon.groups import RootGroup
from pydcos.marathon.model import AppDefinition, GroupMeta

log = get_logger("pydcos.marathon.group_versions")
Write = tuple[str, bytes | None]  # a store key and its new value (None deletes)


class GroupHistory:
    """The last `max_versions` trees, oldest first. Changed only through `add` and `restore`, which
    return the store writes that keep the stored copy in step."""

    def __init__(self, max_versions: int) -> None:
        self.max_versions = max(1, max_versions)
        self._trees: dict[str, RootGroup] = {}
        self._refs: dict[tuple[str, str], int] = {}  # (app id, version) -> kept trees naming it

    def __len__(self) -> int:
        return len(self._trees)

    def tree(self, version: str) -> RootGroup | None:
        return self._trees.get(version)

    def versions(self, group_id: str = ids.ROOT) -> list[str]:
        """The versions in which `group_id` exists, newest first."""
        return [v for v in reversed(self._trees) if group_id in self._trees[v].groups]

    def add(self, root: RootGroup) -> list[Write]:
        """Keep `root` as a new version (no-op for a version already kept or none at all)."""
        if not root.version or root.version in self._trees:
            return []
        writes: list[Write] = []
        self._trees[root.version] = root
        for app in root.apps.values():
            if self._take((app.id, app.version)):
                writes.append((records.group_app_key(app.id, app.version), records.encode(app)))
        record = records.TreeRecord(root.version, list(root.groups.values()),
                                    {app_id: app.version for app_id, app in root.apps.items()})
        writes.append((records.group_version_key(root.version), records.encode(record)))
        while len(self._trees) > self.max_versions:
            writes.extend(self._drop_oldest())
        return writes

    def _take(self, ref: tuple[str, str]) -> bool:
        """Count one more tree naming `ref`; True when it is the first."""
        count = self._refs.get(ref, 0)
        self._refs[ref] = count + 1
        return count == 0

    def _drop_oldest(self) -> list[Write]:
        version = next(iter(self._trees))
        dropped = self._trees.pop(version)
        writes: list[Write] = [(records.group_version_key(version), None)]
        for app in dropped.apps.values():
            ref = (app.id, app.version)
            count = self._refs[ref] - 1
            if count:
                self._refs[ref] = count
            else:
                del self._refs[ref]
                writes.append((records.group_app_key(*ref), None))
        return writes

    def restore(self, stored: Iterable[records.TreeRecord],
                definitions: dict[str, dict[str, AppDefinition]]) -> list[Write]:
        """Take back what was stored; a version naming a definition that is missing is dropped, and
        so are stored definitions no kept version names."""
        writes: list[Write] = []
        for record in sorted(stored, key=lambda r: r.version):
            apps = {app_id: definitions.get(app_id, {}).get(v) for app_id, v in record.apps.items()}
            found = {app_id: app for app_id, app in apps.items() if app is not None}
            if len(found) < len(apps):
                log.warning("group_version_incomplete", version=record.version, missing=len(apps) - len(found))
                writes.append((records.group_version_key(record.version), None))
                continue
            groups = {g.id: g for g in record.groups}
            groups.setdefault(ids.ROOT, GroupMeta(id=ids.ROOT, version=record.version))
            self._trees[record.version] = RootGroup(found, groups, record.version)
            for app in found.values():
                self._take((app.id, app.version))
        while len(self._trees) > self.max_versions:
            writes.extend(self._drop_oldest())
        for app_id, kept in definitions.items():
            for version in kept:
                if (app_id, version) not in self._refs:
                    writes.append((records.group_app_key(app_id, version), None))
        return writes


def replace_subtree(current: RootGroup, old: RootGroup, group_id: str, version: str,
                    restamp: Callable[[AppDefinition, AppDefinition | None], AppDefinition]) -> RootGroup:
    """`current` with everything at and below `group_id` as it was in `old` (which must hold that
    group). `restamp(old_app, current_app)` gives each app of the old subtree its new definition."""
    base = current.without_group(group_id, version)
    apps = dict(base.apps)
    groups = dict(base.groups)
    for meta in old.groups_under(group_id):
        groups[meta.id] = msgspec.structs.replace(meta, version=version)
    for above in ids.ancestors(group_id):  # the group may have been deleted since, with its parents
        kept = groups.get(above)
        groups[above] = (GroupMeta(id=above, version=version) if kept is None
                         else msgspec.structs.replace(kept, version=version))
    for app in old.apps_under(group_id):
        apps[app.id] = restamp(app, current.apps.get(app.id))
    return RootGroup(apps, groups, version)
