"""One HTTP GET against a task, the way Marathon probes it: health checks (health_probes.py) and
readiness checks (readiness_probes.py) share it. IO.

No redirects are followed and certificates are not verified (a task's HTTPS endpoint has no name
a certificate could be checked against). The caller holds the deadline:

    async with asyncio.timeout(probe.timeout):
        answer = await http_get(session, url)
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    content_type: str  # the media type alone ("text/plain"), "" when the answer had none
    body: str  # read only when asked for, up to the limit given


async def http_get(session: aiohttp.ClientSession, url: str, *, body_limit: int = 0) -> HttpAnswer:
    """GET `url`, reading at most `body_limit` bytes of the body. Raises aiohttp.ClientError or
    OSError when the target does not answer."""
    async with session.get(url, ssl=False, allow_redirects=False) as response:
        content_type = response.content_type if "Content-Type" in response.headers else ""
        body = b""
        if body_limit > 0:
            body = await response.content.read(body_limit)
        return HttpAnswer(response.status, content_type, body.decode("utf-8", "replace"))
