"""The first user, made by `pydcos cluster up` once Admin Router answers.

The identity service lets anyone create a user while it has none; `ensure_first_user` does that
at once with a generated password, keeps the credentials in a 0600 file beside the router's state
(so a later `up` on the same state logs in with them instead), and returns them for cluster.json.

    creds = await ensure_first_user("http://127.0.1.1", Path(".../first-user.json"))
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import msgspec

from pydcos.adminrouter.errors import BootstrapFailed
from pydcos.core.log import get_logger
from pydcos.core.waiting import WaitTimeout, wait_until

log = get_logger(__name__)

FIRST_UID = "admin"


class AdminCredentials(msgspec.Struct, frozen=True):
    uid: str
    password: str

    def __repr__(self) -> str:
        return f"AdminCredentials(uid={self.uid!r}, password=***)"


def _load_or_make(path: Path, uid: str) -> AdminCredentials:
    if path.exists():
        try:
            return msgspec.json.decode(path.read_bytes(), type=AdminCredentials)
        except msgspec.DecodeError:
            log.warning("first_user_file_unreadable", path=path)
    creds = AdminCredentials(uid=uid, password=secrets.token_urlsafe(18))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.encode(creds))
    os.replace(path.with_name(path.name + ".tmp"), path)
    return creds


async def _attempt(http: aiohttp.ClientSession, dcos_url: str, creds: AdminCredentials) -> str:
    """"created", "exists" (logged in), or "" to try again; BootstrapFailed when it cannot work."""
    body = {"password": creds.password, "description": "first user, made by pydcos cluster up"}
    try:
        async with http.put(f"{dcos_url}/acs/api/v1/users/{creds.uid}", json=body) as r:
            if r.status == 201:
                return "created"
            if r.status not in (401, 409):
                return ""
        async with http.post(f"{dcos_url}/acs/api/v1/auth/login",
                             json={"uid": creds.uid, "password": creds.password}) as r:  # fmt: skip
            if r.status == 200:
                return "exists"
            if r.status == 401:
                raise BootstrapFailed(
                    "the identity store already has users and the kept first-user credentials do not log in; "
                    "start the cluster with --fresh to begin with a new store"
                )
    except (aiohttp.ClientError, TimeoutError):
        pass
    return ""


async def ensure_first_user(
    dcos_url: str, credentials_file: Path, *, uid: str = FIRST_UID, timeout_s: float = 30.0
) -> AdminCredentials:
    creds = _load_or_make(credentials_file, uid)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        attempt: Callable[[], str | Awaitable[str]] = lambda: _attempt(http, dcos_url, creds)  # noqa: E731
        try:
            outcome = await wait_until(attempt, timeout=timeout_s, interval=0.2, what=f"the first user at {dcos_url}")
        except WaitTimeout as exc:
            raise BootstrapFailed(f"could not create the first user at {dcos_url}: {exc}") from None
    log.event("first_user_ready", uid=creds.uid, outcome=outcome, dcos_url=dcos_url)
    return creds
