"""HTTP callback subscriptions (`/v2/eventSubscriptions`): which URLs are accepted, how the list is
kept in the store, and how long a failed delivery waits before it is tried again. Pure.

The subscribed URLs are one record, `/marathon/event-subscriptions`, written whole on every
change (a handful of URLs; Marathon keeps them as one entity too).

>>> check_callback_url("http://127.0.0.1:9000/events")
'http://127.0.0.1:9000/events'
>>> [retry_delay(n, base=0.5, cap=5.0) for n in (1, 2, 3, 10)]
[0.5, 1.0, 2.0, 5.0]
"""

from __future__ import annotations

from urllib.parse import urlsplit

import msgspec

from pydcos.marathon.errors import InvalidInput, Problem

SUBSCRIPTIONS_KEY = "/marathon/event-subscriptions"
MAX_URL_LENGTH = 2048
_PATH = "/callbackUrl"


class SubscriptionsRecord(msgspec.Struct):
    callback_urls: list[str] = []


_DECODER = msgspec.json.Decoder(SubscriptionsRecord)
_ENCODER = msgspec.json.Encoder()


def encode_subscriptions(urls: list[str]) -> bytes:
    return _ENCODER.encode(SubscriptionsRecord(list(urls)))


def decode_subscriptions(data: bytes) -> list[str]:
    """The stored URLs; an unreadable record or URL is skipped rather than stopping Marathon."""
    try:
        record = _DECODER.decode(data)
    except msgspec.DecodeError:
        return []
    out: list[str] = []
    for url in record.callback_urls:
        try:
            out.append(check_callback_url(url))
        except InvalidInput:
            continue
    return out


def _problem(text: str) -> InvalidInput:
    return InvalidInput([Problem(_PATH, (text,))], message="Invalid callbackUrl")


def check_callback_url(raw: str | None) -> str:
    """`raw` if it is an absolute http(s) URL with a host, else InvalidInput (422) naming why."""
    if raw is None or not raw:
        raise _problem("is required: ?callbackUrl=http://host:port/path")
    if len(raw) > MAX_URL_LENGTH:
        raise _problem(f"must be at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise _problem("must not contain whitespace or control characters")
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        raise _problem(f"is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise _problem("must be an http or https URL")
    if not parts.hostname:
        raise _problem("must name a host")
    try:
        parts.hostname.encode("idna")  # what the HTTP client does with it: empty labels fail here
    except UnicodeError as exc:
        raise _problem(f"has an invalid host name: {exc}") from exc
    if port == 0:
        raise _problem("must not use port 0")
    return raw


def retry_delay(attempt: int, *, base: float, cap: float) -> float:
    """The wait before retry number `attempt` (1 = the first retry): doubling from `base`, at most `cap`."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))
