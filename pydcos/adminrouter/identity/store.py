"""The identity service's state in pydcos's store: the signing key, the cluster id and the users.

Reads are served from memory (loaded at open, kept in step by every write here); writes go to the
store first, so an answer is given only once the change is durable. The signing key and the
cluster id are created with `expect_version=None`: when several masters start at once on one store,
one wins and the others read the winner's, so every master signs and checks with the same key.
"""

from __future__ import annotations

import asyncio

import msgspec

from pydcos.adminrouter.errors import UserConflict
from pydcos.adminrouter.identity import keys
from pydcos.adminrouter.identity.records import (
    CLUSTER_ID,
    RECORD_DECODER,
    SIGNING_KEY,
    USERS_PREFIX,
    UserRecord,
    user_key,
)
from pydcos.core.log import get_logger
from pydcos.store.errors import VersionConflict
from pydcos.store.interface import ANY_VERSION, Store

log = get_logger(__name__)


async def _get_or_create(store: Store, key: str, make: bytes) -> bytes:
    found = await store.get(key)
    if found is not None:
        return found.value
    try:
        await store.put(key, make, expect_version=None)
        return make
    except VersionConflict:
        again = await store.get(key)
        assert again is not None, key
        return again.value


class IdentityStore:
    """Invariant: `users` equals the store's `/acs/users/*` as last written or read by this object."""

    def __init__(self, store: Store, *, signing_key_pem: bytes, cluster_id: str, users: dict[str, UserRecord]):
        self.store = store
        self.signing_key_pem = signing_key_pem
        self.cluster_id = cluster_id
        self.users = users

    @classmethod
    async def open(cls, store: Store) -> IdentityStore:
        existing = await store.get(SIGNING_KEY)
        pem = existing.value if existing else await _get_or_create(
            store, SIGNING_KEY, await asyncio.to_thread(keys.new_private_key_pem)
        )
        cluster_id = (await _get_or_create(store, CLUSTER_ID, keys.new_cluster_id().encode())).decode()
        users: dict[str, UserRecord] = {}
        found = await store.get_many(await store.list(USERS_PREFIX))
        for key, versioned in found.items():
            try:
                record = RECORD_DECODER.decode(versioned.value)
            except msgspec.DecodeError:
                log.warning("user_record_unreadable", key=key)
                continue
            users[record.uid] = record
        log.event("identity_store_opened", users=len(users), cluster_id=cluster_id)
        return cls(store, signing_key_pem=pem, cluster_id=cluster_id, users=users)

    def get(self, uid: str) -> UserRecord | None:
        return self.users.get(uid)

    async def create(self, record: UserRecord) -> None:
        try:
            await self.store.put(user_key(record.uid), msgspec.json.encode(record), expect_version=None)
        except VersionConflict:
            raise UserConflict(record.uid) from None
        self.users[record.uid] = record

    async def replace(self, record: UserRecord) -> None:
        await self.store.put(user_key(record.uid), msgspec.json.encode(record), expect_version=ANY_VERSION)
        self.users[record.uid] = record

    async def delete(self, uid: str) -> bool:
        removed = await self.store.delete(user_key(uid))
        self.users.pop(uid, None)
        return removed
