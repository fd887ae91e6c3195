"""`pydcos cluster up | status | down`: a whole cluster on this machine's loopback addresses."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click
import msgspec
from rich.console import Console
from rich.table import Table

from pydcos.adminrouter.bootstrap import ensure_first_user
from pydcos.adminrouter.errors import BootstrapFailed
from pydcos.cluster.cluster_files import ClusterInfo, DaemonRecord, encode_json
from pydcos.cluster.errors import ClusterError, DaemonFailed, NoCluster
from pydcos.cluster.plan import (
    DEFAULT_NET,
    ClusterOptions,
    ClusterPlan,
    PlanError,
    normalize_net,
    plan_cluster,
)
from pydcos.cluster.processes import machine_facts
from pydcos.cluster.supervisor import (
    DEFAULT_START_TIMEOUT_S,
    Supervisor,
    cluster_status,
    install_stop_signals,
    stop_cluster,
)

# Test-only: extra command-line arguments for chosen daemons, as JSON {"NODE/DAEMON": ["--flag", ...]}.
EXTRA_ARGS_ENV = "PYDCOS_CLUSTER_TEST_EXTRA_ARGS"
DEFAULT_DIR = ".cluster"


def _console(stderr: bool = False) -> Console:
    # Off a terminal (tests, CI logs) keep lines whole instead of folding URLs at 80 columns.
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


dir_option = click.option(
    "--dir",
    "cluster_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="The cluster's directory: cluster.json, pids.json, logs/NODE/DAEMON.log, nodes/NODE/DAEMON.",
)


@click.group()
def cluster() -> None:
    """A local cluster: every node on a loopback address of its own, with the standard ports."""


@cluster.command()
@click.option("--masters", default=1, show_default=True, help="Number of masters (127.0.1.N:5050).")
@click.option("--agents", default=2, show_default=True, help="Number of private agents (127.0.2.N:5051).")
@click.option(
    "--public-agents", default=1, show_default=True, help="Number of public agents (127.0.3.N:5051)."
)
@dir_option
@click.option("--detach", is_flag=True, help="Start the daemons in the background and return.")
@click.option("--fresh", is_flag=True, help="Delete the state and logs of an earlier run in --dir first.")
@click.option(
    "--net",
    "--ip-prefix",
    "net",
    default=DEFAULT_NET,
    show_default=True,
    help="Loopback block 127.N the addresses come from: masters 127.N.1.x, agents 127.N.2.x, public 127.N.3.x.",
)
@click.option(
    "--start-timeout",
    default=DEFAULT_START_TIMEOUT_S,
    show_default=True,
    help="Seconds for every daemon to become healthy and every agent to register.",
)
@click.option(
    "--dns-forward/--no-dns-forward",
    default=True,
    show_default=True,
    help="Let the dns forward names outside the mesos domain to the host's resolvers.",
)
def up(
    masters: int,
    agents: int,
    public_agents: int,
    cluster_dir: Path,
    detach: bool,
    fresh: bool,
    net: str,
    start_timeout: float,
    dns_forward: bool,
) -> None:
    """Start a cluster; without --detach, run it until Ctrl-C."""
    options = ClusterOptions(
        dir=cluster_dir.resolve(),
        masters=masters,
        agents=agents,
        public_agents=public_agents,
        net=normalize_net(net),
        dns_forward=dns_forward,
        extra_args=_extra_args_from_env(os.environ),
    )
    try:
        plan = plan_cluster(options, machine_facts())
    except PlanError as exc:
        raise click.UsageError(str(exc)) from None
    if fresh:
        _remove_earlier_run(plan)
    sys.exit(asyncio.run(_up(plan, detach=detach, start_timeout=start_timeout)))


async def _up(plan: ClusterPlan, *, detach: bool, start_timeout: float) -> int:
    out, err = _console(), _console(stderr=True)
    task = asyncio.current_task()
    assert task is not None
    install_stop_signals(task)
    supervisor = Supervisor(plan, detach=detach, start_timeout=start_timeout)
    out.print(f"starting {len(plan.daemons)} daemons in {plan.dir} ...", markup=False, highlight=False)
    try:
        info = await supervisor.start()
    except DaemonFailed as exc:
        _print_failure(err, exc)
        return 1
    except ClusterError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 1
    except asyncio.CancelledError:
        err.print("interrupted: every daemon started so far has been stopped", highlight=False)
        return 130
    try:
        info = await _first_user(plan, info)
    except (BootstrapFailed, asyncio.CancelledError) as exc:
        supervisor.stop()
        err.print(f"error: {exc or 'interrupted'}; every daemon has been stopped", markup=False, highlight=False)
        return 1
    out.print(_listen_table(plan, info, supervisor.records))
    out.print(f"cluster.json: {plan.cluster_json}", markup=False, highlight=False)
    if info.dcos_url and info.admin:
        out.print(f"dcos_url: {info.dcos_url} (log in as {info.admin['uid']}; the password is in cluster.json)",
                  markup=False, highlight=False)
    if detach:
        out.print(f"stop it with: pydcos cluster down --dir {plan.dir}", markup=False, highlight=False)
        return 0
    out.print("running; press Ctrl-C to stop", highlight=False)
    try:
        await supervisor.watch(lambda record, code, tail: _print_exit(err, record, code, tail))
    except asyncio.CancelledError:
        pass
    finally:
        out.print("stopping the cluster ...", highlight=False)
        supervisor.stop()
    out.print("stopped", highlight=False)
    return 0


@cluster.command()
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(cluster_dir: Path, as_json: bool) -> None:
    """Show each daemon's pid, address and health. Exits 1 unless all are running and healthy."""
    try:
        statuses = asyncio.run(cluster_status(cluster_dir.resolve()))
    except NoCluster as exc:
        _console(stderr=True).print(str(exc), markup=False, highlight=False)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(s) for s in statuses]))
    else:
        table = Table("node", "daemon", "pid", "url", "process", "health")
        for s in statuses:
            node, daemon = s.key.split("/", 1)
            table.add_row(
                node,
                daemon,
                str(s.pid),
                s.url,
                "running" if s.running else "[red]gone[/red]",
                "[green]healthy[/green]" if s.healthy else "[red]unhealthy[/red]",
            )
        _console().print(table)
    sys.exit(0 if statuses and all(s.running and s.healthy for s in statuses) else 1)


@cluster.command()
@dir_option
def down(cluster_dir: Path) -> None:
    """Stop every process of the cluster (daemons, and what they started) and forget it."""
    stopped = stop_cluster(cluster_dir.resolve())
    out = _console()
    if stopped:
        out.print(f"stopped: {', '.join(stopped)}", markup=False, highlight=False)
    else:
        out.print(f"no cluster was running in {cluster_dir.resolve()}", markup=False, highlight=False)


async def _first_user(plan: ClusterPlan, info: ClusterInfo) -> ClusterInfo:
    """Create the identity service's first user through Admin Router and put its credentials into
    cluster.json (`admin: {uid, password}`), which then becomes readable by its owner only."""
    routers = plan.of_kind("adminrouter")
    if not routers or info.dcos_url is None:
        return info
    creds = await ensure_first_user(info.dcos_url, routers[0].work_dir / "first-user.json")
    info = msgspec.structs.replace(info, admin={"uid": creds.uid, "password": creds.password})
    tmp = plan.cluster_json.with_name(plan.cluster_json.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(encode_json(info))
    os.replace(tmp, plan.cluster_json)
    return info


def _extra_args_from_env(env: Mapping[str, str]) -> dict[str, Sequence[str]]:
    raw = env.get(EXTRA_ARGS_ENV)
    if not raw:
        return {}
    try:
        decoded: dict[str, list[str]] = msgspec.json.decode(raw, type=dict[str, list[str]])
    except msgspec.DecodeError as exc:
        raise click.UsageError(f'{EXTRA_ARGS_ENV}: expected JSON {{"NODE/DAEMON": [args]}}: {exc}') from None
    return dict(decoded)


def _remove_earlier_run(plan: ClusterPlan) -> None:
    """--fresh: forget the nodes' state and logs (refused while a cluster runs there: `up` checks
    that before it starts anything, but deleting comes first, so check here too)."""
    if (plan.pids_json).exists():
        raise click.UsageError(
            f"{plan.pids_json} exists: stop that cluster with `pydcos cluster down --dir {plan.dir}` first"
        )
    for sub in ("nodes", "logs"):
        shutil.rmtree(plan.dir / sub, ignore_errors=True)


def _listen_table(plan: ClusterPlan, info: ClusterInfo, records: Sequence[DaemonRecord]) -> Table:
    pids = {r.key: r.pid for r in records}
    ids = {a.url: a.id for a in info.agents}
    zones = {n.name: n.zone for n in plan.nodes}
    table = Table(
        "node",
        "zone",
        "daemon",
        "listens on",
        "pid",
        "agent id",
        "log",
        title=f"pydcos cluster in {plan.dir}",
    )
    for d in plan.daemons:
        table.add_row(
            d.node,
            zones[d.node],
            d.name,
            d.url,
            str(pids.get(d.key, "")),
            ids.get(d.url, ""),
            str(d.log_file.relative_to(plan.dir)),
        )
    return table


def _print_failure(err: Console, exc: DaemonFailed) -> None:
    err.print(f"error: {exc}; every other daemon has been stopped", markup=False, highlight=False)
    err.print(f"--- last lines of {exc.log_file} ---", markup=False, highlight=False)
    err.print(exc.log_tail or "(empty)", markup=False, highlight=False)
    err.print("---", markup=False, highlight=False)


def _print_exit(err: Console, record: DaemonRecord, code: int, tail: str) -> None:
    err.print(
        f"warning: {record.key} (pid {record.pid}) exited with code {code}", markup=False, highlight=False
    )
    err.print(f"--- last lines of {record.log_file} ---", markup=False, highlight=False)
    err.print(tail or "(empty)", markup=False, highlight=False)
    err.print("---", markup=False, highlight=False)
