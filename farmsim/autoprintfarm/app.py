"""The aiohttp application of farmsim's AutoPrintFarm API v1."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aiohttp import web

from farmsim.http import fault_middleware

from . import analytics, jobs, keys, materials, printers, profiles, webhooks
from .auth import SERVICE, Auth, auth_middleware
from .delivery import WebhookHub
from .envelope import dumps, errors_middleware, fault_error
from .idempotency import IdempotencyStore
from .openapi import build_openapi
from .state import API_PREFIX, AUTH, CTX, HUB, IDEMPOTENCY, Route

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from farmsim.context import SimContext

OPENAPI_PATH = "/openapi.json"

ROUTES: tuple[Route, ...] = (
    *printers.ROUTES,
    *jobs.ROUTES,
    *profiles.ROUTES,
    *materials.ROUTES,
    *analytics.ROUTES,
    *webhooks.ROUTES,
    *keys.ROUTES,
)


async def openapi_document(_request: web.Request) -> web.Response:
    """Return the OpenAPI document of this API."""
    return web.json_response(build_openapi(), dumps=dumps)


def routed_path(path: str, paths: Iterable[str]) -> str:
    """Return a route path whose parameters never take a word that a sibling path has there.

    `/printers/groups` is a resource of its own, so `/printers/{printer_id}` must not match it:
    otherwise a PATCH to it would reach the printer's handler instead of a 405 answer, and
    its `Allow` header would list the methods of both resources.
    """
    segments = path.split("/")
    others = [other.split("/") for other in paths]
    for index, segment in enumerate(segments):
        if not segment.startswith("{"):
            continue
        words = sorted(
            {
                other[index]
                for other in others
                if len(other) > index
                and other[:index] == segments[:index]
                and not other[index].startswith("{")
            }
        )
        if words:
            name = segment.strip("{}")
            exclude = "|".join(re.escape(word) for word in words)
            segments[index] = f"{{{name}:(?!(?:{exclude})(?:/|$))[^/]+}}"
    return "/".join(segments)


def create_app(ctx: SimContext) -> web.Application:
    """Return the AutoPrintFarm API application for a farmsim context."""
    scopes = {(route.method, API_PREFIX + route.path): route.scope for route in ROUTES}
    app = web.Application(
        middlewares=[
            fault_middleware(ctx, SERVICE, fault_error),
            auth_middleware(ctx, scopes),
            errors_middleware(),
        ]
    )
    app[CTX] = ctx
    app[AUTH] = Auth(ctx)
    app[IDEMPOTENCY] = IdempotencyStore(lambda: ctx.config.idempotency_ttl)
    app[HUB] = WebhookHub(ctx)
    app.router.add_route("GET", OPENAPI_PATH, openapi_document)
    paths = [route.path for route in ROUTES]
    for route in ROUTES:
        app.router.add_route(
            route.method, API_PREFIX + routed_path(route.path, paths), route.handler
        )
    app.cleanup_ctx.append(_webhooks)
    return app


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    await hub.start()
    yield
    await hub.stop()
