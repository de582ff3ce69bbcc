"""What Mosquitto's log tells farmsim: it is running, reloaded, accepted or refused a client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_TIMESTAMP: Final = re.compile(r"^\d+: ")
_ACCEPTED: Final = re.compile(
    r"^New client connected from (?P<address>\S+) as (?P<client_id>.*) "
    r"\(p\d+, c\d+, k\d+(?:, u'(?P<username>.*)')?\)\.$"
)
_CONNECTION: Final = re.compile(r"^New connection from (?P<address>\S+) on port \d+\.$")
# A client refused at CONNECT: Mosquitto 2.0 knows no client id yet; 2.1 names the client (or
# its address) and the connection, and says so only of a refusal ("disconnected." otherwise)
_REFUSED: Final = re.compile(
    r"^Client (?:<unknown> disconnected(?:, not authorised|: .+)"
    r"|\S+ \[\S+\] disconnected: not authorised)\.$"
)
_RUNNING: Final = re.compile(r"^mosquitto version \S+ running$")
RELOADING: Final = "Reloading config."


@dataclass(frozen=True, slots=True)
class Accepted:
    """Mosquitto accepted a client connected from `address` (host:port)."""

    address: str
    client_id: str
    username: str | None


@dataclass(frozen=True, slots=True)
class Connection:
    """Mosquitto took a new TCP connection from `address` (not logged for WebSockets)."""

    address: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Mosquitto refused a client at CONNECT (credentials or client id)."""


@dataclass(frozen=True, slots=True)
class Running:
    """Mosquitto listens on every listener."""


@dataclass(frozen=True, slots=True)
class Reloading:
    """Mosquitto got SIGHUP and reads its configuration again."""


type LogEvent = Accepted | Connection | Refused | Running | Reloading


def message(line: str) -> str:
    """Return a log line without its timestamp and line end."""
    return _TIMESTAMP.sub("", line.rstrip("\r\n"), count=1)


def parse(line: str) -> LogEvent | None:
    """Return what a log line tells, or None for lines farmsim does not follow."""
    text = message(line)
    if (accepted := _ACCEPTED.match(text)) is not None:
        return Accepted(
            address=accepted["address"],
            client_id=accepted["client_id"],
            username=accepted["username"],
        )
    if (connection := _CONNECTION.match(text)) is not None:
        return Connection(address=connection["address"])
    if _REFUSED.match(text):
        return Refused()
    if text == RELOADING:
        return Reloading()
    if _RUNNING.match(text):
        return Running()
    return None
