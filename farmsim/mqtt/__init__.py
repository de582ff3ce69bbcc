"""Embedded MQTT 3.1.1 broker and client for farmsim."""

from .broker import Broker, BrokerStats, SessionInfo, TransportName
from .client import (
    MqttClient,
    MqttConnectionRefusedError,
    MqttError,
    MqttProtocolError,
)
from .packets import ConnackCode, MalformedPacketError, PacketDecoder
from .topics import topic_matches

__all__ = [
    "Broker",
    "BrokerStats",
    "ConnackCode",
    "MalformedPacketError",
    "MqttClient",
    "MqttConnectionRefusedError",
    "MqttError",
    "MqttProtocolError",
    "PacketDecoder",
    "SessionInfo",
    "TransportName",
    "topic_matches",
]
