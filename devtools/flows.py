"""Config entries added through Home Assistant's config-flow and subentry-flow REST API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from .const import LOGGER, SUBENTRY_PRINTER
from .errors import HarnessError
from .farm_connection import PrinterConnection
from .hass_api import HassApi


class FlowError(HarnessError):
    """Raised when a config flow aborts or keeps showing errors."""

    def __init__(self, message: str, result: Mapping[str, Any]) -> None:
        """Keep the flow's last result."""
        super().__init__(message)
        self.result = dict(result)


class FlowApi(HassApi):
    """Config entries: driven through their flows, listed, and waited for until loaded."""

    async def _drive_flow(
        self,
        base_path: str,
        first: Mapping[str, Any],
        answers: Mapping[str, Mapping[str, Any]],
        what: str,
    ) -> dict[str, Any]:
        """Run a data-entry flow to its end, answering each step from `answers`.

        Form answers are cut to the fields the form asks for, so a flow that grows or loses
        an optional field still completes; a step shown again with errors fails.
        """
        result: dict[str, Any] = await self.request("POST", base_path, json_body=dict(first))
        answered: set[str] = set()
        while result["type"] in ("form", "menu"):
            step = str(result["step_id"])
            if result.get("errors") and step in answered:
                msg = f"{what}: step {step!r} answered with errors {result['errors']}"
                raise FlowError(msg, result)
            if step not in answers:
                msg = f"{what}: no answer for step {step!r} ({result})"
                raise FlowError(msg, result)
            answer = dict(answers[step])
            if result["type"] == "form":
                fields = {str(f["name"]) for f in result.get("data_schema", [])}
                unknown = answer.keys() - fields
                if unknown:
                    LOGGER.debug("%s: step %s does not ask for %s", what, step, sorted(unknown))
                answer = {key: value for key, value in answer.items() if key in fields}
            answered.add(step)
            result = await self.request(
                "POST", f"{base_path}/{result['flow_id']}", json_body=answer
            )
        if result["type"] != "create_entry":
            msg = f"{what}: flow ended with {result['type']} {result.get('reason', '')}".strip()
            raise FlowError(msg, result)
        return result

    async def config_flow(
        self, handler: str, answers: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Add a config entry through the config flow; return the created entry."""
        result = await self._drive_flow(
            "/api/config/config_entries/flow",
            {"handler": handler, "show_advanced_options": False},
            answers,
            f"config flow of {handler}",
        )
        entry: dict[str, Any] = result["result"]
        return entry

    async def subentry_flow(
        self, entry_id: str, subentry_type: str, answers: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Add a subentry to a config entry through its subentry flow."""
        return await self._drive_flow(
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, subentry_type], "show_advanced_options": False},
            answers,
            f"{subentry_type} subentry flow",
        )

    async def config_entries(self, domain: str) -> list[dict[str, Any]]:
        """Return the config entries of a domain."""
        entries: list[dict[str, Any]] = await self.ws_call(
            {"type": "config_entries/get", "domain": domain}
        )
        return entries

    async def wait_entry_loaded(self, entry_id: str, within: float = 60.0) -> dict[str, Any]:
        """Wait until a config entry is loaded; fail early when its setup failed for good."""
        deadline = time.monotonic() + within
        while True:
            entries = await self.request("GET", "/api/config/config_entries/entry")
            entry = next((e for e in entries if e["entry_id"] == entry_id), None)
            if entry is None:
                msg = f"config entry {entry_id} is gone"
                raise HarnessError(msg)
            if entry["state"] == "loaded":
                return dict(entry)
            if entry["state"] in ("setup_error", "migration_error", "failed_unload"):
                msg = f"config entry {entry['title']} failed: {entry.get('reason')}"
                raise HarnessError(msg)
            if time.monotonic() > deadline:
                msg = (
                    f"config entry {entry['title']} not loaded within {within:g}s "
                    f"({entry['state']}: {entry.get('reason')})"
                )
                raise HarnessError(msg)
            await asyncio.sleep(0.25)


async def add_printer(client: FlowApi, entry_id: str, printer: PrinterConnection) -> None:
    """Add a printer's Bambu LAN connection as a subentry, certificate check on."""
    answers: dict[str, dict[str, Any]] = {
        "user": {"printer_id": printer.autoprintfarm_id},
        "connection": {
            "host": printer.host,
            "port": printer.port,
            "serial": printer.serial,
            "access_code": printer.access_code,
            "verify_ssl": True,
            "ca_cert": printer.ca_pem(),
        },
    }
    try:
        await client.subentry_flow(entry_id, SUBENTRY_PRINTER, answers)
    except FlowError as err:
        if err.result.get("reason") != "entry_not_loaded":
            raise
        await client.wait_entry_loaded(entry_id)
        await client.subentry_flow(entry_id, SUBENTRY_PRINTER, answers)
