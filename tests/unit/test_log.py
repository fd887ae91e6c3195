"""The event log's lines, on its direct path and through `logging` when anything else listens."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydcos.core.log import LineHandler, get_logger, setup_logging

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR|DEBUG) (\S+) (.*)$")


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if isinstance(handler, LineHandler):
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(path: Path) -> list[tuple[str, str, str]]:
    out = []
    for line in path.read_text().splitlines():
        match = LINE.match(line)
        assert match, line
        out.append((match[1], match[2], match[3]))
    return out


def test_direct_path_writes_the_standard_line(tmp_path: Path, restore_root: None) -> None:
    setup_logging("INFO", str(tmp_path / "d.log"))
    log = get_logger("pydcos.test.direct")
    log.event("task_started", task_id="t 1", message='say "hi"', empty="", eq="a=b", pid=7)
    log.debug("not_shown", x=1)
    log.warning("slow", ms=3)
    assert lines(tmp_path / "d.log") == [
        ("INFO", "pydcos.test.direct", 'task_started task_id="t 1" message="say \\"hi\\"" empty="" eq="a=b" pid=7'),
        ("WARNING", "pydcos.test.direct", "slow ms=3"),
    ]


def test_same_line_through_logging_as_on_the_direct_path(tmp_path: Path, restore_root: None) -> None:
    setup_logging("INFO", str(tmp_path / "d.log"))
    log = get_logger("pydcos.test.same")
    log.event("a", k="v")
    logging.getLogger("pydcos.test.same").info("a k=v")  # a third-party style record, formatted by logging
    (direct, formatted) = lines(tmp_path / "d.log")
    assert direct == formatted


def test_other_handlers_still_receive_every_event(tmp_path: Path, restore_root: None,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    setup_logging("INFO", str(tmp_path / "d.log"))
    logging.getLogger().addHandler(caplog.handler)
    get_logger("pydcos.test.caplog").event("seen", n=1)
    assert [r.getMessage() for r in caplog.records] == ["seen n=1"]
    assert lines(tmp_path / "d.log") == [("INFO", "pydcos.test.caplog", "seen n=1")]


def test_a_handler_on_the_way_gets_the_record(tmp_path: Path, restore_root: None) -> None:
    setup_logging("INFO", str(tmp_path / "d.log"))
    received: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            received.append(record.getMessage())

    parent = logging.getLogger("pydcos.test.parent")
    collect = Collect()
    parent.addHandler(collect)
    try:
        get_logger("pydcos.test.parent.child").event("via_parent", x=1)
    finally:
        parent.removeHandler(collect)
    assert received == ["via_parent x=1"]
    assert lines(tmp_path / "d.log") == [("INFO", "pydcos.test.parent.child", "via_parent x=1")]


def test_setting_up_again_closes_the_earlier_file(tmp_path: Path, restore_root: None) -> None:
    setup_logging("INFO", str(tmp_path / "one.log"))
    first = logging.getLogger().handlers[0]
    assert isinstance(first, LineHandler)
    setup_logging("INFO", str(tmp_path / "two.log"))
    assert first.stream.closed
    get_logger("pydcos.test.again").event("second")
    assert (tmp_path / "one.log").read_text() == ""
    assert lines(tmp_path / "two.log") == [("INFO", "pydcos.test.again", "second")]
