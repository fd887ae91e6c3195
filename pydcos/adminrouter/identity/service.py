"""The identity service's logic: logins, token checks, users. The HTTP routes (`api.py`) only decode
and answer; this class decides. Hashing runs on worker threads (at most two at a time), the time
comes from an injected clock, and nothing here ever logs a password, a hash or a token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from pydcos.adminrouter.errors import BadCredentials, TokenRejected, UserConflict
from pydcos.adminrouter.identity import tokens
from pydcos.adminrouter.identity.passwords import PasswordHasher
from pydcos.adminrouter.identity.rate_limit import LoginLimiter
from pydcos.adminrouter.identity.records import (
    MAX_PASSWORD,
    UserBody,
    UserPatch,
    UserRecord,
    password_problem,
    valid_uid,
)
from pydcos.adminrouter.identity.store import IdentityStore
from pydcos.adminrouter.identity.tokens import Claims, TokenSigner
from pydcos.core.log import get_logger

log = get_logger("pydcos.adminrouter.identity")


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


class BadRequest(Exception):
    """A request the API answers 400 (the message is safe to show: it never holds a secret)."""


class LastUser(Exception):
    """Deleting the last user would reopen the unauthenticated first-user creation."""


@dataclass(frozen=True)
class IdentitySettings:
    token_lifetime_s: float
    login_burst: int = 10
    login_refill_s: float = 30.0
    auth_cache_s: int = 5


class Identity:
    def __init__(
        self,
        store: IdentityStore,
        settings: IdentitySettings,
        *,
        clock: Callable[[], float],
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.signer = TokenSigner(store.signing_key_pem)
        self.limiter = LoginLimiter(burst=settings.login_burst, refill_s=settings.login_refill_s)
        self._hashing = asyncio.Semaphore(2)
        self._first_user = asyncio.Lock()
        self._service_keys: dict[str, rsa.RSAPublicKey] = {}
        self.counters: dict[str, int] = {"logins": 0, "failed_logins": 0, "rate_limited": 0, "token_checks": 0}

    # --- tokens ---------------------------------------------------------------------------

    def check(self, token: str | None) -> Claims:
        """The claims of a valid token whose user still exists; TokenRejected otherwise."""
        self.counters["token_checks"] += 1
        if token is None:
            raise TokenRejected(tokens.MISSING)
        claims = self.signer.verify(token, now=self.clock())
        if self.store.get(claims.uid) is None:
            raise TokenRejected(tokens.UNKNOWN_USER)
        return claims

    def cache_seconds(self, claims: Claims) -> int:
        """How long nginx may keep this positive answer: never past the token's expiry."""
        return max(0, min(self.settings.auth_cache_s, int(claims.exp - self.clock())))

    def _issue(self, uid: str, method: str, source: str) -> str:
        self.counters["logins"] += 1
        log.event("login", uid=uid, method=method, source=source)
        return self.signer.issue(uid, now=self.clock(), lifetime=self.settings.token_lifetime_s)

    # --- logins ---------------------------------------------------------------------------

    def _admit(self, uid: str, source: str) -> tuple[str, str]:
        key = (uid, source)
        wait = self.limiter.retry_after(key, self.clock())
        if wait > 0:
            self.counters["rate_limited"] += 1
            log.event("login_rate_limited", uid=uid, source=source, retry_after=round(wait, 1))
            raise RateLimited(wait)
        return key

    def _fail(self, key: tuple[str, str], method: str, reason: str) -> BadCredentials:
        self.limiter.record_failure(key, self.clock())
        self.counters["failed_logins"] += 1
        log.event("login_failed", uid=key[0], source=key[1], method=method, reason=reason)
        return BadCredentials(reason)

    async def login_password(self, uid: str, password: str, source: str) -> str:
        shown_uid = uid if valid_uid(uid) else "(invalid)"
        key = self._admit(shown_uid, source)
        record = self.store.get(uid) if valid_uid(uid) else None
        digest = record.password_hash if record is not None else None
        if len(password) > MAX_PASSWORD:
            raise self._fail(key, "password", "password too long")
        async with self._hashing:
            ok = await asyncio.to_thread(self.hasher.verify, digest, password)
        if not ok:
            raise self._fail(key, "password", "unknown uid or wrong password")
        return self._issue(uid, "password", source)

    async def login_service(self, uid: str, login_token: str, source: str) -> str:
        shown_uid = uid if valid_uid(uid) else "(invalid)"
        key = self._admit(shown_uid, source)
        record = self.store.get(uid) if valid_uid(uid) else None
        if record is None or record.public_key is None:
            raise self._fail(key, "service", "unknown service account")
        public_key = self._service_key(record)
        try:
            tokens.verify_service_login(login_token, public_key, uid=uid, now=self.clock())
        except BadCredentials as exc:
            raise self._fail(key, "service", str(exc)) from None
        return self._issue(uid, "service", source)

    def login_token(self, login_token: str, source: str) -> str:
        """A login token is any valid token of this cluster: it buys a fresh one for its user."""
        key = self._admit("(login token)", source)
        try:
            claims = self.check(login_token)
        except TokenRejected as exc:
            raise self._fail(key, "login-token", exc.reason) from None
        return self._issue(claims.uid, "login-token", source)

    def _service_key(self, record: UserRecord) -> rsa.RSAPublicKey:
        key = self._service_keys.get(record.uid)
        if key is None:
            assert record.public_key is not None
            key = self._service_keys[record.uid] = tokens.load_public_key(record.public_key)
        return key

    # --- users ----------------------------------------------------------------------------

    def caller_may_create(self, caller: Claims | None) -> bool:
        return caller is not None or not self.store.users

    async def create_user(self, uid: str, body: UserBody, caller: Claims | None) -> UserRecord:
        """Create a user (or service account). Without a caller only the very first user."""
        if body.public_key is not None:
            try:
                tokens.load_public_key(body.public_key)
            except ValueError:
                raise BadRequest("public_key must be an RSA public key (>= 2048 bits) in PEM form") from None
        digest = None
        if body.password is not None:
            async with self._hashing:
                digest = await asyncio.to_thread(self.hasher.hash, body.password)
        record = UserRecord(
            uid=uid,
            kind="user" if body.password is not None else "service",
            description=body.description,
            password_hash=digest,
            public_key=body.public_key,
        )
        async with self._first_user:
            if caller is None and self.store.users:
                raise TokenRejected(tokens.MISSING)
            await self.store.create(record)
        log.event("user_created", uid=uid, kind=record.kind, by=caller.uid if caller else "(first user)")
        return record

    async def update_user(self, uid: str, patch: UserPatch, caller: Claims) -> UserRecord | None:
        record = self.store.get(uid)
        if record is None:
            return None
        changes: dict[str, str | None] = {}
        if patch.description is not None:
            changes["description"] = patch.description
        if patch.password is not None:
            if record.kind != "user":
                raise BadRequest("a service account has no password")
            if problem := password_problem(patch.password):
                raise BadRequest(problem)
            async with self._hashing:
                changes["password_hash"] = await asyncio.to_thread(self.hasher.hash, patch.password)
        updated = UserRecord(
            uid=record.uid,
            kind=record.kind,
            description=changes.get("description", record.description) or "",
            password_hash=changes.get("password_hash", record.password_hash),
            public_key=record.public_key,
        )
        await self.store.replace(updated)
        log.event("user_updated", uid=uid, fields=",".join(sorted(changes)), by=caller.uid)
        return updated

    async def delete_user(self, uid: str, caller: Claims) -> bool:
        if self.store.get(uid) is not None and len(self.store.users) == 1:
            raise LastUser(uid)
        removed = await self.store.delete(uid)
        self._service_keys.pop(uid, None)
        if removed:
            log.event("user_deleted", uid=uid, by=caller.uid)
        return removed


__all__ = ["BadRequest", "Identity", "IdentitySettings", "LastUser", "RateLimited", "UserConflict"]
