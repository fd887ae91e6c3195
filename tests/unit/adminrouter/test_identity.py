"""The identity service's decisions with a hand-moved clock and an in-memory store: logins, limits,
expiry, the first-user rule, the shared signing key."""

from __future__ import annotations

import pytest

from pydcos.adminrouter.errors import BadCredentials, TokenRejected, UserConflict
from pydcos.adminrouter.identity import tokens
from pydcos.adminrouter.identity.passwords import PasswordHasher
from pydcos.adminrouter.identity.records import UserBody, UserPatch
from pydcos.adminrouter.identity.service import Identity, IdentitySettings, LastUser, RateLimited
from pydcos.adminrouter.identity.store import IdentityStore
from pydcos.core.clock import FakeClock
from pydcos.store.memory import MemoryStore

HASHER = PasswordHasher(fast_for_tests=True)


async def make(store: MemoryStore | None = None, clock: FakeClock | None = None) -> tuple[Identity, FakeClock]:
    clock = clock or FakeClock()
    identity_store = await IdentityStore.open(store or MemoryStore())
    settings = IdentitySettings(token_lifetime_s=600, login_burst=3, login_refill_s=30, auth_cache_s=5)
    return Identity(identity_store, settings, clock=clock.wall, hasher=HASHER), clock


async def test_first_user_without_a_caller_then_never_again() -> None:
    identity, _ = await make()
    await identity.create_user("admin", UserBody(password="first-pw"), caller=None)
    with pytest.raises(TokenRejected):
        await identity.create_user("eve", UserBody(password="eves-pw"), caller=None)
    token = await identity.login_password("admin", "first-pw", "10.0.0.1")
    caller = identity.check(token)
    await identity.create_user("bob", UserBody(password="bobs-pw"), caller=caller)
    with pytest.raises(UserConflict):
        await identity.create_user("bob", UserBody(password="bobs-pw"), caller=caller)


async def test_tokens_expire_and_cache_never_outlives_them() -> None:
    identity, clock = await make()
    await identity.create_user("admin", UserBody(password="first-pw"), caller=None)
    claims = identity.check(await identity.login_password("admin", "first-pw", "s"))
    assert identity.cache_seconds(claims) == 5
    clock.advance(597.5)
    assert identity.cache_seconds(claims) == 2
    clock.advance(2.5)
    with pytest.raises(TokenRejected) as info:
        identity.check(identity.signer.issue("admin", now=clock.wall() - 601, lifetime=600))
    assert info.value.reason == tokens.EXPIRED


async def test_failed_logins_are_limited_then_refilled() -> None:
    identity, clock = await make()
    await identity.create_user("admin", UserBody(password="first-pw"), caller=None)
    for _ in range(3):
        with pytest.raises(BadCredentials):
            await identity.login_password("admin", "wrong-pw", "10.0.0.1")
    with pytest.raises(RateLimited):
        await identity.login_password("admin", "first-pw", "10.0.0.1")
    await identity.login_password("admin", "first-pw", "10.0.0.2")  # another source
    clock.advance(30)
    await identity.login_password("admin", "first-pw", "10.0.0.1")
    assert identity.counters["failed_logins"] == 3 and identity.counters["rate_limited"] == 1


async def test_unknown_uids_and_bad_uids_fail_like_wrong_passwords() -> None:
    identity, _ = await make()
    await identity.create_user("admin", UserBody(password="first-pw"), caller=None)
    for uid in ("nobody", "../etc", ""):
        with pytest.raises(BadCredentials):
            await identity.login_password(uid, "first-pw", "s")


async def test_deleted_users_tokens_and_the_last_user() -> None:
    identity, _ = await make()
    await identity.create_user("admin", UserBody(password="first-pw"), caller=None)
    admin = identity.check(await identity.login_password("admin", "first-pw", "s"))
    await identity.create_user("bob", UserBody(password="bobs-pw"), caller=admin)
    bob_token = await identity.login_password("bob", "bobs-pw", "s")
    assert await identity.delete_user("bob", admin)
    with pytest.raises(TokenRejected) as info:
        identity.check(bob_token)
    assert info.value.reason == tokens.UNKNOWN_USER
    with pytest.raises(LastUser):
        await identity.delete_user("admin", admin)


async def test_password_change() -> None:
    identity, _ = await make()
    await identity.create_user("admin", UserBody(password="first-pw"), caller=None)
    admin = identity.check(await identity.login_password("admin", "first-pw", "s"))
    await identity.update_user("admin", UserPatch(password="second-pw"), admin)
    await identity.login_password("admin", "second-pw", "s")
    with pytest.raises(BadCredentials):
        await identity.login_password("admin", "first-pw", "s2")


async def test_login_token_buys_a_fresh_token() -> None:
    identity, clock = await make()
    await identity.create_user("admin", UserBody(password="first-pw"), caller=None)
    first = await identity.login_password("admin", "first-pw", "s")
    clock.advance(100)
    second = identity.login_token(first, "s")
    assert identity.check(second).exp == identity.check(first).exp + 100
    with pytest.raises(BadCredentials):
        identity.login_token("garbage", "s")


async def test_masters_sharing_a_store_share_the_key_and_users() -> None:
    store = MemoryStore()
    one, clock = await make(store)
    await one.create_user("admin", UserBody(password="first-pw"), caller=None)
    two, _ = await make(store, clock)
    assert two.store.signing_key_pem == one.store.signing_key_pem
    assert two.store.cluster_id == one.store.cluster_id
    assert two.check(await one.login_password("admin", "first-pw", "s")).uid == "admin"
