"""MQTT connections driven by the asyncio event loop, with no thread per connection.

paho's `connect()` blocks for the TCP connect, the TLS handshake and the WebSocket upgrade.
That one short step runs in the loop's default executor (shared, and bounded by a semaphore
per loop; paho's own connect timeout bounds each blocking step); after it, every read, write
and keepalive runs on the event loop through socket readiness callbacks, the way Home
Assistant's own MQTT client drives paho. Only paho's public API is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from ..errors import (
    PrintFarmAuthenticationError,
    PrintFarmConnectionError,
    PrintFarmError,
    PrintFarmTimeoutError,
)

LOGGER = logging.getLogger(__name__)

# Blocking connect steps running at once in the executor, per event loop.
CONNECT_CONCURRENCY: Final = 8
MISC_INTERVAL: Final = 1.0
DISCONNECT_TIMEOUT: Final = 1.0
# Packets read in one readiness callback before yielding to other connections.
MAX_PACKETS_PER_READ: Final = 100
# CONNACK codes (MQTT 3.1.1) that mean the credentials or the client id were refused.
AUTH_REFUSALS: Final = {
    2: "client identifier rejected",
    4: "bad user name or password",
    5: "not authorised",
}

type Transport = Literal["tcp", "websockets"]
type MessageCallback = Callable[[str, bytes], None]
type DisconnectCallback = Callable[[], None]

_CONNECT_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _connect_slots(loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
    """Return the semaphore bounding blocking connects on a loop."""
    if (slots := _CONNECT_SLOTS.get(loop)) is None:
        slots = _CONNECT_SLOTS[loop] = asyncio.Semaphore(CONNECT_CONCURRENCY)
    return slots


# paho reports MQTT 3.1.1 CONNACK codes as MQTT 5 reason codes.
CONNACK_CODES: Final = {0: 0, 132: 1, 133: 2, 136: 3, 134: 4, 135: 5}


def _connack_code(reason: ReasonCode) -> int:
    """Return the MQTT 3.1.1 CONNACK code of a paho reason code (-1 if unknown)."""
    return CONNACK_CODES.get(int(reason.value), -1)


@dataclass(kw_only=True)
class MqttConnection:
    """One MQTT 3.1.1 connection (TCP, TLS or WebSockets) driven by the event loop."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_context: ssl.SSLContext | None = None
    transport: Transport = "tcp"
    ws_path: str = "/mqtt"
    keepalive: int = 60
    connect_timeout: float = 10.0
    on_message: MessageCallback | None = None
    on_disconnect: DisconnectCallback | None = None

    _client: paho.Client | None = field(default=None, init=False, repr=False)
    _fileno: int = field(default=-1, init=False, repr=False)
    _writing: bool = field(default=False, init=False, repr=False)
    _misc: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)
    _connack: asyncio.Future[None] | None = field(default=None, init=False, repr=False)
    _closed: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _established: bool = field(default=False, init=False, repr=False)
    _closing: bool = field(default=False, init=False, repr=False)

    @property
    def connected(self) -> bool:
        """Return whether the broker accepted the connection and it is still up."""
        return self._client is not None and self._established and self._client.is_connected()

    async def connect(self) -> None:
        """Connect and wait for the broker to accept (CONNACK)."""
        if self._client is not None:
            msg = "Already connected"
            raise PrintFarmConnectionError(msg)
        loop = asyncio.get_running_loop()
        client = self._new_client()
        self._client = client
        self._closed.clear()
        self._closing = False
        self._established = False
        self._connack = loop.create_future()
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self._blocking_connect(loop, client)
                self._attach(loop, client)
                await self._connack
        except TimeoutError as err:
            self._teardown()
            msg = f"Timeout connecting to MQTT broker {self.host}:{self.port}"
            raise PrintFarmTimeoutError(msg) from err
        except PrintFarmError:
            self._teardown()
            raise
        except (OSError, ValueError) as err:
            self._teardown()
            msg = f"Error connecting to MQTT broker {self.host}:{self.port}: {err}"
            raise PrintFarmConnectionError(msg) from err
        except asyncio.CancelledError:
            self._teardown()
            raise
        self._established = True

    def subscribe(self, topic: str, qos: int = 0) -> None:
        """Subscribe to a topic filter."""
        client = self._require_connected()
        result, _mid = client.subscribe(topic, qos)
        self._check(result, f"subscribe to {topic}")

    def publish(self, topic: str, payload: bytes | str, qos: int = 0) -> None:
        """Queue a message for the broker; it goes out when the socket is writable."""
        client = self._require_connected()
        info = client.publish(topic, payload, qos)
        self._check(info.rc, f"publish to {topic}")

    async def disconnect(self) -> None:
        """Say goodbye to the broker and close the connection."""
        client = self._client
        if client is None:
            return
        self._closing = True
        if self.connected:
            client.disconnect()
            client.loop_write()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DISCONNECT_TIMEOUT):
                    await self._closed.wait()
        self._teardown()

    def _new_client(self) -> paho.Client:
        """Return a paho client for one connection attempt."""
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=True,
            protocol=paho.MQTTv311,
            transport=self.transport,
            reconnect_on_failure=False,
        )
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls_context is not None:
            client.tls_set_context(self.tls_context)
            # Names are checked by the context itself (or deliberately not at all).
            client.tls_insecure_set(not self.tls_context.check_hostname)
        if self.transport == "websockets":
            client.ws_set_options(path=self.ws_path)
        client.connect_timeout = self.connect_timeout
        return client

    async def _blocking_connect(self, loop: asyncio.AbstractEventLoop, client: paho.Client) -> None:
        """Run paho's blocking connect in the executor, a bounded number at once per loop.

        paho bounds each blocking step by its `connect_timeout`. A connect nobody waits for
        any more still holds its slot until that step returns, so the threads stay bounded;
        its socket is then closed.
        """
        slots = _connect_slots(loop)
        await slots.acquire()
        future = loop.run_in_executor(None, client.connect, self.host, self.port, self.keepalive)
        future.add_done_callback(lambda _: slots.release())
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(lambda _: _close_socket(client))
            # Nobody awaits the abandoned connect: consume its error so it is not reported.
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            raise

    def _attach(self, loop: asyncio.AbstractEventLoop, client: paho.Client) -> None:
        """Hand the connected socket to the event loop."""
        sock = client.socket()
        if sock is None:
            msg = f"MQTT broker {self.host}:{self.port} closed the connection during connect"
            raise PrintFarmConnectionError(msg)
        self._fileno = sock.fileno()
        # Callbacks are set only now: until here paho ran in an executor thread.
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        loop.add_reader(self._fileno, self._on_readable)
        if client.want_write():
            self._start_writing(loop)
        self._misc = loop.call_later(MISC_INTERVAL, self._on_misc)

    def _start_writing(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._writing and self._fileno >= 0:
            loop.add_writer(self._fileno, self._on_writable)
            self._writing = True

    def _stop_writing(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._writing:
            loop.remove_writer(self._fileno)
            self._writing = False

    def _on_readable(self) -> None:
        """Read what the socket has, including what TLS already decrypted."""
        client = self._client
        for _ in range(MAX_PACKETS_PER_READ):
            if client is None or client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return
            sock = client.socket()
            if sock is None or not getattr(sock, "pending", lambda: 0)():
                return
        asyncio.get_running_loop().call_soon(self._on_readable)

    def _on_writable(self) -> None:
        if self._client is not None:
            self._client.loop_write()

    def _on_misc(self) -> None:
        """Send keepalive pings and notice a broker that stopped answering."""
        self._misc = None
        if self._client is None:
            return
        self._client.loop_misc()
        if self._client is not None and self._fileno >= 0:
            self._misc = asyncio.get_running_loop().call_later(MISC_INTERVAL, self._on_misc)

    def _on_register_write(self, _client: paho.Client, _userdata: Any, _sock: Any) -> None:
        self._start_writing(asyncio.get_running_loop())

    def _on_unregister_write(self, _client: paho.Client, _userdata: Any, _sock: Any) -> None:
        self._stop_writing(asyncio.get_running_loop())

    def _on_socket_close(self, _client: paho.Client, _userdata: Any, _sock: Any) -> None:
        self._detach()

    def _on_connect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _properties: Any,
    ) -> None:
        future = self._connack
        if future is None or future.done():
            return
        if not reason.is_failure:
            future.set_result(None)
            return
        code = _connack_code(reason)
        if (what := AUTH_REFUSALS.get(code)) is not None:
            msg = f"MQTT broker {self.host}:{self.port} refused the connection: {what}"
            future.set_exception(PrintFarmAuthenticationError(msg, code=f"connack_{code}"))
        else:
            msg = f"MQTT broker {self.host}:{self.port} refused the connection: {reason}"
            future.set_exception(PrintFarmConnectionError(msg))

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        if self.on_message is None:
            return
        try:
            self.on_message(message.topic, message.payload)
        except Exception:
            LOGGER.exception("Error handling an MQTT message on %s", message.topic)

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        LOGGER.debug("MQTT connection to %s:%s closed: %s", self.host, self.port, reason)
        self._detach()
        self._closed.set()
        if (future := self._connack) is not None and not future.done():
            msg = f"MQTT broker {self.host}:{self.port} closed the connection before CONNACK"
            future.set_exception(PrintFarmConnectionError(msg))
        was_established, self._established = self._established, False
        if was_established and not self._closing and self.on_disconnect is not None:
            try:
                self.on_disconnect()
            except Exception:
                LOGGER.exception("Error handling the MQTT disconnect of %s", self.host)

    def _detach(self) -> None:
        """Take the socket off the event loop."""
        if self._fileno < 0:
            return
        loop = asyncio.get_running_loop()
        self._stop_writing(loop)
        loop.remove_reader(self._fileno)
        self._fileno = -1
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None

    def _teardown(self) -> None:
        """Forget the paho client, closing its socket if it is still open."""
        client, self._client = self._client, None
        self._established = False
        self._detach()
        if client is not None:
            _close_socket(client)
        if (future := self._connack) is not None and not future.done():
            future.cancel()
        self._connack = None
        self._closed.set()

    def _require_connected(self) -> paho.Client:
        if self._client is None or not self.connected:
            msg = f"Not connected to MQTT broker {self.host}:{self.port}"
            raise PrintFarmConnectionError(msg)
        return self._client

    def _check(self, result: MQTTErrorCode, what: str) -> None:
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            msg = f"Could not {what} on {self.host}:{self.port}: {paho.error_string(result)}"
            raise PrintFarmConnectionError(msg)


def _close_socket(client: paho.Client) -> None:
    """Close a paho client's socket without going through the protocol."""
    if (sock := client.socket()) is not None:
        with contextlib.suppress(OSError):
            sock.close()


def backoff_delays(minimum: float, maximum: float) -> Callable[[], float]:
    """Return a function giving capped exponential delays with jitter, starting at `minimum`."""
    attempt = 0

    def next_delay() -> float:
        nonlocal attempt
        delay = min(maximum, minimum * 2.0**attempt)
        attempt = min(attempt + 1, 32)
        return delay * random.uniform(0.5, 1.0)  # noqa: S311

    return next_delay


@dataclass(kw_only=True)
class MqttSupervisor:
    """Keep an MQTT connection up: reconnect with capped exponential backoff and jitter.

    A refusal of the credentials is final: the supervisor stops and reports it once.
    """

    name: str
    factory: Callable[[], MqttConnection]
    on_connected: Callable[[MqttConnection], None]
    on_disconnected: Callable[[], None]
    on_auth_failed: Callable[[PrintFarmAuthenticationError], None]
    min_delay: float = 1.0
    max_delay: float = 30.0

    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _connection: MqttConnection | None = field(default=None, init=False, repr=False)
    _lost: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _delays: Callable[[], float] | None = field(default=None, init=False, repr=False)
    auth_error: PrintFarmAuthenticationError | None = field(default=None, init=False)

    @property
    def connection(self) -> MqttConnection | None:
        """Return the current connection, if it is up."""
        connection = self._connection
        return connection if connection is not None and connection.connected else None

    @property
    def running(self) -> bool:
        """Return whether the supervisor is still trying to stay connected."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start connecting in a background task."""
        if self.running:
            return
        self.auth_error = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop reconnecting and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            # The task's cleanup closes the connection.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def healthy(self) -> None:
        """Note that the connection works (data arrived): the next reconnect starts fast."""
        self._delays = None

    async def _run(self) -> None:
        while True:
            try:
                if not await self._connect_once():
                    return
            except Exception:
                # Never let the task end silently: log, wait and try again.
                LOGGER.exception("%s: unexpected error; reconnecting", self.name)
            await asyncio.sleep(self._next_delay())

    async def _connect_once(self) -> bool:
        """Connect and stay until the connection is lost; return False to stop for good."""
        connection = self.factory()
        connection.on_disconnect = self._lost.set
        self._lost.clear()
        try:
            await connection.connect()
        except PrintFarmAuthenticationError as err:
            LOGGER.warning("%s: %s; not retrying", self.name, err)
            self.auth_error = err
            self.on_auth_failed(err)
            return False
        except PrintFarmConnectionError as err:
            LOGGER.debug("%s: %s", self.name, err)
            return True
        self._connection = connection
        try:
            self.on_connected(connection)
            await self._lost.wait()
        except PrintFarmConnectionError as err:
            LOGGER.debug("%s: connection lost while starting: %s", self.name, err)
        finally:
            self._connection = None
            await connection.disconnect()
        self.on_disconnected()
        return True

    def _next_delay(self) -> float:
        if self._delays is None:
            self._delays = backoff_delays(self.min_delay, self.max_delay)
        return self._delays()
