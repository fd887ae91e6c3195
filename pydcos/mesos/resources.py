"""Resource arithmetic: scalars, ranges and sets, keyed by role. Pure.

A `Resources` value is immutable; `+`, `-` and `contains` never touch their operands. Scalars are
kept in Mesos's fixed point (three decimals) so that repeated adds and subtracts cannot drift.
A `RoleResources` maps a role (`*` = unreserved) to the `Resources` reserved for it.

>>> r = Resources.parse("cpus:4;mem:1024;ports:[31000-31009]")
>>> (r - Resources.parse("cpus:1;ports:[31000-31000]")).render()
'cpus:3;mem:1024;ports:[31001-31009]'
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pydcos.mesos.v1.messages import Range, Ranges, Resource, Scalar, ValueSet

Span = tuple[int, int]
SpanList = tuple[Span, ...]

EPSILON = 0.0005


def _fix(value: float) -> float:
    return round(value, 3)


def normalize_spans(spans: Iterable[Span]) -> SpanList:
    """Sorted, merged (adjacent spans joined), each begin <= end."""
    ordered = sorted((b, e) if b <= e else (e, b) for b, e in spans)
    merged: list[list[int]] = []
    for begin, end in ordered:
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    return tuple((b, e) for b, e in merged)


def subtract_spans(have: SpanList, take: SpanList) -> SpanList:
    return _subtract_normalized(normalize_spans(have), normalize_spans(take))


def _span_end(span: Span) -> int:
    return span[1]


def _subtract_normalized(have: SpanList, take: SpanList) -> SpanList:
    """`have` without `take`, both normalized. A binary search per span of `take`, and the spans
    of `have` it does not touch copied in runs: a framework's ports on an agent can be hundreds of
    single-port spans, from which the allocator takes one task's port at a time.

    >>> _subtract_normalized(((1, 10), (20, 30)), ((5, 5), (9, 21)))
    ((1, 4), (6, 8), (22, 30))
    """
    if not have or not take:
        return have
    spans = list(have)
    out: list[Span] = []
    i, n = 0, len(spans)
    for tb, te in take:
        j = bisect_left(spans, tb, i, n, key=_span_end)  # spans[i:j] end before tb: kept whole
        out.extend(spans[i:j])
        i = j
        while i < n and spans[i][0] <= te:
            begin, end = spans[i]
            if begin < tb:
                out.append((begin, tb - 1))
            if end > te:
                spans[i] = (te + 1, end)  # the rest may meet the next span of `take`
                break
            i += 1
    out.extend(spans[i:])
    return tuple(out)


def _add_normalized(have: SpanList, add: SpanList) -> SpanList:
    """`have` with `add`, both normalized. A few spans (a task's ports given back) are put in
    place by binary search; many are merged by sorting.

    >>> _add_normalized(((1, 4), (8, 9), (20, 30)), ((5, 7), (40, 40)))
    ((1, 9), (20, 30), (40, 40))
    """
    if not add:
        return have
    if len(add) > 8:
        return normalize_spans(have + add)
    spans = list(have)
    for begin, end in add:
        i = bisect_left(spans, begin - 1, key=_span_end)  # the first span that ends at or after begin - 1
        j = i
        while j < len(spans) and spans[j][0] <= end + 1:  # ... and those it overlaps or touches
            begin, end = min(begin, spans[j][0]), max(end, spans[j][1])
            j += 1
        spans[i:j] = [(begin, end)]
    return tuple(spans)


def spans_contain(have: SpanList, want: SpanList) -> bool:
    for wb, we in want:
        if not any(hb <= wb and we <= he for hb, he in have):
            return False
    return True


def _contains_normalized(have: SpanList, want: SpanList) -> bool:
    """`spans_contain` for a normalized `have`: a binary search per wanted span."""
    for wb, we in want:
        i = bisect_left(have, wb, key=_span_end)
        if i == len(have) or not (have[i][0] <= wb and we <= have[i][1]):
            return False
    return True


def span_count(spans: SpanList) -> int:
    return sum(e - b + 1 for b, e in spans)


def render_spans(spans: SpanList) -> str:
    """Mesos's range string, as `/master/state` shows it: `[31000-31000, 31005-31006]`."""
    return "[" + ", ".join(f"{b}-{e}" for b, e in spans) + "]"


@dataclass(frozen=True, slots=True)
class Resources:
    scalars: Mapping[str, float] = field(default_factory=dict)
    ranges: Mapping[str, SpanList] = field(default_factory=dict)
    sets: Mapping[str, frozenset[str]] = field(default_factory=dict)

    # --- construction -------------------------------------------------------------------

    @staticmethod
    def of(
        scalars: Mapping[str, float] | None = None,
        ranges: Mapping[str, Iterable[Span]] | None = None,
        sets: Mapping[str, Iterable[str]] | None = None,
    ) -> Resources:
        return Resources(
            scalars={k: _fix(v) for k, v in (scalars or {}).items() if v > EPSILON},
            ranges={k: s for k, v in (ranges or {}).items() if (s := normalize_spans(v))},
            sets={k: fs for k, v in (sets or {}).items() if (fs := frozenset(v))},
        )

    @staticmethod
    def parse(text: str) -> Resources:
        """Parse the agent flag form: `cpus:4;mem:4096;ports:[31000-31999];disks:{a,b}`."""
        scalars: dict[str, float] = {}
        ranges: dict[str, list[Span]] = {}
        sets: dict[str, list[str]] = {}
        for part in filter(None, (p.strip() for p in text.split(";"))):
            name, sep, value = part.partition(":")
            name = re.sub(r"\(.*\)$", "", name.strip())  # `cpus(role):4`: the role is ignored here
            value = value.strip()
            if not sep or not name or not value:
                raise ValueError(f"bad resource {part!r}: expected name:value")
            if value.startswith("["):
                if not value.endswith("]"):
                    raise ValueError(f"bad range resource {part!r}")
                for span in filter(None, (s.strip() for s in value[1:-1].split(","))):
                    begin, dash, end = span.partition("-")
                    if not dash:
                        raise ValueError(f"bad range {span!r} in {part!r}")
                    ranges.setdefault(name, []).append((int(begin), int(end)))
            elif value.startswith("{"):
                if not value.endswith("}"):
                    raise ValueError(f"bad set resource {part!r}")
                sets.setdefault(name, []).extend(
                    i.strip() for i in value[1:-1].split(",") if i.strip()
                )
            else:
                amount = float(value)
                if amount < 0 or amount != amount or amount == float("inf"):
                    raise ValueError(f"bad scalar {part!r}")
                scalars[name] = scalars.get(name, 0.0) + amount
        return Resources.of(scalars, ranges, sets)

    # --- arithmetic ---------------------------------------------------------------------

    def __add__(self, other: Resources) -> Resources:
        if other.is_empty():
            return self
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            scalars[k] = _fix(scalars.get(k, 0.0) + v)
        ranges = dict(self.ranges)
        for k, spans in other.ranges.items():
            ranges[k] = _add_normalized(ranges.get(k, ()), spans)  # a Resources keeps them normalized
        sets = dict(self.sets)
        for k, items in other.sets.items():
            sets[k] = sets.get(k, frozenset()) | items
        return Resources(scalars, ranges, sets)

    def __sub__(self, other: Resources) -> Resources:
        """What is left after taking `other` (clamped at zero; callers check `contains` first)."""
        if other.is_empty():
            return self
        scalars = dict(self.scalars)
        for k, v in other.scalars.items():
            left = _fix(scalars.get(k, 0.0) - v)
            if left > EPSILON:
                scalars[k] = left
            else:
                scalars.pop(k, None)
        ranges = dict(self.ranges)
        for k, spans in other.ranges.items():
            if k in ranges:
                left_spans = _subtract_normalized(ranges[k], spans)  # a Resources keeps them normalized
                if left_spans:
                    ranges[k] = left_spans
                else:
                    del ranges[k]
        sets = dict(self.sets)
        for k, items in other.sets.items():
            if k in sets:
                left_items = sets[k] - items
                if left_items:
                    sets[k] = left_items
                else:
                    del sets[k]
        return Resources(scalars, ranges, sets)

    def contains(self, other: Resources) -> bool:
        for k, v in other.scalars.items():
            if self.scalars.get(k, 0.0) + EPSILON < v:
                return False
        for k, spans in other.ranges.items():
            if not _contains_normalized(self.ranges.get(k, ()), spans):
                return False
        for k, items in other.sets.items():
            if not items <= self.sets.get(k, frozenset()):
                return False
        return True

    def is_empty(self) -> bool:
        return not (self.scalars or self.ranges or self.sets)

    def scalar(self, name: str) -> float:
        return self.scalars.get(name, 0.0)

    # --- rendering ----------------------------------------------------------------------

    def render(self) -> str:
        parts = [f"{k}:{v:g}" for k, v in self.scalars.items()]
        parts += [f"{k}:{render_spans(v).replace(', ', ',')}" for k, v in self.ranges.items()]
        parts += [f"{k}:{{{','.join(sorted(v))}}}" for k, v in self.sets.items()]
        return ";".join(parts)

    def to_v1(self, role: str = "*") -> list[Resource]:
        out = [Resource(name=k, type="SCALAR", scalar=Scalar(v), role=role) for k, v in self.scalars.items()]
        out += [
            Resource(name=k, type="RANGES", ranges=Ranges([Range(b, e) for b, e in v]), role=role)
            for k, v in self.ranges.items()
        ]
        out += [
            Resource(name=k, type="SET", set=ValueSet(sorted(v)), role=role) for k, v in self.sets.items()
        ]
        return out

    def state_json(self) -> dict[str, object]:
        """The `/master/state` form: numbers for scalars, Mesos range strings for ranges."""
        out: dict[str, object] = {"disk": 0.0, "mem": 0.0, "gpus": 0.0, "cpus": 0.0}
        out.update(self.scalars)
        for k, v in self.ranges.items():
            out[k] = render_spans(v)
        for k, items in self.sets.items():
            out[k] = "{" + ",".join(sorted(items)) + "}"
        return out


EMPTY = Resources()

RoleResources = dict[str, Resources]


def from_v1(resources: Iterable[Resource]) -> RoleResources:
    """Group v1 resources by role. Raises ValueError on a resource whose value is missing or bad."""
    scalars: dict[str, dict[str, float]] = {}
    ranges: dict[str, dict[str, list[Span]]] = {}
    sets: dict[str, dict[str, list[str]]] = {}
    for r in resources:
        role = r.role or "*"
        if r.type == "SCALAR":
            if r.scalar is None:
                raise ValueError(f"resource {r.name!r} of type SCALAR has no 'scalar'")
            value = r.scalar.value
            if value < 0 or value != value or value == float("inf"):
                raise ValueError(f"resource {r.name!r} has invalid value {value}")
            bucket = scalars.setdefault(role, {})
            bucket[r.name] = bucket.get(r.name, 0.0) + value
        elif r.type == "RANGES":
            if r.ranges is None:
                raise ValueError(f"resource {r.name!r} of type RANGES has no 'ranges'")
            for span in r.ranges.range:
                if span.begin > span.end or span.begin < 0:
                    raise ValueError(f"resource {r.name!r} has invalid range {span.begin}-{span.end}")
            ranges.setdefault(role, {}).setdefault(r.name, []).extend(
                (s.begin, s.end) for s in r.ranges.range
            )
        elif r.type == "SET":
            if r.set is None:
                raise ValueError(f"resource {r.name!r} of type SET has no 'set'")
            sets.setdefault(role, {}).setdefault(r.name, []).extend(r.set.item)
        else:
            raise ValueError(f"resource {r.name!r} has unsupported type {r.type}")
    roles = set(scalars) | set(ranges) | set(sets)
    return {
        role: res
        for role in roles
        if not (res := Resources.of(scalars.get(role), ranges.get(role), sets.get(role))).is_empty()
    }


def to_v1(role_resources: Mapping[str, Resources]) -> list[Resource]:
    out: list[Resource] = []
    for role, res in role_resources.items():
        out.extend(res.to_v1(role))
    return out


def flatten(role_resources: Mapping[str, Resources]) -> Resources:
    total = EMPTY
    for res in role_resources.values():
        total = total + res
    return total


def add_roles(a: Mapping[str, Resources], b: Mapping[str, Resources]) -> RoleResources:
    out = dict(a)
    for role, res in b.items():
        out[role] = out[role] + res if role in out else res
    return out


def subtract_roles(a: Mapping[str, Resources], b: Mapping[str, Resources]) -> RoleResources:
    out = dict(a)
    for role, res in b.items():
        if role in out:
            left = out[role] - res
            if left.is_empty():
                del out[role]
            else:
                out[role] = left
    return out


def contains_roles(have: Mapping[str, Resources], want: Mapping[str, Resources]) -> bool:
    return all(have.get(role, EMPTY).contains(res) for role, res in want.items())
