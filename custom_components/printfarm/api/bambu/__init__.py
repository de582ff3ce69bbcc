"""Bambu Lab printers on the LAN: MQTT over TLS, one connection per printer."""

from .client import BambuPrinterClient, async_create_ssl_context, create_ssl_context

__all__ = ["BambuPrinterClient", "async_create_ssl_context", "create_ssl_context"]
