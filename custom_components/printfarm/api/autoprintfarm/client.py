"""Asynchronous client of the AutoPrintFarm API."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp
from yarl import URL

from ..errors import (
    PrintFarmInvalidResponseError,
    PrintFarmNotFoundError,
    PrintFarmResponseError,
    PrintFarmValidationError,
)
from ..farm import FarmClient
from ..models import (
    Account,
    FarmSummary,
    Job,
    JobRequest,
    JobStatus,
    Material,
    Printer,
    RateBudget,
)
from ..parsing import as_int, as_mapping, as_str, require_list, require_object
from ..transport.http import IDEMPOTENCY_HEADER, RateLimiter, RequestEngine, RetryPolicy, wall_clock
from . import models as parse
from .models import SERVICE, Webhook, parse_error

DEFAULT_BASE_URL = "https://api.autoprintfarm.com/v1"
NEW_API_PATH = "/public/v1"
MAX_PAGES = 1000
CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def _sort(sort: str) -> str:
    """Return a sort in the v1 form (`-field`), also from Printago's `field:desc`."""
    parts = []
    for part in sort.split(","):
        name, _, direction = part.strip().partition(":")
        name = CAMEL.sub(r"_\1", name).lower()
        parts.append(f"-{name}" if direction.lower() == "desc" else name)
    return ",".join(parts)


def _unwrap(body: Any, what: str, key: str | None = None) -> Any:
    """Return the data of a success envelope."""
    envelope = require_object(body, what)
    if envelope.get("success") is False:
        message, code = parse_error(200, envelope)
        raise PrintFarmResponseError(message, code=code)
    if "data" in envelope:
        return envelope["data"]
    if key is not None and key in envelope:
        return envelope[key]
    msg = f"The answer with {what} has no data"
    raise PrintFarmInvalidResponseError(msg)


def _last_page(envelope: Mapping[str, Any], size: int, received: int, offset: int) -> bool:
    """Return whether a page is the last, from its `pagination` or `meta` block."""
    if "meta" in envelope:
        meta = as_mapping(envelope["meta"])
        if (more := meta.get("hasMore", meta.get("has_more"))) is not None:
            return more is not True
        if (total := as_int(meta.get("total"))) is not None:
            return offset + received >= total
        return received < (as_int(meta.get("limit")) or size)
    pagination = as_mapping(envelope["pagination"])
    page = as_int(pagination.get("page"))
    if page is not None and (pages := as_int(pagination.get("total_pages"))) is not None:
        return page >= pages
    return received < (as_int(pagination.get("per_page")) or size)


@dataclass(kw_only=True)
class AutoPrintFarm(FarmClient):
    """Client of an AutoPrintFarm account."""

    service: ClassVar[str] = SERVICE

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    session: aiohttp.ClientSession | None = None
    request_timeout: float = 10
    budget_share: float = 1.0
    page_size: int = 100
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = field(default=wall_clock, repr=False)
    _engine: RequestEngine = field(init=False, repr=False)
    _offset_pages: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Build the request engine."""
        url = URL(self.base_url)
        self._offset_pages = url.path.rstrip("/").endswith(NEW_API_PATH)
        self._engine = RequestEngine(
            base_url=url,
            headers={"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"},
            error_parser=parse_error,
            limiter=RateLimiter(clock=self.clock, share=self.budget_share),
            request_timeout=self.request_timeout,
            retry=self.retry,
            session=self.session,
        )

    @property
    def budget(self) -> RateBudget:
        """Return what is known of the request budget."""
        return self._engine.limiter.snapshot()

    async def _get(self, *segments: str, what: str) -> Any:
        body = await self._engine.request("GET", *segments)
        return require_object(_unwrap(body, what), what)

    async def _list(
        self, *segments: str, what: str, key: str, params: Mapping[str, str] | None = None
    ) -> list[Mapping[str, Any]]:
        """Return every item of a list endpoint, following its pages."""
        items: list[Mapping[str, Any]] = []
        seen: set[str | None] = set()
        offset_pages = self._offset_pages
        page = 1
        size = self.page_size
        for _ in range(MAX_PAGES):
            query = dict(params or {})
            if offset_pages:
                query |= {"limit": str(size), "offset": str(len(items))}
            else:
                query |= {"page": str(page), "per_page": str(size)}
            body = await self._engine.request("GET", *segments, params=query)
            data = require_list(_unwrap(body, what, key), what)
            offset = len(items)
            page_items = [require_object(item, what) for item in data]
            ids = {as_str(item.get("id")) for item in page_items}
            if items and ids <= seen:
                # The service ignores the page asked for: the list ended
                return items
            items.extend(page_items)
            seen |= ids
            envelope = require_object(body, what)
            if "meta" not in envelope and "pagination" not in envelope:
                return items
            if not data or _last_page(envelope, size, len(data), offset):
                return items
            offset_pages = "meta" in envelope
            page += 1
        msg = f"The list of {what} did not end after {MAX_PAGES} pages"
        raise PrintFarmInvalidResponseError(msg)

    async def account(self) -> Account:
        """Return the account the API key belongs to (also checks the key)."""
        try:
            data = await self._get("api-keys", "current", what="the API key")
        except PrintFarmNotFoundError:
            # Services without the key endpoint: check the key on a one-item printer list
            limit = {"limit": "1"} if self._offset_pages else {"per_page": "1"}
            await self._engine.request("GET", "printers", params=limit)
            digest = hashlib.sha256(self.api_key.encode()).hexdigest()[:16]
            return Account(id=f"key_{digest}", name="AutoPrintFarm", service=SERVICE)
        return parse.account(data)

    async def printers(self) -> list[Printer]:
        """Return every printer of the farm."""
        return [
            parse.printer(item)
            for item in await self._list("printers", what="printers", key="printers")
        ]

    async def printer(self, printer_id: str) -> Printer:
        """Return one printer."""
        return parse.printer(await self._get("printers", printer_id, what="a printer"))

    async def _printer_action(self, printer_id: str, action: str) -> None:
        """Send a printer an action (`POST /printers/{id}/control`)."""
        await self._engine.request(
            "POST", "printers", printer_id, "control", json_body={"action": action}
        )

    async def clear_bed(self, printer_id: str) -> None:
        """Confirm the bed of a printer is clear, so it can take the next job."""
        await self._printer_action(printer_id, "clear_bed")

    async def _jobs(
        self, statuses: frozenset[JobStatus] | None, *, printer_id: str | None, sort: str | None
    ) -> list[Job]:
        params: dict[str, str] = {}
        if statuses is not None and (words := parse.status_words(statuses)):
            params["status"] = ",".join(words)
        if printer_id:
            params["printer_id"] = printer_id
        if sort:
            params["sort"] = _sort(sort)
        items = await self._list("jobs", what="jobs", key="jobs", params=params)
        return [parse.job(item) for item in items]

    async def job(self, job_id: str) -> Job:
        """Return one job."""
        return parse.job(await self._get("jobs", job_id, what="a job"))

    async def _submit_job(self, request: JobRequest, *, idempotency_key: str | None) -> list[Job]:
        """Queue a print, one job per copy; retrying with the same key never duplicates it."""
        if not request.file_url:
            msg = "AutoPrintFarm needs the file_url of the print"
            raise PrintFarmValidationError(msg)
        key = idempotency_key or uuid.uuid4().hex
        body: dict[str, Any] = {
            "file_url": request.file_url,
            "priority": parse.PRIORITY_WORDS[request.priority],
        }
        for name in ("name", "printer_id", "group", "material", "color"):
            if (value := getattr(request, name)) is not None:
                body[name] = value
        jobs = []
        for copy in range(1, request.quantity + 1):
            answer = await self._engine.request(
                "POST", "jobs", json_body=body, headers={IDEMPOTENCY_HEADER: f"{key}-{copy}"}
            )
            jobs.append(parse.job(require_object(_unwrap(answer, "the new job"), "the new job")))
        return jobs

    async def pause_job(self, job_id: str) -> None:
        """Pause a printing job."""
        await self._engine.request("POST", "jobs", job_id, "pause")

    async def resume_job(self, job_id: str) -> None:
        """Resume a paused job."""
        await self._engine.request("POST", "jobs", job_id, "resume")

    async def cancel_job(self, job_id: str) -> None:
        """Cancel a queued or running job."""
        await self._engine.request("POST", "jobs", job_id, "cancel")

    async def materials(self) -> list[Material]:
        """Return the filament inventory."""
        path = ("materials", "filament") if self._offset_pages else ("materials",)
        items = await self._list(*path, what="materials", key="materials")
        return [parse.material(item) for item in items]

    async def summary(self) -> FarmSummary:
        """Return the farm at a glance."""
        return parse.summary(await self._get("analytics", "summary", what="the farm summary"))

    async def subscribe_webhook(
        self,
        url: str,
        *,
        events: Iterable[str],
        secret: str,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Webhook:
        """Subscribe a URL to events, signed with the secret."""
        body: dict[str, Any] = {"url": url, "events": list(events), "secret": secret}
        if description is not None:
            body["description"] = description
        key = idempotency_key or uuid.uuid4().hex
        answer = await self._engine.request(
            "POST", "webhooks", json_body=body, headers={IDEMPOTENCY_HEADER: key}
        )
        return parse.webhook(require_object(_unwrap(answer, "the webhook"), "the webhook"))

    async def webhooks(self) -> list[Webhook]:
        """Return the webhook subscriptions."""
        items = await self._list("webhooks", what="webhooks", key="webhooks")
        return [parse.webhook(item) for item in items]

    async def unsubscribe_webhook(self, webhook_id: str) -> None:
        """Delete a webhook subscription."""
        await self._engine.request("DELETE", "webhooks", webhook_id)

    async def close(self) -> None:
        """Close the web session if the client opened it."""
        await self._engine.close()
