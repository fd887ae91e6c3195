"""Running Marathon's HTTP, HTTPS and TCP health probes (the IO half of health.py)."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from pydcos.marathon.health import Probe
from pydcos.marathon.http_probe import http_get


async def run_probe(session: aiohttp.ClientSession, probe: Probe) -> tuple[bool, str]:
    """(healthy, cause of failure). Never raises for a failing target."""
    try:
        async with asyncio.timeout(probe.timeout):
            if probe.protocol == "TCP":
                _, writer = await asyncio.open_connection(probe.host, probe.port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return True, ""
            scheme = "https" if probe.protocol == "HTTPS" else "http"
            url = f"{scheme}://{probe.host}:{probe.port}{probe.path}"
            status = (await http_get(session, url)).status
            if 200 <= status < 400 or (probe.ignore_http1xx and 100 <= status < 200):
                return True, ""
            return False, f"{probe.protocol} request to {url} answered {status}"
    except TimeoutError:
        return False, f"{probe.protocol} health check timed out after {probe.timeout:g}s"
    except (aiohttp.ClientError, OSError) as exc:
        return False, f"{probe.protocol} health check failed: {exc.__class__.__name__}: {exc}"
