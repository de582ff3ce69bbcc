"""The request engine farm service clients share: URLs, timeouts, errors, retries and budget."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import aiohttp
from yarl import URL

from ..errors import (
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
from ..models import RateBudget
from ..parsing import as_float, as_int

LOGGER = logging.getLogger(__package__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_BLOCK_SECONDS = 60.0
# X-RateLimit-Reset values above this are epoch seconds, smaller ones a delay in seconds
EPOCH_THRESHOLD = 1e9
MAX_EXPONENT = 62
MAX_TEXT = 200
TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"<[^>]+>")

type Clock = Callable[[], float]
# Turns an error answer (status, JSON body or text) into a readable message and a code
type ErrorParser = Callable[[int, Any], tuple[str, str | None]]

STATUS_ERRORS: dict[int, type[PrintFarmResponseError]] = {
    HTTPStatus.BAD_REQUEST: PrintFarmValidationError,
    HTTPStatus.UNAUTHORIZED: PrintFarmAuthenticationError,
    HTTPStatus.FORBIDDEN: PrintFarmPermissionError,
    HTTPStatus.NOT_FOUND: PrintFarmNotFoundError,
    HTTPStatus.CONFLICT: PrintFarmConflictError,
    HTTPStatus.UNPROCESSABLE_ENTITY: PrintFarmValidationError,
}


def to_datetime(timestamp: float) -> datetime:
    """Return epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(timestamp, UTC)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the epoch time a Retry-After header (seconds or HTTP date) points at."""
    if value is None or not value.strip():
        return None
    if (seconds := as_float(value.strip())) is not None:
        return now + max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def text_message(status: int, body: Any) -> str:
    """Return a short readable message from a plain-text or HTML error body."""
    text = body.strip() if isinstance(body, str) else ""
    if text.startswith("<"):
        title = TITLE.search(text)
        text = TAG.sub(" ", title.group(1) if title else text)
    text = " ".join(text.split())[:MAX_TEXT]
    if text:
        return text
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently safe requests are retried."""

    attempts: int = 3
    base: float = 0.5
    cap: float = 8.0

    def ceiling(self, retry: int) -> float:
        """Return the longest wait before a retry (0 is the first retry)."""
        return min(self.cap, self.base * 2.0 ** min(retry, MAX_EXPONENT))

    def delay(self, retry: int, rng: random.Random) -> float:
        """Return the wait before a retry: full jitter below the exponential ceiling."""
        return rng.uniform(0, self.ceiling(retry))


def wall_clock() -> float:
    """Return the time now; looked up at each call, so a test can move it."""
    return time.time()


# Service limits without a stated window (X-RateLimit-*) are hourly, as the seed says.
HOUR = 3600.0


@dataclass(kw_only=True)
class RateLimiter:
    """The request budget as the client knows it: headers, 429 answers and its own count."""

    clock: Clock = field(default=wall_clock)
    share: float = 1.0
    windows: tuple[tuple[int, float], ...] = ()
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    blocked_until: float | None = None
    _used: int = field(default=0, init=False)
    _total: int = field(default=0, init=False)
    _sent: deque[float] = field(default_factory=deque, init=False)

    def __post_init__(self) -> None:
        """Check the share of the budget is a fraction."""
        if not 0 < self.share <= 1:
            msg = f"budget_share must be above 0 and at most 1, not {self.share}"
            raise ValueError(msg)

    def _allowed(self, limit: int) -> int:
        return math.floor(limit * self.share)

    def _roll(self, now: float) -> None:
        """Forget what belongs to windows and blocks that are over."""
        if self.reset_at is not None and now >= self.reset_at:
            self.reset_at = None
            self.remaining = None
            self._used = 0
        if self.blocked_until is not None and now >= self.blocked_until:
            self.blocked_until = None
        if self.windows:
            longest = max(seconds for _, seconds in self.windows)
            while self._sent and self._sent[0] <= now - longest:
                self._sent.popleft()

    def _hits(self, now: float, seconds: float) -> list[float]:
        return [sent for sent in self._sent if sent > now - seconds]

    def next_allowed(self) -> float | None:
        """Return when the next request may be sent, or None when it may be sent now."""
        now = self.clock()
        self._roll(now)
        waits: list[float] = []
        if self.blocked_until is not None:
            waits.append(self.blocked_until)
        if self.reset_at is not None:
            if self.remaining is not None and self.remaining <= 0:
                waits.append(self.reset_at)
            spent = self.limit is not None and self._used >= self._allowed(self.limit)
            if self.share < 1 and spent:
                waits.append(self.reset_at)
        for limit, seconds in self.windows:
            hits = self._hits(now, seconds)
            allowed = self._allowed(limit)
            if len(hits) >= allowed:
                waits.append(hits[len(hits) - allowed] + seconds if allowed else now + seconds)
        return max(waits) if waits else None

    def acquire(self) -> None:
        """Count a request about to be sent, or raise when the budget is known to be spent."""
        if (retry_at := self.next_allowed()) is not None:
            moment = to_datetime(retry_at)
            msg = f"Request budget spent; the next request is allowed at {moment.isoformat()}"
            raise PrintFarmRateLimitError(msg, retry_at=moment, status=None, code="budget_spent")
        self._used += 1
        self._total += 1
        if self.remaining is not None:
            self.remaining = max(self.remaining - 1, 0)
        if self.windows:
            self._sent.append(self.clock())

    def update(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn the budget from an answer's X-RateLimit-* and Retry-After headers."""
        now = self.clock()
        if (limit := as_int(headers.get("X-RateLimit-Limit"))) is not None:
            self.limit = limit
        if (remaining := as_int(headers.get("X-RateLimit-Remaining"))) is not None:
            self.remaining = remaining
        if (reset := as_float(headers.get("X-RateLimit-Reset"))) is not None and math.isfinite(
            reset
        ):
            reset_at = reset if reset > EPOCH_THRESHOLD else now + reset
            if self.reset_at is not None and reset_at > self.reset_at + 1:
                # A new window: what was used of the share belonged to the old one.
                self._used = 1
            self.reset_at = reset_at
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            until = parse_retry_after(headers.get("Retry-After"), now)
            if until is None and self.reset_at is not None and self.reset_at > now:
                until = self.reset_at
            until = until if until is not None else now + DEFAULT_BLOCK_SECONDS
            self.blocked_until = max(self.blocked_until or until, until)

    def snapshot(self) -> RateBudget:
        """Return the tightest known budget."""
        now = self.clock()
        self._roll(now)
        options: list[tuple[int | None, int | None, float | None]] = []
        if self.limit is not None or self.remaining is not None:
            limit, remaining = self.limit, self.remaining
            if self.share < 1 and limit is not None:
                limit = self._allowed(limit)
                own = max(limit - self._used, 0)
                remaining = own if remaining is None else min(remaining, own)
            options.append((limit, remaining, self.reset_at))
        for limit, seconds in self.windows:
            hits = self._hits(now, seconds)
            allowed = self._allowed(limit)
            reset = hits[0] + seconds if hits else None
            options.append((allowed, max(allowed - len(hits), 0), reset))
        if not options:
            options.append((None, None, None))
        limit, remaining, reset = min(
            options, key=lambda option: math.inf if option[1] is None else option[1]
        )
        return RateBudget(
            limit=limit,
            remaining=remaining,
            reset_at=to_datetime(reset) if reset is not None else None,
            blocked_until=to_datetime(self.blocked_until) if self.blocked_until else None,
            per_hour=self._per_hour(),
            sent=self._total,
        )

    def _per_hour(self) -> float | None:
        """Return how many requests an hour the budget (at the share) sustains."""
        rates = [self._allowed(limit) * HOUR / seconds for limit, seconds in self.windows]
        if self.limit is not None:
            rates.append(float(self._allowed(self.limit)))
        return min(rates) if rates else None


def _decode(raw: bytes) -> tuple[bool, Any]:
    """Return whether a body is JSON, and the parsed JSON or the text."""
    if not raw.strip():
        return True, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False, raw.decode("utf-8", errors="replace")
    try:
        return True, json.loads(text)
    except json.JSONDecodeError:
        return False, text


@dataclass(kw_only=True)
class RequestEngine:
    """Send requests to one farm service with a timeout, error mapping, retries and budget."""

    base_url: URL
    headers: Mapping[str, str] = field(repr=False)
    error_parser: ErrorParser
    limiter: RateLimiter
    request_timeout: float = 10
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    session: aiohttp.ClientSession | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _close_session: bool = field(default=False, init=False)

    def url(self, *segments: str) -> URL:
        """Return the URL of a path below the base URL (each segment is quoted)."""
        url = self.base_url
        for segment in segments:
            url /= segment
        return url

    async def request(
        self,
        method: str,
        *segments: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        safe: bool | None = None,
    ) -> Any:
        """Send a request and return its JSON body; safe requests are retried."""
        extra = dict(headers or {})
        if safe is None:
            safe = method.upper() in SAFE_METHODS or IDEMPOTENCY_HEADER in extra
        url = self.url(*segments)

        async def once() -> Any:
            return await self._send(method, url, params, json_body, extra)

        return await self.retrying(once, retryable=safe)

    async def retrying[T](
        self, operation: Callable[[], Awaitable[T]], *, retryable: bool = True
    ) -> T:
        """Run an operation, again after connection errors and 5xx answers if retryable."""
        retry = 0
        while True:
            try:
                return await operation()
            except (PrintFarmConnectionError, PrintFarmServerError) as err:
                if not retryable or retry + 1 >= self.retry.attempts:
                    raise
                delay = self.retry.delay(retry, self.rng)
                retry += 1
                LOGGER.debug("Retry %s in %.3f s after: %s", retry, delay, err)
                await asyncio.sleep(delay)

    async def _send(
        self,
        method: str,
        url: URL,
        params: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str],
    ) -> Any:
        self.limiter.acquire()
        session = self._session()
        try:
            async with (
                asyncio.timeout(self.request_timeout),
                session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers={**self.headers, **headers},
                ) as response,
            ):
                raw = await response.read()
                status = response.status
                answer_headers = response.headers
        except TimeoutError as err:
            msg = f"{method} {url.path} got no answer within {self.request_timeout} s"
            raise PrintFarmTimeoutError(msg) from err
        except (aiohttp.ClientError, OSError) as err:
            msg = f"{method} {url.path} failed: {err.__class__.__name__}: {err}"
            raise PrintFarmConnectionError(msg) from err
        self.limiter.update(status, answer_headers)
        is_json, body = _decode(raw)
        if status >= HTTPStatus.BAD_REQUEST:
            raise self._error(status, body)
        if not is_json:
            msg = f"{method} {url.path} answered {status} with a body that is not JSON"
            raise PrintFarmInvalidResponseError(msg)
        return body

    def _error(self, status: int, body: Any) -> PrintFarmResponseError:
        message, code = self.error_parser(status, body)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            now = self.limiter.clock()
            blocked = self.limiter.blocked_until or now + DEFAULT_BLOCK_SECONDS
            return PrintFarmRateLimitError(
                message, retry_at=to_datetime(blocked), status=status, code=code
            )
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return PrintFarmServerError(message, status=status, code=code)
        error = STATUS_ERRORS.get(status, PrintFarmResponseError)
        return error(message, status=status, code=code)

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession()
            self._close_session = True
        return self.session

    async def close(self) -> None:
        """Close the web session if the engine opened it."""
        if self.session is not None and self._close_session:
            await self.session.close()
            self.session = None
            self._close_session = False
