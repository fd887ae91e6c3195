"""The fetcher: command and executor URIs fetched into the sandbox (http, file), extracted, made
executable, cached; every failure a TASK_FAILED with REASON_FETCHER_FAILED and its cause."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agent_fake_master import FakeMaster, run, sandbox_of
from aiohttp import web

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.errors import FetchFailed
from pydcos.mesos.agent.fetcher import Fetcher, extract
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.v1.messages import CommandInfo, CommandURI, ExecutorInfo, Id, TaskInfo, scalar

FRAMEWORK_ID = "fake-master-1-0000"


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


class Files:
    """An HTTP server for the fetcher to download from; counts hits, can hang a URL."""

    def __init__(self) -> None:
        self.content: dict[str, bytes] = {
            "tool.sh": b"#!/bin/sh\necho tool ran\n",
            "pkg.tar.gz": tar_bytes({"pkg/hello.txt": b"hello from tar\n"}),
            "pkg.tar.bz2": tar_bytes({"bz/hello.txt": b"bz2\n"}, "w:bz2"),
            "pkg.tar.xz": tar_bytes({"xz/hello.txt": b"xz\n"}, "w:xz"),
            "pkg.zip": zip_bytes({"zipped/hello.txt": b"hello from zip\n"}),
            "bad.tgz": b"this is not an archive",
            "evil.tar": tar_bytes({"../../escaped.txt": b"gotcha"}, "w"),
            "evil.zip": zip_bytes({"../escaped.txt": b"gotcha"}),
        }
        self.hits: dict[str, int] = {}
        self.release = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        if name == "hang":
            await self.release.wait()
        if name not in self.content:
            return web.Response(status=404, text="not here")
        return web.Response(body=self.content[name])


@pytest.fixture
async def files() -> AsyncIterator[Files]:
    served = Files()
    app = web.Application()
    app.router.add_get("/{name}", served.handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    served.url = f"http://{host}:{port}"
    yield served
    served.release.set()
    await runner.cleanup()


def found(root: str, name: str) -> list[Path]:
    return list(Path(root).rglob(name))


def task(task_id: str, command: str, *uris: CommandURI) -> TaskInfo:
    return TaskInfo(name=task_id, task_id=Id(task_id), resources=[scalar("cpus", 0.1), scalar("mem", 32)],
                    command=CommandInfo(value=command, uris=list(uris)))


async def test_uris_are_downloaded_extracted_and_made_executable(
    agent: Agent, master: FakeMaster, files: Files, tmp_path: Path
) -> None:
    local = tmp_path / "data.txt"
    local.write_text("local data\n")
    command = ("./tool.sh && cat pkg/hello.txt zipped/hello.txt bz/hello.txt xz/hello.txt sub/renamed.txt "
               "&& test -f pkg.tar.gz && test ! -x sub/renamed.txt")
    await master.send(run(task("fetch.1", command,
                               CommandURI(f"{files.url}/tool.sh", executable=True),
                               CommandURI(f"{files.url}/pkg.tar.gz"),
                               CommandURI(f"{files.url}/pkg.zip"),
                               CommandURI(f"{files.url}/pkg.tar.bz2"),
                               CommandURI(f"{files.url}/pkg.tar.xz"),
                               CommandURI(f"file://{local}", output_file="sub/renamed.txt"))))
    finished = await master.wait_status("fetch.1", "TASK_FINISHED")
    assert master.states("fetch.1") == ["TASK_RUNNING", "TASK_FINISHED"], finished
    out = (sandbox_of(agent, "fetch.1") / "stdout").read_text()
    assert out == "tool ran\nhello from tar\nhello from zip\nbz2\nxz\nlocal data\n"


async def test_extract_false_keeps_the_archive_as_it_is(agent: Agent, master: FakeMaster, files: Files) -> None:
    await master.send(run(task("raw.1", "test -f pkg.tar.gz && test ! -e pkg",
                               CommandURI(f"{files.url}/pkg.tar.gz", extract=False))))
    await master.wait_status("raw.1", "TASK_FINISHED")


@pytest.mark.parametrize(("uri", "cause"), [
    ("{url}/missing", "HTTP 404 Not Found"),
    ("file:///no/such/file.txt", "No such file or directory"),
    ("/no/such/plain/path", "No such file or directory"),
    ("{url}/bad.tgz", "not a readable tar archive"),
    ("{url}/evil.tar", "outside"),
    ("{url}/evil.zip", "outside the sandbox"),
    ("hdfs://namenode/x.tgz", "unsupported scheme 'hdfs'"),
    ("relative/path.txt", "a local path must be absolute"),
])
async def test_a_failed_fetch_fails_the_task_with_the_cause(
    agent: Agent, master: FakeMaster, files: Files, uri: str, cause: str
) -> None:
    uri = uri.format(url=files.url)
    await master.send(run(task("bad.1", "echo should not run", CommandURI(uri))))
    failed = await master.wait_status("bad.1", "TASK_FAILED")
    assert failed.reason == "REASON_FETCHER_FAILED"
    assert failed.message is not None and failed.message.startswith("Failed to") and cause in failed.message
    assert uri in failed.message or uri.rsplit("/", 1)[-1] in failed.message
    assert master.states("bad.1") == ["TASK_FAILED"]
    stderr = sandbox_of(agent, "bad.1") / "stderr"
    assert cause in stderr.read_text()
    assert not found(agent.config.work_dir, "escaped.txt")
    await wait_until(lambda: agent.updates.pending_count() == 0, what="acknowledged")


async def test_cached_uris_are_downloaded_once(agent: Agent, master: FakeMaster, files: Files) -> None:
    uri = CommandURI(f"{files.url}/tool.sh", executable=True, cache=True)
    await master.send(run(task("c.1", "./tool.sh", uri)))
    await master.wait_status("c.1", "TASK_FINISHED")
    await master.send(run(task("c.2", "./tool.sh", uri)))
    await master.wait_status("c.2", "TASK_FINISHED")
    assert files.hits["tool.sh"] == 1
    assert agent.tasks.fetcher.cache_hits == 1
    assert (sandbox_of(agent, "c.2") / "stdout").read_text() == "tool ran\n"
    assert len(found(agent.config.cache_dir, "tool.sh")) == 1


async def test_a_task_killed_while_fetching_is_killed_and_never_starts(
    agent: Agent, master: FakeMaster, files: Files
) -> None:
    await master.send(run(task("slow.1", "echo started > started.txt", CommandURI(f"{files.url}/hang"))))
    await wait_until(lambda: files.hits.get("hang"), what="fetch in progress")
    await master.send(internal.KillTask(FRAMEWORK_ID, "slow.1"))
    killed = await master.wait_status("slow.1", "TASK_KILLED")
    assert killed.message == "Killed while fetching its URIs"
    files.release.set()
    assert not (sandbox_of(agent, "slow.1") / "started.txt").exists()


async def test_a_download_that_takes_too_long_fails(make_agent: object, master: FakeMaster, files: Files) -> None:
    await make_agent(fetch_timeout_s=0.3)  # type: ignore[operator]
    await master.send(run(task("slow.2", "true", CommandURI(f"{files.url}/hang"))))
    failed = await master.wait_status("slow.2", "TASK_FAILED")
    assert failed.reason == "REASON_FETCHER_FAILED"
    assert failed.message == f"Failed to fetch '{files.url}/hang': timed out after 0.3s"


async def test_executor_uris_are_fetched_before_it_starts(agent: Agent, master: FakeMaster, files: Files) -> None:
    files.content["executor.sh"] = b"#!/bin/sh\nexit 7\n"
    executor = ExecutorInfo(executor_id=Id("fetched"), command=CommandInfo(
        value="./executor.sh", uris=[CommandURI(f"{files.url}/executor.sh", executable=True)]))
    await master.send(run(TaskInfo(name="e", task_id=Id("e.1"), executor=executor)))
    failed = await master.wait_status("e.1", "TASK_FAILED")
    assert failed.message == "Executor 'fetched' exited with status 7"  # it ran: it was fetched
    broken = ExecutorInfo(executor_id=Id("broken"), command=CommandInfo(
        value="./executor.sh", uris=[CommandURI(f"{files.url}/nope.sh")]))
    await master.send(run(TaskInfo(name="e", task_id=Id("e.2"), executor=broken)))
    failed = await master.wait_status("e.2", "TASK_FAILED")
    assert failed.reason == "REASON_FETCHER_FAILED" and failed.message is not None
    assert "HTTP 404" in failed.message


async def test_extraction_refuses_links_leading_out(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("innocent")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(link)
        payload = tarfile.TarInfo("innocent/passwd")
        payload.size = 3
        tar.addfile(payload, io.BytesIO(b"bad"))
    archive = tmp_path / "links.tar"
    archive.write_bytes(buf.getvalue())
    (tmp_path / "sb").mkdir()
    with pytest.raises(FetchFailed, match="Failed to extract"):
        await asyncio.to_thread(extract, str(archive), str(tmp_path / "sb"), "tar", "links.tar")


async def test_fetcher_alone(tmp_path: Path, files: Files) -> None:
    fetcher = Fetcher(timeout_s=5, cache_dir=str(tmp_path / "cache"))
    try:
        sandbox = tmp_path / "sb"
        await fetcher.fetch([CommandURI(f"{files.url}/pkg.zip", output_file="renamed.zip")], str(sandbox))
        assert (sandbox / "renamed.zip").exists() and (sandbox / "zipped" / "hello.txt").exists()
        assert not [p for p in os.listdir(sandbox) if ".part-" in p]
        with pytest.raises(FetchFailed, match="outside the sandbox"):
            await fetcher.fetch([CommandURI(f"{files.url}/pkg.zip", output_file="../x.zip")], str(sandbox))
    finally:
        await fetcher.close()
