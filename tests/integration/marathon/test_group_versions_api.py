"""Group versions over HTTP: listing, reading one, rolling back (by body and by route), errors, and
the history surviving a restart; Docker port mappings' service ports on the wire; the 422 a dcos
CLI `key=value` object gets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from marathon_helpers import Client, marathon_config
from whitelists import check_app, check_group

from pydcos.core.waiting import wait_until
from pydcos.marathon.service import Marathon
from pydcos.mesos.master.service import Master
from pydcos.testing.simulated_agent import SimulatedAgent

Json = dict[str, Any]


def sleeper(app_id: str, cmd: str = "sleep 100", instances: int = 1) -> Json:
    return {"id": app_id, "cmd": cmd, "cpus": 0.1, "mem": 8, "instances": instances}


async def deployed(client: Client, method: str, path: str, body: Any = None) -> Json:
    status, result = await client.call(method, path, body)
    assert status in (200, 201), (status, result)
    await client.wait_no_deployments()
    return result  # type: ignore[no-any-return]


async def test_versions_listed_read_and_rolled_back(client: Client) -> None:
    first = await deployed(client, "POST", "/v2/groups", {"id": "/prod", "apps": [sleeper("a"), sleeper("b")]})
    await deployed(client, "PUT", "/v2/groups/prod", {"apps": [sleeper("a", "sleep 200", instances=2)]})
    await deployed(client, "POST", "/v2/groups", {"id": "/dev", "apps": [sleeper("c")]})
    assert "/prod/b" not in {a["id"] for a in (await client.get("/v2/apps"))["apps"]}

    everything = await client.get("/v2/groups/versions")
    prod = await client.get("/v2/groups/prod/versions")
    assert everything == sorted(everything, reverse=True) and len(everything) == 3
    assert prod == everything and (await client.get("/v2/groups/dev/versions")) == everything[:1]
    assert first["version"] == everything[-1]

    old = await client.get(f"/v2/groups/prod/versions/{first['version']}")
    check_group(old)
    assert {a["id"]: a["cmd"] for a in old["apps"]} == {"/prod/a": "sleep 100", "/prod/b": "sleep 100"}
    root_then = await client.get(f"/v2/groups/versions/{first['version']}")
    assert [g["id"] for g in root_then["groups"]] == ["/prod"]

    rolled = await deployed(client, "PUT", "/v2/groups/prod", {"version": first["version"]})
    assert set(rolled) == {"deploymentId", "version"}
    apps = {a["id"]: a for a in (await client.get("/v2/apps"))["apps"]}
    assert apps["/prod/a"]["cmd"] == "sleep 100" and apps["/prod/a"]["instances"] == 1
    assert "/prod/b" in apps and "/dev/c" in apps
    await client.wait_running("/prod/b", 1)
    assert (await client.get("/v2/groups/prod/versions"))[0] == rolled["version"]

    # the other route, with an empty body: back to the version with two instances of /prod/a
    second = (await client.get("/v2/groups/prod/versions"))[2]
    status, body = await client.call("PUT", f"/v2/groups/prod/versions/{second}")
    assert status == 200, body
    await client.wait_running("/prod/a", 2)
    assert "/prod/b" not in {a["id"] for a in (await client.get("/v2/apps"))["apps"]}


async def test_unknown_versions_and_locked_groups(client: Client) -> None:
    first = await deployed(client, "POST", "/v2/groups", {"id": "/g", "apps": [sleeper("a", instances=0)]})
    for method, path, body in (("GET", "/v2/groups/g/versions/2001-01-01T00:00:00.000Z", None),
                               ("PUT", "/v2/groups/g", {"version": "2001-01-01T00:00:00.000Z"}),
                               ("PUT", "/v2/groups/g/versions/2001-01-01T00:00:00.000Z", None),
                               ("GET", "/v2/groups/nope/versions", None),
                               ("GET", f"/v2/groups/nope/versions/{first['version']}", None)):
        status, answer = await client.call(method, path, body)
        assert status == 404 and set(answer) == {"message"}, (method, path, status, answer)
    status, _ = await client.call("PUT", "/v2/groups/g", {"apps": [sleeper("a", "sleep 5", instances=64)]})
    assert status == 200  # 64 instances never all fit: the deployment stays
    status, answer = await client.call("PUT", "/v2/groups/g", {"version": first["version"]})
    assert status == 409 and answer["deployments"], answer
    status, answer = await client.call("PUT", "/v2/groups/g?force=true", {"version": first["version"]})
    assert status == 200, answer
    await client.wait_no_deployments()
    assert (await client.app("/g/a"))["instances"] == 0


async def test_group_versions_survive_a_restart(master: Master, agents: list[SimulatedAgent], tmp_path: Path) -> None:
    config = replace(marathon_config(master), work_dir=str(tmp_path / "m"))
    async with aiohttp.ClientSession() as session:
        async with Marathon(config) as first:
            await wait_until(lambda: first.core.connected, what="subscribed")
            c = Client(first.url, session)
            v1 = await deployed(c, "POST", "/v2/groups", {"id": "/keep", "apps": [sleeper("a"), sleeper("b")]})
            await deployed(c, "DELETE", "/v2/apps/keep/b")
            versions = await c.get("/v2/groups/keep/versions")
        async with Marathon(config) as second:
            await wait_until(lambda: second.core.connected, what="subscribed again")
            c = Client(second.url, session)
            assert await c.get("/v2/groups/keep/versions") == versions
            old = await c.get(f"/v2/groups/keep/versions/{v1['version']}")
            assert sorted(a["id"] for a in old["apps"]) == ["/keep/a", "/keep/b"]
            await deployed(c, "PUT", "/v2/groups/keep", {"version": v1["version"]})
            await c.wait_running("/keep/b", 1)
            assert second.unhandled_errors == 0


async def test_docker_port_mappings_get_service_ports(client: Client) -> None:
    app = {"id": "/bridged", "cmd": "nginx", "cpus": 0.1, "mem": 8, "container": {"type": "DOCKER", "docker": {
        "image": "nginx", "network": "BRIDGE",
        "portMappings": [{"containerPort": 80, "hostPort": 0, "name": "http", "labels": {"VIP_0": "1.2.3.4:80"}},
                         {"containerPort": 53, "protocol": "udp", "servicePort": 10553}]}}}
    status, created = await client.call("POST", "/v2/apps", app)
    assert status == 201, created
    check_app(created)
    mappings = created["container"]["docker"]["portMappings"]
    assert [m["servicePort"] for m in mappings] == [10000, 10553]
    assert mappings[0]["labels"] == {"VIP_0": "1.2.3.4:80"} and mappings[0]["name"] == "http"
    assert created["ports"] == [10000, 10553]
    [task] = (await client.wait_running("/bridged", 1))["tasks"]
    assert task["servicePorts"] == [10000, 10553] and len(task["ports"]) == 2
    status, refused = await client.call("POST", "/v2/apps", {**app, "id": "/dup", "container": {
        "type": "DOCKER", "docker": {"image": "x", "network": "BRIDGE", "portMappings": [
            {"containerPort": 1, "servicePort": 10600}, {"containerPort": 2, "servicePort": 10600}]}}})
    assert status == 422 and refused["details"][0]["path"] == "/container/docker/portMappings(1)/servicePort"


async def test_an_object_sent_as_a_string_gets_a_clear_422(client: Client) -> None:
    await deployed(client, "POST", "/v2/apps", sleeper("/envy", instances=0))
    # what the dcos CLI 0.4.16 sends for `dcos marathon app update /envy 'env={"A":"B"}'`
    status, body = await client.call("PUT", "/v2/apps/envy", {"env": 'https://{"A":"B"}'})
    assert status == 422
    assert body["details"] == [{"path": "/env", "errors": ["Expected object | null, got str"]}]
    assert body["message"].startswith("Invalid JSON at /env: Expected object | null, got str")
    assert "on stdin" in body["message"]
    assert (await client.app("/envy"))["env"] == {}
    await deployed(client, "PUT", "/v2/apps/envy", {"env": {"A": "B"}})
    assert (await client.app("/envy"))["env"] == {"A": "B"}
