"""The zone rule on a real local cluster (docs/zones.md): every daemon, nginx included, listens only
on its own node's address, never on a wildcard; Admin Router alone listens on port 80."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

from pydcos.cluster import processes
from pydcos.cluster.cluster_files import decode_pids
from pydcos.testing.cluster import LocalCluster


def _listening() -> dict[int, tuple[str, int]]:
    """Socket inode -> (ip, port) of every listening IPv4 TCP socket, and IPv6 ones as ("::", port)."""
    found: dict[int, tuple[str, int]] = {}
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address, port = fields[1].split(":")
            ip = socket.inet_ntoa(struct.pack("<I", int(address, 16))) if family == 4 else "::"
            found[int(fields[9])] = (ip, int(port, 16))
    return found


def _sockets_of(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return inodes


def test_daemons_listen_only_on_their_node_address(local_cluster: LocalCluster) -> None:
    pids = decode_pids((local_cluster.dir / "pids.json").read_bytes())
    listening = _listening()
    router_ip = local_cluster.info.masters[0].ip
    seen_80 = []
    for record in pids.daemons:
        node_ip = record.url.removeprefix("http://").split(":")[0]
        # The daemon and what runs in its session (nginx's master and workers), not its tasks.
        family = [record.pid] + [p for p in processes.left_behind(str(local_cluster.dir), sessions=[record.pid])
                                 if processes.proc_stat(p) and processes.proc_stat(p).session == record.pid]  # type: ignore[union-attr]
        addresses = {listening[i] for p in family for i in _sockets_of(p) if i in listening}
        assert addresses, record.key
        for ip, port in addresses:
            assert ip == node_ip, f"{record.key} listens on {ip}:{port}"
            if port == 80:
                seen_80.append(record.key)
    assert set(seen_80) == {"master-1/adminrouter"}
    assert (router_ip, 80) in listening.values() and (router_ip, 8101) in listening.values()
