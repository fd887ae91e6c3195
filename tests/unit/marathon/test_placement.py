"""Constraints and offer matching: resources, roles, ports, placement, and why offers are unused."""

from __future__ import annotations

from pydcos.marathon.constraints import Placement, accepts, problem
from pydcos.marathon.model import AppDefinition, PortDefinition
from pydcos.marathon.offer_matcher import OfferView, Waiting, match_offer
from pydcos.mesos.resources import Resources


def at(host: str, **attrs: str) -> Placement:
    return Placement(f"agent-{host}", host, attrs)


def test_unique_and_max_per() -> None:
    placed = [at("h1"), at("h1"), at("h2")]
    assert not accepts([["hostname", "UNIQUE"]], at("h1"), placed)
    assert accepts([["hostname", "UNIQUE"]], at("h3"), placed)
    assert not accepts([["hostname", "MAX_PER", "2"]], at("h1"), placed)
    assert accepts([["hostname", "MAX_PER", "2"]], at("h2"), placed)


def test_cluster_like_unlike_on_attributes() -> None:
    offer = at("h1", rack="r1")
    assert accepts([["rack", "CLUSTER", "r1"]], offer, [])
    assert not accepts([["rack", "CLUSTER", "r2"]], offer, [])
    assert accepts([["rack", "LIKE", "r[0-9]"]], offer, [])
    assert not accepts([["rack", "UNLIKE", "r[0-9]"]], offer, [])
    assert not accepts([["zone", "LIKE", ".*"]], offer, [])  # attribute missing
    assert accepts([["hostname", "CLUSTER"]], offer, [at("h1")])
    assert not accepts([["hostname", "CLUSTER"]], offer, [at("h2")])


def test_group_by_spreads_evenly() -> None:
    placed = [at("h1", rack="a"), at("h2", rack="b"), at("h3", rack="a")]
    assert accepts([["rack", "GROUP_BY"]], at("h4", rack="b"), placed)
    assert not accepts([["rack", "GROUP_BY"]], at("h5", rack="a"), placed)
    assert accepts([["rack", "GROUP_BY", "3"]], at("h6", rack="c"), placed)
    assert not accepts([["rack", "GROUP_BY", "3"]], at("h4", rack="b"), placed)


def test_impossible_constraints_are_named() -> None:
    assert problem(["hostname", "UNIQUE"]) is None
    assert problem(["hostname", "UNIQUE", "x"]) is not None
    assert problem(["hostname", "FOO"]) is not None
    assert problem(["hostname", "MAX_PER"]) is not None
    assert problem(["rack", "LIKE", "["]) is not None
    assert problem(["", "UNIQUE"]) is not None


def offer(res: str = "cpus:2;mem:1024;disk:100;ports:[31000-31004]", role: str = "*", host: str = "h1",
          **attrs: str) -> OfferView:
    return OfferView("o1", f"agent-{host}", host, attrs, {role: Resources.parse(res)})


def waiting(app: AppDefinition, count: int, roles: tuple[str, ...] = ("*",), placed: list[Placement] | None = None
            ) -> Waiting:
    return Waiting(app, count, placed or [], roles)


def app(**kw: object) -> AppDefinition:
    base: dict[str, object] = {"id": "/web", "cmd": "x", "cpus": 0.5, "mem": 100,
                               "port_definitions": [PortDefinition(0)]}
    base.update(kw)
    return AppDefinition(**base)  # type: ignore[arg-type]


def test_fills_the_offer_as_far_as_it_goes() -> None:
    result = match_offer(offer(), [waiting(app(), 10)])
    assert len(result.matches) == 4  # cpus 2 / 0.5
    assert [m.host_ports for m in result.matches] == [[31000], [31001], [31002], [31003]]
    assert result.rejects == {}
    first = result.matches[0].resources["*"]
    assert first.scalar("cpus") == 0.5 and first.ranges["ports"] == ((31000, 31000),)


def test_reasons_for_unused_offers() -> None:
    assert match_offer(offer(), [waiting(app(cpus=4), 1)]).rejects == {"/web": "InsufficientCpus"}
    assert match_offer(offer(), [waiting(app(mem=4096), 1)]).rejects == {"/web": "InsufficientMemory"}
    many_ports = app(port_definitions=[PortDefinition(0)] * 6)
    assert match_offer(offer(), [waiting(many_ports, 1)]).rejects == {"/web": "InsufficientPorts"}
    assert match_offer(offer(role="slave_public"), [waiting(app(), 1)]).rejects == {"/web": "UnfulfilledRole"}
    unique = app(constraints=[["hostname", "UNIQUE"]])
    assert match_offer(offer(), [waiting(unique, 1, placed=[at("h1")])]).rejects == {"/web": "UnfulfilledConstraint"}


def test_unique_places_one_per_offer() -> None:
    unique = app(constraints=[["hostname", "UNIQUE"]])
    result = match_offer(offer(), [waiting(unique, 3)])
    assert len(result.matches) == 1


def test_required_ports_are_taken_exactly_once() -> None:
    fixed = app(require_ports=True, port_definitions=[PortDefinition(31003)])
    result = match_offer(offer(), [waiting(fixed, 2)])
    assert [m.host_ports for m in result.matches] == [[31003]]
    assert match_offer(offer(), [waiting(app(require_ports=True, port_definitions=[PortDefinition(80)]), 1)]).rejects


def test_public_role_only_for_apps_that_accept_it_and_reserved_goes_first() -> None:
    public = OfferView("o", "a", "h", {}, {"slave_public": Resources.parse("cpus:1;mem:512;ports:[1-10]"),
                                          "*": Resources.parse("cpus:1;mem:512;ports:[20-30]")})
    edge = app(id="/edge", cpus=1, mem=10)
    result = match_offer(public, [waiting(edge, 2, roles=("slave_public", "*"))])
    first, second = result.matches
    assert set(first.resources) == {"slave_public"}
    assert second.resources["*"].scalar("cpus") == 1 and second.resources["slave_public"].scalar("mem") == 10
    inner = match_offer(public, [waiting(app(id="/inner", cpus=1, mem=10), 2)])
    assert len(inner.matches) == 1 and set(inner.matches[0].resources) == {"*"}


def test_apps_share_an_offer_in_queue_order() -> None:
    a = app(id="/a", cpus=1)
    b = app(id="/b", cpus=1)
    result = match_offer(offer(), [waiting(a, 1), waiting(b, 5)])
    assert [m.app.id for m in result.matches] == ["/a", "/b"]
