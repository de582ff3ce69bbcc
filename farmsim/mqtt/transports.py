"""Byte pipes under the broker's MQTT connections: asyncio streams (TCP, TLS) and WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final, Literal, Protocol

from aiohttp import WSMsgType, web

from .packets import MalformedPacketError

type TransportName = Literal["tcp", "tls", "websocket"]

_READ_SIZE: Final = 65536


class Transport(Protocol):
    """Byte pipe under one MQTT connection."""

    async def read(self) -> bytes:
        """Return the next bytes received, or b"" at the end of the stream."""

    async def write(self, data: bytes) -> None:
        """Send bytes."""

    async def close(self) -> None:
        """Close the connection after flushing."""

    def abort(self) -> None:
        """Drop the connection at once."""


class StreamTransport:
    """Transport over an asyncio stream (TCP or TLS)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Initialize the transport."""
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        """Return the next bytes received, or b"" at the end of the stream."""
        return await self._reader.read(_READ_SIZE)

    async def write(self, data: bytes) -> None:
        """Send bytes."""
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        """Close the connection after flushing."""
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once."""
        self._writer.transport.abort()


class WebSocketTransport:
    """Transport over an aiohttp server WebSocket carrying binary frames."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        """Initialize the transport."""
        self._request = request
        self._ws = ws

    async def read(self) -> bytes:
        """Return the next bytes received, or b"" when the WebSocket closes."""
        while True:
            message = await self._ws.receive()
            if message.type is WSMsgType.BINARY:
                data: bytes = message.data
                return data
            if message.type is WSMsgType.TEXT:
                msg = "MQTT over WebSocket must use binary frames"
                raise MalformedPacketError(msg)
            if message.type in {
                WSMsgType.CLOSE,
                WSMsgType.CLOSING,
                WSMsgType.CLOSED,
                WSMsgType.ERROR,
            }:
                return b""

    async def write(self, data: bytes) -> None:
        """Send bytes in one binary frame."""
        await self._ws.send_bytes(data)

    async def close(self) -> None:
        """Close the WebSocket."""
        await self._ws.close()

    def abort(self) -> None:
        """Drop the underlying connection at once."""
        if (transport := self._request.transport) is not None:
            transport.abort()


def format_peer(peername: Any) -> str:
    """Return host:port for a socket peer name."""
    if isinstance(peername, tuple) and len(peername) >= 2:  # noqa: PLR2004
        return f"{peername[0]}:{peername[1]}"
    return str(peername)
