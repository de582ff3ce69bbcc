"""Config flow to configure the printfarm integration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlowWithReload,
    SubentryFlowResult,
)
from homeassistant.const import CONF_API_KEY, CONF_HOST, CONF_PORT, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .api import (
    WEBHOOK_EVENTS,
    Account,
    BambuPrinterClient,
    PrintFarmAuthenticationError,
    PrintFarmConnectionError,
    PrintFarmError,
    PrintFarmPermissionError,
    async_create_ssl_context,
)
from .const import (
    CONF_ACCESS_CODE,
    CONF_BUDGET_SHARE,
    CONF_CA_CERT,
    CONF_LOW_STOCK_GRAMS,
    CONF_PRINTER_ID,
    CONF_REALTIME_URL,
    CONF_SERIAL,
    CONF_SERVICE,
    CONF_STALE_TIMEOUT,
    CONF_STORE_ID,
    CONF_WEBHOOK_EVENTS,
    DEFAULT_BUDGET_SHARE,
    DEFAULT_LOW_STOCK_GRAMS,
    DEFAULT_MQTT_PORT,
    DEFAULT_REALTIME_URL,
    DEFAULT_STALE_TIMEOUT,
    DEFAULT_URLS,
    DOMAIN,
    LOGGER,
    MAX_BUDGET_SHARE,
    MAX_LOW_STOCK_GRAMS,
    MAX_STALE_TIMEOUT,
    MIN_BUDGET_SHARE,
    MIN_STALE_TIMEOUT,
    SERVICE_AUTOPRINTFARM,
    SERVICE_PRINTAGO,
    SUBENTRY_PRINTER,
)
from .coordinator import PrintFarmConfigEntry, create_client

PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
TEXT = TextSelector()

OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_BUDGET_SHARE): NumberSelector(
            NumberSelectorConfig(
                min=MIN_BUDGET_SHARE,
                max=MAX_BUDGET_SHARE,
                step=5,
                unit_of_measurement="%",
                mode=NumberSelectorMode.SLIDER,
            )
        ),
        vol.Required(CONF_STALE_TIMEOUT): NumberSelector(
            NumberSelectorConfig(
                min=MIN_STALE_TIMEOUT,
                max=MAX_STALE_TIMEOUT,
                step=1,
                unit_of_measurement="s",
                mode=NumberSelectorMode.BOX,
            )
        ),
    }
)

# The farm's webhooks push the events chosen here (AutoPrintFarm)
WEBHOOK_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_WEBHOOK_EVENTS): SelectSelector(
            SelectSelectorConfig(
                options=list(WEBHOOK_EVENTS),
                multiple=True,
                mode=SelectSelectorMode.LIST,
                translation_key=CONF_WEBHOOK_EVENTS,
            )
        ),
    }
)
LOW_STOCK_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_LOW_STOCK_GRAMS): NumberSelector(
            NumberSelectorConfig(
                min=0,
                max=MAX_LOW_STOCK_GRAMS,
                step=10,
                unit_of_measurement="g",
                mode=NumberSelectorMode.BOX,
            )
        ),
    }
)


def _farm_schema(service: str) -> vol.Schema:
    """Return the form of a farm service's connection."""
    fields: dict[vol.Marker, Any] = {
        vol.Required(CONF_URL): URL_SELECTOR,
        vol.Required(CONF_API_KEY): PASSWORD,
    }
    if service == SERVICE_PRINTAGO:
        fields[vol.Required(CONF_STORE_ID)] = TEXT
    return vol.Schema(fields)


def _realtime_url(base_url: str) -> str:
    """Return the realtime feed that belongs to a Printago API address."""
    base = base_url.rstrip("/")
    derived = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/mqtt"
    return {DEFAULT_URLS[SERVICE_PRINTAGO]: DEFAULT_REALTIME_URL}.get(base, derived)


def _farm_data(service: str, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the entry data of a farm connection; Printago's feed shares its credentials."""
    data = {CONF_SERVICE: service, **user_input}
    if service == SERVICE_PRINTAGO:
        data[CONF_REALTIME_URL] = _realtime_url(user_input[CONF_URL])
    return data


async def _validate(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> tuple[Account | None, dict[str, str]]:
    """Check the credentials against the farm; return its account or the form errors."""
    try:
        account = await create_client(hass, data).account()
    except PrintFarmAuthenticationError:
        return None, {"base": "invalid_auth"}
    except PrintFarmPermissionError:
        return None, {"base": "insufficient_permissions"}
    except PrintFarmError:
        return None, {"base": "cannot_connect"}
    except Exception:  # noqa: BLE001
        LOGGER.exception("Unexpected exception")
        return None, {"base": "unknown"}
    return account, {}


class PrintFarmFlowHandler(ConfigFlow, domain=DOMAIN):
    """Handle a printfarm config flow."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: PrintFarmConfigEntry) -> PrintFarmOptionsFlow:
        """Return the options flow."""
        return PrintFarmOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: PrintFarmConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Return the subentries an entry supports: Bambu LAN printers on AutoPrintFarm."""
        if config_entry.data[CONF_SERVICE] == SERVICE_AUTOPRINTFARM:
            return {SUBENTRY_PRINTER: PrinterSubentryFlowHandler}
        return {}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask which farm service to connect."""
        return self.async_show_menu(
            step_id="user", menu_options=[SERVICE_AUTOPRINTFARM, SERVICE_PRINTAGO]
        )

    async def async_step_autoprintfarm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Connect an AutoPrintFarm account."""
        return await self._async_step_farm(SERVICE_AUTOPRINTFARM, user_input)

    async def async_step_printago(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Connect a Printago store."""
        return await self._async_step_farm(SERVICE_PRINTAGO, user_input)

    async def _async_step_farm(
        self, service: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _farm_data(service, user_input)
            account, errors = await _validate(self.hass, data)
            if account is not None:
                await self.async_set_unique_id(f"{service}_{account.id}")
                self._abort_if_unique_id_configured()
                return self.async_create_entry(title=account.name, data=data)
        return self.async_show_form(
            step_id=service,
            data_schema=self.add_suggested_values_to_schema(
                _farm_schema(service), user_input or {CONF_URL: DEFAULT_URLS[service]}
            ),
            description_placeholders={"example_url": DEFAULT_URLS[service]},
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Handle a refused API key."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new API key of the same account."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            account, errors = await _validate(self.hass, {**entry.data, **user_input})
            if account is not None:
                await self.async_set_unique_id(f"{entry.data[CONF_SERVICE]}_{account.id}")
                self._abort_if_unique_id_mismatch(reason="wrong_account")
                return self.async_update_reload_and_abort(entry, data_updates=user_input)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_API_KEY): PASSWORD}),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the address or credentials of the farm."""
        entry = self._get_reconfigure_entry()
        service = entry.data[CONF_SERVICE]
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _farm_data(service, user_input)
            account, errors = await _validate(self.hass, data)
            if account is not None:
                await self.async_set_unique_id(f"{service}_{account.id}")
                self._abort_if_unique_id_mismatch(reason="wrong_account")
                return self.async_update_reload_and_abort(entry, data=data)
        # The API key is asked again rather than sent back to the browser
        suggested = user_input or {k: v for k, v in entry.data.items() if k != CONF_API_KEY}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(_farm_schema(service), suggested),
            errors=errors,
        )


class PrintFarmOptionsFlow(OptionsFlowWithReload):
    """Handle printfarm options: the share of the rate budget and the stale timeout."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Manage the options; the entry reloads when they change (OptionsFlowWithReload)."""
        if user_input is not None:
            options: dict[str, Any] = {
                key: value if key == CONF_WEBHOOK_EVENTS else int(value)
                for key, value in user_input.items()
            }
            return self.async_create_entry(data=options)
        defaults = {
            CONF_BUDGET_SHARE: DEFAULT_BUDGET_SHARE,
            CONF_STALE_TIMEOUT: DEFAULT_STALE_TIMEOUT,
            CONF_LOW_STOCK_GRAMS: DEFAULT_LOW_STOCK_GRAMS,
            CONF_WEBHOOK_EVENTS: list(WEBHOOK_EVENTS),
            **self.config_entry.options,
        }
        schema = OPTIONS_SCHEMA
        # Printago keeps no reorder thresholds, so the integration applies one
        if self.config_entry.data[CONF_SERVICE] == SERVICE_PRINTAGO:
            schema = schema.extend(LOW_STOCK_SCHEMA.schema)
        else:
            schema = schema.extend(WEBHOOK_SCHEMA.schema)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, defaults),
        )


class PrinterSubentryFlowHandler(ConfigSubentryFlow):
    """Handle the LAN connection of a Bambu Lab printer of the farm."""

    def __init__(self) -> None:
        """Initialize the flow."""
        self._printer_id = ""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Ask which printer of the farm to connect."""
        entry = self._get_entry()
        if entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="entry_not_loaded")
        configured = {sub.data[CONF_PRINTER_ID] for sub in entry.subentries.values()}
        printers = [
            printer
            for printer in entry.runtime_data.farm.data.printers.values()
            if printer.id not in configured
        ]
        if not printers:
            return self.async_abort(reason="no_printers")
        if user_input is not None:
            self._printer_id = user_input[CONF_PRINTER_ID]
            return await self.async_step_connection()
        options = [SelectOptionDict(value=p.id, label=p.name) for p in printers]
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_PRINTER_ID): SelectSelector(
                        SelectSelectorConfig(options=options, mode=SelectSelectorMode.DROPDOWN)
                    )
                }
            ),
        )

    async def async_step_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask how to reach the printer, and test it."""
        printer = self._get_entry().runtime_data.farm.data.printers[self._printer_id]
        errors: dict[str, str] = {}
        if user_input is not None:
            if _serial_configured(self.hass, user_input[CONF_SERIAL]):
                return self.async_abort(reason="already_configured")
            data = _printer_data(printer.id, user_input)
            if not (errors := await _test_printer(data)):
                return self.async_create_entry(
                    title=printer.name, data=data, unique_id=data[CONF_SERIAL]
                )
        suggested = user_input or {
            CONF_SERIAL: printer.serial or "",
            CONF_PORT: DEFAULT_MQTT_PORT,
            CONF_VERIFY_SSL: True,
        }
        return self.async_show_form(
            step_id="connection",
            data_schema=self.add_suggested_values_to_schema(
                _printer_schema(serial=True), suggested
            ),
            description_placeholders={"name": printer.name},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change how the printer is reached; the serial was proven when it was added."""
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _printer_data(
                subentry.data[CONF_PRINTER_ID],
                {CONF_SERIAL: subentry.data[CONF_SERIAL], **user_input},
            )
            if not (errors := await _test_printer(data)):
                return self.async_update_and_abort(self._get_entry(), subentry, data=data)
        # The access code is asked again rather than sent back to the browser
        suggested = user_input or {k: v for k, v in subentry.data.items() if k != CONF_ACCESS_CODE}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _printer_schema(serial=False), suggested
            ),
            description_placeholders={"name": subentry.title},
            errors=errors,
        )


def _printer_schema(*, serial: bool) -> vol.Schema:
    """Return the form of a printer's LAN connection."""
    fields: dict[vol.Marker, Any] = {
        vol.Required(CONF_HOST): TEXT,
        vol.Required(CONF_PORT): NumberSelector(
            NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
        ),
    }
    if serial:
        fields[vol.Required(CONF_SERIAL)] = TEXT
    fields[vol.Required(CONF_ACCESS_CODE)] = PASSWORD
    fields[vol.Required(CONF_VERIFY_SSL)] = BooleanSelector()
    fields[vol.Optional(CONF_CA_CERT)] = TextSelector(TextSelectorConfig(multiline=True))
    return vol.Schema(fields)


def _printer_data(printer_id: str, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the subentry data of a printer's LAN connection."""
    return {CONF_PRINTER_ID: printer_id, **user_input, CONF_PORT: int(user_input[CONF_PORT])}


def _serial_configured(hass: HomeAssistant, serial: str) -> bool:
    """Return whether an entry of the domain already connects this printer."""
    return any(
        subentry.unique_id == serial
        for entry in hass.config_entries.async_entries(DOMAIN)
        for subentry in entry.subentries.values()
    )


async def _test_printer(data: Mapping[str, Any]) -> dict[str, str]:
    """Connect to the printer once; return the form errors."""
    try:
        context = await async_create_ssl_context(
            ca_data=data.get(CONF_CA_CERT) or None, insecure=not data[CONF_VERIFY_SSL]
        )
    except PrintFarmConnectionError:
        return {CONF_CA_CERT: "invalid_ca_cert"}
    try:
        await BambuPrinterClient.test_connection(
            host=data[CONF_HOST],
            port=data[CONF_PORT],
            serial=data[CONF_SERIAL],
            access_code=data[CONF_ACCESS_CODE],
            ssl_context=context,
        )
    except PrintFarmAuthenticationError:
        return {"base": "invalid_access_code"}
    except PrintFarmError:
        return {"base": "cannot_connect"}
    except Exception:  # noqa: BLE001
        LOGGER.exception("Unexpected exception")
        return {"base": "unknown"}
    return {}
