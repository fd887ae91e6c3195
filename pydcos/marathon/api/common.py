"""Helpers every API module shares: JSON answers, errors, query booleans, body decoding."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from pydcos.marathon.core import MarathonCore
from pydcos.marathon.errors import InvalidInput, MalformedJson, MarathonError, Problem
from pydcos.marathon.planner import DeploymentPlan
from pydcos.marathon.service import SERVICE, Marathon
from pydcos.marathon.validation import problem_from_decode_error
from pydcos.marathon.wire import encode_json

T = TypeVar("T")
Params = dict[str, str]
Handler = Callable[[web.Request, Params], Awaitable[web.StreamResponse]]
MAX_BODY = 16 * 1024 * 1024


def service(request: web.Request) -> Marathon:
    return request.app[SERVICE]


def core(request: web.Request) -> MarathonCore:
    return request.app[SERVICE].core


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=encode_json(body), status=status, content_type="application/json", headers=headers)


def error_response(error: MarathonError) -> web.Response:
    return json_response(error.body(), status=error.status)


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    """Query booleans compared case-insensitively: marathon-python sends `force=False`."""
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes", "")


def decode(data: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """The body as `T`: MalformedJson (400) when not JSON, InvalidInput (422) when the wrong shape."""
    if not data.strip():
        raise MalformedJson("Invalid JSON: empty body")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        problem = problem_from_decode_error(exc)
        raise InvalidInput([problem], message=shape_error_message(problem)) from exc
    except msgspec.DecodeError as exc:
        raise MalformedJson(f"Invalid JSON: {exc}") from exc


def shape_error_message(problem: Problem) -> str:
    """The message of a 422 for JSON of the wrong shape. The dcos CLI shows only the message, so it
    names the path; and the CLI (0.4) sends every `key=value` property of `app update` as a string
    (`env={"A":"B"}` arrives as the string `https://{"A":"B"}`), which it is told how to avoid.

    >>> shape_error_message(Problem("/instances", ("Expected int, got str",)))
    'Invalid JSON at /instances: Expected int, got str'
    """
    error = "; ".join(problem.errors)
    message = f"Invalid JSON at {problem.path}: {error}"
    if error.endswith("got str") and ("object" in error or "array" in error):
        message += (" (an object or array sent as a string: the dcos CLI sends each key=value property "
                    "as a string, so send the JSON on stdin instead: dcos marathon app update <app-id> "
                    "< update.json)")
    return message


def deployment_result(plan: DeploymentPlan, status: int = 200) -> web.Response:
    return json_response({"deploymentId": plan.id, "version": plan.version}, status=status,
                         headers={"Marathon-Deployment-Id": plan.id})
