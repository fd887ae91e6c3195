"""`POST /api/v1/scheduler`: the Mesos v1 scheduler HTTP API (JSON).

Answers: SUBSCRIBE -> 200 chunked RecordIO stream with `Mesos-Stream-Id`; every other well-formed
call -> 202 with an empty body; a body that cannot be parsed or lacks its payload -> 400 with a
one-line message; a call for a framework that is not subscribed -> 403; a wrong or missing
`Mesos-Stream-Id` -> 400. Anything wrong with a call's *content* is answered on the stream.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from pydcos.core.http_cork import hold_answers
from pydcos.core.log import get_logger
from pydcos.mesos.master.service import MASTER, Master
from pydcos.mesos.master.streams import FrameworkStream
from pydcos.mesos.v1 import messages as v1

log = get_logger("pydcos.master.scheduler_api")

MAX_BODY = 64 * 1024 * 1024


def bad_request(message: str, status: int = 400) -> web.Response:
    log.event("scheduler_call_refused", status=status, reason=message)
    return web.Response(status=status, text=message, content_type="text/plain")


async def scheduler(request: web.Request) -> web.StreamResponse:
    master: Master = request.app[MASTER]
    content_type = request.headers.get("Content-Type", "application/json").lower()
    if "protobuf" in content_type:
        return bad_request("Only 'application/json' is supported by this master", 415)
    payload = request.content
    if payload.is_eof() and request.content_length is not None:
        # The whole body came with the headers (a call is small): take it without read()'s
        # chunk-by-chunk loop, which cost more than the decoding.
        body = payload.read_nowait()
        if len(body) > MAX_BODY:
            return bad_request(f"Request body is larger than {MAX_BODY} bytes", 413)
    else:
        body = await request.read()
    try:
        call = v1.CALL_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        return bad_request(f"Failed to validate scheduler::Call: {exc}")
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return bad_request(f"Failed to parse body into JSON: {exc}")
    problem = v1.call_problem(call)
    if problem is not None:
        return bad_request(f"Failed to validate scheduler::Call: {problem}")
    if call.type == "SUBSCRIBE":
        return await _subscribe(request, master, call)

    assert call.framework_id is not None
    hold_answers(request.transport)  # a burst of pipelined calls is answered in one segment
    framework_id = call.framework_id.value
    fw = master.state.frameworks.get(framework_id)
    if fw is None or not fw.connected:
        return bad_request("Framework cannot be found or is not subscribed", 403)
    stream_id = request.headers.get("Mesos-Stream-Id")
    if stream_id is None:
        return bad_request("All non-subscribe calls should include the 'Mesos-Stream-Id' header")
    if stream_id != fw.stream_id:
        return bad_request(
            f"The stream ID '{stream_id}' included in this request didn't match the stream ID "
            f"currently associated with framework ID {framework_id}"
        )
    if call.type == "ACKNOWLEDGE" and not _valid_uuid(call.acknowledge.uuid if call.acknowledge else ""):
        return bad_request("Failed to validate scheduler::Call: 'uuid' is not a valid base64 16-byte UUID")
    master.call(framework_id, call)
    return web.Response(status=202)


def _valid_uuid(value: str) -> bool:
    import base64
    import binascii

    try:
        return len(base64.b64decode(value, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


async def _subscribe(request: web.Request, master: Master, call: v1.Call) -> web.StreamResponse:
    assert call.subscribe is not None
    info = call.subscribe.framework_info
    framework_id = call.framework_id.value if call.framework_id else None
    if info.id is not None and framework_id is not None and info.id.value != framework_id:
        return bad_request("'framework_id' differs from 'subscribe.framework_info.id'")
    if info.id is not None and framework_id is None:
        framework_id = info.id.value
    if info.failover_timeout < 0 or info.failover_timeout != info.failover_timeout:
        return bad_request("'failover_timeout' must be a non-negative number")
    stream_id = master.new_stream_id()
    response = web.StreamResponse(status=200, headers={"Mesos-Stream-Id": stream_id})
    response.content_type = "application/json"
    response.enable_chunked_encoding()
    await response.prepare(request)
    stream = FrameworkStream(framework_id or "", stream_id, response, master.config.heartbeat_interval)
    subscribed = master.subscribe(info, framework_id, stream)
    if subscribed is None:
        stream.send(v1.Event(type="ERROR", error=v1.Error("Framework has been removed")))
        stream.close()
    try:
        await stream.run()
    finally:
        if subscribed is not None:
            master.stream_ended(stream)
    return response
