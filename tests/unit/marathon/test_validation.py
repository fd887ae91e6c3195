"""App validation: the failing JSON path for every kind of bad input, nothing for good input."""

from __future__ import annotations

import msgspec
import pytest

from pydcos.marathon.app_specs import apply_spec
from pydcos.marathon.model import APP_SPEC_DECODER, AppDefinition
from pydcos.marathon.validation import problem_from_decode_error, validate_app


def app_from(body: bytes) -> AppDefinition:
    spec = APP_SPEC_DECODER.decode(body)
    return apply_spec(spec, "/web", None)


def paths(app: AppDefinition) -> list[str]:
    return [p.path for p in validate_app(app)]


def test_minimal_app_is_valid_and_gets_one_port() -> None:
    app = app_from(b'{"id": "/web", "cmd": "sleep 1"}')
    assert validate_app(app) == []
    assert [p.port for p in app.port_definitions] == [0]
    assert app.cpus == 1.0 and app.mem == 128.0 and app.instances == 1


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"cmd": "x", "cpus": 0}', "/cpus"),
        (b'{"cmd": "x", "cpus": -1}', "/cpus"),
        (b'{"cmd": "x", "mem": -1}', "/mem"),
        (b'{"cmd": "x", "disk": -0.5}', "/disk"),
        (b'{"cmd": "x", "instances": -1}', "/instances"),
        (b'{"cmd": "x", "args": ["a"]}', "/"),
        (b'{}', "/"),
        (b'{"cmd": "x", "constraints": [["hostname", "BOGUS"]]}', "/constraints(0)"),
        (b'{"cmd": "x", "constraints": [["hostname"]]}', "/constraints(0)"),
        (b'{"cmd": "x", "constraints": [["rack", "LIKE", "("]]}', "/constraints(0)"),
        (b'{"cmd": "x", "constraints": [["rack", "MAX_PER", "x"]]}', "/constraints(0)"),
        (b'{"cmd": "x", "healthChecks": [{"protocol": "HTTP", "portIndex": 3}]}', "/healthChecks(0)/portIndex"),
        (b'{"cmd": "x", "healthChecks": [{"protocol": "COMMAND"}]}', "/healthChecks(0)/command"),
        (b'{"cmd": "x", "healthChecks": [{"intervalSeconds": 0}]}', "/healthChecks(0)/intervalSeconds"),
        (b'{"cmd": "x", "upgradeStrategy": {"minimumHealthCapacity": 2}}', "/upgradeStrategy/minimumHealthCapacity"),
        (b'{"cmd": "x", "backoffFactor": 0.5}', "/backoffFactor"),
        (b'{"cmd": "x", "portDefinitions": [{"port": 70000}]}', "/portDefinitions(0)/port"),
        (b'{"cmd": "x", "portDefinitions": [{"port": 80}, {"port": 80}]}', "/portDefinitions(1)/port"),
        (b'{"cmd": "x", "acceptedResourceRoles": []}', "/acceptedResourceRoles"),
        (b'{"cmd": "x", "dependencies": ["/Bad_Id"]}', "/dependencies(0)"),
        (b'{"cmd": "x", "requirePorts": true}', "/requirePorts"),
        (b'{"container": {"type": "DOCKER", "docker": {}}}', "/container/docker/image"),
    ],
)
def test_bad_field_is_named(body: bytes, path: str) -> None:
    assert path in paths(app_from(body))


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"instances": "3"}', "/instances"),
        (b'{"cpus": true}', "/cpus"),
        (b'{"healthChecks": [{"gracePeriodSeconds": "x"}]}', "/healthChecks(0)/gracePeriodSeconds"),
        (b'{"env": {"A": 1}}', "/env"),
        (b'{"killSelection": "RANDOM"}', "/killSelection"),
        (b'[]', "/"),
    ],
)
def test_wrong_type_names_the_path(body: bytes, path: str) -> None:
    with pytest.raises(msgspec.ValidationError) as info:
        APP_SPEC_DECODER.decode(body)
    assert problem_from_decode_error(info.value).path == path


def test_uris_become_fetch_with_extract_for_archives() -> None:
    app = app_from(b'{"cmd": "x", "uris": ["http://h/a.tgz", "http://h/b.bin"]}')
    assert [(f.uri, f.extract) for f in app.fetch] == [("http://h/a.tgz", True), ("http://h/b.bin", False)]
    assert app.uris() == ["http://h/a.tgz", "http://h/b.bin"]


def test_put_changes_only_named_fields_and_null_resets() -> None:
    base = app_from(b'{"cmd": "x", "cpus": 2, "labels": {"a": "b"}, "instances": 4}')
    spec = APP_SPEC_DECODER.decode(b'{"instances": 1, "labels": null}')
    changed = apply_spec(spec, "/web", base)
    assert changed.cpus == 2 and changed.instances == 1 and changed.labels == {} and changed.cmd == "x"


def test_switching_to_args_drops_cmd() -> None:
    base = app_from(b'{"cmd": "x"}')
    changed = apply_spec(APP_SPEC_DECODER.decode(b'{"args": ["sleep", "1"]}'), "/web", base)
    assert changed.cmd is None and changed.args == ["sleep", "1"]
    assert validate_app(changed) == []
