"""`python -m pydcos.mesos.agent`: run one agent until SIGTERM or SIGINT.

    python -m pydcos.mesos.agent --ip 127.0.0.1 --master 127.0.0.1:5050 --work-dir /tmp/a1 \\
        --resources "cpus:4;mem:4096;disk:10000;ports:[31000-31999]" --attributes "rack:r1"
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pydcos.core.log import get_logger, setup_logging
from pydcos.core.service import run_loop, stop_on_signals
from pydcos.mesos.agent.config import AgentConfig, parse_attributes
from pydcos.mesos.agent.errors import IsolationError
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.agent.task_resolver import use_task_nameservers
from pydcos.mesos.resources import Resources

log = get_logger("pydcos.agent")

ISOLATION_ENV = "PYDCOS_AGENT_ISOLATION"


def build_parser() -> argparse.ArgumentParser:
    d = AgentConfig()
    p = argparse.ArgumentParser(prog="python -m pydcos.mesos.agent", description="pydcos Mesos agent")
    p.add_argument("--ip", default=d.ip, help="address to bind and advertise")
    p.add_argument("--port", type=int, default=d.port, help="HTTP port (0 = any free port)")
    p.add_argument("--master", default=d.master, help="master host:port (comma list for several)")
    p.add_argument("--work-dir", default=d.work_dir, help="sandboxes live under WORK/slaves")
    p.add_argument("--resources", default=None,
                   help='e.g. "cpus:4;mem:4096;disk:10000;ports:[31000-31999]"; missing ones detected')
    p.add_argument("--attributes", default=d.attributes, help='e.g. "rack:r1;zone:a"')
    p.add_argument("--zone", choices=["private", "public"], default=d.zone)
    p.add_argument("--default-role", default=None,
                   help="role all resources are reserved to (default: slave_public in the public zone, else *)")
    p.add_argument("--hostname", default=None, help="name tasks are reached by (default: --ip)")
    p.add_argument("--log-file", default=None, help="log here (served as /slave/log) instead of stderr")
    p.add_argument("--log-level", default=d.log_level)
    p.add_argument("--no-switch-user", action="store_true", help="run every task as the agent's user")
    p.add_argument("--registration-backoff", type=float, default=d.registration_backoff_s)
    p.add_argument("--registration-backoff-max", type=float, default=d.registration_backoff_max_s)
    p.add_argument("--heartbeat", type=float, default=d.heartbeat_s, help="master link ping interval (s)")
    p.add_argument("--status-update-retry", type=float, default=d.status_update_retry_s)
    p.add_argument("--status-update-retry-max", type=float, default=d.status_update_retry_max_s)
    p.add_argument("--kill-grace", type=float, default=d.kill_grace_s, help="default SIGTERM->SIGKILL (s)")
    p.add_argument("--executor-shutdown-grace", type=float, default=d.executor_shutdown_grace_s,
                   help="SHUTDOWN -> SIGKILL of a custom executor; also how long close waits for tasks (s)")
    p.add_argument("--executor-registration-timeout", type=float, default=d.executor_registration_timeout_s,
                   help="a started executor that has not subscribed by then is killed, its tasks failed (s)")
    p.add_argument("--executor-reregistration-timeout", type=float, default=d.executor_reregistration_timeout_s,
                   help="after a restart, a re-attached executor that has not subscribed again by then is "
                        "killed and its tasks fail (s)")
    p.add_argument("--executor-heartbeat", type=float, default=d.executor_heartbeat_s,
                   help="HEARTBEAT interval on idle executor streams (s)")
    p.add_argument("--fetch-timeout", type=float, default=d.fetch_timeout_s, help="per fetched URI (s)")
    p.add_argument("--fetch-cache-dir", default=None, help="cache of URIs fetched with cache=true "
                                                            "(default WORK/fetch-cache)")
    p.add_argument("--isolation", choices=["auto", "cgroups", "none"],
                   default=os.environ.get(ISOLATION_ENV, d.isolation),
                   help=f"cgroups for cpu and memory limits: when usable (auto), required, or never "
                        f"(process groups only); default from ${ISOLATION_ENV}, else auto")
    p.add_argument("--cgroups-root", default=d.cgroups_root, help="parent cgroup name under the agent's own")
    p.add_argument("--cgroups-cpu-quota", action="store_true", help="also cap cpu time with a CFS quota")
    p.add_argument("--recover", choices=["reconnect", "cleanup"], default=d.recover,
                   help="at start: recover checkpointed tasks (reconnect) or kill everything of the "
                        "previous run and register as a new agent (cleanup)")
    p.add_argument("--no-checkpoint", action="store_true",
                   help="write no checkpoint (tasks of a previous run are killed at start)")
    p.add_argument("--task-nameserver", action="append", default=[],
                   help="resolver for tasks (repeatable): the cluster's dns on a local cluster, set up in "
                        "a mount namespace of the agent's own; default: the host's /etc/resolv.conf")
    return p


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    if args.resources is not None:
        Resources.parse(args.resources)  # fail at start, not at the first task
    if args.isolation not in ("auto", "cgroups", "none"):  # a default from the environment
        raise ValueError(f"bad isolation {args.isolation!r} (from ${ISOLATION_ENV}): auto, cgroups or none")
    parse_attributes(args.attributes)
    return AgentConfig(
        ip=args.ip,
        port=args.port,
        master=args.master,
        work_dir=args.work_dir,
        resources=args.resources,
        attributes=args.attributes,
        zone=args.zone,
        default_role=args.default_role,
        hostname=args.hostname,
        log_file=args.log_file,
        log_level=args.log_level.upper(),
        switch_user=not args.no_switch_user,
        registration_backoff_s=args.registration_backoff,
        registration_backoff_max_s=args.registration_backoff_max,
        heartbeat_s=args.heartbeat,
        status_update_retry_s=args.status_update_retry,
        status_update_retry_max_s=args.status_update_retry_max,
        kill_grace_s=args.kill_grace,
        executor_shutdown_grace_s=args.executor_shutdown_grace,
        executor_registration_timeout_s=args.executor_registration_timeout,
        executor_heartbeat_s=args.executor_heartbeat,
        executor_reregistration_timeout_s=args.executor_reregistration_timeout,
        fetch_timeout_s=args.fetch_timeout,
        fetch_cache_dir=args.fetch_cache_dir,
        isolation=args.isolation,
        cgroups_root=args.cgroups_root,
        cgroups_cpu_quota=args.cgroups_cpu_quota,
        checkpoint=not args.no_checkpoint,
        recover=args.recover,
    )


async def serve(config: AgentConfig) -> None:
    stop = stop_on_signals()
    agent = Agent(config)
    await agent.start()
    try:
        await stop.wait()
        log.event("agent_stopping", reason="signal")
    finally:
        await agent.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    setup_logging(config.log_level, config.log_file)
    # Before any thread exists: unsharing the mount namespace needs a single-threaded process.
    use_task_nameservers(args.task_nameserver, config.work_dir)
    try:
        run_loop(serve(config))
    except IsolationError as exc:
        log.event("agent_start_failed", reason=exc.message)
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
