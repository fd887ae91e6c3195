"""nginx.conf rendering: golden files (regenerate with `pytest --update-golden` and review the diff),
plus the rules every rendering keeps."""

from __future__ import annotations

import re

import pytest
from render_cases import GOLDEN, VIEWS, config

from pydcos.adminrouter.render import STATIC_FILES, render

CLUSTER_ID = "5d3c9a4e-0000-4000-8000-000000000001"
# Locations that need no token: the token check itself, its error pages, the router's own public
# files, the login API (the identity service checks what needs a caller) and the health check.
PUBLIC = {"= /internal/auth", "@unauthorized", "@not_found", "= /", "= /metadata",
          "= /dcos-metadata/dcos-version.json", "= /login", "/", "= /adminrouter/health", "/acs/api/v1/"}


def locations(text: str) -> dict[str, str]:
    """Location head -> body, for the flat blocks render() writes."""
    found = re.findall(r"^ {8}location (.+?) \{\n(.*?)^ {8}\}", text, flags=re.M | re.S)
    return {head: body for head, body in found}


@pytest.mark.parametrize("case", sorted(VIEWS))
def test_render_nginx_conf(case: str, update_golden: bool) -> None:
    text = render(config(), VIEWS[case], cluster_id=CLUSTER_ID).text
    path = GOLDEN / f"{case}.nginx.conf"
    if update_golden:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run pytest --update-golden"
    assert text == path.read_text()


@pytest.mark.parametrize("case", sorted(VIEWS))
def test_every_other_location_checks_the_token_first(case: str) -> None:
    blocks = locations(render(config(), VIEWS[case], cluster_id=CLUSTER_ID).text)
    assert set(PUBLIC) <= set(blocks)
    for head, body in blocks.items():
        if head in PUBLIC:
            continue
        assert body.lstrip().startswith("auth_request /internal/auth;"), head
        # `return` and `if` run before the access phase: they would answer without a token.
        assert not re.search(r"^\s*(return|if)\b", body, flags=re.M), head


def test_the_view_changes_only_its_parts() -> None:
    empty = render(config(), VIEWS["empty"], cluster_id=CLUSTER_ID).text
    full = render(config(), VIEWS["cluster"], cluster_id=CLUSTER_ID).text
    assert "9b2f-S1 10.0.2.2:5051;" in full and "9b2f-S1" not in empty
    assert "location /service/jenkins/" in full and "upstream service_0 {  # /service/jenkins/" in full
    # A host name is resolved per request (no upstream block that would need DNS at reload).
    assert "set $service_2 ui.example.com:8443;" in full and "rewrite ^/service/tls\\.ui/(.*)$ /$1 break;" in full


def test_settings_reach_the_file() -> None:
    text = render(config(port=8000, auth_cache_s=2, max_body="1m", worker_processes=2, nginx_user=None,
                         mesos_leader_host="10.0.1.9"), VIEWS["empty"], cluster_id=CLUSTER_ID).text
    assert "listen 10.0.1.1:8000 " in text and "proxy_cache_valid 200 2s;" in text
    assert "client_max_body_size 1m;" in text and "worker_processes 2;" in text and "\nuser " not in text
    assert "set $mesos_leader 10.0.1.9;" in text
    assert "server 10.0.1.2:8080 backup max_fails=0;" in text


def test_static_files() -> None:
    rendered = render(config(public_ip="203.0.113.7"), VIEWS["empty"], cluster_id=CLUSTER_ID)
    assert set(rendered.static_files) == set(STATIC_FILES)
    assert rendered.static_files["metadata.json"] == (
        b'{"PUBLIC_IPV4":"203.0.113.7","CLUSTER_ID":"5d3c9a4e-0000-4000-8000-000000000001"}\n')
    assert b'"version":"1.8.8"' in rendered.static_files["dcos-version.json"]
