"""Printago authentication (ApiKey + store id headers) and the 60/min + 600/h request budget."""

from __future__ import annotations

import hmac
import time
import weakref
from typing import TYPE_CHECKING, Final

from aiohttp import web

from farmsim.ratelimit import Decision, SlidingWindowLimiter

from .common import PrintagoError

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp.typedefs import Handler, Middleware

    from farmsim.context import SimContext

API_KEY_SCHEME: Final = "apikey"
STORE_HEADER: Final = "x-printago-storeid"
THROTTLED_MESSAGE: Final = "ThrottlerException: Too Many Requests"
STORM_RETRY_AFTER: Final = 60
UNGUARDED_PATHS: Final = frozenset({"/mqtt"})


class RequestBudget:
    """The per-key sliding-window budget of the Printago face, in real time."""

    def __init__(self, ctx: SimContext) -> None:
        """Initialize the budget with the configured (limit, seconds) windows."""
        self.ctx = ctx
        self.limiter = SlidingWindowLimiter(windows=ctx.config.printago_limits)
        self.clock: Callable[[], float] = time.time
        _BUDGETS.add(self)

    def check(self, key: str) -> Decision:
        """Count one request of a key under the currently configured windows."""
        windows = self.ctx.config.printago_limits
        if self.limiter.windows != windows:
            self.limiter.windows = windows
        return self.limiter.check(key, now=self.clock())

    def reset(self) -> None:
        """Give every key its full budget back."""
        self.limiter.reset()


BUDGET_KEY: Final = web.AppKey("printago_budget", RequestBudget)
_BUDGETS: weakref.WeakSet[RequestBudget] = weakref.WeakSet()


def reset_rate_limits(target: web.Application | SimContext) -> None:
    """Give every key its full budget back, in one Printago app or every app of a context."""
    if isinstance(target, web.Application):
        target[BUDGET_KEY].reset()
        return
    for budget in list(_BUDGETS):
        if budget.ctx is target:
            budget.reset()


def _api_key(request: web.Request) -> str | None:
    """Return the key of an `ApiKey <key>` authorization header, if any."""
    scheme, _, key = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != API_KEY_SCHEME or not key.strip():
        return None
    return key.strip()


def _throttled(retry_after: int) -> PrintagoError:
    """Return the 429 answer with its Retry-After header."""
    return PrintagoError(429, THROTTLED_MESSAGE, {"Retry-After": str(retry_after)})


def auth_middleware(ctx: SimContext, budget: RequestBudget) -> Middleware:
    """Return a middleware that checks credentials and the request budget."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authenticate a request and count it against the key's budget."""
        if request.path in UNGUARDED_PATHS or request.match_info.http_exception is not None:
            return await handler(request)
        config = ctx.config
        key = _api_key(request)
        store = request.headers.get(STORE_HEADER, "").strip()
        if key is None:
            raise PrintagoError(401, "Missing or malformed authorization header (ApiKey <key>)")
        if not store:
            raise PrintagoError(401, "Missing x-printago-storeid header")
        if not hmac.compare_digest(key.encode(), config.printago_api_key.encode()):
            raise PrintagoError(401, "Invalid API key")
        if store != config.printago_store_id:
            raise PrintagoError(403, "API key has no access to this store")
        ctx.counters.count_request("printago", key)
        if ctx.faults.printago.rate_limit_storm:
            ctx.counters.rate_limited["printago"] += 1
            raise _throttled(STORM_RETRY_AFTER)
        decision = budget.check(key)
        if not decision.allowed:
            ctx.counters.rate_limited["printago"] += 1
            raise _throttled(decision.retry_after)
        ctx.world.tick()
        return await handler(request)

    return middleware
