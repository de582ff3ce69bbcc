"""What goes out to webhook subscriptions: deliveries, the requests sent, those held back."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KEPT_DELIVERIES = 50
# How the deliveries held back are released: as held, newest first, or shuffled by a seed
RELEASE_ORDERS = ("fifo", "reverse", "shuffle")


@dataclass(frozen=True, kw_only=True)
class SentRequest:
    """The request of one delivery attempt exactly as sent, kept to be replayed unchanged."""

    event_id: str
    kind: str
    attempt: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(kw_only=True)
class Subscription:
    """A webhook subscription: where to send which events, signed with which secret."""

    id: str
    url: str
    events: list[str]
    secret: str
    description: str | None
    created_at: float
    # The public delivery log: one record an attempt, newest last
    deliveries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEPT_DELIVERIES))
    # The requests of those attempts, for the admin API's replays
    sent: deque[SentRequest] = field(default_factory=lambda: deque(maxlen=KEPT_DELIVERIES))

    def wants(self, event_type: str) -> bool:
        """Return whether the subscription asked for an event type."""
        return "*" in self.events or event_type in self.events


@dataclass(frozen=True, kw_only=True, eq=False)
class Outgoing:
    """One event on its way to one subscription."""

    subscription: Subscription
    event_id: str
    kind: str
    body: bytes

    def view(self) -> dict[str, str]:
        """Return what the admin API shows of it."""
        return {
            "webhook_id": self.subscription.id,
            "event_id": self.event_id,
            "event_type": self.kind,
        }


def sign(secret: str, body: bytes) -> str:
    """Return the X-Webhook-Signature value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wrong_secret(secret: str) -> str:
    """Return a secret that is not the subscription's, as a misconfigured sender has."""
    return "not-" + secret


class HeldDeliveries:
    """Deliveries the `hold` fault keeps back, in the order they were held."""

    def __init__(self) -> None:
        """Hold nothing."""
        self._items: list[Outgoing] = []

    def __len__(self) -> int:
        """Return how many deliveries are held."""
        return len(self._items)

    def hold(self, outgoing: Outgoing) -> None:
        """Keep a delivery back."""
        self._items.append(outgoing)

    def of(self, webhook_id: str) -> list[Outgoing]:
        """Return the deliveries held for one subscription, in the order they were held."""
        return [item for item in self._items if item.subscription.id == webhook_id]

    def drop(self, webhook_id: str | None = None) -> None:
        """Forget the deliveries held for a subscription, or all of them."""
        self._items = [
            item
            for item in self._items
            if webhook_id is not None and item.subscription.id != webhook_id
        ]

    def take(self, *, order: str, seed: int, webhook_id: str | None = None) -> list[Outgoing]:
        """Remove the held deliveries (of one subscription, or all) and return them in an order."""
        if order not in RELEASE_ORDERS:
            msg = f"Unknown order {order!r}; use {', '.join(RELEASE_ORDERS)}"
            raise ValueError(msg)
        taken = [i for i in self._items if webhook_id in (None, i.subscription.id)]
        self._items = [i for i in self._items if webhook_id not in (None, i.subscription.id)]
        if order == "reverse":
            taken.reverse()
        elif order == "shuffle":
            random.Random(seed).shuffle(taken)  # noqa: S311 - a test's order, not a secret
        return taken

    def restore(self, items: list[Outgoing]) -> None:
        """Hold again, first of all, deliveries whose release was interrupted."""
        self._items = [*items, *self._items]
