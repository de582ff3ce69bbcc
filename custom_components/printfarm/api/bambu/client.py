"""Client of a Bambu Lab printer on the LAN: pushed state over MQTT with TLS, and commands."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

from ..errors import (
    PrintFarmConflictError,
    PrintFarmConnectionError,
    PrintFarmPermissionError,
    PrintFarmTimeoutError,
    PrintFarmValidationError,
)
from ..events import dispatch
from ..parsing import decode_json
from ..state import EventCallback, PrinterState, UpdateCallback
from ..transport.mqtt import MqttConnection
from ..transport.supervised import SupervisedClient
from .state import is_full_report, merge_report, next_state, parse_state, signature_required

LOGGER = logging.getLogger(__name__)

USERNAME: Final = "bblp"
DEFAULT_PORT: Final = 8883
PUSHALL_INTERVAL: Final = 5.0
COMMAND_TIMEOUT: Final = 10.0
CONNECT_TIMEOUT: Final = 10.0
KEEPALIVE: Final = 30
VERSION_GRACE: Final = 3.0
SPEED_LEVELS: Final = range(1, 5)
LED_BLINK_MS: Final = 500
FAILED_RESULTS: Final = frozenset({"fail", "failed"})


def create_ssl_context(
    *, ca_file: str | Path | None = None, ca_data: str | None = None, insecure: bool = False
) -> ssl.SSLContext:
    """Return a TLS context for Bambu printers trusting a CA file or PEM text (blocking I/O)."""
    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context(
        cafile=None if ca_file is None else str(ca_file), cadata=ca_data
    )
    # Bambu CAs lack the key usage extension that strict verification requires.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    # The certificate names the serial, not the address the printer is reached at.
    context.check_hostname = False
    return context


async def async_create_ssl_context(
    *, ca_file: str | Path | None = None, ca_data: str | None = None, insecure: bool = False
) -> ssl.SSLContext:
    """Return a TLS context for Bambu printers, built in the executor (it reads files)."""
    loop = asyncio.get_running_loop()
    build = partial(create_ssl_context, ca_file=ca_file, ca_data=ca_data, insecure=insecure)
    try:
        return await loop.run_in_executor(None, build)
    except (OSError, ValueError) as err:
        msg = f"Cannot load the printer CA certificate: {err}"
        raise PrintFarmConnectionError(msg) from err


@dataclass(kw_only=True)
class BambuPrinterClient(SupervisedClient):
    """A Bambu Lab printer in LAN mode: its merged pushed state, events and commands.

    `start()` connects in the background and keeps reconnecting until `stop()`. A refused
    access code is final: the client stops, `auth_failed` turns true and `on_auth_failed`
    is called once (the state goes offline like on any lost connection).
    """

    host: str
    serial: str
    access_code: str = field(repr=False)
    port: int = DEFAULT_PORT
    ca_file: str | Path | None = None
    insecure: bool = False
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    stale_timeout: float = 60.0
    pushall_interval: float = PUSHALL_INTERVAL
    command_timeout: float = COMMAND_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    keepalive: int = KEEPALIVE
    printer_key: str = ""
    on_update: UpdateCallback | None = None
    on_event: EventCallback | None = None

    _raw: Mapping[str, Any] = field(default_factory=dict, init=False, repr=False)
    _state: PrinterState | None = field(default=None, init=False, repr=False)
    _available: bool = field(default=False, init=False, repr=False)
    _connection: MqttConnection | None = field(default=None, init=False, repr=False)
    _pending: dict[tuple[str, str, str], asyncio.Future[Mapping[str, Any]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _sequence: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )
    _last_message: float | None = field(default=None, init=False, repr=False)
    _last_pushall: float | None = field(default=None, init=False, repr=False)
    _pushall_handle: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)
    _awaiting_full: bool = field(default=False, init=False, repr=False)
    _synced: bool = field(default=False, init=False, repr=False)
    _stale_handle: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)
    _version: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _full: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        """Use the serial as the printer key unless another one is given."""
        self.printer_key = self.printer_key or self.serial

    @property
    def state(self) -> PrinterState:
        """Return the last published state of the printer."""
        return self._state if self._state is not None else PrinterState()

    @property
    def available(self) -> bool:
        """Return whether the printer is connected and has reported recently."""
        return self._available

    @property
    def connected(self) -> bool:
        """Return whether the MQTT connection to the printer is up."""
        return self._connection is not None and self._connection.connected

    @property
    def report_topic(self) -> str:
        """Return the topic the printer reports on."""
        return f"device/{self.serial}/report"

    @property
    def request_topic(self) -> str:
        """Return the topic the printer takes commands from."""
        return f"device/{self.serial}/request"

    async def stop(self) -> None:
        """Disconnect and stop reconnecting; no callbacks fire after this."""
        await super().stop()
        self._reset_connection()
        self._available = False
        if self._state is not None:
            self._state = parse_state(self._state.raw, online=False)

    async def wait_ready(self, *, timeout: float = 30.0) -> PrinterState:  # noqa: ASYNC109
        """Wait for the first full report; raise if the access code was refused."""
        await self._wait_ready(timeout, f"Printer {self.serial} sent no report within {timeout} s")
        return self.state

    @classmethod
    async def test_connection(
        cls,
        *,
        host: str,
        serial: str,
        access_code: str,
        port: int = DEFAULT_PORT,
        ca_file: str | Path | None = None,
        insecure: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 15.0,  # noqa: ASYNC109
    ) -> PrinterState:
        """Connect once, wait for the first full report, disconnect and return the state."""
        client = cls(
            host=host,
            serial=serial,
            access_code=access_code,
            port=port,
            ca_file=ca_file,
            insecure=insecure,
            ssl_context=ssl_context,
            connect_timeout=timeout,
        )
        return await client._probe(timeout)

    async def pause(self) -> None:
        """Pause the print."""
        await self._command("print", "pause", {"param": ""})

    async def resume(self) -> None:
        """Resume the paused print."""
        await self._command("print", "resume", {"param": ""})

    async def stop_print(self) -> None:
        """Stop (cancel) the print."""
        await self._command("print", "stop", {"param": ""})

    async def set_print_speed(self, level: int) -> None:
        """Set the speed level: 1 silent, 2 standard, 3 sport, 4 ludicrous."""
        if level not in SPEED_LEVELS:
            msg = f"Speed level must be 1-4, not {level}"
            raise PrintFarmValidationError(msg)
        await self._command("print", "print_speed", {"param": str(level)})

    async def set_light(self, *, on: bool, node: str = "chamber_light") -> None:
        """Switch a light of the printer on or off."""
        params = {
            "led_node": node,
            "led_mode": "on" if on else "off",
            "led_on_time": LED_BLINK_MS,
            "led_off_time": LED_BLINK_MS,
            "loop_times": 0,
            "interval_time": 0,
        }
        await self._command("system", "ledctrl", params)

    async def start_print(
        self,
        *,
        url: str,
        name: str,
        plate: int = 1,
        use_ams: bool = True,
        ams_mapping: list[int] | None = None,
        bed_leveling: bool = True,
        timelapse: bool = False,
    ) -> None:
        """Start a sliced 3MF from the printer's storage (`project_file`)."""
        if not url or not name or plate < 1:
            msg = "A print needs a file URL, a name and a plate number from 1"
            raise PrintFarmValidationError(msg)
        params: dict[str, Any] = {
            "param": f"Metadata/plate_{plate}.gcode",
            "url": url,
            "subtask_name": name,
            "bed_type": "auto",
            "timelapse": timelapse,
            "bed_leveling": bed_leveling,
            "flow_cali": True,
            "vibration_cali": True,
            "layer_inspect": True,
            "use_ams": use_ams,
            "profile_id": "0",
            "project_id": "0",
            "subtask_id": "0",
            "task_id": "0",
        }
        if ams_mapping is not None:
            params["ams_mapping"] = list(ams_mapping)
        await self._command("print", "project_file", params)

    async def request_full_report(self, *, timeout: float | None = None) -> PrinterState:  # noqa: ASYNC109
        """Ask for a full report (rate-limited) and return the state once it arrived."""
        self._require_connection()
        self._full.clear()
        self._awaiting_full = True
        self._request_pushall()
        try:
            async with asyncio.timeout(self.command_timeout if timeout is None else timeout):
                await self._full.wait()
        except TimeoutError as err:
            msg = f"Printer {self.serial} sent no full report"
            raise PrintFarmTimeoutError(msg) from err
        return self.state

    # Connection

    @property
    def _supervisor_name(self) -> str:
        return f"bambu-{self.serial}"

    async def _connection_factory(self) -> Callable[[], MqttConnection]:
        return partial(self._new_connection, await self._tls_context())

    async def _tls_context(self) -> ssl.SSLContext:
        if self.ssl_context is None:
            self.ssl_context = await async_create_ssl_context(
                ca_file=self.ca_file, insecure=self.insecure
            )
        return self.ssl_context

    def _new_connection(self, context: ssl.SSLContext) -> MqttConnection:
        return MqttConnection(
            host=self.host,
            port=self.port,
            client_id=f"printfarm-{uuid.uuid4().hex}",
            username=USERNAME,
            password=self.access_code,
            tls_context=context,
            keepalive=self.keepalive,
            connect_timeout=self.connect_timeout,
            on_message=self._on_message,
        )

    async def _probe(self, timeout: float) -> PrinterState:  # noqa: ASYNC109
        connection = self._new_connection(await self._tls_context())
        try:
            async with asyncio.timeout(timeout):
                await connection.connect()
                self._on_connected(connection)
                await self._ready.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(VERSION_GRACE):
                    await self._version.wait()
        except TimeoutError as err:
            msg = f"Printer {self.serial} at {self.host} sent no report within {timeout} s"
            raise PrintFarmTimeoutError(msg) from err
        finally:
            await connection.disconnect()
            self._reset_connection()
        return parse_state(self._raw, online=True)

    def _on_connected(self, connection: MqttConnection) -> None:
        LOGGER.debug("Connected to printer %s at %s", self.serial, self.host)
        self._connection = connection
        self._last_message = None
        self._synced = False
        connection.subscribe(self.report_topic)
        self._send({"info": {"sequence_id": self._next_sequence(), "command": "get_version"}})
        self._awaiting_full = True
        self._request_pushall()
        self._schedule_stale_check(self.stale_timeout)

    def _on_disconnected(self) -> None:
        LOGGER.debug("Lost the connection to printer %s", self.serial)
        self._connection_lost()

    def _connection_lost(self) -> None:
        self._reset_connection()
        self._set_available(available=False)

    def _reset_connection(self) -> None:
        """Forget the connection: cancel timers and fail the commands waiting for it."""
        self._connection = None
        for handle in (self._stale_handle, self._pushall_handle):
            if handle is not None:
                handle.cancel()
        self._stale_handle = self._pushall_handle = None
        for future in self._pending.values():
            if not future.done():
                msg = f"Lost the connection to printer {self.serial}"
                future.set_exception(PrintFarmConnectionError(msg))

    def _require_connection(self) -> MqttConnection:
        if (connection := self._connection) is None or not connection.connected:
            msg = f"Not connected to printer {self.serial}"
            raise PrintFarmConnectionError(msg)
        return connection

    def _send(self, message: Mapping[str, Any], *, qos: int = 0) -> None:
        connection = self._require_connection()
        connection.publish(self.request_topic, json.dumps(message, separators=(",", ":")), qos)

    def _next_sequence(self) -> str:
        return str(next(self._sequence))

    def _request_pushall(self) -> None:
        """Send `pushall` now, or as soon as the rate limit allows."""
        if self._pushall_handle is not None:
            return
        loop = asyncio.get_running_loop()
        wait = 0.0
        if self._last_pushall is not None:
            wait = self._last_pushall + self.pushall_interval - loop.time()
        if wait > 0:
            self._pushall_handle = loop.call_later(wait, self._send_pushall)
        else:
            self._send_pushall()

    def _send_pushall(self) -> None:
        """Send `pushall`; until a full report arrives, ask again every `pushall_interval`."""
        self._pushall_handle = None
        if self._connection is None:
            return
        loop = asyncio.get_running_loop()
        self._last_pushall = loop.time()
        body = {"sequence_id": self._next_sequence(), "command": "pushall"}
        with contextlib.suppress(PrintFarmConnectionError):
            self._send({"pushing": {**body, "version": 1, "push_target": 1}})
        if self._awaiting_full:
            self._pushall_handle = loop.call_later(self.pushall_interval, self._send_pushall)

    # Liveness

    def _schedule_stale_check(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._stale_handle = loop.call_later(max(delay, 0.0), self._check_stale)

    def _check_stale(self) -> None:
        """Mark the printer unavailable when it went quiet; nudge it while it stays quiet."""
        self._stale_handle = None
        if self._connection is None:
            return
        now = asyncio.get_running_loop().time()
        quiet = now - self._last_message if self._last_message is not None else None
        if quiet is not None and quiet < self.stale_timeout:
            self._schedule_stale_check(self.stale_timeout - quiet)
            return
        if self._available:
            LOGGER.debug("Printer %s sent nothing for %s s", self.serial, self.stale_timeout)
            self._set_available(available=False)
            body = {"sequence_id": self._next_sequence(), "command": "start"}
            with contextlib.suppress(PrintFarmConnectionError):
                self._send({"pushing": body})
        self._request_pushall()
        self._schedule_stale_check(self.pushall_interval)

    def _set_available(self, *, available: bool) -> None:
        if self._available != available:
            self._available = available
            self._publish()

    # Reports

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic != self.report_topic:
            return
        self._last_message = asyncio.get_running_loop().time()
        if self._supervisor is not None:
            self._supervisor.healthy()
        try:
            message = decode_json(payload)
        except ValueError:
            LOGGER.debug("Ignoring a report of %s that is not JSON: %r", self.serial, payload[:80])
            message = None
        if isinstance(message, Mapping):
            self._resolve_acks(message)
            self._note_replies(message)
            raw = merge_report(self._raw, message)
        else:
            # A lost delta leaves values stale on printers that send only changes: ask for all.
            raw = self._raw
            self._request_pushall()
        if not self._synced:
            # Until the first full report of a connection the state may mix what the printer
            # said before the disconnect with what it says now (a version reply, a delta):
            # keep it, but publish nothing, so no event is derived from a partial state.
            self._raw = raw
            return
        was_available, self._available = self._available, True
        if raw is not self._raw or not was_available:
            self._raw = raw
            self._publish()

    def _note_replies(self, message: Mapping[str, Any]) -> None:
        body = message.get("print")
        if (
            isinstance(body, Mapping)
            and body.get("command", "push_status") == "push_status"
            and is_full_report(body)
        ):
            self._full.set()
            self._ready.set()
            self._awaiting_full = False
            self._synced = True
            if self._pushall_handle is not None:
                self._pushall_handle.cancel()
                self._pushall_handle = None
        info = message.get("info")
        if isinstance(info, Mapping) and info.get("command") == "get_version":
            self._version.set()

    def _resolve_acks(self, message: Mapping[str, Any]) -> None:
        for category, body in message.items():
            if not isinstance(body, Mapping):
                continue
            key = (str(category), str(body.get("command")), str(body.get("sequence_id")))
            if (future := self._pending.get(key)) is not None and not future.done():
                future.set_result(body)

    def _publish(self) -> None:
        """Derive the state of the merged report; tell the callbacks if anything changed.

        Only complete states are published (see `_on_message`), so events compare the last
        state before a disconnect with the first full report after it.
        """
        old = self._state
        self._state, changed = next_state(old, self._raw, online=self._available)
        dispatch(
            self.printer_key,
            old,
            self._state,
            on_update=self.on_update,
            on_event=self.on_event,
            changed=changed,
        )

    # Commands

    async def _command(
        self, category: str, command: str, params: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Publish a command (QoS 1) and wait for the printer's acknowledgement."""
        self._require_connection()
        if signature_required(self._raw):
            msg = f"Printer {self.serial} only accepts signed commands: enable developer mode"
            raise PrintFarmPermissionError(msg)
        sequence_id = self._next_sequence()
        key = (category, command, sequence_id)
        future: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            self._send(
                {category: {"sequence_id": sequence_id, "command": command, **params}}, qos=1
            )
            async with asyncio.timeout(self.command_timeout):
                reply = await future
        except TimeoutError as err:
            msg = f"Printer {self.serial} did not acknowledge {command}"
            raise PrintFarmTimeoutError(msg) from err
        finally:
            self._pending.pop(key, None)
        result = reply.get("result")
        if isinstance(result, str) and result.lower() in FAILED_RESULTS:
            reason = reply.get("reason") or "no reason given"
            msg = f"Printer {self.serial} refused {command}: {reason}"
            raise PrintFarmConflictError(msg, code=str(reply.get("err_code") or "") or None)
        return reply
