"""AutoPrintFarm: its REST API (v1 and /public/v1) and its signed webhooks."""

from .client import AutoPrintFarm, verify_webhook_signature
from .models import Webhook

__all__ = ["AutoPrintFarm", "Webhook", "verify_webhook_signature"]
