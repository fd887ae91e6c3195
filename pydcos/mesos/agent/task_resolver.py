"""Point the tasks' resolver at the cluster's dns, without touching the host's /etc/resolv.conf.

On a real install the agents' /etc/resolv.conf lists the masters (as in DC/OS). On a local
cluster every agent shares the host's file, so the agent instead moves itself, once at start and
before any thread exists, into a mount namespace of its own in which a resolv.conf naming the
cluster's dns is bind-mounted over /etc/resolv.conf. Every task inherits the namespace: zero cost
per launch, and the host's own resolution is untouched.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

from pydcos.core.log import get_logger

log = get_logger("pydcos.agent.resolver")

CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


def resolv_conf_text(nameservers: list[str], search: str = "") -> str:
    """The file tasks read. Pure.

    >>> resolv_conf_text(["127.0.1.1"], "mesos")
    'search mesos\\nnameserver 127.0.1.1\\noptions timeout:2 attempts:2\\n'
    """
    lines = [f"search {search}"] if search else []
    lines += [f"nameserver {ns}" for ns in nameservers[:3]]  # glibc reads at most three
    lines.append("options timeout:2 attempts:2")
    return "\n".join(lines) + "\n"


def use_task_nameservers(nameservers: list[str], work_dir: str) -> bool:
    """Give this process (and so every task it starts) a resolv.conf naming `nameservers`.

    Must run before the process has threads. Returns False, having logged why, where it cannot
    (not root, no mount namespaces): the tasks then use the host's resolver.
    """
    if not nameservers:
        return False
    if os.geteuid() != 0:
        log.event("task_resolver_unchanged", reason="the agent is not root")
        return False
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, "resolv.conf")
    with open(path, "w") as f:
        f.write(resolv_conf_text(nameservers))
    libc = ctypes.CDLL(None, use_errno=True)
    steps: tuple[tuple[str, Callable[[], int]], ...] = (
        ("unshare", lambda: int(libc.unshare(CLONE_NEWNS))),
        # Private propagation: our bind mount must not leak back into the host's namespace.
        ("make-private", lambda: int(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None))),
        ("bind", lambda: int(libc.mount(path.encode(), b"/etc/resolv.conf", None, MS_BIND, None))),
    )
    for name, step in steps:
        if step() != 0:  # libc calls: 0 on success
            err = ctypes.get_errno()
            log.event("task_resolver_unchanged", reason=f"{name} failed: {os.strerror(err)}")
            return False
    log.event("task_resolver", nameservers=",".join(nameservers), file=path)
    return True
