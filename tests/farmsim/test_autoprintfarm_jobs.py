"""Tests for farmsim's AutoPrintFarm jobs, idempotency, materials and analytics."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from farmsim.autoprintfarm import register_api_key
from farmsim.context import SimConfig
from farmsim.models import JobStatus

from .helpers import START, Farm, printer_named, serve_autoprintfarm, sim_context

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

FILES = "https://files.example.com/models"


@pytest.fixture
def config() -> SimConfig:
    return SimConfig(seed=3)


@pytest.fixture
async def farm(config: SimConfig) -> AsyncIterator[Farm]:
    async with serve_autoprintfarm(sim_context(config, printers=3, start=START), Farm) as farm:
        yield farm


def file_url(name: str, seconds: int = 600, grams: int = 20) -> str:
    return f"{FILES}/{name}.gcode.3mf?sim_seconds={seconds}&sim_grams={grams}&sim_layers=50"


async def test_create_job(farm: Farm) -> None:
    status, body, _ = await farm.call(
        "POST",
        "/v1/jobs",
        json={
            "file_url": file_url("bracket"),
            "group": "nowhere",
            "priority": "high",
            "material": "pla",
            "color": "Black",
            "sale_price": 12.5,
            "metadata": {"order": "A-17"},
        },
    )
    assert status == 201
    job = body["data"]
    assert job["id"].startswith("job_")
    assert (job["name"], job["status"], job["priority"]) == ("bracket", "queued", "high")
    assert (job["material"], job["color"], job["group"]) == ("PLA", "Black", "nowhere")
    assert job["queue_position"] == 1
    assert job["estimated_duration"] == 600
    assert job["remaining_time"] == 600
    assert job["filament_grams"] == 20
    assert job["metadata"] == {"order": "A-17"}
    assert job["sale_price"] == 12.5
    assert job["started_at"] is None
    assert farm.world.jobs[job["id"]].source == "autoprintfarm"


async def test_create_job_validation(farm: Farm) -> None:
    for body, field in (
        ({}, "file_url"),
        ({"file_url": "ftp://example.com/a.gcode"}, "file_url"),
        ({"file_url": 42}, "file_url"),
        ({"file_url": file_url("a"), "priority": "asap"}, "priority"),
        ({"file_url": file_url("a"), "sale_price": -1}, "sale_price"),
        ({"file_url": file_url("a"), "sale_price": True}, "sale_price"),
        ({"file_url": file_url("a"), "metadata": []}, "metadata"),
        ({"file_url": file_url("a"), "name": "x" * 201}, "name"),
        ({"file_url": file_url("a"), "printer": "prt_x"}, "printer"),
    ):
        status, answer, _ = await farm.call("POST", "/v1/jobs", json=body)
        assert status == 400, body
        assert answer["error"]["code"] == "invalid_request"
        assert answer["error"]["details"].startswith(f"{field}:")
    status, answer, _ = await farm.call(
        "POST", "/v1/jobs", json={"file_url": file_url("a"), "printer_id": "prt_abc123"}
    )
    assert status == 404
    assert answer["error"] == {
        "code": "invalid_printer",
        "message": "Printer not found",
        "details": "No printer with ID prt_abc123",
    }
    assert not farm.world.jobs


async def test_idempotent_retry(farm: Farm) -> None:
    headers = {"Idempotency-Key": "unique-key-123"}
    job_body = {"file_url": file_url("cube"), "group": "nowhere"}
    status, first, first_headers = await farm.call(
        "POST", "/v1/jobs", json=job_body, headers=headers
    )
    assert status == 201
    assert "Idempotent-Replayed" not in first_headers
    status, again, again_headers = await farm.call(
        "POST", "/v1/jobs", json=dict(reversed(job_body.items())), headers=headers
    )
    assert status == 201
    assert again == first
    assert again_headers["Idempotent-Replayed"] == "true"
    assert "X-RateLimit-Remaining" in again_headers
    assert len(farm.world.jobs) == 1
    status, other, _ = await farm.call(
        "POST", "/v1/jobs", json={"file_url": file_url("other")}, headers=headers
    )
    assert status == 422
    assert other["error"]["code"] == "idempotency_key_reused"
    assert len(farm.world.jobs) == 1
    status, _, _ = await farm.call(
        "POST", "/v1/jobs", json=job_body, headers={"Idempotency-Key": "k" * 256}
    )
    assert status == 400
    status, _, _ = await farm.call("POST", "/v1/jobs", json={}, headers={"Idempotency-Key": "v"})
    assert status == 400
    status, _, _ = await farm.call(
        "POST", "/v1/jobs", json=job_body, headers={"Idempotency-Key": "v"}
    )
    assert status == 201
    assert len(farm.world.jobs) == 2


async def test_idempotent_concurrent_duplicates(farm: Farm) -> None:
    farm.ctx.faults.autoprintfarm.latency_ms = 20
    headers = {"Idempotency-Key": "burst"}
    job_body = {"file_url": file_url("burst"), "group": "nowhere"}
    results = await asyncio.gather(
        *(farm.call("POST", "/v1/jobs", json=job_body, headers=headers) for _ in range(5))
    )
    assert {status for status, _, _ in results} == {201}
    assert len({body["data"]["id"] for _, body, _ in results}) == 1
    assert sum(h.get("Idempotent-Replayed") == "true" for _, _, h in results) == 4
    assert len(farm.world.jobs) == 1


async def test_retry_after_dropped_response(farm: Farm) -> None:
    farm.ctx.faults.autoprintfarm.drop_next = 1
    headers = {"Idempotency-Key": "dropped-1"}
    job_body = {"file_url": file_url("dropped"), "group": "nowhere"}
    with pytest.raises(aiohttp.ClientConnectionError):
        await farm.call("POST", "/v1/jobs", json=job_body, headers=headers)
    assert len(farm.world.jobs) == 1
    created = next(iter(farm.world.jobs))
    status, body, replay_headers = await farm.call(
        "POST", "/v1/jobs", json=job_body, headers=headers
    )
    assert status == 201
    assert body["data"]["id"] == created
    assert replay_headers["Idempotent-Replayed"] == "true"
    assert len(farm.world.jobs) == 1
    assert farm.ctx.counters.responses["autoprintfarm"]["dropped"] == 1


@pytest.mark.parametrize("config", [SimConfig(seed=3, idempotency_ttl=0.1)])
async def test_idempotency_keys_expire_and_are_per_api_key(farm: Farm) -> None:
    register_api_key(farm.app, "apf_test_second_key_99", {"jobs:write"})
    headers = {"Idempotency-Key": "short-lived"}
    job_body = {"file_url": file_url("ttl"), "group": "nowhere"}
    _, first, _ = await farm.call("POST", "/v1/jobs", json=job_body, headers=headers)
    _, other, _ = await farm.call(
        "POST", "/v1/jobs", json=job_body, headers=headers, key="apf_test_second_key_99"
    )
    assert other["data"]["id"] != first["data"]["id"]
    await asyncio.sleep(0.15)
    _, later, later_headers = await farm.call("POST", "/v1/jobs", json=job_body, headers=headers)
    assert later["data"]["id"] != first["data"]["id"]
    assert "Idempotent-Replayed" not in later_headers
    assert len(farm.world.jobs) == 3


async def test_list_jobs_filters_and_sorting(farm: Farm) -> None:
    ids = []
    for index, (name, priority) in enumerate(
        (("alpha", "low"), ("bravo", "urgent"), ("charlie", "normal"), ("delta", "urgent"))
    ):
        _, body, _ = await farm.call(
            "POST",
            "/v1/jobs",
            json={"file_url": file_url(name), "group": "nowhere", "priority": priority},
        )
        ids.append(body["data"]["id"])
        farm.world.clock.advance(60 * (index + 1))
    a1 = printer_named(farm, "A1-01")
    _, running, _ = await farm.call(
        "POST", "/v1/jobs", json={"file_url": file_url("echo"), "printer_id": a1}
    )
    assert running["data"]["status"] == "processing"
    assert running["data"]["queue_position"] is None
    _, body, _ = await farm.call("GET", "/v1/jobs?status=queued&sort=-created_at")
    assert [j["name"] for j in body["data"]] == ["delta", "charlie", "bravo", "alpha"]
    assert [j["queue_position"] for j in body["data"]] == [2, 3, 1, 4]
    _, body, _ = await farm.call("GET", "/v1/jobs?sort=-priority,name&group=nowhere")
    assert [j["name"] for j in body["data"]] == ["bravo", "delta", "charlie", "alpha"]
    _, body, _ = await farm.call("GET", "/v1/jobs?sort=queue_position&status=queued,processing")
    assert [j["name"] for j in body["data"]] == ["bravo", "delta", "charlie", "alpha", "echo"]
    _, body, _ = await farm.call("GET", f"/v1/jobs?printer_id={a1}")
    assert [j["name"] for j in body["data"]] == ["echo"]
    _, body, _ = await farm.call("GET", "/v1/jobs?per_page=2&page=3&sort=name")
    assert [j["name"] for j in body["data"]] == ["echo"]
    assert body["pagination"] == {"page": 3, "per_page": 2, "total": 5, "total_pages": 3}
    since = farm.world.jobs[ids[2]].created_at
    _, body, _ = await farm.call(
        "GET", f"/v1/jobs?created_after={since}&created_before={since + 1}"
    )
    assert [j["name"] for j in body["data"]] == ["charlie"]
    _, body, _ = await farm.call("GET", "/v1/jobs?created_after=2025-06-15T15:10:00Z")
    assert [j["name"] for j in body["data"]] == ["delta", "echo"]
    _, body, _ = await farm.call("GET", "/v1/jobs?created_before=2025-06-15T15:08:00")
    assert [j["name"] for j in body["data"]] == ["alpha", "bravo"]
    for query in ("created_after=yesterday", "status=done", "sort=size"):
        status, body, _ = await farm.call("GET", f"/v1/jobs?{query}")
        assert status == 400, query


async def test_job_actions_and_progress(farm: Farm) -> None:
    x1c = printer_named(farm, "X1C-01")
    _, body, _ = await farm.call(
        "POST", "/v1/jobs", json={"file_url": file_url("gear", 1000), "printer_id": x1c}
    )
    job_id = body["data"]["id"]
    status, body, _ = await farm.call("POST", f"/v1/jobs/{job_id}/pause")
    assert status == 409
    assert body["error"]["code"] == "invalid_state"
    assert "processing" in body["error"]["details"] or "preparing" in body["error"]["details"]
    farm.world.clock.advance(600)
    _, body, _ = await farm.call("GET", f"/v1/jobs/{job_id}/progress")
    progress = body["data"]
    assert progress["status"] == "printing"
    assert 0 < progress["progress"] < 100
    assert 0 < progress["current_layer"] <= progress["total_layers"] == 50
    assert progress["printer_id"] == x1c
    assert progress["remaining_time"] > 0
    _, body, _ = await farm.call("POST", f"/v1/jobs/{job_id}/pause")
    assert body["data"]["status"] == "paused"
    _, body, _ = await farm.call("POST", f"/v1/jobs/{job_id}/resume")
    assert body["data"]["status"] == "printing"
    _, body, _ = await farm.call(
        "PATCH", f"/v1/jobs/{job_id}", json={"name": "gear v2", "priority": "urgent"}
    )
    assert (body["data"]["name"], body["data"]["priority"]) == ("gear v2", "urgent")
    status, _, _ = await farm.call("PATCH", f"/v1/jobs/{job_id}", json={"priority": "now"})
    assert status == 400
    _, body, _ = await farm.call("POST", f"/v1/jobs/{job_id}/cancel")
    assert body["data"]["status"] == "cancelled"
    assert body["data"]["completed_at"] is not None
    status, body, _ = await farm.call("POST", f"/v1/jobs/{job_id}/cancel")
    assert status == 409
    _, body, _ = await farm.call("POST", f"/v1/jobs/{job_id}/retry")
    assert body["data"]["status"] == "queued"
    _, body, _ = await farm.call("GET", f"/v1/jobs/{job_id}/progress")
    assert body["data"]["current_layer"] == 0
    status, body, _ = await farm.call("GET", "/v1/jobs/job_missing")
    assert status == 404
    assert body["error"]["code"] == "invalid_job"
    _, body, _ = await farm.call("POST", "/v1/jobs", json={"file_url": file_url("q")})
    _, body, _ = await farm.call("POST", f"/v1/jobs/{body['data']['id']}/cancel")
    assert body["data"]["status"] == "cancelled"


@dataclass
class Printed:
    """A job that printed to completion through the REST API."""

    job: dict[str, Any]
    spool_id: str
    remaining_before: float


@pytest.fixture
async def printed(farm: Farm) -> Printed:
    a1 = printer_named(farm, "A1-01")
    spool_id = farm.world.printers[a1].trays[0].spool_id
    assert spool_id is not None
    _, before, _ = await farm.call("GET", f"/v1/materials/{spool_id}")
    _, body, _ = await farm.call(
        "POST",
        "/v1/jobs",
        json={"file_url": file_url("benchy", 600, 20), "sale_price": 9.0, "printer_id": a1},
    )
    job_id = body["data"]["id"]
    assert body["data"]["status"] == "processing"
    farm.world.clock.advance(300)
    _, body, _ = await farm.call("GET", f"/v1/jobs/{job_id}")
    assert body["data"]["status"] == "printing"
    assert body["data"]["started_at"] is not None
    farm.world.clock.advance(3000)
    _, body, _ = await farm.call("GET", f"/v1/jobs/{job_id}")
    return Printed(
        job=body["data"], spool_id=spool_id, remaining_before=before["data"]["remaining_grams"]
    )


async def test_job_prints_to_completion_and_uses_filament(farm: Farm, printed: Printed) -> None:
    job = printed.job
    assert job["status"] == "completed"
    assert job["progress"] == 100
    assert job["consumed_grams"] == pytest.approx(20, abs=0.01)
    assert job["material_id"] == printed.spool_id
    _, body, _ = await farm.call("GET", f"/v1/printers/{job['printer_id']}")
    assert body["data"]["status"] == "finished"
    assert body["data"]["bed_clear_required"] is True
    _, after, _ = await farm.call("GET", f"/v1/materials/{printed.spool_id}")
    assert after["data"]["consumed_grams"] == pytest.approx(20, abs=0.01)
    expected = printed.remaining_before - 20
    assert after["data"]["remaining_grams"] == pytest.approx(expected, abs=0.1)
    _, body, _ = await farm.call("GET", "/v1/jobs/history")
    assert [j["id"] for j in body["data"]] == [job["id"]]
    _, body, _ = await farm.call("GET", "/v1/jobs?status=completed")
    assert [j["id"] for j in body["data"]] == [job["id"]]
    _, body, _ = await farm.call("GET", "/v1/materials/consumption?period=day")
    usage = body["data"]
    assert usage["total_grams"] == pytest.approx(20, abs=0.01)
    assert usage["by_type"][0]["type"] == "PLA"
    assert usage["by_material"][0]["material_id"] == printed.spool_id
    assert usage["by_material"][0]["jobs"] == 1


async def test_analytics_after_a_print(farm: Farm, printed: Printed) -> None:
    printer_id = printed.job["printer_id"]
    _, body, _ = await farm.call("GET", "/v1/analytics/performance")
    farm_stats = body["data"]["farm"]
    assert farm_stats["jobs_completed"] == 1
    assert farm_stats["success_rate"] == 100
    row = next(p for p in body["data"]["printers"] if p["printer_id"] == printer_id)
    assert row["print_hours"] > 0
    assert 0 < row["utilization"] <= 100
    _, body, _ = await farm.call("GET", "/v1/analytics/costs?energy_price=0.3")
    costs = body["data"]
    assert costs["revenue"] == 9.0
    assert costs["filament_cost"] == pytest.approx(0.4, abs=0.01)
    assert costs["energy_cost"] > 0
    printer_costs = next(p for p in costs["printers"] if p["printer_id"] == printer_id)
    assert printer_costs["roi_percent"] == pytest.approx(
        printer_costs["profit"] / printer_costs["purchase_price"] * 100, abs=0.01
    )
    _, body, _ = await farm.call("GET", "/v1/analytics/reports?period=day")
    report = body["data"]
    assert report["jobs"]["completed"] == 1
    assert report["jobs"]["created"] == 1
    assert report["filament"]["total_grams"] == pytest.approx(20, abs=0.01)
    _, body, _ = await farm.call("GET", "/v1/analytics/summary")
    assert body["data"]["jobs"]["completed_today"] == 1
    assert body["data"]["printers"]["by_status"]["finished"] == 1


async def test_csv_export_after_a_print(farm: Farm, printed: Printed) -> None:
    status, body, headers = await farm.call("GET", "/v1/analytics/export?format=csv&type=jobs")
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert "jobs-export.csv" in headers["Content-Disposition"]
    assert "X-RateLimit-Remaining" in headers
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 1
    assert rows[0]["id"] == printed.job["id"]
    assert rows[0]["status"] == "completed"
    assert rows[0]["printer_name"] == "A1-01"
    assert float(rows[0]["consumed_grams"]) == pytest.approx(20, abs=0.01)
    assert rows[0]["color"] == ""
    assert rows[0]["sale_price"] == "9.0"


async def test_failed_job_history(farm: Farm) -> None:
    a1 = printer_named(farm, "A1-01")
    url = file_url("fragile", 600, 30) + "&sim_fail_at=50"
    _, body, _ = await farm.call("POST", "/v1/jobs", json={"file_url": url, "printer_id": a1})
    farm.world.clock.advance(3000)
    _, body, _ = await farm.call("GET", f"/v1/jobs/{body['data']['id']}")
    assert body["data"]["status"] == "failed"
    assert body["data"]["error"]["code"] == "print_failed"
    _, body, _ = await farm.call("GET", "/v1/jobs/history?status=failed")
    assert len(body["data"]) == 1
    _, body, _ = await farm.call("GET", "/v1/analytics/performance?period=week")
    assert body["data"]["farm"]["success_rate"] == 0
    assert body["data"]["farm"]["jobs_failed"] == 1
    status, body, _ = await farm.call("GET", "/v1/jobs/history?status=queued")
    assert status == 400


async def test_materials_inventory(farm: Farm) -> None:
    _, body, _ = await farm.call("GET", "/v1/materials?per_page=100")
    materials = body["data"]
    assert body["pagination"]["total"] == len(farm.world.spools)
    item = materials[0]
    assert item["id"].startswith("mat_")
    assert item["printer_id"] is not None
    assert item["status"] == "in_stock"
    _, body, _ = await farm.call("GET", "/v1/materials?type=tpu")
    assert [m["status"] for m in body["data"]] == ["low_stock"]
    tpu = body["data"][0]
    assert tpu["low_stock"] is True
    assert tpu["location"] == "Shelf B"
    _, body, _ = await farm.call("GET", "/v1/materials?low_stock=true")
    assert [m["id"] for m in body["data"]] == [tpu["id"]]
    _, body, _ = await farm.call("GET", "/v1/materials?low_stock=false&location=shelf a")
    assert {m["color"] for m in body["data"]} == {"Black", "White", "Red"}
    _, body, _ = await farm.call("GET", "/v1/materials?color=%23C12E1F&location=Shelf A")
    assert [m["color"] for m in body["data"]] == ["Red"]
    _, body, _ = await farm.call("GET", "/v1/materials?status=low_stock,out_of_stock")
    assert len(body["data"]) == 1
    a1 = printer_named(farm, "A1-01")
    _, body, _ = await farm.call("GET", f"/v1/materials?printer_id={a1}")
    assert [m["tray_id"] for m in body["data"]] == [254]
    _, body, _ = await farm.call("GET", "/v1/materials?sort=-remaining_grams,color&per_page=1")
    assert body["data"][0]["remaining_grams"] == 1000
    for query in ("low_stock=maybe", "sort=weight", "status=gone"):
        status, _, _ = await farm.call("GET", f"/v1/materials?{query}")
        assert status == 400, query
    _, body, _ = await farm.call("GET", "/v1/materials/alerts")
    assert [a["material_id"] for a in body["data"]] == [tpu["id"]]
    assert body["data"][0]["severity"] == "warning"
    assert "reorder threshold 200 g" in body["data"][0]["message"]


async def test_material_create_update_delete(farm: Farm) -> None:
    events: list[str] = []
    farm.world.subscribe(lambda event: events.append(event.type))
    new = {
        "type": "petg",
        "color": "Orange",
        "hex_code": "ff6a13",
        "brand": "Polymaker",
        "remaining_grams": 800,
        "low_threshold": 100,
        "cost_per_kg": 24,
        "location": "Shelf C",
        "diameter": 2.85,
    }
    headers = {"Idempotency-Key": "spool-1"}
    status, body, _ = await farm.call("POST", "/v1/materials", json=new, headers=headers)
    assert status == 201
    spool = body["data"]
    assert (spool["type"], spool["hex_code"], spool["diameter"]) == ("PETG", "#FF6A13", 2.85)
    assert spool["capacity_grams"] == 1000
    assert spool["remaining_percent"] == 80
    status, again, _ = await farm.call("POST", "/v1/materials", json=new, headers=headers)
    assert again["data"]["id"] == spool["id"]
    path = f"/v1/materials/{spool['id']}"
    _, body, _ = await farm.call("PATCH", path, json={"low_threshold": 900})
    assert body["data"]["low_stock"] is True
    assert body["data"]["status"] == "low_stock"
    assert "material.low_stock" in events
    _, body, _ = await farm.call("PATCH", path, json={"remaining_grams": 0})
    assert body["data"]["status"] == "out_of_stock"
    _, body, _ = await farm.call("GET", "/v1/materials/alerts")
    assert body["data"][0]["material_id"] == spool["id"]
    assert body["data"][0]["severity"] == "critical"
    for bad in (
        {"hex_code": "orange"},
        {"diameter": 3},
        {"remaining_grams": -5},
        {"weight": 1},
    ):
        status, body, _ = await farm.call("PATCH", path, json=bad)
        assert status == 400, bad
    for bad in ({"color": "Red"}, {"type": "PLA"}):
        status, body, _ = await farm.call("POST", "/v1/materials", json=bad)
        assert status == 400
    _, minimal, _ = await farm.call("POST", "/v1/materials", json={"type": "abs", "color": "Grey"})
    assert minimal["data"]["cost_per_kg"] == 22.0
    assert minimal["data"]["remaining_grams"] == 1000
    _, body, _ = await farm.call("DELETE", path)
    assert body["data"] == {"id": spool["id"], "deleted": True}
    status, body, _ = await farm.call("GET", path)
    assert status == 404
    assert body["error"]["code"] == "invalid_material"
    x1c = printer_named(farm, "X1C-01")
    farm.world.start_file(x1c, file_url=file_url("busy", 5000))
    busy_spool = farm.world.jobs[farm.world.printers[x1c].job_id or ""].spool_id
    status, body, _ = await farm.call("DELETE", f"/v1/materials/{busy_spool}")
    assert status == 409


async def test_material_profiles(farm: Farm) -> None:
    _, body, _ = await farm.call("GET", "/v1/materials/profiles?sort=-cost_per_kg")
    assert [p["material"] for p in body["data"]] == ["TPU", "PETG", "ABS", "PLA"]
    _, body, _ = await farm.call("GET", "/v1/materials/profiles?material=petg")
    assert [p["name"] for p in body["data"]] == ["Generic PETG"]
    new = {"name": "Silk PLA", "material": "pla", "nozzle_temp": 215, "bed_temp": 60}
    status, body, _ = await farm.call(
        "POST", "/v1/materials/profiles", json=new, headers={"Idempotency-Key": "p1"}
    )
    assert status == 201
    profile = body["data"]
    assert profile["id"].startswith("mpr_")
    assert (profile["material"], profile["density"], profile["cost_per_kg"]) == ("PLA", 1.24, 20)
    path = f"/v1/materials/profiles/{profile['id']}"
    _, body, _ = await farm.call("GET", path)
    assert body["data"] == profile
    _, body, _ = await farm.call("PATCH", path, json={"cost_per_kg": 31.5, "density": 1.3})
    assert (body["data"]["cost_per_kg"], body["data"]["density"]) == (31.5, 1.3)
    for bad in ({"nozzle_temp": 500}, {"density": 0}, {"brand": "x"}):
        status, _, _ = await farm.call("PATCH", path, json=bad)
        assert status == 400, bad
    status, _, _ = await farm.call("POST", "/v1/materials/profiles", json={"name": "x"})
    assert status == 400
    _, body, _ = await farm.call("DELETE", path)
    assert body["data"]["deleted"] is True
    status, body, _ = await farm.call("GET", path)
    assert status == 404
    assert body["error"]["code"] == "invalid_profile"


async def test_analytics_edges(farm: Farm) -> None:
    _, body, _ = await farm.call("GET", "/v1/analytics/performance")
    assert body["data"]["farm"]["success_rate"] is None
    assert body["data"]["period"] == "all"
    _, body, _ = await farm.call("GET", "/v1/analytics/reports")
    assert body["data"]["period"] == "week"
    _, body, _ = await farm.call("GET", "/v1/analytics/export?format=json&type=materials")
    assert len(body["data"]) == len(farm.world.spools)
    assert set(body["data"][0]) >= {"id", "type", "remaining_grams"}
    status, body, _ = await farm.call("GET", "/v1/analytics/export?type=materials")
    assert body.splitlines()[0].startswith("id,type,color")
    _, body, _ = await farm.call("GET", "/v1/analytics/costs")
    assert body["data"]["roi_percent"] == 0
    _, body, _ = await farm.call("GET", "/v1/analytics/summary")
    summary = body["data"]
    assert summary["printers"]["total"] == 3
    assert summary["printers"]["by_status"]["idle"] == 3
    assert summary["materials"]["low_stock"] == 1
    for query in (
        "reports?period=all",
        "reports?period=year",
        "export?format=xml",
        "export?type=printers",
        "costs?energy_price=free",
        "costs?energy_price=-1",
    ):
        status, body, _ = await farm.call("GET", f"/v1/analytics/{query}")
        assert status == 400, query
        assert body["error"]["code"] == "invalid_request"


async def test_world_jobs_from_other_sources_are_listed(farm: Farm) -> None:
    farm.world.submit_job(source="printago", file_url="parts/benchy.3mf", group="nowhere")
    _, body, _ = await farm.call("GET", "/v1/jobs")
    assert body["data"][0]["source"] == "printago"
    job = next(iter(farm.world.jobs.values()))
    job.status = JobStatus.QUEUED
