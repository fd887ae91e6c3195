"""The cluster view the router renders: built from the masters' and Marathon's answers, with every
value that reaches nginx.conf checked first."""

from __future__ import annotations

import string

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from pydcos.adminrouter.view import (
    AGENT_ID_RE,
    AppList,
    ClusterView,
    ServiceRoute,
    StateSummary,
    agent_address,
    agents_from_summary,
    app_services,
    build_view,
    framework_services,
    webui_route,
)

SUMMARY = {
    "slaves": [
        {"id": "a-S1", "pid": "slave(1)@10.0.0.3:5051", "hostname": "10.0.0.3"},
        {"id": "a-S0", "pid": "slave(1)@10.0.0.2:5051"},
        {"id": "bad id", "pid": "slave(1)@10.0.0.4:5051"},
        {"id": "default", "pid": "slave(1)@10.0.0.5:5051"},
        {"id": "a-S9", "pid": "garbage"},
    ],
    "frameworks": [
        {"name": "marathon", "webui_url": "http://10.0.0.1:8080", "active": True},
        {"name": "spark", "webui_url": "http://10.0.0.7:4040/ui", "active": True},
        {"name": "gone", "webui_url": "http://10.0.0.8:1", "active": False},
        {"name": "noui", "webui_url": "", "active": True},
        {"name": "evil", "webui_url": "http://10.0.0.9:80/x;return 200", "active": True},
    ],
}


def apps(*items: dict[str, object]) -> AppList:
    return msgspec.convert({"apps": list(items)}, AppList)


def test_agents_come_from_their_pids_and_bad_ones_are_left_out() -> None:
    agents, problems = agents_from_summary(SUMMARY)
    assert [(a.id, a.address) for a in agents] == [("a-S0", "10.0.0.2:5051"), ("a-S1", "10.0.0.3:5051")]
    assert len(problems) == 3


def test_agent_address() -> None:
    assert agent_address("slave(1)@10.1.2.3:5051") == "10.1.2.3:5051"
    assert agent_address("slave(1)@host-1.example:5051") == "host-1.example:5051"
    for bad in ("", "10.1.2.3:5051", "slave(1)@10.1.2.3", "slave(1)@10.1.2.3:99999", "slave(1)@a b:1", "x@;:1"):
        assert agent_address(bad) is None, bad


def test_framework_webui_urls() -> None:
    routes, problems = framework_services(msgspec.convert(SUMMARY, StateSummary))
    assert [(r.name, r.servers, r.path) for r in routes] == [
        ("marathon", ("10.0.0.1:8080",), "/"),
        ("spark", ("10.0.0.7:4040",), "/ui/"),
    ]
    assert problems == ["framework 'evil' with webui_url 'http://10.0.0.9:80/x;return 200' left out"]


def test_webui_route_refuses_what_is_not_a_plain_url() -> None:
    assert webui_route("x", "https://ui.example/a/b") == ServiceRoute(
        "x", "https", ("ui.example:443",), "/a/b/", "framework")
    for bad in ("ftp://h/", "http://", "http://h:0/", "http://h/?q", "http://u:p@h/", "http://h/a/../b",
                "http://h/a b", "http://h//x", "http://h:80/{x}", "http://[::1]/", "javascript:alert(1)"):
        assert webui_route("x", bad) is None, bad


def test_app_labels_make_service_routes() -> None:
    routes, problems = app_services(apps(
        {"id": "/web", "labels": {"DCOS_SERVICE_NAME": "web", "DCOS_SERVICE_PORT_INDEX": "1",
                                  "DCOS_SERVICE_SCHEME": "HTTPS"},
         "tasks": [{"host": "10.0.0.3", "ports": [1, 2]}, {"host": "10.0.0.2", "ports": [3, 4]},
                   {"host": "10.0.0.4", "ports": [5, 6], "state": "TASK_STAGING"}, {"host": "10.0.0.5", "ports": [7]}]},
        {"id": "/plain", "labels": {}, "tasks": [{"host": "10.0.0.3", "ports": [1]}]},
        {"id": "/waiting", "labels": {"DCOS_SERVICE_NAME": "waiting"}, "tasks": []},
        {"id": "/bad", "labels": {"DCOS_SERVICE_NAME": "a b"}, "tasks": [{"host": "10.0.0.3", "ports": [1]}]},
        {"id": "/bad2", "labels": {"DCOS_SERVICE_NAME": "ok", "DCOS_SERVICE_PORT_INDEX": "-1"}},
    ))  # fmt: skip
    assert routes == [ServiceRoute("web", "https", ("10.0.0.2:4", "10.0.0.3:2"), "/", "app")]
    assert len(problems) == 2


def test_apps_win_over_frameworks_and_marathon_is_reserved() -> None:
    summary = msgspec.convert({"slaves": [], "frameworks": [
        {"name": "web", "webui_url": "http://10.0.0.9:1"}, {"name": "marathon", "webui_url": "http://10.0.0.1:8080"}]},
        StateSummary)  # fmt: skip
    view, _ = build_view(summary, apps({"id": "/web", "labels": {"DCOS_SERVICE_NAME": "web"},
                                        "tasks": [{"host": "10.0.0.2", "ports": [80]}]}), ClusterView())
    assert [(s.name, s.source, s.servers) for s in view.services] == [("web", "app", ("10.0.0.2:80",))]


def test_a_silent_source_keeps_its_part_of_the_view() -> None:
    summary = msgspec.convert(SUMMARY, StateSummary)
    first, _ = build_view(summary, apps({"id": "/w", "labels": {"DCOS_SERVICE_NAME": "w"},
                                         "tasks": [{"host": "10.0.0.2", "ports": [80]}]}), ClusterView())
    assert build_view(None, None, first)[0] == first
    no_apps, _ = build_view(None, apps(), first)
    assert no_apps.agents == first.agents and [s.name for s in no_apps.services] == ["spark"]


def test_static_means_every_server_is_an_address() -> None:
    assert ServiceRoute("a", "http", ("10.0.0.1:1",), "/", "app").static
    assert not ServiceRoute("a", "http", ("host:1",), "/", "app").static


_CONFIG_CHARS = set(string.ascii_letters + string.digits + "._-:/")


@given(name=st.text(max_size=40), host=st.text(max_size=40), port=st.integers(-5, 70000), path=st.text(max_size=30))
def test_nothing_unchecked_reaches_a_route(name: str, host: str, port: int, path: str) -> None:
    """Whatever a framework declares, a route holds only characters that are inert in nginx.conf."""
    route = webui_route(name, f"http://{host}:{port}{path}")
    if route is not None:
        assert set(route.servers[0] + route.path) <= _CONFIG_CHARS
    summary = {"slaves": [{"id": name, "pid": f"slave(1)@{host}:{port}"}], "frameworks": []}
    try:
        agents, _ = agents_from_summary(summary)
    except msgspec.ValidationError:
        return
    for agent in agents:
        assert AGENT_ID_RE.match(agent.id) and set(agent.id + agent.address) <= _CONFIG_CHARS
