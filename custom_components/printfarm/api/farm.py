"""The one interface every farm service client offers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar, Self

from .errors import PrintFarmValidationError
from .models import (
    OPEN_JOB_STATUSES,
    Account,
    FarmSnapshot,
    FarmSummary,
    Job,
    JobRequest,
    JobStatus,
    Material,
    Printer,
    RateBudget,
)


class FarmClient(ABC):
    """A print farm service: its printers, queue and filament."""

    service: ClassVar[str]

    @property
    @abstractmethod
    def budget(self) -> RateBudget:
        """Return what is known of the request budget."""

    @abstractmethod
    async def account(self) -> Account:
        """Return the account the credentials belong to (also checks them)."""

    @abstractmethod
    async def printers(self) -> list[Printer]:
        """Return every printer of the farm."""

    @abstractmethod
    async def printer(self, printer_id: str) -> Printer:
        """Return one printer."""

    @abstractmethod
    async def _printer_action(self, printer_id: str, action: str) -> None:
        """Send a printer one of the actions both services name alike: pause, resume, stop."""

    async def pause_printer(self, printer_id: str) -> None:
        """Pause the print on a printer."""
        await self._printer_action(printer_id, "pause")

    async def resume_printer(self, printer_id: str) -> None:
        """Resume the paused print on a printer."""
        await self._printer_action(printer_id, "resume")

    async def stop_printer(self, printer_id: str) -> None:
        """Stop (cancel) the print on a printer."""
        await self._printer_action(printer_id, "stop")

    @abstractmethod
    async def clear_bed(self, printer_id: str) -> None:
        """Confirm the bed of a printer is clear, so it can take the next job."""

    async def jobs(
        self,
        *,
        statuses: Iterable[JobStatus] | None = None,
        printer_id: str | None = None,
        sort: str | None = None,
    ) -> list[Job]:
        """Return jobs, every page of them, optionally filtered and sorted."""
        wanted = frozenset(statuses) if statuses is not None else None
        if wanted is not None and not wanted:
            return []
        jobs = await self._jobs(wanted, printer_id=printer_id, sort=sort)
        # A status word of the service may stand for more than the statuses asked for
        return jobs if wanted is None else [job for job in jobs if job.status in wanted]

    @abstractmethod
    async def _jobs(
        self, statuses: frozenset[JobStatus] | None, *, printer_id: str | None, sort: str | None
    ) -> list[Job]:
        """Return every job the service lists for a filter, maybe with more statuses."""

    @abstractmethod
    async def job(self, job_id: str) -> Job:
        """Return one job."""

    async def submit_job(
        self, request: JobRequest, *, idempotency_key: str | None = None
    ) -> list[Job]:
        """Queue a print (one job per copy); retrying with the same key never duplicates it."""
        if request.quantity < 1:
            msg = f"The quantity must be at least 1, not {request.quantity}"
            raise PrintFarmValidationError(msg)
        return await self._submit_job(request, idempotency_key=idempotency_key)

    @abstractmethod
    async def _submit_job(self, request: JobRequest, *, idempotency_key: str | None) -> list[Job]:
        """Queue a print of a valid quantity, as the service does it."""

    @abstractmethod
    async def pause_job(self, job_id: str) -> None:
        """Pause a printing job."""

    @abstractmethod
    async def resume_job(self, job_id: str) -> None:
        """Resume a paused job."""

    @abstractmethod
    async def cancel_job(self, job_id: str) -> None:
        """Cancel a queued or running job."""

    @abstractmethod
    async def materials(self) -> list[Material]:
        """Return the filament inventory."""

    @abstractmethod
    async def summary(self) -> FarmSummary:
        """Return the farm at a glance."""

    async def snapshot(self) -> FarmSnapshot:
        """Return printers, open jobs, filament and summary with as few requests as possible."""
        return FarmSnapshot(
            printers=await self.printers(),
            jobs=await self.jobs(statuses=OPEN_JOB_STATUSES),
            materials=await self.materials(),
            summary=await self.summary(),
        )

    @abstractmethod
    async def close(self) -> None:
        """Close the web session if the client opened it."""

    async def __aenter__(self) -> Self:
        """Enter the client's context."""
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        """Close the client on leaving its context."""
        await self.close()
