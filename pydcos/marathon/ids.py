"""Marathon path ids (`/group/app`) and task ids. Pure.

An id is absolute after `canonical`: `web` under base `/prod` is `/prod/web`, `.` and `..` resolve
as in a file system, and each segment must match Marathon's rule (lower-case letters, digits,
dashes and dots between labels).

>>> canonical("../web", "/prod/api")
'/prod/web'
>>> task_id_for("/prod/web", "6b1e0c9a")
'prod_web.6b1e0c9a'
>>> app_id_of_task("prod_web.6b1e0c9a")
'/prod/web'
>>> hostname_of("/prod/web")
'web.prod'
"""

from __future__ import annotations

import re

ROOT = "/"
_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
SEGMENT_RULE = (
    "must fully match the regular expression "
    "'^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'"
)


class BadId(ValueError):
    pass


def canonical(raw: str, base: str = ROOT) -> str:
    """The absolute, normalised form of `raw` relative to `base`; BadId when a segment is invalid."""
    if raw.startswith("/"):
        parts: list[str] = []
    else:
        parts = [p for p in base.split("/") if p]
    for segment in raw.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        if not _SEGMENT.match(segment):
            raise BadId(f"path contains invalid characters (allowed: lowercase letters, digits, hyphens, "
                        f"'.', '..'): {raw!r}")
        parts.append(segment)
    return "/" + "/".join(parts)


def is_valid(raw: str) -> bool:
    try:
        canonical(raw)
    except BadId:
        return False
    return True


def parent(path: str) -> str:
    if path == ROOT:
        return ROOT
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def ancestors(path: str) -> list[str]:
    """Every group above `path`, nearest first, ending with the root."""
    out = []
    while path != ROOT:
        path = parent(path)
        out.append(path)
    return out


def is_under(path: str, group: str) -> bool:
    """True when `path` is `group` itself or anywhere below it."""
    return group == ROOT or path == group or path.startswith(group + "/")


def safe_path(app_id: str) -> str:
    return "_".join(p for p in app_id.split("/") if p)


def task_id_for(app_id: str, unique: str) -> str:
    """Marathon's task id: the app path with `/` as `_`, a dot, then a unique part."""
    return f"{safe_path(app_id)}.{unique}"


def app_id_of_task(task_id: str) -> str | None:
    head, dot, _ = task_id.rpartition(".")
    if not dot or not head:
        return None
    return "/" + head.replace("_", "/")


def hostname_of(app_id: str) -> str:
    """The task name Mesos-DNS turns into `<name>.marathon.mesos`: segments reversed, dotted."""
    return ".".join(reversed([p for p in app_id.split("/") if p]))
