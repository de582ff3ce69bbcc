"""Printago list queries: field filters with operators, sort, limit/offset, projection, meta."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from .common import JsonObject, bad_request

type Entity = Mapping[str, object]
type Predicate = Callable[[Entity], bool]

RESERVED: Final = frozenset({"sort", "limit", "offset", "fields", "include", "meta", "hints"})
ISO_MIN_LENGTH: Final = 10
RANGE_SIZE: Final = 2
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
TRUE_WORDS: Final = frozenset({"true", "1", "yes"})
FALSE_WORDS: Final = frozenset({"false", "0", "no"})


def _always(_: Entity) -> bool:
    """Accept every entity."""
    return True


@dataclass(kw_only=True)
class Query:
    """A parsed list query."""

    predicate: Predicate = _always
    sort: list[tuple[str, bool]] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    fields: list[str] | None = None
    meta: bool = False
    hints: bool = False
    mentions: set[str] = field(default_factory=set)


# Values


def _as_bool(value: object) -> bool | None:
    """Return a boolean read from a query value, or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def _as_number(value: object) -> float | None:
    """Return a number read from a query value, or None."""
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


def _as_time(value: object) -> float | None:
    """Return the epoch time of an ISO-8601 string, or None."""
    if isinstance(value, str) and len(value) >= ISO_MIN_LENGTH and value[4:5] == "-":
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def _equal(value: object, arg: object) -> bool:
    """Return whether a field value equals a query value."""
    if isinstance(value, list):
        return any(_equal(item, arg) for item in value)
    if value is None:
        return arg is None or (isinstance(arg, str) and arg.lower() == "null")
    if isinstance(value, bool):
        return _as_bool(arg) is value
    if isinstance(value, int | float):
        return _as_number(arg) == float(value)
    if isinstance(arg, bool):
        arg = str(arg).lower()
    return isinstance(value, str) and value == (arg if isinstance(arg, str) else str(arg))


def _order[T: (float, str)](left: T, right: T) -> int:
    """Return -1, 0 or 1 as left is below, at or above right."""
    return (left > right) - (left < right)


def _compare(value: object, arg: object) -> int | None:
    """Return -1, 0 or 1 as value is below, at or above arg; None when incomparable."""
    right: float | None
    if isinstance(value, int | float) and not isinstance(value, bool):
        right = _as_number(arg)
        return None if right is None else _order(float(value), right)
    if (moment := _as_time(value)) is not None:
        right = _as_time(arg)
        if right is None and (millis := _as_number(arg)) is not None:
            right = millis / 1000
        return None if right is None else _order(moment, right)
    if isinstance(value, str) and isinstance(arg, str):
        return _order(value, arg)
    return None


def _text(value: object, arg: object, test: Callable[[str, str], bool]) -> bool:
    """Apply a case-insensitive string test (to any element of a list)."""
    if isinstance(value, list):
        return any(_text(item, arg, test) for item in value)
    if value is None or arg is None:
        return False
    return test(str(value).lower(), str(arg).lower())


def _listed(arg: object) -> list[object]:
    """Return the values of a comma list or JSON array."""
    if isinstance(arg, list):
        return list(arg)
    if isinstance(arg, str):
        return [part.strip() for part in arg.split(",")] if arg else []
    return [arg]


def _between(value: object, arg: object) -> bool:
    """Return whether a value lies within an inclusive range."""
    low, high = _listed(arg)
    above, below = _compare(value, low), _compare(value, high)
    return above is not None and below is not None and above >= 0 >= below


def _ordered(test: Callable[[int], bool]) -> Callable[[object, object], bool]:
    """Return a comparison operator from a test on the order."""

    def check(value: object, arg: object) -> bool:
        """Compare the value with the argument."""
        order = _compare(value, arg)
        return order is not None and test(order)

    return check


TESTS: Final[dict[str, Callable[[object, object], bool]]] = {
    "isNull": lambda value, arg: (value is None) is bool(_as_bool(arg)),
    "eq": _equal,
    "ne": lambda value, arg: not _equal(value, arg),
    "contains": lambda value, arg: _text(value, arg, lambda v, a: a in v),
    "startsWith": lambda value, arg: _text(value, arg, str.startswith),
    "endsWith": lambda value, arg: _text(value, arg, str.endswith),
    "in": lambda value, arg: any(_equal(value, item) for item in _listed(arg)),
    "notIn": lambda value, arg: not any(_equal(value, item) for item in _listed(arg)),
    "between": _between,
    "gt": _ordered(lambda order: order > 0),
    "gte": _ordered(lambda order: order >= 0),
    "lt": _ordered(lambda order: order < 0),
    "lte": _ordered(lambda order: order <= 0),
}


def matches(value: object, op: str, arg: object) -> bool:
    """Return whether a field value satisfies one operator."""
    return TESTS[op](value, arg)


# Parsing


def _condition(name: str, op: str, arg: object, fields: frozenset[str]) -> Predicate:
    """Return the predicate of one field condition."""
    if name not in fields:
        msg = f"Unknown field: {name}"
        raise bad_request(msg)
    if op not in TESTS:
        msg = f"Unknown operator {op} for field {name}"
        raise bad_request(msg)
    if op == "between" and len(_listed(arg)) != RANGE_SIZE:
        msg = f"{name}.between needs two values"
        raise bad_request(msg)
    return lambda entity: matches(entity.get(name), op, arg)


def _all(predicates: Sequence[Predicate]) -> Predicate:
    """Return a predicate true when every predicate is."""
    return lambda entity: all(predicate(entity) for predicate in predicates)


def _any(predicates: Sequence[Predicate]) -> Predicate:
    """Return a predicate true when any predicate is."""
    return lambda entity: any(predicate(entity) for predicate in predicates)


def _integer(raw: object, name: str, low: int, high: int | None = None) -> int:
    """Return a validated integer option."""
    value = _as_number(raw)
    if value is None or value != int(value):
        msg = f"{name} must be an integer number"
        raise bad_request(msg)
    if value < low:
        msg = f"{name} must not be less than {low}"
        raise bad_request(msg)
    if high is not None and value > high:
        msg = f"{name} must not be greater than {high}"
        raise bad_request(msg)
    return int(value)


def _sort(raw: object, fields: frozenset[str]) -> list[tuple[str, bool]]:
    """Return the (field, descending) keys of a sort option."""
    if not isinstance(raw, str):
        msg = "sort must be a string"
        raise bad_request(msg)
    keys: list[tuple[str, bool]] = []
    for part in filter(None, (piece.strip() for piece in raw.split(","))):
        name, _, direction = part.partition(":")
        if name not in fields:
            msg = f"Unknown sort field: {name}"
            raise bad_request(msg)
        if direction.lower() not in ("", "asc", "desc"):
            msg = f"Sort direction must be asc or desc, not {direction}"
            raise bad_request(msg)
        keys.append((name, direction.lower() == "desc"))
    return keys


def _projection(raw: object, fields: frozenset[str]) -> list[str]:
    """Return the field names of a fields option."""
    if not isinstance(raw, str):
        msg = "fields must be a string"
        raise bad_request(msg)
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if unknown := [name for name in names if name not in fields]:
        raise bad_request(*(f"Unknown field: {name}" for name in unknown))
    return names


def _apply_common(query: Query, options: Mapping[str, object], fields: frozenset[str]) -> None:
    """Apply sort, limit, offset, fields, meta and hints."""
    if (raw := options.get("sort")) is not None:
        query.sort = _sort(raw, fields)
    if (raw := options.get("limit")) is not None:
        query.limit = _integer(raw, "limit", 1, MAX_LIMIT)
    if (raw := options.get("offset")) is not None:
        query.offset = _integer(raw, "offset", 0)
    if (raw := options.get("fields")) is not None:
        query.fields = _projection(raw, fields)
    query.hints = bool(_as_bool(options.get("hints")))
    query.meta = bool(_as_bool(options.get("meta"))) or query.hints


def parse_params(params: Iterable[tuple[str, str]], fields: frozenset[str]) -> Query:
    """Parse a GET list query string (`field=value`, `field.op=value`, sort, limit, ...)."""
    query = Query()
    options: dict[str, object] = {}
    predicates: list[Predicate] = []
    for key, value in params:
        if key in RESERVED:
            options[key] = value
            continue
        name, op = key, "eq"
        if "." in key:
            head, _, tail = key.rpartition(".")
            if tail in TESTS:
                name, op = head, tail
        query.mentions.add(name)
        predicates.append(_condition(name, op, value, fields))
    _apply_common(query, options, fields)
    query.predicate = _all(predicates)
    return query


def _compile(node: object, fields: frozenset[str], mentions: set[str]) -> Predicate:
    """Return the predicate of a search filter (and/or and field conditions)."""
    if not isinstance(node, dict):
        msg = "filter must be an object"
        raise bad_request(msg)
    predicates: list[Predicate] = []
    for key, value in node.items():
        if key in ("and", "or"):
            if not isinstance(value, list):
                msg = f"filter.{key} must be an array"
                raise bad_request(msg)
            children = [_compile(child, fields, mentions) for child in value]
            if key == "and":
                predicates.append(_all(children))
            else:
                predicates.append(_any(children))
            continue
        mentions.add(key)
        if isinstance(value, dict):
            if not value:
                msg = f"filter.{key} needs an operator"
                raise bad_request(msg)
            predicates.extend(_condition(key, op, arg, fields) for op, arg in value.items())
        else:
            predicates.append(_condition(key, "eq", value, fields))
    return _all(predicates)


def parse_search(body: JsonObject, fields: frozenset[str]) -> Query:
    """Parse a `SearchQueryDto` body (`filter` with and/or, sort, limit, offset, fields)."""
    query = Query()
    if (node := body.get("filter")) is not None:
        query.predicate = _compile(node, fields, query.mentions)
    _apply_common(query, body, fields)
    query.meta = True
    return query


# Running


def _sort_key(name: str) -> Callable[[Entity], tuple[bool, str | float]]:
    """Return a sort key for one field, nulls last."""

    def key(entity: Entity) -> tuple[bool, str | float]:
        """Return the key of one entity."""
        value = entity.get(name)
        if value is None:
            return (True, "")
        if isinstance(value, int | float):
            return (False, float(value))
        return (False, str(value).casefold())

    return key


def run(
    query: Query, items: Sequence[Entity], *, started: float | None = None
) -> list[Entity] | JsonObject:
    """Filter, sort and page entities; return a bare list or a `SearchResponse`."""
    started = time.perf_counter() if started is None else started
    selected = [item for item in items if query.predicate(item)]
    for name, descending in reversed(query.sort):
        selected.sort(key=_sort_key(name), reverse=descending)
    page = selected[query.offset : query.offset + query.limit]
    if query.fields is not None:
        page = [{name: item.get(name) for name in query.fields} for item in page]
    if not query.meta:
        return page
    response: JsonObject = {
        "data": page,
        "meta": {
            "total": len(selected),
            "count": len(page),
            "offset": query.offset,
            "limit": query.limit,
            "hasMore": query.offset + len(page) < len(selected),
            "executionTime": round((time.perf_counter() - started) * 1000, 3),
        },
    }
    if query.hints:
        response["hints"] = []
    return response
