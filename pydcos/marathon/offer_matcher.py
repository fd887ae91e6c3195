"""Matching one offer against the instances waiting to launch. Pure.

Each waiting app, in queue order, takes as many instances as fit: scalars (cpus, mem, disk,
gpus) from the roles it accepts, host ports (the ones it requires, or the lowest free), and
placement constraints checked against the app's instances, including those placed by this very
offer. Apps that cannot use the offer get a reason, counted for `/v2/queue`'s
`processedOffersSummary`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pydcos.marathon import constraints as cons
from pydcos.marathon.app_ports import host_port_requests
from pydcos.marathon.model import AppDefinition
from pydcos.mesos.resources import EPSILON, Resources, RoleResources, SpanList, subtract_spans

SCALARS = (("cpus", "InsufficientCpus"), ("mem", "InsufficientMemory"), ("disk", "InsufficientDisk"),
           ("gpus", "InsufficientGpus"))
REASONS = ("UnfulfilledRole", "UnfulfilledConstraint", "InsufficientCpus", "InsufficientMemory",
           "InsufficientDisk", "InsufficientGpus", "InsufficientPorts", "NoOfferMatchReasons")


@dataclass(frozen=True)
class OfferView:
    offer_id: str
    agent_id: str
    hostname: str
    attributes: Mapping[str, str]
    resources: RoleResources


@dataclass(frozen=True)
class Waiting:
    app: AppDefinition
    count: int
    placed: Sequence[cons.Placement]  # where the app's instances run now
    accepted_roles: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    app: AppDefinition
    resources: RoleResources
    host_ports: list[int]


@dataclass
class OfferResult:
    matches: list[Match] = field(default_factory=list)
    rejects: dict[str, str] = field(default_factory=dict)  # app id -> first reason it could not use the offer


class _Pool:
    """What is left of the offer, per role, as plain numbers (cheap to take from)."""

    def __init__(self, resources: RoleResources) -> None:
        self.scalars = {role: dict(r.scalars) for role, r in resources.items()}
        self.ports: dict[str, SpanList] = {role: r.ranges.get("ports", ()) for role, r in resources.items()}

    def roles(self, accepted: tuple[str, ...]) -> list[str]:
        # reserved roles first, so unreserved resources stay for apps that accept only those
        return sorted((r for r in self.scalars if r in accepted), key=lambda r: r == "*")

    def take(self, app: AppDefinition, roles: list[str]) -> tuple[RoleResources, list[int]] | str:
        """Take one instance's resources, or return the reason it does not fit (taking nothing)."""
        for name, reason in SCALARS:
            want = float(getattr(app, name))
            if want > EPSILON and sum(self.scalars[r].get(name, 0.0) for r in roles) + EPSILON < want:
                return reason
        ports = self._pick_ports(app, roles)
        if ports is None:
            return "InsufficientPorts"
        taken: dict[str, dict[str, float]] = {}
        for name, _ in SCALARS:
            want = float(getattr(app, name))
            for role in roles:
                if want <= EPSILON:
                    break
                have = self.scalars[role].get(name, 0.0)
                part = min(have, want)
                if part > EPSILON:
                    self.scalars[role][name] = have - part
                    taken.setdefault(role, {})[name] = part
                    want -= part
        port_spans: dict[str, list[tuple[int, int]]] = {}
        for role, port in ports:
            self.ports[role] = subtract_spans(self.ports[role], ((port, port),))
            port_spans.setdefault(role, []).append((port, port))
        out: RoleResources = {}
        for role in set(taken) | set(port_spans):
            out[role] = Resources.of(taken.get(role), {"ports": port_spans[role]} if role in port_spans else None)
        return out, [p for _, p in ports]

    def _pick_ports(self, app: AppDefinition, roles: list[str]) -> list[tuple[str, int]] | None:
        """A host port for each one the app asks for (app_ports.host_port_requests): the given ones
        exactly, the others (0) the lowest free ones; None when the offer lacks one."""
        wanted = host_port_requests(app)
        fixed = {port for port in wanted if port}
        chosen: list[tuple[str, int]] = []
        used: set[int] = set()
        free = self._free_ports(roles, fixed)
        for port in wanted:
            if port:
                role = next((r for r in roles if any(b <= port <= e for b, e in self.ports.get(r, ()))), None)
                if role is None or port in used:
                    return None
            else:
                picked = next(free, None)
                if picked is None:
                    return None
                role, port = picked
            used.add(port)
            chosen.append((role, port))
        return chosen

    def _free_ports(self, roles: list[str], taken: set[int]) -> Iterator[tuple[str, int]]:
        """The offer's ports in order (role by role), without `taken`; lazily, as ranges are large."""
        for role in roles:
            for begin, end in self.ports.get(role, ()):
                for port in range(begin, end + 1):
                    if port not in taken:
                        yield role, port


def match_offer(offer: OfferView, waiting: Sequence[Waiting]) -> OfferResult:
    """Launches for `offer` and, for each app that got none, why."""
    pool = _Pool(offer.resources)
    result = OfferResult()
    here = cons.Placement(offer.agent_id, offer.hostname, offer.attributes)
    for item in waiting:
        roles = pool.roles(item.accepted_roles)
        if not roles:
            result.rejects[item.app.id] = "UnfulfilledRole"
            continue
        placed = list(item.placed)
        launched = 0
        while launched < item.count:
            if item.app.constraints and not cons.accepts(item.app.constraints, here, placed):
                reason = "UnfulfilledConstraint"
            else:
                got = pool.take(item.app, roles)
                if not isinstance(got, str):
                    result.matches.append(Match(item.app, got[0], got[1]))
                    placed.append(here)
                    launched += 1
                    continue
                reason = got
            if launched == 0:
                result.rejects[item.app.id] = reason
            break
    return result
