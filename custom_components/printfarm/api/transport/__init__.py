"""Transports the service clients share: an HTTP engine within a rate budget, and MQTT."""
