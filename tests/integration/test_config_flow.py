"""Tests for the printfarm config flow, options flow and printer subentry flow."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from aiohttp import ClientSession
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    CONF_API_KEY,
    CONF_HOST,
    CONF_PORT,
    CONF_URL,
    CONF_VERIFY_SSL,
    EVENT_STATE_CHANGED,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType, UnknownHandler
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.printfarm.const import (
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
    DEFAULT_URLS,
    DOMAIN,
    SERVICE_AUTOPRINTFARM,
    SERVICE_PRINTAGO,
    SUBENTRY_PRINTER,
)
from farmsim import FarmSim
from farmsim.testing import running_farmsim

from .helpers import (
    autoprintfarm_entry,
    broker_clients,
    closed_port,
    closed_url,
    printago_entry,
    printer_input,
    printer_subentry,
    setup_entry,
    wait_connected,
    wait_for,
)


@pytest.fixture
def mock_setup_entry() -> Iterator[AsyncMock]:
    """Keep created and reloaded entries from setting up."""
    with patch("custom_components.printfarm.async_setup_entry", return_value=True) as mock_setup:
        yield mock_setup


@pytest.fixture
async def other_sim() -> AsyncIterator[FarmSim]:
    """Run a second simulated farm: another AutoPrintFarm account and Printago store."""
    async with running_farmsim(printers=1, seed=1, report_interval=0.05) as farm:
        yield farm


def farm_input(sim: FarmSim, service: str) -> dict[str, Any]:
    """Return what a user enters to connect the simulated farm of a service."""
    conn = sim.connection[service]
    user_input = {CONF_URL: conn["base_url"], CONF_API_KEY: conn["api_key"]}
    if service == SERVICE_PRINTAGO:
        user_input[CONF_STORE_ID] = conn["store_id"]
    return user_input


def suggested(result: FlowResult, key: str) -> Any:
    """Return the value a form suggests for a field."""
    for marker in result["data_schema"].schema:
        if marker == key:
            return (marker.description or {}).get("suggested_value")
    msg = f"No field {key}"
    raise KeyError(msg)


async def rotate_key(sim: FarmSim, service: str) -> str:
    """Revoke the API key of a service in farmsim and return the new one."""
    async with (
        ClientSession() as session,
        session.post(f"{sim.admin_url}/keys/{service}/rotate") as response,
    ):
        return str((await response.json())["api_key"])


async def unload(hass: HomeAssistant, sim: FarmSim, entry: MockConfigEntry) -> None:
    """Unload an entry once its connections are up; none of them may stay open."""
    await wait_connected(hass, sim, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    printer_ids = [p["autoprintfarm_id"] for p in sim.connection["printers"]]
    await wait_for(
        hass,
        lambda: (
            not sim.realtime.broker.clients
            and not any(map(partial(broker_clients, sim), printer_ids))
        ),
    )


async def start_user_flow(hass: HomeAssistant, service: str) -> FlowResult:
    """Start the user flow and pick a service from its menu."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == [SERVICE_AUTOPRINTFARM, SERVICE_PRINTAGO]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": service}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == service
    assert result["errors"] == {}
    assert suggested(result, CONF_URL) == DEFAULT_URLS[service]
    return result


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_autoprintfarm(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test the full happy path of connecting an AutoPrintFarm account."""
    result = await start_user_flow(hass, SERVICE_AUTOPRINTFARM)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], farm_input(sim, SERVICE_AUTOPRINTFARM)
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.title == sim.config.farm_name
    assert entry.unique_id == f"autoprintfarm_{sim.config.autoprintfarm_account_id}"
    assert entry.data == {
        CONF_SERVICE: SERVICE_AUTOPRINTFARM,
        CONF_URL: sim.connection["autoprintfarm"]["base_url"],
        CONF_API_KEY: sim.config.autoprintfarm_api_key,
    }
    assert not entry.options
    assert not entry.subentries


async def test_user_flow_printago(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test connecting a Printago store; its realtime feed comes from the same credentials."""
    result = await start_user_flow(hass, SERVICE_PRINTAGO)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], farm_input(sim, SERVICE_PRINTAGO)
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    store_id = sim.config.printago_store_id
    assert entry.unique_id == f"printago_{store_id}"
    assert entry.data == {
        CONF_SERVICE: SERVICE_PRINTAGO,
        CONF_URL: sim.printago_url,
        CONF_API_KEY: sim.config.printago_api_key,
        CONF_STORE_ID: store_id,
        CONF_REALTIME_URL: sim.connection["printago"]["realtime"]["url"],
    }
    assert not entry.options
    assert entry.supported_subentry_types == {}

    # The created entry sets up and subscribes to the store's realtime feed
    assert entry.state is ConfigEntryState.LOADED

    await wait_for(hass, lambda: len(sim.realtime.broker.clients) == 1)
    await unload(hass, sim, entry)


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    ("service", "wrong", "error"),
    [
        (SERVICE_AUTOPRINTFARM, {CONF_API_KEY: "apf_live_OMGSPIDERS"}, "invalid_auth"),
        (SERVICE_AUTOPRINTFARM, {CONF_URL: closed_url("/v1")}, "cannot_connect"),
        (SERVICE_PRINTAGO, {CONF_API_KEY: "OMGPUPPIES"}, "invalid_auth"),
        (SERVICE_PRINTAGO, {CONF_STORE_ID: "cOMGKITTENS"}, "insufficient_permissions"),
        (SERVICE_PRINTAGO, {CONF_URL: closed_url()}, "cannot_connect"),
    ],
)
async def test_user_flow_errors(
    hass: HomeAssistant, sim: FarmSim, service: str, wrong: dict[str, str], error: str
) -> None:
    """Test each refused connection shows its error and the flow recovers."""
    result = await start_user_flow(hass, service)
    user_input = farm_input(sim, service)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**user_input, **wrong}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    # What the user entered stays in the form, to be corrected
    assert suggested(result, next(iter(wrong))) == next(iter(wrong.values()))

    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].data[CONF_API_KEY] == user_input[CONF_API_KEY]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_flow_unknown_error(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test an unexpected error shows unknown and the flow recovers."""
    result = await start_user_flow(hass, SERVICE_AUTOPRINTFARM)
    with patch("custom_components.printfarm.api.AutoPrintFarm.account", side_effect=Exception):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], farm_input(sim, SERVICE_AUTOPRINTFARM)
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], farm_input(sim, SERVICE_AUTOPRINTFARM)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize("suffix", ["", "/"])
@pytest.mark.parametrize("service", [SERVICE_AUTOPRINTFARM, SERVICE_PRINTAGO])
async def test_user_flow_already_configured(
    hass: HomeAssistant, sim: FarmSim, service: str, suffix: str
) -> None:
    """Test the same account aborts, also when its address is written differently."""
    entry = autoprintfarm_entry(sim) if service == SERVICE_AUTOPRINTFARM else printago_entry(sim)
    entry.add_to_hass(hass)
    user_input = farm_input(sim, service)
    # localhost cannot be resolved under the test plugin; a trailing slash is another form
    user_input[CONF_URL] += suffix

    result = await start_user_flow(hass, service)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a new API key of the same account replaces the refused one."""
    entry = autoprintfarm_entry(sim, printers=False)
    entry.add_to_hass(hass)
    old_key = entry.data[CONF_API_KEY]
    new_key = await rotate_key(sim, SERVICE_AUTOPRINTFARM)

    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {"name": entry.title}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: old_key}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: new_key}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data == {
        CONF_SERVICE: SERVICE_AUTOPRINTFARM,
        CONF_URL: sim.connection["autoprintfarm"]["base_url"],
        CONF_API_KEY: new_key,
    }


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth_printago(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test reauthenticating a Printago store checks the key against the same store."""
    entry = printago_entry(sim)
    entry.add_to_hass(hass)
    new_key = await rotate_key(sim, SERVICE_PRINTAGO)

    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: new_key}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_API_KEY] == new_key
    assert entry.data[CONF_STORE_ID] == sim.config.printago_store_id


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth_wrong_account(hass: HomeAssistant, sim: FarmSim, other_sim: FarmSim) -> None:
    """Test a key of another account is refused; the right key then succeeds."""
    # The entry's address now serves another account than the one it was set up with
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=sim.config.farm_name,
        unique_id=f"autoprintfarm_{sim.config.autoprintfarm_account_id}",
        data={**autoprintfarm_entry(other_sim).data},
    )
    entry.add_to_hass(hass)
    old_data = dict(entry.data)

    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_KEY: other_sim.config.autoprintfarm_api_key}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert entry.data[CONF_API_KEY] == old_data[CONF_API_KEY]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test changing the address and key of a farm, with an error on the way."""
    entry = autoprintfarm_entry(sim, printers=False)
    entry.add_to_hass(hass)
    new_key = await rotate_key(sim, SERVICE_AUTOPRINTFARM)
    new_url = sim.connection["autoprintfarm"]["base_url"] + "/"

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert suggested(result, CONF_URL) == entry.data[CONF_URL]
    # The stored key is not sent back to the browser
    assert suggested(result, CONF_API_KEY) is None

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: closed_url("/v1"), CONF_API_KEY: new_key}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: new_url, CONF_API_KEY: new_key}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {
        CONF_SERVICE: SERVICE_AUTOPRINTFARM,
        CONF_URL: new_url,
        CONF_API_KEY: new_key,
    }


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_printago(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test reconfiguring a Printago store moves its realtime feed with its address."""
    entry = printago_entry(sim)
    entry.add_to_hass(hass)
    user_input = farm_input(sim, SERVICE_PRINTAGO)
    user_input[CONF_URL] = sim.printago_url + "/"

    result = await entry.start_reconfigure_flow(hass)
    assert suggested(result, CONF_STORE_ID) == sim.config.printago_store_id
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**user_input, CONF_STORE_ID: "cOMGKITTENS"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "insufficient_permissions"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_URL] == user_input[CONF_URL]
    assert entry.data[CONF_REALTIME_URL] == sim.connection["printago"]["realtime"]["url"]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_wrong_account(
    hass: HomeAssistant, sim: FarmSim, other_sim: FarmSim
) -> None:
    """Test moving an entry to another account aborts and leaves it unchanged."""
    entry = autoprintfarm_entry(sim, printers=False)
    entry.add_to_hass(hass)
    old_data = dict(entry.data)

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], farm_input(other_sim, SERVICE_AUTOPRINTFARM)
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert entry.data == old_data


async def test_options_flow(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test the budget share and stale timeout are saved and the entry reloads."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    assert hass.states.get("sensor.x1c_01")
    events = async_capture_events(hass, EVENT_STATE_CHANGED)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert suggested(result, CONF_BUDGET_SHARE) == 50
    assert suggested(result, CONF_STALE_TIMEOUT) == 60

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_BUDGET_SHARE: 25.0, CONF_STALE_TIMEOUT: 120.0}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_BUDGET_SHARE: 25, CONF_STALE_TIMEOUT: 120}
    # The reload took the entities down (restored as unavailable) and brought them back
    assert any(
        e.data["entity_id"] == "sensor.x1c_01" and e.data["new_state"].attributes.get("restored")
        for e in events
    )
    assert entry.state is ConfigEntryState.LOADED
    assert (state := hass.states.get("sensor.x1c_01"))
    assert not state.attributes.get("restored")

    # The options flow now suggests the saved values
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(result, CONF_BUDGET_SHARE) == 25
    assert suggested(result, CONF_STALE_TIMEOUT) == 120
    await unload(hass, sim, entry)


async def test_printago_options_have_a_low_stock_threshold(
    hass: HomeAssistant, sim: FarmSim
) -> None:
    """Test Printago entries take a low-stock threshold, which flags low spools."""
    entry = await setup_entry(hass, printago_entry(sim))
    low = next(
        s.entity_id
        for s in hass.states.async_all("binary_sensor")
        if "_tpu_black_" in s.entity_id and s.entity_id.endswith("_low_stock")
    )
    assert (state := hass.states.get(low))
    assert state.state == "on"

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested(result, CONF_LOW_STOCK_GRAMS) == 150
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_BUDGET_SHARE: 50.0, CONF_STALE_TIMEOUT: 60.0, CONF_LOW_STOCK_GRAMS: 100.0},
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_LOW_STOCK_GRAMS] == 100
    assert (state := hass.states.get(low))
    assert state.state == "off"
    await unload(hass, sim, entry)


async def start_printer_flow(hass: HomeAssistant, entry: MockConfigEntry) -> FlowResult:
    """Start adding a printer's LAN connection to an entry."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PRINTER), context={"source": SOURCE_USER}
    )


async def test_printer_subentry(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test connecting a farm printer on the LAN, after a refused access code."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    printer = sim.connection["printers"][0]
    printer_id = printer["autoprintfarm_id"]
    assert broker_clients(sim, printer_id) == 0

    result = await start_printer_flow(hass, entry)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PRINTER_ID: printer_id}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "connection"
    assert result["description_placeholders"] == {"name": printer["name"]}
    assert suggested(result, CONF_SERIAL) == printer["serial"]
    assert suggested(result, CONF_PORT) == 8883
    assert suggested(result, CONF_VERIFY_SSL) is True

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], printer_input(printer, **{CONF_ACCESS_CODE: "OMGSPIDERS"})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_access_code"}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], printer_input(printer, **{CONF_PORT: float(printer["port"])})
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == printer["name"]
    assert result["unique_id"] == printer["serial"]
    (subentry,) = entry.subentries.values()
    assert subentry.unique_id == printer["serial"]
    assert subentry.data == {CONF_PRINTER_ID: printer_id, **printer_input(printer)}

    # The running entry now listens to the printer on the LAN
    assert entry.state is ConfigEntryState.LOADED

    await wait_for(hass, lambda: broker_clients(sim, printer_id) == 1)
    await unload(hass, sim, entry)


@pytest.mark.parametrize(
    ("wrong", "error"),
    [
        (
            {CONF_CA_CERT: "-----BEGIN CERTIFICATE-----\nOMGPUPPIES\n"},
            {CONF_CA_CERT: "invalid_ca_cert"},
        ),
        ({CONF_PORT: closed_port()}, {"base": "cannot_connect"}),
        ({CONF_CA_CERT: ""}, {"base": "cannot_connect"}),
    ],
    ids=["bad_ca_pem", "closed_port", "untrusted_certificate"],
)
async def test_printer_subentry_errors(
    hass: HomeAssistant, sim: FarmSim, wrong: dict[str, Any], error: dict[str, str]
) -> None:
    """Test a printer that cannot be reached or trusted shows an error, then recovers."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    printer = sim.connection["printers"][1]
    result = await start_printer_flow(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PRINTER_ID: printer["autoprintfarm_id"]}
    )

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], printer_input(printer, **wrong)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], printer_input(printer)
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["unique_id"] == printer["serial"]
    await unload(hass, sim, entry)


async def test_printer_subentry_unknown_error(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test an unexpected error while testing a printer shows unknown, then recovers."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim, printers=False))
    printer = sim.connection["printers"][2]
    result = await start_printer_flow(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PRINTER_ID: printer["autoprintfarm_id"]}
    )
    with patch(
        "custom_components.printfarm.config_flow.BambuPrinterClient.test_connection",
        side_effect=Exception,
    ):
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], printer_input(printer)
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], printer_input(printer, **{CONF_VERIFY_SSL: False, CONF_CA_CERT: ""})
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await unload(hass, sim, entry)


async def test_printer_subentry_already_configured(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test a printer already connected on the LAN cannot be connected twice."""
    first, second, _ = sim.connection["printers"]
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=sim.config.farm_name,
        unique_id=f"autoprintfarm_{sim.config.autoprintfarm_account_id}",
        data=dict(autoprintfarm_entry(sim).data),
        subentries_data=[printer_subentry(first)],
    )
    await setup_entry(hass, entry)
    await wait_connected(hass, sim, entry)

    result = await start_printer_flow(hass, entry)
    # The connected printer is no longer offered
    (field,) = result["data_schema"].schema.values()
    assert [o["value"] for o in field.config["options"]] == [
        p["autoprintfarm_id"] for p in sim.connection["printers"][1:]
    ]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_PRINTER_ID: second["autoprintfarm_id"]}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], printer_input(first)
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(entry.subentries) == 1
    await unload(hass, sim, entry)


async def test_printer_subentry_no_printers(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test the flow aborts when every printer of the farm is connected."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim))

    result = await start_printer_flow(hass, entry)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_printers"
    await unload(hass, sim, entry)


async def test_printer_subentry_entry_not_loaded(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test printers can only be added to a loaded farm; once loaded, they can."""
    entry = autoprintfarm_entry(sim, printers=False)
    entry.add_to_hass(hass)

    result = await start_printer_flow(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_not_loaded"

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = await start_printer_flow(hass, entry)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    await unload(hass, sim, entry)


async def test_printer_subentry_reconfigure(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test changing a printer's access code, after a refused one."""
    entry = await setup_entry(hass, autoprintfarm_entry(sim))
    await wait_connected(hass, sim, entry)
    printer = sim.connection["printers"][0]
    subentry = next(s for s in entry.subentries.values() if s.unique_id == printer["serial"])
    # The printer got a new access code; the old one is refused from now on
    sim.world.printer(printer["autoprintfarm_id"]).access_code = "87654321"

    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"name": printer["name"]}
    assert suggested(result, CONF_HOST) == printer["host"]
    assert suggested(result, CONF_ACCESS_CODE) is None
    assert CONF_SERIAL not in result["data_schema"].schema

    changes = printer_input(printer)
    del changes[CONF_SERIAL]
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], changes)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_access_code"}

    changes[CONF_ACCESS_CODE] = "87654321"
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], changes)
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry.subentry_id].data[CONF_ACCESS_CODE] == "87654321"
    assert entry.subentries[subentry.subentry_id].unique_id == printer["serial"]
    assert entry.state is ConfigEntryState.LOADED
    await unload(hass, sim, entry)


async def test_printer_subentries_only_on_autoprintfarm(hass: HomeAssistant, sim: FarmSim) -> None:
    """Test only AutoPrintFarm entries take printer connections; Printago's feed covers all."""
    apf = autoprintfarm_entry(sim, printers=False)
    apf.add_to_hass(hass)
    store = printago_entry(sim)
    store.add_to_hass(hass)

    with pytest.raises(UnknownHandler):
        await start_printer_flow(hass, store)

    assert store.supported_subentry_types == {}
    assert apf.supported_subentry_types == {SUBENTRY_PRINTER: {"supports_reconfigure": True}}
