"""The identity service's data: stored user records and the wire bodies of its API. Pure.

A user is a person with a password (kept only as an argon2 hash) or a service account with an
RSA public key (PEM). Store keys:

    /acs/signing-key        the cluster's RSA private key (PEM), made at first start
    /acs/users/<uid>        one UserRecord (JSON)
    /acs/cluster-id         the cluster's id (a UUID), made at first start
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

UserKind = Literal["user", "service"]

SIGNING_KEY = "/acs/signing-key"
CLUSTER_ID = "/acs/cluster-id"
USERS_PREFIX = "/acs/users/"
UID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._+-]{0,95}$")
MIN_PASSWORD = 5
MAX_PASSWORD = 1024
MAX_DESCRIPTION = 500
MAX_PUBLIC_KEY = 16_384


class UserRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    uid: str
    kind: UserKind
    description: str = ""
    password_hash: str | None = None
    public_key: str | None = None


class LoginBody(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """`{uid, password}`, `{uid, token}` (service account) or `{token}` (a login token)."""

    uid: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never print a password, even by accident
        return f"LoginBody(uid={self.uid!r}, password={'***' if self.password else None}, token=...)"


class UserBody(msgspec.Struct, frozen=True):
    """`PUT /users/UID`: a password makes a user, a public key a service account."""

    description: str = ""
    password: str | None = None
    public_key: str | None = None

    def __repr__(self) -> str:
        return f"UserBody(description={self.description!r}, password=***, public_key=...)"


class UserPatch(msgspec.Struct, frozen=True):
    description: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        return f"UserPatch(description={self.description!r}, password=***)"


LOGIN_DECODER = msgspec.json.Decoder(LoginBody)
USER_BODY_DECODER = msgspec.json.Decoder(UserBody)
USER_PATCH_DECODER = msgspec.json.Decoder(UserPatch)
RECORD_DECODER = msgspec.json.Decoder(UserRecord)


def user_key(uid: str) -> str:
    return USERS_PREFIX + uid


def valid_uid(uid: str) -> bool:
    return UID_RE.match(uid) is not None


def password_problem(password: str) -> str | None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters"
    return None


def user_body_problem(body: UserBody) -> str | None:
    """Why a new user cannot be made from `body`, or None."""
    if (body.password is None) == (body.public_key is None):
        return "give either a password (a user) or a public_key (a service account)"
    if len(body.description) > MAX_DESCRIPTION:
        return f"description is longer than {MAX_DESCRIPTION} characters"
    if body.password is not None:
        return password_problem(body.password)
    assert body.public_key is not None
    if len(body.public_key) > MAX_PUBLIC_KEY or "BEGIN PUBLIC KEY" not in body.public_key:
        return "public_key must be an RSA public key in PEM form"
    return None


def user_json(record: UserRecord) -> dict[str, object]:
    """A user as the API shows it (DC/OS's keys), never with its hash."""
    out: dict[str, object] = {
        "uid": record.uid,
        "description": record.description,
        "url": f"/acs/api/v1/users/{record.uid}",
        "is_remote": False,
        "is_service": record.kind == "service",
        "provider_type": "internal",
        "provider_id": "",
    }
    if record.public_key is not None:
        out["public_key"] = record.public_key
    return out


PROVIDERS: dict[str, dict[str, object]] = {
    "dcos-users": {
        "authentication-type": "dcos-uid-password",
        "client-method": "dcos-usercredential-post-receive-authtoken",
        "config": {"start_flow_url": "/acs/api/v1/auth/login"},
        "description": "Default DC/OS login provider",
    },
    "dcos-services": {
        "authentication-type": "dcos-uid-servicekey",
        "client-method": "dcos-servicecredential-post-receive-authtoken",
        "config": {"start_flow_url": "/acs/api/v1/auth/login"},
        "description": "Default DC/OS login provider",
    },
}
