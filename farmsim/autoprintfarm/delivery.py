"""Webhook subscriptions and their signed deliveries, retried with backoff."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from farmsim.models import WorldEvent

from .envelope import dumps, is_success, iso
from .views import job_view, material_view, printer_view

if TYPE_CHECKING:
    from collections.abc import Callable

    from farmsim.context import SimContext

LOGGER = logging.getLogger(__name__)

EVENT_TYPES = (
    "job.created",
    "job.assigned",
    "job.started",
    "job.paused",
    "job.resumed",
    "job.completed",
    "job.failed",
    "job.cancelled",
    "printer.online",
    "printer.offline",
    "printer.error",
    "printer.ready",
    "material.low_stock",
)
TEST_EVENT = "webhook.test"
USER_AGENT = "AutoPrintFarm-Webhook/1.0"
KEPT_DELIVERIES = 50


@dataclass(kw_only=True)
class Subscription:
    """A webhook subscription: where to send which events, signed with which secret."""

    id: str
    url: str
    events: list[str]
    secret: str
    description: str | None
    created_at: float
    deliveries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEPT_DELIVERIES))

    def wants(self, event_type: str) -> bool:
        """Return whether the subscription asked for an event type."""
        return "*" in self.events or event_type in self.events


def sign(secret: str, body: bytes) -> str:
    """Return the X-Webhook-Signature value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookHub:
    """Turn world events into signed webhook deliveries."""

    def __init__(self, ctx: SimContext) -> None:
        """Initialize with no subscriptions."""
        self.ctx = ctx
        self.subscriptions: dict[str, Subscription] = {}
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Open the HTTP session and listen to the world."""
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession()
        self._unsubscribe = self.ctx.world.subscribe(self._on_event)

    async def stop(self) -> None:
        """Stop listening, cancel pending deliveries and close the session."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [task for tasks in self._tasks.values() for task in tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def add(self, subscription: Subscription) -> None:
        """Start delivering events to a subscription."""
        self.subscriptions[subscription.id] = subscription

    def remove(self, subscription_id: str) -> None:
        """Delete a subscription and cancel its pending deliveries."""
        self.subscriptions.pop(subscription_id, None)
        for task in self._tasks.pop(subscription_id, set()):
            task.cancel()

    def pending(self, subscription_id: str | None = None) -> int:
        """Return how many deliveries are still running or waiting to retry."""
        if subscription_id is not None:
            return len(self._tasks.get(subscription_id, ()))
        return sum(len(tasks) for tasks in self._tasks.values())

    def payload(self, event: WorldEvent, event_type: str) -> dict[str, Any]:
        """Return the JSON payload of an event."""
        world = self.ctx.world
        job = world.jobs.get(event.job_id or "")
        printer_id = event.printer_id or (job.printer_id if job else None)
        printer = world.printers.get(printer_id or "")
        spool_id = event.spool_id or (job.spool_id if job else None)
        spool = world.spools.get(spool_id or "")
        return {
            "id": f"evt_{uuid.uuid4().hex[:16]}",
            "type": event_type,
            "created_at": iso(event.at),
            "data": {
                "job": job_view(world, job) if job else None,
                "printer": printer_view(world, printer) if printer else None,
                "material": material_view(world, spool) if spool else None,
                "details": dict(event.data),
            },
        }

    def send_test(self, subscription: Subscription) -> str:
        """Send a test event to one subscription; return its event id."""
        event = WorldEvent(type=TEST_EVENT, at=self.ctx.world.clock.now())
        payload = self.payload(event, TEST_EVENT)
        self._spawn(subscription, payload["id"], TEST_EVENT, dumps(payload).encode())
        return str(payload["id"])

    def _on_event(self, event: WorldEvent) -> None:
        if event.type not in EVENT_TYPES or self._session is None:
            return
        targets = [sub for sub in self.subscriptions.values() if sub.wants(event.type)]
        if not targets:
            return
        payload = self.payload(event, event.type)
        body = dumps(payload).encode()
        for subscription in targets:
            self._schedule(subscription, payload["id"], event.type, body)

    def _schedule(self, subscription: Subscription, event_id: str, kind: str, body: bytes) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._spawn, subscription, event_id, kind, body)
            return
        self._spawn(subscription, event_id, kind, body)

    def _spawn(self, subscription: Subscription, event_id: str, kind: str, body: bytes) -> None:
        if subscription.id not in self.subscriptions:
            return
        task = asyncio.get_running_loop().create_task(
            self._deliver(subscription, event_id, kind, body)
        )
        tasks = self._tasks.setdefault(subscription.id, set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _deliver(
        self, subscription: Subscription, event_id: str, kind: str, body: bytes
    ) -> None:
        counters = self.ctx.counters.webhooks
        delays = self.ctx.config.webhook_retry_delays
        for attempt in range(1, len(delays) + 2):
            counters["attempts"] += 1
            if await self._attempt(subscription, event_id, kind, body, attempt):
                counters["delivered"] += 1
                return
            if attempt > len(delays):
                break
            counters["retried"] += 1
            await asyncio.sleep(delays[attempt - 1])
        counters["failed"] += 1
        LOGGER.info("Gave up delivering %s to %s", event_id, subscription.url)

    async def _attempt(
        self, subscription: Subscription, event_id: str, kind: str, body: bytes, attempt: int
    ) -> bool:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Webhook-Id": event_id,
            "X-Webhook-Event": kind,
            "X-Webhook-Timestamp": str(int(time.time())),
            "X-Webhook-Signature": sign(subscription.secret, body),
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        session = self._session
        if session is None:
            return False
        try:
            async with session.post(
                subscription.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.ctx.config.webhook_timeout),
            ) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as err:
            error = f"connection error: {err.__class__.__name__}"
        success = status is not None and is_success(status)
        if status is not None and not success:
            error = f"HTTP {status}"
        subscription.deliveries.append(
            {
                "id": f"dlv_{uuid.uuid4().hex[:12]}",
                "event_id": event_id,
                "event_type": kind,
                "attempt": attempt,
                "status_code": status,
                "success": success,
                "error": error,
                "duration_ms": round((time.monotonic() - started) * 1000),
                "attempted_at": iso(time.time()),
            }
        )
        return success
