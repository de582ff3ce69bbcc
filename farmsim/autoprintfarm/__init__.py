"""farmsim's AutoPrintFarm API v1: printers, jobs, materials, analytics and webhooks."""

from .app import create_app
from .auth import READ_SCOPES, SCOPES, register_api_key, reset_rate_limits, revoke_api_key
from .delivery import WebhookHub, running_hub

__all__ = [
    "READ_SCOPES",
    "SCOPES",
    "WebhookHub",
    "create_app",
    "register_api_key",
    "reset_rate_limits",
    "revoke_api_key",
    "running_hub",
]
