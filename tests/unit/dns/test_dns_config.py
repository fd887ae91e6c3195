"""Settings, the command line, and where upstream resolvers come from."""

from __future__ import annotations

import pytest

from pydcos.dns.__main__ import parse_args
from pydcos.dns.config import DnsConfig
from pydcos.dns.errors import DnsConfigError
from pydcos.dns.upstream import parse_upstream, resolv_conf_upstreams


def test_command_line() -> None:
    config, level = parse_args(["--ip", "127.0.1.1", "--port", "5353", "--http-port", "8124",
                                "--masters", "127.0.1.1:5050, 127.0.1.2:5050", "--no-forward", "--ttl", "5",
                                "--log-file", "/tmp/x.log", "--log-level", "DEBUG"])
    assert config.ip == "127.0.1.1" and config.port == 5353 and config.http_port == 8124
    assert config.masters == ("127.0.1.1:5050", "127.0.1.2:5050")
    assert not config.forward and config.upstreams is None and config.ttl == 5
    assert config.log_file == "/tmp/x.log" and level == "DEBUG"
    defaults, _ = parse_args([])
    assert defaults == DnsConfig()
    assert defaults.port == 53 and defaults.http_port == 8123 and defaults.ttl == 60 and defaults.forward
    upstreams, _ = parse_args(["--upstreams", "127.0.0.53,127.0.0.54:5353"])
    assert upstreams.upstreams == ("127.0.0.53", "127.0.0.54:5353")


@pytest.mark.parametrize("bad", [
    {"ttl": 0}, {"domain": ""}, {"domain": "a..b"}, {"ip_sources": ("host", "magic")}, {"masters": ("nope",)},
])
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(DnsConfigError):
        DnsConfig(**bad)  # type: ignore[arg-type]


def test_record_and_resolver_settings_follow_the_config() -> None:
    config = DnsConfig(ip="127.0.1.1", domain="Cluster.Local.", forward=False, negative_ttl=3)
    assert config.zone == "cluster.local."
    assert config.record_config().ns_addresses == ("127.0.1.1",)
    settings = config.resolver_settings()
    assert settings.soa_mname == "ns1.cluster.local." and not settings.recursion_available
    assert DnsConfig(ip="0.0.0.0").record_config().ns_addresses == ()
    shown = config.mesos_dns_json(["127.0.0.53:53"], 9)
    assert shown["Domain"] == "cluster.local" and shown["SOAMinttl"] == 3 and shown["Resolvers"] == ["127.0.0.53:53"]


def test_upstreams_from_resolv_conf_leave_out_this_server() -> None:
    text = "# comment\nnameserver 127.0.1.1\nsearch example\nnameserver 10.0.0.2 # dc\nnameserver ::1\n"
    assert resolv_conf_upstreams(text, {"127.0.1.1"}) == [("10.0.0.2", 53), ("::1", 53)]
    assert parse_upstream("1.2.3.4") == ("1.2.3.4", 53)
    assert parse_upstream("1.2.3.4:5353") == ("1.2.3.4", 5353)
    assert parse_upstream("[::1]:5353") == ("::1", 5353)
