"""HTTP callback subscriptions on a real `pydcos cluster up`, managed with marathon-python 0.13.0:
an app's deployment reaches a receiver on this machine as JSON POSTs, in order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from clients.marathon_e2e import MarathonCurl, marathon_python

from pydcos.core.waiting import wait_until_sync


class Receiver:
    """A plain HTTP server on 127.0.0.1 (the cluster's daemons listen on loopback addresses too)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.content_types.append(self.headers.get("Content-Type", ""))
                outer.events.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/marathon-events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def types_for(self, app_id: str) -> list[str]:
        out = []
        for e in self.events:
            if e.get("appId") == app_id or app_id in json.dumps(e.get("plan", {}).get("steps", [])):
                out.append(e["eventType"])
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    r.thread.join(timeout=5)


def test_deployment_events_reach_a_subscribed_callback(marathon: MarathonCurl, receiver: Receiver) -> None:
    url, app_id = marathon.url, "/e2e-callbacks/sleeper"
    subscribed = marathon_python(url, "subscribe", receiver.url)
    try:
        assert subscribed["eventType"] == "subscribe_event" and subscribed["callbackUrl"] == receiver.url
        assert receiver.url in marathon_python(url, "subscriptions")
        marathon.post("/v2/apps", {"id": app_id, "cmd": "sleep 3600", "cpus": 0.05, "mem": 16})
        wait_until_sync(lambda: "deployment_success" in receiver.types_for(app_id), timeout=30,
                        what="the deployment's success posted to the receiver")
        kinds = [k for k in receiver.types_for(app_id) if k.startswith("deployment_")]
        assert kinds[0] == "deployment_info" and kinds[-1] == "deployment_success"
        assert "status_update_event" in receiver.types_for(app_id)
        assert set(receiver.content_types) == {"application/json"}
    finally:
        marathon_python(url, "unsubscribe", receiver.url)
        marathon.remove_app(app_id)
    assert receiver.url not in marathon_python(url, "subscriptions")
