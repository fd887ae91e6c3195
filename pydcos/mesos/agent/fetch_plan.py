"""What the fetcher does with a command's `uris`, decided before any byte moves. Pure.

Each CommandInfo.URI becomes one `FetchItem`: where the bytes come from (http, https or a local
file), the file it lands in inside the sandbox, whether it is then extracted (by the name's
extension, as Mesos does) or made executable, and where it is kept in the cache when `cache` is
set. Anything that cannot be fetched safely (an unsupported scheme, a relative local path, an
`output_file` reaching outside the sandbox) raises `FetchFailed` naming the URI.

>>> [item] = plan_fetch([CommandURI("http://h/pkg/app.tar.gz?x=1")], "/sb", "/cache")
>>> item.scheme, item.dest, item.archive
('http', '/sb/app.tar.gz', 'tar')
>>> plan_fetch([CommandURI("/opt/tool", executable=True)], "/sb", "/cache")[0].dest
'/sb/tool'
"""

from __future__ import annotations

import hashlib
import posixpath
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from pydcos.mesos.agent.errors import FetchFailed
from pydcos.mesos.v1.messages import CommandURI

Scheme = Literal["http", "https", "file"]
ArchiveKind = Literal["tar", "zip"]

# Longest suffix first: `x.tar.gz` is a tar archive, not a gzip of `x.tar`.
ARCHIVE_SUFFIXES: tuple[tuple[str, ArchiveKind], ...] = (
    (".tar.gz", "tar"),
    (".tar.bz2", "tar"),
    (".tar.xz", "tar"),
    (".tgz", "tar"),
    (".tbz2", "tar"),
    (".txz", "tar"),
    (".tar", "tar"),
    (".zip", "zip"),
)
MAX_URIS = 100


@dataclass(frozen=True, slots=True)
class FetchItem:
    uri: str  # as the framework gave it, for messages
    scheme: Scheme
    source: str  # the URL for http(s), the absolute path for files
    dest: str  # absolute path of the file in the sandbox
    archive: ArchiveKind | None  # extract into the sandbox after fetching
    executable: bool
    cache_path: str | None  # where the cached copy lives, when `cache` is set


def archive_kind(name: str) -> ArchiveKind | None:
    """The archive type by the name's extension, as Mesos's fetcher decides.

    >>> archive_kind("a.TGZ"), archive_kind("a.zip"), archive_kind("a.gz")
    ('tar', 'zip', None)
    """
    lower = name.lower()
    for suffix, kind in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return kind
    return None


def cache_key(uri: str) -> str:
    """One cache directory per URI (its SHA-256), so different URIs never share an entry."""
    return hashlib.sha256(uri.encode("utf-8", "surrogateescape")).hexdigest()


def _source(uri: str) -> tuple[Scheme, str, str]:
    """(scheme, source, basename) of a URI, or FetchFailed."""
    if "\0" in uri or not uri.strip():
        raise FetchFailed(f"Failed to fetch '{uri}': the URI is empty or contains a NUL byte")
    parsed = urllib.parse.urlsplit(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        if not parsed.netloc:
            raise FetchFailed(f"Failed to fetch '{uri}': no host in the URL")
        path = urllib.parse.unquote(parsed.path)
        return ("http" if scheme == "http" else "https"), uri, posixpath.basename(path.rstrip("/"))
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise FetchFailed(f"Failed to fetch '{uri}': file URIs on other hosts are not supported")
        path = urllib.parse.unquote(parsed.path)
    elif scheme == "" or len(scheme) == 1:  # no scheme (or a drive letter): a local path
        path = uri
    else:
        raise FetchFailed(f"Failed to fetch '{uri}': unsupported scheme '{scheme}' (http, https and file are)")
    if not path.startswith("/"):
        raise FetchFailed(f"Failed to fetch '{uri}': a local path must be absolute")
    path = posixpath.normpath(path)
    return "file", path, posixpath.basename(path)


def _dest_name(uri: CommandURI, basename: str) -> str:
    name = uri.output_file if uri.output_file else basename
    if not name or "\0" in name:
        raise FetchFailed(f"Failed to fetch '{uri.value}': cannot tell the file name (give 'output_file')")
    normal = posixpath.normpath(name)
    if normal.startswith("/") or normal == ".." or normal.startswith("../") or normal in (".", ""):
        raise FetchFailed(f"Failed to fetch '{uri.value}': output file '{name}' is outside the sandbox")
    return normal


def plan_fetch(uris: list[CommandURI], sandbox: str, cache_dir: str | None) -> list[FetchItem]:
    """The fetch items of a command's URIs, in order. Raises FetchFailed for the first bad one."""
    if len(uris) > MAX_URIS:
        raise FetchFailed(f"Failed to fetch: {len(uris)} URIs given, at most {MAX_URIS} are allowed")
    items: list[FetchItem] = []
    for uri in uris:
        scheme, source, basename = _source(uri.value)
        name = _dest_name(uri, basename)
        archive = archive_kind(name) if uri.extract and not uri.executable else None
        cache_path = None
        if uri.cache and cache_dir is not None:
            cache_path = posixpath.join(cache_dir, cache_key(uri.value), posixpath.basename(name))
        items.append(FetchItem(
            uri=uri.value,
            scheme=scheme,
            source=source,
            dest=posixpath.join(sandbox, name),
            archive=archive,
            executable=uri.executable,
            cache_path=cache_path,
        ))
    return items


def member_problem(name: str, *, is_link: bool = False, link_target: str = "") -> str | None:
    """Why an archive member may not be extracted into the sandbox, or None (zip members;
    tar members go through tarfile's own `data` filter)."""
    if "\0" in name:
        return f"member {name!r} contains a NUL byte"
    normal = posixpath.normpath(name.replace("\\", "/"))
    if normal.startswith("/") or normal == ".." or normal.startswith("../"):
        return f"member '{name}' would be extracted outside the sandbox"
    if is_link:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(normal), link_target))
        if link_target.startswith("/") or target == ".." or target.startswith("../"):
            return f"link '{name}' points outside the sandbox"
    return None
