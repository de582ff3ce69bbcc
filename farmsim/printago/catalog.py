"""Filament and part catalogue entities: materials, variants, instances, parts, part builds."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from .entities import material_id, rgba, stamp, variant_id

if TYPE_CHECKING:
    from farmsim.context import SimContext
    from farmsim.models import Part, Spool

    from .schemas import MaterialEntity, MaterialInstanceEntity, MaterialVariantEntity, PartEntity

PART_TYPES: Final = frozenset(
    {"scad", "cadquery", "build123d", "stl", "step", "3mf", "gcode3mf", "gcode"}
)
SLICER_VERSION: Final = "2.1.1"
GRAMS_PER_METER: Final = 2.98


def part_type_of(uri: str) -> str:
    """Return the Printago part type of a model file (by its extension, `stl` if unknown)."""
    path = urlsplit(uri).path.lower()
    if path.endswith(".gcode.3mf"):
        return "gcode3mf"
    extension = path.rsplit(".", 1)[-1] if "." in path else ""
    return extension if extension in PART_TYPES else "stl"


def _by_creation(spools: list[Spool]) -> list[Spool]:
    """Return spools oldest first."""
    return sorted(spools, key=lambda spool: (spool.created_at, spool.id))


def materials(ctx: SimContext) -> list[MaterialEntity]:
    """Return one material per brand and filament type in the inventory."""
    found: dict[str, MaterialEntity] = {}
    for spool in _by_creation(list(ctx.world.spools.values())):
        key = material_id(spool)
        if key in found:
            continue
        found[key] = {
            "id": key,
            "storeId": ctx.config.printago_store_id,
            "createdAt": stamp(spool.created_at),
            "updatedAt": stamp(spool.created_at),
            "name": f"{spool.brand} {spool.material}",
            "brand": spool.brand,
            "type": spool.material,
            "identifier": None,
            "tags": [],
            "filamentUserProfileId": None,
            "filamentSystemProfileId": None,
            "starred": False,
            "pricePer1000g": spool.cost_per_kg,
            "source": None,
            "externalId": None,
        }
    return list(found.values())


def variants(ctx: SimContext) -> list[MaterialVariantEntity]:
    """Return one variant per material and colour in the inventory."""
    found: dict[str, MaterialVariantEntity] = {}
    for spool in _by_creation(list(ctx.world.spools.values())):
        key = variant_id(spool)
        if key in found:
            continue
        found[key] = {
            "id": key,
            "storeId": ctx.config.printago_store_id,
            "createdAt": stamp(spool.created_at),
            "updatedAt": stamp(spool.created_at),
            "name": spool.color_name,
            "materialId": material_id(spool),
            "color": rgba(spool.color_hex),
            "tags": [],
            "filamentUserProfileId": None,
            "filamentSystemProfileId": None,
            "pricePer1000g": spool.cost_per_kg,
            "pressureAdvance": None,
            "source": None,
            "externalId": None,
        }
    return list(found.values())


def instance_entity(ctx: SimContext, spool: Spool) -> MaterialInstanceEntity:
    """Return a spool as a Printago `MaterialInstance`."""
    return {
        "id": spool.printago_id,
        "storeId": ctx.config.printago_store_id,
        "createdAt": stamp(spool.created_at),
        "updatedAt": stamp(spool.updated_at),
        "variantId": variant_id(spool),
        "materialId": material_id(spool),
        "materialType": spool.material,
        "remainingMaterial": round(spool.remaining_grams, 2),
        "source": None,
        "externalId": None,
    }


def instances(ctx: SimContext) -> list[MaterialInstanceEntity]:
    """Return every spool as a material instance."""
    return [instance_entity(ctx, spool) for spool in ctx.world.spools.values()]


def part_entity(ctx: SimContext, part: Part) -> PartEntity:
    """Return a part as a Printago `Part` with its slicing estimate."""
    profile = part.profile
    material = profile.material or "PLA"
    part_type = part.type if part.type in PART_TYPES else part_type_of(part.file_uris[0])
    return {
        "id": part.id,
        "storeId": ctx.config.printago_store_id,
        "createdAt": stamp(part.created_at),
        "updatedAt": stamp(part.updated_at),
        "name": part.name,
        "type": part_type,
        "description": "",
        "fileUris": list(part.file_uris),
        "fileHashes": [hashlib.sha256(uri.encode()).hexdigest() for uri in part.file_uris],
        "thumbnailUri": None,
        "parameters": [],
        "printTags": dict(part.print_tags),
        "overriddenProcessProfileId": None,
        "folderId": None,
        "materials": [{"index": 0, "color": None, "type": material}],
        "slicerOverride": None,
        "metadata": None,
        "slicingEstimate": {
            "estimatedPrintTimeSeconds": profile.print_seconds,
            "totalWeightGrams": profile.grams,
            "materials": [
                {
                    "index": 0,
                    "usedGrams": profile.grams,
                    "usedMeters": round(profile.grams / GRAMS_PER_METER, 2),
                    "materialType": material,
                    "color": None,
                }
            ],
            "slicedAt": stamp(part.created_at),
            "slicerVersion": SLICER_VERSION,
        },
        "use3MFProcessProfile": False,
        "arrangeable": False,
        "userTags": [],
        "gcodePlateUris": None,
        "uploadedAt": stamp(part.created_at),
    }


def parts(ctx: SimContext) -> list[PartEntity]:
    """Return every part entity."""
    return [part_entity(ctx, part) for part in ctx.world.parts.values()]


def variant_spool(ctx: SimContext, wanted: str) -> Spool | None:
    """Return a spool of a variant or material id, if the inventory has one."""
    for spool in _by_creation(list(ctx.world.spools.values())):
        if wanted in (variant_id(spool), material_id(spool)):
            return spool
    return None
