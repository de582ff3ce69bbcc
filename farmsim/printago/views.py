"""Helpers for list, search and bulk-action handlers of the Printago face."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from farmsim.world import SimError

from .common import from_sim_error, read_body
from .query import Query, parse_params, parse_search, run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from .query import Entity


def _visible(query: Query, items: Sequence[Entity], hidden_field: str | None) -> list[Entity]:
    """Leave out hidden entities unless the query asks about them."""
    if hidden_field is None or hidden_field in query.mentions:
        return list(items)
    return [item for item in items if not item.get(hidden_field)]


def list_response(
    request: web.Request,
    items: Sequence[Entity],
    fields: frozenset[str],
    *,
    hidden_field: str | None = None,
) -> web.Response:
    """Answer a GET list: a bare array, or a `SearchResponse` with `meta=true`."""
    started = time.perf_counter()
    query = parse_params(request.query.items(), fields)
    return web.json_response(run(query, _visible(query, items, hidden_field), started=started))


async def search_response(
    request: web.Request,
    items: Callable[[], Sequence[Entity]],
    fields: frozenset[str],
    *,
    hidden_field: str | None = None,
) -> web.Response:
    """Answer a POST search with a `SearchQueryDto` body: 201 and a `SearchResponse`."""
    started = time.perf_counter()
    query = parse_search(await read_body(request), fields)
    result = run(query, _visible(query, items(), hidden_field), started=started)
    return web.json_response(result, status=201)


def unique[T](values: Iterable[T]) -> list[T]:
    """Return values without repeats, in their first order."""
    return list(dict.fromkeys(values))


def apply_each[T](targets: Sequence[T], action: Callable[[T], object]) -> list[T]:
    """Apply a world action to each target; fail only when every target was refused."""
    done: list[T] = []
    refused: list[SimError] = []
    for target in targets:
        try:
            action(target)
        except SimError as err:
            refused.append(err)
        else:
            done.append(target)
    if refused and not done:
        raise from_sim_error(refused[0])
    return done


def json_list(values: Iterable[object], *, status: int = 200) -> web.Response:
    """Answer with a JSON array."""
    return web.json_response(list(values), status=status)
