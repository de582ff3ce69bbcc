"""Shared pieces of farmsim's Printago face: app keys, NestJS errors and request bodies."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from farmsim.context import SimContext

if TYPE_CHECKING:
    from collections.abc import Mapping

    from farmsim.world import SimError

    from .realtime import Realtime

type JsonObject = dict[str, Any]

CTX_KEY: Final = web.AppKey("printago_ctx", SimContext)
REALTIME_KEY: Final[web.AppKey[Realtime | None]] = web.AppKey("printago_realtime")

PRIORITY_NORMAL: Final = 100
PRIORITY_LOW: Final = 1000
JSON_TYPE_MESSAGE: Final = 'Request body type is not "application/json".'


class PrintagoError(Exception):
    """An error answered with NestJS's `{statusCode, message, error}` body."""

    def __init__(
        self, status: int, message: str | list[str], headers: Mapping[str, str] | None = None
    ) -> None:
        """Initialize the error."""
        super().__init__(message if isinstance(message, str) else "; ".join(message))
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def bad_request(*messages: str) -> PrintagoError:
    """Return a 400 error with class-validator style messages."""
    return PrintagoError(400, list(messages))


def not_found(what: str) -> PrintagoError:
    """Return a 404 error for a missing entity."""
    return PrintagoError(404, f"{what} not found")


def from_sim_error(err: SimError) -> PrintagoError:
    """Return the NestJS error for a world refusal."""
    return PrintagoError(err.status, err.details or err.message)


def error_body(status: int, message: str | list[str]) -> JsonObject:
    """Return NestJS's error body."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"statusCode": status, "message": message, "error": phrase}


def error_response(
    status: int, message: str | list[str], headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return a NestJS error response."""
    return web.json_response(error_body(status, message), status=status, headers=headers)


def fault_error(status: int, _code: str, message: str) -> web.StreamResponse:
    """Build the response of an injected fault (for `fault_middleware`)."""
    return error_response(status, message)


def ctx_of(request: web.Request) -> SimContext:
    """Return the farmsim context of a request."""
    return request.app[CTX_KEY]


async def read_body(request: web.Request) -> JsonObject:
    """Return the JSON object body of a request, refused as Nestia's TypedBody would."""
    if request.content_type != "application/json":
        raise PrintagoError(400, JSON_TYPE_MESSAGE)
    try:
        data = json.loads(await request.text())
    except ValueError as err:
        msg = f"Request body is not valid JSON: {err}"
        raise PrintagoError(400, msg) from err
    if not isinstance(data, dict):
        msg_0 = "Request body must be an object"
        raise bad_request(msg_0)
    return data


def id_list(body: Mapping[str, object], name: str) -> list[str]:
    """Return a required non-empty list of ids from a body."""
    value = body.get(name)
    if not isinstance(value, list) or not value:
        msg = f"{name} must be a non-empty array"
        raise bad_request(msg)
    if not all(isinstance(item, str) and item for item in value):
        msg = f"each value in {name} must be a string"
        raise bad_request(msg)
    return [str(item) for item in value]


def boolean(body: Mapping[str, object], name: str) -> bool:
    """Return a required boolean from a body."""
    value = body.get(name)
    if not isinstance(value, bool):
        msg = f"{name} must be a boolean value"
        raise bad_request(msg)
    return value


def optional_text(body: Mapping[str, object], name: str, *, max_length: int = 1024) -> str | None:
    """Return an optional string of 1..max_length characters from a body."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        msg = f"{name} must be a string of 1 to {max_length} characters"
        raise bad_request(msg)
    return value


def priority_value(value: object, name: str = "priority") -> int:
    """Return the world priority of a Printago priority (100 normal, 1000 low)."""
    if value == PRIORITY_NORMAL and not isinstance(value, bool):
        return 1
    if value == PRIORITY_LOW and not isinstance(value, bool):
        return 0
    msg = f"{name} must be one of the following values: 100, 1000"
    raise bad_request(msg)


def printago_priority(priority: int) -> int:
    """Return the Printago priority of a world priority."""
    return PRIORITY_NORMAL if priority >= 1 else PRIORITY_LOW
