"""Tests for the verification and reading of AutoPrintFarm's webhook deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.printfarm.api import FarmEventType, PrintFarmWebhookError, WebhookVerifier
from custom_components.printfarm.api.autoprintfarm import parse_event, webhooks
from custom_components.printfarm.api.models import JobStatus, PrinterStatus

SECRET = "a-secret-of-twenty-four"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
PRINTER = {"id": "prn_1", "name": "P1S-01", "status": "printing", "online": True}
JOB = {"id": "job_1", "name": "Bracket", "status": "completed", "printer_id": "prn_1"}


def delivery(
    payload: Any, *, secret: str = SECRET, at: str | None = None, encoding: str = "hex"
) -> tuple[bytes, dict[str, str]]:
    """Return a signed delivery of a payload."""
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    signature = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    stamp = at if at is not None else str(int(NOW.timestamp()))
    return body, {"X-Webhook-Signature": f"sha256={signature}", "X-Webhook-Timestamp": stamp}


def event_payload(event_id: str = "evt_1", kind: str = "job.completed") -> dict[str, Any]:
    """Return a delivery's payload about a printer and its job."""
    return {
        "id": event_id,
        "type": kind,
        "created_at": "2026-12-04T11:59:58Z",
        "data": {"printer": PRINTER, "job": JOB, "material": None, "details": {"x": 1}},
    }


def test_a_genuine_delivery_is_read() -> None:
    """Test a signed, fresh delivery gives the event with its printer and job."""
    event = WebhookVerifier(SECRET).verify(*delivery(event_payload()), now=NOW)
    assert event.type is FarmEventType.JOB_COMPLETED
    assert event.name == "job.completed"
    assert event.printer is not None
    assert event.printer.status is PrinterStatus.PRINTING
    assert event.job is not None
    assert event.job.status is JobStatus.COMPLETED
    assert event.material is None
    assert event.details == {"x": 1}
    assert event.at == datetime(2026, 12, 4, 11, 59, 58, tzinfo=UTC)


@pytest.mark.parametrize(
    "stamp",
    [
        str(int(NOW.timestamp() * 1000)),  # milliseconds, as some senders write it
        (NOW - timedelta(minutes=4)).isoformat(),
    ],
)
def test_timestamps_in_other_forms(stamp: str) -> None:
    """Test epoch milliseconds and ISO timestamps are read too."""
    body, headers = delivery(event_payload(), at=stamp, encoding="base64")
    assert WebhookVerifier(SECRET).verify(body, headers, now=NOW).id == "evt_1"


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (*delivery(event_payload(), secret="another-secret-entirely"), "bad_signature"),
        (delivery(event_payload())[0], {}, "unsigned"),
        (*delivery(event_payload(), at=str(int(NOW.timestamp()) - 3600)), "stale"),
        (*delivery(event_payload(), at="soon"), "stale"),
        (*delivery(event_payload(), at="1" + "0" * 30), "stale"),
        (*delivery(b"{not json"), "malformed"),
        (*delivery([1, 2]), "malformed"),
        (*delivery({"type": "job.completed"}), "malformed"),
        (*delivery({**event_payload(), "data": {"job": {"name": "no id"}}}), "malformed"),
    ],
)
def test_refused(body: bytes, headers: dict[str, str], reason: str) -> None:
    """Test forged, unsigned, stale and malformed deliveries are refused, saying why."""
    with pytest.raises(PrintFarmWebhookError) as refused:
        WebhookVerifier(SECRET).verify(body, headers, now=NOW)
    assert refused.value.reason == reason
    assert SECRET not in str(refused.value)


def test_replays_are_refused_and_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test an event delivered twice is refused the second time; old ids are let go."""
    monkeypatch.setattr(webhooks, "SEEN_IDS", 2)
    verifier = WebhookVerifier(SECRET)
    first = delivery(event_payload("evt_1"))
    verifier.verify(*first, now=NOW)
    with pytest.raises(PrintFarmWebhookError, match="delivered before") as refused:
        verifier.verify(*first, now=NOW)
    assert refused.value.reason == "replay"
    verifier.verify(*delivery(event_payload("evt_2")), now=NOW)
    verifier.verify(*delivery(event_payload("evt_3")), now=NOW)
    # The oldest id was let go (it is long past the timestamp tolerance by then)
    verifier.verify(*first, now=NOW)


def test_unknown_event_types_are_kept_by_name() -> None:
    """Test an event type printfarm does not know is read, as another event."""
    event = parse_event({"id": "evt_9", "event": "printer.maintenance_due", "data": {}})
    assert event.type is FarmEventType.OTHER
    assert event.name == "printer.maintenance_due"
    assert event.printer is None
