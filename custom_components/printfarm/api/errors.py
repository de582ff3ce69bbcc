"""Exceptions raised by the printfarm client library."""

from __future__ import annotations

from datetime import datetime


class PrintFarmError(Exception):
    """Base of every error the library raises."""


class PrintFarmConnectionError(PrintFarmError):
    """The service or printer could not be reached."""


class PrintFarmTimeoutError(PrintFarmConnectionError):
    """The service or printer did not answer in time."""


class PrintFarmInvalidResponseError(PrintFarmError):
    """The service answered with something the library cannot read."""


class PrintFarmResponseError(PrintFarmError):
    """The service answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        """Initialize the error with the HTTP status and the service's error code."""
        super().__init__(message)
        self.status = status
        self.code = code


class PrintFarmAuthenticationError(PrintFarmResponseError):
    """The credentials were refused (HTTP 401, or MQTT not authorised)."""


class PrintFarmPermissionError(PrintFarmResponseError):
    """The credentials lack a permission (HTTP 403)."""


class PrintFarmNotFoundError(PrintFarmResponseError):
    """The object does not exist (HTTP 404)."""


class PrintFarmValidationError(PrintFarmResponseError):
    """The request was refused as invalid (HTTP 400 or 422)."""


class PrintFarmConflictError(PrintFarmResponseError):
    """The object is not in a state that allows the action (HTTP 409)."""


class PrintFarmServerError(PrintFarmResponseError):
    """The service failed (HTTP 5xx)."""


class PrintFarmRateLimitError(PrintFarmResponseError):
    """The request budget is spent (HTTP 429, or known before sending)."""

    def __init__(
        self,
        message: str,
        *,
        retry_at: datetime,
        status: int | None = 429,
        code: str | None = None,
    ) -> None:
        """Initialize the error with the time the next request is allowed."""
        super().__init__(message, status=status, code=code)
        self.retry_at = retry_at


class PrintFarmWebhookError(PrintFarmError):
    """A webhook delivery was refused: unsigned, wrongly signed, stale, replayed or malformed."""

    def __init__(self, message: str, *, reason: str) -> None:
        """Initialize with why the delivery was refused."""
        super().__init__(message)
        self.reason = reason
