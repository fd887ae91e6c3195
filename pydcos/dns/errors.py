"""Errors of the dns daemon.

    DnsError
    ├── DnsConfigError        a setting that cannot work (bad domain, TTL, IP source, master address)
    └── MasterUnavailable     no configured master answered /master/state with a leader
        └── StreamEnded       the operator event stream closed, timed out or changed leader
"""

from __future__ import annotations


class DnsError(Exception):
    pass


class DnsConfigError(DnsError, ValueError):
    pass


class MasterUnavailable(DnsError):
    pass


class StreamEnded(MasterUnavailable):
    pass
