"""Callback subscriptions, pure parts: which URLs are accepted, the stored record, the retry waits."""

from __future__ import annotations

import pytest

from pydcos.marathon.errors import InvalidInput
from pydcos.marathon.event_subscriptions import (
    MAX_URL_LENGTH,
    check_callback_url,
    decode_subscriptions,
    encode_subscriptions,
    retry_delay,
)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9000/events", "https://hooks.example.com/marathon?token=x", "http://[::1]:80/",
    "HTTP://host/path",
])
def test_http_and_https_urls_are_accepted_as_given(url: str) -> None:
    assert check_callback_url(url) == url


@pytest.mark.parametrize("url", [
    None, "", "ftp://host/x", "host:9000/x", "/relative", "http://", "http:///path", "http://host:99999/",
    "http://host:0/", "http://host:port/", "javascript:alert(1)", "http://ho st/", "http://host/\n",
    "http://h/" + "x" * MAX_URL_LENGTH, "http://a..b/", "http://" + "x" * 64 + ".com/",
])
def test_anything_else_is_invalid_input_on_callbackUrl(url: str | None) -> None:
    with pytest.raises(InvalidInput) as info:
        check_callback_url(url)
    assert info.value.status == 422
    assert [p.path for p in info.value.problems] == ["/callbackUrl"]
    assert set(info.value.body()) == {"message", "details"}


def test_the_record_round_trips_and_a_damaged_one_is_skipped() -> None:
    urls = ["http://a:1/x", "https://b/y"]
    assert decode_subscriptions(encode_subscriptions(urls)) == urls
    assert decode_subscriptions(b"not json") == []
    assert decode_subscriptions(b'{"callback_urls": ["http://ok/", "ftp://no/"]}') == ["http://ok/"]


def test_retries_wait_longer_each_time_up_to_the_cap() -> None:
    assert [retry_delay(n, base=0.25, cap=1.0) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 1.0]
