"""Errors of the local cluster, each with a message fit to show a person as it is.

ClusterError
 ├── PlanError          (plan.py) options that describe no runnable cluster; also a ValueError
 ├── ClusterRunning     a cluster already runs (or is starting) in that directory
 ├── AddressInUse       another process listens where a daemon must
 ├── DaemonFailed       a daemon exited, or missed its deadline, while the cluster started
 └── NoCluster          nothing recorded in that directory
"""

from __future__ import annotations


class ClusterError(Exception):
    pass


class ClusterRunning(ClusterError):
    pass


class AddressInUse(ClusterError):
    pass


class NoCluster(ClusterError):
    pass


class DaemonFailed(ClusterError):
    """`key` is NODE/DAEMON; `log_tail` the last lines of its log, for the person to read."""

    def __init__(self, key: str, reason: str, *, log_file: str, log_tail: str) -> None:
        super().__init__(f"{key} {reason}")
        self.key = key
        self.reason = reason
        self.log_file = log_file
        self.log_tail = log_tail
