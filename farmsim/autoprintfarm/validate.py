"""Checks of request body fields, each failure naming the field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .envelope import reject

if TYPE_CHECKING:
    from collections.abc import Iterable

MAX_TEXT = 200


def only(body: dict[str, Any], allowed: Iterable[str]) -> None:
    """Reject fields the endpoint does not know."""
    known = set(allowed)
    for name in body:
        if name not in known:
            reject(name, f"unknown field; allowed: {', '.join(sorted(known))}")


def text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """Return a non-empty string field."""
    value = body.get(name)
    if value is None:
        if required:
            reject(name, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        reject(name, "must be a non-empty string")
    if len(value) > MAX_TEXT:
        reject(name, f"must be at most {MAX_TEXT} characters")
    return value.strip()


def flag(body: dict[str, Any], name: str) -> bool | None:
    """Return a boolean field."""
    value = body.get(name)
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
    value = body.get(name)
    if value is None:
        if required:
            reject(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        reject(name, "must be a number")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f">= {minimum:g}"
        reject(name, f"must be {bound}")
    return float(value)


def choice(body: dict[str, Any], name: str, options: Iterable[str]) -> str | None:
    """Return a field that must be one of the options."""
    value = body.get(name)
    if value is None:
        return None
    allowed = list(options)
    if value not in allowed:
        reject(name, f"must be one of {', '.join(allowed)}")
    return str(value)


def url(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """Return an http or https URL field."""
    value = body.get(name)
    if value is None:
        if required:
            reject(name, "is required")
        return None
    if not isinstance(value, str):
        reject(name, "must be a string")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        reject(name, "must be an http or https URL")
    return value


def obj(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    """Return a JSON object field."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        reject(name, "must be an object")
    return value
