"""Actions of the printfarm integration: submit, pause, resume and cancel jobs, read the queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr

from .api import (
    FarmClient,
    Job,
    JobPriority,
    JobRequest,
    PrintFarmError,
)
from .const import (
    ATTR_COLOR,
    ATTR_CONFIG_ENTRY_ID,
    ATTR_DEVICE_ID,
    ATTR_FILE_URL,
    ATTR_GROUP,
    ATTR_IDEMPOTENCY_KEY,
    ATTR_JOB_ID,
    ATTR_MATERIAL,
    ATTR_NAME,
    ATTR_PART_ID,
    ATTR_PRINTER,
    ATTR_PRIORITY,
    ATTR_QUANTITY,
    ATTR_TAGS,
    CONF_SERVICE,
    DOMAIN,
    SERVICE_AUTOPRINTFARM,
    SERVICE_NAMES,
    SERVICE_PRINTAGO,
)
from .coordinator import PrintFarmConfigEntry
from .entity import account_id
from .helpers import farm_error

SERVICE_SUBMIT_JOB = "submit_job"
SERVICE_PAUSE_JOB = "pause_job"
SERVICE_RESUME_JOB = "resume_job"
SERVICE_CANCEL_JOB = "cancel_job"
SERVICE_GET_QUEUE = "get_queue"

PRIORITIES = {priority.name.lower(): priority for priority in JobPriority}
# What each farm service cannot honour: Printago prints parts for printers with tags,
# AutoPrintFarm prints files for printer groups
UNSUPPORTED = {
    SERVICE_AUTOPRINTFARM: (ATTR_PART_ID, ATTR_TAGS),
    SERVICE_PRINTAGO: (ATTR_FILE_URL, ATTR_GROUP, ATTR_COLOR),
}

SUBMIT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_FILE_URL): vol.Url(),
        vol.Optional(ATTR_PART_ID): cv.string,
        vol.Optional(ATTR_PRINTER): cv.string,
        vol.Optional(ATTR_GROUP): cv.string,
        vol.Optional(ATTR_TAGS, default=[]): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_QUANTITY, default=1): vol.All(vol.Coerce(int), vol.Range(min=1, max=50)),
        vol.Optional(ATTR_PRIORITY, default="normal"): vol.In(PRIORITIES),
        vol.Optional(ATTR_NAME): cv.string,
        vol.Optional(ATTR_MATERIAL): cv.string,
        vol.Optional(ATTR_COLOR): cv.string,
        vol.Optional(ATTR_IDEMPOTENCY_KEY): vol.All(cv.string, vol.Length(min=1, max=200)),
    }
)
JOB_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_JOB_ID): cv.string,
        vol.Optional(ATTR_DEVICE_ID): cv.string,
    }
)
QUEUE_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})


def _entry(hass: HomeAssistant, entry_id: str) -> PrintFarmConfigEntry:
    """Return a loaded printfarm entry, or raise a translated validation error."""
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry": entry.title if entry else entry_id},
        )
    return entry


def _config_entry_ids(device: object) -> set[str]:
    """Return the config entries of a device, on every supported Home Assistant.

    From 2026.8 a device (or child device) belongs to one config entry (`config_entry_id`,
    and the set `config_entries` is deprecated); before, to a set of them.
    """
    entry_id: str | None = getattr(device, "config_entry_id", None)
    if entry_id is not None:
        return {entry_id}
    entry_ids: set[str] = getattr(device, "config_entries", set())
    return set(entry_ids)


def _printer_of_device(hass: HomeAssistant, device_id: str) -> tuple[PrintFarmConfigEntry, str]:
    """Return the entry and farm printer id of a printer device."""
    device = dr.async_get(hass).async_get(device_id)
    if device is not None:
        for entry_id in _config_entry_ids(device):
            entry = hass.config_entries.async_get_entry(entry_id)
            if entry is None or entry.domain != DOMAIN:
                continue
            farm_entry = _entry(hass, entry_id)
            prefix = f"{account_id(farm_entry)}_"
            for domain, identifier in device.identifiers:
                if domain == DOMAIN and identifier.startswith(prefix):
                    return farm_entry, identifier.removeprefix(prefix)
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_printer",
        translation_placeholders={"device": (device.name if device else None) or device_id},
    )


async def _call[T](
    hass: HomeAssistant, entry: PrintFarmConfigEntry, action: Callable[[], Awaitable[T]]
) -> T:
    """Run a farm request, then refresh the farm; turn a failure into a translated error."""
    try:
        result = await action()
    except PrintFarmError as err:
        raise farm_error(hass, entry, err) from err
    await entry.runtime_data.farm.async_request_refresh()
    return result


def _job_data(entry: PrintFarmConfigEntry, job: Job) -> dict[str, Any]:
    """Return a job as response data."""
    printer = entry.runtime_data.farm.data.printers.get(job.printer_id or "")
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "printer_id": job.printer_id,
        "printer": printer.name if printer else None,
        "progress": job.progress,
        "queue_position": job.queue_position,
        "priority": job.priority.name.lower() if job.priority is not None else None,
        "created_at": job.created_at.isoformat() if job.created_at else None,
    }


async def _submit_job(call: ServiceCall) -> ServiceResponse:
    """Queue a print job."""
    hass = call.hass
    entry = _entry(hass, call.data[ATTR_CONFIG_ENTRY_ID])
    printago = entry.data[CONF_SERVICE] == SERVICE_PRINTAGO
    if printago and ATTR_PART_ID not in call.data:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="part_required")
    if not printago and ATTR_FILE_URL not in call.data:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="file_url_required")
    for option in UNSUPPORTED[entry.data[CONF_SERVICE]]:
        if call.data.get(option):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="option_not_supported",
                translation_placeholders={
                    "option": option,
                    "service": SERVICE_NAMES[entry.data[CONF_SERVICE]],
                },
            )
    printer_id = None
    if device_id := call.data.get(ATTR_PRINTER):
        printer_entry, printer_id = _printer_of_device(hass, device_id)
        if printer_entry.entry_id != entry.entry_id:
            device = dr.async_get(hass).async_get(device_id)
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_printer",
                translation_placeholders={"device": (device.name if device else None) or device_id},
            )
    request = JobRequest(
        file_url=call.data.get(ATTR_FILE_URL),
        part_id=call.data.get(ATTR_PART_ID),
        name=call.data.get(ATTR_NAME),
        printer_id=printer_id,
        group=call.data.get(ATTR_GROUP),
        tags=tuple(call.data[ATTR_TAGS]),
        quantity=call.data[ATTR_QUANTITY],
        priority=PRIORITIES[call.data[ATTR_PRIORITY]],
        material=call.data.get(ATTR_MATERIAL),
        color=call.data.get(ATTR_COLOR),
    )
    client = entry.runtime_data.client
    jobs = await _call(
        hass,
        entry,
        lambda: client.submit_job(request, idempotency_key=call.data.get(ATTR_IDEMPOTENCY_KEY)),
    )
    return {"jobs": [_job_data(entry, job) for job in jobs]}


async def _job_target(
    hass: HomeAssistant, data: dict[str, Any]
) -> tuple[PrintFarmConfigEntry, str]:
    """Return the entry and the job an action is about: by job id, or a printer's current job."""
    if ATTR_DEVICE_ID in data:
        entry, printer_id = _printer_of_device(hass, data[ATTR_DEVICE_ID])
        farm = entry.runtime_data.farm.data
        job = farm.printer_jobs.get(printer_id)
        printer = farm.printers.get(printer_id)
        if job is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_current_job",
                translation_placeholders={"printer": printer.name if printer else printer_id},
            )
        return entry, job.id
    if ATTR_JOB_ID in data and ATTR_CONFIG_ENTRY_ID in data:
        return _entry(hass, data[ATTR_CONFIG_ENTRY_ID]), data[ATTR_JOB_ID]
    raise ServiceValidationError(
        translation_domain=DOMAIN, translation_key="job_or_printer_required"
    )


def _job_action(
    method: Callable[[FarmClient, str], Awaitable[None]],
) -> Callable[[ServiceCall], Coroutine[Any, Any, None]]:
    """Return the handler of a job action."""

    async def handler(call: ServiceCall) -> None:
        entry, job_id = await _job_target(call.hass, dict(call.data))
        client = entry.runtime_data.client
        await _call(call.hass, entry, lambda: method(client, job_id))

    return handler


async def _get_queue(call: ServiceCall) -> ServiceResponse:
    """Return the queued and running jobs of a farm."""
    entry = _entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    data = entry.runtime_data.farm.data
    return {"jobs": [_job_data(entry, job) for job in data.jobs]}


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the printfarm actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SUBMIT_JOB,
        _submit_job,
        schema=SUBMIT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    actions: dict[str, Callable[[FarmClient, str], Awaitable[None]]] = {
        SERVICE_PAUSE_JOB: lambda client, job_id: client.pause_job(job_id),
        SERVICE_RESUME_JOB: lambda client, job_id: client.resume_job(job_id),
        SERVICE_CANCEL_JOB: lambda client, job_id: client.cancel_job(job_id),
    }
    for name, method in actions.items():
        hass.services.async_register(DOMAIN, name, _job_action(method), schema=JOB_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_QUEUE,
        _get_queue,
        schema=QUEUE_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
