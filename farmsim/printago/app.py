"""The aiohttp app of farmsim's Printago face (REST under /v1 and /v2, realtime at /mqtt)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

from farmsim.http import fault_middleware
from farmsim.world import SimError

from . import builds, jobs, materials, printers
from .auth import BUDGET_KEY, UNGUARDED_PATHS, RequestBudget, auth_middleware
from .common import CTX_KEY, REALTIME_KEY, PrintagoError, error_response, fault_error

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler, Middleware

    from farmsim.context import SimContext

    from .realtime import Realtime

SERVICE: Final = "printago"
REALTIME_PATH: Final = "/mqtt"


def _faults(ctx: SimContext) -> Middleware:
    """Return the shared fault middleware, kept away from the realtime WebSocket."""
    inject = fault_middleware(ctx, SERVICE, fault_error)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Inject faults into every request but the realtime WebSocket."""
        if request.path in UNGUARDED_PATHS:
            return await handler(request)
        return await inject(request, handler)

    return middleware


@web.middleware
async def nest_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error in NestJS's `{statusCode, message, error}` shape."""
    try:
        return await handler(request)
    except PrintagoError as err:
        return error_response(err.status, err.message, err.headers)
    except SimError as err:
        return error_response(err.status, err.details or err.message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return error_response(404, f"Cannot {request.method} {request.path}")
    except web.HTTPException as err:
        return error_response(err.status, err.reason)


def create_app(ctx: SimContext, realtime: Realtime | None = None) -> web.Application:
    """Return the Printago REST app; with `realtime`, GET /mqtt serves MQTT over WebSockets."""
    budget = RequestBudget(ctx)
    app = web.Application(middlewares=[_faults(ctx), nest_errors, auth_middleware(ctx, budget)])
    app[CTX_KEY] = ctx
    app[REALTIME_KEY] = realtime
    app[BUDGET_KEY] = budget
    if realtime is not None:
        app.router.add_get(REALTIME_PATH, realtime.handle_websocket)
    for module in (printers, jobs, builds, materials):
        app.add_routes(module.routes)
    return app
