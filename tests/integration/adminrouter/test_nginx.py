"""The nginx shell: every rendering passes `nginx -t`, a refused file never replaces the live one,
and a dead nginx is started again."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from ar_env import RouterEnv

from pydcos.adminrouter.errors import NginxConfigInvalid
from pydcos.adminrouter.nginx import Nginx
from pydcos.adminrouter.render import NginxLayout, RenderedConfig, render
from pydcos.cluster import processes
from pydcos.core.waiting import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "adminrouter"))
from render_cases import VIEWS, config  # noqa: E402


@pytest.mark.parametrize("case", sorted(VIEWS))
async def test_every_rendering_passes_nginx_t(case: str, tmp_path: Path) -> None:
    cfg = config(work_dir=tmp_path / "adminrouter", ip="127.0.0.1", port=18999)  # nginx -t binds
    nginx = Nginx(NginxLayout.of(cfg))
    assert await nginx.install(render(cfg, VIEWS[case], cluster_id="c")) is True
    assert await nginx.install(render(cfg, VIEWS[case], cluster_id="c")) is False  # unchanged: nothing to do
    assert NginxLayout.of(cfg).conf.read_text().startswith("# Rendered by pydcos")


async def test_a_refused_file_leaves_the_live_one(tmp_path: Path) -> None:
    cfg = config(work_dir=tmp_path / "adminrouter", ip="127.0.0.1", port=18999)  # nginx -t binds
    nginx = Nginx(NginxLayout.of(cfg))
    good = render(cfg, VIEWS["cluster"], cluster_id="c")
    await nginx.install(good)
    with pytest.raises(NginxConfigInvalid) as info:
        await nginx.install(RenderedConfig(text=good.text.replace("events {", "events {{"), static_files={}))
    assert "nginx" in info.value.output
    assert NginxLayout.of(cfg).conf.read_text() == good.text


async def test_dead_nginx_is_started_again(env: RouterEnv) -> None:
    token = await env.login()
    old = env.router.nginx.pid
    assert old is not None
    workers = [int(p) for p in Path(f"/proc/{old}/task/{old}/children").read_text().split()]  # noqa: ASYNC240
    assert workers
    os.kill(old, signal.SIGKILL)
    await wait_until(lambda: env.router.nginx.running and env.router.nginx.pid != old, timeout=10,
                     what="nginx started again")  # fmt: skip
    # The old workers (which would keep the old sockets) are gone, not orphaned.
    await wait_until(lambda: not any(processes.is_alive(w) for w in workers), timeout=10, what="old workers gone")

    async def serving() -> bool:
        try:
            return (await env.get("/marathon/v2/info", token))[0] == 200
        except OSError:
            return False

    await wait_until(serving, timeout=10, what="requests served by the new nginx")
