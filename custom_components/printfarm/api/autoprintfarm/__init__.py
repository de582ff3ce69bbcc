"""AutoPrintFarm: its REST API (v1 and /public/v1) and its signed webhooks."""

from .client import AutoPrintFarm
from .models import Webhook
from .webhooks import WEBHOOK_EVENTS, WebhookVerifier, parse_event, verify_webhook_signature

__all__ = [
    "WEBHOOK_EVENTS",
    "AutoPrintFarm",
    "Webhook",
    "WebhookVerifier",
    "parse_event",
    "verify_webhook_signature",
]
