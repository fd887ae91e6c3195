"""A bug in a master route is answered 500, logged and counted; the master keeps serving."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from pydcos.mesos.master import operator_api
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master


async def test_a_failing_handler_is_a_500_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(operator_api, "version", broken)
    async with Master(MasterConfig(ip="127.0.0.1", port=0)) as master, aiohttp.ClientSession() as http:
        async with http.get(master.url + "/version") as response:
            assert response.status == 500
            assert "Internal error" in await response.text()
        assert master.unhandled_errors == 1
        async with http.get(master.url + "/health") as response:  # still serving
            assert response.status == 200
        async with http.get(master.url + "/no/such/route") as response:  # not a bug: not counted
            assert response.status == 404
        assert master.unhandled_errors == 1
