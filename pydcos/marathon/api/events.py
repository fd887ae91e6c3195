"""`GET /v2/events`: Server-Sent Events, one event per chunk, filtered by `event_type`."""

from __future__ import annotations

import contextlib

from aiohttp import web

from pydcos.marathon.api.common import Params, service
from pydcos.marathon.events import EVENT_TYPES


async def event_stream(request: web.Request, params: Params) -> web.StreamResponse:
    m = service(request)
    wanted = frozenset(t for t in request.query.getall("event_type", []) if t)
    types = (wanted & EVENT_TYPES) if wanted else None
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream",
                                                       "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    sub = m.bus.subscribe(types, request.remote or "", m.clock.wall())
    try:
        # An SSE comment right away: clients see the stream open before the first event.
        await response.write(b":\n\n")
        while (chunk := await sub.queue.get()) is not None:
            await response.write(chunk)
    except ConnectionResetError:
        return response  # the client went away
    finally:
        m.bus.unsubscribe(sub, m.clock.wall())
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await response.write_eof()
    return response
