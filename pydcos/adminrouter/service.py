"""Admin Router as one daemon: the identity service (aiohttp on ip:identity_port), nginx on ip:port,
and the watcher that re-renders nginx.conf when the cluster changes.

    async with AdminRouter(config) as router:      # store opened, identity listening, nginx started
        router.url, router.identity_url, router.nginx.pid

Start order: store (signing key, cluster id, users) -> identity HTTP -> first nginx.conf -> nginx
-> watcher. A changed view is rendered, tested with `nginx -t`, swapped in and reloaded with
SIGHUP (one change at a time); a configuration nginx refuses is logged and the running one kept.
If nginx dies it is started again after a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from pydcos.adminrouter.config import RouterConfig
from pydcos.adminrouter.errors import NginxConfigInvalid, NginxError
from pydcos.adminrouter.identity.api import make_app
from pydcos.adminrouter.identity.passwords import PasswordHasher
from pydcos.adminrouter.identity.service import Identity, IdentitySettings
from pydcos.adminrouter.identity.store import IdentityStore
from pydcos.adminrouter.nginx import Nginx
from pydcos.adminrouter.render import NginxLayout, render
from pydcos.adminrouter.view import ClusterView
from pydcos.adminrouter.watcher import ViewWatcher
from pydcos.core.log import get_logger
from pydcos.store.interface import Store
from pydcos.store.sqlite import SqliteStore

log = get_logger(__name__)

NGINX_RESTART_DELAY_S = 1.0


class AdminRouter:
    def __init__(
        self,
        config: RouterConfig,
        *,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self._given_store = store
        self._hasher = hasher
        self.store: Store | None = None
        self.identity: Identity | None = None
        self.nginx = Nginx(NginxLayout.of(config), binary=config.nginx_binary)
        self.watcher: ViewWatcher | None = None
        self.render_errors = 0
        self.last_render_error: str | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._apply_lock = asyncio.Lock()
        self._stopping = False

    @property
    def url(self) -> str:
        return self.config.url

    @property
    def identity_url(self) -> str:
        return f"http://{self.config.identity_address}"

    async def __aenter__(self) -> AdminRouter:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        cfg = self.config
        cfg.work_dir.mkdir(parents=True, exist_ok=True)
        self.store = self._given_store or await SqliteStore.open(cfg.work_dir / "identity.db")
        identity_store = await IdentityStore.open(self.store)
        settings = IdentitySettings(
            token_lifetime_s=cfg.token_lifetime_s,
            login_burst=cfg.login_burst,
            login_refill_s=cfg.login_refill_s,
            auth_cache_s=cfg.auth_cache_s,
        )
        self.identity = Identity(identity_store, settings, clock=self.clock, hasher=self._hasher)
        self._runner = web.AppRunner(make_app(self.identity, self.health), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.ip, cfg.identity_port, reuse_address=True, backlog=1024)
        await site.start()
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16))
        self.watcher = ViewWatcher(
            masters=cfg.masters,
            marathons=cfg.marathon,
            session=self._session,
            interval_s=cfg.poll_interval_s,
            timeout_s=cfg.upstream_timeout_s,
            on_change=self.apply,
        )
        # The first view before nginx starts, so agents are routable from its first request on.
        try:
            async with asyncio.timeout(cfg.upstream_timeout_s * 2):
                await self.watcher.poll_once()
        except TimeoutError:
            log.warning("first_view_late", masters=",".join(cfg.masters))
        await self.apply(self.watcher.view)
        await self.nginx.start()
        self._tasks.append(asyncio.create_task(self.watcher.run(), name="adminrouter-watcher"))
        self._tasks.append(asyncio.create_task(self._keep_nginx_running(), name="adminrouter-nginx"))
        log.event("adminrouter_started", url=self.url, identity=self.identity_url, nginx_pid=self.nginx.pid,
                  cluster_id=identity_store.cluster_id)

    async def apply(self, view: ClusterView) -> bool:
        """Render `view`, test it and swap it in; reload nginx if it runs. False when nothing
        changed or nginx refused the file (the running configuration then stays)."""
        assert self.identity is not None
        rendered = render(self.config, view, cluster_id=self.identity.store.cluster_id)
        async with self._apply_lock:
            try:
                changed = await self.nginx.install(rendered)
            except NginxConfigInvalid as exc:
                self.render_errors += 1
                self.last_render_error = exc.output[-2000:]
                log.warning("nginx_config_refused", output=exc.output[-500:])
                if not self.nginx.running and self.nginx.installed_text is None:
                    raise
                return False
            if changed and self.nginx.running:
                self.nginx.reload()
            return changed

    async def _keep_nginx_running(self) -> None:
        while not self._stopping:
            code = await self.nginx.wait()
            if self._stopping:
                return
            log.warning("nginx_exited", code=code)
            await asyncio.sleep(NGINX_RESTART_DELAY_S)
            try:
                await self.nginx.start()
            except NginxError as exc:
                log.warning("nginx_restart_failed", error=str(exc))

    def health(self) -> tuple[bool, dict[str, Any]]:
        watcher = self.watcher
        ready = bool(self.nginx.running and watcher is not None and watcher.ready)
        detail: dict[str, Any] = {
            "status": "ok" if ready else "starting",
            "nginx_pid": self.nginx.pid,
            "nginx_running": self.nginx.running,
            "reloads": self.nginx.reloads,
            "render_errors": self.render_errors,
            "leader": watcher.leader if watcher else None,
            "agents": len(watcher.view.agents) if watcher else 0,
            "services": [s.name for s in watcher.view.services] if watcher else [],
            "watcher_rounds": watcher.rounds if watcher else 0,
        }
        if self.identity is not None:
            detail["users"] = len(self.identity.store.users)
            detail["counters"] = dict(self.identity.counters)
        return ready, detail

    async def close(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.nginx.stop()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.store is not None and self._given_store is None:
            await self.store.close()
        log.event("adminrouter_stopped")
