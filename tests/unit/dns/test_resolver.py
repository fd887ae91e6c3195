"""Answers on the wire: the precomputed fast path, the dnspython resolver behind it, and both under
hostile input. The fast path must answer exactly as the resolver would, only faster."""

from __future__ import annotations

import copy

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcos.dns import wire
from pydcos.dns.fastpath import FastPath
from pydcos.dns.master_view import MasterView
from pydcos.dns.records import RecordConfig
from pydcos.dns.resolver import Forward, Resolver, ResolverSettings
from pydcos.dns.zone import Catalog, Zone

CFG = RecordConfig(masters=("127.0.0.1:5050",), ns_addresses=("127.0.0.1",))


def make_zone(view: MasterView) -> tuple[Zone, FastPath]:
    cat = Catalog(CFG, serial=7)
    cat.load(view)
    fast = FastPath(ttl=60, recursion_available=False)
    fast.update(cat.zone, cat.zone.take_dirty())
    return cat.zone, fast


def query(name: str, rdtype: str = "A", **kw: object) -> bytes:
    q = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    q.id = 4242
    return q.to_wire()


def resolve(zone: Zone, data: bytes, udp: bool = True, forward: bool = False) -> dns.message.Message:
    out = Resolver(ResolverSettings(forward=forward)).resolve(data, zone, udp=udp)
    assert isinstance(out, bytes)
    return dns.message.from_wire(out)


def records(section: list[dns.rrset.RRset]) -> set[tuple[str, int, str]]:
    return {(rrset.name.to_text().lower(), rrset.ttl, rdata.to_text()) for rrset in section for rdata in rrset}


# --- fast path -------------------------------------------------------------------------------


def test_fast_answer_keeps_id_rd_and_the_question_as_asked(state_view: MasterView) -> None:
    zone, fast = make_zone(state_view)
    data = query("WEB.Marathon.MESOS.")
    out = fast.answer(data)
    assert out is not None
    reply = dns.message.from_wire(out)
    assert reply.id == 4242
    assert reply.flags & dns.flags.QR and reply.flags & dns.flags.AA and reply.flags & dns.flags.RD
    assert reply.question[0].name.to_text() == "WEB.Marathon.MESOS."
    assert reply.rcode() == dns.rcode.NOERROR
    assert sorted(r.address for r in reply.answer[0]) == ["127.0.2.1", "9.0.0.7"]
    assert reply.answer[0].ttl == 60
    assert reply.answer[0].name.to_text() == "WEB.Marathon.MESOS."


def test_fast_and_slow_paths_agree(state_view: MasterView) -> None:
    zone, fast = make_zone(state_view)
    for name in [*zone.a, *zone.srv]:
        for rdtype in ("A", "SRV"):
            data = query(name, rdtype)
            out = fast.answer(data)
            slow = resolve(zone, data)
            if out is None:
                assert not slow.answer
                continue
            reply = dns.message.from_wire(out)
            assert records(reply.answer) == records(slow.answer)
            assert records(reply.additional) == records(slow.additional)


def test_fast_srv_answer_has_target_addresses(state_view: MasterView) -> None:
    zone, fast = make_zone(state_view)
    out = fast.answer(query("_postgres._tcp.marathon.mesos.", "SRV", use_edns=0))
    assert out is not None
    reply = dns.message.from_wire(out)
    assert reply.edns == 0 and reply.payload == wire.EDNS_UDP_LIMIT
    assert sorted(r.port for r in reply.answer[0]) == [5432, 9187]
    assert reply.additional[0].name.to_text() == "postgres-f3ink-s1.marathon.mesos."


def test_round_robin_rotates_multi_record_answers(state_view: MasterView) -> None:
    zone, fast = make_zone(state_view)
    firsts = set()
    for _ in range(3):
        out = fast.answer(query("_web._tcp.marathon.mesos.", "SRV"))
        assert out is not None
        firsts.add(list(dns.message.from_wire(out).answer[0])[0].port)
    assert firsts == {31000, 31010, 31020}


def test_fast_path_passes_on_what_it_does_not_precompute(state_view: MasterView) -> None:
    zone, fast = make_zone(state_view)
    assert fast.answer(query("web.marathon.mesos.", "AAAA")) is None
    assert fast.answer(query("nothing.mesos.")) is None
    assert fast.answer(query("web.marathon.mesos.", use_edns=1)) is None  # BADVERS is the resolver's
    assert fast.answer(query("web.marathon.mesos.") + b"junk") is None
    data = bytearray(query("web.marathon.mesos."))
    data[2] |= 0x80  # a response
    assert fast.answer(bytes(data)) is None


def test_answers_too_big_for_udp_go_to_the_resolver_which_truncates() -> None:
    cat = Catalog(CFG)
    view = MasterView(leader="127.0.0.1:5050")
    from pydcos.dns.master_view import AgentView, FrameworkView, TaskView
    view.frameworks["f"] = FrameworkView("f", "marathon", None, None)
    for i in range(60):
        view.agents[f"a{i}"] = AgentView(f"a{i}", f"10.0.1.{i}", 5051)
        view.tasks[("f", f"t{i}")] = TaskView(f"t{i}", "big", "f", f"a{i}", "TASK_RUNNING", ports=(31000,))
    cat.load(view)
    fast = FastPath(ttl=60)
    fast.update(cat.zone, cat.zone.take_dirty())
    plain = query("big.marathon.mesos.")
    assert fast.answer(plain) is None
    reply = resolve(cat.zone, plain)
    assert reply.flags & dns.flags.TC
    assert 0 < len(reply.answer[0]) < 60 if reply.answer else True
    assert len(Resolver(ResolverSettings()).resolve(plain, cat.zone, udp=True)) <= 512  # type: ignore[arg-type]
    whole = fast.answer(plain, udp=False)
    assert whole is not None and len(dns.message.from_wire(whole).answer[0]) == 60
    edns = fast.answer(query("big.marathon.mesos.", use_edns=0, payload=4096))
    assert edns is not None and len(edns) <= wire.EDNS_UDP_LIMIT
    srv = resolve(cat.zone, query("_big._tcp.marathon.mesos.", "SRV"))
    assert srv.flags & dns.flags.TC


# --- the resolver ----------------------------------------------------------------------------


def test_missing_name_is_nxdomain_with_the_soa(state_view: MasterView) -> None:
    zone, _ = make_zone(state_view)
    reply = resolve(zone, query("nothing.marathon.mesos."))
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.flags & dns.flags.AA
    soa = reply.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA and soa.ttl == 1
    assert soa[0].serial == zone.serial and soa[0].mname.to_text() == "ns1.mesos."


def test_existing_name_without_that_type_is_nodata(state_view: MasterView) -> None:
    zone, _ = make_zone(state_view)
    for name, rdtype in [("web.marathon.mesos.", "AAAA"), ("web.marathon.mesos.", "SRV"),
                         ("marathon.slave.mesos.", "A"), ("_tcp.marathon.mesos.", "A"), ("mesos.", "A")]:
        reply = resolve(zone, query(name, rdtype))
        assert reply.rcode() == dns.rcode.NOERROR, name
        assert not reply.answer and reply.authority[0].rdtype == dns.rdatatype.SOA


def test_apex_soa_ns_and_any(state_view: MasterView) -> None:
    zone, _ = make_zone(state_view)
    soa = resolve(zone, query("mesos.", "SOA"))
    assert soa.answer[0].rdtype == dns.rdatatype.SOA
    ns = resolve(zone, query("MESOS.", "NS"))
    assert ns.answer[0][0].target.to_text().lower() == "ns1.mesos."
    assert ns.additional[0][0].address == "127.0.0.1"
    anything = resolve(zone, query("_leader._tcp.mesos.", "ANY"))
    assert anything.answer[0].rdtype == dns.rdatatype.SRV


def test_outside_the_domain_is_refused_or_forwarded(state_view: MasterView) -> None:
    zone, _ = make_zone(state_view)
    assert resolve(zone, query("example.com.")).rcode() == dns.rcode.REFUSED
    out = Resolver(ResolverSettings(forward=True)).resolve(query("example.com."), zone, udp=True)
    assert isinstance(out, Forward)
    assert dns.message.from_wire(out.servfail).rcode() == dns.rcode.SERVFAIL


def test_bad_queries_get_formerr_notimp_refused_or_nothing(state_view: MasterView) -> None:
    zone, _ = make_zone(state_view)
    resolver = Resolver(ResolverSettings(forward=False))
    assert resolver.resolve(b"", zone, udp=True) is None
    assert resolver.resolve(b"\x00" * 11, zone, udp=True) is None
    garbage = resolver.resolve(b"\x12\x34" + b"\x00\x00\x00\x05" + b"\xff" * 20, zone, udp=True)
    assert isinstance(garbage, bytes) and garbage[:2] == b"\x12\x34" and garbage[3] & 0xF == wire.RCODE_FORMERR
    truncated = query("web.marathon.mesos.")[:-3]
    assert resolver.resolve(truncated, zone, udp=True)[3] & 0xF == wire.RCODE_FORMERR  # type: ignore[index]
    two = dns.message.make_query("web.marathon.mesos.", "A")
    two.question.append(two.question[0])
    assert resolver.resolve(two.to_wire(), zone, udp=True)[3] & 0xF == wire.RCODE_FORMERR  # type: ignore[index]
    notify = dns.message.make_query("mesos.", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert resolver.resolve(notify.to_wire(), zone, udp=True)[3] & 0xF == wire.RCODE_NOTIMP  # type: ignore[index]
    chaos = dns.message.make_query("leader.mesos.", "TXT", rdclass=dns.rdataclass.CH)
    assert resolve(zone, chaos.to_wire()).rcode() == dns.rcode.REFUSED
    badvers = resolve(zone, query("leader.mesos.", use_edns=1))
    assert badvers.rcode() == dns.rcode.BADVERS
    assert resolver.resolve(query("leader.mesos.") + b"\x00" * 5000, zone, udp=True)[3] & 0xF == wire.RCODE_FORMERR  # type: ignore[index]
    response = bytearray(query("leader.mesos."))
    response[2] |= 0x80
    assert resolver.resolve(bytes(response), zone, udp=True) is None


# --- fuzzing ---------------------------------------------------------------------------------

_FUZZ_ZONE: list[tuple[Zone, FastPath]] = []


def _fuzz_zone() -> tuple[Zone, FastPath]:
    if not _FUZZ_ZONE:
        from dns_testdata import DATA

        from pydcos.dns.master_view import view_from_state
        _FUZZ_ZONE.append(make_zone(view_from_state((DATA / "master_state.json").read_bytes())))
    return _FUZZ_ZONE[0]


VALID = [query(n, t, use_edns=e) for n in ("web.marathon.mesos.", "leader.mesos.", "x.com.")
         for t in ("A", "SRV", "AAAA") for e in (None, 0)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 2))
        pos = draw(st.integers(0, len(data)))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:
            del data[pos:pos + draw(st.integers(1, 8))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.binary(max_size=600), mutated()))
def test_no_packet_makes_either_path_raise(data: bytes) -> None:
    zone, fast = _fuzz_zone()
    for udp in (True, False):
        out = fast.answer(data, udp)
        if out is not None:
            reply = dns.message.from_wire(out)
            assert reply.id == int.from_bytes(data[:2], "big")
        for forward in (True, False):
            result = Resolver(ResolverSettings(forward=forward)).resolve(data, zone, udp=udp)
            if isinstance(result, bytes):
                assert result[:2] == data[:2]
                assert result[2] & 0x80  # always a response
                if udp:
                    assert len(result) <= wire.EDNS_UDP_LIMIT


def test_repeated_queries_are_answered_from_the_exact_cache_until_the_name_changes(state_view: MasterView) -> None:
    cat = Catalog(CFG)
    cat.load(state_view)
    fast = FastPath(ttl=60)
    fast.update(cat.zone, cat.zone.take_dirty())
    data = query("api-server-prod.marathon.mesos.")
    first = fast.answer(data)
    assert first is not None and fast._exact
    again = bytearray(data)
    again[:2] = b"\x00\x07"
    second = fast.answer(bytes(again))
    assert second == b"\x00\x07" + first[2:]
    view = copy.deepcopy(cat.view)
    del view.tasks[next(k for k in view.tasks if k[1] == "weird.1")]
    cat.load(view)
    fast.update(cat.zone, cat.zone.take_dirty())
    assert fast.answer(data) is None
