"""Webhook endpoints: subscribe to events, list, inspect deliveries, test and delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import validate
from .delivery import EVENT_TYPES, Subscription
from .envelope import ApiError, iso, ok, paginated, read_json, reject
from .state import HUB, IDEMPOTENCY, Route, world_of

if TYPE_CHECKING:
    from aiohttp import web

MIN_SECRET = 16
MAX_SECRET = 256


def webhook_view(subscription: Subscription) -> dict[str, Any]:
    """Return a subscription as the API shows it (never the secret)."""
    last = subscription.deliveries[-1] if subscription.deliveries else None
    return {
        "id": subscription.id,
        "url": subscription.url,
        "events": list(subscription.events),
        "description": subscription.description,
        "secret_last4": subscription.secret[-4:],
        "last_delivery": last,
        "created_at": iso(subscription.created_at),
    }


def _subscription(request: web.Request) -> Subscription:
    webhook_id = request.match_info["webhook_id"]
    if (subscription := request.app[HUB].subscriptions.get(webhook_id)) is None:
        msg = f"No webhook with ID {webhook_id}"
        raise ApiError(404, "invalid_webhook", "Webhook not found", msg)
    return subscription


def _events(body: dict[str, Any]) -> list[str]:
    events = validate.value_of(body, "events", required=True)
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        reject("events", "must be a non-empty list of event names")
    if unknown := [e for e in events if e != "*" and e not in EVENT_TYPES]:
        msg = f"unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)} or *"
        reject("events", msg)
    return list(dict.fromkeys(events))


def _secret(body: dict[str, Any]) -> str:
    secret = validate.value_of(body, "secret", required=True)
    if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET:
        reject("secret", f"must be a string of {MIN_SECRET} to {MAX_SECRET} characters")
    return secret


async def create_webhook(request: web.Request) -> web.Response:
    """Subscribe a URL to events."""
    world = world_of(request)
    hub = request.app[HUB]
    body = await read_json(request)

    async def produce() -> web.Response:
        validate.only(body, ("url", "events", "secret", "description"))
        url = validate.url(body, "url", required=True)
        events = _events(body)
        secret = _secret(body)
        subscription = Subscription(
            id=world.new_id("whk_"),
            url=url or "",
            events=events,
            secret=secret,
            description=validate.text(body, "description"),
            created_at=world.clock.now(),
        )
        hub.add(subscription)
        return ok(webhook_view(subscription), status=201)

    return await request.app[IDEMPOTENCY].run(request, body, produce)


async def list_webhooks(request: web.Request) -> web.Response:
    """List webhook subscriptions."""
    hub = request.app[HUB]
    return paginated(request, [webhook_view(s) for s in hub.subscriptions.values()])


async def get_webhook(request: web.Request) -> web.Response:
    """Return one webhook subscription."""
    return ok(webhook_view(_subscription(request)))


async def delete_webhook(request: web.Request) -> web.Response:
    """Delete a subscription; pending deliveries and retries stop."""
    subscription = _subscription(request)
    request.app[HUB].remove(subscription.id)
    return ok({"id": subscription.id, "deleted": True})


async def list_deliveries(request: web.Request) -> web.Response:
    """List the latest delivery attempts of a subscription, newest first."""
    subscription = _subscription(request)
    return paginated(request, list(reversed(subscription.deliveries)))


async def test_webhook(request: web.Request) -> web.Response:
    """Send a signed `webhook.test` event to the subscription."""
    subscription = _subscription(request)
    event_id = request.app[HUB].send_test(subscription)
    return ok({"webhook_id": subscription.id, "event_id": event_id, "type": "webhook.test"})


ROUTES = (
    Route(method="GET", path="/webhooks", handler=list_webhooks, scope="webhooks:write"),
    Route(method="POST", path="/webhooks", handler=create_webhook, scope="webhooks:write"),
    Route(method="GET", path="/webhooks/{webhook_id}", handler=get_webhook, scope="webhooks:write"),
    Route(
        method="DELETE",
        path="/webhooks/{webhook_id}",
        handler=delete_webhook,
        scope="webhooks:write",
    ),
    Route(
        method="GET",
        path="/webhooks/{webhook_id}/deliveries",
        handler=list_deliveries,
        scope="webhooks:write",
    ),
    Route(
        method="POST",
        path="/webhooks/{webhook_id}/test",
        handler=test_webhook,
        scope="webhooks:write",
    ),
)
