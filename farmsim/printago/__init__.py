"""Farmsim's Printago face: the REST API and its realtime MQTT-over-WebSocket broker."""

from .app import create_app
from .auth import reset_rate_limits
from .realtime import Realtime, client_id_for
from .serve import PrintagoServer

__all__ = ["PrintagoServer", "Realtime", "client_id_for", "create_app", "reset_rate_limits"]
