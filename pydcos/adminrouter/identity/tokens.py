"""Tokens: RS256 JWTs with `uid` and `exp`, signed with the cluster's key. Pure: the time comes in.

Only RS256 is accepted, with the cluster's public key (or, at a service account's login, with that
account's key): `alg: none`, HS256 signed with the public key as a secret, another key, a missing
claim, a bad `exp` and garbage are all refused the same way.

>>> from pydcos.adminrouter.identity.keys import new_private_key_pem
>>> signer = TokenSigner(new_private_key_pem())
>>> token = signer.issue("alice", now=1000.0, lifetime=60.0)
>>> signer.verify(token, now=1010.0)
Claims(uid='alice', exp=1060)
"""

from __future__ import annotations

from typing import NamedTuple

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.types import Options

from pydcos.adminrouter.errors import BadCredentials, TokenRejected

ALGORITHM = "RS256"
MAX_TOKEN_LENGTH = 8192
# The fixed reasons a token check gives (nginx copies them into a JSON body: ASCII, no quotes).
MISSING = "missing authentication token; log in with dcos auth login"
INVALID = "invalid authentication token; log in with dcos auth login"
EXPIRED = "authentication token expired; log in with dcos auth login"
UNKNOWN_USER = "the user of this authentication token does not exist"
_DECODE_OPTIONS: Options = {
    # exp is checked below against the injected time; nbf, iat, aud, iss are not used.
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "require": ["uid", "exp"],
}


class Claims(NamedTuple):
    uid: str
    exp: int


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the signing key is not an RSA key")
    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """An RSA public key in PEM form; ValueError for anything else."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise ValueError("not an RSA public key of at least 2048 bits")
    return key


def _decode(token: str, key: rsa.RSAPublicKey, *, now: float) -> Claims:
    """The claims of a token signed by `key`; TokenRejected(INVALID or EXPIRED) otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenRejected(INVALID)
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options=_DECODE_OPTIONS)
    except jwt.PyJWTError as exc:
        raise TokenRejected(INVALID) from exc
    uid, exp = claims.get("uid"), claims.get("exp")
    if not isinstance(uid, str) or not uid or isinstance(exp, bool) or not isinstance(exp, int | float):
        raise TokenRejected(INVALID)
    if exp != exp or exp <= now:  # NaN, or past
        raise TokenRejected(EXPIRED)
    return Claims(uid, int(exp))


class TokenSigner:
    """Issues and checks the cluster's tokens. Holds the parsed keys; no state changes after init."""

    def __init__(self, private_key_pem: bytes) -> None:
        self._private = load_private_key(private_key_pem)
        self._public = self._private.public_key()

    @property
    def public_key_pem(self) -> bytes:
        return self._public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def issue(self, uid: str, *, now: float, lifetime: float) -> str:
        return jwt.encode({"uid": uid, "exp": int(now + lifetime)}, self._private, algorithm=ALGORITHM)

    def verify(self, token: str, *, now: float) -> Claims:
        return _decode(token, self._public, now=now)


def verify_service_login(token: str, public_key: rsa.RSAPublicKey, *, uid: str, now: float) -> None:
    """A service account's login token: RS256 by the account's own key, for this uid, not expired."""
    try:
        claims = _decode(token, public_key, now=now)
    except TokenRejected as exc:
        raise BadCredentials("service login token refused") from exc
    if claims.uid != uid:
        raise BadCredentials("service login token is for another uid")


def token_from_request(authorization: str | None, cookie_token: str | None) -> str | None:
    """The token a request carries: `Authorization: token=T` (the dcos CLI), `Authorization:
    Bearer T`, or the `dcos-acs-auth-cookie` cookie. Other schemes (Basic) carry none.

    >>> token_from_request("token=abc", None), token_from_request("Bearer abc", None)
    ('abc', 'abc')
    >>> token_from_request("Basic Tm9uZTpOb25l", "xyz"), token_from_request(None, None)
    ('xyz', None)
    """
    if authorization:
        value = authorization.strip()
        if value[:6].lower() == "token=":
            return value[6:].strip() or None
        scheme, _, rest = value.partition(" ")
        if scheme.lower() == "bearer" and rest.strip():
            return rest.strip()
    return cookie_token.strip() if cookie_token and cookie_token.strip() else None
