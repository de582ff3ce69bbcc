"""Helpers that read loosely typed JSON values from farm services."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from .errors import PrintFarmInvalidResponseError

LOGGER = logging.getLogger(__name__)

# Lists of objects merged element by element, matched by their `id` (AMS units, trays, ...).
MERGE_BY_ID: Final = frozenset({"ams", "tray", "vir_slot", "info"})

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
    """Return a finite number (also from numeric text), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    """Return a whole number (rounded; also from numeric text), or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = as_float(value)
    return None if number is None else round(number)


def hex_color(value: Any) -> str | None:
    """Return "#RRGGBB" from "RRGGBB", "RRGGBBAA" or either with a leading "#".

    Of a multicolour filament's colours ("#RRGGBBAA;#RRGGBBAA"), the first.
    """
    text = (nonempty_str(value) or "").split(";", 1)[0].strip().lstrip("#")
    if len(text) not in (6, 8):
        return None
    try:
        int(text, 16)
    except ValueError:
        return None
    return f"#{text[:6].upper()}"


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


type Raw = Mapping[str, Any]

_MISSING: Final = object()


def _kind(value: Any) -> type:
    """Return the JSON kind of a value: object, array or scalar."""
    if isinstance(value, Mapping):
        return Mapping
    if isinstance(value, list):
        return list
    return object


def deep_merge(base: Raw, update: Raw, *, by_id: frozenset[str] = MERGE_BY_ID) -> dict[str, Any]:
    """Return `base` with `update` merged in: objects deeply, `by_id` lists by element `id`.

    Neither argument is changed. A value whose JSON kind (object, array, scalar) differs
    from the stored one is ignored, so a payload with wrong types cannot corrupt the state.
    """
    result = dict(base)
    for key, value in update.items():
        old = result.get(key, _MISSING)
        if old is _MISSING or old is None:
            result[key] = value
        elif _kind(old) is not _kind(value):
            LOGGER.debug("Ignoring %s: %r does not match the stored %r", key, value, old)
        elif isinstance(value, Mapping):
            result[key] = deep_merge(old, value, by_id=by_id)
        elif isinstance(value, list) and key in by_id and _all_have_id(value):
            result[key] = _merge_by_id(old, value, by_id=by_id)
        else:
            result[key] = value
    return result


def _all_have_id(elements: list[Any]) -> bool:
    """Return whether every element is an object with an `id`."""
    return all(isinstance(element, Mapping) and "id" in element for element in elements)


def _merge_by_id(old: list[Any], new: list[Any], *, by_id: frozenset[str]) -> list[Any]:
    """Return the elements of `old` updated by the elements of `new` with the same id."""
    merged = list(old)
    positions = {
        str(element["id"]): index
        for index, element in enumerate(merged)
        if isinstance(element, Mapping) and "id" in element
    }
    for element in new:
        key = str(element["id"])
        if (index := positions.get(key)) is None:
            positions[key] = len(merged)
            merged.append(element)
        else:
            merged[index] = deep_merge(merged[index], element, by_id=by_id)
    return merged
