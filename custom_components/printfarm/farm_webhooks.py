"""AutoPrintFarm's webhooks into Home Assistant: the farm pushes its events too.

At setup printfarm registers a Home Assistant webhook and subscribes it at the farm with a
secret of its own, reusing or replacing the subscriptions it made before; unloading the
entry unsubscribes. Every delivery is verified (signature, timestamp, replay) before the
event it tells reaches the farm coordinator.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from http import HTTPStatus

from aiohttp import web
from homeassistant.components import webhook
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.util import dt as dt_util

from .api import (
    WEBHOOK_EVENTS,
    AutoPrintFarm,
    PrintFarmError,
    PrintFarmWebhookError,
    WebhookVerifier,
)
from .const import (
    CONF_WEBHOOK_EVENTS,
    CONF_WEBHOOK_ID,
    CONF_WEBHOOK_SECRET,
    CONF_WEBHOOK_SUBSCRIPTION,
    DOMAIN,
    LOGGER,
)
from .coordinator import FarmCoordinator, PrintFarmConfigEntry

ISSUE_UNREACHABLE = "webhook_unreachable"
# A replayed delivery is refused as a conflict: it is authentic, but was applied before
REFUSED_STATUS = {"replay": HTTPStatus.CONFLICT}
# Refused deliveries in a row after which the farm is polled as if it had no webhooks
REFUSALS_UNTIL_POLLING = 3


def _issue_id(entry: PrintFarmConfigEntry) -> str:
    return f"{ISSUE_UNREACHABLE}_{entry.entry_id}"


async def _async_webhook_url(hass: HomeAssistant, webhook_id: str) -> str | None:
    """Return where the farm can reach the webhook: Home Assistant Cloud, or the external URL."""
    if "cloud" in hass.config.components:
        from homeassistant.components import cloud  # noqa: PLC0415 - only with cloud set up

        if cloud.async_active_subscription(hass):
            return await cloud.async_get_or_create_cloudhook(hass, webhook_id)
    try:
        return webhook.async_generate_url(hass, webhook_id, allow_internal=False)
    except NoURLAvailableError:
        return None


def subscribed_events(entry: PrintFarmConfigEntry) -> list[str]:
    """Return the farm events the user chose to receive (every one by default)."""
    chosen: Sequence[str] = entry.options.get(CONF_WEBHOOK_EVENTS, WEBHOOK_EVENTS)
    return [event for event in WEBHOOK_EVENTS if event in chosen]


async def async_setup_webhook(
    hass: HomeAssistant, entry: PrintFarmConfigEntry, client: AutoPrintFarm, farm: FarmCoordinator
) -> None:
    """Receive the farm's events, if Home Assistant has an address the farm can reach.

    Without one, a repair issue says so and the farm is polled as before.
    """
    webhook_id = entry.data.get(CONF_WEBHOOK_ID) or webhook.async_generate_id()
    url = await _async_webhook_url(hass, webhook_id)
    if url is None:
        ir.async_create_issue(
            hass,
            DOMAIN,
            _issue_id(entry),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="webhook_unreachable",
            translation_placeholders={"name": entry.title},
        )
        return
    ir.async_delete_issue(hass, DOMAIN, _issue_id(entry))
    events = subscribed_events(entry)
    if not events:
        return
    try:
        subscription_id, secret = await _async_subscribe(entry, client, url, events)
    except PrintFarmError as err:
        # The farm is still polled; the next setup tries again
        LOGGER.warning("Could not subscribe to the farm's webhooks of %s: %s", entry.title, err)
        return
    hass.config_entries.async_update_entry(
        entry,
        data={
            **entry.data,
            CONF_WEBHOOK_ID: webhook_id,
            CONF_WEBHOOK_SECRET: secret,
            CONF_WEBHOOK_SUBSCRIPTION: subscription_id,
        },
    )
    verifier = WebhookVerifier(secret)
    refusals = 0

    async def handle(hass: HomeAssistant, _webhook_id: str, request: web.Request) -> web.Response:
        nonlocal refusals
        body = await request.read()
        try:
            event = verifier.verify(body, request.headers, now=dt_util.utcnow())
        except PrintFarmWebhookError as err:
            refusals += 1
            LOGGER.warning("Refused a webhook delivery for %s: %s", entry.title, err)
            if refusals == REFUSALS_UNTIL_POLLING:
                # The farm's news does not get through: poll again as without webhooks
                farm.webhook_active = False
                farm.async_remote_change()
            return web.Response(status=REFUSED_STATUS.get(err.reason, HTTPStatus.UNAUTHORIZED))
        if refusals:
            LOGGER.info("Webhook deliveries for %s are accepted again", entry.title)
            refusals = 0
            farm.webhook_active = True
        farm.async_apply_event(event)
        return web.Response(status=HTTPStatus.OK)

    webhook.async_register(hass, DOMAIN, entry.title, webhook_id, handle, allowed_methods=["POST"])
    farm.webhook_active = True

    async def async_unsubscribe() -> None:
        webhook.async_unregister(hass, webhook_id)
        farm.webhook_active = False
        await async_unsubscribe_webhook(hass, entry, client)

    entry.async_on_unload(async_unsubscribe)


async def _async_subscribe(
    entry: PrintFarmConfigEntry, client: AutoPrintFarm, url: str, events: list[str]
) -> tuple[str, str]:
    """Return a new subscription of the webhook with a new secret, replacing earlier ones.

    A new secret at every start means a delivery captured before cannot be replayed after
    a restart (the ids seen are remembered only while Home Assistant runs); the
    subscriptions left by earlier starts are removed, so they never pile up.
    """
    for subscription in await client.webhooks():
        if subscription.url == url:
            await client.unsubscribe_webhook(subscription.id)
    secret = secrets.token_hex(32)
    created = await client.subscribe_webhook(
        url=url, events=events, secret=secret, description=f"Home Assistant: {entry.title}"
    )
    return created.id, secret


async def async_unsubscribe_webhook(
    hass: HomeAssistant, entry: PrintFarmConfigEntry, client: AutoPrintFarm
) -> None:
    """Remove the entry's subscription at the farm, and forget it and its secret."""
    ir.async_delete_issue(hass, DOMAIN, _issue_id(entry))
    if (subscription_id := entry.data.get(CONF_WEBHOOK_SUBSCRIPTION)) is None:
        return
    try:
        await client.unsubscribe_webhook(subscription_id)
    except PrintFarmError as err:
        LOGGER.debug("Could not unsubscribe %s from the farm: %s", entry.title, err)
    data = {
        key: value
        for key, value in entry.data.items()
        if key not in (CONF_WEBHOOK_SUBSCRIPTION, CONF_WEBHOOK_SECRET)
    }
    hass.config_entries.async_update_entry(entry, data=data)
