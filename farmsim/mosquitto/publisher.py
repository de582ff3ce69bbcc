"""farmsim's own MQTT client of a Mosquitto: paho-mqtt driven by the asyncio event loop.

paho's public socket callbacks hand the socket to the loop (reader and writer callbacks
call `loop_read` and `loop_write`); a timer calls `loop_misc` for the keepalive. The
connection goes to a plain loopback listener, whose connect does not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import TYPE_CHECKING, Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from .config import HOST
from .waiting import wait_event

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

LOGGER = logging.getLogger(__name__)

KEEPALIVE: Final = 30
MISC_INTERVAL: Final = 1.0
RECONNECT_DELAYS: Final = (0.05, 0.1, 0.2, 0.5)
CONNECT_TIMEOUT: Final = 10.0

type MessageHandler = Callable[[str, bytes], None]
# Called with the topic, the payload and the wall-clock time paho finished writing it
type SentListener = Callable[[str, bytes, float], None]


class Publisher:
    """A paho client on the event loop that publishes for farmsim and takes its requests."""

    def __init__(
        self,
        *,
        port: int,
        client_id: str,
        username: str,
        password: str,
        subscriptions: Sequence[str] = (),
        on_message: MessageHandler | None = None,
        host: str = HOST,
    ) -> None:
        """Initialize the client; nothing connects until start()."""
        self.host = host
        self.port = port
        self.subscriptions = tuple(subscriptions)
        self._on_message = on_message
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        self._client.username_pw_set(username, password)
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._client.on_subscribe = self._subscribed
        self._client.on_message = self._message
        self._client.on_publish = self._published
        self._client.on_socket_open = self._socket_open
        self._client.on_socket_close = self._socket_close
        self._client.on_socket_register_write = self._register_write
        self._client.on_socket_unregister_write = self._unregister_write
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._pending: set[int] = set()
        self._sent: dict[int, tuple[str, bytes]] = {}
        self._listeners: list[SentListener] = []
        self._misc: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._attempt = 0
        self._started = False
        self._closing = False

    @property
    def connected(self) -> bool:
        """Return whether the client is connected and its subscriptions are active."""
        return self._ready.is_set()

    def add_sent_listener(self, listener: SentListener) -> Callable[[], None]:
        """Call `listener` for every message once paho wrote it to the broker; return a remove."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def start(self, timeout: float = CONNECT_TIMEOUT) -> None:  # noqa: ASYNC109
        """Connect (retrying while the broker starts) and wait until subscribed."""
        self._loop = asyncio.get_running_loop()
        self._closing = False
        if not self._started:
            self._started = True
            self._connect()
        await self.wait_connected(timeout)

    async def wait_connected(self, timeout: float = CONNECT_TIMEOUT) -> None:  # noqa: ASYNC109
        """Wait until connected and subscribed; TimeoutError after `timeout` seconds."""
        if not await wait_event(self._ready, timeout):
            msg = f"farmsim's client of port {self.port} did not connect"
            raise TimeoutError(msg)

    async def close(self) -> None:
        """Disconnect for good."""
        self._closing = True
        for handle in (self._retry, self._misc):
            if handle is not None:
                handle.cancel()
        self._retry = self._misc = None
        if self._client.socket() is not None:
            self._client.disconnect()
            with contextlib.suppress(OSError):
                self._client.loop_write()
            if self._client.socket() is not None:
                # Closes the socket and calls back _disconnected and _socket_close
                self._client.loop_read()
        self._ready.clear()
        self._started = False

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 0) -> bool:
        """Publish a message; return False when it could not be queued (not connected)."""
        if not self._ready.is_set():
            return False
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        if self._listeners:
            self._sent[info.mid] = (topic, payload)
        # paho writes at the loop's next turn (writing here could run inside its callbacks)
        return True

    # Connecting

    def _connect(self) -> None:
        """Connect, or try again after a delay when the broker is not there (yet)."""
        self._retry = None
        if self._closing:
            return
        try:
            if self._attempt == 0:
                self._client.connect(self.host, self.port, keepalive=KEEPALIVE)
            else:
                self._client.reconnect()
        except OSError as err:
            LOGGER.debug("Connecting to %s:%s failed: %s", self.host, self.port, err)
            self._schedule_connect()
        self._attempt += 1

    def _schedule_connect(self) -> None:
        """Try to connect again after the next delay."""
        if self._closing or self._loop is None or self._retry is not None:
            return
        delay = RECONNECT_DELAYS[min(self._attempt, len(RECONNECT_DELAYS) - 1)]
        self._retry = self._loop.call_later(delay, self._connect)

    # paho callbacks

    def _connected(
        self,
        client: paho.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        """Subscribe once the broker accepted the connection."""
        if reason.is_failure:
            LOGGER.error("Mosquitto refused farmsim's client %s: %s", self.port, reason)
            return
        self._pending.clear()
        for topic in self.subscriptions:
            result, mid = client.subscribe(topic, qos=1)
            if result == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
                self._pending.add(mid)
        if not self._pending:
            self._ready.set()

    def _subscribed(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        _reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        """Be ready once every subscription is acknowledged."""
        self._pending.discard(mid)
        if not self._pending:
            self._ready.set()

    def _disconnected(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        """Connect again unless closing."""
        self._ready.clear()
        self._sent.clear()
        if not self._closing:
            LOGGER.debug("farmsim's client of port %s lost its connection: %s", self.port, reason)
            self._schedule_connect()

    def _message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        """Hand a message to the handler."""
        if self._on_message is None:
            return
        try:
            self._on_message(message.topic, message.payload)
        except Exception:
            LOGGER.exception("Handling a message on %s failed", message.topic)

    def _published(
        self,
        _client: paho.Client,
        _userdata: Any,
        mid: int,
        _reason: ReasonCode,
        _properties: Properties,
    ) -> None:
        """Tell the sent listeners that a message left for the broker."""
        if (sent := self._sent.pop(mid, None)) is None:
            return
        at = time.time()
        for listener in list(self._listeners):
            listener(*sent, at)

    # The socket on the event loop

    def _socket_open(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        """Read from the new socket on the loop; keep the connection alive."""
        assert self._loop is not None  # noqa: S101
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._attempt = 1
        self._loop.add_reader(sock, self._read)
        if self._misc is None:
            self._misc = self._loop.call_later(MISC_INTERVAL, self._tick)

    def _socket_close(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        """Stop watching a closed socket."""
        if self._loop is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    def _register_write(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        """Write on the loop while paho has something to send."""
        if self._loop is not None:
            self._loop.add_writer(sock, self._write)

    def _unregister_write(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        """Stop writing: paho sent everything."""
        if self._loop is not None:
            self._loop.remove_writer(sock)

    def _read(self) -> None:
        """Let paho read what arrived."""
        self._client.loop_read()

    def _write(self) -> None:
        """Let paho write what it queued."""
        self._client.loop_write()

    def _tick(self) -> None:
        """Run paho's keepalive while connected."""
        self._misc = None
        if self._client.socket() is None or self._loop is None:
            return
        self._client.loop_misc()
        self._misc = self._loop.call_later(MISC_INTERVAL, self._tick)
