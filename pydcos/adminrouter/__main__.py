"""`python -m pydcos.adminrouter`: Admin Router (nginx + the identity service) beside a master."""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
from pathlib import Path

from pydcos.adminrouter.config import RouterConfig
from pydcos.adminrouter.errors import RouterConfigError
from pydcos.adminrouter.service import AdminRouter
from pydcos.core.log import setup_logging
from pydcos.core.service import run_loop, serve_until_signalled


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_args(argv: list[str] | None = None) -> tuple[RouterConfig, str]:
    d = RouterConfig()
    p = argparse.ArgumentParser(prog="pydcos-adminrouter", description="pydcos Admin Router")
    p.add_argument("--ip", default=d.ip, help="the address nginx and the identity service listen on")
    p.add_argument("--port", type=int, default=d.port, help="nginx's port (80)")
    p.add_argument("--identity-port", type=int, default=d.identity_port)
    p.add_argument("--masters", default=",".join(d.masters), help="ip:port,... of the Mesos masters")
    p.add_argument("--marathon", default=",".join(d.marathon), help="ip:port,... (the first is preferred)")
    p.add_argument("--dns", default=d.dns, help="ip:port of the dns (nginx resolves leader.mesos there)")
    p.add_argument("--dns-http", default=",".join(d.dns_http), help="ip:port,... of the dns HTTP API")
    p.add_argument("--mesos-leader-host", default=d.mesos_leader_host)
    p.add_argument("--mesos-port", type=int, default=d.mesos_port)
    p.add_argument("--work-dir", type=Path, default=d.work_dir)
    p.add_argument("--log-file", type=Path, default=None)
    p.add_argument("--public-ip", default=None, help="PUBLIC_IPV4 in /metadata (default: --ip)")
    p.add_argument("--nginx", default=d.nginx_binary, help="the nginx binary")
    p.add_argument("--nginx-user", default=None, help="user of nginx's workers (default: this process's user)")
    p.add_argument("--worker-processes", type=int, default=d.worker_processes)
    p.add_argument("--poll-interval", type=float, default=d.poll_interval_s)
    p.add_argument("--token-lifetime", type=float, default=d.token_lifetime_s, help="seconds")
    p.add_argument("--auth-cache", type=int, default=d.auth_cache_s, help="seconds nginx reuses a token check")
    p.add_argument("--login-burst", type=int, default=d.login_burst)
    p.add_argument("--login-refill", type=float, default=d.login_refill_s)
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    user = a.nginx_user or pwd.getpwuid(os.geteuid()).pw_name
    try:
        config = RouterConfig(
            ip=a.ip, port=a.port, identity_port=a.identity_port, masters=_list(a.masters),
            marathon=_list(a.marathon), dns=a.dns, dns_http=_list(a.dns_http),
            mesos_leader_host=a.mesos_leader_host, mesos_port=a.mesos_port, work_dir=a.work_dir.resolve(),
            log_file=a.log_file.resolve() if a.log_file else None, public_ip=a.public_ip,
            nginx_binary=a.nginx, nginx_user=user if os.geteuid() == 0 else None,
            worker_processes=a.worker_processes, poll_interval_s=a.poll_interval,
            token_lifetime_s=a.token_lifetime, auth_cache_s=a.auth_cache, login_burst=a.login_burst,
            login_refill_s=a.login_refill,
        )  # fmt: skip
    except RouterConfigError as exc:
        p.error(str(exc))
    return config, a.log_level


async def serve(config: RouterConfig) -> None:
    await serve_until_signalled(AdminRouter(config))


def main(argv: list[str] | None = None) -> None:
    config, level = parse_args(argv)
    if config.log_file is not None:
        config.log_file.parent.mkdir(parents=True, exist_ok=True)
    setup_logging(level=level, path=str(config.log_file) if config.log_file else None)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(config))


if __name__ == "__main__":
    main()
