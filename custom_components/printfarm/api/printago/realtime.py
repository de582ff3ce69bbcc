"""Printago realtime: printer stats and entity change events over MQTT (WebSockets or TLS)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Final

from yarl import URL

from ..errors import PrintFarmInvalidResponseError, PrintFarmValidationError
from ..events import call_safely, dispatch, is_error, job_state_status
from ..models import FarmEvent, FarmEventType, JobStatus, PrinterStatus
from ..parsing import (
    as_datetime,
    as_float,
    as_int,
    as_list,
    as_mapping,
    decode_json,
    deep_merge,
    hex_color,
    nonempty_str,
)
from ..state import (
    EventCallback,
    FilamentTray,
    HealthMessage,
    PrinterState,
    Temperature,
    UpdateCallback,
)
from ..transport.http import wall_clock
from ..transport.mqtt import MqttConnection, Transport
from ..transport.supervised import SupervisedClient
from .models import job as parse_job

LOGGER = logging.getLogger(__name__)

CLIENT_ID_PREFIX: Final = "apiclient_"
KEY_ID_LENGTH: Final = 24
CONNECT_TIMEOUT: Final = 10.0
KEEPALIVE: Final = 60
# A stat without a usable `expiresAt` counts as valid this long, as a quiet Bambu printer does.
STALE_TIMEOUT: Final = 60.0
# Added to every expiry: transport delay and a little clock skew are no silence.
STALE_GRACE: Final = 5.0
# scheme -> (transport, TLS, default port)
SCHEMES: Final[dict[str, tuple[Transport, bool, int]]] = {
    "ws": ("websockets", False, 80),
    "wss": ("websockets", True, 443),
    "mqtt": ("tcp", False, 1883),
    "mqtts": ("tcp", True, 8883),
}
# Health severities by list, as Bambu HMS severities (2 serious, 3 common, 4 info).
HEALTH_SEVERITY: Final = {"errors": 2, "warnings": 3, "infos": 4}
# "Paused by the user" messages Printago lists as errors; they are no fault of the printer.
USER_PAUSE_CODES: Final = frozenset({"0300_8013", "0300_8001", "0300_8000"})
LIGHT_NODES: Final = {"chamber": "chamber_light", "work": "work_light"}
SLOTS_PER_AMS: Final = 4
EXTERNAL_TRAY_ID: Final = "254"

type EntitiesCallback = Callable[[str, str, tuple[str, ...]], None]
type FarmEventCallback = Callable[[FarmEvent], None]

# Entity types whose changes are the farm's job events
JOB_ENTITY_TYPES: Final = frozenset({"printJobs", "print-jobs", "jobs"})
# What a job's new status means as a farm event
JOB_STATUS_EVENTS: Final = {
    JobStatus.PRINTING: FarmEventType.JOB_STARTED,
    JobStatus.PAUSED: FarmEventType.JOB_PAUSED,
    JobStatus.COMPLETED: FarmEventType.JOB_COMPLETED,
    JobStatus.FAILED: FarmEventType.JOB_FAILED,
    JobStatus.CANCELLED: FarmEventType.JOB_CANCELLED,
}


def client_id_for(api_key: str, suffix: str) -> str:
    """Return the realtime client id Printago requires: `apiclient_{key id}_{suffix}`."""
    return f"{CLIENT_ID_PREFIX}{api_key[:KEY_ID_LENGTH]}_{suffix}"


def _code(value: Any) -> str | None:
    """Return a Printago error code ("0300-400C") in Bambu's writing ("0300_400C")."""
    return None if (code := nonempty_str(value)) is None else code.replace("-", "_").upper()


def _temperature(temps: Mapping[str, Any], name: str) -> Temperature | None:
    """Return a heater's temperature from `data.temps`, or None if it is not reported."""
    current, target = as_float(temps.get(f"{name}Temp")), as_float(temps.get(f"{name}TempTarget"))
    if current is None and target is None:
        return None
    return Temperature(current=current, target=target)


def _health(health: Mapping[str, Any]) -> tuple[HealthMessage, ...]:
    """Return the health messages of a printer stat."""
    messages: list[HealthMessage] = []
    for key, severity in HEALTH_SEVERITY.items():
        for entry in as_list(health.get(key)):
            if (code := _code(as_mapping(entry).get("code"))) is None:
                continue
            user_pause = code in USER_PAUSE_CODES
            messages.append(HealthMessage(code=code, severity=3 if user_pause else severity))
    return tuple(messages)


def _tray(slot: Mapping[str, Any], tray_id: str) -> FilamentTray:
    """Return one filament slot."""
    material = nonempty_str(slot.get("type"))
    if material is None:
        return FilamentTray(tray_id=tray_id, loaded=False)
    remaining = as_int(slot.get("remaining"))
    return FilamentTray(
        tray_id=tray_id,
        loaded=True,
        type=material,
        color=hex_color(slot.get("color")),
        remaining_percent=None if remaining is None or remaining < 0 else min(remaining, 100),
    )


def _trays(filament: Mapping[str, Any]) -> tuple[FilamentTray, ...]:
    """Return the AMS slots (absolute ids ams*4+slot) and the external spool."""
    trays: list[FilamentTray] = []
    units = as_list(as_mapping(filament.get("ams")).get("ams"))
    for unit_index, unit in enumerate(units):
        for slot_index, slot in enumerate(as_list(as_mapping(unit).get("slots"))):
            slot_map = as_mapping(slot)
            slot_id = nonempty_str(slot_map.get("id"))
            position = int(slot_id) if slot_id is not None and slot_id.isdigit() else slot_index
            trays.append(_tray(slot_map, str(unit_index * SLOTS_PER_AMS + position)))
    if isinstance(spool := filament.get("spool"), Mapping):
        trays.append(_tray(spool, EXTERNAL_TRAY_ID))
    return tuple(trays)


def _status(stat: Mapping[str, Any], *, online: bool, error: bool) -> PrinterStatus:
    """Return the normalized status of a printer stat."""
    if not online:
        return PrinterStatus.OFFLINE
    if error:
        return PrinterStatus.ERROR
    if (state := nonempty_str(stat.get("state"))) is not None:
        return job_state_status(state)
    available = stat.get("isAvailable")
    if isinstance(available, bool):
        return PrinterStatus.IDLE if available else PrinterStatus.PRINTING
    return PrinterStatus.UNKNOWN


def stat_lifetime(stat: Mapping[str, Any], *, now: float) -> float | None:
    """Return how many seconds after `now` (epoch) a stat expires, or None if it cannot tell.

    The lifetime never exceeds the stat's own validity (`expiresAt - receivedAt`): a service
    clock running ahead of ours cannot keep a silent printer alive for longer than that.
    """
    expires = as_datetime(stat.get("expiresAt"))
    if expires is None:
        return None
    lifetime = expires.timestamp() - now
    received = as_datetime(stat.get("receivedAt"))
    if received is not None and received < expires:
        lifetime = min(lifetime, (expires - received).total_seconds())
    return lifetime


def parse_printer_stat(stat: Mapping[str, Any], *, connected: bool = True) -> PrinterState:
    """Return the printer state a merged Printago `PrinterStat` describes."""
    data = as_mapping(stat.get("data"))
    job = as_mapping(data.get("print"))
    temps = as_mapping(data.get("temps"))
    online = connected and stat.get("isOnline") is True
    print_error = as_int(job.get("printError")) or 0
    health = _health(as_mapping(data.get("health")))
    remaining = as_int(job.get("timeRemaining"))
    state = nonempty_str(stat.get("state"))
    lights = {
        LIGHT_NODES.get(str(name), str(name)): mode != "off"
        for name, mode in as_mapping(data.get("lights")).items()
        if isinstance(mode, str)
    }
    return PrinterState(
        online=online,
        status=_status(stat, online=online, error=is_error(print_error, health)),
        gcode_state=None if state is None else state.upper(),
        progress=as_int(job.get("percent")),
        remaining_seconds=None if remaining is None else max(remaining, 0) * 60,
        layer=as_int(job.get("currentLayer")),
        total_layers=as_int(job.get("totalLayers")),
        job_name=nonempty_str(job.get("taskName")),
        nozzle=_temperature(temps, "nozzle") or Temperature(),
        bed=_temperature(temps, "bed") or Temperature(),
        chamber=_temperature(temps, "chamber"),
        lights=lights,
        print_error=print_error,
        error_code=_code(job.get("errorCode")),
        health=health,
        trays=_trays(as_mapping(data.get("filament"))),
        raw=stat,
    )


@dataclass(kw_only=True)
class PrintagoRealtime(SupervisedClient):
    """The realtime feed of a Printago store: printer states and entity change events.

    `start()` connects in the background and keeps reconnecting until `stop()`. Refused
    credentials (or client id) are final: the feed stops, `auth_failed` turns true and
    `on_auth_failed` is called once.

    A printer whose latest stat expired (its `expiresAt`, plus `stale_grace`; `stale_timeout`
    after it arrived when the stat gives no expiry) goes offline until its next stat.
    """

    url: str
    store_id: str
    api_key: str = field(repr=False)
    client_suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    connect_timeout: float = CONNECT_TIMEOUT
    keepalive: int = KEEPALIVE
    stale_timeout: float = STALE_TIMEOUT
    stale_grace: float = STALE_GRACE
    clock: Callable[[], float] = field(default=wall_clock, repr=False)
    on_update: UpdateCallback | None = None
    on_event: EventCallback | None = None
    on_entities: EntitiesCallback | None = None
    # The farm's job events, from its job entity changes
    on_farm_event: FarmEventCallback | None = None

    _stats: dict[str, Mapping[str, Any]] = field(default_factory=dict, init=False, repr=False)
    _states: dict[str, PrinterState] = field(default_factory=dict, init=False, repr=False)
    _connected: bool = field(default=False, init=False, repr=False)
    _expiry: dict[str, asyncio.TimerHandle] = field(default_factory=dict, init=False, repr=False)
    _expired: set[str] = field(default_factory=set, init=False, repr=False)
    # The last status each job was seen in, so that a repeated update tells nothing new
    _job_statuses: dict[str, JobStatus] = field(default_factory=dict, init=False, repr=False)

    @property
    def client_id(self) -> str:
        """Return the MQTT client id of this feed."""
        return client_id_for(self.api_key, self.client_suffix)

    @property
    def states(self) -> Mapping[str, PrinterState]:
        """Return the last state of every printer seen, by Printago printer id."""
        return dict(self._states)

    @property
    def connected(self) -> bool:
        """Return whether the feed is connected and subscribed."""
        return self._connected

    @property
    def stats_topic(self) -> str:
        """Return the topic filter of the printer stats."""
        return f"stores/{self.store_id}/printer-stats/+"

    @property
    def entities_topic(self) -> str:
        """Return the topic filter of the entity change events."""
        return f"stores/{self.store_id}/entities/#"

    async def stop(self) -> None:
        """Disconnect and stop reconnecting; no callbacks fire after this."""
        await super().stop()
        self._connection_lost()
        self._states = {
            key: replace(state, online=False, status=PrinterStatus.OFFLINE)
            for key, state in self._states.items()
        }

    async def wait_connected(self, *, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until the feed is subscribed; raise if the credentials were refused."""
        await self._wait_ready(timeout, f"Printago realtime did not connect within {timeout} s")

    @property
    def _supervisor_name(self) -> str:
        return f"printago-realtime-{self.store_id}"

    async def _connection_factory(self) -> Callable[[], MqttConnection]:
        url = URL(self.url)
        if url.scheme not in SCHEMES or not url.host:
            msg = f"Unsupported realtime URL {self.url}; use ws://, wss://, mqtt:// or mqtts://"
            raise PrintFarmValidationError(msg)
        transport, tls, default_port = SCHEMES[url.scheme]
        context = await self._tls_context() if tls else None
        return partial(
            MqttConnection,
            host=url.host,
            port=url.explicit_port or default_port,
            client_id=self.client_id,
            username=self.store_id,
            password=self.api_key,
            tls_context=context,
            transport=transport,
            ws_path=url.path if url.path not in ("", "/") else "/mqtt",
            keepalive=self.keepalive,
            connect_timeout=self.connect_timeout,
            on_message=self._on_message,
        )

    async def _tls_context(self) -> ssl.SSLContext:
        if self.ssl_context is None:
            loop = asyncio.get_running_loop()
            self.ssl_context = await loop.run_in_executor(None, ssl.create_default_context)
        return self.ssl_context

    def _on_connected(self, connection: MqttConnection) -> None:
        LOGGER.debug("Connected to Printago realtime for store %s", self.store_id)
        connection.subscribe(self.stats_topic)
        connection.subscribe(self.entities_topic)
        self._connected = True
        self._ready.set()

    def _on_disconnected(self) -> None:
        LOGGER.debug("Lost the Printago realtime connection of store %s", self.store_id)
        self._connection_lost()
        for printer_id in list(self._stats):
            self._publish(printer_id)

    def _connection_lost(self) -> None:
        self._connected = False
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()
        self._expired.clear()

    def _on_message(self, topic: str, payload: bytes) -> None:
        if self._supervisor is not None:
            self._supervisor.healthy()
        try:
            message = decode_json(payload)
        except ValueError:
            LOGGER.debug("Ignoring a realtime message on %s that is not JSON", topic)
            return
        if not isinstance(message, Mapping):
            LOGGER.debug("Ignoring a realtime message on %s that is not an object", topic)
            return
        parts = topic.split("/")
        if len(parts) == 4 and parts[2] == "printer-stats":  # noqa: PLR2004
            self._on_stat(parts[3], message)
        elif len(parts) >= 4 and parts[2] == "entities":  # noqa: PLR2004
            self._on_entities(parts[3], message)

    def _on_stat(self, printer_id: str, stat: Mapping[str, Any]) -> None:
        self._stats[printer_id] = deep_merge(
            self._stats.get(printer_id, {}), stat, by_id=frozenset()
        )
        self._watch_expiry(printer_id, stat)
        self._publish(printer_id)

    def _watch_expiry(self, printer_id: str, stat: Mapping[str, Any]) -> None:
        """Set the timer that marks a printer stale when the stat it just sent expires."""
        loop = asyncio.get_running_loop()
        lifetime = stat_lifetime(stat, now=self.clock())
        deadline = loop.time() + (self.stale_timeout if lifetime is None else lifetime)
        deadline += self.stale_grace
        if (handle := self._expiry.pop(printer_id, None)) is not None:
            handle.cancel()
            if lifetime is None:
                # A stat without an expiry (a sparse one) does not shorten the last one's.
                deadline = max(deadline, handle.when())
        if deadline <= loop.time():
            # An old retained stat: the printer has been silent since before we connected.
            self._expired.add(printer_id)
            return
        self._expired.discard(printer_id)
        self._expiry[printer_id] = loop.call_at(deadline, self._expire, printer_id)

    def _expire(self, printer_id: str) -> None:
        """Mark a printer stale: its last stat expired and no new one came."""
        LOGGER.debug("The stats of printer %s of store %s expired", printer_id, self.store_id)
        del self._expiry[printer_id]
        self._expired.add(printer_id)
        self._publish(printer_id)

    def _on_entities(self, topic_type: str, message: Mapping[str, Any]) -> None:
        entity_type = nonempty_str(message.get("entityType")) or topic_type
        action = (nonempty_str(message.get("action")) or "UPDATE").upper()
        ids = tuple(str(key) for key in as_mapping(message.get("entities")))
        if not ids:
            ids = tuple(str(key) for key in as_mapping(message.get("changes")))
        if (on_entities := self.on_entities) is not None:
            call_safely(lambda _: on_entities(entity_type, action, ids), None)
        if entity_type in JOB_ENTITY_TYPES and (on_farm_event := self.on_farm_event) is not None:
            for event in self._job_events(action, as_mapping(message.get("entities"))):
                call_safely(on_farm_event, event)

    def _job_events(self, action: str, entities: Mapping[str, Any]) -> list[FarmEvent]:
        """Return the farm events of changed job entities: queued, or a new status."""
        events: list[FarmEvent] = []
        for job_id, raw in entities.items():
            try:
                job = parse_job({"id": job_id, **as_mapping(raw)})
            except PrintFarmInvalidResponseError:
                LOGGER.debug("Ignoring an unreadable job entity %s", job_id)
                continue
            if action == "DELETE":
                self._job_statuses.pop(job.id, None)
                continue
            old = self._job_statuses.get(job.id)
            self._job_statuses[job.id] = job.status
            if action == "INSERT" or (old is None and job.status is JobStatus.QUEUED):
                kind: FarmEventType | None = FarmEventType.JOB_QUEUED
            elif job.status is not old:
                resumed = old is JobStatus.PAUSED and job.status is JobStatus.PRINTING
                kind = FarmEventType.JOB_RESUMED if resumed else JOB_STATUS_EVENTS.get(job.status)
            else:
                kind = None
            if kind is not None:
                name = f"{job.id}.{job.status.value}"
                events.append(FarmEvent(id=name, type=kind, name=kind.value, job=job))
        return events

    def _publish(self, printer_id: str) -> None:
        """Parse a printer's merged stat; tell the callbacks if anything changed."""
        fresh = self._connected and printer_id not in self._expired
        new = parse_printer_stat(self._stats[printer_id], connected=fresh)
        old = self._states.get(printer_id)
        if not new.online and old is not None and new.gcode_state in (None, "OFFLINE"):
            # Keep the last known job phase, as for a Bambu printer that went quiet.
            new = replace(new, gcode_state=old.gcode_state)
        self._states[printer_id] = new
        dispatch(printer_id, old, new, on_update=self.on_update, on_event=self.on_event)
