"""Planning the fetch of a command's URIs: names, schemes, archives, cache paths, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pydcos.mesos.agent.errors import FetchFailed
from pydcos.mesos.agent.fetch_plan import FetchItem, archive_kind, cache_key, member_problem, plan_fetch
from pydcos.mesos.v1.messages import CommandURI


def test_http_file_and_plain_paths() -> None:
    items = plan_fetch([CommandURI("https://h:8443/a/b%20c.tgz?sig=1"), CommandURI("file:///opt/x.zip"),
                        CommandURI("/opt/tool", executable=True)], "/sb", None)
    assert items == [
        FetchItem("https://h:8443/a/b%20c.tgz?sig=1", "https", "https://h:8443/a/b%20c.tgz?sig=1", "/sb/b c.tgz",
                  "tar", False, None),
        FetchItem("file:///opt/x.zip", "file", "/opt/x.zip", "/sb/x.zip", "zip", False, None),
        FetchItem("/opt/tool", "file", "/opt/tool", "/sb/tool", None, True, None),
    ]


def test_output_file_names_the_result_and_decides_extraction() -> None:
    [item] = plan_fetch([CommandURI("http://h/download?id=3", output_file="lib/pkg.tar.xz")], "/sb", None)
    assert (item.dest, item.archive) == ("/sb/lib/pkg.tar.xz", "tar")


@pytest.mark.parametrize(("uri", "archive"), [
    (CommandURI("http://h/a.tar.gz"), "tar"),
    (CommandURI("http://h/a.tar.gz", extract=False), None),
    (CommandURI("http://h/a.tar.gz", executable=True), None),  # executables are never extracted
    (CommandURI("http://h/a.jar"), None),
])
def test_extraction(uri: CommandURI, archive: str | None) -> None:
    assert plan_fetch([uri], "/sb", None)[0].archive == archive


def test_cache_paths_are_per_uri_and_only_when_asked() -> None:
    a, b, c = plan_fetch([CommandURI("http://h/x.sh", cache=True), CommandURI("http://other/x.sh", cache=True),
                          CommandURI("http://h/x.sh")], "/sb", "/cache")
    assert a.cache_path == f"/cache/{cache_key('http://h/x.sh')}/x.sh"
    assert b.cache_path is not None and b.cache_path != a.cache_path
    assert c.cache_path is None
    assert plan_fetch([CommandURI("http://h/x.sh", cache=True)], "/sb", None)[0].cache_path is None


@pytest.mark.parametrize(("uri", "fragment"), [
    (CommandURI("ftp://h/x"), "unsupported scheme 'ftp'"),
    (CommandURI("hdfs://nn/x"), "unsupported scheme 'hdfs'"),
    (CommandURI("relative/x"), "must be absolute"),
    (CommandURI(""), "empty"),
    (CommandURI("http:///nohost"), "no host"),
    (CommandURI("file://otherhost/x"), "other hosts"),
    (CommandURI("http://h/"), "cannot tell the file name"),
    (CommandURI("http://h/x", output_file="../up"), "outside the sandbox"),
    (CommandURI("http://h/x", output_file="/abs"), "outside the sandbox"),
    (CommandURI("http://h/x", output_file="a/../../b"), "outside the sandbox"),
    (CommandURI("http://h/x\0y"), "NUL"),
])
def test_refusals_name_the_uri(uri: CommandURI, fragment: str) -> None:
    with pytest.raises(FetchFailed) as info:
        plan_fetch([uri], "/sb", "/cache")
    assert fragment in info.value.message and info.value.message.startswith("Failed to fetch")


def test_too_many_uris() -> None:
    with pytest.raises(FetchFailed, match="at most"):
        plan_fetch([CommandURI(f"http://h/{i}") for i in range(101)], "/sb", None)


def test_archive_kinds() -> None:
    assert [archive_kind(n) for n in ("a.tar", "a.tbz2", "a.txz", ".tgz", "a.zip.txt")] == ["tar", "tar", "tar", None, None]


@pytest.mark.parametrize(("name", "ok"), [("a/b", True), ("./a", True), ("../a", False), ("/etc/x", False),
                                          ("a/../../b", False), ("a\\..\\..\\b", False)])
def test_archive_members(name: str, ok: bool) -> None:
    assert (member_problem(name) is None) == ok
    assert member_problem("l", is_link=True, link_target="../../etc") is not None


@given(st.text(min_size=1, max_size=40))
def test_no_output_file_ever_leaves_the_sandbox(name: str) -> None:
    try:
        [item] = plan_fetch([CommandURI("http://h/x", output_file=name)], "/sb", None)
    except FetchFailed:
        return
    assert item.dest.startswith("/sb/") and "/../" not in item.dest + "/"
