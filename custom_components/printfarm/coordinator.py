"""Data coordinators for printfarm: the farm's REST data and its printers' pushed state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    OPEN_JOB_STATUSES,
    Account,
    FarmClient,
    FarmSummary,
    Job,
    Material,
    Printer,
    PrinterStatus,
    PrintFarmAuthenticationError,
    PrintFarmError,
    PrintFarmRateLimitError,
    RateBudget,
)
from .const import (
    CONF_BUDGET_SHARE,
    CONF_SERVICE,
    DEFAULT_BUDGET_SHARE,
    DOMAIN,
    LOGGER,
    MAX_REFRESH,
    MIN_REFRESH,
    REQUESTS_PER_REFRESH,
)

if TYPE_CHECKING:
    from .hub import PrinterHub

# Part of the allowed budget planned for polling; the rest covers refreshes after actions.
PLANNED_USE = 0.8

type PrintFarmConfigEntry = ConfigEntry[PrintFarmRuntimeData]


@dataclass(kw_only=True)
class PrintFarmRuntimeData:
    """Class to hold runtime data."""

    client: FarmClient
    account: Account
    farm: FarmCoordinator
    hub: PrinterHub
    settings: tuple[object, ...] = ()


@dataclass(kw_only=True)
class FarmData:
    """The farm as its REST API last described it."""

    printers: dict[str, Printer]
    jobs: list[Job]
    materials: dict[str, Material]
    summary: FarmSummary
    budget: RateBudget
    printer_jobs: dict[str, Job] = field(default_factory=dict)

    def count_printers(self, *statuses: PrinterStatus) -> int:
        """Return how many printers are in one of the statuses."""
        return sum(1 for printer in self.printers.values() if printer.status in statuses)

    def __post_init__(self) -> None:
        """Index the running job of each printer."""
        self.printer_jobs = {
            job.printer_id: job
            for job in self.jobs
            if job.printer_id is not None and job.status in OPEN_JOB_STATUSES
        }


class FarmCoordinator(DataUpdateCoordinator[FarmData]):
    """Class to manage fetching the farm's printers, queue and filament within its rate budget."""

    config_entry: PrintFarmConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: PrintFarmConfigEntry, client: FarmClient
    ) -> None:
        """Initialize the coordinator."""
        self.client = client
        self._requests_per_refresh = REQUESTS_PER_REFRESH[entry.data[CONF_SERVICE]]
        self._last_refresh = dt_util.utcnow()
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title} farm",
            update_interval=MIN_REFRESH,
        )

    @property
    def budget_share(self) -> float:
        """Return the share of the request budget the integration may use."""
        return float(self.config_entry.options.get(CONF_BUDGET_SHARE, DEFAULT_BUDGET_SHARE)) / 100

    @callback
    def async_remote_change(self) -> None:
        """Refresh soon after the farm reported a change, if the budget has room for it."""
        budget = self.client.budget
        if budget.remaining is not None and budget.remaining < 2 * self._requests_per_refresh:
            return
        since = dt_util.utcnow() - self._last_refresh
        if since >= MIN_REFRESH:
            self.hass.async_create_task(self.async_request_refresh(), eager_start=True)

    async def _async_update_data(self) -> FarmData:
        """Fetch data from the farm service."""
        client = self.client
        sent = client.budget.sent
        try:
            printers = await client.printers()
            jobs = await client.jobs(statuses=OPEN_JOB_STATUSES)
            materials = await client.materials()
            summary = await client.summary()
        except PrintFarmAuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="authentication_failed"
            ) from err
        except PrintFarmRateLimitError as err:
            wait = max((err.retry_at - dt_util.utcnow()).total_seconds(), 1.0)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="rate_limited",
                translation_placeholders={"retry_at": err.retry_at.isoformat()},
                retry_after=wait,
            ) from err
        except PrintFarmError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="communication_error",
                translation_placeholders={"error": str(err)},
            ) from err
        self._last_refresh = dt_util.utcnow()
        budget = client.budget
        if (used := budget.sent - sent) > 0:
            self._requests_per_refresh = used
        self.update_interval = self._interval(budget)
        return FarmData(
            printers={printer.id: printer for printer in printers},
            jobs=jobs,
            materials={material.id: material for material in materials},
            summary=summary,
            budget=budget,
        )

    def _interval(self, budget: RateBudget) -> timedelta:
        """Return how often the farm can be refreshed within the allowed share of its budget."""
        if not budget.per_hour:
            return MIN_REFRESH
        # The client already applies the share; keep headroom for refreshes after actions.
        refreshes = budget.per_hour * PLANNED_USE / self._requests_per_refresh
        interval = timedelta(hours=1) / refreshes if refreshes > 0 else MAX_REFRESH
        return min(max(interval, MIN_REFRESH), MAX_REFRESH)
