"""Helpers for printfarm."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Concatenate

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .api import (
    PrintFarmAuthenticationError,
    PrintFarmConnectionError,
    PrintFarmError,
    PrintFarmRateLimitError,
    PrintFarmResponseError,
)
from .const import DOMAIN
from .coordinator import PrintFarmConfigEntry
from .entity import PrinterEntity


def farm_error(
    hass: HomeAssistant,
    entry: PrintFarmConfigEntry,
    error: PrintFarmError,
    *,
    printer: bool = False,
) -> HomeAssistantError:
    """Return the translated error of a failed farm request, or printer command.

    A refused key starts reauthentication.
    """
    if isinstance(error, PrintFarmAuthenticationError):
        entry.async_start_reauth(hass)
        return HomeAssistantError(
            translation_domain=DOMAIN, translation_key="authentication_failed"
        )
    if isinstance(error, PrintFarmRateLimitError):
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="rate_limited",
            translation_placeholders={"retry_at": error.retry_at.isoformat()},
        )
    placeholders = {"error": str(error)}
    if isinstance(error, PrintFarmResponseError):
        if printer:
            return HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="printer_refused",
                translation_placeholders=placeholders,
            )
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="farm_refused",
            translation_placeholders=placeholders,
        )
    if printer and isinstance(error, PrintFarmConnectionError):
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="printer_unreachable",
            translation_placeholders=placeholders,
        )
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="communication_error",
        translation_placeholders=placeholders,
    )


def printfarm_exception_handler[EntityT: PrinterEntity, **P](
    func: Callable[Concatenate[EntityT, P], Coroutine[Any, Any, Any]],
) -> Callable[Concatenate[EntityT, P], Coroutine[Any, Any, None]]:
    """Decorate printer commands to turn library errors into translated errors."""

    async def handler(self: EntityT, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await func(self, *args, **kwargs)
        except PrintFarmError as error:
            raise farm_error(
                self.hass, self.coordinator.config_entry, error, printer=True
            ) from error

    return handler
