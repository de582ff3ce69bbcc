"""Printago's realtime broker: a Mosquitto whose WebSocket listener serves API clients.

API clients log in with the store id and API key, must use an `apiclient_` client id and
may only read their store's topics. Mosquitto's `clientid_prefixes` holds for the whole
process, so farmsim's own client (which publishes) carries the prefix too. The clients'
WebSockets arrive at the REST app's `/mqtt` and are relayed to the listener.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

from farmsim.mosquitto import Listener, MosquittoBroker, Publisher, WebSocketEndpoint

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiohttp import web

    from farmsim.context import SimContext
    from farmsim.mosquitto import ClientInfo, EndpointStats, SentListener

LOGGER = logging.getLogger(__name__)

CLIENT_ID_PREFIX: Final = "apiclient_"
CLIENTS: Final = "clients"
INTERNAL: Final = "farmsim"


class RealtimeBroker:
    """The realtime feed's Mosquitto, farmsim's client of it and the WebSocket endpoint."""

    def __init__(self, ctx: SimContext, directory: Path | None = None) -> None:
        """Initialize the broker; nothing runs until start()."""
        self.ctx = ctx
        self._owns_directory = directory is None
        # Made at the first start, removed at close when farmsim chose it
        self.directory = (
            directory or Path(tempfile.gettempdir()) / f"farmsim-realtime-{secrets.token_hex(6)}"
        )
        password = secrets.token_hex(16)
        self._credentials = self._wanted()
        store, key = self._credentials
        self.mosquitto = MosquittoBroker(
            directory=self.directory,
            listeners=[
                Listener(
                    name=CLIENTS,
                    users={store: key},
                    acl=[f"user {store}", f"topic read stores/{store}/#"],
                    websockets=True,
                ),
                Listener(
                    name=INTERNAL,
                    users={INTERNAL: password},
                    acl=[f"user {INTERNAL}", "topic readwrite stores/#"],
                ),
            ],
            options=[f"clientid_prefixes {CLIENT_ID_PREFIX}"],
        )
        self.publisher = Publisher(
            port=0,
            client_id=f"{CLIENT_ID_PREFIX}farmsim_{secrets.token_hex(4)}",
            username=INTERNAL,
            password=password,
        )
        self.endpoint = WebSocketEndpoint(
            broker=self.mosquitto,
            listener=CLIENTS,
            name="printago-realtime",
            before_connect=self._sync_credentials,
        )
        self._lock = asyncio.Lock()
        self._sync: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Return whether clients can connect."""
        return self.endpoint.running and self.mosquitto.running

    @property
    def clients(self) -> list[ClientInfo]:
        """Return the API clients connected."""
        return self.endpoint.clients

    @property
    def stats(self) -> EndpointStats:
        """Return the counters of the feed's connections."""
        return self.endpoint.stats

    @property
    def refuse_connections(self) -> bool:
        """Return whether new connections are closed right after they are accepted."""
        return self.endpoint.refuse_connections

    @refuse_connections.setter
    def refuse_connections(self, value: bool) -> None:
        """Set whether new connections are closed right after they are accepted."""
        self.endpoint.refuse_connections = value

    def add_sent_listener(self, listener: SentListener) -> Callable[[], None]:
        """Call `listener` once a message was written to Mosquitto; return a remove."""
        return self.publisher.add_sent_listener(listener)

    async def start(self) -> None:
        """Run Mosquitto (if it does not yet) and accept API clients."""
        async with self._lock:
            if not self.mosquitto.running:
                await self.mosquitto.start()
                self.publisher.port = self.mosquitto.port(INTERNAL)
            await self.publisher.start()
            await self.endpoint.start()

    async def stop(self) -> None:
        """Turn clients away and cut them; Mosquitto keeps the retained messages."""
        await self.endpoint.stop()

    async def close(self) -> None:
        """Stop for good."""
        if self._sync is not None:
            self._sync.cancel()
            await asyncio.wait([self._sync])
        async with self._lock:
            await self.endpoint.close()
            await self.publisher.close()
            await self.mosquitto.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def drop_connections(self) -> int:
        """Cut every client connection; return how many."""
        return self.endpoint.drop_connections()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        """Publish a message to the subscribed clients; return False if it could not be sent."""
        if self._credentials != self._wanted() and self._sync is None:
            self._sync = asyncio.get_running_loop().create_task(self._sync_credentials())
            self._sync.add_done_callback(self._synced)
        return self.publisher.publish(topic, payload, retain=retain)

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """Serve one MQTT-over-WebSocket client (aiohttp handler for GET /mqtt)."""
        return await self.endpoint.handle(request)

    def _wanted(self) -> tuple[str, str]:
        """Return the store id and API key clients must log in with now."""
        config = self.ctx.config
        return config.printago_store_id, config.printago_api_key

    async def _sync_credentials(self) -> None:
        """Make Mosquitto admit the current API key; clients of a revoked one are cut."""
        if (wanted := self._wanted()) == self._credentials:
            return
        self._credentials = wanted
        store, key = wanted
        await self.mosquitto.set_users(CLIENTS, {store: key})

    def _synced(self, task: asyncio.Task[None]) -> None:
        """Forget a finished credential update; log its failure."""
        self._sync = None
        if not task.cancelled() and (err := task.exception()) is not None:
            LOGGER.error("Changing the realtime credentials failed: %r", err)
