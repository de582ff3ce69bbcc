"""Checks of request body fields, each failure naming the field.

A field that is absent is None to the handlers; a field sent as null is refused, as the
document allows null for none of them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .envelope import reject
from .formats import MAX_TEXT, TEXT, URL, WHITESPACE

if TYPE_CHECKING:
    from collections.abc import Iterable


def only(body: dict[str, Any], allowed: Iterable[str]) -> None:
    """Reject fields the endpoint does not know."""
    known = set(allowed)
    for name in body:
        if name not in known:
            reject(name, f"unknown field; allowed: {', '.join(sorted(known))}")


def value_of(body: dict[str, Any], name: str, *, required: bool = False) -> Any:
    """Return a field's value, None when absent; refuse null and a missing required field."""
    if name not in body:
        if required:
            reject(name, "is required")
        return None
    value = body[name]
    if value is None:
        reject(name, "must not be null")
    return value


def text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """Return a string field with something besides white space, trimmed."""
    value = value_of(body, name, required=required)
    if value is None:
        return None
    if not isinstance(value, str) or not TEXT.search(value):
        reject(name, "must be a string with a character other than white space")
    if len(value) > MAX_TEXT:
        reject(name, f"must be at most {MAX_TEXT} characters")
    return value.strip(WHITESPACE)


def flag(body: dict[str, Any], name: str) -> bool | None:
    """Return a boolean field."""
    value = value_of(body, name)
    if value is None:
        return None
    if not isinstance(value, bool):
        reject(name, "must be a boolean")
    return value


def number(
    body: dict[str, Any],
    name: str,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    required: bool = False,
) -> float | None:
    """Return a numeric field within bounds."""
    value = value_of(body, name, required=required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        reject(name, "must be a number")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        reject(name, "must be a finite number")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f">= {minimum:g}"
        reject(name, f"must be {bound}")
    return result


def choice(body: dict[str, Any], name: str, options: Iterable[str]) -> str | None:
    """Return a field that must be one of the options."""
    value = value_of(body, name)
    if value is None:
        return None
    allowed = list(options)
    if not isinstance(value, str) or value not in allowed:
        reject(name, f"must be one of {', '.join(allowed)}")
    return value


def url(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """Return an http or https URL field."""
    value = value_of(body, name, required=required)
    if value is None:
        return None
    if not isinstance(value, str) or not URL.fullmatch(value):
        reject(name, "must be an http or https URL with a host")
    return value


def obj(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    """Return a JSON object field."""
    value = value_of(body, name)
    if value is None:
        return None
    if not isinstance(value, dict):
        reject(name, "must be an object")
    return value
