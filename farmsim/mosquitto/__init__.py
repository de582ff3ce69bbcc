"""Mosquitto for farmsim: the broker process, farmsim's paho client, and relays in front.

One Mosquitto process serves many listeners, each with its own users, topic rules and
certificate (`per_listener_settings true`). farmsim publishes and takes requests through
its own paho client (`Publisher`) on a plain loopback listener; clients reach the other
listeners through endpoints (`TcpEndpoint`, `WebSocketEndpoint`) that carry their bytes
untouched and give every simulated broker its own faults.
"""

from .config import HOST, Listener, password_hash
from .ports import free_ports
from .process import MosquittoBroker, MosquittoError
from .publisher import Publisher, SentListener
from .relay import TcpEndpoint
from .sessions import ClientInfo, EndpointStats
from .standalone import StandaloneBroker
from .websocket import WebSocketEndpoint

__all__ = [
    "HOST",
    "ClientInfo",
    "EndpointStats",
    "Listener",
    "MosquittoBroker",
    "MosquittoError",
    "Publisher",
    "SentListener",
    "StandaloneBroker",
    "TcpEndpoint",
    "WebSocketEndpoint",
    "free_ports",
    "password_hash",
]
