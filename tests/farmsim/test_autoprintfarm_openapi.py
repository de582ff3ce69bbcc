"""Tests that farmsim's AutoPrintFarm OpenAPI document is true to the server."""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from farmsim.autoprintfarm.app import ROUTES
from farmsim.autoprintfarm.openapi import build_openapi
from farmsim.autoprintfarm.state import HUB
from farmsim.context import SimConfig

from . import helpers
from .helpers import START, serve_autoprintfarm, sim_context, wait_until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SECRET = "whsec_OMGPUPPIES_0123456789"
TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


@dataclass
class Farm(helpers.Farm):
    """A running API with a client session, and the OpenAPI document it serves."""

    document: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
async def farm() -> AsyncIterator[Farm]:
    ctx = sim_context(SimConfig(seed=11, webhook_retry_delays=()), printers=3, start=START)
    async with serve_autoprintfarm(ctx, Farm) as farm:
        async with farm.session.get(farm.base + "/openapi.json") as response:
            assert response.status == 200
            farm.document = await response.json()
        yield farm


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def check(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str = "$") -> None:
    """Validate a value against the subset of JSON Schema the document uses."""
    schema = resolve(document, schema)
    if "anyOf" in schema:
        matched = any(_valid(document, option, value, where) for option in schema["anyOf"])
        assert matched, f"{where}: {value!r} matches no anyOf option"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} != {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert any(_is(kind, value) for kind in kinds), f"{where}: {value!r} is not {kinds}"
    if isinstance(value, dict):
        _check_object(document, schema, value, where)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check(document, schema["items"], item, f"{where}[{index}]")


def _valid(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> bool:
    try:
        check(document, schema, value, where)
    except AssertionError:
        return False
    return True


def _check_object(
    document: dict[str, Any], schema: dict[str, Any], value: dict[str, Any], where: str
) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        assert name in value, f"{where}: missing {name}"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            check(document, properties[name], item, f"{where}.{name}")
            continue
        assert extra is not False, f"{where}: undocumented property {name}"
        if isinstance(extra, dict):
            check(document, extra, item, f"{where}.{name}")


def _is(kind: str, value: Any) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])


def response_schema(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    operation = document["paths"][path][method]
    response = resolve(document, operation["responses"][str(status)])
    return response["content"]["application/json"]["schema"]


def validate(
    farm: Farm, path: str, method: str, status: int, body: Any, *, jsonschema_too: bool = True
) -> None:
    schema = response_schema(farm.document, path, method, status)
    check(farm.document, schema, body)
    if jsonschema_too and importlib.util.find_spec("jsonschema") is not None:
        jsonschema: Any = importlib.import_module("jsonschema")
        wrapped = {**schema, "components": farm.document["components"]}
        jsonschema.Draft202012Validator(wrapped).validate(body)


def routed(app: web.Application) -> set[tuple[str, str]]:
    pairs = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        if route.method in ("HEAD", "*"):
            continue
        pairs.add((route.method.lower(), resource.canonical))
    return pairs


async def test_document_is_served_without_auth(farm: Farm) -> None:
    document = farm.document
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/v1"}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document == build_openapi()
    assert farm.ctx.counters.requests["autoprintfarm"] == {}
    assert set(document["webhooks"]) >= {"job.completed", "printer.offline", "material.low_stock"}


async def test_documented_paths_match_routes(farm: Farm) -> None:
    documented = {
        (method, "/v1" + path)
        for path, operations in farm.document["paths"].items()
        for method in operations
    }
    served = routed(farm.app) - {("get", "/openapi.json")}
    assert documented == served
    scopes = {(r.method.lower(), "/v1" + r.path): r.scope for r in ROUTES}
    for path, operations in farm.document["paths"].items():
        for method, operation in operations.items():
            scope = scopes[method, "/v1" + path]
            assert operation["security"] == [{"bearerAuth": [scope] if scope else []}]
            names = {
                resolve(farm.document, p)["name"]
                for p in operation["parameters"]
                if resolve(farm.document, p)["in"] == "path"
            }
            assert names == set(re.findall(r"{(\w+)}", path)), path
            for response in operation["responses"].values():
                resolve(farm.document, response)


async def test_every_reference_resolves(farm: Farm) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(farm.document, node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(farm.document)


async def test_responses_match_schemas(farm: Farm) -> None:
    world = farm.ctx.world
    printer_id = next(iter(world.printers))
    spool_id = next(iter(world.spools))
    url = "https://files.example.com/a.gcode?sim_seconds=600&sim_grams=10"
    status, body, _ = await farm.call(
        "POST",
        "/v1/jobs",
        json={"file_url": url, "printer_id": printer_id, "sale_price": 5.0},
        headers={"Idempotency-Key": "doc-1"},
    )
    validate(farm, "/jobs", "post", status, body)
    job_id = body["data"]["id"]
    status, body, _ = await farm.call(
        "POST", "/v1/jobs", json={"file_url": url}, headers={"Idempotency-Key": "doc-1"}
    )
    validate(farm, "/jobs", "post", status, body)
    world.clock.advance(500)
    status, body, _ = await farm.call(
        "POST", f"/v1/printers/{printer_id}/control", json={"action": "pause"}
    )
    validate(farm, "/printers/{printer_id}/control", "post", status, body)
    status, body, _ = await farm.call("POST", f"/v1/printers/{printer_id}/control", json={})
    validate(farm, "/printers/{printer_id}/control", "post", status, body)
    await farm.call("POST", f"/v1/jobs/{job_id}/resume")
    world.clock.advance(3000)
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": SECRET}
    status, body, _ = await farm.call("POST", "/v1/webhooks", json=hook)
    validate(farm, "/webhooks", "post", status, body)
    hook_id = body["data"]["id"]
    await farm.call("POST", f"/v1/webhooks/{hook_id}/test")
    await wait_until(lambda: farm.ctx.counters.webhooks["failed"] > 0)
    status, body, _ = await farm.call(
        "POST", "/v1/materials", json={"type": "PLA", "color": "Blue"}
    )
    validate(farm, "/materials", "post", status, body)
    status, body, _ = await farm.call(
        "POST",
        "/v1/materials/profiles",
        json={"name": "x", "material": "PLA", "nozzle_temp": 200, "bed_temp": 60},
    )
    validate(farm, "/materials/profiles", "post", status, body)
    profile_id = body["data"]["id"]
    reads = {
        "/printers": "/v1/printers",
        "/printers/groups": "/v1/printers/groups",
        "/printers/{printer_id}": f"/v1/printers/{printer_id}",
        "/printers/{printer_id}/settings": f"/v1/printers/{printer_id}/settings",
        "/jobs": "/v1/jobs",
        "/jobs/history": "/v1/jobs/history",
        "/jobs/{job_id}": f"/v1/jobs/{job_id}",
        "/jobs/{job_id}/progress": f"/v1/jobs/{job_id}/progress",
        "/materials": "/v1/materials",
        "/materials/consumption": "/v1/materials/consumption",
        "/materials/alerts": "/v1/materials/alerts",
        "/materials/{material_id}": f"/v1/materials/{spool_id}",
        "/materials/profiles": "/v1/materials/profiles",
        "/materials/profiles/{profile_id}": f"/v1/materials/profiles/{profile_id}",
        "/analytics/summary": "/v1/analytics/summary",
        "/analytics/performance": "/v1/analytics/performance",
        "/analytics/reports": "/v1/analytics/reports",
        "/analytics/export": "/v1/analytics/export?format=json",
        "/analytics/costs": "/v1/analytics/costs",
        "/webhooks": "/v1/webhooks",
        "/webhooks/{webhook_id}": f"/v1/webhooks/{hook_id}",
        "/webhooks/{webhook_id}/deliveries": f"/v1/webhooks/{hook_id}/deliveries",
    }
    for path, real in reads.items():
        status, body, headers = await farm.call("GET", real)
        assert status == 200, real
        validate(farm, path, "get", status, body)
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(headers)
    writes: tuple[tuple[str, str, str, dict[str, Any] | None], ...] = (
        ("/printers/{printer_id}", "patch", f"/v1/printers/{printer_id}", {"location": "Lab"}),
        ("/printers/{printer_id}/settings", "patch", f"/v1/printers/{printer_id}/settings", {}),
        ("/printers/{printer_id}/light", "post", f"/v1/printers/{printer_id}/light", {"state": 1}),
        ("/jobs/{job_id}", "patch", f"/v1/jobs/{job_id}", {"priority": "low"}),
        ("/jobs/{job_id}/retry", "post", f"/v1/jobs/{job_id}/retry", None),
        ("/jobs/{job_id}/cancel", "post", f"/v1/jobs/{job_id}/cancel", None),
        ("/materials/{material_id}", "patch", f"/v1/materials/{spool_id}", {"low_threshold": 1}),
        (
            "/materials/profiles/{profile_id}",
            "delete",
            f"/v1/materials/profiles/{profile_id}",
            None,
        ),
        ("/webhooks/{webhook_id}", "delete", f"/v1/webhooks/{hook_id}", None),
        ("/webhooks/{webhook_id}", "get", f"/v1/webhooks/{hook_id}", None),
        ("/jobs/{job_id}/pause", "post", f"/v1/jobs/{job_id}/pause", None),
    )
    for path, method, real, payload in writes:
        status, body, _ = await farm.call(method.upper(), real, json=payload)
        validate(farm, path, method, status, body)


async def test_error_responses_match_schemas(farm: Farm) -> None:
    status, body, _ = await farm.call("GET", "/v1/printers", headers={"Authorization": "Bearer x"})
    assert status == 401
    validate(farm, "/printers", "get", status, body)
    farm.ctx.faults.autoprintfarm.rate_limit_storm = True
    status, body, headers = await farm.call("GET", "/v1/jobs")
    validate(farm, "/jobs", "get", status, body)
    assert (
        "Retry-After"
        in resolve(farm.document, {"$ref": "#/components/responses/RateLimited"})["headers"]
    )
    assert "Retry-After" in headers
    farm.ctx.faults.autoprintfarm.rate_limit_storm = False
    farm.ctx.faults.autoprintfarm.error_next = 1
    status, body, _ = await farm.call("GET", "/v1/jobs")
    validate(farm, "/jobs", "get", status, body)
    status, body, _ = await farm.call(
        "POST", "/v1/jobs", json={"file_url": "x"}, headers={"Idempotency-Key": "k"}
    )
    validate(farm, "/jobs", "post", status, body)
    await farm.call(
        "POST",
        "/v1/jobs",
        json={"file_url": "https://a.example/b.gcode"},
        headers={"Idempotency-Key": "k"},
    )
    status, body, _ = await farm.call(
        "POST",
        "/v1/jobs",
        json={"file_url": "https://a.example/c.gcode"},
        headers={"Idempotency-Key": "k"},
    )
    assert status == 422
    validate(farm, "/jobs", "post", status, body)


async def test_webhook_payloads_match_the_event_schema(farm: Farm) -> None:
    hub_payloads = []
    world = farm.ctx.world
    hub = farm.app[HUB]
    world.subscribe(lambda event: hub_payloads.append(hub.payload(event, event.type)))
    printer_id = next(iter(world.printers))
    world.start_file(printer_id, file_url="https://files.example.com/e.gcode?sim_seconds=60")
    world.clock.advance(2000)
    world.tick()
    world.set_online(printer_id, online=False)
    event_schema = {"$ref": "#/components/schemas/Event"}
    documented = set(farm.document["webhooks"])
    for payload in hub_payloads:
        if payload["type"] in documented:
            check(farm.document, event_schema, payload)
    assert {p["type"] for p in hub_payloads} >= {"job.completed", "printer.offline"}


async def test_checker_rejects_what_the_document_does_not_say(farm: Farm) -> None:
    _, body, _ = await farm.call("GET", "/v1/printers")
    printer = body["data"][0]
    schema = {"$ref": "#/components/schemas/Printer"}
    check(farm.document, schema, printer)
    for broken in (
        {**printer, "colour": "red"},
        {k: v for k, v in printer.items() if k != "status"},
        {**printer, "status": "sleeping"},
        {**printer, "progress": "half"},
        {**printer, "error": {"code": 1, "message": "x"}},
    ):
        with pytest.raises(AssertionError):
            check(farm.document, schema, broken)
