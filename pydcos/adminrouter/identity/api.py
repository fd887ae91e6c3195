"""The identity service's HTTP API (`/acs/api/v1`, DC/OS's paths and shapes) and the router's
internal endpoints. Thin: decode, ask `Identity`, answer.

| request | answer |
| --- | --- |
| `POST /acs/api/v1/auth/login` `{uid, password}` / `{uid, token}` / `{token}` | 200 `{"token"}` (+ cookie); 401; 429 |
| `GET or POST /acs/api/v1/auth/logout` | 200, clears the cookie (tokens live until `exp`) |
| `GET /acs/api/v1/auth/providers` | the two providers (uid+password, uid+service key) |
| `GET /acs/api/v1/users`, `GET /acs/api/v1/users/UID` | `{"array": [user]}`, user; token needed |
| `PUT /acs/api/v1/users/UID` `{password or public_key, description}` | 201; token needed unless no user exists |
| `PATCH /acs/api/v1/users/UID` `{password?, description?}`, `DELETE /acs/api/v1/users/UID` | 204 |
| `GET /internal/auth` (nginx's auth_request) | 200 `X-Auth-Uid`, `X-Accel-Expires`; 401 `WWW-Authenticate: oauthjwt` |
| `GET /internal/health`, `/adminrouter/health` | the router's health (200 when ready, else 503) |
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler

from pydcos.adminrouter.errors import BadCredentials, TokenRejected, UserConflict
from pydcos.adminrouter.identity.records import (
    LOGIN_DECODER,
    PROVIDERS,
    USER_BODY_DECODER,
    USER_PATCH_DECODER,
    user_body_problem,
    user_json,
    valid_uid,
)
from pydcos.adminrouter.identity.service import BadRequest, Identity, LastUser, RateLimited
from pydcos.adminrouter.identity.tokens import Claims, token_from_request
from pydcos.core.log import get_logger

log = get_logger("pydcos.adminrouter.identity.api")

IDENTITY = web.AppKey("identity", Identity)
HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]
HEALTH: web.AppKey[HealthCheck] = web.AppKey("health")
COOKIE = "dcos-acs-auth-cookie"
MAX_BODY = 64 * 1024
_ENCODER = msgspec.json.Encoder()


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=_ENCODER.encode(body), content_type="application/json",
                        headers=headers)


def acs_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json(status, {"code": code, "title": message, "message": message}, headers)


def unauthorized(reason: str) -> web.Response:
    return acs_error(401, "ERR_INVALID_TOKEN", reason, {"WWW-Authenticate": "oauthjwt"})


def client_source(request: web.Request) -> str:
    """Who is asking: nginx's X-Real-IP when the request came through the router (a loopback or
    private peer), the peer address otherwise."""
    peer = request.remote or ""
    forwarded = request.headers.get("X-Real-IP", "")
    try:
        trusted = ipaddress.ip_address(peer).is_private
        if forwarded and trusted:
            return str(ipaddress.ip_address(forwarded.strip()))
    except ValueError:
        pass
    return peer


def _token(request: web.Request, cookie_header: str | None = None) -> str | None:
    cookie = cookie_header if cookie_header is not None else request.cookies.get(COOKIE)
    return token_from_request(request.headers.get("Authorization"), cookie)


def _caller(request: web.Request) -> Claims:
    """The authenticated caller, or raise (answered 401 by the middleware)."""
    return request.app[IDENTITY].check(_token(request))


async def _body(request: web.Request) -> bytes:
    return await request.read()


# --- auth ------------------------------------------------------------------------------------


async def login(request: web.Request) -> web.Response:
    identity = request.app[IDENTITY]
    try:
        body = LOGIN_DECODER.decode(await _body(request))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return acs_error(400, "ERR_INVALID_DATA", "expected JSON {uid, password}, {uid, token} or {token}")
    source = client_source(request)
    try:
        if body.uid is not None and body.password is not None:
            token = await identity.login_password(body.uid, body.password, source)
        elif body.uid is not None and body.token is not None:
            token = await identity.login_service(body.uid, body.token, source)
        elif body.token is not None and body.uid is None:
            token = identity.login_token(body.token, source)
        else:
            return acs_error(400, "ERR_INVALID_DATA", "expected JSON {uid, password}, {uid, token} or {token}")
    except BadCredentials:
        return acs_error(401, "ERR_INVALID_CREDENTIALS", "login failed: wrong uid, password or service login token")
    except RateLimited as exc:
        return acs_error(429, "ERR_TOO_MANY_ATTEMPTS", str(exc), {"Retry-After": str(int(exc.retry_after) + 1)})
    response = _json(200, {"token": token})
    response.set_cookie(COOKIE, token, path="/", httponly=True, samesite="Strict")
    return response


async def logout(request: web.Request) -> web.Response:
    response = _json(200, {})
    response.del_cookie(COOKIE, path="/")
    return response


async def providers(request: web.Request) -> web.Response:
    return _json(200, PROVIDERS)


# --- users -----------------------------------------------------------------------------------


async def list_users(request: web.Request) -> web.Response:
    _caller(request)
    users = request.app[IDENTITY].store.users
    return _json(200, {"array": [user_json(users[uid]) for uid in sorted(users)]})


async def get_user(request: web.Request) -> web.Response:
    _caller(request)
    record = request.app[IDENTITY].store.get(request.match_info["uid"])
    if record is None:
        return acs_error(404, "ERR_UNKNOWN_USER_ID", "no such user")
    return _json(200, user_json(record))


async def put_user(request: web.Request) -> web.Response:
    identity = request.app[IDENTITY]
    uid = request.match_info["uid"]
    try:
        caller: Claims | None = _caller(request)
    except TokenRejected:
        if not identity.caller_may_create(None):
            raise
        caller = None  # the very first user
    if not valid_uid(uid):
        return acs_error(400, "ERR_INVALID_USER_ID", "a uid is 1 to 96 of A-Z a-z 0-9 @ . _ + - (first: a letter or digit)")
    try:
        body = USER_BODY_DECODER.decode(await _body(request))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return acs_error(400, "ERR_INVALID_DATA", "expected JSON {password or public_key, description}")
    if problem := user_body_problem(body):
        return acs_error(400, "ERR_INVALID_DATA", problem)
    try:
        await identity.create_user(uid, body, caller)
    except UserConflict:
        return acs_error(409, "ERR_USER_EXISTS", "a user with this uid exists")
    except BadRequest as exc:
        return acs_error(400, "ERR_INVALID_DATA", str(exc))
    return web.Response(status=201)


async def patch_user(request: web.Request) -> web.Response:
    caller = _caller(request)
    try:
        patch = USER_PATCH_DECODER.decode(await _body(request))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return acs_error(400, "ERR_INVALID_DATA", "expected JSON {password?, description?}")
    try:
        updated = await request.app[IDENTITY].update_user(request.match_info["uid"], patch, caller)
    except BadRequest as exc:
        return acs_error(400, "ERR_INVALID_DATA", str(exc))
    if updated is None:
        return acs_error(404, "ERR_UNKNOWN_USER_ID", "no such user")
    return web.Response(status=204)


async def delete_user(request: web.Request) -> web.Response:
    caller = _caller(request)
    try:
        removed = await request.app[IDENTITY].delete_user(request.match_info["uid"], caller)
    except LastUser:
        return acs_error(409, "ERR_LAST_USER", "the last user cannot be deleted")
    if not removed:
        return acs_error(404, "ERR_UNKNOWN_USER_ID", "no such user")
    return web.Response(status=204)


# --- the router's internal endpoints ---------------------------------------------------------


async def auth_check(request: web.Request) -> web.Response:
    """nginx's auth_request: 200 with the uid and how long the answer may be cached, or 401."""
    identity = request.app[IDENTITY]
    token = _token(request, cookie_header=request.headers.get("X-Auth-Cookie") or None)
    try:
        claims = identity.check(token)
    except TokenRejected as exc:
        return web.Response(status=401, headers={"WWW-Authenticate": "oauthjwt", "X-Auth-Message": exc.reason,
                                                 "X-Accel-Expires": "1"})
    return web.Response(status=200, headers={"X-Auth-Uid": claims.uid,
                                             "X-Accel-Expires": str(identity.cache_seconds(claims))})


async def health(request: web.Request) -> web.Response:
    ok, detail = request.app[HEALTH]()
    return _json(200 if ok else 503, detail)


async def unknown_agent(request: web.Request) -> web.Response:
    return _json(404, {"message": "no agent with this id is known to the router"})


async def not_found(request: web.Request) -> web.Response:
    return acs_error(404, "ERR_NOT_FOUND", "not found")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token problems become 401 with the challenge; anything unexpected is our bug: logged, 500."""
    try:
        return await handler(request)
    except TokenRejected as exc:
        return unauthorized(exc.reason)
    except (web.HTTPException, asyncio.CancelledError):
        raise
    except Exception:
        identity = request.app[IDENTITY]
        identity.counters["unhandled_errors"] = identity.counters.get("unhandled_errors", 0) + 1
        log.exception("unhandled_error", method=request.method, path=request.path)
        return acs_error(500, "ERR_INTERNAL", "internal error; see the adminrouter log")


def make_app(identity: Identity, health_check: HealthCheck) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[errors])
    app[IDENTITY] = identity
    app[HEALTH] = health_check
    r = app.router
    r.add_post("/acs/api/v1/auth/login", login)
    r.add_route("GET", "/acs/api/v1/auth/logout", logout)
    r.add_post("/acs/api/v1/auth/logout", logout)
    r.add_get("/acs/api/v1/auth/providers", providers)
    r.add_get("/acs/api/v1/users", list_users)
    r.add_get("/acs/api/v1/users/{uid}", get_user)
    r.add_put("/acs/api/v1/users/{uid}", put_user)
    r.add_patch("/acs/api/v1/users/{uid}", patch_user)
    r.add_delete("/acs/api/v1/users/{uid}", delete_user)
    r.add_get("/internal/auth", auth_check)
    for path in ("/internal/health", "/adminrouter/health"):
        r.add_get(path, health)
    r.add_route("*", "/internal/unknown-agent/{tail:.*}", unknown_agent)
    r.add_route("*", "/acs/{tail:.*}", not_found)
    return app
