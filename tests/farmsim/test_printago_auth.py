"""Tests for authentication, request budgets, faults and errors of farmsim's Printago face."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from farmsim.context import SimConfig, SimContext
from farmsim.printago import PrintagoServer, reset_rate_limits
from farmsim.printago.auth import BUDGET_KEY
from farmsim.printago.catalog import part_type_of
from farmsim.printago.common import error_body

from .helpers import sim_context

LIMITS = ((3, 60.0), (5, 3600.0))


def make_ctx(**config: object) -> SimContext:
    return sim_context(SimConfig(seed=3, **config), printers=2)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[PrintagoServer]:
    async with PrintagoServer(make_ctx(printago_limits=LIMITS), realtime=False) as running:
        yield running


@pytest.fixture
async def session(server: PrintagoServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.url) as client:
        yield client


async def test_missing_credentials_are_401(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    config = server.ctx.config
    store = {"x-printago-storeid": config.printago_store_id}
    key = {"authorization": f"ApiKey {config.printago_api_key}"}
    for headers in (
        {},
        store,
        key,
        {**store, "authorization": f"Bearer {config.printago_api_key}"},
        {**store, "authorization": "ApiKey "},
        {**store, "authorization": "ApiKey not-the-key"},
        {**key, "x-printago-storeid": "  "},
    ):
        async with session.get("/v1/printers", headers=headers) as response:
            assert response.status == 401
            body = await response.json()
            assert body["statusCode"] == 401
            assert body["error"] == "Unauthorized"
            assert body["message"]
    assert server.ctx.counters.requests["printago"] == {}


async def test_wrong_store_is_403(server: PrintagoServer, session: aiohttp.ClientSession) -> None:
    headers = {**server.headers, "x-printago-storeid": "c" + "0" * 23}
    async with session.get("/v1/printers", headers=headers) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "Forbidden"


async def test_header_names_are_case_insensitive(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    config = server.ctx.config
    headers = {
        "Authorization": f"apikey {config.printago_api_key}",
        "X-Printago-StoreId": config.printago_store_id,
    }
    async with session.get("/v1/printers", headers=headers) as response:
        assert response.status == 200
        assert len(await response.json()) == 2
        assert "X-RateLimit-Remaining" not in response.headers
    assert sum(server.ctx.counters.requests["printago"].values()) == 1


async def test_unknown_route_is_nest_404(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    async with session.get("/v1/nothing-here") as response:
        assert response.status == 404
        assert await response.json() == {
            "statusCode": 404,
            "message": "Cannot GET /v1/nothing-here",
            "error": "Not Found",
        }
    async with session.delete("/v1/printers", headers=server.headers) as response:
        assert response.status == 404
    async with session.get("/mqtt", headers=server.headers) as response:
        assert response.status == 404


async def test_minute_window_answers_429_with_retry_after(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    for _ in range(3):
        async with session.get("/v1/stores", headers=server.headers) as response:
            assert response.status == 200
    async with session.get("/v1/stores", headers=server.headers) as response:
        assert response.status == 429
        assert 55 <= int(response.headers["Retry-After"]) <= 60
        body = await response.json()
        assert body["statusCode"] == 429
        assert body["error"] == "Too Many Requests"
    counters = server.ctx.counters
    assert counters.rate_limited["printago"] == 1
    assert sum(counters.requests["printago"].values()) == 4
    assert counters.responses["printago"]["429"] == 1


async def test_hour_window_answers_429_after_the_minute_passed(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    budget = server.app[BUDGET_KEY]
    now = 1_000_000.0
    budget.clock = lambda: now
    for _ in range(3):
        async with session.get("/v1/stores", headers=server.headers) as response:
            assert response.status == 200
    now += 61
    for _ in range(2):
        async with session.get("/v1/stores", headers=server.headers) as response:
            assert response.status == 200
    async with session.get("/v1/stores", headers=server.headers) as response:
        assert response.status == 429
        assert 3000 < int(response.headers["Retry-After"]) <= 3600
    now += 3600
    async with session.get("/v1/stores", headers=server.headers) as response:
        assert response.status == 200


async def test_budget_reset_by_app_and_by_context(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    for _ in range(3):
        async with session.get("/v1/stores", headers=server.headers):
            pass
    targets: tuple[web.Application | SimContext, ...] = (server.app, server.ctx)
    for target in targets:
        async with session.get("/v1/stores", headers=server.headers) as response:
            assert response.status == 429
        reset_rate_limits(target)
        for _ in range(3):
            async with session.get("/v1/stores", headers=server.headers) as response:
                assert response.status == 200


async def test_changed_limits_apply_at_once(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    server.ctx.config.printago_limits = ((1, 60.0),)
    async with session.get("/v1/stores", headers=server.headers) as response:
        assert response.status == 200
    async with session.get("/v1/stores", headers=server.headers) as response:
        assert response.status == 429


async def test_rate_limit_storm(server: PrintagoServer, session: aiohttp.ClientSession) -> None:
    server.ctx.faults.printago.rate_limit_storm = True
    async with session.get("/v1/printers", headers=server.headers) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "60"
    server.ctx.faults.printago.rate_limit_storm = False
    async with session.get("/v1/printers", headers=server.headers) as response:
        assert response.status == 200


async def test_injected_error_uses_nest_body(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    server.ctx.faults.printago.error_next = 1
    async with session.get("/v1/printers", headers=server.headers) as response:
        assert response.status == 503
        assert await response.json() == {
            "statusCode": 503,
            "message": "The service is temporarily unavailable",
            "error": "Service Unavailable",
        }
    async with session.get("/v1/printers", headers=server.headers) as response:
        assert response.status == 200


async def test_rotated_key_is_refused(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    old = server.headers
    server.ctx.config.printago_api_key = "x" * 72
    async with session.get("/v1/printers", headers=old) as response:
        assert response.status == 401
    async with session.get("/v1/printers", headers=server.headers) as response:
        assert response.status == 200


def test_error_helpers() -> None:
    assert error_body(599, "odd") == {"statusCode": 599, "message": "odd", "error": "Error"}
    assert part_type_of("https://files.example.invalid/model") == "stl"
    assert part_type_of("parts/holder.STEP") == "step"
    assert part_type_of("parts/plate.gcode.3mf?sim_seconds=5") == "gcode3mf"


async def test_realtime_route_errors() -> None:
    async with PrintagoServer(make_ctx()) as running, aiohttp.ClientSession() as client:
        assert running.realtime_url == f"ws://127.0.0.1:{running.port}/mqtt"
        async with client.get(f"{running.url}/mqtt") as response:
            assert response.status == 400
            assert (await response.json())["statusCode"] == 400
        assert running.realtime is not None
        await running.realtime.broker.stop()
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await client.ws_connect(running.realtime_url, protocols=("mqtt",))
        assert err.value.status == 503
