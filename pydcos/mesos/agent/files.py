"""The files API's rules: which paths are reachable, and read/browse semantics (COMPAT §5.2).

Synchronous filesystem calls only (no event loop): the HTTP shell calls these and turns a
`FilesError` (errors.py) into its status code. Reachable are the paths inside the sandboxes root
(`WORK/slaves`) and the virtual files (`/slave/log`). A path is normalised (`/.`, `..`, `//`),
resolved with realpath and checked against the root; the file is then opened and the path the
kernel actually opened (`/proc/self/fd/N`) is checked again, so a symlink swapped in between
cannot lead outside. Only regular files are read and only directories browsed: a FIFO or device
in a sandbox cannot block or leak.

>>> parse_int("-1", "offset", default=-1)
-1
"""

from __future__ import annotations

import contextlib
import grp
import os
import posixpath
import pwd
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydcos.mesos.agent.errors import BadRequest, Forbidden, NotFound

PAGE = 4096
READ_CAP = 16 * PAGE  # Mesos caps one read at 16 pages
OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


@dataclass(frozen=True, slots=True)
class FileRoots:
    """What the files API may serve: a directory tree and named virtual files."""

    sandboxes_root: str
    virtual: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def make(sandboxes_root: str, virtual: Mapping[str, str] | None = None) -> FileRoots:
        return FileRoots(os.path.realpath(sandboxes_root), dict(virtual or {}))


@dataclass(frozen=True, slots=True)
class Resolved:
    shown: str  # the normalised path as the client named it (browse answers use it)
    real: str  # what to open
    root: str  # the opened file must resolve to this or below it


def parse_int(raw: str | None, name: str, *, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise BadRequest(f"Failed to parse {name}: '{raw}' is not an integer") from None
    if value < -1:
        raise BadRequest(f"Negative {name} provided: {value}")
    if value > 2**62:
        raise BadRequest(f"{name} {value} is too large")
    return value


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolve(roots: FileRoots, raw: str | None) -> Resolved:
    if raw is None or raw == "":
        raise BadRequest("Expecting 'path=value' in query.")
    if "\0" in raw:
        raise BadRequest("Path contains a NUL byte")
    if not raw.startswith("/"):
        raise BadRequest(f"Path '{raw}' is not absolute")
    shown = posixpath.normpath(raw)
    if shown.startswith("//"):
        shown = "/" + shown.lstrip("/")
    if shown in roots.virtual:
        real = os.path.realpath(roots.virtual[shown])
        return Resolved(shown, real, real)
    real = os.path.realpath(shown)
    if not _inside(real, roots.sandboxes_root):
        raise Forbidden(f"Path '{shown}' is outside the agent's sandboxes")
    return Resolved(shown, real, roots.sandboxes_root)


def open_checked(resolved: Resolved, *, directory: bool = False) -> tuple[int, os.stat_result]:
    """Open and fstat the resolved path, refusing anything that ends up outside its root."""
    flags = OPEN_FLAGS | (os.O_DIRECTORY if directory else 0)
    try:
        fd = os.open(resolved.real, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"No such {'directory' if directory else 'file'}: '{resolved.shown}'") from None
    except PermissionError:
        raise Forbidden(f"Permission denied: '{resolved.shown}'") from None
    except OSError as exc:
        raise NotFound(f"Cannot open '{resolved.shown}': {exc.strerror}") from None
    try:
        try:
            opened = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            opened = resolved.real  # no /proc: the realpath check above has to do
        if not _inside(opened, resolved.root):
            raise Forbidden(f"Path '{resolved.shown}' is outside the agent's sandboxes")
        return fd, os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise


def _trim_partial_utf8(data: bytes) -> bytes:
    """Drop an incomplete UTF-8 sequence at the end, so a read never splits a character."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte or ASCII
            need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
            return data[:-back] if need > back else data
    return data


def read(roots: FileRoots, raw_path: str | None, raw_offset: str | None, raw_length: str | None,
         *, cap: int = READ_CAP) -> dict[str, Any]:
    """`{"data", "offset"}`: offset -1 (or none) gives the size; length -1 (or none) reads up to
    the cap; at or past the end the data is empty and the offset the size."""
    offset = parse_int(raw_offset, "offset", default=-1)
    length = parse_int(raw_length, "length", default=-1)
    resolved = resolve(roots, raw_path)
    fd, st = open_checked(resolved)
    try:
        if stat.S_ISDIR(st.st_mode):
            raise BadRequest(f"Cannot read a directory: '{resolved.shown}'")
        if not stat.S_ISREG(st.st_mode):
            raise BadRequest(f"Not a regular file: '{resolved.shown}'")
        size = st.st_size
        if offset == -1:
            return {"data": "", "offset": size}
        length = cap if length == -1 else min(length, cap)
        if offset >= size or length == 0:
            return {"data": "", "offset": min(offset, size)}
        try:
            data = os.pread(fd, length, offset)
        except OSError as exc:
            raise NotFound(f"Cannot read '{resolved.shown}': {exc.strerror}") from None
        if len(data) == length:
            data = _trim_partial_utf8(data) or data
        return {"data": data.decode("utf-8", "replace"), "offset": offset}
    finally:
        os.close(fd)


@lru_cache(maxsize=256)
def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@lru_cache(maxsize=256)
def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def file_info(path: str, st: os.stat_result) -> dict[str, Any]:
    """One browse entry, as Mesos renders it (`mode` like `-rw-r--r--`, owner names)."""
    return {
        "path": path,
        "nlink": st.st_nlink,
        "size": st.st_size,
        "mtime": int(st.st_mtime),
        "mode": stat.filemode(st.st_mode),
        "uid": _user_name(st.st_uid),
        "gid": _group_name(st.st_gid),
    }


def browse(roots: FileRoots, raw_path: str | None) -> list[dict[str, Any]]:
    """The entries of a directory sorted by path (a file lists itself). Symlinks are followed
    only while they stay inside the root; others are shown as links."""
    resolved = resolve(roots, raw_path)
    fd, st = open_checked(resolved)
    try:
        if not stat.S_ISDIR(st.st_mode):
            return [file_info(resolved.shown, st)]
        prefix = resolved.shown.rstrip("/")
        out: list[dict[str, Any]] = []
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    entry_st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # vanished while listing
                if stat.S_ISLNK(entry_st.st_mode):
                    target = os.path.realpath(os.path.join(resolved.real, entry.name))
                    if _inside(target, resolved.root):
                        with contextlib.suppress(OSError):  # dangling: shown as the link
                            entry_st = os.stat(target)
                out.append(file_info(f"{prefix}/{entry.name}", entry_st))
        out.sort(key=lambda e: str(e["path"]))
        return out
    finally:
        os.close(fd)


def open_download(roots: FileRoots, raw_path: str | None) -> tuple[int, int, str]:
    """(fd, size, file name) of a regular file; the caller closes the fd."""
    resolved = resolve(roots, raw_path)
    fd, st = open_checked(resolved)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise BadRequest(f"Not a regular file: '{resolved.shown}'")
    return fd, st.st_size, posixpath.basename(resolved.shown)


def debug(roots: FileRoots, directories: list[str]) -> dict[str, str]:
    """The attached paths, as Mesos's `/files/debug` lists them (virtual path -> real path)."""
    out = {d: d for d in directories}
    out.update(roots.virtual)
    return out
