"""Data coordinators for printfarm: the farm's REST data and its printers' pushed state."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_API_KEY, CONF_URL
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    ACTIVE_JOB_STATUSES,
    BUSY_STATUSES,
    OPEN_JOB_STATUSES,
    Account,
    AutoPrintFarm,
    FarmClient,
    FarmEvent,
    FarmEventType,
    FarmSummary,
    Job,
    JobStatus,
    Material,
    Printago,
    Printer,
    PrinterEvent,
    PrinterState,
    PrinterStatus,
    PrinterUpdate,
    PrinterView,
    PrintFarmAuthenticationError,
    PrintFarmConnectionError,
    PrintFarmError,
    PrintFarmRateLimitError,
    RateBudget,
)
from .connections import PrinterCommands, PrinterConnections
from .const import (
    CONF_BUDGET_SHARE,
    CONF_LOW_STOCK_GRAMS,
    CONF_SERVICE,
    CONF_STORE_ID,
    DEFAULT_BUDGET_SHARE,
    DEFAULT_LOW_STOCK_GRAMS,
    DOMAIN,
    LOGGER,
    MAX_REFRESH,
    MIN_REFRESH,
    REQUESTS_PER_REFRESH,
    SERVICE_PRINTAGO,
    WEBHOOK_REFRESH,
    WEBHOOK_SILENCE,
)

# Part of the allowed budget planned for polling; the rest covers refreshes after actions
# and after changes the farm reports.
PLANNED_PERCENT = 80
HOUR = timedelta(hours=1)
# How often to refresh a farm that does not tell its request budget
UNKNOWN_BUDGET_REFRESH = timedelta(minutes=5)

type PrintFarmConfigEntry = ConfigEntry[PrintFarmRuntimeData]


def create_client(
    hass: HomeAssistant, data: Mapping[str, Any], options: Mapping[str, Any] | None = None
) -> FarmClient:
    """Return the farm service client of an entry's data and options (or of a flow's input)."""
    options = options or {}
    share = options.get(CONF_BUDGET_SHARE, DEFAULT_BUDGET_SHARE) / 100
    session = async_get_clientsession(hass)
    if data[CONF_SERVICE] == SERVICE_PRINTAGO:
        return Printago(
            base_url=data[CONF_URL],
            api_key=data[CONF_API_KEY],
            store_id=data[CONF_STORE_ID],
            session=session,
            budget_share=share,
            low_stock_grams=options.get(CONF_LOW_STOCK_GRAMS, DEFAULT_LOW_STOCK_GRAMS),
        )
    return AutoPrintFarm(
        base_url=data[CONF_URL], api_key=data[CONF_API_KEY], session=session, budget_share=share
    )


@dataclass(kw_only=True)
class PrintFarmRuntimeData:
    """Class to hold runtime data: the farm's REST coordinator and one per printer."""

    client: FarmClient
    account: Account
    farm: FarmCoordinator
    connections: PrinterConnections
    printers: dict[str, PrinterCoordinator] = field(default_factory=dict)
    # The farm data the printers were last brought up to, and whether it was fresh
    synced: tuple[FarmData, bool] | None = None


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


def _with_job(jobs: list[Job], job: Job) -> list[Job]:
    """Return the open jobs with one job as it stands now (gone once it is closed)."""
    kept = [other for other in jobs if other.id != job.id]
    if job.status not in OPEN_JOB_STATUSES:
        return kept
    for index, other in enumerate(jobs):
        if other.id == job.id:
            return [*jobs[:index], job, *jobs[index + 1 :]]
    return [*kept, job]


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
        # The farm's webhooks: whether they are subscribed, and when one last arrived
        self.webhook_active = False
        self._last_delivery: datetime | None = None
        # The farm event being told to the listeners, while it is
        self.event: FarmEvent | None = None
        # When the newest event applied for each printer and job happened
        self._applied_at: dict[str, datetime] = {}
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title} farm",
            update_interval=MIN_REFRESH,
        )

    @property
    def webhooks_healthy(self) -> bool:
        """Return whether the farm's webhooks tell its changes (the polls are a safety net).

        They are taken to have stopped when none arrived for a while as a printer is busy.
        """
        if not self.webhook_active:
            return False
        last = self._last_delivery
        if last is not None and dt_util.utcnow() - last < WEBHOOK_SILENCE:
            return True
        data = self.data
        return data is not None and not data.count_printers(*BUSY_STATUSES)

    def _is_stale(self, event: FarmEvent) -> bool:
        """Return whether news newer than the event's was applied for its printer or job.

        Deliveries may arrive out of order (retries, parallel sends); an older snapshot of a
        printer or job must not replace a newer one.
        """
        if event.at is None:
            return False
        keys = [f"printer:{p.id}" for p in (event.printer,) if p is not None]
        keys += [f"job:{j.id}" for j in (event.job,) if j is not None]
        if any((seen := self._applied_at.get(key)) is not None and event.at < seen for key in keys):
            return True
        for key in keys:
            self._applied_at[key] = event.at
        return False

    @callback
    def async_apply_event(self, event: FarmEvent) -> None:
        """Take what a farm event tells of its printer, job and material; ask for nothing.

        An event older than one already applied for the same printer or job is stale news:
        neither applied nor told.
        """
        self._last_delivery = dt_util.utcnow()
        if self._is_stale(event):
            LOGGER.debug("Ignoring %s %s: newer news of it arrived first", event.name, event.id)
            return
        data = self.data
        printers, materials, jobs = data.printers, data.materials, data.jobs
        summary = data.summary
        if (printer := event.printer) is not None:
            printers = {**printers, printer.id: printer}
        if (material := event.material) is not None:
            materials = {**materials, material.id: material}
        if (job := event.job) is not None:
            jobs = _with_job(jobs, job)
            summary = replace(
                summary,
                jobs_queued=sum(1 for j in jobs if j.status is JobStatus.QUEUED),
                jobs_active=sum(1 for j in jobs if j.status in ACTIVE_JOB_STATUSES),
                jobs_completed_today=summary.jobs_completed_today
                + (event.type is FarmEventType.JOB_COMPLETED),
            )
        self.update_interval = self._interval(self.client.budget)
        self.event = event
        try:
            self.async_set_updated_data(
                FarmData(
                    printers=printers,
                    jobs=jobs,
                    materials=materials,
                    summary=summary,
                    budget=data.budget,
                )
            )
        finally:
            self.event = None

    @callback
    def async_tell_event(self, event: FarmEvent) -> None:
        """Tell the listeners of a farm event whose facts the next refresh brings."""
        self.event = event
        try:
            self.async_update_listeners()
        finally:
            self.event = None

    @callback
    def async_remote_change(self) -> None:
        """Refresh soon after the farm reported a change, within the budget's headroom.

        While the farm's webhooks tell its changes, they need no refresh.
        """
        if (
            self._unsub_early_refresh is not None
            or self.webhooks_healthy
            or not self._has_headroom()
        ):
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
        if self.webhooks_healthy:
            interval = max(interval, WEBHOOK_REFRESH)
        return min(max(interval, MIN_REFRESH), MAX_REFRESH)


# What a printer coordinator's update changed, beside the names of pushed fields: the farm's
# view of the printer, its push connection, or a lifecycle event it pushed.
FARM: Final = "farm"
CONNECTION: Final = "connection"
EVENT: Final = "event"
FARM_CHANGED: Final = frozenset({FARM})
# Pushed fields an error is read from, and the severities that make it a repair issue
ERROR_FIELDS: Final = frozenset({"error_code", "print_error", "health", "online"})
SERIOUS_ERRORS: Final = frozenset({"fatal", "serious"})
CONNECTION_CHANGED: Final = frozenset({CONNECTION, "online"})
EVENT_PUSHED: Final = frozenset({EVENT})


class PrinterCoordinator(DataUpdateCoordinator[PrinterView]):
    """Class to hold one printer: fed by the farm's refreshes and by the state it pushes.

    It polls nothing: the farm coordinator hands it the farm's view of the printer, and the
    printer's push connection (the library's callback) its pushed state, each with
    `async_set_updated_data`. `changed` tells the listeners what the last update changed,
    so that an entity showing none of it need not even compare.
    """

    config_entry: PrintFarmConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PrintFarmConfigEntry,
        view: PrinterView,
        commands: PrinterCommands | None,
    ) -> None:
        """Initialize the coordinator with what is known of the printer."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title} {view.printer.name}",
        )
        self.printer_id = view.printer.id
        self.commands = commands
        self.farm_available = True
        self.changed: frozenset[str] = frozenset()
        self.event: PrinterEvent | None = None
        self.data = view

    @property
    def has_push(self) -> bool:
        """Return whether the printer's state is pushed (it has a push connection)."""
        return self.commands is not None

    @property
    def available(self) -> bool:
        """Return whether fresh pushed state of the printer is at hand."""
        return self.data.pushed is not None

    async def _async_update_data(self) -> PrinterView:
        """Return the printer as it stands: its state comes by push, not by polling."""
        return self.data

    @callback
    def async_push(self, update: PrinterUpdate) -> None:
        """Take a state the printer pushed."""
        self.changed = update.changed
        self.async_set_updated_data(self.data.with_state(update.state))
        if not update.changed.isdisjoint(ERROR_FIELDS):
            self._async_update_error_issue()

    @callback
    def _async_update_error_issue(self) -> None:
        """Raise a repair issue while the printer has a fatal or serious error; drop it after.

        The issue names the error in words with the wiki page about it, so the owner sees
        it in Settings > Repairs whatever the dashboard shows.
        """
        issue_id = f"printer_error_{self.config_entry.entry_id}_{self.printer_id}"
        error = self.data.error if self.data.pushed is not None else None
        if error is None or (error.severity not in SERIOUS_ERRORS and error.severity is not None):
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="printer_error",
            translation_placeholders={
                "name": self.data.printer.name,
                "code": error.code,
                "error": error.description or error.code,
                "wiki_url": error.url or "",
            },
            learn_more_url=error.url,
        )

    @callback
    def async_push_event(self, event: PrinterEvent) -> None:
        """Tell the listeners of a lifecycle event the printer pushed."""
        self.event = event
        self.changed = EVENT_PUSHED
        self.async_update_listeners()
        self.event = None

    @callback
    def async_farm_update(self, printer: Printer, job: Job | None, *, available: bool) -> None:
        """Take the farm's view of the printer after a refresh; tell only of a change."""
        data = self.data
        if data.printer == printer and data.job == job and self.farm_available == available:
            return
        self.farm_available = available
        self.changed = FARM_CHANGED
        self.async_set_updated_data(PrinterView(printer=printer, state=data.state, job=job))

    @callback
    def async_connection_changed(
        self, commands: PrinterCommands | None, state: PrinterState | None
    ) -> None:
        """Take a new push connection (or none) and the state it starts from."""
        self.commands = commands
        self.changed = CONNECTION_CHANGED
        self.async_set_updated_data(self.data.with_state(state))

    def command(self) -> PrinterCommands:
        """Return the printer's push connection for a command, or raise while it has none."""
        if self.commands is None:
            msg = "The printer's connection is not running"
            raise PrintFarmConnectionError(msg)
        return self.commands
