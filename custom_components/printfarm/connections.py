"""The connections printers push their state through: Bambu printers on the LAN, or Printago.

Either kind hands each pushed state, lifecycle event and connection change to the callbacks
it is given (`PushCallbacks`), which feed the printers' coordinators; neither knows of them.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PORT, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .api import (
    BambuPrinterClient,
    FarmEvent,
    Printago,
    PrintagoRealtime,
    PrinterEvent,
    PrinterState,
    PrinterUpdate,
    PrintFarmAuthenticationError,
    PrintFarmConnectionError,
    async_create_ssl_context,
)
from .const import (
    CHAMBER_LIGHT,
    CONF_ACCESS_CODE,
    CONF_CA_CERT,
    CONF_PRINTER_ID,
    CONF_REALTIME_URL,
    CONF_SERIAL,
    CONF_STALE_TIMEOUT,
    CONF_STORE_ID,
    DEFAULT_STALE_TIMEOUT,
    DOMAIN,
    LOGGER,
    SUBENTRY_PRINTER,
)


class PrinterCommands(Protocol):
    """What a printer's push connection can do beside reporting its state."""

    @property
    def has_speed(self) -> bool:
        """Return whether the print speed can be set."""

    async def async_set_speed(self, level: int) -> None:
        """Set the print speed level."""

    async def async_set_light(self, *, on: bool) -> None:
        """Switch the chamber light."""


@dataclass(frozen=True, kw_only=True)
class PushCallbacks:
    """Where the connections hand what the printers push, by farm printer id."""

    on_update: Callable[[str, PrinterUpdate], None]
    on_event: Callable[[str, PrinterEvent], None]
    # A printer's connection was added, changed or removed
    on_connection: Callable[[str], None]
    # The farm reported that its printers, jobs or materials changed
    on_farm_change: Callable[[], None]
    # The farm told one of its events (Printago's job events); the refresh brings its facts
    on_farm_event: Callable[[FarmEvent], None]


class PrinterConnections(ABC):
    """The push connections of an entry's printers."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, callbacks: PushCallbacks) -> None:
        """Initialize the connections of an entry."""
        self.hass = hass
        self.entry = entry
        self.callbacks = callbacks

    def _stale_timeout(self) -> float:
        """Return how long a printer may stay silent before its pushed state is stale."""
        return float(self.entry.options.get(CONF_STALE_TIMEOUT, DEFAULT_STALE_TIMEOUT))

    @abstractmethod
    async def async_start(self) -> None:
        """Start receiving pushed state."""

    @abstractmethod
    async def async_update_connections(self) -> None:
        """Follow the entry's printer connections as they are added, changed or removed."""

    @abstractmethod
    async def async_stop(self) -> None:
        """Stop receiving pushed state and close every connection."""

    @abstractmethod
    def commands(self, printer_id: str) -> PrinterCommands | None:
        """Return the push connection of a printer, or None if its state is not pushed."""

    @abstractmethod
    def state(self, printer_id: str) -> PrinterState | None:
        """Return the last state a printer pushed, if any."""

    def _issue_id(self, key: str) -> str:
        return f"push_auth_failed_{self.entry.entry_id}_{key}"

    @callback
    def _clear_auth_failed(self, key: str) -> None:
        """Remove the repair issue of refused credentials before connecting again."""
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(key))

    @callback
    def _auth_failed(self, key: str, err: PrintFarmAuthenticationError) -> None:
        """Raise a repair issue: the printer or feed refused its credentials."""
        LOGGER.warning("Credentials refused by %s: %s", key, err)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(key),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="push_auth_failed",
            translation_placeholders={"name": key},
        )


@dataclass(frozen=True)
class BambuCommands:
    """Commands to a Bambu Lab printer over its LAN connection."""

    client: BambuPrinterClient
    has_speed: bool = True

    async def async_set_speed(self, level: int) -> None:
        """Set the print speed level over the LAN."""
        await self.client.set_print_speed(level)

    async def async_set_light(self, *, on: bool) -> None:
        """Switch the chamber light over the LAN."""
        await self.client.set_light(on=on, node=CHAMBER_LIGHT)


class BambuConnections(PrinterConnections):
    """Bambu Lab printers reached on the LAN, one MQTT connection each."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, callbacks: PushCallbacks) -> None:
        """Initialize the connections; none is made before `async_start`."""
        super().__init__(hass, entry, callbacks)
        self.clients: dict[str, BambuPrinterClient] = {}
        # The subentry data each printer's connection runs with, by farm printer id
        self._connections: dict[str, dict[str, Any]] = {}
        # Subentry changes arrive as separate tasks; one at a time keeps a client per printer
        self._lock = asyncio.Lock()
        # A subentry change still queued when the entry unloads must not connect again
        self._stopped = False

    async def async_start(self) -> None:
        """Connect to every configured printer in the background."""
        await self.async_update_connections()

    async def async_update_connections(self) -> None:
        """Connect added printers, disconnect removed ones and reconnect changed ones."""
        async with self._lock:
            if self._stopped:
                return
            configured = {
                subentry.data[CONF_PRINTER_ID]: dict(subentry.data)
                for subentry in self.entry.subentries.values()
                if subentry.subentry_type == SUBENTRY_PRINTER
            }
            changed = [
                printer_id
                for printer_id in self._connections.keys() | configured.keys()
                if self._connections.get(printer_id) != configured.get(printer_id)
            ]
            for printer_id in changed:
                await self._async_remove(printer_id)
                if (data := configured.get(printer_id)) is not None:
                    await self._async_add(printer_id, data)
                self.callbacks.on_connection(printer_id)

    async def _async_add(self, printer_id: str, data: Mapping[str, Any]) -> None:
        self._connections[printer_id] = dict(data)
        self._clear_auth_failed(data[CONF_SERIAL])
        try:
            context = await async_create_ssl_context(
                ca_data=data.get(CONF_CA_CERT) or None, insecure=not data[CONF_VERIFY_SSL]
            )
        except PrintFarmConnectionError as err:
            LOGGER.error("Printer %s: %s", data[CONF_SERIAL], err)
            return
        callbacks = self.callbacks
        client = BambuPrinterClient(
            host=data[CONF_HOST],
            port=data[CONF_PORT],
            serial=data[CONF_SERIAL],
            access_code=data[CONF_ACCESS_CODE],
            ssl_context=context,
            stale_timeout=self._stale_timeout(),
            printer_key=printer_id,
            on_update=lambda update: callbacks.on_update(printer_id, update),
            on_event=lambda event: callbacks.on_event(printer_id, event),
            on_auth_failed=lambda err: self._auth_failed(data[CONF_SERIAL], err),
        )
        self.clients[printer_id] = client
        await client.start()

    async def _async_remove(self, printer_id: str) -> None:
        """Disconnect from a printer; forget its connection and its repair issue."""
        if (data := self._connections.pop(printer_id, None)) is None:
            return
        if (client := self.clients.pop(printer_id, None)) is not None:
            await client.stop()
        self._clear_auth_failed(data[CONF_SERIAL])

    async def async_stop(self) -> None:
        """Disconnect from every printer."""
        async with self._lock:
            self._stopped = True
            for client in self.clients.values():
                await client.stop()
            self.clients.clear()
            self._connections.clear()

    def commands(self, printer_id: str) -> PrinterCommands | None:
        """Return the LAN connection of a printer, if it has one."""
        client = self.clients.get(printer_id)
        return BambuCommands(client) if client is not None else None

    def state(self, printer_id: str) -> PrinterState | None:
        """Return the state the printer pushed over its LAN connection, if any."""
        client = self.clients.get(printer_id)
        return client.state if client is not None and client.state.raw else None


@dataclass(frozen=True)
class PrintagoCommands:
    """Commands to a printer through Printago (it has one for the light, none for speed)."""

    client: Printago
    printer_id: str
    has_speed: bool = False

    async def async_set_speed(self, level: int) -> None:
        """Refuse: Printago has no print speed command."""
        raise NotImplementedError

    async def async_set_light(self, *, on: bool) -> None:
        """Switch the chamber light with a Printago printer command."""
        await self.client.set_light(self.printer_id, on=on)


class PrintagoConnections(PrinterConnections):
    """Printago's realtime feed: every printer of the store on one connection."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        callbacks: PushCallbacks,
        client: Printago,
    ) -> None:
        """Initialize the feed of the entry's store; nothing connects before `async_start`."""
        super().__init__(hass, entry, callbacks)
        self.client = client
        self.realtime = PrintagoRealtime(
            url=entry.data[CONF_REALTIME_URL],
            store_id=entry.data[CONF_STORE_ID],
            api_key=entry.data[CONF_API_KEY],
            on_update=lambda update: callbacks.on_update(update.printer_key, update),
            on_event=lambda event: callbacks.on_event(event.printer_key, event),
            on_entities=lambda _type, _action, _ids: callbacks.on_farm_change(),
            on_farm_event=callbacks.on_farm_event,
            on_auth_failed=lambda err: self._auth_failed(entry.title, err),
            # Stats tell how long they hold; this is for those that do not
            stale_timeout=self._stale_timeout(),
        )

    async def async_start(self) -> None:
        """Connect to the realtime feed in the background."""
        self._clear_auth_failed(self.entry.title)
        await self.realtime.start()

    async def async_update_connections(self) -> None:
        """Do nothing: one feed reports every printer of the store, without printer connections."""

    async def async_stop(self) -> None:
        """Disconnect from the realtime feed."""
        await self.realtime.stop()

    def commands(self, printer_id: str) -> PrinterCommands | None:
        """Return Printago's commands: the feed reports every printer of the store."""
        return PrintagoCommands(self.client, printer_id)

    def state(self, printer_id: str) -> PrinterState | None:
        """Return the state the feed last reported for the printer, if any."""
        return self.realtime.states.get(printer_id)
