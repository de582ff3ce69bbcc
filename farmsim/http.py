"""aiohttp helpers shared by farmsim's REST faces."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from .context import SimContext

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
type ErrorFactory = Callable[[int, str, str], web.StreamResponse]


def fault_middleware(ctx: SimContext, service: str, error: ErrorFactory) -> Middleware:
    """Return a middleware that injects the service's latency, 5xx answers and dropped responses."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        faults = ctx.faults.http(service)
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.take_error(ctx.rng):
            ctx.counters.responses[service]["503"] += 1
            return error(503, "service_unavailable", "The service is temporarily unavailable")
        response = await handler(request)
        if faults.take_drop(ctx.rng):
            ctx.counters.responses[service]["dropped"] += 1
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        ctx.counters.responses[service][str(response.status)] += 1
        return response

    return middleware
