"""JSON on Marathon's wire: compact and ASCII-only (COMPAT §1). Pure."""

from __future__ import annotations

import json

import msgspec

_ENCODER = msgspec.json.Encoder()


def encode_json(obj: object) -> bytes:
    data = _ENCODER.encode(obj)
    if data.isascii():
        return data
    return json.dumps(msgspec.json.decode(data), ensure_ascii=True, separators=(",", ":")).encode()
