"""Tests for the shared request engine, rate budget, retry policy and JSON value helpers."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from custom_components.printfarm.api.errors import (
    PrintFarmAuthenticationError,
    PrintFarmConflictError,
    PrintFarmConnectionError,
    PrintFarmInvalidResponseError,
    PrintFarmNotFoundError,
    PrintFarmPermissionError,
    PrintFarmRateLimitError,
    PrintFarmResponseError,
    PrintFarmServerError,
    PrintFarmTimeoutError,
    PrintFarmValidationError,
)
from custom_components.printfarm.api.parsing import (
    as_bool,
    as_datetime,
    as_float,
    as_int,
    as_str,
    require_id,
    require_list,
    require_object,
)
from custom_components.printfarm.api.transport.http import (
    RateLimiter,
    RequestEngine,
    RetryPolicy,
    parse_retry_after,
    text_message,
)

FAST = RetryPolicy(attempts=3, base=0.001, cap=0.005)
NOW = 1_800_000_000.0


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = NOW) -> None:
        """Start at a fixed time."""
        self.now = now

    def __call__(self) -> float:
        """Return the current time."""
        return self.now


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311


def _parser(status: int, body: Any) -> tuple[str, str | None]:
    if isinstance(body, dict):
        return str(body.get("message", "?")), body.get("code")
    return text_message(status, body), None


class Service:
    """A tiny HTTP service on loopback that answers from a script."""

    def __init__(self) -> None:
        """Start with an empty script."""
        self.answers: list[web.StreamResponse] = []
        self.seen: list[web.Request] = []
        self.bodies: list[bytes] = []
        self.hang = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer with the next scripted response (or 200 {} when the script is empty)."""
        self.seen.append(request)
        self.bodies.append(await request.read())
        if self.hang:
            await asyncio.sleep(self.hang)
        if self.answers:
            return self.answers.pop(0)
        return web.json_response({"ok": True, "path": request.path, "query": dict(request.query)})


@pytest.fixture
async def service() -> AsyncIterator[tuple[Service, URL]]:
    """Serve a scripted service on 127.0.0.1."""
    service = Service()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", service.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield service, URL(str(server.make_url("/api")))


OPENED: list[RequestEngine] = []


@pytest.fixture(autouse=True)
async def _close_engines() -> AsyncIterator[None]:
    """Close every engine a test opened, also when it failed."""
    yield
    while OPENED:
        await OPENED.pop().close()


def _engine(base: URL, **kwargs: Any) -> RequestEngine:
    options: dict[str, Any] = {
        "base_url": base,
        "headers": {"Authorization": "Bearer OMGPUPPIES"},
        "error_parser": _parser,
        "limiter": RateLimiter(),
        "retry": FAST,
        "rng": _rng(1),
    }
    engine = RequestEngine(**(options | kwargs))
    OPENED.append(engine)
    return engine


# Retry policy


@given(
    base=st.floats(min_value=0.0001, max_value=5),
    cap=st.floats(min_value=0.0001, max_value=60),
    retry=st.integers(min_value=0, max_value=200),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_delay_within_bounds(base: float, cap: float, retry: int, seed: int) -> None:
    """Every delay lies between zero and the ceiling, and the ceiling never passes the cap."""
    policy = RetryPolicy(base=base, cap=cap)
    ceiling = policy.ceiling(retry)
    assert 0 <= ceiling <= cap
    assert math.isclose(ceiling, min(cap, base * 2**retry))
    delay = policy.delay(retry, _rng(seed))
    assert 0 <= delay <= ceiling


@given(
    base=st.floats(min_value=0.0001, max_value=5),
    cap=st.floats(min_value=0.0001, max_value=60),
    retry=st.integers(min_value=0, max_value=100),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_grows(base: float, cap: float, retry: int, seed: int) -> None:
    """The ceiling doubles until the cap; with the same jitter draw, a later delay is longer."""
    policy = RetryPolicy(base=base, cap=cap)
    now, later = policy.ceiling(retry), policy.ceiling(retry + 1)
    assert later >= now
    assert math.isclose(later, min(cap, 2 * now)) or later == cap
    assert policy.delay(retry + 1, _rng(seed)) >= policy.delay(retry, _rng(seed))


def test_backoff_jitter_spreads() -> None:
    """Full jitter spreads delays over the whole range instead of repeating one value."""
    policy = RetryPolicy(base=1, cap=8)
    rng = _rng(7)
    delays = [policy.delay(3, rng) for _ in range(200)]
    assert min(delays) < 1
    assert 7 < max(delays) <= 8


# Retry-After and messages


def test_parse_retry_after() -> None:
    """Retry-After is read as seconds or an HTTP date; anything else is ignored."""
    assert parse_retry_after("30", NOW) == NOW + 30
    assert parse_retry_after("-5", NOW) == NOW
    assert (
        parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", NOW)
        == datetime(2026, 10, 21, 7, 28, tzinfo=UTC).timestamp()
    )
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:00", NOW) is not None
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("inf", NOW) is None
    assert parse_retry_after(" ", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_text_message() -> None:
    """HTML and text error bodies become one short readable line."""
    html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    assert text_message(502, html) == "502 Bad Gateway"
    assert text_message(500, "<p>Oops <b>down</b></p>") == "Oops down"
    assert text_message(500, "  plain\n text ") == "plain text"
    assert text_message(503, None) == "HTTP 503 Service Unavailable"
    assert text_message(599, "") == "HTTP 599"
    assert len(text_message(500, "x" * 1000)) == 200


# Rate budget


def test_limiter_headers_and_block() -> None:
    """The budget follows X-RateLimit-* headers and blocks until the window resets."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    assert limiter.snapshot().limit is None
    limiter.acquire()
    limiter.update(
        200, {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "30"}
    )
    budget = limiter.snapshot()
    assert (budget.limit, budget.remaining) == (5, 1)
    assert budget.reset_at == datetime.fromtimestamp(NOW + 30, UTC)
    limiter.acquire()
    with pytest.raises(PrintFarmRateLimitError) as err:
        limiter.acquire()
    assert err.value.status is None
    assert err.value.retry_at == datetime.fromtimestamp(NOW + 30, UTC)
    clock.now += 30
    limiter.acquire()
    assert limiter.snapshot().remaining is None


def test_limiter_429_without_retry_after() -> None:
    """A 429 without Retry-After blocks until the reset, or for a minute when none is known."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.update(429, {})
    assert limiter.blocked_until == NOW + 60
    limiter = RateLimiter(clock=clock)
    limiter.update(429, {"X-RateLimit-Reset": str(NOW + 90)})
    assert limiter.blocked_until == NOW + 90
    assert limiter.snapshot().blocked_until == datetime.fromtimestamp(NOW + 90, UTC)
    clock.now += 91
    assert limiter.snapshot().blocked_until is None
    limiter.acquire()


def test_limiter_share_of_header_budget() -> None:
    """With a share, the client stops after its part of the window and reports it."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, share=0.5)
    limiter.acquire()
    limiter.update(200, {"X-RateLimit-Limit": "4", "X-RateLimit-Reset": str(NOW + 60)})
    assert limiter.snapshot().limit == 2
    assert limiter.snapshot().remaining == 1
    limiter.acquire()
    with pytest.raises(PrintFarmRateLimitError):
        limiter.acquire()


def test_limiter_sliding_windows() -> None:
    """Client-side sliding windows refuse early and report the tighter window."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, windows=((2, 60.0), (3, 3600.0)))
    limiter.acquire()
    clock.now += 1
    limiter.acquire()
    with pytest.raises(PrintFarmRateLimitError) as err:
        limiter.acquire()
    assert err.value.retry_at == datetime.fromtimestamp(NOW + 60, UTC)
    assert limiter.snapshot().limit == 2
    clock.now += 60
    limiter.acquire()
    budget = limiter.snapshot()
    assert (budget.limit, budget.remaining) == (3, 0)
    with pytest.raises(PrintFarmRateLimitError) as err:
        limiter.acquire()
    assert err.value.retry_at == datetime.fromtimestamp(NOW + 3600, UTC)
    clock.now += 3600
    assert limiter.snapshot().remaining == 2


def test_limiter_share_below_one_request() -> None:
    """A share too small for one request in a window never lets one through."""
    limiter = RateLimiter(clock=FakeClock(), share=0.1, windows=((5, 60.0),))
    with pytest.raises(PrintFarmRateLimitError):
        limiter.acquire()
    with pytest.raises(ValueError, match="budget_share"):
        RateLimiter(share=0)
    with pytest.raises(ValueError, match="budget_share"):
        RateLimiter(share=1.5)


# Engine


async def test_engine_builds_urls_and_sends_headers(service: tuple[Service, URL]) -> None:
    """Segments are quoted below the base path; headers and query go along."""
    fake, base = service
    engine = _engine(base)
    body = await engine.request("GET", "printers", "a b/c", params={"x": "1"})
    assert body["path"] == "/api/printers/a b/c"
    assert body["query"] == {"x": "1"}
    assert fake.seen[0].headers["Authorization"] == "Bearer OMGPUPPIES"
    assert engine.url("x") == base / "x"
    await engine.close()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PrintFarmValidationError),
        (401, PrintFarmAuthenticationError),
        (403, PrintFarmPermissionError),
        (404, PrintFarmNotFoundError),
        (409, PrintFarmConflictError),
        (422, PrintFarmValidationError),
        (418, PrintFarmResponseError),
    ],
)
async def test_engine_maps_4xx_without_retry(
    service: tuple[Service, URL], status: int, error: type[Exception]
) -> None:
    """4xx answers map to their error and are never retried, not even for GET."""
    fake, base = service
    fake.answers = [web.json_response({"message": "OMG", "code": "puppies"}, status=status)]
    engine = _engine(base)
    with pytest.raises(error) as err:
        await engine.request("GET", "thing")
    assert type(err.value) is error
    assert str(err.value) == "OMG"
    assert isinstance(err.value, PrintFarmResponseError)
    assert (err.value.status, err.value.code) == (status, "puppies")
    assert len(fake.seen) == 1
    await engine.close()


async def test_engine_retries_safe_requests_on_5xx(service: tuple[Service, URL]) -> None:
    """GET is retried on 5xx until it succeeds."""
    fake, base = service
    fake.answers = [web.Response(status=503, text="busy"), web.Response(status=500, text="x")]
    engine = _engine(base)
    assert (await engine.request("GET", "thing"))["ok"] is True
    assert len(fake.seen) == 3
    await engine.close()


async def test_engine_gives_up_after_attempts(service: tuple[Service, URL]) -> None:
    """After the last attempt the server error is raised with the service's message."""
    fake, base = service
    fake.answers = [web.Response(status=502, text="<title>Bad Gateway</title>") for _ in range(3)]
    engine = _engine(base)
    with pytest.raises(PrintFarmServerError, match="Bad Gateway") as err:
        await engine.request("GET", "thing")
    assert err.value.status == 502
    assert len(fake.seen) == 3
    await engine.close()


async def test_engine_retry_rules_for_writes(service: tuple[Service, URL]) -> None:
    """A plain POST is not retried; one with an idempotency key or marked safe is."""
    fake, base = service
    engine = _engine(base)
    fake.answers = [web.Response(status=503)]
    with pytest.raises(PrintFarmServerError):
        await engine.request("POST", "jobs", json_body={"a": 1})
    assert len(fake.seen) == 1
    fake.answers = [web.Response(status=503)]
    await engine.request("POST", "jobs", json_body={"a": 1}, headers={"Idempotency-Key": "k"})
    assert len(fake.seen) == 3
    fake.answers = [web.Response(status=503)]
    await engine.request("DELETE", "jobs", safe=True)
    assert len(fake.seen) == 5
    fake.answers = [web.Response(status=503)]
    with pytest.raises(PrintFarmServerError):
        await engine.request("GET", "jobs", safe=False)
    assert json.loads(fake.bodies[2]) == {"a": 1}
    assert fake.seen[2].headers["Idempotency-Key"] == "k"
    await engine.close()


async def test_engine_invalid_bodies(service: tuple[Service, URL]) -> None:
    """Success answers must be JSON; empty bodies are None."""
    fake, base = service
    engine = _engine(base)
    fake.answers = [
        web.Response(status=200, text="{not json"),
        web.Response(status=200, body=b"\xff\xfe\x00"),
        web.Response(status=204),
        web.Response(status=400, body=b"\xff\xfe"),
    ]
    with pytest.raises(PrintFarmInvalidResponseError, match="not JSON"):
        await engine.request("GET", "a")
    with pytest.raises(PrintFarmInvalidResponseError):
        await engine.request("GET", "a")
    assert await engine.request("GET", "a") is None
    with pytest.raises(PrintFarmValidationError):
        await engine.request("GET", "a")
    await engine.close()


async def test_engine_timeout(service: tuple[Service, URL]) -> None:
    """A service that does not answer in time raises a timeout, after retries."""
    fake, base = service
    fake.hang = 0.3
    engine = _engine(base, request_timeout=0.05, retry=RetryPolicy(attempts=2, base=0.001))
    with pytest.raises(PrintFarmTimeoutError, match=r"within 0\.05 s"):
        await engine.request("GET", "slow")
    assert len(fake.seen) == 2
    await engine.close()


async def test_engine_connection_refused() -> None:
    """A closed port raises a connection error (retried for safe requests)."""
    app = web.Application()
    async with TestServer(app, host="127.0.0.1") as server:
        base = URL(str(server.make_url("/")))
    engine = _engine(base)
    with pytest.raises(PrintFarmConnectionError) as err:
        await engine.request("GET", "x")
    assert not isinstance(err.value, PrintFarmTimeoutError)
    await engine.close()


async def test_engine_429_blocks_next_request(service: tuple[Service, URL]) -> None:
    """A 429 raises with the Retry-After time and stops the next request before sending."""
    fake, base = service
    clock = FakeClock()
    engine = _engine(base, limiter=RateLimiter(clock=clock))
    fake.answers = [
        web.json_response({"message": "slow down"}, status=429, headers={"Retry-After": "120"})
    ]
    with pytest.raises(PrintFarmRateLimitError) as err:
        await engine.request("GET", "a")
    assert err.value.status == 429
    assert err.value.retry_at == datetime.fromtimestamp(NOW + 120, UTC)
    with pytest.raises(PrintFarmRateLimitError) as err:
        await engine.request("GET", "a")
    assert err.value.status is None
    assert len(fake.seen) == 1
    clock.now += 120
    await engine.request("GET", "a")
    assert len(fake.seen) == 2
    await engine.close()


async def test_engine_sessions(service: tuple[Service, URL]) -> None:
    """The engine closes only a session it opened itself."""
    _, base = service
    async with aiohttp.ClientSession() as session:
        engine = _engine(base, session=session)
        await engine.request("GET", "a")
        await engine.close()
        assert not session.closed
    engine = _engine(base)
    await engine.request("GET", "a")
    own = engine.session
    assert own is not None
    await engine.close()
    assert own.closed
    assert engine.session is None
    await engine.close()


# JSON values


def test_wire_values() -> None:
    """Loosely typed JSON values are read leniently."""
    assert as_str(5) == "5"
    assert as_str(value=True) is None
    assert as_float("1.5") == 1.5
    assert as_float("x") is None
    assert as_float(value=True) is None
    assert as_float(None) is None
    assert as_int("2.6") == 3
    assert as_int("inf") is None
    assert as_int("nan") is None
    assert as_bool("TRUE") is True
    assert as_bool("yes") is None
    assert as_datetime("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert as_datetime("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert as_datetime(1_767_323_045) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert as_datetime(1_767_323_045_000) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert as_datetime("yesterday") is None
    assert as_datetime(0) is None
    assert as_datetime(1e300) is None
    with pytest.raises(PrintFarmInvalidResponseError, match="JSON object"):
        require_object([], "a printer")
    with pytest.raises(PrintFarmInvalidResponseError, match="JSON array"):
        require_list({}, "printers")
    with pytest.raises(PrintFarmInvalidResponseError, match="without an id"):
        require_id({"id": ""}, "a printer")


def test_budget_reports_sustainable_rate_and_requests_sent() -> None:
    """Test the budget tells how many requests an hour the share allows, and how many went out."""
    now = 1_000_000.0
    windows = RateLimiter(clock=lambda: now, share=0.5, windows=((60, 60.0), (600, 3600.0)))
    assert windows.snapshot().per_hour == 300
    windows.acquire()
    windows.acquire()
    assert windows.snapshot().sent == 2
    headers = RateLimiter(clock=lambda: now, share=0.5)
    assert headers.snapshot().per_hour is None
    headers.update(200, {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99"})
    assert headers.snapshot().per_hour == 50


def test_share_count_restarts_with_the_services_window() -> None:
    """Test a new window announced by X-RateLimit-Reset frees the share at once."""
    now = 1_000_000.0
    limiter = RateLimiter(clock=lambda: now, share=0.5)
    limiter.update(200, {"X-RateLimit-Limit": "4", "X-RateLimit-Reset": str(int(now) + 10)})
    limiter.acquire()
    limiter.acquire()
    with pytest.raises(PrintFarmRateLimitError):
        limiter.acquire()
    # The service already counts in its next window while the client's clock lags behind.
    limiter.update(200, {"X-RateLimit-Limit": "4", "X-RateLimit-Reset": str(int(now) + 3610)})
    limiter.acquire()
    assert limiter.snapshot().remaining == 0
