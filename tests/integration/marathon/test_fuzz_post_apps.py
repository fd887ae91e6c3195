"""Hypothesis posts apps of every shape: each answer is 201, 400 or 422 and Marathon stays up."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydcos.marathon.config import MarathonConfig
from pydcos.marathon.service import Marathon

FIELDS = ["id", "cmd", "args", "user", "env", "instances", "cpus", "mem", "disk", "gpus", "constraints", "uris",
          "fetch", "ports", "portDefinitions", "requirePorts", "backoffSeconds", "backoffFactor",
          "maxLaunchDelaySeconds", "container", "healthChecks", "readinessChecks", "dependencies",
          "upgradeStrategy", "labels", "acceptedResourceRoles", "ipAddress", "version", "residency", "secrets",
          "taskKillGracePeriodSeconds", "killSelection", "executor", "storeUrls", "unknownField"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["/web", "web", "x/../y", "UPPER", "a_b", "sleep 1",
                                                           "HTTP", "TCP", "COMMAND", "UNIQUE", "hostname"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS + ["protocol", "port", "value", "type",
                                                                           "docker", "image"]), inner,
                                                  max_size=4)), max_leaves=12)
plausible = st.fixed_dictionaries(
    {"id": st.sampled_from(["/fz", "fz", "/g/fz", "/Bad", "/"]), "cmd": st.sampled_from(["sleep 1", ""])},
    optional={
        "cpus": st.one_of(st.floats(-1, 4), st.integers(-1, 4), st.just(0)),
        "mem": st.floats(-10, 1024), "instances": st.integers(-2, 3),
        "constraints": st.lists(st.lists(st.sampled_from(["hostname", "rack", "UNIQUE", "MAX_PER", "LIKE", "2", "("]),
                                         max_size=4), max_size=2),
        "healthChecks": st.lists(st.fixed_dictionaries({}, optional={
            "protocol": st.sampled_from(["HTTP", "TCP", "COMMAND", "MESOS_HTTP", "FTP"]),
            "portIndex": st.integers(-1, 3), "command": st.sampled_from(["true", {"value": "true"}, 5]),
            "intervalSeconds": st.integers(-1, 5)}), max_size=2),
        "portDefinitions": st.lists(st.fixed_dictionaries({"port": st.integers(-1, 70000)}), max_size=3),
        "upgradeStrategy": st.fixed_dictionaries({}, optional={"minimumHealthCapacity": st.floats(-1, 2),
                                                               "maximumOverCapacity": st.floats(-1, 2)}),
        "dependencies": st.lists(st.sampled_from(["/a", "b", "/C"]), max_size=2),
        "acceptedResourceRoles": st.lists(st.sampled_from(["*", "slave_public", "", "a b"]), max_size=2),
    },
)
mostly_valid = st.fixed_dictionaries(
    {"id": st.sampled_from(["/ok", "ok", "/g/h/ok"]), "cmd": st.just("sleep 1")},
    optional={
        "cpus": st.floats(0.01, 2), "mem": st.floats(0, 512), "instances": st.integers(0, 2),
        "constraints": st.sampled_from([[["hostname", "UNIQUE"]], [["rack", "GROUP_BY", "2"]], []]),
        "healthChecks": st.sampled_from([[{"protocol": "TCP"}], [{"protocol": "COMMAND", "command": "true"}], []]),
        "labels": st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=3),
        "env": st.dictionaries(st.from_regex(r"[A-Z]{1,5}", fullmatch=True), st.text(max_size=5), max_size=3),
        "ports": st.lists(st.integers(0, 0), max_size=3),
        "killSelection": st.sampled_from(["YOUNGEST_FIRST", "OLDEST_FIRST"]),
    },
)
bodies = st.one_of(
    mostly_valid.map(lambda d: json.dumps(d).encode()),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8).map(lambda d: json.dumps(d).encode()),
    plausible.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)


class Background:
    """A Marathon on its own loop in a thread (hypothesis drives it synchronously)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        # No master listens here: the API works without one.
        self.marathon = Marathon(MarathonConfig(ip="127.0.0.1", port=0, master="127.0.0.1:1", mesos_user="nobody"))

    def __enter__(self) -> Marathon:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.marathon.start(), self.loop).result(10)
        return self.marathon

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.marathon.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def background_marathon() -> Iterator[Marathon]:
    with Background() as m:
        yield m


def post(url: str, body: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


_unique = itertools.count()


def uniquely(body: bytes) -> bytes:
    """Give a plausible id a unique last segment, so no answer is a 409 for a repeated id."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"].strip("/"):
        data["id"] = f"{data['id']}-{next(_unique)}"
        return json.dumps(data).encode()
    return body


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_any_post_is_answered_201_400_or_422(background_marathon: Marathon, body: bytes) -> None:
    status, answer = post(background_marathon.url + "/v2/apps", uniquely(body))
    assert status in (201, 400, 422), (status, answer, body)
    assert "message" in answer or status == 201
    if status == 422:
        assert answer["details"] and all(set(d) == {"path", "errors"} for d in answer["details"])
    assert background_marathon.unhandled_errors == 0


def test_marathon_is_still_up_after_the_fuzz(background_marathon: Marathon) -> None:
    with urllib.request.urlopen(background_marathon.url + "/ping", timeout=5) as r:
        assert r.status == 200
    assert background_marathon.unhandled_errors == 0
