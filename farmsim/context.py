"""Configuration, counters and the shared context every farmsim face gets."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .faults import Faults
from .world import World

BAMBU_BROKERS = ("shared", "dedicated")
# The layouts of the embedded broker (one for every printer) and of Mosquitto (one each)
FORMER_BROKERS = {"embedded": "shared", "mosquitto": "dedicated"}


def _token(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


@dataclass(kw_only=True)
class SimConfig:
    """How a farmsim instance is set up."""

    host: str = "127.0.0.1"
    printers: int = 3
    time_scale: float = 1.0
    seed: int = 0
    demo: bool = False
    tick_interval: float = 0.2
    report_interval: float = 1.0
    # Each printer reports on its own beat of the interval (False: all at the same moment)
    spread_reports: bool = True
    autoprintfarm_port: int = 0
    printago_port: int = 0
    admin_port: int = 0
    farm_name: str = "farmsim"
    autoprintfarm_account_id: str = ""
    autoprintfarm_api_key: str = ""
    autoprintfarm_rate_limit: int = 100
    printago_api_key: str = ""
    printago_store_id: str = ""
    printago_limits: tuple[tuple[int, float], ...] = ((60, 60.0), (600, 3600.0))
    # How long a Printago printer stat stays valid (`expiresAt`); real seconds, not simulated
    printago_stat_validity: float = 60.0
    webhook_retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0)
    webhook_timeout: float = 10.0
    idempotency_ttl: float = 86400.0
    # "shared": the printers farmsim starts with share one Mosquitto; "dedicated": one each
    bambu_broker: str = "shared"
    state_dir: Path | None = None

    def __post_init__(self) -> None:
        """Check the settings and derive credentials from the seed where none were given."""
        self._check_times()
        self._check_broker()
        rng = random.Random(f"farmsim-credentials-{self.seed}")  # noqa: S311
        hexdigits = "0123456789abcdef"
        lower = "abcdefghijklmnopqrstuvwxyz0123456789"
        if not self.autoprintfarm_account_id:
            self.autoprintfarm_account_id = "acc_" + _token(rng, lower, 10)
        if not self.autoprintfarm_api_key:
            self.autoprintfarm_api_key = "apf_live_" + _token(rng, hexdigits, 64)
        if not self.printago_api_key:
            self.printago_api_key = _token(rng, lower, 72)
        if not self.printago_store_id:
            self.printago_store_id = "c" + _token(rng, lower, 23)

    def _check_broker(self) -> None:
        """Accept a broker layout, also by its former name."""
        self.bambu_broker = FORMER_BROKERS.get(self.bambu_broker, self.bambu_broker)
        if self.bambu_broker not in BAMBU_BROKERS:
            msg = f"bambu_broker must be one of {BAMBU_BROKERS}, not {self.bambu_broker!r}"
            raise ValueError(msg)

    def _check_times(self) -> None:
        """Refuse intervals and durations that would stall a schedule or divide by zero."""
        positive = {
            "time_scale": self.time_scale,
            "tick_interval": self.tick_interval,
            "report_interval": self.report_interval,
            "printago_stat_validity": self.printago_stat_validity,
            "webhook_timeout": self.webhook_timeout,
            "idempotency_ttl": self.idempotency_ttl,
        }
        for index, (_, window) in enumerate(self.printago_limits):
            positive[f"printago_limits[{index}] window"] = window
        for name, value in positive.items():
            # Written so that NaN fails too
            if not value > 0:
                msg = f"{name} must be positive, not {value!r}"
                raise ValueError(msg)
        if not all(delay >= 0 for delay in self.webhook_retry_delays):
            msg = f"webhook_retry_delays must not be negative, not {self.webhook_retry_delays!r}"
            raise ValueError(msg)


@dataclass(kw_only=True)
class Counters:
    """What happened, for tests and the benchmark to observe."""

    requests: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    responses: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    rate_limited: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    webhooks: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Messages the Bambu printers published on the LAN, and Printago's realtime printer stats
    mqtt_published: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    printago_published: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    mqtt_commands: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def count_request(self, service: str, key: str) -> None:
        """Count one authenticated request of a key (only a key fingerprint is kept)."""
        self.requests[service][fingerprint(key)] += 1

    def as_dict(self) -> dict[str, Any]:
        """Return every counter as plain data."""
        return {
            "requests": {s: dict(v) for s, v in self.requests.items()},
            "responses": {s: dict(v) for s, v in self.responses.items()},
            "rate_limited": dict(self.rate_limited),
            "webhooks": dict(self.webhooks),
            "mqtt_published": dict(self.mqtt_published),
            "printago_published": dict(self.printago_published),
            "mqtt_commands": dict(self.mqtt_commands),
        }

    def reset(self) -> None:
        """Set every counter back to zero."""
        for counter in (
            self.requests,
            self.responses,
            self.rate_limited,
            self.webhooks,
            self.mqtt_published,
            self.printago_published,
            self.mqtt_commands,
        ):
            counter.clear()


MIN_FINGERPRINT_LENGTH = 12


def fingerprint(key: str) -> str:
    """Return a short, non-secret label for an API key."""
    return f"{key[:4]}…{key[-4:]}" if len(key) > MIN_FINGERPRINT_LENGTH else "key"


@dataclass(kw_only=True)
class SimContext:
    """What every face of farmsim shares."""

    config: SimConfig
    world: World
    faults: Faults = field(default_factory=Faults)
    counters: Counters = field(default_factory=Counters)
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311
