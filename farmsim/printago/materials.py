"""Printago filament endpoints: materials, variants and material instances (spools)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from . import catalog, entities
from .common import bad_request, ctx_of, not_found, read_body
from .schemas import MATERIAL_FIELDS, MATERIAL_INSTANCE_FIELDS, MATERIAL_VARIANT_FIELDS
from .views import json_list, list_response, search_response

if TYPE_CHECKING:
    from collections.abc import Mapping

    from farmsim.models import Spool

routes = web.RouteTableDef()


def _grams(body: Mapping[str, object], *, required: bool) -> float | None:
    """Return a validated `remainingMaterial`."""
    value = body.get("remainingMaterial")
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        msg = "remainingMaterial must be a number not less than 0"
        raise bad_request(msg)
    return float(value)


@routes.get("/v1/materials")
async def list_materials(request: web.Request) -> web.Response:
    """List materials (one per brand and filament type)."""
    return list_response(request, catalog.materials(ctx_of(request)), MATERIAL_FIELDS)


@routes.post("/v1/materials/search")
async def search_materials(request: web.Request) -> web.Response:
    """Search materials."""
    ctx = ctx_of(request)
    return await search_response(request, lambda: catalog.materials(ctx), MATERIAL_FIELDS)


@routes.get("/v1/materials/variants")
@routes.get("/v1/material-variants")
async def list_variants(request: web.Request) -> web.Response:
    """List material variants (one per material and colour)."""
    return list_response(request, catalog.variants(ctx_of(request)), MATERIAL_VARIANT_FIELDS)


@routes.get("/v1/materials/variants/{id}")
async def get_variant(request: web.Request) -> web.Response:
    """Return one material variant."""
    wanted = request.match_info["id"]
    for variant in catalog.variants(ctx_of(request)):
        if variant["id"] == wanted:
            return web.json_response(variant)
    msg = "Material variant"
    raise not_found(msg)


@routes.get("/v1/materials/instances")
async def list_instances(request: web.Request) -> web.Response:
    """List material instances (spools)."""
    return list_response(request, catalog.instances(ctx_of(request)), MATERIAL_INSTANCE_FIELDS)


@routes.post("/v1/materials/instances")
async def create_instance(request: web.Request) -> web.Response:
    """Add a spool of a known variant (or of a bare filament type) to the inventory."""
    ctx = ctx_of(request)
    body = await read_body(request)
    grams = _grams(body, required=True) or 0.0
    template: Spool | None = None
    for key, what in (("variantId", "Material variant"), ("materialId", "Material")):
        if isinstance(wanted := body.get(key), str) and wanted:
            if (template := catalog.variant_spool(ctx, wanted)) is None:
                raise not_found(what)
            break
    if template is not None:
        spool = ctx.world.add_spool(
            material=template.material,
            brand=template.brand,
            color_name=template.color_name,
            color_hex=template.color_hex,
            remaining_grams=grams,
            capacity_grams=max(template.capacity_grams, grams),
        )
    elif isinstance(kind := body.get("materialType"), str) and kind:
        spool = ctx.world.add_spool(
            material=kind,
            brand="Generic",
            color_name="White",
            color_hex="#FFFFFF",
            remaining_grams=grams,
            capacity_grams=max(1000.0, grams),
        )
    else:
        msg = "variantId, materialId or materialType is required"
        raise bad_request(msg)
    return web.json_response(catalog.instance_entity(ctx, spool), status=201)


@routes.get("/v1/materials/instances/{id}")
async def get_instance(request: web.Request) -> web.Response:
    """Return one material instance."""
    ctx = ctx_of(request)
    spool = entities.find_spool(ctx.world, request.match_info["id"])
    return web.json_response(catalog.instance_entity(ctx, spool))


@routes.put("/v1/materials/instances/{id}")
async def update_instance(request: web.Request) -> web.Response:
    """Change a material instance (partial body: remainingMaterial)."""
    ctx = ctx_of(request)
    spool = entities.find_spool(ctx.world, request.match_info["id"])
    body = await read_body(request)
    if (grams := _grams(body, required=False)) is not None:
        ctx.world.update_spool(spool.id, remaining_grams=grams)
    return web.json_response(catalog.instance_entity(ctx, spool))


@routes.delete("/v1/materials/instances/{id}")
async def delete_instance(request: web.Request) -> web.Response:
    """Remove a material instance; answer its id in a list."""
    ctx = ctx_of(request)
    spool = entities.find_spool(ctx.world, request.match_info["id"])
    ctx.world.delete_spool(spool.id)
    return json_list([spool.printago_id])


@routes.get("/v1/materials/{id}")
async def get_material(request: web.Request) -> web.Response:
    """Return one material."""
    wanted = request.match_info["id"]
    for material in catalog.materials(ctx_of(request)):
        if material["id"] == wanted:
            return web.json_response(material)
    msg = "Material"
    raise not_found(msg)


@routes.get("/v1/stores")
async def list_stores(request: web.Request) -> web.Response:
    """List the stores the key can see (exactly one)."""
    return json_list([entities.store_entity(ctx_of(request))])
