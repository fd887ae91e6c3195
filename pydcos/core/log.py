"""Structured logging: one line per event, `event key=value ...`, with the ids a reader greps for."""

from __future__ import annotations

import logging
import sys
from typing import Any


class EventLogger:
    def __init__(self, name: str) -> None:
        self._log = logging.getLogger(name)

    def event(self, event: str, /, level: int = logging.INFO, **fields: Any) -> None:
        if not self._log.isEnabledFor(level):
            return
        parts = [event]
        for key, value in fields.items():
            text = str(value)
            if not text or any(c in text for c in ' "='):
                text = '"' + text.replace('"', '\\"') + '"'
            parts.append(f"{key}={text}")
        self._log.log(level, " ".join(parts))

    def debug(self, event: str, /, **fields: Any) -> None:
        self.event(event, level=logging.DEBUG, **fields)

    def warning(self, event: str, /, **fields: Any) -> None:
        self.event(event, level=logging.WARNING, **fields)

    def exception(self, event: str, /, **fields: Any) -> None:
        """For our own bugs only: logs the traceback of the exception being handled."""
        self.event(event, level=logging.ERROR, **fields)
        self._log.exception("traceback of %s", event)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)


def setup_logging(level: str = "INFO", path: str | None = None) -> None:
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
