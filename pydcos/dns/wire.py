"""DNS wire-format pieces for the precomputed answers (RFC 1035 §4). Pure.

Only what the fast path writes itself: names, A, SRV and OPT records, and the header of an
error reply. Everything else (parsing arbitrary queries, negative answers, truncation) goes
through dnspython in `resolver.py`.
"""

from __future__ import annotations

import functools
import ipaddress
import struct

TYPE_A = 1
TYPE_NS = 2
TYPE_SOA = 6
TYPE_AAAA = 28
TYPE_SRV = 33
TYPE_OPT = 41
TYPE_ANY = 255
CLASS_IN = 1

RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5

HEADER_SIZE = 12
PLAIN_UDP_LIMIT = 512
# The largest UDP answer we send when a client's EDNS0 allows it, and what we advertise.
EDNS_UDP_LIMIT = 1232
TCP_LIMIT = 65535
# A pointer to the question's name, which always starts right after the header.
QNAME_POINTER = b"\xc0\x0c"

_RR_HEADER = struct.Struct("!HHIH")
_SRV_FIXED = struct.Struct("!HHH")


@functools.lru_cache(maxsize=1 << 16)
def encode_name(name: str) -> bytes:
    """`web.marathon.mesos.` -> `\\x03web\\x08marathon\\x05mesos\\x00` (ASCII names only).

    >>> encode_name("leader.mesos.")
    b'\\x06leader\\x05mesos\\x00'
    """
    raw = name.encode("ascii").rstrip(b".")
    labels = raw.split(b".") if raw else []
    if any(not 0 < len(label) < 64 for label in labels) or len(raw) > 253:
        raise ValueError(f"not a name for the wire: {name!r}")
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


@functools.lru_cache(maxsize=1 << 14)
def _packed(ip: str) -> bytes:
    return ipaddress.IPv4Address(ip).packed


def a_record(owner: bytes, ttl: int, ip: str) -> bytes:
    return owner + _RR_HEADER.pack(TYPE_A, CLASS_IN, ttl, 4) + _packed(ip)


def srv_record(owner: bytes, ttl: int, target: bytes, port: int, priority: int = 0, weight: int = 0) -> bytes:
    # RFC 2782: the target is never compressed.
    rdata = _SRV_FIXED.pack(priority, weight, port) + target
    return owner + _RR_HEADER.pack(TYPE_SRV, CLASS_IN, ttl, len(rdata)) + rdata


def opt_record(udp_payload: int = EDNS_UDP_LIMIT) -> bytes:
    """The EDNS0 pseudo-record of a reply: version 0, no flags, no options."""
    return b"\x00" + _RR_HEADER.pack(TYPE_OPT, udp_payload, 0, 0)


def counts(qd: int, an: int, ns: int, ar: int) -> bytes:
    return struct.pack("!HHHH", qd, an, ns, ar)


def error_reply(query: bytes, rcode: int, recursion_available: bool = False) -> bytes | None:
    """A header-only reply with `rcode`, for a query too broken to echo; None without a header."""
    if len(query) < HEADER_SIZE:
        return None
    flags = 0x8000 | (query[2] & 0x79) << 8 | (0x80 if recursion_available else 0) | rcode
    return query[:2] + flags.to_bytes(2, "big") + counts(0, 0, 0, 0)
