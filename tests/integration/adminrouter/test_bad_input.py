"""Bad input at the edge: tokens that must be refused, path tricks, oversized headers and bodies,
login floods; and the identity service never writes a password down."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from ar_env import ADMIN, ADMIN_PASSWORD, RouterEnv, raw_http
from cryptography.hazmat.primitives import serialization

from pydcos.adminrouter.identity.keys import new_private_key_pem


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_tokens(env: RouterEnv, good: str) -> dict[str, str]:
    """One token per way of getting it wrong."""
    assert env.router.identity is not None
    cluster_public = env.router.identity.signer.public_key_pem
    stranger = serialization.load_pem_private_key(new_private_key_pem(), password=None)
    later = int(time.time()) + 3600
    header, payload, signature = good.split(".")
    hs256_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{hs256_header}.{payload}".encode()
    import hashlib
    import hmac

    hs256_sig = _b64(hmac.new(cluster_public, signing_input, hashlib.sha256).digest())
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"uid": ADMIN, "exp": later}).encode())
    return {
        "other key": jwt.encode({"uid": ADMIN, "exp": later}, stranger, algorithm="RS256"),  # type: ignore[arg-type]
        "expired": jwt.encode({"uid": ADMIN, "exp": int(time.time()) - 10},
                              serialization.load_pem_private_key(env.router.identity.store.signing_key_pem, None),  # type: ignore[arg-type]
                              algorithm="RS256"),
        "alg none": f"{none_header}.{claims}.",
        "HS256 with the public key": f"{hs256_header}.{payload}.{hs256_sig}",
        "truncated": good[: len(good) - 10],
        "payload swapped": f"{header}.{_b64(json.dumps({'uid': 'root', 'exp': later}).encode())}.{signature}",
        "garbage": "not-a-token",
        "empty claims": f"{header}.{_b64(b'{}')}.{signature}",
        "huge": "a" * 9000,
    }


async def test_bad_tokens_are_refused_everywhere(env: RouterEnv) -> None:
    good = await env.login()
    for name, token in forged_tokens(env, good).items():
        status, body, response = await env.get("/marathon/v2/info", token)
        if name == "huge":  # a header line past nginx's 8k buffers: refused before any check
            assert status == 400
            continue
        assert status == 401, name
        assert response.headers.getall("WWW-Authenticate") == ["oauthjwt"], name
        async with env.http.post(f"{env.url}/acs/api/v1/auth/login", json={"token": token}) as r:
            assert r.status in (401, 429), name  # 429 once the failures pass the burst
    assert not env.marathon.received
    assert (await env.get("/marathon/v2/info", good))[0] == 200


async def test_expired_token_stops_working(env: RouterEnv) -> None:
    """A cached positive check never outlives the token: nginx keeps it at most until `exp`."""
    from pydcos.core.waiting import wait_until

    assert env.router.identity is not None
    token = env.router.identity.signer.issue(ADMIN, now=time.time(), lifetime=2.0)
    assert (await env.get("/marathon/v2/info", token))[0] == 200

    async def refused() -> bool:
        return (await env.get("/marathon/v2/info", token))[0] == 401

    await wait_until(refused, timeout=6, interval=0.1, what="the expired token to be refused")


async def test_deleted_user_tokens_stop_working(env: RouterEnv) -> None:
    from pydcos.core.waiting import wait_until

    admin = await env.login()
    headers = {"Authorization": f"token={admin}"}
    async with env.http.put(f"{env.url}/acs/api/v1/users/bob", json={"password": "bobs-password"}, headers=headers) as r:
        assert r.status == 201
    bob = await env.login("bob", "bobs-password")
    assert (await env.get("/marathon/v2/info", bob))[0] == 200
    async with env.http.delete(f"{env.url}/acs/api/v1/users/bob", headers=headers) as r:
        assert r.status == 204

    async def refused() -> bool:
        return (await env.get("/marathon/v2/info", bob))[0] == 401

    await wait_until(refused, timeout=env.router.config.auth_cache_s + 3, interval=0.2, what="bob refused")


@pytest.mark.parametrize("target", [
    "/mesos/../acs/api/v1/users",
    "/mesos/%2e%2e/acs/api/v1/users",
    "/mesos/..%2Facs/api/v1/users",
    "/marathon/v2/../../acs/api/v1/users",
    "//acs//api/v1/users",
    "/service/marathon/%2E%2E/%2E%2E/acs/api/v1/users",
])
async def test_path_tricks_land_where_the_normalised_path_says(env: RouterEnv, target: str) -> None:
    """Each of these is `/acs/api/v1/users` once normalised: it reaches the identity service
    (which wants a token), never the master or Marathon."""
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, data = await raw_http(env.router.config.ip, env.router.config.port, request)
    assert status == 401, data
    assert b"ERR_INVALID_TOKEN" in data
    assert not env.master.received and not env.marathon.received


@pytest.mark.parametrize("target", ["/mesos/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/slave/..%2F..%2Fetc"])
async def test_escaping_the_root_is_refused(env: RouterEnv, target: str) -> None:
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, data = await raw_http(env.router.config.ip, env.router.config.port, request)
    assert status in (400, 401, 404), data
    assert b"root:" not in data


async def test_encoded_slash_in_agent_id_does_not_escape(env: RouterEnv) -> None:
    token = await env.login()
    request = (f"GET /slave/x%2F..%2F..%2Fmarathon/v2/info HTTP/1.1\r\nHost: x\r\nAuthorization: token={token}\r\n"
               "Connection: close\r\n\r\n").encode()
    status, data = await raw_http(env.router.config.ip, env.router.config.port, request)
    # Normalised to /marathon/v2/info: Marathon, with the token checked.
    assert status == 200 and b'"server": "marathon"' in data
    assert not env.agent.received


async def test_huge_headers_and_bodies_get_4xx(env: RouterEnv) -> None:
    token = await env.login()
    ip, port = env.router.config.ip, env.router.config.port
    huge_header = f"GET /marathon/v2/info HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 20000}\r\nConnection: close\r\n\r\n"
    assert 400 <= (await raw_http(ip, port, huge_header.encode()))[0] < 500
    many = "".join(f"X-H{i}: {'b' * 4000}\r\n" for i in range(20))
    assert 400 <= (await raw_http(ip, port, f"GET / HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n".encode()))[0] < 500
    huge_uri = f"GET /marathon/{'c' * 20000} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert 400 <= (await raw_http(ip, port, huge_uri.encode()))[0] < 500
    big_body = (f"POST /marathon/v2/apps HTTP/1.1\r\nHost: x\r\nAuthorization: token={token}\r\n"
                f"Content-Length: {64 * 1024 * 1024}\r\nConnection: close\r\n\r\n").encode()
    assert (await raw_http(ip, port, big_body))[0] == 413
    async with env.http.post(f"{env.url}/acs/api/v1/auth/login", data=b"{" + b" " * 100_000 + b"}",
                             headers={"Content-Type": "application/json"}) as r:  # fmt: skip
        assert r.status == 413
    assert not env.marathon.received


async def test_bad_login_bodies(env: RouterEnv) -> None:
    for body in (b"", b"not json", b"[]", b'{"uid": 1, "password": "x"}', b'{"uid": "admin"}', b'{"password": "x"}'):
        async with env.http.post(f"{env.url}/acs/api/v1/auth/login", data=body) as r:
            assert r.status == 400, body
    async with env.http.post(f"{env.url}/acs/api/v1/auth/login", json={"uid": "../../x", "password": "p"}) as r:
        assert r.status == 401


async def test_login_attempts_are_limited_per_uid_and_source(env: RouterEnv) -> None:
    login = f"{env.url}/acs/api/v1/auth/login"
    burst = env.router.config.login_burst
    for _ in range(burst):
        async with env.http.post(login, json={"uid": ADMIN, "password": "wrong-password"}) as r:
            assert r.status == 401
    async with env.http.post(login, json={"uid": ADMIN, "password": ADMIN_PASSWORD}) as r:
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    # Another source (as nginx reports it) and another uid still get in.
    direct = f"{env.router.identity_url}/acs/api/v1/auth/login"
    async with env.http.post(direct, json={"uid": ADMIN, "password": ADMIN_PASSWORD},
                             headers={"X-Real-IP": "10.9.9.9"}) as r:  # fmt: skip
        assert r.status == 200


async def test_users_api(env: RouterEnv) -> None:
    token = await env.login()
    auth = {"Authorization": f"token={token}"}
    users = f"{env.url}/acs/api/v1/users"
    async with env.http.put(f"{users}/carol", json={"password": "carols-pw"}) as r:
        assert r.status == 401 and r.headers["WWW-Authenticate"] == "oauthjwt"
    async with env.http.put(f"{users}/carol", json={"password": "carols-pw", "description": "Carol"}, headers=auth) as r:
        assert r.status == 201
    async with env.http.put(f"{users}/carol", json={"password": "carols-pw"}, headers=auth) as r:
        assert r.status == 409
    async with env.http.put(f"{users}/bad%20uid", json={"password": "xxxxxxx"}, headers=auth) as r:
        assert r.status == 400
    async with env.http.put(f"{users}/dave", json={"password": "x"}, headers=auth) as r:
        assert r.status == 400
    async with env.http.get(users, headers=auth) as r:
        listed = await r.json()
    assert [u["uid"] for u in listed["array"]] == ["admin", "carol"]
    assert all("password" not in json.dumps(u) and "hash" not in json.dumps(u) for u in listed["array"])
    async with env.http.patch(f"{users}/carol", json={"password": "new-carol-pw"}, headers=auth) as r:
        assert r.status == 204
    await env.login("carol", "new-carol-pw")
    async with env.http.delete(f"{users}/carol", headers=auth) as r:
        assert r.status == 204
    async with env.http.delete(f"{users}/carol", headers=auth) as r:
        assert r.status == 404
    async with env.http.delete(f"{users}/admin", headers=auth) as r:
        assert r.status == 409  # the last user stays


async def test_service_account_login(env: RouterEnv) -> None:
    token = await env.login()
    private_pem = new_private_key_pem()
    key = serialization.load_pem_private_key(private_pem, password=None)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    async with env.http.put(f"{env.url}/acs/api/v1/users/svc-spark", json={"public_key": public_pem},
                            headers={"Authorization": f"token={token}"}) as r:  # fmt: skip
        assert r.status == 201
    login = f"{env.url}/acs/api/v1/auth/login"
    good = jwt.encode({"uid": "svc-spark", "exp": int(time.time()) + 300}, key, algorithm="RS256")  # type: ignore[arg-type]
    async with env.http.post(login, json={"uid": "svc-spark", "token": good}) as r:
        assert r.status == 200
        service_token = (await r.json())["token"]
    assert (await env.get("/marathon/v2/info", service_token))[0] == 200
    other_uid = jwt.encode({"uid": "admin", "exp": int(time.time()) + 300}, key, algorithm="RS256")  # type: ignore[arg-type]
    expired = jwt.encode({"uid": "svc-spark", "exp": int(time.time()) - 1}, key, algorithm="RS256")  # type: ignore[arg-type]
    for bad in (other_uid, expired, good[:-5]):
        async with env.http.post(login, json={"uid": "svc-spark", "token": bad}) as r:
            assert r.status == 401
    async with env.http.post(login, json={"uid": "svc-spark", "password": "anything"}) as r:
        assert r.status == 401


async def test_passwords_never_reach_logs_or_the_store(env: RouterEnv, tmp_path: Path) -> None:
    secret = "Zebra-Quartz-9431-unlogged"
    token = await env.login()
    async with env.http.put(f"{env.url}/acs/api/v1/users/erin", json={"password": secret},
                            headers={"Authorization": f"token={token}"}) as r:  # fmt: skip
        assert r.status == 201
    await env.login("erin", secret)
    async with env.http.post(f"{env.url}/acs/api/v1/auth/login", json={"uid": "erin", "password": secret + "x"}) as r:
        assert r.status == 401
    async with env.http.post(f"{env.url}/acs/api/v1/auth/login", data=b'{"uid": "erin", "password": ' + secret.encode()) as r:
        assert r.status == 400
    await env.router.nginx.stop()  # flushes nginx's buffered access log
    written = await asyncio.to_thread(lambda: b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()))
    assert written, "expected logs and the store under the work dir"
    assert secret.encode() not in written
