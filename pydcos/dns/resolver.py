"""The full resolver: every query the fast path passes on, answered with dnspython. Pure.

    resolver.resolve(datagram, zone, udp=True)
        -> bytes            the reply (an answer, NODATA, NXDOMAIN with the SOA, or an error)
        -> Forward          outside the domain with forwarding on: the shell asks an upstream
        -> None             drop it (no header, or it is itself a response)

Bad input never raises: no header or a response is dropped, an opcode other than QUERY gets
NOTIMP, anything dnspython cannot parse or a count other than one question gets FORMERR, an EDNS
version above 0 gets BADVERS, a class other than IN (or ANY) inside the domain gets REFUSED, and
so does a name outside it when forwarding is off.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.SOA
import dns.rdtypes.IN.A
import dns.rdtypes.IN.SRV
import dns.rrset

from pydcos.dns import wire
from pydcos.dns.zone import Zone

# A query is a header and one question (plus EDNS0): anything this big is not one.
MAX_QUERY_SIZE = 4096
# What dnspython may raise on hostile bytes besides its own exceptions.
PARSE_ERRORS = (dns.exception.DNSException, ValueError, struct.error, IndexError, KeyError, UnicodeError)

_T = TypeVar("_T")
IN = dns.rdataclass.IN
_ANSWER_CLASSES = (dns.rdataclass.IN, dns.rdataclass.ANY)


@dataclass(frozen=True)
class ResolverSettings:
    ttl: int = 60
    # TTL of the SOA in negative answers, and its MINIMUM: how long resolvers cache "no such name".
    # Kept short so a name asked for just before its task runs resolves within a second.
    negative_ttl: int = 1
    soa_mname: str = "ns1.mesos."
    soa_rname: str = "root.ns1.mesos."
    soa_refresh: int = 60
    soa_retry: int = 600
    soa_expire: int = 86400
    forward: bool = True

    @property
    def recursion_available(self) -> bool:
        return self.forward


@dataclass(frozen=True)
class Forward:
    """Ask an upstream. `servfail` is the reply to send if none answers."""

    query: dns.message.Message
    servfail: bytes


class Resolver:
    """Turns one query into one reply. Holds no records: the zone is passed with each query."""

    def __init__(self, settings: ResolverSettings) -> None:
        self.settings = settings
        self._turn = 0

    def resolve(self, data: bytes, zone: Zone, *, udp: bool) -> bytes | Forward | None:
        if len(data) < wire.HEADER_SIZE or data[2] & 0x80:
            return None
        ra = self.settings.recursion_available
        if (data[2] >> 3) & 0xF != dns.opcode.QUERY:
            return wire.error_reply(data, wire.RCODE_NOTIMP, ra)
        if len(data) > MAX_QUERY_SIZE:
            return wire.error_reply(data, wire.RCODE_FORMERR, ra)
        try:
            query = dns.message.from_wire(data)
        except PARSE_ERRORS:
            return wire.error_reply(data, wire.RCODE_FORMERR, ra)
        if len(query.question) != 1 or query.answer or query.authority:
            return wire.error_reply(data, wire.RCODE_FORMERR, ra)
        reply = dns.message.make_response(query, recursion_available=ra, our_payload=wire.EDNS_UDP_LIMIT)
        if query.edns > 0:
            reply.use_edns(0, 0, wire.EDNS_UDP_LIMIT)
            reply.set_rcode(dns.rcode.BADVERS)
            return self._to_wire(reply, query, udp)
        question = query.question[0]
        name = question.name.to_text().lower()
        if not zone.in_zone(name):
            if not self.settings.forward:
                reply.set_rcode(dns.rcode.REFUSED)
                return self._to_wire(reply, query, udp)
            reply.set_rcode(dns.rcode.SERVFAIL)
            return Forward(query, self._to_wire(reply, query, udp))
        reply.flags |= dns.flags.AA
        if question.rdclass not in _ANSWER_CLASSES:
            reply.set_rcode(dns.rcode.REFUSED)
        else:
            self._answer(reply, question.name, name, question.rdtype, zone)
        return self._to_wire(reply, query, udp)

    def _answer(self, reply: dns.message.Message, qname: dns.name.Name, name: str,
                rdtype: dns.rdatatype.RdataType, zone: Zone) -> None:
        ttl = self.settings.ttl
        any_type = rdtype == dns.rdatatype.ANY
        if any_type or rdtype == dns.rdatatype.A:
            ips = list(zone.a.get(name, ()))
            if ips:
                reply.answer.append(_rrset(qname, ttl, [_a(ip) for ip in self._rotate(ips)]))
        if any_type or rdtype == dns.rdatatype.SRV:
            self._answer_srv(reply, qname, name, zone)
        if name == zone.origin:
            if any_type or rdtype == dns.rdatatype.SOA:
                reply.answer.append(_rrset(qname, ttl, [self._soa(zone)]))
            if any_type or rdtype == dns.rdatatype.NS:
                reply.answer.append(_rrset(qname, ttl, [_ns(self.settings.soa_mname)]))
                self._add_extra_a(reply, self.settings.soa_mname, zone)
        if not reply.answer:
            if not zone.exists(name):
                reply.set_rcode(dns.rcode.NXDOMAIN)
            soa = self._soa(zone)
            reply.authority.append(_rrset(dns.name.from_text(zone.origin), self.settings.negative_ttl, [soa]))

    def _answer_srv(self, reply: dns.message.Message, qname: dns.name.Name, name: str, zone: Zone) -> None:
        targets = list(zone.srv.get(name, ()))
        if not targets:
            return
        rdatas = [_srv(target, port) for target, port in self._rotate(targets)]
        reply.answer.append(_rrset(qname, self.settings.ttl, rdatas))
        for target in dict.fromkeys(t for t, _ in targets):
            self._add_extra_a(reply, target, zone)

    def _add_extra_a(self, reply: dns.message.Message, target: str, zone: Zone) -> None:
        ips = zone.a.get(target)
        if ips:
            reply.additional.append(_rrset(dns.name.from_text(target), self.settings.ttl, [_a(ip) for ip in ips]))

    def _soa(self, zone: Zone) -> dns.rdata.Rdata:
        s = self.settings
        return dns.rdtypes.ANY.SOA.SOA(  # type: ignore[no-untyped-call]
            IN, dns.rdatatype.SOA, dns.name.from_text(s.soa_mname), dns.name.from_text(s.soa_rname),
            zone.serial, s.soa_refresh, s.soa_retry, s.soa_expire, s.negative_ttl)

    def _rotate(self, items: list[_T]) -> list[_T]:
        self._turn += 1
        k = self._turn % len(items)
        return items[k:] + items[:k]

    @staticmethod
    def _to_wire(reply: dns.message.Message, query: dns.message.Message, udp: bool) -> bytes:
        if not udp:
            limit = wire.TCP_LIMIT
        elif query.edns >= 0:
            limit = min(max(query.payload, wire.PLAIN_UDP_LIMIT), wire.EDNS_UDP_LIMIT)
        else:
            limit = wire.PLAIN_UDP_LIMIT
        if udp:
            # Extra records are a courtesy: drop them before cutting answers (Mesos-DNS does too).
            whole = reply.to_wire(max_size=wire.TCP_LIMIT, prefer_truncation=True)
            if len(whole) <= limit:
                return whole
            reply.additional = []
            # One record per RRset, so that truncation keeps every answer that fits.
            reply.answer = [_rrset(rrset.name, rrset.ttl, [rdata]) for rrset in reply.answer for rdata in rrset]
        return reply.to_wire(max_size=limit, prefer_truncation=True)


def _rrset(name: dns.name.Name, ttl: int, rdatas: Sequence[dns.rdata.Rdata]) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, IN, rdatas[0].rdtype)
    rrset.update_ttl(ttl)
    for rdata in rdatas:
        rrset.add(rdata)
    return rrset


def _a(ip: str) -> dns.rdata.Rdata:
    return dns.rdtypes.IN.A.A(IN, dns.rdatatype.A, ip)  # type: ignore[no-untyped-call]


def _ns(target: str) -> dns.rdata.Rdata:
    return dns.rdtypes.ANY.NS.NS(IN, dns.rdatatype.NS, dns.name.from_text(target))  # type: ignore[no-untyped-call]


def _srv(target: str, port: int) -> dns.rdata.Rdata:
    return dns.rdtypes.IN.SRV.SRV(  # type: ignore[no-untyped-call]
        IN, dns.rdatatype.SRV, 0, 0, port, dns.name.from_text(target))

