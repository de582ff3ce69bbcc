"""Printago: its REST API and its realtime MQTT feed."""

from .client import Printago
from .realtime import PrintagoRealtime

__all__ = ["Printago", "PrintagoRealtime"]
