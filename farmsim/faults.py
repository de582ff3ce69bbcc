"""Faults that farmsim can inject, switched on and off at run time."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any


def _take(rng: random.Random, rate: float, remaining: int) -> tuple[bool, int]:
    """Decide whether a fault fires: first the counted ones, then by chance."""
    if remaining > 0:
        return True, remaining - 1
    return (rate > 0 and rng.random() < rate), 0


@dataclass(kw_only=True)
class HttpFaults:
    """Faults of one REST service."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_next: int = 0
    drop_rate: float = 0.0
    drop_next: int = 0
    rate_limit_storm: bool = False

    def take_error(self, rng: random.Random) -> bool:
        """Return whether this request gets a 5xx answer."""
        fire, self.error_next = _take(rng, self.error_rate, self.error_next)
        return fire

    def take_drop(self, rng: random.Random) -> bool:
        """Return whether this request's response is dropped after the server acted."""
        fire, self.drop_next = _take(rng, self.drop_rate, self.drop_next)
        return fire


@dataclass(kw_only=True)
class MqttFaults:
    """Faults of the MQTT reports farmsim publishes."""

    malformed_rate: float = 0.0
    malformed_next: int = 0
    truncated_rate: float = 0.0
    truncated_next: int = 0

    def mangle(self, rng: random.Random, payload: bytes) -> bytes:
        """Return the payload, or a malformed or truncated version of it."""
        fire, self.malformed_next = _take(rng, self.malformed_rate, self.malformed_next)
        if fire:
            return b'{"print": {"command": "push_status", "mc_percent": ]]not json'
        fire, self.truncated_next = _take(rng, self.truncated_rate, self.truncated_next)
        if fire:
            return payload[: max(1, len(payload) // 2)]
        return payload


@dataclass(kw_only=True)
class WebhookFaults:
    """Faults of AutoPrintFarm's webhook deliveries: a sender that misbehaves.

    An attempt can be signed with a secret other than the subscription's, carry an
    `X-Webhook-Timestamp` `stale_seconds` in the past, or be sent a second time unchanged
    (a replay: same body, signature, timestamp and event id). While `hold` is on, new
    deliveries wait until the admin API releases them, in order, reversed or shuffled.
    """

    wrong_secret_rate: float = 0.0
    wrong_secret_next: int = 0
    stale_rate: float = 0.0
    stale_next: int = 0
    stale_seconds: float = 3600.0
    duplicate_rate: float = 0.0
    duplicate_next: int = 0
    hold: bool = False

    def take_wrong_secret(self, rng: random.Random) -> bool:
        """Return whether this attempt is signed with a wrong secret."""
        fire, self.wrong_secret_next = _take(rng, self.wrong_secret_rate, self.wrong_secret_next)
        return fire

    def take_stale(self, rng: random.Random) -> bool:
        """Return whether this attempt carries a stale timestamp."""
        fire, self.stale_next = _take(rng, self.stale_rate, self.stale_next)
        return fire

    def take_duplicate(self, rng: random.Random) -> bool:
        """Return whether this attempt is sent again, unchanged, once it was answered."""
        fire, self.duplicate_next = _take(rng, self.duplicate_rate, self.duplicate_next)
        return fire


@dataclass(kw_only=True)
class Faults:
    """Every fault switch of a farmsim instance."""

    autoprintfarm: HttpFaults = field(default_factory=HttpFaults)
    printago: HttpFaults = field(default_factory=HttpFaults)
    mqtt: MqttFaults = field(default_factory=MqttFaults)
    webhooks: WebhookFaults = field(default_factory=WebhookFaults)

    def http(self, service: str) -> HttpFaults:
        """Return the faults of a REST service by name."""
        if service == "printago":
            return self.printago
        return self.autoprintfarm

    def as_dict(self) -> dict[str, Any]:
        """Return the current switches."""
        return asdict(self)

    def update(self, section: str, changes: dict[str, Any]) -> None:
        """Change switches of one section; unknown names raise KeyError or ValueError."""
        target: HttpFaults | MqttFaults | WebhookFaults = getattr(self, section)
        known = {f.name: f.type for f in fields(target)}
        for key, raw in changes.items():
            if key not in known:
                raise KeyError(key)
            current = getattr(target, key)
            value: bool | float
            if isinstance(current, bool):
                if not isinstance(raw, bool):
                    msg = f"{key} must be a boolean"
                    raise TypeError(msg)
                value = raw
            elif isinstance(current, int):
                value = int(raw)
            else:
                value = float(raw)
            if not isinstance(value, bool) and value < 0:
                msg = f"{key} must not be negative"
                raise ValueError(msg)
            setattr(target, key, value)

    def reset(self) -> None:
        """Switch every fault off."""
        self.autoprintfarm = HttpFaults()
        self.printago = HttpFaults()
        self.mqtt = MqttFaults()
        self.webhooks = WebhookFaults()
