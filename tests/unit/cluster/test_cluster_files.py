"""cluster.json and pids.json: their exact shapes, as other tools and tests read them."""

from __future__ import annotations

import json
from pathlib import Path

from pydcos.cluster.cluster_files import (
    PidsFile,
    daemon_record,
    decode_cluster_info,
    decode_pids,
    encode_json,
    render_cluster_info,
    tail_lines,
)
from pydcos.cluster.plan import ClusterOptions, MachineFacts, plan_cluster

PLAN = plan_cluster(
    ClusterOptions(dir=Path("/tmp/c"), net="127.11"), MachineFacts(python="py", cpus=2, mem_mb=4096)
)
IDS = {"agent-1/agent": "M-S0", "agent-2/agent": "M-S1", "public-agent-1/agent": "M-S2"}


def test_cluster_json_shape() -> None:
    data = json.loads(encode_json(render_cluster_info(PLAN, IDS)))
    assert data == {
        "masters": [
            {
                "ip": "127.11.1.1",
                "mesos_url": "http://127.11.1.1:5050",
                "marathon_url": "http://127.11.1.1:8080",
                "dns_udp": "127.11.1.1:53",
                "dns_http_url": "http://127.11.1.1:8123",
                "adminrouter_url": "http://127.11.1.1",
            }
        ],
        "agents": [
            {"id": "M-S0", "ip": "127.11.2.1", "zone": "private", "url": "http://127.11.2.1:5051"},
            {"id": "M-S1", "ip": "127.11.2.2", "zone": "private", "url": "http://127.11.2.2:5051"},
            {"id": "M-S2", "ip": "127.11.3.1", "zone": "public", "url": "http://127.11.3.1:5051"},
        ],
        "zk": None,
        "dcos_url": "http://127.11.1.1",
        "admin": None,
        "lb": [],
    }


def test_cluster_json_round_trips() -> None:
    info = render_cluster_info(PLAN, IDS)
    assert decode_cluster_info(encode_json(info)) == info


def test_cluster_json_is_readable_text() -> None:
    text = encode_json(render_cluster_info(PLAN, IDS)).decode()
    assert text.endswith("}\n") and '\n  "masters": [' in text


def test_pids_file_round_trips_with_what_status_and_down_need() -> None:
    spec = PLAN.daemon("agent-1/agent")
    record = daemon_record(spec, pid=123, start_ticks=456)
    assert (record.key, record.stage, record.url, record.health_url) == (
        "agent-1/agent",
        spec.stage,
        "http://127.11.2.1:5051",
        "http://127.11.2.1:5051/health",
    )
    assert record.argv == list(spec.argv)
    assert record.log_file == "/tmp/c/logs/agent-1/agent.log"
    pids = PidsFile(supervisor_pid=1, supervisor_start_ticks=2, detached=True, daemons=[record])
    assert decode_pids(encode_json(pids)) == pids


def test_tail_lines_keeps_the_last_lines() -> None:
    assert tail_lines("a\nb\nc\n", 2) == "b\nc"
    assert tail_lines("", 5) == ""
