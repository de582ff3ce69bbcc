"""AutoPrintFarm's signed webhook deliveries: verified before anything in them is believed.

A delivery is believed only when its `X-Webhook-Signature` is the HMAC-SHA256 of the raw
body with the subscription's secret, its `X-Webhook-Timestamp` lies within a tolerance of
now, and its event id was not seen before (a replay is refused).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ..errors import PrintFarmWebhookError
from ..models import FarmEvent, FarmEventType
from ..parsing import as_datetime, as_float, as_mapping, as_str, decode_json
from . import models as parse

SIGNATURE_HEADER: Final = "X-Webhook-Signature"
TIMESTAMP_HEADER: Final = "X-Webhook-Timestamp"
EVENT_ID_HEADER: Final = "X-Webhook-Id"
SIGNATURE_PREFIX: Final = "sha256="
# How far a delivery's timestamp may lie from now (clocks differ; retries come later)
DEFAULT_TOLERANCE: Final = timedelta(minutes=5)
# How many event ids are remembered to refuse replays (well beyond the tolerance's worth)
SEEN_IDS: Final = 4096
# Epoch timestamps above this are milliseconds
MILLISECONDS: Final = 1e11

# AutoPrintFarm's event names, and what they mean for the farm
EVENT_TYPES: Final[Mapping[str, FarmEventType]] = {
    "job.created": FarmEventType.JOB_QUEUED,
    "job.assigned": FarmEventType.JOB_ASSIGNED,
    "job.started": FarmEventType.JOB_STARTED,
    "job.paused": FarmEventType.JOB_PAUSED,
    "job.resumed": FarmEventType.JOB_RESUMED,
    "job.completed": FarmEventType.JOB_COMPLETED,
    "job.failed": FarmEventType.JOB_FAILED,
    "job.cancelled": FarmEventType.JOB_CANCELLED,
    "printer.online": FarmEventType.PRINTER_ONLINE,
    "printer.offline": FarmEventType.PRINTER_OFFLINE,
    "printer.error": FarmEventType.PRINTER_ERROR,
    "printer.ready": FarmEventType.PRINTER_READY,
    "material.low_stock": FarmEventType.MATERIAL_LOW_STOCK,
}
# The events a subscription asks for: every one the farm names
WEBHOOK_EVENTS: Final = tuple(EVENT_TYPES)


def verify_webhook_signature(secret: str, body: bytes, header: str) -> bool:
    """Return whether an X-Webhook-Signature (`sha256=` hex or base64) signs the body."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    value = header.strip()
    if value[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
        value = value[len(SIGNATURE_PREFIX) :].strip()
    candidates: list[bytes] = []
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(value))
    padded = value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4)
    with contextlib.suppress(binascii.Error, UnicodeEncodeError):
        candidates.append(base64.b64decode(padded.encode("ascii"), validate=True))
    # Compare every candidate, so the time taken does not depend on which one matches
    results = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(results)


def _timestamp(value: str | None) -> datetime | None:
    """Return the time of an X-Webhook-Timestamp: epoch seconds or milliseconds, or ISO."""
    number = as_float(value)
    if number is not None:
        if number > MILLISECONDS:
            number /= 1000
        with contextlib.suppress(OverflowError, OSError, ValueError):
            return datetime.fromtimestamp(number, UTC)
        return None
    return as_datetime(value)


def parse_event(payload: Any) -> FarmEvent:
    """Return the farm event of a delivery's JSON payload; raise if it is not one."""
    if not isinstance(payload, Mapping):
        msg = "The delivery is not a JSON object"
        raise PrintFarmWebhookError(msg, reason="malformed")
    event_id = as_str(payload.get("id"))
    word = as_str(payload.get("type")) or as_str(payload.get("event"))
    if not event_id or not word:
        msg = "The delivery has no event id or type"
        raise PrintFarmWebhookError(msg, reason="malformed")
    data = as_mapping(payload.get("data"))
    printer_raw, job_raw, material_raw = (data.get(key) for key in ("printer", "job", "material"))
    try:
        printer = parse.printer(printer_raw) if isinstance(printer_raw, Mapping) else None
        job = parse.job(job_raw) if isinstance(job_raw, Mapping) else None
        material = parse.material(material_raw) if isinstance(material_raw, Mapping) else None
    except Exception as err:
        msg = f"The delivery's {word} data cannot be read: {err}"
        raise PrintFarmWebhookError(msg, reason="malformed") from err
    return FarmEvent(
        id=event_id,
        type=EVENT_TYPES.get(word, FarmEventType.OTHER),
        name=word,
        at=as_datetime(payload.get("created_at")),
        printer=printer,
        job=job,
        material=material,
        details=dict(as_mapping(data.get("details"))),
    )


@dataclass
class WebhookVerifier:
    """Checks deliveries of one subscription: signature, freshness, and replays."""

    secret: str
    tolerance: timedelta = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        """Start with no event seen."""
        self._seen: OrderedDict[str, None] = OrderedDict()

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> FarmEvent:
        """Return the event of a delivery, or raise `PrintFarmWebhookError` saying why not.

        Nothing in a refused delivery is read beyond what the checks need.
        """
        signature = headers.get(SIGNATURE_HEADER)
        if not signature:
            msg = "The delivery is not signed"
            raise PrintFarmWebhookError(msg, reason="unsigned")
        if not verify_webhook_signature(self.secret, body, signature):
            msg = "The delivery's signature does not match"
            raise PrintFarmWebhookError(msg, reason="bad_signature")
        sent = _timestamp(headers.get(TIMESTAMP_HEADER))
        if sent is None or abs(now - sent) > self.tolerance:
            msg = "The delivery's timestamp is missing or too far from now"
            raise PrintFarmWebhookError(msg, reason="stale")
        try:
            payload = decode_json(body)
        except ValueError as err:
            msg = "The delivery is not JSON"
            raise PrintFarmWebhookError(msg, reason="malformed") from err
        event = parse_event(payload)
        if event.id in self._seen:
            msg = f"Event {event.id} was delivered before"
            raise PrintFarmWebhookError(msg, reason="replay")
        self._seen[event.id] = None
        while len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        return event
