"""Structured logging: one line per event, `event key=value ...`, with the ids a reader greps for.

Lines look like `2026-11-26 00:20:01,123 INFO pydcos.agent.tasks task_started task_id=t1 ...`.
A daemon logs a few lines per task, so the path matters: with `setup_logging`'s handler alone on
the logger's path (the daemons' case), `EventLogger` writes the line itself, skipping the
LogRecord, caller lookup and strftime that `logging` spends about 10 µs a line on. With any other
handler in the way (pytest's caplog, a test harness) it goes through `logging` as usual, so
nothing that listens misses a line.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The daemons' one handler: a stream (stderr or an appended file), a line per record,
    flushed per line so a crash loses nothing already logged."""

    FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

    def __init__(self, stream: TextIO, *, owned: bool) -> None:
        super().__init__(stream)
        self.setFormatter(logging.Formatter(self.FORMAT))
        self._owned = owned
        self._second = -1
        self._stamp = ""

    def write_event(self, level: int, name: str, message: str) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:  # the date part changes once a second: format it once
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        line = f"{self._stamp},{int((now - second) * 1000):03d} {logging.getLevelName(level)} {name} {message}\n"
        self.acquire()
        try:
            self.stream.write(line)
            self.stream.flush()
        except Exception:  # noqa: BLE001 - as logging does: a failing log write must not raise
            pass
        finally:
            self.release()

    def close(self) -> None:
        self.acquire()
        try:
            if self._owned and self.stream is not None:
                self.stream.close()
        finally:
            self.release()
        super().close()


_root = logging.getLogger()


def _sole_sink(logger: logging.Logger) -> LineHandler | None:
    """The LineHandler a record from `logger` would reach, when it is the only handler on the way."""
    current: logging.Logger | None = logger
    while current is not None:
        if current is _root:
            handlers = current.handlers
            if len(handlers) == 1 and isinstance(handlers[0], LineHandler) \
                    and handlers[0].level <= logging.NOTSET and not handlers[0].filters:
                return handlers[0]
            return None
        if current.handlers or current.filters or not current.propagate:
            return None
        current = current.parent
    return None


class EventLogger:
    def __init__(self, name: str) -> None:
        self._log = logging.getLogger(name)

    def event(self, event: str, /, level: int = logging.INFO, **fields: Any) -> None:
        if not self._log.isEnabledFor(level):
            return
        parts = [event]
        for key, value in fields.items():
            text = str(value)
            if not text or ' ' in text or '"' in text or '=' in text:
                text = '"' + text.replace('"', '\\"') + '"'
            parts.append(f"{key}={text}")
        message = " ".join(parts)
        sink = _sole_sink(self._log)
        if sink is not None:
            sink.write_event(level, self._log.name, message)
        else:
            self._log.log(level, message)

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
    if path:
        handler = LineHandler(open(path, "a", encoding="utf-8"), owned=True)  # noqa: SIM115 - closed by the handler
    else:
        handler = LineHandler(sys.stderr, owned=False)
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, LineHandler):  # ours, from an earlier call; others are not ours to close
            old.close()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
