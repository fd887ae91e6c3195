"""Errors of the store package.

    StoreError                  anything the store could not do
    ├── VersionConflict         a conditional write or delete met another version than expected
    └── StoreUnavailable        the back end cannot be reached or failed (the cause is chained)
"""

from __future__ import annotations


class StoreError(Exception):
    pass


class VersionConflict(StoreError):
    def __init__(self, key: str, expected: int | None, found: int | None) -> None:
        super().__init__(f"version conflict on {key!r}: expected {expected}, found {found}")
        self.key = key
        self.expected = expected
        self.found = found


class StoreUnavailable(StoreError):
    pass
