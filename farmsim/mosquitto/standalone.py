"""A general Mosquitto for tests of MQTT clients: plain TCP, TLS and WebSocket faces.

One user may log in on every face and use every topic; each face is an endpoint, so a
test sees the clients, counts refusals and can drop, stop or start the broker.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Final, Self

from .config import Listener
from .process import MosquittoBroker
from .publisher import Publisher
from .relay import TcpEndpoint
from .sessions import EndpointStats
from .websocket import WebSocketEndpoint

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from aiohttp import web

    from farmsim.certs import CertificateAuthority

    from .sessions import ClientInfo

PLAIN: Final = "plain"
TLS: Final = "tls"
WEBSOCKETS: Final = "websockets"
INTERNAL: Final = "farmsim"


class StandaloneBroker:
    """Mosquitto for one user, on a plain and a TLS port and at a WebSocket route."""

    def __init__(
        self, directory: Path, ca: CertificateAuthority, *, username: str, password: str
    ) -> None:
        """Initialize the broker; nothing runs until start()."""
        users = {username: password}
        acl = [f"user {username}", "topic readwrite #"]
        cert_path, key_path = ca.issue("broker")
        internal = secrets.token_hex(16)
        self.mosquitto = MosquittoBroker(
            directory=directory,
            listeners=[
                Listener(name=PLAIN, users=users, acl=acl),
                Listener(
                    name=TLS,
                    users=users,
                    acl=acl,
                    cafile=ca.cert_path,
                    certfile=cert_path,
                    keyfile=key_path,
                ),
                Listener(name=WEBSOCKETS, users=users, acl=acl, websockets=True),
                Listener(
                    name=INTERNAL, users={INTERNAL: internal}, acl=[f"user {INTERNAL}", acl[1]]
                ),
            ],
        )
        self.publisher = Publisher(
            port=0, client_id=f"farmsim-{internal[:8]}", username=INTERNAL, password=internal
        )
        self.endpoints = (
            TcpEndpoint(broker=self.mosquitto, listener=PLAIN, transport="tcp"),
            TcpEndpoint(broker=self.mosquitto, listener=TLS, transport="tls"),
        )
        self.websocket = WebSocketEndpoint(broker=self.mosquitto, listener=WEBSOCKETS)

    async def __aenter__(self) -> Self:
        """Start the broker."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the broker."""
        await self.close()

    @property
    def ports(self) -> list[int]:
        """Return the plain and the TLS port."""
        return [endpoint.port for endpoint in self.endpoints]

    @property
    def clients(self) -> list[ClientInfo]:
        """Return the clients connected on every face."""
        return [
            client for endpoint in (*self.endpoints, self.websocket) for client in endpoint.clients
        ]

    @property
    def stats(self) -> EndpointStats:
        """Return the counters of every face added up."""
        every = [endpoint.stats for endpoint in (*self.endpoints, self.websocket)]
        return EndpointStats(
            connections_accepted=sum(s.connections_accepted for s in every),
            connections_refused=sum(s.connections_refused for s in every),
            connections_rejected=sum(s.connections_rejected for s in every),
            clients=sum(s.clients for s in every),
        )

    async def start(self) -> None:
        """Start Mosquitto if needed and accept clients on every face."""
        if not self.mosquitto.running:
            await self.mosquitto.start()
            self.publisher.port = self.mosquitto.port(INTERNAL)
        await self.publisher.start()
        for endpoint in self.endpoints:
            await endpoint.start()
        await self.websocket.start()

    async def stop(self) -> None:
        """Stop accepting clients and cut them (Mosquitto keeps running)."""
        for endpoint in self.endpoints:
            await endpoint.stop()
        await self.websocket.stop()

    async def close(self) -> None:
        """Stop for good: no endpoint still waits for Mosquitto's log about a connection."""
        for endpoint in self.endpoints:
            await endpoint.close()
        await self.websocket.close()
        await self.publisher.close()
        await self.mosquitto.stop()

    def drop_connections(self) -> int:
        """Cut every client at once; return how many."""
        return sum(endpoint.drop_connections() for endpoint in (*self.endpoints, self.websocket))

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish a message to the subscribed clients."""
        return self.publisher.publish(topic, payload)

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        """Serve one MQTT-over-WebSocket client (an aiohttp route handler)."""
        return await self.websocket.handle(request)
