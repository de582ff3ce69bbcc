"""The clients of one endpoint, as Mosquitto's log tells which of them it accepted or refused."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

    from . import log
    from .process import MosquittoBroker

type TransportName = Literal["tcp", "tls", "websocket"]

# How long after an unaccepted WebSocket closed Mosquitto's acceptance is waited for
LOG_GRACE: Final = 0.1
# How long an unaccepted TCP connection waits for the refusal Mosquitto logs
REFUSAL_WAIT: Final = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientInfo:
    """A client Mosquitto accepted through an endpoint."""

    client_id: str
    username: str | None
    peer: str
    transport: TransportName


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointStats:
    """Counters of an endpoint since it was created.

    `connections_refused` counts the connections Mosquitto closed after refusing their
    CONNECT; `connections_rejected` those the endpoint closed itself (refusing faults).
    """

    connections_accepted: int
    connections_refused: int
    connections_rejected: int
    clients: int


class Session:
    """One relayed connection: its peer and, once Mosquitto accepted it, the client."""

    def __init__(self, sessions: Sessions, peer: str) -> None:
        """Initialize an unaccepted session."""
        self._sessions = sessions
        self.peer = peer
        self.info: ClientInfo | None = None
        self.answered = False
        self._unwatch: Callable[[], None] | None = None
        self._withdraw: Callable[[], None] | None = None
        self._closed = False

    def upstream(self, address: str) -> None:
        """Follow Mosquitto's log for the relay's own address towards it."""
        self._unwatch = self._sessions.broker.watch(address, self._accepted)

    def note_answer(self) -> None:
        """Note that Mosquitto sent the client something."""
        self.answered = True

    def _accepted(self, event: log.Accepted) -> None:
        """Note the client Mosquitto accepted."""
        if self.info is None:
            self._sessions.accepted += 1
        self.info = ClientInfo(
            client_id=event.client_id,
            username=event.username,
            peer=self.peer,
            transport=self._sessions.transport,
        )

    def close(self, *, suspect: bool, logged: bool = True) -> None:
        """Forget the session; a `suspect` one Mosquitto did not accept may be a refusal.

        Over TCP Mosquitto logs each refusal (`logged`), so the connection claims the next
        logged refusal not claimed yet, for a while. Over WebSockets it logs none, but the
        connection was answered (the refusing CONNACK) and no acceptance follows.
        """
        if self._closed:
            return
        self._closed = True
        self._sessions.active.pop(self, None)
        if not suspect or self.info is not None:
            self._forget()
            return
        loop = asyncio.get_running_loop()
        if not logged:
            self._sessions.undecided[self] = loop.call_later(LOG_GRACE, self._decide)
            return
        if (withdraw := self._sessions.broker.claim_refusal(self._decide)) is not None:
            self._withdraw = withdraw
            self._sessions.undecided[self] = loop.call_later(REFUSAL_WAIT, self.give_up)

    def _decide(self) -> None:
        """Count a refusal (claimed, or waited for) unless Mosquitto accepted it after all."""
        if self.info is None:
            self._sessions.refused += 1
        self.give_up()

    def give_up(self) -> None:
        """Stop waiting for the log about this connection."""
        if (handle := self._sessions.undecided.pop(self, None)) is not None:
            handle.cancel()
        if self._withdraw is not None:
            self._withdraw()
            self._withdraw = None
        self._forget()

    def _forget(self) -> None:
        """Stop following the log."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None


class Sessions:
    """The sessions of one endpoint and its counters."""

    def __init__(self, broker: MosquittoBroker, transport: TransportName) -> None:
        """Initialize with no session."""
        self.broker = broker
        self.transport: TransportName = transport
        self.active: dict[Session, None] = {}
        self.undecided: dict[Session, asyncio.TimerHandle] = {}
        self.accepted = 0
        self.refused = 0
        self.rejected = 0

    def open(self, peer: str) -> Session:
        """Start a session for a new connection."""
        session = Session(self, peer)
        self.active[session] = None
        return session

    def decide(self) -> None:
        """Stop waiting for the log about closed connections (closing the endpoint)."""
        for session in list(self.undecided):
            session.give_up()

    @property
    def clients(self) -> list[ClientInfo]:
        """Return the clients Mosquitto accepted whose connections are open."""
        return [session.info for session in self.active if session.info is not None]

    @property
    def stats(self) -> EndpointStats:
        """Return the counters."""
        return EndpointStats(
            connections_accepted=self.accepted,
            connections_refused=self.refused,
            connections_rejected=self.rejected,
            clients=len(self.clients),
        )


def format_peer(peername: object) -> str:
    """Return host:port for a socket address."""
    if isinstance(peername, tuple) and len(peername) >= 2:  # noqa: PLR2004
        return f"{peername[0]}:{peername[1]}"
    return str(peername)
