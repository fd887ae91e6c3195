"""HTTP probes of a cluster's daemons: is it healthy, has an agent registered. Each probe answers
for one moment, and a daemon that does not answer in time simply is not up (yet)."""

from __future__ import annotations

from typing import Any

import aiohttp

PROBE_TIMEOUT_S = 2.0


def new_session() -> aiohttp.ClientSession:
    # No connection reuse: a daemon that restarts must not be probed on a dead keep-alive socket.
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S),
        connector=aiohttp.TCPConnector(force_close=True),
    )


async def is_healthy(http: aiohttp.ClientSession, health_url: str) -> bool:
    try:
        async with http.get(health_url) as response:
            return response.status == 200
    except (TimeoutError, aiohttp.ClientError):
        return False


async def agent_id(http: aiohttp.ClientSession, agent_url: str) -> str:
    """The agent's Mesos id from its `GET /state`; empty until it has registered with a master."""
    try:
        async with http.get(f"{agent_url}/state") as response:
            if response.status != 200:
                return ""
            state: Any = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return ""
    value = state.get("id") if isinstance(state, dict) else None
    return value if isinstance(value, str) else ""
