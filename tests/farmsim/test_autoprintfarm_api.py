"""Tests for farmsim's AutoPrintFarm API: auth, limits, faults, errors and printers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from farmsim.autoprintfarm import (
    register_api_key,
    reset_rate_limits,
    revoke_api_key,
)
from farmsim.autoprintfarm.auth import READ_SCOPES
from farmsim.context import SimConfig

from .helpers import START, Farm, printer_named, serve_autoprintfarm, sim_context

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
def config() -> SimConfig:
    return SimConfig(seed=7)


@pytest.fixture
async def farm(config: SimConfig) -> AsyncIterator[Farm]:
    async with serve_autoprintfarm(sim_context(config, printers=4, start=START), Farm) as farm:
        yield farm


def error_of(body: dict[str, Any]) -> str:
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    return str(body["error"]["code"])


async def test_list_printers_seed_shape(farm: Farm) -> None:
    status, body, headers = await farm.call("GET", "/v1/printers")
    assert status == 200
    assert body["success"] is True
    assert body["pagination"] == {"page": 1, "per_page": 20, "total": 4, "total_pages": 1}
    first = body["data"][0]
    assert first["id"].startswith("prt_")
    assert first["status"] == "idle"
    assert first["current_job"] is None
    assert first["manufacturer"] == "Bambu Lab"
    assert first["has_ams"] is True
    assert first["temperatures"]["chamber"] is not None
    assert first["filament"][0]["material_id"].startswith("mat_")
    assert first["created_at"].endswith("Z")
    assert headers["X-RateLimit-Limit"] == "100"
    assert headers["X-RateLimit-Remaining"] == "99"
    assert int(headers["X-RateLimit-Reset"]) >= int(time.time())
    a1 = next(p for p in body["data"] if p["model_code"] == "A1")
    assert a1["has_ams"] is False
    assert a1["temperatures"]["chamber"] is None
    assert a1["filament"][0]["tray_id"] == 254


async def test_missing_and_invalid_keys(farm: Farm) -> None:
    async with farm.session.get(farm.base + "/v1/printers") as response:
        body = await response.json()
        assert response.status == 401
        assert error_of(body) == "unauthorized"
        assert "X-RateLimit-Limit" not in response.headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = await farm.call("GET", "/v1/printers", key="apf_live_nope")
    assert status == 401
    assert error_of(body) == "invalid_api_key"
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    status, body, _ = await farm.call("GET", "/v1/printers", headers=basic)
    assert status == 401
    assert error_of(body) == "invalid_api_key"
    assert not farm.ctx.counters.requests["autoprintfarm"]


async def test_read_only_key(farm: Farm) -> None:
    register_api_key(farm.app, "apf_test_readonly_0001", READ_SCOPES)
    status, _, _ = await farm.call("GET", "/v1/jobs", key="apf_test_readonly_0001")
    assert status == 200
    status, body, headers = await farm.call(
        "POST",
        "/v1/jobs",
        key="apf_test_readonly_0001",
        json={"file_url": "https://example.com/a.gcode"},
    )
    assert status == 403
    assert error_of(body) == "insufficient_permissions"
    assert "jobs:write" in body["error"]["details"]
    assert headers["X-RateLimit-Remaining"] == "98"
    status, body, _ = await farm.call("GET", "/v1/webhooks", key="apf_test_readonly_0001")
    assert status == 403
    revoke_api_key(farm.ctx, "apf_test_readonly_0001")
    status, _, _ = await farm.call("GET", "/v1/jobs", key="apf_test_readonly_0001")
    assert status == 401
    register_api_key(farm.ctx, "apf_test_writer_0002", {"jobs:write"})
    status, _, _ = await farm.call("GET", "/v1/jobs", key="apf_test_writer_0002")
    assert status == 403
    with pytest.raises(ValueError, match="Unknown scopes"):
        register_api_key(farm.app, "x", {"admin:*"})


@pytest.mark.parametrize("config", [SimConfig(seed=7, autoprintfarm_rate_limit=5)])
async def test_rate_limit(farm: Farm) -> None:
    remaining = []
    for _ in range(5):
        status, _, headers = await farm.call("GET", "/v1/printers")
        assert status == 200
        remaining.append(int(headers["X-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    async with farm.session.get(farm.base + "/v1/printers") as response:
        assert response.status == 401
    status, body, headers = await farm.call("GET", "/v1/jobs")
    assert status == 429
    assert error_of(body) == "rate_limit_exceeded"
    assert headers["X-RateLimit-Limit"] == "5"
    assert headers["X-RateLimit-Remaining"] == "0"
    reset = int(headers["X-RateLimit-Reset"])
    assert time.time() + 3500 < reset <= time.time() + 3601
    assert 3500 < int(headers["Retry-After"]) <= 3600
    assert farm.ctx.counters.rate_limited["autoprintfarm"] == 1
    assert sum(farm.ctx.counters.requests["autoprintfarm"].values()) == 6
    register_api_key(farm.app, "apf_test_other_key_03", READ_SCOPES)
    status, _, _ = await farm.call("GET", "/v1/jobs", key="apf_test_other_key_03")
    assert status == 200
    farm.ctx.config.autoprintfarm_rate_limit = 7
    reset_rate_limits(farm.ctx)
    status, _, headers = await farm.call("GET", "/v1/jobs")
    assert status == 200
    assert headers["X-RateLimit-Limit"] == "7"
    assert headers["X-RateLimit-Remaining"] == "6"
    reset_rate_limits(farm.app)


async def test_rate_limit_storm(farm: Farm) -> None:
    farm.ctx.faults.autoprintfarm.rate_limit_storm = True
    for _ in range(2):
        status, body, headers = await farm.call("GET", "/v1/printers")
        assert status == 429
        assert error_of(body) == "rate_limit_exceeded"
        assert headers["Retry-After"] == "60"
        assert headers["X-RateLimit-Remaining"] == "0"
    assert farm.ctx.counters.rate_limited["autoprintfarm"] == 2
    farm.ctx.faults.autoprintfarm.rate_limit_storm = False
    status, _, headers = await farm.call("GET", "/v1/printers")
    assert status == 200
    assert headers["X-RateLimit-Remaining"] == "99"


async def test_latency_and_injected_errors(farm: Farm) -> None:
    farm.ctx.faults.autoprintfarm.latency_ms = 150
    started = time.monotonic()
    status, _, _ = await farm.call("GET", "/v1/printers")
    assert status == 200
    assert time.monotonic() - started >= 0.15
    farm.ctx.faults.autoprintfarm.latency_ms = 0
    farm.ctx.faults.autoprintfarm.error_next = 1
    status, body, _ = await farm.call("GET", "/v1/printers")
    assert status == 503
    assert error_of(body) == "service_unavailable"
    status, _, _ = await farm.call("GET", "/v1/printers")
    assert status == 200
    assert farm.ctx.counters.responses["autoprintfarm"]["503"] == 1


async def test_error_envelopes(farm: Farm, monkeypatch: pytest.MonkeyPatch) -> None:
    status, body, headers = await farm.call("GET", "/v1/nothing-here")
    assert status == 404
    assert error_of(body) == "not_found"
    assert "X-RateLimit-Limit" in headers
    async with farm.session.get(farm.base + "/elsewhere") as response:
        assert response.status == 404
        assert error_of(await response.json()) == "not_found"
    status, body, headers = await farm.call("PUT", "/v1/printers")
    assert status == 405
    assert error_of(body) == "method_not_allowed"
    assert "GET" in headers["Allow"]
    printer_id = printer_named(farm, "X1C-01")
    path = f"/v1/printers/{printer_id}/control"
    status, body, _ = await farm.call("POST", path, data=b"{not json")
    assert status == 400
    assert error_of(body) == "invalid_json"
    status, body, _ = await farm.call("POST", path, json=[1, 2])
    assert status == 400
    assert error_of(body) == "invalid_request"

    def boom(_: object) -> str:
        raise RuntimeError

    monkeypatch.setattr(farm.world, "status_word", boom)
    status, body, _ = await farm.call("GET", "/v1/printers")
    assert status == 500
    assert error_of(body) == "internal_error"
    assert "Traceback" not in body["error"]["details"]


async def test_unknown_printer_uses_seed_error(farm: Farm) -> None:
    status, body, _ = await farm.call("GET", "/v1/printers/prt_abc123")
    assert status == 404
    assert body == {
        "success": False,
        "error": {
            "code": "invalid_printer",
            "message": "Printer not found",
            "details": "No printer with ID prt_abc123",
        },
    }


async def test_printer_filters_sorting_pagination(farm: Farm) -> None:
    status, body, _ = await farm.call("GET", "/v1/printers?group=production")
    assert {p["name"] for p in body["data"]} == {"X1C-01", "P1S-01", "P1S-02"}
    _, body, _ = await farm.call("GET", "/v1/printers?model=p1s")
    assert [p["name"] for p in body["data"]] == ["P1S-01", "P1S-02"]
    _, body, _ = await farm.call("GET", "/v1/printers?model=X1 Carbon&location=farm floor")
    assert [p["name"] for p in body["data"]] == ["X1C-01"]
    farm.world.set_online(printer_named(farm, "P1S-02"), online=False)
    _, body, _ = await farm.call("GET", "/v1/printers?status=printing,offline&group=production")
    assert [p["name"] for p in body["data"]] == ["P1S-02"]
    assert body["data"][0]["online"] is False
    _, body, _ = await farm.call("GET", "/v1/printers?sort=group,-name")
    assert [p["name"] for p in body["data"]] == ["X1C-01", "P1S-02", "P1S-01", "A1-01"]
    _, body, _ = await farm.call("GET", "/v1/printers?sort=-status,name&per_page=2&page=2")
    assert [p["name"] for p in body["data"]] == ["P1S-01", "X1C-01"]
    assert body["pagination"] == {"page": 2, "per_page": 2, "total": 4, "total_pages": 2}
    _, body, _ = await farm.call("GET", "/v1/printers?per_page=3&page=9")
    assert body["data"] == []
    assert body["pagination"]["total_pages"] == 2
    for query, code in (
        ("per_page=0", "invalid_request"),
        ("per_page=101", "invalid_request"),
        ("page=0", "invalid_request"),
        ("page=two", "invalid_request"),
        ("status=sleeping", "invalid_request"),
        ("sort=-colour", "invalid_sort"),
    ):
        status, body, _ = await farm.call("GET", f"/v1/printers?{query}")
        assert status == 400, query
        assert error_of(body) == code
        assert query.split("=")[0].lstrip("-") in body["error"]["details"] or code == "invalid_sort"
    _, body, _ = await farm.call("GET", "/v1/printers?per_page=100")
    assert body["pagination"]["per_page"] == 100


async def test_update_printer_and_settings(farm: Farm) -> None:
    printer_id = printer_named(farm, "A1-01")
    status, body, _ = await farm.call(
        "PATCH",
        f"/v1/printers/{printer_id}",
        json={"name": "A1-lab", "group": "production", "location": "Lab"},
    )
    assert status == 200
    assert (body["data"]["name"], body["data"]["group"], body["data"]["location"]) == (
        "A1-lab",
        "production",
        "Lab",
    )
    _, body, _ = await farm.call("PATCH", f"/v1/printers/{printer_id}", json={"maintenance": True})
    assert body["data"]["status"] == "maintenance"
    status, body, _ = await farm.call("PATCH", f"/v1/printers/{printer_id}", json={"serial": "x"})
    assert status == 400
    assert body["error"]["details"].startswith("serial:")
    status, body, _ = await farm.call("PATCH", f"/v1/printers/{printer_id}", json={"name": ""})
    assert status == 400
    status, body, _ = await farm.call(
        "PATCH", f"/v1/printers/{printer_id}", json={"maintenance": "yes"}
    )
    assert status == 400
    _, body, _ = await farm.call("GET", f"/v1/printers/{printer_id}/settings")
    assert body["data"]["nozzle_diameter"] == 0.4
    assert body["data"]["auto_assign"] is True
    status, body, _ = await farm.call(
        "PATCH",
        f"/v1/printers/{printer_id}/settings",
        json={"nozzle_diameter": 0.6, "bed_type": "Cool Plate", "power_watts": 120},
    )
    assert status == 200
    assert body["data"]["nozzle_diameter"] == 0.6
    assert body["data"]["power_watts"] == 120
    _, body, _ = await farm.call(
        "PATCH", f"/v1/printers/{printer_id}/settings", json={"auto_assign": False}
    )
    assert body["data"]["auto_assign"] is False
    assert farm.world.printers[printer_id].enabled is False
    for bad in (
        {"nozzle_diameter": 0.5},
        {"bed_type": "Glass"},
        {"power_watts": -1},
        {"purchase_price": "cheap"},
        {"colour": "red"},
    ):
        status, body, _ = await farm.call("PATCH", f"/v1/printers/{printer_id}/settings", json=bad)
        assert status == 400, bad
        assert error_of(body) == "invalid_request"


async def test_printer_groups(farm: Farm) -> None:
    farm.world.set_online(printer_named(farm, "P1S-01"), online=False)
    _, body, _ = await farm.call("GET", "/v1/printers/groups")
    groups = {g["name"]: g for g in body["data"]}
    assert groups["production"]["printer_count"] == 3
    assert groups["production"]["statuses"] == {"idle": 2, "offline": 1}
    assert groups["prototyping"]["printer_ids"] == [printer_named(farm, "A1-01")]
    _, body, _ = await farm.call("GET", "/v1/printers/groups?sort=-printer_count")
    assert body["data"][0]["name"] == "production"


async def test_printer_control(farm: Farm) -> None:
    printer_id = printer_named(farm, "X1C-01")
    path = f"/v1/printers/{printer_id}/control"
    status, body, _ = await farm.call("POST", path, json={"action": "pause"})
    assert status == 409
    assert error_of(body) == "invalid_state"
    job = farm.world.start_file(printer_id, file_url="https://example.com/x.gcode?sim_seconds=600")
    farm.world.clock.advance(400)
    status, body, _ = await farm.call(
        "POST", path, json={"printer_id": printer_id, "action": "pause"}
    )
    assert status == 200
    data = body["data"]
    assert (data["action"], data["status"], data["job_id"]) == ("pause", "paused", job.id)
    assert data["command_id"].startswith("cmd_")
    assert data["printer"]["current_job"] == job.id
    _, body, _ = await farm.call("POST", path, json={"action": "resume"})
    assert body["data"]["status"] == "printing"
    _, body, _ = await farm.call("POST", path, json={"action": "cancel"})
    assert body["data"]["status"] == "finished"
    assert farm.world.jobs[job.id].status.value == "cancelled"
    _, body, _ = await farm.call("GET", f"/v1/printers/{printer_id}")
    assert body["data"]["status"] == "finished"
    assert body["data"]["bed_clear_required"] is True
    _, body, _ = await farm.call("POST", path, json={"action": "clear_bed"})
    assert body["data"]["status"] == "idle"
    assert body["data"]["job_id"] is None
    for bad in ({}, {"action": "explode"}, {"action": "pause", "printer_id": " "}):
        status, body, _ = await farm.call("POST", path, json=bad)
        assert status == 400, bad
    # The body's printer_id must be the path's: another printer conflicts, an unknown one is
    # not found
    other = printer_named(farm, "A1-01")
    status, body, _ = await farm.call("POST", path, json={"action": "stop", "printer_id": other})
    assert (status, body["error"]["code"]) == (409, "invalid_state")
    assert farm.world.printers[other].id in body["error"]["details"]
    unknown = {"action": "stop", "printer_id": "prt_other"}
    status, body, _ = await farm.call("POST", path, json=unknown)
    assert (status, error_of(body)) == (404, "invalid_printer")
    status, body, _ = await farm.call(
        "POST", "/v1/printers/prt_nope/control", json={"action": "stop"}
    )
    assert status == 404
    assert error_of(body) == "invalid_printer"


async def test_printer_light(farm: Farm) -> None:
    printer_id = printer_named(farm, "X1C-01")
    path = f"/v1/printers/{printer_id}/light"
    _, body, _ = await farm.call("POST", path, json={"state": False})
    assert body["data"]["lights"]["chamber_light"] is False
    _, body, _ = await farm.call("POST", path, json={"state": True, "node": "work_light"})
    assert body["data"]["lights"]["work_light"] is True
    status, _, _ = await farm.call("POST", path, json={})
    assert status == 400
    a1 = printer_named(farm, "A1-01")
    status, body, _ = await farm.call("POST", f"/v1/printers/{a1}/light", json={"state": True})
    assert status == 409


async def test_printer_error_view(farm: Farm) -> None:
    printer_id = printer_named(farm, "P1S-01")
    farm.world.raise_hms(printer_id, attr=0x03004000, code=0x00020001)
    _, body, _ = await farm.call("GET", f"/v1/printers/{printer_id}")
    assert body["data"]["status"] == "error"
    assert body["data"]["error"]["code"] == "HMS_0300_4000_0002_0001"
    farm.world.clear_hms(printer_id)
    farm.world.start_file(printer_id, file_url="https://example.com/y.gcode?sim_seconds=900")
    farm.world.fail_print(printer_id)
    _, body, _ = await farm.call("GET", f"/v1/printers/{printer_id}")
    assert body["data"]["error"]["code"] == "03008015"
