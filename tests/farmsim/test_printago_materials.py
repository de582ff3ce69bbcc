"""Tests for materials, variants, material instances and stores of farmsim's Printago face."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from farmsim.context import SimConfig
from farmsim.printago import PrintagoServer
from farmsim.printago.schemas import (
    MATERIAL_FIELDS,
    MATERIAL_INSTANCE_FIELDS,
    MATERIAL_VARIANT_FIELDS,
    STORE_FIELDS,
)

from .helpers import call, sim_context


@pytest.fixture
async def server() -> AsyncIterator[PrintagoServer]:
    ctx = sim_context(SimConfig(seed=17), printers=2)
    async with PrintagoServer(ctx, realtime=False) as running:
        yield running


async def test_materials_and_variants(session: aiohttp.ClientSession) -> None:
    status, materials = await call(session, "GET", "/v1/materials", sort="type")
    assert status == 200
    assert [m["name"] for m in materials] == ["Bambu Lab PETG", "Bambu Lab PLA", "Bambu Lab TPU"]
    assert set(materials[0]) == MATERIAL_FIELDS
    pla = materials[1]
    assert (pla["brand"], pla["type"]) == ("Bambu Lab", "PLA")
    assert await call(session, "GET", f"/v1/materials/{pla['id']}") == (200, pla)
    assert (await call(session, "GET", "/v1/materials/nope"))[0] == 404
    status, found = await call(session, "POST", "/v1/materials/search", {"filter": {"type": "TPU"}})
    assert (status, found["meta"]["total"]) == (201, 1)
    status, variants = await call(session, "GET", "/v1/materials/variants", materialId=pla["id"])
    assert set(variants[0]) == MATERIAL_VARIANT_FIELDS
    assert all(v["color"].startswith("#") and len(v["color"]) == 9 for v in variants)
    assert {v["name"] for v in variants} >= {"Black", "White", "Red"}
    variant = variants[0]
    assert await call(session, "GET", f"/v1/materials/variants/{variant['id']}") == (200, variant)
    assert (await call(session, "GET", "/v1/materials/variants/nope"))[0] == 404
    status, alias = await call(session, "GET", "/v1/material-variants")
    assert len(alias) >= len(variants)


async def test_instances(server: PrintagoServer, session: aiohttp.ClientSession) -> None:
    world = server.ctx.world
    status, low = await call(session, "GET", "/v1/materials/instances", materialType="TPU")
    assert status == 200
    (tpu,) = low
    assert set(tpu) == MATERIAL_INSTANCE_FIELDS
    assert tpu["remainingMaterial"] == 120
    status, variants = await call(session, "GET", "/v1/materials/variants")
    variant = next(v for v in variants if v["materialId"] == tpu["materialId"])
    body = {
        "variantId": variant["id"],
        "materialId": tpu["materialId"],
        "materialType": "TPU",
        "remainingMaterial": 750,
    }
    status, created = await call(session, "POST", "/v1/materials/instances", body)
    assert status == 201
    assert (created["variantId"], created["remainingMaterial"]) == (variant["id"], 750)
    spool = world.spool(created["id"])
    assert (spool.material, spool.color_hex) == ("TPU", "#161616")
    body = {"materialId": tpu["materialId"], "remainingMaterial": 10}
    status, by_material = await call(session, "POST", "/v1/materials/instances", body)
    assert (status, by_material["materialType"]) == (201, "TPU")
    body = {"materialType": "ASA", "remainingMaterial": 1000}
    status, generic = await call(session, "POST", "/v1/materials/instances", body)
    assert status == 201
    status, materials = await call(session, "GET", "/v1/materials", type="ASA")
    assert [(m["id"], m["brand"]) for m in materials] == [(generic["materialId"], "Generic")]
    for bad, expected in (
        ({"variantId": "nope", "remainingMaterial": 1}, 404),
        ({"materialId": "nope", "remainingMaterial": 1}, 404),
        ({"remainingMaterial": 1}, 400),
        ({"materialType": "PLA", "remainingMaterial": -1}, 400),
        ({"materialType": "PLA"}, 400),
    ):
        assert (await call(session, "POST", "/v1/materials/instances", bad))[0] == expected
    path = f"/v1/materials/instances/{created['id']}"
    status, updated = await call(session, "PUT", path, {"remainingMaterial": 99.5})
    assert (status, updated["remainingMaterial"]) == (200, 99.5)
    assert spool.remaining_grams == 99.5
    assert (await call(session, "PUT", path, {}))[1]["remainingMaterial"] == 99.5
    assert (await call(session, "PUT", path, {"remainingMaterial": "lots"}))[0] == 400
    assert await call(session, "DELETE", path) == (200, [created["id"]])
    assert (await call(session, "GET", path))[0] == 404


async def test_spool_in_use_cannot_be_deleted(
    server: PrintagoServer, session: aiohttp.ClientSession
) -> None:
    world = server.ctx.world
    target = next(iter(world.printers.values()))
    url = "https://files.example.invalid/a.3mf?sim_seconds=900&sim_grams=5"
    job = world.submit_job(source="printago", file_url=url, printer_id=target.id)
    spool = world.spools[job.spool_id or ""]
    status, error = await call(session, "DELETE", f"/v1/materials/instances/{spool.printago_id}")
    assert (status, error["error"]) == (409, "Conflict")
    assert target.name in error["message"]


async def test_stores(server: PrintagoServer, session: aiohttp.ClientSession) -> None:
    status, stores = await call(session, "GET", "/v1/stores")
    assert status == 200
    (store,) = stores
    assert set(store) == STORE_FIELDS
    assert store["id"] == server.ctx.config.printago_store_id
