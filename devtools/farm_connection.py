"""What to connect to: farmsim's connection file, and the farm services it describes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from .const import SERVICE_AUTOPRINTFARM, SERVICE_PRINTAGO


@dataclass(frozen=True, kw_only=True)
class PrinterConnection:
    """How to reach one Bambu Lab printer on the LAN (a line of farmsim's connection file)."""

    name: str
    serial: str
    model: str
    host: str
    port: int
    access_code: str
    ca_cert: Path | None
    autoprintfarm_id: str
    printago_id: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Return the printer a connection file describes."""
        return cls(
            name=str(data["name"]),
            serial=str(data["serial"]),
            model=str(data.get("model", "")),
            host=str(data["host"]),
            port=int(data["port"]),
            access_code=str(data["access_code"]),
            ca_cert=Path(data["ca_cert"]) if data.get("ca_cert") else None,
            autoprintfarm_id=str(data.get("autoprintfarm_id", "")),
            printago_id=str(data.get("printago_id", "")),
        )

    def ca_pem(self) -> str:
        """Return the PEM text of the CA that signed the printer's certificate, or ''."""
        return self.ca_cert.read_text(encoding="utf-8") if self.ca_cert else ""


@dataclass(frozen=True, kw_only=True)
class FarmService:
    """One farm service to add to Home Assistant as a printfarm entry."""

    service: str
    url: str
    api_key: str
    store_id: str = ""
    realtime_url: str = ""
    # Bambu LAN connections to add as `printer` subentries (AutoPrintFarm only).
    printers: tuple[PrinterConnection, ...] = ()

    def answers(self) -> dict[str, dict[str, Any]]:
        """Return the answers to the config flow's steps, keyed by step id."""
        form: dict[str, Any] = {"url": self.url, "api_key": self.api_key}
        if self.service == SERVICE_PRINTAGO:
            form["store_id"] = self.store_id
            if self.realtime_url:
                form["realtime_url"] = self.realtime_url
        return {"user": {"next_step_id": self.service}, self.service: form}


@dataclass(frozen=True, kw_only=True)
class FarmConnection:
    """farmsim's connection file: every face of the simulated farm."""

    autoprintfarm_url: str
    autoprintfarm_api_key: str
    printago_url: str
    printago_api_key: str
    printago_store_id: str
    printago_realtime_url: str
    printers: tuple[PrinterConnection, ...]
    admin_url: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Return the connection a parsed connection file describes."""
        apf = data["autoprintfarm"]
        printago = data["printago"]
        return cls(
            autoprintfarm_url=str(apf["base_url"]),
            autoprintfarm_api_key=str(apf["api_key"]),
            printago_url=str(printago["base_url"]),
            printago_api_key=str(printago["api_key"]),
            printago_store_id=str(printago["store_id"]),
            printago_realtime_url=str(printago.get("realtime", {}).get("url", "")),
            printers=tuple(PrinterConnection.from_json(p) for p in data.get("printers", [])),
            admin_url=str(data.get("admin_url", "")),
        )

    @classmethod
    def load(cls, path: Path) -> Self:
        """Read a connection file."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def services(self) -> list[FarmService]:
        """Return both farm services; the AutoPrintFarm one with every printer's LAN link."""
        return [
            FarmService(
                service=SERVICE_AUTOPRINTFARM,
                url=self.autoprintfarm_url,
                api_key=self.autoprintfarm_api_key,
                printers=self.printers,
            ),
            FarmService(
                service=SERVICE_PRINTAGO,
                url=self.printago_url,
                api_key=self.printago_api_key,
                store_id=self.printago_store_id,
                realtime_url=self.printago_realtime_url,
            ),
        ]
