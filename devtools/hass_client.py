"""One client for every Home Assistant API the harness uses."""

from __future__ import annotations

from .flows import FlowApi
from .onboarding import OnboardingApi
from .registry import RegistryApi


class HomeAssistantClient(OnboardingApi, FlowApi, RegistryApi):
    """Home Assistant's REST and websocket APIs, as the frontend uses them."""
