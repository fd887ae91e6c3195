"""Identifier factories in the forms Mesos uses, so tools that pattern-match ids keep working.

Master ids are UUIDs; agents are `<master>-S<n>`, frameworks `<master>-<nnnn>`, offers `<master>-O<n>`.
"""

from __future__ import annotations

import base64
import itertools
import os
import uuid


def new_uuid() -> str:
    return str(uuid.uuid4())


def status_uuid() -> str:
    """A status update uuid as it travels in JSON: base64 of exactly 16 bytes."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


class IdFactory:
    def __init__(self, master_id: str) -> None:
        self.master_id = master_id
        self._agents = itertools.count()
        self._frameworks = itertools.count()
        self._offers = itertools.count()

    def agent(self) -> str:
        return f"{self.master_id}-S{next(self._agents)}"

    def framework(self) -> str:
        return f"{self.master_id}-{next(self._frameworks):04d}"

    def offer(self) -> str:
        return f"{self.master_id}-O{next(self._offers)}"
