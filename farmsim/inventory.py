"""The farm's filament: spools, material profiles and what is loaded in the trays."""

from __future__ import annotations

from typing import Any

from .errors import InvalidStateError, NotFoundError, ValidationError
from .models import MaterialProfile, Printer, Spool
from .printing import Printing
from .state import running_job


class Inventory(Printing):
    """The filament part of the world: spools in stock and loaded in printers."""

    def add_spool(
        self,
        *,
        material: str,
        color_name: str,
        color_hex: str,
        remaining_grams: float,
        brand: str = "Bambu Lab",
        capacity_grams: float = 1000.0,
        low_threshold_grams: float = 150.0,
        cost_per_kg: float | None = None,
        location: str = "Shelf",
    ) -> Spool:
        """Add a spool of filament to the inventory."""
        now = self.clock.now()
        if cost_per_kg is None:
            profile = self.profile_for(material)
            cost_per_kg = profile.cost_per_kg if profile else 20.0
        spool = Spool(
            id=self.new_id("mat_"),
            printago_id=self.new_printago_id(),
            material=material.upper(),
            brand=brand,
            color_name=color_name,
            color_hex=color_hex.upper(),
            remaining_grams=remaining_grams,
            capacity_grams=capacity_grams,
            low_threshold_grams=low_threshold_grams,
            cost_per_kg=cost_per_kg,
            location=location,
            created_at=now,
            updated_at=now,
        )
        spool.low_stock_alerted = spool.low_stock
        self.spools[spool.id] = spool
        self.emit("material.added", spool_id=spool.id)
        return spool

    def add_profile(
        self,
        *,
        name: str,
        material: str,
        nozzle_temp: float,
        bed_temp: float,
        density: float,
        cost_per_kg: float,
    ) -> MaterialProfile:
        """Add a material profile."""
        now = self.clock.now()
        profile = MaterialProfile(
            id=self.new_id("mpr_"),
            name=name,
            material=material.upper(),
            nozzle_temp=nozzle_temp,
            bed_temp=bed_temp,
            density=density,
            cost_per_kg=cost_per_kg,
            created_at=now,
            updated_at=now,
        )
        self.profiles[profile.id] = profile
        return profile

    def load_spool(self, printer_id: str, tray_id: int, spool_id: str | None) -> Printer:
        """Load a spool into a tray of a printer (None empties the tray)."""
        printer = self.printer(printer_id)
        tray = next((t for t in printer.trays if t.tray_id == tray_id), None)
        if tray is None:
            msg = f"Printer {printer.name} has no tray {tray_id}"
            raise NotFoundError("tray_not_found", "Tray not found", msg)
        if spool_id is not None:
            spool = self.spool(spool_id)
            if (holder := self.printer_of_spool(spool.id)) is not None:
                for other in holder.trays:
                    if other.spool_id == spool.id:
                        other.spool_id = None
            spool.location = printer.name
            spool_id = spool.id
        tray.spool_id = spool_id
        self._touch(printer)
        return printer

    def update_spool(self, spool_id: str, **changes: Any) -> Spool:
        """Change fields of a spool (remaining grams, threshold, location, ...)."""
        spool = self.spool(spool_id)
        for key, value in changes.items():
            if value is None:
                continue
            if not hasattr(spool, key) or key in ("id", "printago_id", "created_at"):
                msg = f"Unknown material field {key}"
                raise ValidationError("invalid_field", msg, msg)
            setattr(spool, key, value)
        if not spool.low_stock:
            spool.low_stock_alerted = False
        self._touch(spool)
        self.emit("material.updated", spool_id=spool.id)
        self._check_low_stock(spool)
        self.tick()
        return spool

    def delete_spool(self, spool_id: str) -> Spool:
        """Remove a spool from the inventory, unloading it first."""
        spool = self.spool(spool_id)
        if (printer := self.printer_of_spool(spool.id)) is not None:
            job = running_job(self, printer)
            if job is not None and job.spool_id == spool.id:
                msg = f"Material {spool.id} is in use on {printer.name}"
                raise InvalidStateError("material_in_use", "Material is in use", msg)
            for tray in printer.trays:
                if tray.spool_id == spool.id:
                    tray.spool_id = None
        del self.spools[spool.id]
        self.emit("material.deleted", spool_id=spool.id)
        return spool
