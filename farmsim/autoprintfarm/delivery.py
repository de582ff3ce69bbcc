"""Webhook subscriptions and their signed deliveries, retried with backoff.

The `webhooks` faults make the hub misbehave as a real sender might: attempts signed with a
wrong secret or with a stale timestamp (see sender.py), requests sent twice unchanged,
deliveries held back and released out of order. Every request sent is an attempt in the
counters and the subscription's delivery log, with the status it was answered.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from farmsim.errors import InvalidStateError, NotFoundError
from farmsim.models import WorldEvent

from .envelope import dumps, iso
from .outgoing import HeldDeliveries, Outgoing, Subscription, sign
from .sender import USER_AGENT, Sender
from .views import job_view, material_view, printer_view

if TYPE_CHECKING:
    from collections.abc import Callable

    from farmsim.context import SimContext

__all__ = [
    "EVENT_TYPES",
    "TEST_EVENT",
    "USER_AGENT",
    "Subscription",
    "WebhookHub",
    "running_hub",
    "sign",
]

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
# Error codes of the admin API's replays
NO_WEBHOOK = "invalid_webhook"
NOTHING_TO_REPLAY = "nothing_to_replay"
NOT_RUNNING = "not_running"

# The running hub of each farmsim context, for the admin API (by id: contexts are unhashable)
_RUNNING: weakref.WeakValueDictionary[int, WebhookHub] = weakref.WeakValueDictionary()


def running_hub(ctx: SimContext) -> WebhookHub | None:
    """Return the running webhook hub of a farmsim context, if there is one."""
    hub = _RUNNING.get(id(ctx))
    return hub if hub is not None and hub.ctx is ctx else None


def _settle(first: asyncio.Future[None] | None) -> None:
    if first is not None and not first.done():
        first.set_result(None)


class WebhookHub:
    """Turn world events into signed webhook deliveries."""

    def __init__(self, ctx: SimContext) -> None:
        """Initialize with no subscriptions."""
        self.ctx = ctx
        self.subscriptions: dict[str, Subscription] = {}
        self.held = HeldDeliveries()
        self._tasks: dict[str, set[asyncio.Task[None]]] = {}
        self._sender = Sender(ctx)
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Open the HTTP session and listen to the world."""
        self._loop = asyncio.get_running_loop()
        await self._sender.open()
        self._unsubscribe = self.ctx.world.subscribe(self._on_event)
        _RUNNING[id(self.ctx)] = self

    async def stop(self) -> None:
        """Stop listening, cancel pending deliveries and close the session."""
        if _RUNNING.get(id(self.ctx)) is self:
            del _RUNNING[id(self.ctx)]
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.held.drop()
        tasks = [task for tasks in self._tasks.values() for task in tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        await self._sender.close()

    def add(self, subscription: Subscription) -> None:
        """Start delivering events to a subscription."""
        self.subscriptions[subscription.id] = subscription

    def remove(self, subscription_id: str) -> None:
        """Delete a subscription and cancel its pending and held deliveries."""
        self.subscriptions.pop(subscription_id, None)
        self.held.drop(subscription_id)
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
        body = dumps(payload).encode()
        self._spawn(
            Outgoing(subscription=subscription, event_id=payload["id"], kind=TEST_EVENT, body=body)
        )
        return str(payload["id"])

    def admin_view(self) -> list[dict[str, Any]]:
        """Return the subscriptions with their running and held deliveries (admin API)."""
        return [
            {
                "id": subscription.id,
                "url": subscription.url,
                "events": list(subscription.events),
                "pending": self.pending(subscription.id),
                "held": [outgoing.view() for outgoing in self.held.of(subscription.id)],
                "sent": len(subscription.sent),
            }
            for subscription in self.subscriptions.values()
        ]

    async def release(
        self, *, order: str = "fifo", seed: int = 0, webhook_id: str | None = None
    ) -> list[Outgoing]:
        """Send the deliveries held back, one after another, in an order; return them so.

        Each is attempted once before the next is sent, so a receiver gets them in exactly
        this order; their retries, if any, follow on their own schedule.
        """
        queue = self.held.take(order=order, seed=seed, webhook_id=webhook_id)
        released: list[Outgoing] = []
        try:
            while queue:
                outgoing = queue.pop(0)
                if outgoing.subscription.id not in self.subscriptions:
                    continue
                first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._start(outgoing, first)
                self.ctx.counters.webhooks["released"] += 1
                released.append(outgoing)
                await first
        finally:
            self.held.restore(queue)
        return released

    async def replay(self, webhook_id: str, event_id: str | None = None) -> dict[str, Any]:
        """Send an earlier request of a subscription again, unchanged; return its log record.

        The request is the latest one sent, or the latest one of `event_id`.
        """
        subscription = self.subscriptions.get(webhook_id)
        if subscription is None:
            msg = f"No webhook with ID {webhook_id}"
            raise NotFoundError(NO_WEBHOOK, "Webhook not found", msg)
        sent = next(
            (s for s in reversed(subscription.sent) if event_id in (None, s.event_id)), None
        )
        if sent is None:
            what = f"event {event_id}" if event_id else "any event"
            msg = f"Webhook {webhook_id} has sent no request of {what}"
            raise NotFoundError(NOTHING_TO_REPLAY, "Nothing to replay", msg)
        record = await self._sender.send(subscription, sent, replay=True)
        if record is None:
            msg = "The webhook hub is not running"
            raise InvalidStateError(NOT_RUNNING, "Not running", msg)
        return record

    def _on_event(self, event: WorldEvent) -> None:
        if event.type not in EVENT_TYPES or not self._sender.running:
            return
        targets = [sub for sub in self.subscriptions.values() if sub.wants(event.type)]
        if not targets:
            return
        payload = self.payload(event, event.type)
        body = dumps(payload).encode()
        for subscription in targets:
            outgoing = Outgoing(
                subscription=subscription, event_id=payload["id"], kind=event.type, body=body
            )
            self._schedule(outgoing)

    def _schedule(self, outgoing: Outgoing) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._spawn, outgoing)
            return
        self._spawn(outgoing)

    def _spawn(self, outgoing: Outgoing) -> None:
        """Deliver, or hold the delivery back while the `hold` fault is on."""
        if outgoing.subscription.id not in self.subscriptions:
            return
        if self.ctx.faults.webhooks.hold:
            self.ctx.counters.webhooks["held"] += 1
            self.held.hold(outgoing)
            return
        self._start(outgoing)

    def _start(self, outgoing: Outgoing, first: asyncio.Future[None] | None = None) -> None:
        """Deliver in a task of its own; `first` is settled once its first attempt was answered.

        It is settled too when the delivery ends otherwise, even cancelled before it began.
        """
        task = asyncio.get_running_loop().create_task(self._deliver(outgoing, first))
        tasks = self._tasks.setdefault(outgoing.subscription.id, set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(lambda _: _settle(first))

    async def _deliver(self, outgoing: Outgoing, first: asyncio.Future[None] | None) -> None:
        """Attempt a delivery until it succeeds or the retries run out."""
        counters = self.ctx.counters.webhooks
        delays = self.ctx.config.webhook_retry_delays
        for attempt in range(1, len(delays) + 2):
            delivered = await self._attempt(outgoing, attempt)
            _settle(first)
            if delivered:
                counters["delivered"] += 1
                return
            if attempt > len(delays):
                break
            counters["retried"] += 1
            await asyncio.sleep(delays[attempt - 1])
        counters["failed"] += 1
        LOGGER.info("Gave up delivering %s to %s", outgoing.event_id, outgoing.subscription.url)

    async def _attempt(self, outgoing: Outgoing, attempt: int) -> bool:
        """Send one attempt (and, under the duplicate fault, its replay); return its success."""
        sent = self._sender.request(outgoing, attempt)
        record = await self._sender.send(outgoing.subscription, sent)
        if record is None:
            return False
        if self.ctx.faults.webhooks.take_duplicate(self.ctx.rng):
            await self._sender.send(outgoing.subscription, sent, replay=True)
        return bool(record["success"])
