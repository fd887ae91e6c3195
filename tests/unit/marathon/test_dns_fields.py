"""What Marathon tells Mesos that Mesos-DNS makes names from: each task's DiscoveryInfo (SRV records)
and the FrameworkInfo hostname (`marathon.mesos`)."""

from __future__ import annotations

from pydcos.marathon.config import MarathonConfig
from pydcos.marathon.model import AppDefinition, PortDefinition
from pydcos.marathon.task_builder import build_task


def test_discovery_has_one_named_port_per_protocol() -> None:
    app = AppDefinition(id="/prod/dns", cmd="x", port_definitions=[
        PortDefinition(port=10000, protocol="udp,tcp", name="dns", labels={"VIP_0": "1.2.3.4:53"}),
        PortDefinition(port=10001, protocol="tcp"),
    ])
    task = build_task(app, "prod_dns.t1", "a1", "10.0.0.1", {}, [31000, 31001])
    assert task.discovery == {"visibility": "FRAMEWORK", "name": "dns.prod", "ports": {"ports": [
        {"number": 31000, "protocol": "udp", "name": "dns", "labels": {"labels": [{"key": "VIP_0", "value": "1.2.3.4:53"}]}},
        {"number": 31000, "protocol": "tcp", "name": "dns", "labels": {"labels": [{"key": "VIP_0", "value": "1.2.3.4:53"}]}},
        {"number": 31001, "protocol": "tcp"},
    ]}}


def test_host_ports_beyond_the_port_definitions_are_tcp() -> None:
    task = build_task(AppDefinition(id="/web", cmd="x", port_definitions=[]), "web.t1", "a1", "h", {}, [31000])
    assert task.discovery is not None and task.discovery["ports"] == {"ports": [{"number": 31000, "protocol": "tcp"}]}


def test_framework_hostname_is_the_ip_mesos_dns_can_serve() -> None:
    assert MarathonConfig(ip="10.0.0.5", hostname="master1.example").framework_hostname == "10.0.0.5"
    assert MarathonConfig(ip="0.0.0.0", hostname="10.0.0.5").framework_hostname == "10.0.0.5"
