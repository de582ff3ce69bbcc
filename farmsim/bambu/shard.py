"""One Mosquitto serving a group of simulated printers, and farmsim's client of it.

Every printer has a TLS listener of its own in the process, with its certificate, the
user `bblp` with its access code and an ACL for its two topics, so that a client of one
printer sees nothing of another. farmsim's paho client publishes the reports of all of
them and takes their requests on a plain loopback listener.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Final

from farmsim.mosquitto import Listener, MosquittoBroker, Publisher

from .topics import REQUEST_FILTER, report_topic, request_topic, serial_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from farmsim.certs import CertificateAuthority
    from farmsim.models import Printer

LOGGER = logging.getLogger(__name__)

BAMBU_USERNAME: Final = "bblp"
INTERNAL: Final = "farmsim"

type RequestHandler = Callable[[bytes], None]


def printer_listener(printer: Printer, ca: CertificateAuthority) -> Listener:
    """Return the TLS listener of one printer: its certificate, `bblp`, its two topics."""
    cert_path, key_path = ca.issue(printer.serial)
    return Listener(
        name=printer.serial,
        users={BAMBU_USERNAME: printer.access_code},
        acl=[
            f"user {BAMBU_USERNAME}",
            f"topic read {report_topic(printer.serial)}",
            f"topic write {request_topic(printer.serial)}",
        ],
        cafile=ca.cert_path,
        certfile=cert_path,
        keyfile=key_path,
    )


class Shard:
    """A Mosquitto process for some printers and farmsim's paho client of it."""

    def __init__(
        self, directory: Path, ca: CertificateAuthority, printers: Iterable[Printer]
    ) -> None:
        """Initialize the shard; nothing runs until start()."""
        password = secrets.token_hex(16)
        internal = Listener(
            name=INTERNAL,
            users={INTERNAL: password},
            acl=[f"user {INTERNAL}", "topic readwrite device/#"],
        )
        listeners = [printer_listener(printer, ca) for printer in printers]
        self.codes: dict[str, str | None] = {
            listener.name: listener.users[BAMBU_USERNAME] for listener in listeners
        }
        self.broker = MosquittoBroker(directory=directory, listeners=[*listeners, internal])
        self.publisher = Publisher(
            port=0,
            client_id=f"farmsim-{directory.name}-{secrets.token_hex(4)}",
            username=INTERNAL,
            password=password,
            subscriptions=(REQUEST_FILTER,),
            on_message=self._on_request,
        )
        self._handlers: dict[str, RequestHandler] = {}
        self._lock = asyncio.Lock()
        # Set when the whole shard goes: its printers are let go without reloading
        self.closing = False

    @property
    def serials(self) -> list[str]:
        """Return the serials of the printers this shard serves."""
        return list(self.codes)

    @property
    def idle(self) -> bool:
        """Return whether every printer of the shard was released."""
        return all(code is None for code in self.codes.values())

    @property
    def running(self) -> bool:
        """Return whether Mosquitto runs and farmsim's client is subscribed to it."""
        return self.broker.running and self.publisher.connected

    def attach(self, serial: str, handler: RequestHandler) -> None:
        """Set the function that gets every request payload of a printer."""
        self._handlers[serial] = handler

    async def start(self) -> None:
        """Start Mosquitto (again, on the same ports) and connect farmsim's client."""
        async with self._lock:
            if not self.broker.running:
                await self.broker.start()
                self.publisher.port = self.broker.port(INTERNAL)
            await self.publisher.start()

    async def close(self) -> None:
        """Disconnect farmsim's client and stop Mosquitto."""
        self.closing = True
        async with self._lock:
            await self.publisher.close()
            await self.broker.stop()

    def publish(self, serial: str, payload: bytes) -> bool:
        """Publish a report of a printer; return False when it could not be sent."""
        return self.broker.running and self.publisher.publish(report_topic(serial), payload)

    async def set_access_code(self, serial: str, code: str | None) -> None:
        """Let `bblp` in with a new code (None: nobody); clients of the old code are cut."""
        if self.codes.get(serial, code) == code:
            return
        self.codes[serial] = code
        users = {} if code is None else {BAMBU_USERNAME: code}
        await self.broker.set_users(serial, users)

    async def release(self, serial: str) -> None:
        """Stop serving a printer: nobody can log in to its listener any more."""
        self._handlers.pop(serial, None)
        if self.broker.running and not self.closing:
            await self.set_access_code(serial, None)
        else:
            self.codes[serial] = None

    def _on_request(self, topic: str, payload: bytes) -> None:
        """Pass a request to its printer."""
        if (serial := serial_of(topic)) is not None and (
            handler := self._handlers.get(serial)
        ) is not None:
            handler(payload)
