"""Response envelopes, errors and list helpers of the AutoPrintFarm API."""

from __future__ import annotations

import json
import logging
import math
import re
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NoReturn

from aiohttp import web

from farmsim.world import InvalidStateError, NotFoundError, SimError

from .formats import BOOLEAN_VALUES, INTEGER, NUMBER, TIME, list_pattern, sort_pattern

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from aiohttp.typedefs import Middleware

    from .state import Handler

LOGGER = logging.getLogger(__name__)

MAX_PER_PAGE = 100
FEBRUARY = 2
DEFAULT_PER_PAGE = 20

type Item = dict[str, Any]


class ApiError(Exception):
    """An error answered with the API's error envelope."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        """Initialize the error."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def iso(timestamp: float | None) -> str | None:
    """Return epoch seconds as an ISO-8601 UTC string."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str, field: str) -> float:
    """Return epoch seconds from epoch seconds or an ISO-8601 date or date-time (UTC by default).

    A day past the end of its month rolls over into the next month, so every value the
    pattern allows is a time.
    """
    match = TIME.fullmatch(value)
    if match is None:
        msg = f"{field} must be an ISO-8601 date or date-time, or epoch seconds"
        raise ApiError(400, "invalid_request", "Invalid query parameter", msg)
    if match["year"] is None:
        return float(value)
    days = _days_from_civil(int(match["year"]), int(match["month"]), 1) + int(match["day"]) - 1
    seconds = float(match["second"] or 0)
    seconds += int(match["hour"] or 0) * 3600 + int(match["minute"] or 0) * 60
    if match["sign"] is not None:
        offset = int(match["zone_hour"]) * 3600 + int(match["zone_minute"]) * 60
        seconds -= offset if match["sign"] == "+" else -offset
    return days * 86400 + seconds


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Return the days from 1970-01-01 to a date of the proleptic Gregorian calendar."""
    # Years start in March here, so that a leap day ends its year
    if month <= FEBRUARY:
        year -= 1
    march_based = (month + 9) % 12
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * march_based + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def dumps(payload: Any) -> str:
    """Return compact JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def ok(data: Any, *, status: int = 200) -> web.Response:
    """Return a success envelope."""
    return web.json_response({"success": True, "data": data}, status=status, dumps=dumps)


def is_success(status: int) -> bool:
    """Return whether an HTTP status is a 2xx success."""
    return HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES


def error_response(
    status: int, code: str, message: str, details: str | None = None
) -> web.Response:
    """Return an error envelope."""
    error = {"code": code, "message": message, "details": details or message}
    return web.json_response({"success": False, "error": error}, status=status, dumps=dumps)


def fault_error(status: int, code: str, message: str) -> web.StreamResponse:
    """Return the error envelope for a fault injected by the fault middleware."""
    return error_response(status, code, message)


NOT_FOUND_CODES = {
    "printer_not_found": "invalid_printer",
    "job_not_found": "invalid_job",
    "material_not_found": "invalid_material",
    "tray_not_found": "invalid_tray",
}


def from_sim_error(err: SimError) -> ApiError:
    """Return the API error for an error of the world."""
    if isinstance(err, NotFoundError):
        return ApiError(404, NOT_FOUND_CODES.get(err.code, "not_found"), err.message, err.details)
    if isinstance(err, InvalidStateError):
        return ApiError(409, "invalid_state", err.message, err.details)
    return ApiError(400, "invalid_request", err.message, err.details)


def errors_middleware() -> Middleware:
    """Return a middleware that answers every error with the error envelope."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(err.status, err.code, err.message, err.details)
        except SimError as err:
            api = from_sim_error(err)
            return error_response(api.status, api.code, api.message, api.details)
        except web.HTTPException as err:
            return _http_error(request, err)
        except Exception:
            LOGGER.exception("Unexpected error on %s %s", request.method, request.path)
            return error_response(
                500, "internal_error", "Internal server error", "An unexpected error occurred"
            )

    return middleware


def _http_error(request: web.Request, err: web.HTTPException) -> web.Response:
    if err.status == HTTPStatus.NOT_FOUND:
        detail = f"No resource at {request.method} {request.path}"
        return error_response(404, "not_found", "Resource not found", detail)
    if isinstance(err, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(err.allowed_methods))
        detail = f"{request.method} is not allowed here; use {allowed}"
        response = error_response(405, "method_not_allowed", "Method not allowed", detail)
        response.headers["Allow"] = allowed
        return response
    return error_response(err.status, "http_error", err.reason, err.text or err.reason)


async def read_json(request: web.Request) -> dict[str, Any]:
    """Return the request's JSON object body, which every operation that reads one requires."""
    raw = await request.read()
    if not raw.strip():
        msg = "This request needs a JSON object body"
        raise ApiError(400, "invalid_request", "Missing request body", msg)
    try:
        body = json.loads(raw, parse_constant=_not_json)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
        msg = f"The request body is not valid JSON: {err}"
        raise ApiError(400, "invalid_json", "Malformed JSON body", msg) from None
    if not isinstance(body, dict):
        msg = "The request body must be a JSON object"
        raise ApiError(400, "invalid_request", "Invalid request body", msg)
    return body


def _not_json(constant: str) -> NoReturn:
    msg = f"{constant} is not a JSON value"
    raise ValueError(msg)


def reject(field: str, reason: str) -> NoReturn:
    """Raise a validation error naming the field."""
    raise ApiError(400, "invalid_request", "Invalid request", f"{field}: {reason}")


def page_params(query: Mapping[str, str]) -> tuple[int, int]:
    """Return the validated `page` and `per_page` query parameters."""
    page = _int_param(query, "page", 1, minimum=1)
    per_page = _int_param(query, "per_page", DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE)
    return page, per_page


def _int_param(
    query: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not INTEGER.fullmatch(raw):
        reject(name, "must be an integer")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
        reject(name, f"must be {bound}")
    return value


def number_param(
    query: Mapping[str, str], name: str, default: float, *, minimum: float, maximum: float
) -> float:
    """Return a decimal number query parameter within bounds."""
    raw = query.get(name)
    if raw is None:
        return default
    value = float(raw) if NUMBER.fullmatch(raw) else math.nan
    if not math.isfinite(value):
        reject(name, "must be a number")
    if not minimum <= value <= maximum:
        reject(name, f"must be between {minimum:g} and {maximum:g}")
    return value


def paginated(request: web.Request, items: Sequence[Item]) -> web.Response:
    """Return one page of items with the pagination block."""
    page, per_page = page_params(request.query)
    total = len(items)
    start = (page - 1) * per_page
    body = {
        "success": True,
        "data": list(items[start : start + per_page]),
        "pagination": {
            "page": page,
            "per_page": per_page,
            "total": total,
            "total_pages": math.ceil(total / per_page),
        },
    }
    return web.json_response(body, dumps=dumps)


def sort_items(
    items: list[Item],
    sort: str | None,
    allowed: Iterable[str],
    ranks: Mapping[str, Mapping[str, int]] | None = None,
) -> list[Item]:
    """Sort by comma-separated fields, `-` for descending; missing values go last."""
    if sort is None:
        return items
    fields = tuple(allowed)
    if not re.fullmatch(sort_pattern(fields), sort):
        msg = (
            f"Cannot sort by '{sort}'; use comma-separated fields, each with `-` for descending, "
            f"of {', '.join(sorted(fields))}"
        )
        raise ApiError(400, "invalid_sort", "Invalid sort field", msg)
    if not sort:
        return items
    keys = [(part.removeprefix("-"), part.startswith("-")) for part in sort.split(",")]
    result = list(items)
    for name, descending in reversed(keys):
        rank = (ranks or {}).get(name)
        result.sort(key=_sort_key(name, rank, descending=descending), reverse=descending)
    return result


def _sort_key(
    name: str, rank: Mapping[str, int] | None, *, descending: bool
) -> Callable[[Item], tuple[bool, Any]]:
    def key(item: Item) -> tuple[bool, Any]:
        value = item.get(name)
        if rank is not None:
            value = rank.get(value) if isinstance(value, str) else None
        elif isinstance(value, str):
            value = value.lower()
        missing = value is None
        return (not missing, value) if descending else (missing, value)

    return key


def csv_values(query: Mapping[str, str], name: str, allowed: Iterable[str]) -> set[str] | None:
    """Return the comma-separated values of a filter (None when absent or empty)."""
    raw = query.get(name)
    if raw is None:
        return None
    known = tuple(allowed)
    if not re.fullmatch(list_pattern(known), raw):
        msg = f"must be comma-separated values of {', '.join(sorted(known))}"
        reject(name, msg)
    return set(raw.split(",")) if raw else None


def bool_param(query: Mapping[str, str], name: str) -> bool | None:
    """Return a true/false query parameter."""
    raw = query.get(name)
    if raw is None:
        return None
    if raw not in BOOLEAN_VALUES:
        reject(name, "must be true or false")
    return raw == "true"


PERIODS = {"day": 86400.0, "week": 7 * 86400.0, "month": 30 * 86400.0, "all": None}


def period_window(
    query: Mapping[str, str], now: float, default: str = "all"
) -> tuple[str, float | None]:
    """Return the `period` query parameter and the start of its window (None for all time)."""
    period = query.get("period", default)
    if period not in PERIODS:
        reject("period", f"must be one of {', '.join(PERIODS)}")
    length = PERIODS[period]
    return period, (now - length) if length is not None else None
