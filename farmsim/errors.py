"""Errors the simulated world answers with; each has a machine-readable code and a status."""

from __future__ import annotations


class SimError(Exception):
    """A request the world refuses; `code` is machine-readable."""

    status = 400

    def __init__(self, code: str, message: str, details: str | None = None) -> None:
        """Initialize the error."""
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class NotFoundError(SimError):
    """The object does not exist."""

    status = 404


class InvalidStateError(SimError):
    """The object is not in a state that allows the action."""

    status = 409


class ValidationError(SimError):
    """The request is malformed."""

    status = 400
