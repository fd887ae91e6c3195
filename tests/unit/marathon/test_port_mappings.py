"""Docker port mappings: service ports assigned like port definitions', host ports from the offer,
and the problems a bad mapping gets."""

from __future__ import annotations

import json

import pytest
from core_helpers import Harness

from pydcos.marathon import commands
from pydcos.marathon.errors import InvalidInput
from pydcos.marathon.model import APP_SPEC_DECODER, AppSpec
from pydcos.marathon.queries import render_app, render_task


def docker_app(app_id: str, mappings: list[dict[str, object]], network: str = "BRIDGE", **extra: object) -> str:
    return json.dumps({"id": app_id, "cpus": 0.1, "mem": 16, "instances": 1, **extra, "container": {
        "type": "DOCKER", "docker": {"image": "nginx", "network": network, "portMappings": mappings}}})


def mapped(h: Harness, app_id: str) -> list[dict[str, object]]:
    app = render_app(h.core, h.core.root.apps[app_id])
    return app["container"]["docker"]["portMappings"]  # type: ignore[no-any-return]


def test_service_ports_of_mappings_come_from_the_range_and_show_everywhere() -> None:
    h = Harness()
    h.create(docker_app("/web", [{"containerPort": 80, "name": "http"},
                                 {"containerPort": 443, "hostPort": 0, "servicePort": 0, "protocol": "tcp"}]))
    assert [m["servicePort"] for m in mapped(h, "/web")] == [10000, 10001]
    app = render_app(h.core, h.core.root.apps["/web"])
    assert app["ports"] == [10000, 10001]
    assert [pd["port"] for pd in app["portDefinitions"]] == [10000, 10001]
    h.create(docker_app("/api", [{"containerPort": 8080}]))
    assert [m["servicePort"] for m in mapped(h, "/api")] == [10002]  # unique across apps
    h.create('{"id": "/plain", "cmd": "x", "cpus": 0.1}')
    assert h.core.root.apps["/plain"].service_ports == [10003]  # and shared with port definitions
    [task] = h.offer()[:1]
    instance = h.core.instances.get(task.task_id.value)
    assert instance is not None
    assert render_task(h.core, instance)["servicePorts"] in ([10000, 10001], [10002], [10003])


def test_given_service_ports_are_kept_and_dynamic_ones_survive_updates() -> None:
    h = Harness()
    h.create(docker_app("/web", [{"containerPort": 80, "servicePort": 10500}, {"containerPort": 81}]))
    assert [m["servicePort"] for m in mapped(h, "/web")] == [10500, 10000]
    commands.put_apps(h.core, [(AppSpec(cpus=0.2), "/web")], create_only=False, force=True)
    assert [m["servicePort"] for m in mapped(h, "/web")] == [10500, 10000]
    body = json.loads(docker_app("/web", [{"containerPort": 80}, {"containerPort": 81}, {"containerPort": 82}]))
    spec = APP_SPEC_DECODER.decode(json.dumps({"container": body["container"]}).encode())
    commands.put_apps(h.core, [(spec, "/web")], create_only=False, force=True)
    # a new container: the ports it had stay at their positions, the new one takes a free one
    assert [m["servicePort"] for m in mapped(h, "/web")] == [10500, 10000, 10001]


@pytest.mark.parametrize(("mappings", "network", "path", "fragment"), [
    ([{"containerPort": 80, "servicePort": 10100}, {"containerPort": 81, "servicePort": 10100}], "BRIDGE",
     "/container/docker/portMappings(1)/servicePort", "Ports must be unique."),
    ([{"containerPort": 80, "hostPort": None}], "BRIDGE", "/container/docker/portMappings(0)/hostPort",
     "hostPort is required for BRIDGE mode."),
    ([{"containerPort": 70000}], "BRIDGE", "/container/docker/portMappings(0)/containerPort", "between 0 and 65535"),
    ([{"containerPort": 80, "protocol": "sctp"}], "BRIDGE", "/container/docker/portMappings(0)/protocol",
     "is not one of"),
    ([{"containerPort": 80, "name": "a"}, {"containerPort": 81, "name": "a"}], "BRIDGE",
     "/container/docker/portMappings(1)/name", "Port names must be unique."),
    ([{"containerPort": 80, "name": "Not_Valid"}], "BRIDGE", "/container/docker/portMappings(0)/name", "must match"),
])
def test_bad_mappings_are_refused_with_their_path(mappings: list[dict[str, object]], network: str, path: str,
                                                  fragment: str) -> None:
    h = Harness()
    with pytest.raises(InvalidInput) as refused:
        h.create(docker_app("/bad", mappings, network))
    found = {p.path: " ".join(p.errors) for p in refused.value.problems}
    assert path in found and fragment in found[path], found
    assert "/bad" not in h.core.root.apps


def test_bridge_host_ports_come_from_the_offer_and_given_ones_exactly() -> None:
    h = Harness()
    h.create(docker_app("/web", [{"containerPort": 80, "hostPort": 0}, {"containerPort": 9000, "hostPort": 31050}],
                        instances=2))
    tasks = h.offer()
    assert len(tasks) == 1  # the fixed host port fits one task per offer
    instance = h.core.instances.get(tasks[0].task_id.value)
    assert instance is not None and instance.ports == [31000, 31050]
    docker = tasks[0].container["docker"]  # type: ignore[index]
    assert [(m["host_port"], m["container_port"]) for m in docker["port_mappings"]] == [(31000, 80), (31050, 9000)]
    assert h.offer(resources="cpus:4;mem:4096;disk:1000;ports:[31000-31049]") == []  # 31050 not offered
    assert h.core.queue.entries["/web"].rejects["InsufficientPorts"] >= 1


def test_user_network_mappings_without_host_port_take_no_port() -> None:
    h = Harness()
    h.create(docker_app("/overlay", [{"containerPort": 80, "hostPort": None}], network="USER"))
    [task] = h.offer(resources="cpus:4;mem:4096;disk:1000")  # no ports offered at all
    instance = h.core.instances.get(task.task_id.value)
    assert instance is not None and instance.ports == []
    assert instance.service_ports == [10000]


def test_health_check_port_index_counts_mappings() -> None:
    h = Harness()
    h.create(docker_app("/two", [{"containerPort": 80}, {"containerPort": 81}],
                        healthChecks=[{"protocol": "TCP", "portIndex": 1}]))
    assert "/two" in h.core.root.apps
    with pytest.raises(InvalidInput) as err:
        h.create(docker_app("/three", [{"containerPort": 80}], healthChecks=[{"protocol": "TCP", "portIndex": 1}]))
    assert "/healthChecks(0)/portIndex" in json.dumps(err.value.body())


def test_discovery_names_the_mapped_ports() -> None:
    from pydcos.marathon.task_builder import _discovery

    h = Harness()
    h.create(docker_app("/dns", [{"containerPort": 80, "name": "http", "labels": {"VIP_0": "1.2.3.4:80"}},
                                 {"containerPort": 53, "hostPort": None, "name": "internal"},
                                 {"containerPort": 9000, "name": "admin", "protocol": "udp,tcp"}],
                        network="USER"))
    app = h.core.root.apps["/dns"]
    ports = _discovery(app, [31000, 31001])["ports"]["ports"]
    assert [(p["number"], p.get("name"), p["protocol"]) for p in ports] == [
        (31000, "http", "tcp"), (31001, "admin", "udp"), (31001, "admin", "tcp")]
    assert ports[0]["labels"] == {"labels": [{"key": "VIP_0", "value": "1.2.3.4:80"}]}
