"""Simulated Bambu Lab printers, reachable over MQTT with TLS like real ones."""

from .fleet import BambuFleet
from .printer import SimPrinter
from .transports import EmbeddedTransport, MosquittoTransport, Transport, make_transport

__all__ = [
    "BambuFleet",
    "EmbeddedTransport",
    "MosquittoTransport",
    "SimPrinter",
    "Transport",
    "make_transport",
]
