"""Asyncio client library for print farms: AutoPrintFarm, Printago and Bambu Lab printers."""

from .autoprintfarm import AutoPrintFarm, verify_webhook_signature
from .autoprintfarm_models import Webhook
from .bambu import BambuPrinterClient, async_create_ssl_context, create_ssl_context
from .events import PRINT_ERROR_CANCELLED, derive_events
from .exceptions import (
    PrintFarmAuthenticationError,
    PrintFarmConflictError,
    PrintFarmConnectionError,
    PrintFarmError,
    PrintFarmInvalidResponseError,
    PrintFarmNotFoundError,
    PrintFarmPermissionError,
    PrintFarmRateLimitError,
    PrintFarmResponseError,
    PrintFarmServerError,
    PrintFarmTimeoutError,
    PrintFarmValidationError,
)
from .farm import FarmClient
from .http import RetryPolicy
from .models import (
    ACTIVE_JOB_STATUSES,
    OPEN_JOB_STATUSES,
    Account,
    FarmSnapshot,
    FarmSummary,
    FilamentSlot,
    Job,
    JobPriority,
    JobRequest,
    JobStatus,
    Material,
    Printer,
    PrinterStatus,
    RateBudget,
)
from .printago import Printago
from .printago_realtime import PrintagoRealtime
from .push import (
    FilamentTray,
    HealthMessage,
    PrinterEvent,
    PrinterEventType,
    PrinterState,
    PrinterUpdate,
    Temperature,
)

__all__ = [
    "ACTIVE_JOB_STATUSES",
    "OPEN_JOB_STATUSES",
    "PRINT_ERROR_CANCELLED",
    "Account",
    "AutoPrintFarm",
    "BambuPrinterClient",
    "FarmClient",
    "FarmSnapshot",
    "FarmSummary",
    "FilamentSlot",
    "FilamentTray",
    "HealthMessage",
    "Job",
    "JobPriority",
    "JobRequest",
    "JobStatus",
    "Material",
    "PrintFarmAuthenticationError",
    "PrintFarmConflictError",
    "PrintFarmConnectionError",
    "PrintFarmError",
    "PrintFarmInvalidResponseError",
    "PrintFarmNotFoundError",
    "PrintFarmPermissionError",
    "PrintFarmRateLimitError",
    "PrintFarmResponseError",
    "PrintFarmServerError",
    "PrintFarmTimeoutError",
    "PrintFarmValidationError",
    "Printago",
    "PrintagoRealtime",
    "Printer",
    "PrinterEvent",
    "PrinterEventType",
    "PrinterState",
    "PrinterStatus",
    "PrinterUpdate",
    "RateBudget",
    "RetryPolicy",
    "Temperature",
    "Webhook",
    "async_create_ssl_context",
    "create_ssl_context",
    "derive_events",
    "verify_webhook_signature",
]
