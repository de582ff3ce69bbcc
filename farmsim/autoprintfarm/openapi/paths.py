"""The paths of the OpenAPI document: every route the AutoPrintFarm API serves."""

from __future__ import annotations

from typing import Any

from farmsim.autoprintfarm.formats import MAX_PRICE
from farmsim.autoprintfarm.jobs import JOB_SORT
from farmsim.autoprintfarm.materials import MATERIAL_SORT
from farmsim.autoprintfarm.printers import GROUP_SORT, PRINTER_SORT
from farmsim.autoprintfarm.profiles import PROFILE_SORT
from farmsim.autoprintfarm.views import (
    ENDED_JOB_STATUSES,
    JOB_STATUSES,
    MATERIAL_STATUSES,
    PRINTER_STATUSES,
)

from .dsl import BOOL, STR, array, enum, quantity, ref
from .operations import (
    AR,
    GROUP,
    JOB_FILTERS,
    JR,
    JW,
    MP,
    MR,
    MW,
    PERIOD,
    PR,
    PW,
    WW,
    A,
    J,
    K,
    M,
    P,
    W,
    op,
    query,
    sort,
    statuses,
)


def paths() -> dict[str, dict[str, dict[str, Any]]]:
    """Return every documented path with its operations."""
    printer = "/printers/{printer_id}"
    job = "/jobs/{job_id}"
    material = "/materials/{material_id}"
    profile = "/materials/profiles/{profile_id}"
    webhook = "/webhooks/{webhook_id}"
    state = ("409",)
    return {
        "/api-keys/current": {
            "get": op(
                "getCurrentApiKey",
                "Describe the API key in use and the account it belongs to",
                "",
                K,
                ref("ApiKey"),
            )
        },
        "/printers": {
            "get": op(
                "listPrinters",
                "List printers",
                PR,
                P,
                ref("Printer"),
                paged=True,
                params=(
                    statuses(PRINTER_STATUSES),
                    GROUP,
                    query("model", STR, "Model name or code, e.g. P1S or X1C"),
                    query("location", STR, "Printer location"),
                    sort(PRINTER_SORT),
                ),
            )
        },
        "/printers/groups": {
            "get": op(
                "listPrinterGroups",
                "List printer groups",
                PR,
                P,
                ref("PrinterGroup"),
                paged=True,
                params=(sort(GROUP_SORT),),
            )
        },
        printer: {
            "get": op("getPrinter", "Get a printer", PR, P, ref("Printer"), path=printer),
            "patch": op(
                "updatePrinter",
                "Rename, regroup, relocate or switch maintenance",
                PW,
                P,
                ref("Printer"),
                path=printer,
                body="PrinterUpdate",
                extra_errors=state,
            ),
        },
        printer + "/settings": {
            "get": op(
                "getPrinterSettings",
                "Get printer settings",
                PR,
                P,
                ref("PrinterSettings"),
                path=printer,
            ),
            "patch": op(
                "updatePrinterSettings",
                "Change printer settings",
                PW,
                P,
                ref("PrinterSettings"),
                path=printer,
                body="SettingsUpdate",
            ),
        },
        printer + "/control": {
            "post": op(
                "controlPrinter",
                "Pause, resume, stop (cancel) the print, or confirm the bed is clear",
                PW,
                P,
                ref("ControlResult"),
                path=printer,
                body="ControlRequest",
                extra_errors=state,
            )
        },
        printer + "/light": {
            "post": op(
                "setPrinterLight",
                "Switch a printer light",
                PW,
                P,
                ref("Printer"),
                path=printer,
                body="LightRequest",
                extra_errors=state,
            )
        },
        "/jobs": {
            "get": op(
                "listJobs",
                "List jobs",
                JR,
                J,
                ref("Job"),
                paged=True,
                params=(statuses(JOB_STATUSES), *JOB_FILTERS, sort(JOB_SORT)),
            ),
            "post": op(
                "createJob",
                "Create a job from a file URL and queue it",
                JW,
                J,
                ref("Job"),
                status="201",
                body="JobCreate",
                idempotent=True,
                extra_errors=("404",),
            ),
        },
        "/jobs/history": {
            "get": op(
                "jobHistory",
                "List ended jobs, latest first",
                JR,
                J,
                ref("Job"),
                paged=True,
                params=(statuses(ENDED_JOB_STATUSES), *JOB_FILTERS, sort(JOB_SORT)),
            )
        },
        job: {
            "get": op("getJob", "Get a job", JR, J, ref("Job"), path=job),
            "patch": op(
                "updateJob",
                "Rename a job or change its priority",
                JW,
                J,
                ref("Job"),
                path=job,
                body="JobUpdate",
            ),
        },
        job + "/progress": {
            "get": op("getJobProgress", "Get a job's progress", JR, J, ref("JobProgress"), path=job)
        },
        **{
            f"{job}/{action}": {
                "post": op(f"{action}Job", summary, JW, J, ref("Job"), path=job, extra_errors=state)
            }
            for action, summary in (
                ("pause", "Pause a printing job"),
                ("resume", "Resume a paused job"),
                ("cancel", "Cancel a queued or running job"),
                ("retry", "Queue a failed or cancelled job again"),
            )
        },
        "/materials": {
            "get": op(
                "listMaterials",
                "List the filament inventory",
                MR,
                M,
                ref("Material"),
                paged=True,
                params=(
                    query("type", STR, "Material type, e.g. PLA"),
                    query("color", STR, "Color name or hex code"),
                    query(
                        "low_stock",
                        BOOL,
                        "Only items at or above (false) / below (true) their reorder threshold",
                    ),
                    statuses(MATERIAL_STATUSES),
                    query("location", STR, "Storage location or printer name"),
                    query("printer_id", STR, "Spools loaded in one printer"),
                    sort(MATERIAL_SORT),
                ),
            ),
            "post": op(
                "createMaterial",
                "Add a spool to the inventory",
                MW,
                M,
                ref("Material"),
                status="201",
                body="MaterialCreate",
                idempotent=True,
            ),
        },
        "/materials/consumption": {
            "get": op(
                "materialConsumption",
                "Filament consumed by ended jobs, per type and per spool (default period: month)",
                MR,
                M,
                ref("MaterialConsumption"),
                params=(PERIOD,),
            )
        },
        "/materials/alerts": {
            "get": op(
                "materialAlerts",
                "Spools at or below their reorder threshold",
                MR,
                M,
                ref("MaterialAlert"),
                paged=True,
            )
        },
        material: {
            "get": op(
                "getMaterial", "Get an inventory item", MR, M, ref("Material"), path=material
            ),
            "patch": op(
                "updateMaterial",
                "Change an inventory item (remaining grams, reorder threshold, ...)",
                MW,
                M,
                ref("Material"),
                path=material,
                body="MaterialUpdate",
            ),
            "delete": op(
                "deleteMaterial",
                "Remove an inventory item",
                MW,
                M,
                ref("Deleted"),
                path=material,
                extra_errors=state,
            ),
        },
        "/materials/profiles": {
            "get": op(
                "listMaterialProfiles",
                "List material profiles",
                MR,
                MP,
                ref("MaterialProfile"),
                paged=True,
                params=(
                    query("material", STR, "Material type"),
                    sort(PROFILE_SORT),
                ),
            ),
            "post": op(
                "createMaterialProfile",
                "Add a material profile",
                MW,
                MP,
                ref("MaterialProfile"),
                status="201",
                body="ProfileCreate",
                idempotent=True,
            ),
        },
        profile: {
            "get": op(
                "getMaterialProfile",
                "Get a material profile",
                MR,
                MP,
                ref("MaterialProfile"),
                path=profile,
            ),
            "patch": op(
                "updateMaterialProfile",
                "Change a material profile",
                MW,
                MP,
                ref("MaterialProfile"),
                path=profile,
                body="ProfileUpdate",
            ),
            "delete": op(
                "deleteMaterialProfile",
                "Remove a material profile",
                MW,
                MP,
                ref("Deleted"),
                path=profile,
            ),
        },
        "/analytics/summary": {
            "get": op("analyticsSummary", "Farm snapshot", AR, A, ref("Summary"))
        },
        "/analytics/performance": {
            "get": op(
                "analyticsPerformance",
                "Performance metrics per printer and farm",
                AR,
                A,
                ref("Performance"),
                params=(PERIOD,),
            )
        },
        "/analytics/reports": {
            "get": op(
                "analyticsReport",
                "Report of a day, week (default) or month",
                AR,
                A,
                ref("Report"),
                params=(query("period", enum(("day", "week", "month")), "Report period"),),
            )
        },
        "/analytics/export": {
            "get": op(
                "analyticsExport",
                "Export job history or the inventory (CSV by default, no envelope)",
                AR,
                A,
                array(ref("ExportRow")),
                csv=True,
                params=(
                    query("format", enum(("csv", "json")), "Output format (default csv)"),
                    query("type", enum(("jobs", "materials")), "What to export (default jobs)"),
                    PERIOD,
                ),
            )
        },
        "/analytics/costs": {
            "get": op(
                "analyticsCosts",
                "Filament and energy costs, revenue and ROI",
                AR,
                A,
                ref("Costs"),
                params=(
                    PERIOD,
                    query(
                        "energy_price",
                        quantity(MAX_PRICE),
                        "Price per kWh (default 0.15)",
                    ),
                ),
            )
        },
        "/webhooks": {
            "get": op(
                "listWebhooks", "List webhook subscriptions", WW, W, ref("Webhook"), paged=True
            ),
            "post": op(
                "createWebhook",
                "Subscribe a URL to events",
                WW,
                W,
                ref("Webhook"),
                status="201",
                body="WebhookCreate",
                idempotent=True,
            ),
        },
        webhook: {
            "get": op(
                "getWebhook", "Get a webhook subscription", WW, W, ref("Webhook"), path=webhook
            ),
            "delete": op(
                "deleteWebhook",
                "Delete a webhook subscription",
                WW,
                W,
                ref("Deleted"),
                path=webhook,
            ),
        },
        webhook + "/deliveries": {
            "get": op(
                "listWebhookDeliveries",
                "Latest delivery attempts, newest first",
                WW,
                W,
                ref("WebhookDelivery"),
                path=webhook,
                paged=True,
            )
        },
        webhook + "/test": {
            "post": op(
                "testWebhook",
                "Send a signed webhook.test event",
                WW,
                W,
                ref("WebhookTest"),
                path=webhook,
            )
        },
    }
