"""`python -m pydcos.marathon`: run one Marathon beside a Mesos master.

    python -m pydcos.marathon --ip IP --port 8080 --master HOST:PORT[,HOST:PORT] \\
        --work-dir DIR --log-file F --hostname H
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import replace

from pydcos.core.log import setup_logging
from pydcos.core.service import run_loop, serve_until_signalled
from pydcos.marathon.config import MarathonConfig
from pydcos.marathon.service import Marathon
from pydcos.mesos.detector import parse_zk_url


def parse_args(argv: list[str] | None = None) -> tuple[MarathonConfig, str]:
    defaults = MarathonConfig()
    p = argparse.ArgumentParser(prog="pydcos-marathon", description="pydcos Marathon (REST API v2)")
    p.add_argument("--ip", default=defaults.ip)
    p.add_argument("--port", type=int, default=defaults.port)
    p.add_argument("--hostname", default=None)
    p.add_argument("--master", default=defaults.master, help="HOST:PORT[,HOST:PORT] of the Mesos masters")
    p.add_argument("--work-dir", default=None, help="where marathon.db is kept; none = state in memory only")
    p.add_argument("--zk", default=None, help="zk://HOST:PORT[,HOST:PORT]/PATH: keep state in ZooKeeper")
    p.add_argument("--log-file", default=None)
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--framework-name", default=defaults.framework_name)
    p.add_argument("--mesos-role", default=defaults.mesos_role)
    p.add_argument("--mesos-user", default=defaults.mesos_user)
    p.add_argument("--failover-timeout", type=float, default=defaults.failover_timeout, help="seconds")
    p.add_argument("--default-accepted-resource-roles", default=",".join(defaults.core.default_accepted_roles))
    p.add_argument("--local-port-min", type=int, default=defaults.core.service_port_range[0])
    p.add_argument("--local-port-max", type=int, default=defaults.core.service_port_range[1])
    p.add_argument("--reconciliation-interval", type=float, default=defaults.core.reconciliation_interval)
    a = p.parse_args(argv)
    if a.zk is not None:
        try:
            parse_zk_url(a.zk)
        except ValueError as exc:
            p.error(str(exc))
    core = replace(
        defaults.core,
        default_accepted_roles=tuple(r.strip() for r in a.default_accepted_resource_roles.split(",") if r.strip()),
        service_port_range=(a.local_port_min, a.local_port_max),
        reconciliation_interval=a.reconciliation_interval,
    )
    config = MarathonConfig(
        ip=a.ip, port=a.port, hostname=a.hostname, master=a.master, work_dir=a.work_dir, zk=a.zk,
        log_file=a.log_file,
        framework_name=a.framework_name, mesos_role=a.mesos_role, mesos_user=a.mesos_user,
        failover_timeout=a.failover_timeout, core=core,
    )
    return config, a.log_level


async def serve(config: MarathonConfig) -> None:
    await serve_until_signalled(Marathon(config))


def main(argv: list[str] | None = None) -> None:
    config, level = parse_args(argv)
    setup_logging(level=level, path=config.log_file)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(config))


if __name__ == "__main__":
    main()
