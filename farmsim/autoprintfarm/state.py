"""Typed application state and route records of the AutoPrintFarm face."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from farmsim.context import SimContext

if TYPE_CHECKING:
    from farmsim.world import World

    from .auth import Auth
    from .delivery import WebhookHub
    from .idempotency import IdempotencyStore

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIX = "/v1"

CTX = web.AppKey("apf_ctx", SimContext)
AUTH: web.AppKey[Auth] = web.AppKey("apf_auth")
IDEMPOTENCY: web.AppKey[IdempotencyStore] = web.AppKey("apf_idempotency")
HUB: web.AppKey[WebhookHub] = web.AppKey("apf_webhooks")


@dataclass(frozen=True, kw_only=True)
class Route:
    """One API route and the scope a key needs to call it."""

    method: str
    path: str
    handler: Handler
    scope: str


def world_of(request: web.Request) -> World:
    """Return the simulated world behind a request."""
    return request.app[CTX].world


def bearer_key(request: web.Request) -> str | None:
    """Return the bearer token of a request, an empty string for another scheme."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def api_key_of(request: web.Request) -> str:
    """Return the API key of a request the auth middleware let through."""
    return bearer_key(request) or ""
