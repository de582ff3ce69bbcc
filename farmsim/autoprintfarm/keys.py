"""The API key endpoint: which account and scopes a key has, and its budget."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .envelope import ok
from .state import AUTH, CTX, Route, bearer_key

if TYPE_CHECKING:
    from aiohttp import web


async def current_key(request: web.Request) -> web.Response:
    """Describe the API key of the request and the account it belongs to."""
    ctx = request.app[CTX]
    auth = request.app[AUTH]
    key = bearer_key(request) or ""
    scopes = sorted(auth.scopes_of(key) or ())
    limit = ctx.config.autoprintfarm_rate_limit
    return ok(
        {
            "id": "key_" + hashlib.sha256(key.encode()).hexdigest()[:12],
            "prefix": key[:9],
            "last4": key[-4:],
            "scopes": scopes,
            "tier": "free" if limit <= 100 else "pro",  # noqa: PLR2004
            "rate_limit": limit,
            "account": {
                "id": ctx.config.autoprintfarm_account_id,
                "name": ctx.config.farm_name,
            },
        }
    )


ROUTES: tuple[Route, ...] = (
    Route(method="GET", path="/api-keys/current", handler=current_key, scope=""),
)
