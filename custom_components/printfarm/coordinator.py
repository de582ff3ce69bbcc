"""Data coordinators for printfarm: the farm's REST data and its printers' pushed state."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.event import async_call_later
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
    CONF_SERVICE,
    DOMAIN,
    LOGGER,
    MAX_REFRESH,
    MIN_REFRESH,
    REQUESTS_PER_REFRESH,
)

if TYPE_CHECKING:
    from .hub import PrinterHub

# Part of the allowed budget planned for polling; the rest covers refreshes after actions
# and after changes the farm reports.
PLANNED_PERCENT = 80
HOUR = timedelta(hours=1)
# How often to refresh a farm that does not tell its request budget
UNKNOWN_BUDGET_REFRESH = timedelta(minutes=5)

type PrintFarmConfigEntry = ConfigEntry[PrintFarmRuntimeData]


@dataclass(kw_only=True)
class PrintFarmRuntimeData:
    """Class to hold runtime data."""

    client: FarmClient
    account: Account
    farm: FarmCoordinator
    hub: PrinterHub


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
        self._early_refreshes: deque[datetime] = deque()
        self._unsub_early_refresh: CALLBACK_TYPE | None = None
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title} farm",
            update_interval=MIN_REFRESH,
        )

    @callback
    def async_remote_change(self) -> None:
        """Refresh soon after the farm reported a change, within the budget's headroom."""
        if self._unsub_early_refresh is not None or not self._has_headroom():
            return
        wait = MIN_REFRESH - (dt_util.utcnow() - self._last_refresh)
        self._unsub_early_refresh = async_call_later(
            self.hass,
            max(wait, timedelta()),
            HassJob(self._async_early_refresh, cancel_on_shutdown=True),
        )

    def _has_headroom(self) -> bool:
        """Return whether the budget the planned refreshes leave allows one more refresh."""
        now = dt_util.utcnow()
        while self._early_refreshes and now - self._early_refreshes[0] >= HOUR:
            self._early_refreshes.popleft()
        spare = (
            self._per_hour(self.client.budget)
            * (100 - PLANNED_PERCENT)
            / 100
            / self._requests_per_refresh
        )
        return len(self._early_refreshes) + 1 <= spare

    async def _async_early_refresh(self, _now: datetime) -> None:
        """Refresh ahead of the plan."""
        self._unsub_early_refresh = None
        self._early_refreshes.append(dt_util.utcnow())
        await self.async_refresh()

    async def async_shutdown(self) -> None:
        """Cancel a pending refresh and stop refreshing."""
        if self._unsub_early_refresh is not None:
            self._unsub_early_refresh()
            self._unsub_early_refresh = None
        await super().async_shutdown()

    async def _async_update_data(self) -> FarmData:
        """Fetch data from the farm service."""
        client = self.client
        sent = client.budget.sent
        try:
            snapshot = await client.snapshot()
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
            printers={printer.id: printer for printer in snapshot.printers},
            jobs=snapshot.jobs,
            materials={material.id: material for material in snapshot.materials},
            summary=snapshot.summary,
            budget=budget,
        )

    def _per_hour(self, budget: RateBudget) -> float:
        """Return the requests an hour the integration may send; if unknown, a cautious guess."""
        return budget.per_hour or (
            self._requests_per_refresh * (HOUR / UNKNOWN_BUDGET_REFRESH) * 100 / PLANNED_PERCENT
        )

    def _interval(self, budget: RateBudget) -> timedelta:
        """Return how often the farm can be refreshed within the allowed share of its budget."""
        # The client already applies the share; keep headroom for refreshes after actions.
        interval = (
            HOUR * self._requests_per_refresh * 100 / (self._per_hour(budget) * PLANNED_PERCENT)
        )
        if budget.remaining is not None and budget.reset_at is not None:
            # Others using the same key leave less: spread what is left until the reset
            left = budget.reset_at - dt_util.utcnow()
            interval = max(interval, left * self._requests_per_refresh / max(budget.remaining, 1))
        return min(max(interval, MIN_REFRESH), MAX_REFRESH)
