"""Print jobs: queued by the faces, started on printers, paused, cancelled and retried."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .control import PrinterControl
from .errors import InvalidStateError, ValidationError
from .files import file_name, file_profile
from .models import FileProfile, Job, JobStatus


class JobControl(PrinterControl):
    """The job queue of the world, and the job actions that act on its printers."""

    def submit_job(
        self,
        *,
        source: str,
        file_url: str,
        name: str | None = None,
        profile: FileProfile | None = None,
        priority: int = 1,
        printer_id: str | None = None,
        group: str | None = None,
        tags: Iterable[str] = (),
        material: str | None = None,
        color: str | None = None,
        part_id: str | None = None,
        part_build_id: str | None = None,
        quantity_index: int = 0,
        quantity_total: int = 1,
        label: str = "",
        front: bool = False,
        sale_price: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Job:
        """Queue a print job; the scheduler assigns it to a ready printer."""
        if not file_url:
            msg = "file_url is required"
            raise ValidationError("invalid_request", msg, msg)
        target = self.printer(printer_id).id if printer_id else None
        now = self.clock.now()
        self._queue_counter += 1
        profile = profile or file_profile(file_url)
        if front:
            queue_order = min((j.queue_order for j in self.open_jobs()), default=0.0) - 1
        else:
            queue_order = self._queue_counter
        job = Job(
            id=self.new_id("job_"),
            printago_id=self.new_printago_id(),
            source=source,
            name=name or file_name(file_url),
            file_url=file_url,
            profile=profile,
            created_at=now,
            updated_at=now,
            queue_order=queue_order,
            priority=priority,
            part_id=part_id,
            part_build_id=part_build_id,
            quantity_index=quantity_index,
            quantity_total=quantity_total,
            label=label,
            target_printer_id=target,
            target_group=group,
            required_tags=list(tags),
            material=(material or profile.material or None),
            color=color,
            sale_price=sale_price,
            metadata=dict(metadata or {}),
        )
        if job.material:
            job.material = job.material.upper()
        self.jobs[job.id] = job
        self.emit("job.created", job_id=job.id)
        self.tick()
        return job

    def pause_job(self, job_id: str) -> Job:
        """Pause a printing job."""
        job = self.job(job_id)
        if job.status is not JobStatus.PRINTING or job.printer_id is None:
            msg = f"Job {job.id} is {job.status.value}, not printing"
            raise InvalidStateError("invalid_job_state", "Job is not printing", msg)
        self.pause_printer(job.printer_id)
        return job

    def resume_job(self, job_id: str) -> Job:
        """Resume a paused job."""
        job = self.job(job_id)
        if job.status is not JobStatus.PAUSED or job.printer_id is None:
            msg = f"Job {job.id} is {job.status.value}, not paused"
            raise InvalidStateError("invalid_job_state", "Job is not paused", msg)
        self.resume_printer(job.printer_id)
        return job

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a queued or running job."""
        job = self.job(job_id)
        self.tick()
        if not job.open:
            msg = f"Job {job.id} is already {job.status.value}"
            raise InvalidStateError("invalid_job_state", "Job has already ended", msg)
        if job.status is JobStatus.QUEUED or job.printer_id is None:
            job.status = JobStatus.CANCELLED
            job.cancelled_at = job.completed_at = self.clock.now()
            self._touch(job)
            self.emit("job.cancelled", job_id=job.id)
            return job
        self.stop_printer(job.printer_id)
        return job

    def retry_job(self, job_id: str) -> Job:
        """Put a failed or cancelled job back in the queue."""
        job = self.job(job_id)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            msg = f"Job {job.id} is {job.status.value}"
            raise InvalidStateError(
                "invalid_job_state", "Only failed or cancelled jobs can be retried", msg
            )
        self._queue_counter += 1
        job.status = JobStatus.QUEUED
        job.queue_order = self._queue_counter
        job.printer_id = job.spool_id = None
        job.progress = job.consumed_grams = 0.0
        job.assigned_at = job.started_at = job.completed_at = job.cancelled_at = None
        job.error_message = None
        job.hidden = False
        self._touch(job)
        self.emit("job.requeued", job_id=job.id)
        self.tick()
        return job

    def move_to_front(self, job_id: str) -> Job:
        """Put a queued job at the front of the queue."""
        job = self.job(job_id)
        if job.status is not JobStatus.QUEUED:
            msg = f"Job {job.id} is {job.status.value}, not queued"
            raise InvalidStateError("invalid_job_state", "Job is not queued", msg)
        job.queue_order = min(j.queue_order for j in self.open_jobs()) - 1
        self._touch(job)
        self.emit("job.updated", job_id=job.id)
        return job

    def hide_job(self, job_id: str) -> Job:
        """Clear an ended job from the queue view."""
        job = self.job(job_id)
        if job.open:
            msg = f"Job {job.id} is {job.status.value}"
            raise InvalidStateError("invalid_job_state", "Only ended jobs can be cleared", msg)
        job.hidden = True
        self._touch(job)
        self.emit("job.updated", job_id=job.id)
        return job

    def update_job(
        self, job_id: str, *, priority: int | None = None, name: str | None = None
    ) -> Job:
        """Change a job's priority or name."""
        job = self.job(job_id)
        if priority is not None:
            job.priority = priority
        if name is not None:
            job.name = name
        self._touch(job)
        self.emit("job.updated", job_id=job.id)
        return job

    def start_file(self, printer_id: str, *, file_url: str, name: str | None = None) -> Job:
        """Start a file directly on a printer, as Bambu's `project_file` does."""
        printer = self.printer(printer_id)
        self.tick()
        if printer.busy:
            msg = f"Printer {printer.name} is {self.status_word(printer)}"
            raise InvalidStateError("invalid_printer_state", "Printer is busy", msg)
        job = self.submit_job(source="lan", file_url=file_url, name=name, printer_id=printer.id)
        if job.status is JobStatus.QUEUED:
            tray = self._pick_tray(printer, job, strict=False)
            self._assign(job, printer, tray)
        return job
