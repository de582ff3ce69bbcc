"""Idempotency keys on creating POSTs: the original response again for a repeated request."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .envelope import ApiError, is_success, reject
from .formats import IDEMPOTENCY_KEY, MAX_IDEMPOTENCY_KEY
from .state import api_key_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True, kw_only=True)
class StoredResponse:
    """A response kept for replay."""

    fingerprint: str
    status: int
    body: bytes
    content_type: str
    charset: str | None
    stored_at: float


class IdempotencyStore:
    """Responses of creating requests by (API key, Idempotency-Key), kept for a while."""

    def __init__(self, ttl: Callable[[], float]) -> None:
        """Initialize with a function returning how long (real seconds) keys are kept."""
        self._ttl = ttl
        self._stored: dict[tuple[str, str], StoredResponse] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._users: dict[tuple[str, str], int] = {}

    def clear(self) -> None:
        """Forget every stored response."""
        self._stored.clear()

    def _expire(self, now: float) -> None:
        ttl = self._ttl()
        for scope in [s for s, r in self._stored.items() if r.stored_at + ttl <= now]:
            del self._stored[scope]

    async def run(
        self,
        request: web.Request,
        body: dict[str, Any],
        produce: Callable[[], Awaitable[web.Response]],
    ) -> web.Response:
        """Produce a response once per key; replay it for the same key and body."""
        key = request.headers.get(HEADER)
        if key is None:
            return await produce()
        if len(key) > MAX_IDEMPOTENCY_KEY or not IDEMPOTENCY_KEY.fullmatch(key):
            msg = f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
            reject(HEADER, msg)
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        fingerprint = hashlib.sha256(
            f"{request.method} {request.path}\n{canonical}".encode()
        ).hexdigest()
        scope = (api_key_of(request), key)
        self._expire(time.monotonic())
        lock = self._locks.setdefault(scope, asyncio.Lock())
        self._users[scope] = self._users.get(scope, 0) + 1
        try:
            async with lock:
                return await self._once(scope, key, fingerprint, produce)
        finally:
            self._users[scope] -= 1
            if not self._users[scope]:
                del self._users[scope]
                del self._locks[scope]

    async def _once(
        self,
        scope: tuple[str, str],
        key: str,
        fingerprint: str,
        produce: Callable[[], Awaitable[web.Response]],
    ) -> web.Response:
        """Replay the stored response of a key, or produce and store one."""
        if (stored := self._stored.get(scope)) is not None:
            if stored.fingerprint != fingerprint:
                msg = f"Idempotency-Key {key} was already used with another request"
                raise ApiError(422, "idempotency_key_reused", "Idempotency key reused", msg)
            return web.Response(
                status=stored.status,
                body=stored.body,
                content_type=stored.content_type,
                charset=stored.charset,
                headers={REPLAYED_HEADER: "true"},
            )
        response = await produce()
        if is_success(response.status) and isinstance(response.body, bytes):
            self._stored[scope] = StoredResponse(
                fingerprint=fingerprint,
                status=response.status,
                body=response.body,
                content_type=response.content_type,
                charset=response.charset,
                stored_at=time.monotonic(),
            )
        return response
