"""Base of the push clients whose MQTT connection a supervisor keeps up."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from ..errors import PrintFarmAuthenticationError, PrintFarmTimeoutError
from ..events import call_safely
from .mqtt import MqttConnection, MqttSupervisor

type AuthFailedCallback = Callable[[PrintFarmAuthenticationError], None]


@dataclass(kw_only=True)
class SupervisedClient(ABC):
    """A client that stays connected from `start()` until `stop()`.

    Refused credentials are final: the client stops, `auth_failed` turns true and
    `on_auth_failed` is called once.
    """

    reconnect_min_delay: float = 1.0
    reconnect_max_delay: float = 30.0
    on_auth_failed: AuthFailedCallback | None = None

    _supervisor: MqttSupervisor | None = field(default=None, init=False, repr=False)
    _auth_error: PrintFarmAuthenticationError | None = field(default=None, init=False, repr=False)
    _ready: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    @property
    def auth_failed(self) -> bool:
        """Return whether the credentials were refused (the client then stops)."""
        return self._auth_error is not None

    async def start(self) -> None:
        """Connect in the background; keep reconnecting until `stop()`."""
        if self._supervisor is not None and self._supervisor.running:
            return
        factory = await self._connection_factory()
        self._auth_error = None
        self._ready.clear()
        self._supervisor = MqttSupervisor(
            name=self._supervisor_name,
            factory=factory,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            on_auth_failed=self._on_auth_failed,
            min_delay=self.reconnect_min_delay,
            max_delay=self.reconnect_max_delay,
        )
        self._supervisor.start()

    async def stop(self) -> None:
        """Disconnect and stop reconnecting; no callbacks fire after this."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            await supervisor.stop()

    async def __aenter__(self) -> Self:
        """Start the client."""
        await self.start()
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        """Stop the client."""
        await self.stop()

    async def _wait_ready(self, timeout: float, message: str) -> None:  # noqa: ASYNC109
        """Wait until the client is ready; raise if it is not in time or was refused."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError as err:
            raise PrintFarmTimeoutError(message) from err
        if self._auth_error is not None:
            raise self._auth_error

    @property
    @abstractmethod
    def _supervisor_name(self) -> str:
        """Return the name of the supervisor's task."""

    @abstractmethod
    async def _connection_factory(self) -> Callable[[], MqttConnection]:
        """Return how the supervisor makes a connection (and check the settings first)."""

    @abstractmethod
    def _on_connected(self, connection: MqttConnection) -> None:
        """Subscribe on a new connection."""

    @abstractmethod
    def _on_disconnected(self) -> None:
        """Handle a lost connection."""

    @abstractmethod
    def _connection_lost(self) -> None:
        """Forget the connection and what depends on it."""

    def _on_auth_failed(self, err: PrintFarmAuthenticationError) -> None:
        """Remember the refusal, wake whoever waits and tell the callback."""
        self._auth_error = err
        self._connection_lost()
        self._ready.set()
        if self.on_auth_failed is not None:
            call_safely(self.on_auth_failed, err)
