"""Helpers for printfarm."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Concatenate

from homeassistant.exceptions import HomeAssistantError

from .api import (
    PrintFarmAuthenticationError,
    PrintFarmConnectionError,
    PrintFarmError,
    PrintFarmRateLimitError,
    PrintFarmResponseError,
)
from .const import DOMAIN
from .entity import PrinterEntity


def printfarm_exception_handler[EntityT: PrinterEntity, **P](
    func: Callable[Concatenate[EntityT, P], Coroutine[Any, Any, Any]],
) -> Callable[Concatenate[EntityT, P], Coroutine[Any, Any, None]]:
    """Decorate printfarm commands to turn library errors into translated errors."""

    async def handler(self: EntityT, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await func(self, *args, **kwargs)
        except PrintFarmAuthenticationError as error:
            self.coordinator.config_entry.async_start_reauth(self.hass)
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="authentication_failed"
            ) from error
        except PrintFarmRateLimitError as error:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="rate_limited",
                translation_placeholders={"retry_at": error.retry_at.isoformat()},
            ) from error
        except PrintFarmResponseError as error:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="printer_refused",
                translation_placeholders={"error": str(error)},
            ) from error
        except PrintFarmConnectionError as error:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="printer_unreachable",
                translation_placeholders={"error": str(error)},
            ) from error
        except PrintFarmError as error:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="communication_error",
                translation_placeholders={"error": str(error)},
            ) from error

    return handler
