"""Password hashing behind a seam of our own: argon2id (argon2-cffi). Slow on purpose (tens of
milliseconds), so the service calls it on a worker thread, never on its event loop.

Only hashes are kept; a password is never stored, logged or echoed.

>>> hasher = PasswordHasher(fast_for_tests=True)
>>> digest = hasher.hash("correct horse")
>>> hasher.verify(digest, "correct horse"), hasher.verify(digest, "wrong")
(True, False)
"""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class PasswordHasher:
    def __init__(self, *, fast_for_tests: bool = False) -> None:
        if fast_for_tests:
            self._hasher = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        else:
            # OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane (about 30 ms here).
            self._hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
        # Verified against when a uid is unknown, so that answer takes as long as a wrong password.
        self._decoy = self._hasher.hash("pydcos decoy password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, digest: str | None, password: str) -> bool:
        """True when `password` matches `digest`; with no digest, a decoy check and False."""
        try:
            return self._hasher.verify(digest or self._decoy, password) and digest is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
