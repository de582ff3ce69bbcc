"""Simulated Bambu Lab printers, reachable over MQTT with TLS like real ones."""

from .fleet import BambuFleet
from .printer import SimPrinter
from .shard import BAMBU_USERNAME, Shard
from .transports import BambuTransport, Transport

__all__ = ["BAMBU_USERNAME", "BambuFleet", "BambuTransport", "Shard", "SimPrinter", "Transport"]
