"""Tokens, token extraction, login limits, password hashing and user bodies: the identity
service's pure parts (and argon2 behind its seam)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from pydcos.adminrouter.errors import BadCredentials, TokenRejected
from pydcos.adminrouter.identity import tokens
from pydcos.adminrouter.identity.keys import new_private_key_pem, public_key_pem
from pydcos.adminrouter.identity.passwords import PasswordHasher
from pydcos.adminrouter.identity.rate_limit import LoginLimiter
from pydcos.adminrouter.identity.records import LoginBody, UserBody, user_body_problem, valid_uid
from pydcos.adminrouter.identity.tokens import Claims, TokenSigner, token_from_request, verify_service_login

KEY = new_private_key_pem()
OTHER_KEY = new_private_key_pem()
SIGNER = TokenSigner(KEY)
NOW = 1_700_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private(pem: bytes):  # type: ignore[no-untyped-def]
    return serialization.load_pem_private_key(pem, password=None)


def test_issue_and_verify() -> None:
    token = SIGNER.issue("alice", now=NOW, lifetime=300)
    assert SIGNER.verify(token, now=NOW + 299) == Claims("alice", int(NOW + 300))
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    assert set(jwt.decode(token, options={"verify_signature": False})) == {"uid", "exp"}


def test_expired_token_is_refused() -> None:
    token = SIGNER.issue("alice", now=NOW, lifetime=300)
    with pytest.raises(TokenRejected) as info:
        SIGNER.verify(token, now=NOW + 300)
    assert info.value.reason == tokens.EXPIRED


def bad_tokens() -> dict[str, str]:
    good = SIGNER.issue("alice", now=NOW, lifetime=300)
    header, payload, signature = good.split(".")
    claims = b64(json.dumps({"uid": "alice", "exp": NOW + 300}).encode())
    hs_header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    hs_sig = b64(hmac.new(SIGNER.public_key_pem, f"{hs_header}.{claims}".encode(), hashlib.sha256).digest())
    return {
        "forged (other key)": jwt.encode({"uid": "alice", "exp": int(NOW + 300)}, private(OTHER_KEY), algorithm="RS256"),
        "alg none": b64(b'{"alg":"none","typ":"JWT"}') + f".{claims}.",
        "HS256 with the public key": f"{hs_header}.{claims}.{hs_sig}",
        "truncated": good[:-8],
        "signature of another payload": f"{header}.{claims}.{signature}",
        "no exp": jwt.encode({"uid": "alice"}, private(KEY), algorithm="RS256"),
        "no uid": jwt.encode({"exp": int(NOW + 300)}, private(KEY), algorithm="RS256"),
        "uid not a string": jwt.encode({"uid": 7, "exp": int(NOW + 300)}, private(KEY), algorithm="RS256"),
        "exp not a number": jwt.encode({"uid": "a", "exp": "later"}, private(KEY), algorithm="RS256"),
        "exp a boolean": jwt.encode({"uid": "a", "exp": True}, private(KEY), algorithm="RS256"),
        "RS512": jwt.encode({"uid": "alice", "exp": int(NOW + 300)}, private(KEY), algorithm="RS512"),
        "two parts": f"{header}.{payload}",
        "empty": "",
        "huge": "a" * 10_000,
        "not base64": "!!!.???.###",
    }


@pytest.mark.parametrize("name", sorted(bad_tokens()))
def test_bad_tokens_are_refused(name: str) -> None:
    with pytest.raises(TokenRejected):
        SIGNER.verify(bad_tokens()[name], now=NOW)


def test_service_login_token() -> None:
    public = tokens.load_public_key(public_key_pem(OTHER_KEY))
    good = jwt.encode({"uid": "svc", "exp": int(NOW + 300)}, private(OTHER_KEY), algorithm="RS256")
    verify_service_login(good, public, uid="svc", now=NOW)
    for bad, uid, now in ((good, "other", NOW), (good, "svc", NOW + 301),
                          (jwt.encode({"uid": "svc", "exp": int(NOW + 300)}, private(KEY), algorithm="RS256"), "svc", NOW)):
        with pytest.raises(BadCredentials):
            verify_service_login(bad, public, uid=uid, now=now)


def test_load_public_key_refuses_what_is_not_rsa_2048() -> None:
    for bad in ("", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"):
        with pytest.raises(ValueError):
            tokens.load_public_key(bad)


@pytest.mark.parametrize(("authorization", "cookie", "expected"), [
    ("token=abc", None, "abc"),
    ("TOKEN=abc ", None, "abc"),
    ("Bearer abc", None, "abc"),
    ("bearer   abc", None, "abc"),
    ("Basic Tm9uZTpOb25l", None, None),
    ("Basic Tm9uZTpOb25l", "c", "c"),
    (None, "c", "c"),
    ("token=", None, None),
    ("Bearer", None, None),
    ("", "", None),
    ("abc", None, None),
])
def test_token_from_request(authorization: str | None, cookie: str | None, expected: str | None) -> None:
    assert token_from_request(authorization, cookie) == expected


def test_limiter_refills_and_forgets_the_oldest() -> None:
    limiter = LoginLimiter(burst=3, refill_s=10.0, max_entries=2)
    key = ("alice", "10.0.0.1")
    for _ in range(3):
        assert limiter.retry_after(key, 0.0) == 0.0
        limiter.record_failure(key, 0.0)
    assert limiter.retry_after(key, 0.0) == pytest.approx(10.0)
    assert limiter.retry_after(key, 5.0) == pytest.approx(5.0)
    assert limiter.retry_after(key, 10.0) == 0.0
    assert limiter.retry_after(("alice", "10.0.0.2"), 0.0) == 0.0  # another source
    assert limiter.retry_after(("bob", "10.0.0.1"), 0.0) == 0.0  # another uid
    limiter.record_failure(("b", "x"), 1.0)
    limiter.record_failure(("c", "x"), 2.0)
    assert len(limiter) == 2 and limiter.retry_after(key, 0.0) == 0.0


def test_password_hashes_are_argon2_and_verify() -> None:
    hasher = PasswordHasher(fast_for_tests=True)
    digest = hasher.hash("hunter22")
    assert digest.startswith("$argon2id$") and "hunter22" not in digest
    assert hasher.verify(digest, "hunter22") and not hasher.verify(digest, "hunter23")
    assert not hasher.verify(None, "hunter22") and not hasher.verify("not a hash", "x")


def test_user_bodies_and_uids() -> None:
    assert valid_uid("alice") and valid_uid("bob@example.com") and valid_uid("svc_spark-1.x")
    for bad in ("", "-x", "a b", "a/b", "../x", "x" * 97, "é"):
        assert not valid_uid(bad), bad
    assert user_body_problem(UserBody(password="secret1")) is None
    assert user_body_problem(UserBody(public_key=public_key_pem(KEY))) is None
    assert user_body_problem(UserBody()) is not None
    assert user_body_problem(UserBody(password="x")) is not None
    assert user_body_problem(UserBody(password="secret1", public_key=public_key_pem(KEY))) is not None
    assert user_body_problem(UserBody(public_key="ssh-rsa AAAA")) is not None


def test_reprs_hide_secrets() -> None:
    assert "hunter22" not in repr(LoginBody(uid="a", password="hunter22"))
    assert "hunter22" not in repr(UserBody(password="hunter22"))
