"""RecordIO framing of Mesos streams: `<decimal byte length>\\n<record>`, repeated."""

from __future__ import annotations


def frame(record: bytes) -> bytes:
    return b"%d\n%s" % (len(record), record)


class RecordIOError(ValueError):
    pass


class RecordIODecoder:
    """Incremental decoder: feed it bytes as they arrive, get complete records back.

    >>> d = RecordIODecoder(); d.feed(b"3\\nabc2\\nx"); d.feed(b"y")
    [b'abc']
    [b'xy']
    """

    MAX_RECORD = 64 * 1024 * 1024

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records: list[bytes] = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > 20:
                    raise RecordIOError("record length prefix too long")
                return records
            prefix = bytes(self._buffer[:newline]).strip()
            if not prefix.isdigit():
                raise RecordIOError(f"bad record length prefix {prefix[:20]!r}")
            length = int(prefix)
            if length > self.MAX_RECORD:
                raise RecordIOError(f"record of {length} bytes is too large")
            end = newline + 1 + length
            if len(self._buffer) < end:
                return records
            records.append(bytes(self._buffer[newline + 1 : end]))
            del self._buffer[:end]
