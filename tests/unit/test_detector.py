"""The pure parts of the ZooKeeper leader detector (COMPAT.md §8)."""

from __future__ import annotations

import msgspec
import pytest

from pydcos.mesos.detector import leader_from_children, master_url_from_info, parse_zk_url


@pytest.mark.parametrize(("url", "expected"), [
    ("zk://h1:2181,h2:2181/mesos", ("h1:2181,h2:2181", "/mesos")),
    ("zoo://127.0.0.1:2181/mesos", ("127.0.0.1:2181", "/mesos")),
    ("zk://user:secret@h1:2181/dcos/mesos/", ("h1:2181", "/dcos/mesos")),
    ("zk://h1:2181", ("h1:2181", "/mesos")),
])
def test_parse_zk_url(url: str, expected: tuple[str, str]) -> None:
    assert parse_zk_url(url) == expected


@pytest.mark.parametrize("url", ["http://h1:5050", "h1:2181/mesos", "zk:///mesos"])
def test_parse_zk_url_rejects_non_zookeeper_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_zk_url(url)


def test_leader_is_the_lowest_json_info_sequence() -> None:
    children = ["json.info_0000000012", "log_replicas", "info_0000000001", "json.info_0000000003",
                "json.info_0000000010"]
    assert leader_from_children(children) == "json.info_0000000003"


def test_sequence_is_compared_as_a_number() -> None:
    assert leader_from_children(["json.info_0000000100", "json.info_0000000099"]) == "json.info_0000000099"


@pytest.mark.parametrize("children", [[], ["log_replicas"], ["info_0000000001", "json.info_x"]])
def test_no_json_info_child_means_no_leader(children: list[str]) -> None:
    assert leader_from_children(children) is None


def test_master_url_from_address() -> None:
    info = {"id": "m1", "ip": 16777343, "port": 5050, "pid": "master@127.0.0.1:5050", "hostname": "m",
            "version": "1.8.0", "address": {"ip": "127.0.0.2", "hostname": "m", "port": 5051}}
    assert master_url_from_info(msgspec.json.encode(info)) == "http://127.0.0.2:5051"


def test_master_url_falls_back_to_pid() -> None:
    assert master_url_from_info(b'{"id": "m1", "pid": "master@10.0.0.7:5050"}') == "http://10.0.0.7:5050"


@pytest.mark.parametrize("data", [b"not json", b"[1]", b'{"id": "m1"}', b'{"pid": "master@nohostport"}'])
def test_unusable_master_record_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="master record"):
        master_url_from_info(data)
