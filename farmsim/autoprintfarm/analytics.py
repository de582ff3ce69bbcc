"""Analytics endpoints: performance, reports, CSV export, costs and ROI, farm summary."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web

from farmsim.models import Job, JobStatus, Printer

from .envelope import iso, number_param, ok, period_window, reject
from .formats import MAX_PRICE
from .materials import consumption, ended_jobs, job_cost
from .state import Route, world_of
from .views import JOB_STATUS, PRINTER_STATUSES, material_view

if TYPE_CHECKING:
    from farmsim.world import World

DEFAULT_ENERGY_PRICE = 0.15
CURRENCY = "USD"
JOB_COLUMNS = (
    "id",
    "name",
    "status",
    "printer_id",
    "printer_name",
    "material",
    "color",
    "filament_grams",
    "consumed_grams",
    "filament_cost",
    "sale_price",
    "created_at",
    "started_at",
    "completed_at",
    "duration_seconds",
)
MATERIAL_COLUMNS = (
    "id",
    "type",
    "color",
    "hex_code",
    "brand",
    "remaining_grams",
    "capacity_grams",
    "low_threshold",
    "status",
    "location",
    "printer_id",
    "consumed_grams",
    "cost_per_kg",
)


def busy_seconds(job: Job, since: float | None, now: float) -> float:
    """Return how long a job kept its printer printing inside a window."""
    if job.started_at is None:
        return 0.0
    start = max(job.started_at, since) if since is not None else job.started_at
    end = job.completed_at if job.completed_at is not None else now
    return max(end - start, 0.0)


def _rate(completed: int, failed: int) -> float | None:
    return round(completed / (completed + failed) * 100, 1) if completed + failed else None


def printer_performance(
    world: World, printer: Printer, since: float | None, now: float
) -> dict[str, Any]:
    """Return one printer's job counts, success rate, print hours and utilization."""
    jobs = [job for job in world.jobs.values() if job.printer_id == printer.id]
    ended = [job for job in ended_jobs(world, since) if job.printer_id == printer.id]
    counts = Counter(JOB_STATUS[job.status] for job in ended)
    seconds = sum(busy_seconds(job, since, now) for job in jobs)
    available = now - (max(since, printer.created_at) if since is not None else printer.created_at)
    utilization = min(seconds / available * 100, 100.0) if available > 0 else 0.0
    return {
        "printer_id": printer.id,
        "name": printer.name,
        "jobs_completed": counts["completed"],
        "jobs_failed": counts["failed"],
        "jobs_cancelled": counts["cancelled"],
        "success_rate": _rate(counts["completed"], counts["failed"]),
        "print_hours": round(seconds / 3600, 2),
        "utilization": round(utilization, 1),
        "filament_grams": round(sum(job.consumed_grams for job in ended), 2),
    }


def performance(world: World, since: float | None, now: float) -> dict[str, Any]:
    """Return per-printer and farm-wide performance."""
    printers = [printer_performance(world, p, since, now) for p in world.printers.values()]
    completed = sum(p["jobs_completed"] for p in printers)
    failed = sum(p["jobs_failed"] for p in printers)
    hours = sum(p["print_hours"] for p in printers)
    utilization = sum(p["utilization"] for p in printers) / len(printers) if printers else 0.0
    return {
        "farm": {
            "printers": len(printers),
            "jobs_completed": completed,
            "jobs_failed": failed,
            "jobs_cancelled": sum(p["jobs_cancelled"] for p in printers),
            "success_rate": _rate(completed, failed),
            "print_hours": round(hours, 2),
            "utilization": round(utilization, 1),
        },
        "printers": printers,
    }


async def get_performance(request: web.Request) -> web.Response:
    """Return performance metrics of the farm and each printer."""
    world = world_of(request)
    now = world.clock.now()
    period, since = period_window(request.query, now)
    return ok(
        {"period": period, "from": iso(since), "to": iso(now), **performance(world, since, now)}
    )


def costs(world: World, since: float | None, now: float, energy_price: float) -> dict[str, Any]:
    """Return filament and energy costs, revenue and ROI per printer and for the farm."""
    rows: list[dict[str, Any]] = []
    for printer in world.printers.values():
        jobs = [job for job in world.jobs.values() if job.printer_id == printer.id]
        ended = [job for job in ended_jobs(world, since) if job.printer_id == printer.id]
        hours = sum(busy_seconds(job, since, now) for job in jobs) / 3600
        energy = hours * float(printer.settings.get("power_watts", 0.0)) / 1000 * energy_price
        filament = sum(job_cost(world, job) for job in ended)
        revenue = sum(job.sale_price or 0.0 for job in ended if job.status is JobStatus.COMPLETED)
        purchase = float(printer.settings.get("purchase_price", 0.0))
        profit = revenue - filament - energy
        rows.append(
            {
                "printer_id": printer.id,
                "name": printer.name,
                "print_hours": round(hours, 2),
                "filament_cost": round(filament, 2),
                "energy_cost": round(energy, 2),
                "revenue": round(revenue, 2),
                "profit": round(profit, 2),
                "purchase_price": purchase,
                "roi_percent": round(profit / purchase * 100, 2) if purchase > 0 else None,
            }
        )
    totals = {
        name: round(sum(row[name] for row in rows), 2)
        for name in ("filament_cost", "energy_cost", "revenue", "profit", "purchase_price")
    }
    purchase = totals["purchase_price"]
    return {
        "currency": CURRENCY,
        "energy_price_per_kwh": energy_price,
        **totals,
        "total_cost": round(totals["filament_cost"] + totals["energy_cost"], 2),
        "roi_percent": round(totals["profit"] / purchase * 100, 2) if purchase > 0 else None,
        "printers": rows,
    }


async def get_costs(request: web.Request) -> web.Response:
    """Return costs and ROI."""
    world = world_of(request)
    now = world.clock.now()
    period, since = period_window(request.query, now)
    price = number_param(
        request.query, "energy_price", DEFAULT_ENERGY_PRICE, minimum=0, maximum=MAX_PRICE
    )
    return ok(
        {"period": period, "from": iso(since), "to": iso(now), **costs(world, since, now, price)}
    )


async def get_report(request: web.Request) -> web.Response:
    """Return a report of a day, week or month."""
    world = world_of(request)
    now = world.clock.now()
    if request.query.get("period") == "all":
        reject("period", "must be one of day, week, month")
    period, since = period_window(request.query, now, default="week")
    created = [job for job in world.jobs.values() if since is None or job.created_at >= since]
    perf = performance(world, since, now)
    farm = perf["farm"]
    money = costs(world, since, now, DEFAULT_ENERGY_PRICE)
    return ok(
        {
            "period": period,
            "from": iso(since),
            "to": iso(now),
            "generated_at": iso(now),
            "jobs": {
                "created": len(created),
                "completed": farm["jobs_completed"],
                "failed": farm["jobs_failed"],
                "cancelled": farm["jobs_cancelled"],
                "success_rate": farm["success_rate"],
            },
            "print_hours": farm["print_hours"],
            "utilization": farm["utilization"],
            "filament": consumption(world, since),
            "costs": {
                name: money[name]
                for name in ("currency", "filament_cost", "energy_cost", "total_cost", "revenue")
            },
            "printers": perf["printers"],
        }
    )


def job_rows(world: World, since: float | None, now: float) -> list[dict[str, Any]]:
    """Return the job history as flat rows."""
    rows = []
    for job in sorted(ended_jobs(world, since), key=lambda j: j.completed_at or 0.0):
        printer = world.printers.get(job.printer_id or "")
        rows.append(
            {
                "id": job.id,
                "name": job.name,
                "status": JOB_STATUS[job.status],
                "printer_id": job.printer_id,
                "printer_name": printer.name if printer else None,
                "material": job.material,
                "color": job.color,
                "filament_grams": round(job.profile.grams, 2),
                "consumed_grams": round(job.consumed_grams, 2),
                "filament_cost": round(job_cost(world, job), 2),
                "sale_price": job.sale_price,
                "created_at": iso(job.created_at),
                "started_at": iso(job.started_at),
                "completed_at": iso(job.completed_at),
                "duration_seconds": round(busy_seconds(job, None, now)),
            }
        )
    return rows


async def export(request: web.Request) -> web.StreamResponse:
    """Export job history or the material inventory as CSV (or JSON)."""
    world = world_of(request)
    now = world.clock.now()
    fmt = request.query.get("format", "csv")
    kind = request.query.get("type", "jobs")
    if fmt not in ("csv", "json"):
        reject("format", "must be csv or json")
    if kind not in ("jobs", "materials"):
        reject("type", "must be jobs or materials")
    _, since = period_window(request.query, now)
    columns: tuple[str, ...] = JOB_COLUMNS
    if kind == "jobs":
        rows = job_rows(world, since, now)
    else:
        rows = [material_view(world, spool) for spool in world.spools.values()]
        columns = MATERIAL_COLUMNS
    if fmt == "json":
        return ok([{name: row[name] for name in columns} for row in rows])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return web.Response(
        text=buffer.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{kind}-export.csv"'},
    )


async def get_summary(request: web.Request) -> web.Response:
    """Return a snapshot of the farm: printers by status, queue, today's results, stock."""
    world = world_of(request)
    now = world.clock.now()
    day_start = now - now % 86400
    statuses = Counter(world.status_word(p) for p in world.printers.values())
    jobs = list(world.jobs.values())
    today = [job for job in jobs if job.completed_at is not None and job.completed_at >= day_start]
    return ok(
        {
            "printers": {
                "total": len(world.printers),
                "online": sum(p.online for p in world.printers.values()),
                "by_status": {status: statuses[status] for status in PRINTER_STATUSES},
            },
            "jobs": {
                "queued": sum(job.status is JobStatus.QUEUED for job in jobs),
                "active": sum(
                    JOB_STATUS[job.status] in ("processing", "printing", "paused") for job in jobs
                ),
                "completed_today": sum(job.status is JobStatus.COMPLETED for job in today),
                "failed_today": sum(job.status is JobStatus.FAILED for job in today),
            },
            "materials": {
                "total": len(world.spools),
                "low_stock": sum(spool.low_stock for spool in world.spools.values()),
            },
            "generated_at": iso(now),
        }
    )


ROUTES = (
    Route(method="GET", path="/analytics/summary", handler=get_summary, scope="analytics:read"),
    Route(
        method="GET", path="/analytics/performance", handler=get_performance, scope="analytics:read"
    ),
    Route(method="GET", path="/analytics/reports", handler=get_report, scope="analytics:read"),
    Route(method="GET", path="/analytics/export", handler=export, scope="analytics:read"),
    Route(method="GET", path="/analytics/costs", handler=get_costs, scope="analytics:read"),
)
