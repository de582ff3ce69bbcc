"""API keys, scopes and the hourly request budget of the AutoPrintFarm API."""

from __future__ import annotations

import hmac
import math
import time
import weakref
from typing import TYPE_CHECKING

from aiohttp import web

from farmsim.ratelimit import Decision, FixedWindowLimiter

from .envelope import error_response
from .state import API_PREFIX, AUTH, Handler, bearer_key

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aiohttp.typedefs import Middleware

    from farmsim.context import SimContext


SERVICE = "autoprintfarm"
RATE_WINDOW = 3600.0
STORM_RETRY_AFTER = 60

SCOPES = frozenset(
    {
        "printers:read",
        "printers:write",
        "jobs:read",
        "jobs:write",
        "materials:read",
        "materials:write",
        "analytics:read",
        "webhooks:write",
    }
)
READ_SCOPES = frozenset(scope for scope in SCOPES if scope.endswith(":read"))


class Auth:
    """Known API keys with their scopes, and the per-key hourly budget."""

    def __init__(self, ctx: SimContext) -> None:
        """Initialize with the context's main key, which has every scope."""
        self.ctx = ctx
        self.extra_keys: dict[str, set[str]] = {}
        self.limiter = FixedWindowLimiter(
            limit=ctx.config.autoprintfarm_rate_limit, window=RATE_WINDOW
        )
        _INSTANCES.add(self)

    def scopes_of(self, key: str) -> frozenset[str] | None:
        """Return the scopes of a key, or None for an unknown key."""
        if hmac.compare_digest(key.encode(), self.ctx.config.autoprintfarm_api_key.encode()):
            return SCOPES
        if (scopes := self.extra_keys.get(key)) is not None:
            return frozenset(scopes)
        return None

    def reset(self) -> None:
        """Start every key's budget afresh, with the configured limit."""
        self.limiter = FixedWindowLimiter(
            limit=self.ctx.config.autoprintfarm_rate_limit, window=RATE_WINDOW
        )

    def check(self, key: str) -> Decision:
        """Count a request against the key's budget (every request is refused in a storm)."""
        if self.ctx.faults.autoprintfarm.rate_limit_storm:
            now = time.time()
            return Decision(
                allowed=False,
                limit=self.limiter.limit,
                remaining=0,
                reset_at=now + STORM_RETRY_AFTER,
                retry_after=STORM_RETRY_AFTER,
            )
        return self.limiter.check(key)


_INSTANCES: weakref.WeakSet[Auth] = weakref.WeakSet()


def _auths(target: web.Application | SimContext) -> list[Auth]:
    """Return the Auth of an app, or of every app built for a context."""
    if isinstance(target, web.Application):
        return [target[AUTH]]
    return [auth for auth in _INSTANCES if auth.ctx is target]


def register_api_key(target: web.Application | SimContext, key: str, scopes: Iterable[str]) -> None:
    """Accept another API key with the given scopes (for example a read-only key)."""
    wanted = set(scopes)
    if unknown := wanted - SCOPES:
        msg = f"Unknown scopes: {', '.join(sorted(unknown))}"
        raise ValueError(msg)
    for auth in _auths(target):
        auth.extra_keys[key] = set(wanted)


def revoke_api_key(target: web.Application | SimContext, key: str) -> None:
    """Stop accepting an extra API key."""
    for auth in _auths(target):
        auth.extra_keys.pop(key, None)


def reset_rate_limits(target: web.Application | SimContext) -> None:
    """Reset every key's hourly budget, picking up a changed configured limit."""
    for auth in _auths(target):
        auth.reset()


def rate_headers(decision: Decision) -> dict[str, str]:
    """Return the rate-limit headers of a decision."""
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(math.ceil(decision.reset_at)),
    }


def auth_middleware(ctx: SimContext, scopes: dict[tuple[str, str], str]) -> Middleware:
    """Return a middleware that authenticates, budgets and authorizes /v1 requests."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != API_PREFIX and not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)
        auth = request.app[AUTH]
        key = bearer_key(request)
        challenge = {"WWW-Authenticate": 'Bearer realm="autoprintfarm"'}
        if key is None:
            response = error_response(
                401, "unauthorized", "Missing API key", "Send Authorization: Bearer YOUR_API_KEY"
            )
            response.headers.update(challenge)
            return response
        granted = auth.scopes_of(key) if key else None
        if granted is None:
            response = error_response(
                401, "invalid_api_key", "Invalid API key", "The API key is not valid"
            )
            response.headers.update(challenge)
            return response
        ctx.counters.count_request(SERVICE, key)
        decision = auth.check(key)
        headers = rate_headers(decision)
        if not decision.allowed:
            ctx.counters.rate_limited[SERVICE] += 1
            detail = (
                f"Limit of {decision.limit} requests per hour reached; "
                f"retry in {decision.retry_after} s"
            )
            response = error_response(429, "rate_limit_exceeded", "Rate limit exceeded", detail)
            response.headers.update(headers)
            response.headers["Retry-After"] = str(decision.retry_after)
            return response
        route = request.match_info.route
        resource = route.resource
        needed = scopes.get((request.method, resource.canonical)) if resource else None
        if needed and needed not in granted:
            detail = f"This API key lacks the {needed} scope"
            response = error_response(
                403, "insufficient_permissions", "Insufficient permissions", detail
            )
            response.headers.update(headers)
            return response
        ctx.world.tick()
        answer = await handler(request)
        answer.headers.update(headers)
        return answer

    return middleware
