"""Storage behind one small async interface: `Store` (interface.py), with in-memory and SQLite back
ends here and ZooKeeper in `pydcos.store.zookeeper` (imported on demand: it brings kazoo). See
docs/store.md."""

from pydcos.store.errors import StoreError, StoreUnavailable, VersionConflict
from pydcos.store.interface import ANY_VERSION, Store, Versioned
from pydcos.store.memory import MemoryStore
from pydcos.store.sqlite import SqliteStore

__all__ = [
    "ANY_VERSION",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Versioned",
    "VersionConflict",
]
