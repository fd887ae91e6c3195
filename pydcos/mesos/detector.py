"""Find the leading Mesos master from its ZooKeeper records (`zk://h1:2181,h2:2181/mesos`).

Masters register under the URL's path as ephemeral sequential children
`json.info_<10-digit sequence>` holding MasterInfo JSON; the lowest sequence leads (COMPAT.md §8).
The parsing is pure; only `detect_leader` talks to ZooKeeper (kazoo, through a thread).

    >>> parse_zk_url("zk://h1:2181,h2:2181/mesos")
    ('h1:2181,h2:2181', '/mesos')
    >>> leader_from_children(["log_replicas", "json.info_0000000007", "json.info_0000000003"])
    'json.info_0000000003'
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from kazoo.client import KazooClient  # type: ignore[import-untyped]
from kazoo.exceptions import KazooException, NoNodeError  # type: ignore[import-untyped]
from kazoo.handlers.threading import KazooTimeoutError  # type: ignore[import-untyped]

__all__ = ["NoMasterDetected", "parse_zk_url", "leader_from_children", "master_url_from_info", "detect_leader"]

LEADER_PREFIX = "json.info_"


class NoMasterDetected(ConnectionError):
    """ZooKeeper answered (or did not) but named no leading master."""


def parse_zk_url(url: str) -> tuple[str, str]:
    """`zk://[user:pass@]h1:2181,h2:2181/mesos` -> (`"h1:2181,h2:2181"`, `"/mesos"`)."""
    for scheme in ("zk://", "zoo://"):
        if url.startswith(scheme):
            rest = url[len(scheme):]
            break
    else:
        raise ValueError(f"not a ZooKeeper URL (zk:// or zoo://): {url!r}")
    hosts, slash, path = rest.partition("/")
    hosts = hosts.rpartition("@")[2]  # credentials are not used: masters' records are world-readable
    if not hosts:
        raise ValueError(f"no ZooKeeper host in {url!r}")
    path = "/" + path.strip("/") if slash and path.strip("/") else "/mesos"
    return hosts, path


def leader_from_children(children: list[str]) -> str | None:
    """The `json.info_` child with the lowest sequence; anything else (`log_replicas`, `info_`) is ignored."""
    candidates: list[tuple[int, str]] = []
    for name in children:
        seq = name[len(LEADER_PREFIX):] if name.startswith(LEADER_PREFIX) else ""
        if seq.isdigit():
            candidates.append((int(seq), name))
    return min(candidates)[1] if candidates else None


def master_url_from_info(data: bytes) -> str:
    """MasterInfo JSON -> `http://ip:port`, from `address` or else from `pid` (`master@ip:port`)."""
    try:
        info = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise ValueError(f"master record is not JSON: {data[:100]!r}") from exc
    if not isinstance(info, dict):
        raise ValueError(f"master record is not a JSON object: {data[:100]!r}")
    address = info.get("address")
    if isinstance(address, dict) and address.get("ip") and isinstance(address.get("port"), int):
        return f"http://{address['ip']}:{address['port']}"
    pid = info.get("pid")
    if isinstance(pid, str) and "@" in pid:
        hostport = pid.partition("@")[2]
        host, _, port = hostport.rpartition(":")
        if host and port.isdigit():
            return f"http://{host}:{port}"
    raise ValueError(f"master record has neither address.ip/port nor pid master@ip:port: {data[:200]!r}")


def _read_leader(hosts: str, path: str, timeout: float) -> bytes:
    client: Any = KazooClient(hosts=hosts, timeout=timeout)
    try:
        client.start(timeout=timeout)
        # A leader may vanish between listing and reading: look again, a few times.
        for _ in range(3):
            try:
                children: list[str] = client.get_children(path)
            except NoNodeError:
                children = []
            leader = leader_from_children(children)
            if leader is None:
                raise NoMasterDetected(f"no master registered under {path} in ZooKeeper {hosts}")
            try:
                data, _stat = client.get(f"{path}/{leader}")
            except NoNodeError:
                continue
            return bytes(data)
        raise NoMasterDetected(f"the leading master under {path} in ZooKeeper {hosts} kept changing")
    finally:
        client.stop()
        client.close()


async def detect_leader(zk_url: str, timeout: float = 10.0) -> str:  # noqa: ASYNC109 (kazoo's own deadline)
    """The leading master's base URL (`http://ip:port`) as recorded in ZooKeeper.

    Raises `NoMasterDetected` when ZooKeeper is unreachable within `timeout` or names no master.
    """
    hosts, path = parse_zk_url(zk_url)
    try:
        data = await asyncio.to_thread(_read_leader, hosts, path, timeout)
    except KazooTimeoutError as exc:
        raise NoMasterDetected(f"ZooKeeper {hosts} not reachable within {timeout}s") from exc
    except KazooException as exc:
        raise NoMasterDetected(f"ZooKeeper {hosts} failed: {type(exc).__name__}: {exc}") from exc
    return master_url_from_info(data)
