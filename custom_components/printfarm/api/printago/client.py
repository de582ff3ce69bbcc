"""Asynchronous client of the Printago API."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp
from yarl import URL

from ..errors import (
    PrintFarmConflictError,
    PrintFarmInvalidResponseError,
    PrintFarmNotFoundError,
    PrintFarmPermissionError,
    PrintFarmValidationError,
)
from ..farm import FarmClient
from ..models import (
    OPEN_JOB_STATUSES,
    Account,
    FarmSnapshot,
    FarmSummary,
    Job,
    JobPriority,
    JobRequest,
    JobStatus,
    Material,
    Printer,
    RateBudget,
)
from ..parsing import as_bool, as_int, as_mapping, as_str, require_list, require_object
from ..transport.http import RateLimiter, RequestEngine, RetryPolicy, wall_clock
from . import models as parse
from .models import SERVICE, parse_error

DEFAULT_BASE_URL = "https://api.printago.io"
# Printago's documented budget: 60 requests a minute and 600 an hour, sliding
DEFAULT_RATE_WINDOWS: tuple[tuple[int, float], ...] = ((60, 60.0), (600, 3600.0))
MAX_PAGES = 1000
MAX_LABEL = 1024
DAY = 86400


def submission_label(name: str | None, key: str) -> str:
    """Return the unique label that marks the jobs of one logical submission."""
    tag = f" [pf:{key}]"
    return (name or "printfarm")[: MAX_LABEL - len(tag)] + tag


@dataclass(kw_only=True)
class Printago(FarmClient):
    """Client of a Printago store."""

    service: ClassVar[str] = SERVICE

    api_key: str = field(repr=False)
    store_id: str
    base_url: str = DEFAULT_BASE_URL
    session: aiohttp.ClientSession | None = None
    request_timeout: float = 10
    budget_share: float = 1.0
    rate_windows: tuple[tuple[int, float], ...] = DEFAULT_RATE_WINDOWS
    page_size: int = 1000
    low_stock_grams: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = field(default=wall_clock, repr=False)
    _engine: RequestEngine = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Build the request engine."""
        self._engine = RequestEngine(
            base_url=URL(self.base_url),
            headers={
                "authorization": f"ApiKey {self.api_key}",
                "x-printago-storeid": self.store_id,
                "accept": "application/json",
            },
            error_parser=parse_error,
            limiter=RateLimiter(
                clock=self.clock, share=self.budget_share, windows=self.rate_windows
            ),
            request_timeout=self.request_timeout,
            retry=self.retry,
            session=self.session,
        )

    @property
    def budget(self) -> RateBudget:
        """Return what is known of the request budget (the tighter window)."""
        return self._engine.limiter.snapshot()

    async def _list(
        self, *segments: str, what: str, params: Mapping[str, str] | None = None
    ) -> list[Mapping[str, Any]]:
        """Return every entity of a list endpoint, following `meta.hasMore`."""
        items: list[Mapping[str, Any]] = []
        seen: set[str | None] = set()
        size = self.page_size
        for _ in range(MAX_PAGES):
            query = {
                **(params or {}),
                "limit": str(size),
                "offset": str(len(items)),
                "meta": "true",
            }
            body = await self._engine.request("GET", "v1", *segments, params=query)
            if isinstance(body, list):
                data, more = body, len(body) >= size
            else:
                envelope = require_object(body, what)
                data = require_list(envelope.get("data"), what)
                meta = as_mapping(envelope.get("meta"))
                total = as_int(meta.get("total"))
                if (has_more := as_bool(meta.get("hasMore"))) is not None:
                    more = has_more
                else:
                    more = total is not None and len(items) + len(data) < total
            page = [require_object(item, what) for item in data]
            ids = {as_str(item.get("id")) for item in page}
            if items and ids <= seen:
                # The service ignores the offset: the list ended
                return items
            items.extend(page)
            seen |= ids
            if not more or not page:
                return items
        msg = f"The list of {what} did not end after {MAX_PAGES} pages"
        raise PrintFarmInvalidResponseError(msg)

    async def _get(self, *segments: str, what: str) -> Mapping[str, Any]:
        return require_object(await self._engine.request("GET", "v1", *segments), what)

    async def account(self) -> Account:
        """Return the store the credentials work in (also checks them)."""
        body = await self._engine.request("GET", "v1", "stores")
        stores = body if isinstance(body, list) else as_mapping(body).get("data")
        found = parse.account(require_list(stores, "stores"), self.store_id)
        if found is None:
            msg = f"The API key has no access to store {self.store_id}"
            raise PrintFarmPermissionError(msg, status=403)
        return found

    async def _job_statuses(self, statuses: Iterable[JobStatus]) -> list[Mapping[str, Any]]:
        words = parse.status_words(statuses) or []
        return await self._list(
            "print-jobs", what="print jobs", params={"status.in": ",".join(words)}
        )

    @staticmethod
    def _status_map(items: Iterable[Mapping[str, Any]]) -> dict[str, JobStatus]:
        return {
            str(item.get("id")): parse.job_status(item.get("status"))
            for item in items
            if item.get("id")
        }

    async def _printers(self, jobs: Mapping[str, JobStatus]) -> list[Printer]:
        items = await self._list("printers", what="printers")
        return [parse.printer(item, jobs) for item in items]

    async def printers(self) -> list[Printer]:
        """Return every printer of the store."""
        active = await self._job_statuses(
            (JobStatus.PREPARING, JobStatus.PRINTING, JobStatus.PAUSED)
        )
        return await self._printers(self._status_map(active))

    async def printer(self, printer_id: str) -> Printer:
        """Return one printer."""
        raw = await self._get("printers", printer_id, what="a printer")
        jobs: dict[str, JobStatus] = {}
        if job_id := raw.get("printingJobId"):
            try:
                job = await self._get("print-jobs", str(job_id), what="a print job")
            except PrintFarmNotFoundError:
                pass
            else:
                jobs = self._status_map([job])
        return parse.printer(raw, jobs)

    async def _bulk(
        self, method: str, path: tuple[str, ...], body: Mapping[str, Any], target: str
    ) -> None:
        """Send a bulk action for one target; raise when the service did not apply it."""
        answer = await self._engine.request(method, "v1", *path, json_body=body)
        if target not in parse.applied_ids(require_list(answer, "the applied ids")):
            msg = f"Printago did not apply {'/'.join(path)} to {target}"
            raise PrintFarmConflictError(msg)

    async def _command(self, printer_id: str, command: str, **options: str) -> None:
        body = {"ids": [printer_id], "command": {"command": command, **options}}
        await self._bulk("POST", ("printer-commands", "send"), body, printer_id)

    async def set_light(self, printer_id: str, *, on: bool) -> None:
        """Switch the chamber light of a printer on or off (`led-control`)."""
        await self._command(
            printer_id, "led-control", light="chamber_light", state="on" if on else "off"
        )

    async def _printer_action(self, printer_id: str, action: str) -> None:
        """Send a printer an action as a printer command."""
        await self._command(printer_id, action)

    async def clear_bed(self, printer_id: str) -> None:
        """Confirm the bed of a printer is clear, so it can take the next job."""
        body = {"ready": True, "ids": [printer_id]}
        await self._bulk("PATCH", ("printers", "confirm-ready"), body, printer_id)

    async def _jobs(
        self, statuses: frozenset[JobStatus] | None, *, printer_id: str | None, sort: str | None
    ) -> list[Job]:
        params: dict[str, str] = {}
        if statuses is not None and (words := parse.status_words(statuses)):
            params["status.in"] = ",".join(words)
        if printer_id:
            params["assignedPrinterId"] = printer_id
        if sort:
            params["sort"] = parse.sort_expression(sort)
        return parse.jobs(await self._list("print-jobs", what="print jobs", params=params))

    async def job(self, job_id: str) -> Job:
        """Return one print job."""
        return parse.job(await self._get("print-jobs", job_id, what="a print job"))

    async def _labelled(self, label: str) -> list[Job]:
        items = await self._list("print-jobs", what="print jobs", params={"label": label})
        items = sorted(items, key=lambda item: as_int(item.get("quantityIndex")) or 0)
        return parse.jobs(items)

    async def _submit_job(self, request: JobRequest, *, idempotency_key: str | None) -> list[Job]:
        """Queue copies of a part; a retried submission finds its jobs by label instead."""
        if not request.part_id:
            msg = "Printago needs the part_id of the print"
            raise PrintFarmValidationError(msg)
        label = submission_label(request.name, idempotency_key or uuid.uuid4().hex)
        part: dict[str, Any] = {
            "partId": request.part_id,
            "quantity": request.quantity,
            "priority": (
                parse.PRIORITY_LOW if request.priority is JobPriority.LOW else parse.PRIORITY_NORMAL
            ),
            "label": label,
        }
        tags: dict[str, str] = {}
        if request.printer_id:
            tags["printer.id"] = request.printer_id
        if request.tags:
            tags["user.tags"] = "&=" + ",".join(request.tags)
        if request.material:
            tags["filament.type"] = request.material
        if tags:
            part["tags"] = tags
        # A caller's key may have been used before; a generated one cannot have been
        look_first = idempotency_key is not None

        async def attempt() -> list[Job]:
            nonlocal look_first
            if look_first and (existing := await self._labelled(label)):
                return existing
            look_first = True
            await self._engine.request(
                "POST", "v2", "builds", json_body={"parts": [part]}, safe=False
            )
            return await self._labelled(label)

        return await self._engine.retrying(attempt)

    async def _job_action(self, action: str, job_id: str) -> None:
        body = {"printJobIds": [job_id]}
        await self._bulk("PATCH", ("print-jobs", action), body, job_id)

    async def pause_job(self, job_id: str) -> None:
        """Pause a printing job."""
        await self._job_action("pause", job_id)

    async def resume_job(self, job_id: str) -> None:
        """Resume a paused job."""
        await self._job_action("resume", job_id)

    async def cancel_job(self, job_id: str) -> None:
        """Cancel a queued or running job."""
        await self._job_action("cancel", job_id)

    async def materials(self) -> list[Material]:
        """Return the spools (material instances) with their material and colour."""
        instances = await self._list("materials", "instances", what="material instances")
        materials = parse.by_id(await self._list("materials", what="materials"))
        variants = parse.by_id(await self._list("materials", "variants", what="variants"))
        return [
            parse.material(item, materials, variants, self.low_stock_grams) for item in instances
        ]

    async def summary(self) -> FarmSummary:
        """Return the farm at a glance, computed from printers and jobs."""
        return (await self.snapshot()).summary

    async def snapshot(self) -> FarmSnapshot:
        """Return printers, open jobs, filament and summary; each list is fetched once."""
        open_items = await self._job_statuses(OPEN_JOB_STATUSES)
        printers = await self._printers(self._status_map(open_items))
        jobs = [job for job in parse.jobs(open_items) if job.status in OPEN_JOB_STATUSES]
        materials = await self.materials()
        now = self.clock()
        day_start = datetime.fromtimestamp(now - now % DAY, UTC)
        params = {
            "status": "completed",
            "printingCompletedAt.gte": day_start.isoformat().replace("+00:00", "Z"),
        }
        completed = await self._list("print-jobs", what="print jobs", params=params)
        low = sum(material.low_stock for material in materials)
        summary = parse.summary(printers, jobs, len(completed), low)
        return FarmSnapshot(printers=printers, jobs=jobs, materials=materials, summary=summary)

    async def close(self) -> None:
        """Close the web session if the client opened it."""
        await self._engine.close()
