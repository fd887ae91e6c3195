"""A real local cluster for end-to-end tests: `pydcos cluster up --detach` in a temporary directory,
on a loopback block of its own (127.11 and up, never a user's 127.0), always taken down again.

    with run_local_cluster(agents=1, public_agents=0) as c:
        requests.get(c.info.masters[0].mesos_url + "/master/state")

`run_local_cluster` stops every process and removes the directory whatever happens inside the
block; when `up` fails it raises `ClusterStartFailed` carrying `up`'s output (with the failing
daemon's log tail).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydcos.cli.cluster import EXTRA_ARGS_ENV
from pydcos.cluster.cluster_files import ClusterInfo, decode_cluster_info, tail_lines
from pydcos.cluster.plan import MASTER_PORT
from pydcos.cluster.processes import address_in_use

__all__ = [
    "ClusterStartFailed",
    "LocalCluster",
    "free_test_net",
    "pydcos_cli",
    "run_local_cluster",
]

# The loopback blocks tests take, in order: 127.11, 127.12, ...; 127.0 stays the user's.
FIRST_TEST_BLOCK = 11
LAST_TEST_BLOCK = 250
CLI_TIMEOUT_S = 180.0
_next_block = itertools.count(FIRST_TEST_BLOCK)


class ClusterStartFailed(AssertionError):
    pass


@dataclass(frozen=True)
class LocalCluster:
    dir: Path
    net: str
    info: ClusterInfo
    raw: dict[str, Any]  # cluster.json as parsed JSON, for tests that want plain dicts

    @property
    def mesos_url(self) -> str:
        return self.info.masters[0].mesos_url

    def log_tails(self, lines: int = 30) -> str:
        """The last lines of every daemon's log, to print when a test fails."""
        parts = []
        for path in sorted((self.dir / "logs").glob("*/*.log")):
            text = tail_lines(path.read_text(errors="replace"), lines)
            parts.append(f"--- {path.relative_to(self.dir)} ---\n{text}")
        return "\n".join(parts)


def pydcos_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run `pydcos ARGS...` (as `python -m pydcos.cli`, with this interpreter) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "pydcos.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ if env is None else env),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def free_test_net() -> str:
    """A loopback block no earlier call handed out and where nothing listens on the first master's port."""
    for n in _next_block:
        if n > LAST_TEST_BLOCK:
            break
        # Another session's cluster may hold any of the block's standard ports.
        probes = ((f"127.{n}.1.1", MASTER_PORT), (f"127.{n}.1.1", 80), (f"127.{n}.1.1", 8080),
                  (f"127.{n}.2.1", 5051), (f"127.{n}.3.1", 5051))
        if not any(address_in_use(ip, port) for ip, port in probes):
            return f"127.{n}"
    raise RuntimeError("no free loopback block left for a test cluster")


@contextmanager
def run_local_cluster(
    *,
    masters: int = 1,
    agents: int = 2,
    public_agents: int = 1,
    net: str | None = None,
    extra_args: Mapping[str, Sequence[str]] | None = None,
    start_timeout: float = 60.0,
    keep_dir: bool = False,
) -> Iterator[LocalCluster]:
    """Start a cluster with `pydcos cluster up --detach`, yield it, and always take it down."""
    net = net or free_test_net()
    cluster_dir = Path(tempfile.mkdtemp(prefix="pydcos-cluster-"))
    env = dict(os.environ)
    if extra_args:
        env[EXTRA_ARGS_ENV] = json.dumps({k: list(v) for k, v in extra_args.items()})
    try:
        up = pydcos_cli(
            "cluster", "up", "--detach",
            "--dir", str(cluster_dir),
            "--net", net,
            "--masters", str(masters),
            "--agents", str(agents),
            "--public-agents", str(public_agents),
            "--start-timeout", str(start_timeout),
            # Test machines may send nothing off the loopback: no forwarding to the host's resolvers.
            "--no-dns-forward",
            env=env,
            timeout=start_timeout + CLI_TIMEOUT_S,
        )  # fmt: skip
        if up.returncode != 0:
            raise ClusterStartFailed(
                f"pydcos cluster up exited with {up.returncode}\n"
                f"--- stdout ---\n{up.stdout}\n--- stderr ---\n{up.stderr}"
            )
        data = (cluster_dir / "cluster.json").read_bytes()
        yield LocalCluster(dir=cluster_dir, net=net, info=decode_cluster_info(data), raw=json.loads(data))
    finally:
        down = pydcos_cli("cluster", "down", "--dir", str(cluster_dir))
        if not keep_dir:
            shutil.rmtree(cluster_dir, ignore_errors=True)
        if down.returncode != 0 and sys.exc_info()[0] is None:
            raise AssertionError(f"pydcos cluster down failed:\n{down.stdout}\n{down.stderr}")
