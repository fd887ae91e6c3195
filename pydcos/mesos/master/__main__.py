"""`python -m pydcos.mesos.master`: run one Mesos master."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import sys

from pydcos.core.log import setup_logging
from pydcos.core.service import run_loop, stop_on_signals
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master


def parse_args(argv: list[str] | None = None) -> MasterConfig:
    p = argparse.ArgumentParser(prog="pydcos-master", description="pydcos Mesos master")
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5050)
    p.add_argument("--hostname", default=None)
    p.add_argument("--work-dir", default=None)
    p.add_argument("--log-file", default=None)
    p.add_argument("--cluster-name", default="pydcos")
    p.add_argument("--allocation-interval", type=float, default=1.0)
    p.add_argument("--offer-timeout", type=float, default=60.0, help="seconds; 0 disables")
    p.add_argument("--heartbeat-interval", type=float, default=10.0)
    p.add_argument("--agent-ping-interval", type=float, default=5.0)
    p.add_argument("--agent-unreachable-timeout", type=float, default=15.0)
    p.add_argument("--agent-reregister-timeout", type=float, default=600.0,
                   help="seconds a restarted master waits for known agents to re-register")
    p.add_argument("--registry", choices=("sqlite", "memory"), default=None,
                   help="where the registry lives (default: sqlite in --work-dir if given, else memory)")
    p.add_argument("--weights", default="", help="role=weight,role=weight")
    a = p.parse_args(argv)
    if a.registry == "sqlite" and not a.work_dir:
        p.error("--registry sqlite needs --work-dir")
    weights = {}
    for item in filter(None, a.weights.split(",")):
        role, _, value = item.partition("=")
        weights[role.strip()] = float(value)
    return MasterConfig(
        ip=a.ip, port=a.port, hostname=a.hostname, work_dir=a.work_dir, log_file=a.log_file,
        cluster_name=a.cluster_name, allocation_interval=a.allocation_interval,
        offer_timeout=a.offer_timeout or None, heartbeat_interval=a.heartbeat_interval,
        agent_ping_interval=a.agent_ping_interval, agent_unreachable_timeout=a.agent_unreachable_timeout,
        agent_reregister_timeout=a.agent_reregister_timeout, registry=a.registry, weights=weights,
    )


GC_THRESHOLD = 50_000


async def serve(config: MasterConfig) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until the registry cannot be written (exit 1)."""
    stop = stop_on_signals()
    async with Master(config) as master:
        stopped = asyncio.ensure_future(stop.wait())
        failed = asyncio.ensure_future(master.failed.wait())
        try:
            await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            failed.cancel()
        return 1 if master.failed.is_set() else 0


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    setup_logging(path=config.log_file)
    # The master holds millions of long-lived objects at 100,000 tasks; with the default thresholds
    # the cycle collector runs every 700 allocations and ends up costing half of a re-registration
    # burst. Collect young objects less often (memory is freed by reference counting regardless).
    gc.set_threshold(GC_THRESHOLD, 20, 100)
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        code = run_loop(serve(config))
    sys.exit(code)


if __name__ == "__main__":
    main()
