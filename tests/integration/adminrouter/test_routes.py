"""Admin Router's routes through real nginx: each prefix reaches its upstream with the path
stripped, query, body and headers unchanged; router-local endpoints; the token challenge."""

from __future__ import annotations

import base64

import pytest
from ar_env import AGENT_ID, RouterEnv

from pydcos.adminrouter.identity.tokens import MISSING


@pytest.mark.parametrize(
    ("path", "server", "upstream_path"),
    [
        ("/mesos/master/state.json?jsonp=x", "master", "/master/state.json?jsonp=x"),
        ("/mesos/files/read.json?path=%2Fmaster%2Flog&offset=-1", "master", "/files/read.json?path=%2Fmaster%2Flog&offset=-1"),
        ("/marathon/v2/info", "marathon", "/v2/info"),
        ("/service/marathon/v2/apps/web?embed=app.tasks&embed=app.counts", "marathon",
         "/v2/apps/web?embed=app.tasks&embed=app.counts"),
        ("/service/marathon/v2/apps//web", "marathon", "/v2/apps/web"),
        ("/mesos_dns/v1/hosts/leader.mesos.", "dns", "/v1/hosts/leader.mesos."),
        (f"/slave/{AGENT_ID}/files/read.json?path=%2Fvar%2Fsandbox%2Fstdout&offset=0&length=50",
         "agent", "/files/read.json?path=%2Fvar%2Fsandbox%2Fstdout&offset=0&length=50"),
        (f"/agent/{AGENT_ID}/state.json", "agent", "/state.json"),
        (f"/slave/{AGENT_ID}", "agent", "/"),
    ],
)
async def test_prefix_reaches_its_upstream(env: RouterEnv, path: str, server: str, upstream_path: str) -> None:
    token = await env.login()
    status, body, response = await env.get(path, token)
    assert status == 200, body
    assert (body["server"], body["path_qs"]) == (server, upstream_path)
    assert body["headers"]["Authorization"] == f"token={token}"
    for header in ("Location", "Marathon-Deployment-Id", "Mesos-Stream-Id", "X-Custom"):
        assert header in response.headers


@pytest.mark.parametrize("form", ["token=", "Bearer ", "cookie"])
async def test_every_token_form_is_accepted(env: RouterEnv, form: str) -> None:
    token = await env.login()
    headers = {"Cookie": f"other=1; dcos-acs-auth-cookie={token}"} if form == "cookie" else {"Authorization": form + token}
    status, body, _ = await env.get("/marathon/v2/info", headers=headers)
    assert status == 200 and body["server"] == "marathon"


@pytest.mark.parametrize("path", ["/mesos/master/state", "/marathon/v2/info", "/service/marathon/v2/apps",
                                  "/mesos_dns/v1/version", f"/slave/{AGENT_ID}/state", "/capabilities",
                                  "/pkgpanda/active.buildinfo.full.json", "/service/nothing/", "/acs/api/v1/users"])
async def test_no_token_is_challenged_with_oauthjwt(env: RouterEnv, path: str) -> None:
    status, body, response = await env.get(path)
    assert status == 401
    assert response.headers.getall("WWW-Authenticate") == ["oauthjwt"]
    assert response.content_type == "application/json"
    assert "message" in body
    assert not env.marathon.received and not env.master.received


async def test_missing_token_message(env: RouterEnv) -> None:
    _, body, _ = await env.get("/marathon/v2/info", headers={"Authorization": "Basic Tm9uZTpOb25l"})
    assert body == {"message": MISSING}


async def test_router_local_endpoints(env: RouterEnv) -> None:
    status, metadata, _ = await env.get("/metadata")
    assert status == 200
    assert metadata["PUBLIC_IPV4"] == f"{env.block}.1.1" and metadata["CLUSTER_ID"]
    status, version, _ = await env.get("/dcos-metadata/dcos-version.json")
    assert status == 200 and version["version"].startswith("1.8")
    token = await env.login()
    async with env.http.head(f"{env.url}/pkgpanda/active.buildinfo.full.json") as r:
        assert r.status == 401 and r.headers["WWW-Authenticate"] == "oauthjwt"
    async with env.http.head(f"{env.url}/pkgpanda/active.buildinfo.full.json",
                             headers={"Authorization": f"token={token}"}) as r:  # fmt: skip
        assert r.status == 200
    assert (await env.get("/capabilities", token))[0] == 404
    assert (await env.get("/service/metronome/v1/jobs", token))[0] == 404
    assert (await env.get("/nothing/here"))[0] == 404
    status, _, response = await env.get("/login?redirect_uri=urn:ietf:wg:oauth:2.0:oob")
    assert status == 200 and response.content_type == "text/html"


async def test_unknown_agent_is_404_after_the_token_check(env: RouterEnv) -> None:
    token = await env.login()
    assert (await env.get("/slave/no-such-agent-S9/state"))[0] == 401
    status, body, _ = await env.get("/slave/no-such-agent-S9/state", token)
    assert status == 404 and "agent" in body["message"]
    assert not env.agent.received


async def test_body_and_method_pass_unchanged(env: RouterEnv) -> None:
    token = await env.login()
    payload = b'{"id": "/web", "cmd": "sleep 1000", "labels": {"\\u00e9": "x"}}' + b" " * 100_000
    async with env.http.post(f"{env.url}/service/marathon/v2/apps?force=true", data=payload,
                             headers={"Authorization": f"token={token}", "Content-Type": "application/json"}) as r:
        body = await r.json()
        assert r.status == 200
        assert r.headers["Location"] == "/v2/apps/x" and r.headers["Marathon-Deployment-Id"] == "dep-1"
    assert body["method"] == "POST" and body["path_qs"] == "/v2/apps?force=true"
    assert base64.b64decode(body["body"]) == payload
    # The teardown form without a Content-Type arrives as it was sent.
    async with env.http.post(f"{env.url}/mesos/master/teardown", data=b"frameworkId=abc",
                             headers={"Authorization": f"token={token}"}, skip_auto_headers=["Content-Type"]) as r:
        body = await r.json()
    assert base64.b64decode(body["body"]) == b"frameworkId=abc" and "Content-Type" not in body["headers"]


async def test_health(env: RouterEnv) -> None:
    status, body, _ = await env.get("/adminrouter/health")
    assert status == 200 and body["status"] == "ok" and body["agents"] == 1
