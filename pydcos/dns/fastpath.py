"""Precomputed answers for A and SRV queries: a dict lookup and a few byte joins per query. Pure.

For every name with A or SRV records the whole answer is built once, on the name's first query,
and kept until the name changes; the key is the lower-cased wire name plus query type and class.
A query is answered by copying its id, RD bit and question (as asked, so mixed-case names and 0x20
randomisation survive) in front of the stored records; owner names point back at the question, so
the stored bytes fit any spelling of the name. Multi-record answers are stored in several rotations
and served in turn (round robin). On top sits a cache by the exact bytes of a UDP query after its
id, for answers with one rotation: a repeated query costs one dict lookup (bounded, and dropped
with its name's entry). Anything unusual returns None and goes to the full resolver: other types,
negative answers, EDNS versions above 0, trailing bytes, or an answer that would not fit the
client's UDP size (the resolver truncates it and sets TC).

    fast = FastPath(ttl=60)
    fast.update(zone, zone.take_dirty())      # after every change: forget what changed
    reply = fast.answer(datagram, udp=True)   # bytes, or None for the slow path
"""

from __future__ import annotations

from collections.abc import Iterable

from pydcos.dns import wire
from pydcos.dns.zone import Zone

_PLAIN = b"\x00\x01\x00\x00\x00\x00\x00\x00"  # QDCOUNT 1, no other records
_EDNS = b"\x00\x01\x00\x00\x00\x00\x00\x01"  # QDCOUNT 1 and one additional: the OPT record
_A_KEY = b"\x00\x01\x00\x01"  # type A, class IN
_SRV_KEY = b"\x00\x21\x00\x01"  # type SRV, class IN
_OPT_HEAD = b"\x00\x00\x29"  # root owner, type OPT
_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_")
# Entries of the exact-query cache before it starts over (random spellings cannot grow it further).
EXACT_CACHE_SIZE = 50_000


class _Entry:
    __slots__ = ("bodies", "counts", "counts_edns", "turn")

    def __init__(self, bodies: tuple[bytes, ...], an: int, ar: int) -> None:
        self.bodies = bodies
        self.counts = wire.counts(1, an, 0, ar)
        self.counts_edns = wire.counts(1, an, 0, ar + 1)
        self.turn = 0


class FastPath:
    """The answer table. Entries are built on a name's first query and dropped when `update` hears
    that the name changed; so an entry, once built, always matches the zone it came from."""

    def __init__(self, ttl: int, recursion_available: bool = False, rotations: int = 8) -> None:
        self.ttl = ttl
        self.rotations = max(1, rotations)
        ra = 0x80 if recursion_available else 0
        # Reply flags by the query's RD bit: QR and AA set, RA as configured, NOERROR.
        self._flags = (bytes((0x84, ra)), bytes((0x85, ra)))
        self._opt = wire.opt_record()
        self._zone: Zone | None = None
        self._entries: dict[bytes, _Entry] = {}
        # data[2:] of a UDP query -> reply[2:], and which of those each entry produced.
        self._exact: dict[bytes, bytes] = {}
        self._exact_of: dict[bytes, list[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def update(self, zone: Zone, names: Iterable[str]) -> None:
        """Forget the answers for `names` (those the zone reported dirty)."""
        self._zone = zone
        if not self._entries:
            return  # nothing built yet (the first load): nothing to forget
        for name in names:
            try:
                owner = wire.encode_name(name)
            except ValueError:
                continue
            self._drop(owner + _A_KEY)
            self._drop(owner + _SRV_KEY)

    def rebuild(self, zone: Zone) -> None:
        self._zone = zone
        self._entries.clear()
        self._exact.clear()
        self._exact_of.clear()

    def _drop(self, key: bytes) -> None:
        for exact in self._exact_of.pop(key, ()):
            self._exact.pop(exact, None)
        self._entries.pop(key, None)

    def _build(self, key: bytes) -> _Entry | None:
        """The entry for a lower-cased wire name plus type and class, if the zone has those records."""
        zone = self._zone
        name = _decode_name(key[:-4])
        if zone is None or name is None:
            return None
        kind = key[-4:]
        if kind == _A_KEY:
            entry = self._compile_a(zone, name)
        elif kind == _SRV_KEY:
            entry = self._compile_srv(zone, name)
        else:
            return None
        if entry is not None:
            self._entries[key] = entry
        return entry

    def _compile_a(self, zone: Zone, name: str) -> _Entry | None:
        ips = zone.a.get(name)
        if not ips:
            return None
        answers = [wire.a_record(wire.QNAME_POINTER, self.ttl, ip) for ip in ips]
        return _Entry(self._rotations(answers, b""), len(answers), 0)

    def _compile_srv(self, zone: Zone, name: str) -> _Entry | None:
        targets = zone.srv.get(name)
        if not targets:
            return None
        answers = []
        extra = []
        seen: set[str] = set()
        for target, port in targets:
            try:
                target_wire = wire.encode_name(target)
            except ValueError:
                continue
            answers.append(wire.srv_record(wire.QNAME_POINTER, self.ttl, target_wire, port))
            if target not in seen:
                seen.add(target)
                extra += [wire.a_record(target_wire, self.ttl, ip) for ip in zone.a.get(target, ())]
        if not answers:
            return None
        return _Entry(self._rotations(answers, b"".join(extra)), len(answers), len(extra))

    def _rotations(self, answers: list[bytes], extra: bytes) -> tuple[bytes, ...]:
        n = len(answers)
        steps = sorted({i * n // min(n, self.rotations) for i in range(min(n, self.rotations))})
        return tuple(b"".join(answers[s:] + answers[:s]) + extra for s in steps)

    def answer(self, data: bytes, udp: bool = True) -> bytes | None:
        """The reply to `data`, or None when the full resolver has to look at it."""
        if udp:
            tail = self._exact.get(data[2:])
            if tail is not None:
                return data[:2] + tail
        section_counts = data[4:12]
        if section_counts == _PLAIN:
            edns = False
        elif section_counts == _EDNS:
            edns = True
        else:
            return None
        if data[2] & 0xF8:  # a response, or an opcode other than QUERY
            return None
        end = data.find(0, 12) + 1
        if end <= 0:
            return None
        question_end = end + 4
        key = data[12:end].lower() + data[end:question_end]
        entry = self._entries.get(key)
        if entry is None:
            entry = self._build(key)
            if entry is None:
                return None
        bodies = entry.bodies
        if len(bodies) == 1:
            body = bodies[0]
            if udp:
                reply = self._answer(data, entry, body, edns, end, udp)
                if reply is not None:
                    self._remember(key, data, reply)
                return reply
        else:
            turn = entry.turn
            entry.turn = turn + 1
            body = bodies[turn % len(bodies)]
        return self._answer(data, entry, body, edns, end, udp)

    def _remember(self, key: bytes, data: bytes, reply: bytes) -> None:
        if len(self._exact) >= EXACT_CACHE_SIZE:
            self._exact.clear()
            self._exact_of.clear()
        exact = data[2:]
        self._exact[exact] = reply[2:]
        self._exact_of.setdefault(key, []).append(exact)

    def _answer(self, data: bytes, entry: _Entry, body: bytes, edns: bool, end: int, udp: bool) -> bytes | None:
        question_end = end + 4
        flags = self._flags[data[2] & 1]
        if not edns:
            limit = wire.PLAIN_UDP_LIMIT if udp else wire.TCP_LIMIT
            if question_end != len(data) or question_end + len(body) > limit:
                return None
            return data[:2] + flags + entry.counts + data[12:question_end] + body
        # The OPT record: root owner, type 41, class = UDP size, extended rcode and version 0.
        opt = question_end
        if data[opt:opt + 3] != _OPT_HEAD or data[opt + 5:opt + 7] != b"\x00\x00":
            return None
        if opt + 11 + int.from_bytes(data[opt + 9:opt + 11], "big") != len(data):
            return None
        if udp:
            size = int.from_bytes(data[opt + 3:opt + 5], "big")
            limit = min(max(size, wire.PLAIN_UDP_LIMIT), wire.EDNS_UDP_LIMIT)
        else:
            limit = wire.TCP_LIMIT
        if question_end + len(body) + 11 > limit:
            return None
        return data[:2] + flags + entry.counts_edns + data[12:question_end] + body + self._opt


def _decode_name(name: bytes) -> str | None:
    """A lower-cased wire name as text, or None unless every label is one that zone names use.

    >>> _decode_name(b"\\x03web\\x05mesos\\x00")
    'web.mesos.'
    """
    labels: list[str] = []
    i = 0
    while i < len(name):
        size = name[i]
        if size == 0:
            return ".".join(labels) + "." if labels and i == len(name) - 1 else None
        label = name[i + 1:i + 1 + size]
        if size > 63 or len(label) != size or not _NAME_BYTES.issuperset(label):
            return None
        labels.append(label.decode("ascii"))
        i += 1 + size
    return None
