"""Files API rules on a temporary tree: confinement, read semantics, browse entries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pydcos.mesos.agent import files
from pydcos.mesos.agent.errors import BadRequest, Forbidden, NotFound
from pydcos.mesos.agent.files import FileRoots


@pytest.fixture
def tree(tmp_path: Path) -> tuple[FileRoots, Path]:
    root = tmp_path / "work" / "slaves"
    sandbox = root / "S0" / "frameworks" / "F0" / "executors" / "t1" / "runs" / "c1"
    sandbox.mkdir(parents=True)
    (sandbox / "stdout").write_text("hello\nworld\n")
    (sandbox / "stderr").write_text("")
    (sandbox / "sub").mkdir()
    (tmp_path / "outside.txt").write_text("secret\n")
    log = tmp_path / "agent.log"
    log.write_text("log line\n")
    return FileRoots.make(str(root), {"/slave/log": str(log)}), sandbox


def test_read_semantics(tree: tuple[FileRoots, Path]) -> None:
    roots, sb = tree
    path = f"{sb}/stdout"
    assert files.read(roots, path, "0", "5") == {"data": "hello", "offset": 0}
    assert files.read(roots, path, "6", "-1") == {"data": "world\n", "offset": 6}
    assert files.read(roots, path, "-1", "0") == {"data": "", "offset": 12}
    assert files.read(roots, path, None, None) == {"data": "", "offset": 12}
    assert files.read(roots, path, "12", "10") == {"data": "", "offset": 12}
    assert files.read(roots, path, "50", "10") == {"data": "", "offset": 12}
    assert files.read(roots, path, "3", "0") == {"data": "", "offset": 3}
    assert files.read(roots, path, "0", None) == {"data": "hello\nworld\n", "offset": 0}


def test_read_is_capped_at_sixteen_pages(tree: tuple[FileRoots, Path]) -> None:
    roots, sb = tree
    (sb / "big").write_bytes(b"a" * 200_000)
    assert len(files.read(roots, f"{sb}/big", "0", "-1")["data"]) == 65536
    assert len(files.read(roots, f"{sb}/big", "0", "100000")["data"]) == 65536
    assert len(files.read(roots, f"{sb}/big", "0", "10", cap=4)["data"]) == 4


def test_read_never_splits_a_character(tree: tuple[FileRoots, Path]) -> None:
    roots, sb = tree
    (sb / "utf8").write_bytes("aé€😀".encode())  # 1 + 2 + 3 + 4 bytes
    assert files.read(roots, f"{sb}/utf8", "0", "2") == {"data": "a", "offset": 0}
    assert files.read(roots, f"{sb}/utf8", "0", "4") == {"data": "aé", "offset": 0}
    assert files.read(roots, f"{sb}/utf8", "0", "9") == {"data": "aé€", "offset": 0}
    assert files.read(roots, f"{sb}/utf8", "0", "-1") == {"data": "aé€😀", "offset": 0}
    (sb / "junk").write_bytes(b"\xff\xfeok")
    assert files.read(roots, f"{sb}/junk", "0", "-1")["data"] == "\ufffd\ufffdok"


@pytest.mark.parametrize(
    ("offset", "length"), [("x", "1"), ("-2", "1"), ("1", "-7"), ("1.5", "1"), ("0", "abc"), (str(2**70), "1")]
)
def test_bad_offsets_and_lengths(tree: tuple[FileRoots, Path], offset: str, length: str) -> None:
    roots, sb = tree
    with pytest.raises(BadRequest):
        files.read(roots, f"{sb}/stdout", offset, length)


def test_missing_and_wrong_kinds(tree: tuple[FileRoots, Path]) -> None:
    roots, sb = tree
    with pytest.raises(NotFound):
        files.read(roots, f"{sb}/nope", "0", "1")
    with pytest.raises(NotFound):
        files.browse(roots, f"{sb}/nope")
    with pytest.raises(NotFound):
        files.read(roots, f"{sb}/stdout/x", "0", "1")
    with pytest.raises(BadRequest):
        files.read(roots, str(sb), "0", "1")
    os.mkfifo(sb / "fifo")
    with pytest.raises(BadRequest):
        files.read(roots, f"{sb}/fifo", "0", "1")
    with pytest.raises(BadRequest):
        files.open_download(roots, f"{sb}/fifo")


@pytest.mark.parametrize("raw", [None, "", "relative/path", "/a\0b"])
def test_malformed_paths(tree: tuple[FileRoots, Path], raw: str | None) -> None:
    roots, _ = tree
    with pytest.raises(BadRequest):
        files.read(roots, raw, "0", "1")


def test_nothing_outside_the_root_is_reachable(tree: tuple[FileRoots, Path], tmp_path: Path) -> None:
    roots, sb = tree
    (sb / "out").symlink_to(tmp_path / "outside.txt")
    (sb / "outdir").symlink_to(tmp_path)
    (sb / "etc").symlink_to("/etc")
    for raw in [
        "/etc/passwd",
        str(tmp_path / "outside.txt"),
        f"{sb}/../../../../../../../../outside.txt",
        f"{sb}/{'../' * 30}etc/passwd",
        f"{sb}/out",
        f"{sb}/outdir/outside.txt",
        f"{sb}/etc/passwd",
        f"{roots.sandboxes_root}/..",
        "/",
    ]:
        with pytest.raises(Forbidden):
            files.read(roots, raw, "0", "100")
        with pytest.raises(Forbidden):
            files.browse(roots, raw)


def test_dot_dot_that_stays_inside_is_fine(tree: tuple[FileRoots, Path]) -> None:
    roots, sb = tree
    assert files.read(roots, f"{sb}/sub/../stdout", "0", "5")["data"] == "hello"
    assert files.read(roots, f"{sb}//stdout", "0", "5")["data"] == "hello"


def test_swapped_symlink_is_caught_after_opening(tree: tuple[FileRoots, Path], tmp_path: Path) -> None:
    """A path that resolved inside but whose opened file is outside (a symlink swapped in
    between) is refused by the /proc/self/fd check."""
    roots, sb = tree
    resolved = files.Resolved(shown=f"{sb}/x", real=str(tmp_path / "outside.txt"), root=roots.sandboxes_root)
    with pytest.raises(Forbidden):
        files.open_checked(resolved)


def test_virtual_log_file(tree: tuple[FileRoots, Path]) -> None:
    roots, _ = tree
    assert files.read(roots, "/slave/log", "0", "-1") == {"data": "log line\n", "offset": 0}
    assert files.read(roots, "/slave/./log", "-1", None) == {"data": "", "offset": 9}
    with pytest.raises(Forbidden):
        files.read(roots, "/slave/log/../../etc/passwd", "0", "1")
    no_log = FileRoots.make(roots.sandboxes_root)
    with pytest.raises(Forbidden):
        files.read(no_log, "/slave/log", "0", "1")


def test_browse_lists_entries_as_mesos_does(tree: tuple[FileRoots, Path]) -> None:
    roots, sb = tree
    (sb / "inside").symlink_to(sb / "stdout")
    (sb / "dangling").symlink_to(sb / "gone")
    (sb / "passwd").symlink_to("/etc/passwd")
    listing = files.browse(roots, f"{sb}/.")
    assert [e["path"] for e in listing] == sorted(
        f"{sb}/{n}" for n in ("stdout", "stderr", "sub", "inside", "dangling", "passwd"))
    by_name = {Path(e["path"]).name: e for e in listing}
    assert by_name["stdout"]["mode"].startswith("-rw")
    assert by_name["sub"]["mode"].startswith("d")
    assert by_name["inside"]["mode"].startswith("-") and by_name["inside"]["size"] == 12
    assert by_name["passwd"]["mode"].startswith("l")
    assert by_name["dangling"]["mode"].startswith("l")
    assert set(by_name["stdout"]) == {"path", "nlink", "size", "mtime", "mode", "uid", "gid"}
    assert isinstance(by_name["stdout"]["uid"], str) and isinstance(by_name["stdout"]["mtime"], int)
    assert files.browse(roots, f"{sb}/stdout") == [by_name["stdout"]]
    assert files.browse(roots, f"{sb}/sub/") == []


def test_download_and_debug(tree: tuple[FileRoots, Path]) -> None:
    roots, sb = tree
    fd, size, name = files.open_download(roots, f"{sb}/stdout")
    try:
        assert (size, name, os.read(fd, 100)) == (12, "stdout", b"hello\nworld\n")
    finally:
        os.close(fd)
    assert files.debug(roots, [str(sb)]) == {str(sb): str(sb), "/slave/log": roots.virtual["/slave/log"]}
