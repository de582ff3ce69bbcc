"""The MQTT topics of a Bambu printer on the LAN."""

from __future__ import annotations

from typing import Final

REQUEST_FILTER: Final = "device/+/request"


def report_topic(serial: str) -> str:
    """Return the topic a printer publishes reports on."""
    return f"device/{serial}/report"


def request_topic(serial: str) -> str:
    """Return the topic a printer takes commands from."""
    return f"device/{serial}/request"


def serial_of(topic: str) -> str | None:
    """Return the serial of a request topic, or None for any other topic."""
    match topic.split("/"):
        case ["device", serial, "request"] if serial:
            return serial
        case _:
            return None
