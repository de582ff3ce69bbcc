"""Helpers that read loosely typed JSON values from farm services."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from .exceptions import PrintFarmInvalidResponseError

# Epoch numbers above this are milliseconds, not seconds (year 33658 in seconds)
MILLISECONDS_THRESHOLD = 1e12


def as_str(value: Any) -> str | None:
    """Return a string, a number as text, or None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def nonempty_str(value: Any) -> str | None:
    """Return a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def as_float(value: Any) -> float | None:
    """Return a number (also from numeric text), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_int(value: Any) -> int | None:
    """Return a whole number (rounded), or None."""
    number = as_float(value)
    if number is None or not math.isfinite(number):
        return None
    return round(number)


def as_bool(value: Any) -> bool | None:
    """Return a boolean (also from true/false text), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_datetime(value: Any) -> datetime | None:
    """Return an aware datetime from ISO-8601 text or epoch seconds (or milliseconds)."""
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    number = as_float(value) if not isinstance(value, str) else None
    if number is None or number <= 0:
        return None
    if number > MILLISECONDS_THRESHOLD:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def lookup_word[T](word: Any, words: Mapping[str, T], default: T) -> T:
    """Return what a word (in any case) stands for, or the default for an unknown one."""
    key = as_str(word)
    return words.get(key.lower(), default) if key else default


def as_mapping(value: Any) -> Mapping[str, Any]:
    """Return the value if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """Return the value if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def str_list(value: Any) -> tuple[str, ...]:
    """Return the strings of a JSON array."""
    return tuple(item for item in as_list(value) if isinstance(item, str))


def require_object(value: Any, what: str) -> Mapping[str, Any]:
    """Return a JSON object, or raise when the service sent something else."""
    if not isinstance(value, Mapping):
        msg = f"Expected {what} to be a JSON object, got {type(value).__name__}"
        raise PrintFarmInvalidResponseError(msg)
    return value


def require_list(value: Any, what: str) -> list[Any]:
    """Return a JSON array, or raise when the service sent something else."""
    if not isinstance(value, list):
        msg = f"Expected {what} to be a JSON array, got {type(value).__name__}"
        raise PrintFarmInvalidResponseError(msg)
    return value


def require_id(item: Mapping[str, Any], what: str) -> str:
    """Return the id of an object, or raise when it has none."""
    if (value := as_str(item.get("id"))) is None or not value:
        msg = f"The service sent {what} without an id"
        raise PrintFarmInvalidResponseError(msg)
    return value


def decode_json(payload: bytes | str) -> Any:
    """Return the JSON value of a payload; raise ValueError if it is not JSON.

    orjson decodes pushed messages several times faster than `json`. What it refuses but
    `json` takes (NaN, integers beyond 64 bits) is still decoded, by `json`.
    """
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)
