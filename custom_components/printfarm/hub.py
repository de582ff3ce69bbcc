"""The live state printers push: Bambu Lab printers on the LAN, or Printago's realtime feed."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PORT, CONF_VERIFY_SSL
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .api import (
    BambuPrinterClient,
    Printago,
    PrintagoRealtime,
    PrinterEvent,
    PrinterEventType,
    PrinterState,
    PrinterUpdate,
    PrintFarmAuthenticationError,
    PrintFarmConnectionError,
    async_create_ssl_context,
)
from .const import (
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

if TYPE_CHECKING:
    from .coordinator import PrintFarmConfigEntry

# Pushed events after which the farm's queue and filament stock have changed
JOB_EVENTS = frozenset(
    {
        PrinterEventType.PRINT_STARTED,
        PrinterEventType.PRINT_FINISHED,
        PrinterEventType.PRINT_FAILED,
        PrinterEventType.PRINT_CANCELLED,
    }
)

# What a printer's listeners are told when its pushed state was dropped with its connection
STATE_DROPPED = frozenset({"online"})
# The key of the listeners told of every change (not a field name of `PrinterState`)
EVERY_FIELD = "*"

type StateListener = Callable[[frozenset[str]], None]
type EventListener = Callable[[PrinterEvent], None]
type ConnectionListener = Callable[[str], None]


class PrinterHub(ABC):
    """Pushed printer state by farm printer id, with listeners per printer."""

    def __init__(self, hass: HomeAssistant, entry: PrintFarmConfigEntry) -> None:
        """Initialize the hub."""
        self.hass = hass
        self.entry = entry
        self.states: dict[str, PrinterState] = {}
        # Per printer: the listeners of each field, and under EVERY_FIELD those of any change
        self._listeners: dict[str, dict[str, list[StateListener]]] = {}
        self._event_listeners: dict[str, list[EventListener]] = {}
        self._connection_listeners: list[ConnectionListener] = []

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
    def has_push(self, printer_id: str) -> bool:
        """Return whether a printer's state is pushed."""

    def has_speed(self, printer_id: str) -> bool:
        """Return whether the print speed of the printer can be set."""
        return False

    def has_light(self, printer_id: str) -> bool:
        """Return whether the chamber light of the printer can be switched."""
        return False

    async def async_set_speed(self, printer_id: str, level: int) -> None:
        """Set the print speed level of a printer."""
        raise NotImplementedError

    async def async_set_light(self, printer_id: str, *, on: bool) -> None:
        """Switch the chamber light of a printer."""
        raise NotImplementedError

    def available(self, printer_id: str) -> bool:
        """Return whether fresh pushed state of a printer is at hand."""
        state = self.states.get(printer_id)
        return state is not None and state.online

    @callback
    def async_add_listener(
        self,
        printer_id: str,
        listener: StateListener,
        fields: frozenset[str] | None = None,
    ) -> CALLBACK_TYPE:
        """Call `listener` with the changed field names when a printer's state changes.

        With `fields`, only changes of those fields are told (and any change of `online`,
        which makes or drops the whole state): at a report per printer per second, the
        entities that show none of the changed fields are not even called.
        """
        keys = (fields | STATE_DROPPED) if fields is not None else (EVERY_FIELD,)
        by_field = self._listeners.setdefault(printer_id, {})
        for key in keys:
            by_field.setdefault(key, []).append(listener)

        @callback
        def remove_listener() -> None:
            for key in keys:
                by_field[key].remove(listener)

        return remove_listener

    @callback
    def async_add_event_listener(self, printer_id: str, listener: EventListener) -> CALLBACK_TYPE:
        """Call `listener` with every lifecycle event of a printer."""
        self._event_listeners.setdefault(printer_id, []).append(listener)
        return lambda: self._event_listeners[printer_id].remove(listener)

    @callback
    def async_add_connection_listener(self, listener: ConnectionListener) -> CALLBACK_TYPE:
        """Call `listener` with a printer's id when its connection was added, changed or removed."""
        self._connection_listeners.append(listener)
        return lambda: self._connection_listeners.remove(listener)

    @callback
    def _connection_changed(self, printer_id: str) -> None:
        """Tell a printer's listeners its connection changed and its pushed state was dropped."""
        self._notify(printer_id, STATE_DROPPED)
        for connection_listener in list(self._connection_listeners):
            connection_listener(printer_id)

    @callback
    def _update(self, printer_id: str, update: PrinterUpdate) -> None:
        self.states[printer_id] = update.state
        self._notify(printer_id, update.changed)

    @callback
    def _notify(self, printer_id: str, changed: frozenset[str]) -> None:
        """Call, once each, the listeners of a printer's changed fields and those of any."""
        if (by_field := self._listeners.get(printer_id)) is None:
            return
        listeners = list(by_field.get(EVERY_FIELD, ()))
        for name in changed:
            listeners.extend(by_field.get(name, ()))
        for listener in dict.fromkeys(listeners):
            listener(changed)

    @callback
    def _event(self, printer_id: str, event: PrinterEvent) -> None:
        for listener in list(self._event_listeners.get(printer_id, ())):
            listener(event)
        if event.type in JOB_EVENTS:
            # The farm's queue and filament changed with the print
            self.entry.runtime_data.farm.async_remote_change()

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


class BambuHub(PrinterHub):
    """Bambu Lab printers reached on the LAN, one MQTT connection each."""

    def __init__(self, hass: HomeAssistant, entry: PrintFarmConfigEntry) -> None:
        """Initialize the hub with the entry's printer connections."""
        super().__init__(hass, entry)
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
                self._connection_changed(printer_id)

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
        client = BambuPrinterClient(
            host=data[CONF_HOST],
            port=data[CONF_PORT],
            serial=data[CONF_SERIAL],
            access_code=data[CONF_ACCESS_CODE],
            ssl_context=context,
            stale_timeout=self._stale_timeout(),
            printer_key=printer_id,
            on_update=lambda update: self._update(printer_id, update),
            on_event=lambda event: self._event(printer_id, event),
            on_auth_failed=lambda err: self._auth_failed(data[CONF_SERIAL], err),
        )
        self.clients[printer_id] = client
        await client.start()

    async def _async_remove(self, printer_id: str) -> None:
        """Disconnect from a printer; forget its connection, its state and its repair issue."""
        if (data := self._connections.pop(printer_id, None)) is None:
            return
        if (client := self.clients.pop(printer_id, None)) is not None:
            await client.stop()
        self.states.pop(printer_id, None)
        self._clear_auth_failed(data[CONF_SERIAL])

    async def async_stop(self) -> None:
        """Disconnect from every printer."""
        async with self._lock:
            self._stopped = True
            for client in self.clients.values():
                await client.stop()
            self.clients.clear()
            self._connections.clear()

    def has_push(self, printer_id: str) -> bool:
        """Return whether the printer has a LAN connection configured."""
        return printer_id in self.clients

    def has_speed(self, printer_id: str) -> bool:
        """Return whether the print speed can be set over the LAN."""
        return printer_id in self.clients

    def has_light(self, printer_id: str) -> bool:
        """Return whether the chamber light can be switched over the LAN."""
        return printer_id in self.clients

    def _client(self, printer_id: str) -> BambuPrinterClient:
        """Return the LAN client of a printer, or raise while it has none (being removed)."""
        if (client := self.clients.get(printer_id)) is None:
            msg = "The printer's LAN connection is not running"
            raise PrintFarmConnectionError(msg)
        return client

    async def async_set_speed(self, printer_id: str, level: int) -> None:
        """Set the print speed level over the LAN."""
        await self._client(printer_id).set_print_speed(level)

    async def async_set_light(self, printer_id: str, *, on: bool) -> None:
        """Switch the chamber light over the LAN."""
        await self._client(printer_id).set_light(on=on)


class PrintagoHub(PrinterHub):
    """Printago's realtime feed: every printer of the store on one connection."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PrintFarmConfigEntry,
        *,
        on_entities: Callable[[], None],
    ) -> None:
        """Initialize the hub for the entry's store."""
        super().__init__(hass, entry)
        self._on_entities = on_entities
        self.realtime = PrintagoRealtime(
            url=entry.data[CONF_REALTIME_URL],
            store_id=entry.data[CONF_STORE_ID],
            api_key=entry.data[CONF_API_KEY],
            on_update=lambda update: self._update(update.printer_key, update),
            on_event=lambda event: self._event(event.printer_key, event),
            on_entities=lambda _type, _action, _ids: self._on_entities(),
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

    def has_push(self, printer_id: str) -> bool:
        """Return True: the feed reports every printer of the store."""
        return True

    def has_light(self, printer_id: str) -> bool:
        """Return True: Printago switches lights with a printer command (it has none for speed)."""
        return True

    async def async_set_light(self, printer_id: str, *, on: bool) -> None:
        """Switch the chamber light through Printago."""
        client = self.entry.runtime_data.client
        if not isinstance(client, Printago):  # pragma: no cover - a Printago entry's client
            raise TypeError(type(client).__name__)
        await client.set_light(printer_id, on=on)
