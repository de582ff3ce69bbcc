"""The AutoPrintFarm API accepts exactly what its OpenAPI document allows.

The server checks values with Python's `re`, the document states the same patterns for JSON
Schema's ECMA-262 dialect: a Rust validator (jsonschema_rs) must agree with `re` on them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from farmsim.autoprintfarm import formats
from farmsim.autoprintfarm.app import ROUTES, routed_path
from farmsim.autoprintfarm.envelope import ApiError, parse_time
from farmsim.autoprintfarm.views import PRINTER_STATUSES
from farmsim.context import SimConfig

from .helpers import START, Farm, printer_named, serve_autoprintfarm, sim_context

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

# (pattern as the document states it, the server's check)
PATTERNS: dict[str, tuple[str, re.Pattern[str], bool]] = {
    "text": (formats.TEXT_PATTERN, formats.TEXT, False),
    "url": (formats.URL_PATTERN, formats.URL, True),
    "hex": (formats.HEX_PATTERN, formats.HEX, True),
    "idempotency key": (formats.IDEMPOTENCY_KEY_PATTERN, formats.IDEMPOTENCY_KEY, True),
    "integer": (formats.INTEGER_PATTERN, formats.INTEGER, True),
    "number": (formats.NUMBER_PATTERN, formats.NUMBER, True),
    "time": (formats.portable(formats.TIME_PATTERN), formats.TIME, True),
    "statuses": (
        formats.list_pattern(PRINTER_STATUSES),
        re.compile(formats.list_pattern(PRINTER_STATUSES)),
        True,
    ),
    "sort": (
        formats.sort_pattern(("name", "created_at")),
        re.compile(formats.sort_pattern(("name", "created_at"))),
        True,
    ),
}
# Strings near the patterns: their characters, white space and line ends
NEAR = st.lists(
    st.sampled_from(
        [*"09aAfFzZT:-+.,#/?@%_~ \t\n\r\f\v\x1c\xa0é", "http", "https://", "2025-", "idle", "name"]
    ),
    max_size=12,
).map("".join)


def server_accepts(name: str, value: str) -> bool:
    _, check, anchored = PATTERNS[name]
    return bool(check.fullmatch(value) if anchored else check.search(value))


@pytest.mark.parametrize("name", PATTERNS)
@settings(max_examples=150, derandomize=True, deadline=None)
@given(value=st.one_of(NEAR, st.text(max_size=20)))
@example(value="2025-01-01\n")
@example(value="idle\n")
@example(value="\n")
def test_document_patterns_mean_what_the_server_checks(name: str, value: str) -> None:
    pattern, _, _ = PATTERNS[name]
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    assert validator.is_valid(value) == server_accepts(name, value), (name, value)


def test_patterns_name_no_python_only_syntax() -> None:
    for pattern, _, _ in PATTERNS.values():
        assert "?P<" not in pattern
    assert "?P<" in formats.TIME_PATTERN


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1750000000", 1_750_000_000.0),
        ("1750000000.5", 1_750_000_000.5),
        ("2025-06-15", datetime(2025, 6, 15, tzinfo=UTC).timestamp()),
        ("2025-06-15T15:08", datetime(2025, 6, 15, 15, 8, tzinfo=UTC).timestamp()),
        ("2025-06-15T15:08:09.25Z", datetime(2025, 6, 15, 15, 8, 9, tzinfo=UTC).timestamp() + 0.25),
        ("2025-06-15T15:08:00+02:00", datetime(2025, 6, 15, 13, 8, tzinfo=UTC).timestamp()),
        ("2025-06-15T15:08:00-01:30", datetime(2025, 6, 15, 16, 38, tzinfo=UTC).timestamp()),
        # Past the end of its month: into the next one, as the document says
        ("2025-02-30", datetime(2025, 3, 2, tzinfo=UTC).timestamp()),
        ("2024-02-29", datetime(2024, 2, 29, tzinfo=UTC).timestamp()),
        ("2000-12-31T23:59:59Z", datetime(2000, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()),
        ("1900-03-01", datetime(1900, 3, 1, tzinfo=UTC).timestamp()),
        ("0000-01-01", datetime(1, 1, 1, tzinfo=UTC).timestamp() - 366 * 86400),
    ],
)
def test_parse_time(value: str, expected: float) -> None:
    assert parse_time(value, "created_after") == expected


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - naive bounds, as hypothesis wants them
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    offset=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
)
def test_parse_time_agrees_with_datetime(moment: datetime, offset: int) -> None:
    sign = "+" if offset >= 0 else "-"
    zone = f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}"
    )
    assert parse_time(text + "Z", "t") == pytest.approx(moment.timestamp(), abs=1e-5)
    expected = moment.timestamp() - offset * 60
    assert parse_time(text + zone, "t") == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("value", ["", "yesterday", "2025-13-01", "2025-06-15 15:08", "1e9", "nan"])
def test_parse_time_refuses(value: str) -> None:
    with pytest.raises(ApiError) as err:
        parse_time(value, "created_after")
    assert err.value.status == 400


def test_route_parameters_leave_sibling_words_alone() -> None:
    paths = [route.path for route in ROUTES]
    pattern = routed_path("/materials/{material_id}", paths)
    assert pattern == "/materials/{material_id:(?!(?:alerts|consumption|profiles)(?:/|$))[^/]+}"
    assert routed_path("/webhooks/{webhook_id}", paths) == "/webhooks/{webhook_id}"


@pytest.fixture
async def farm() -> AsyncIterator[Farm]:
    ctx = sim_context(SimConfig(seed=7), printers=4, start=START)
    async with serve_autoprintfarm(ctx, Farm) as farm:
        yield farm


async def test_methods_not_allowed_name_the_resource_methods(farm: Farm) -> None:
    printer_id = printer_named(farm, "X1C-01")
    for method, path, allowed in (
        ("OPTIONS", "/v1/printers/groups", "GET"),
        ("PATCH", "/v1/printers/groups", "GET"),
        ("PATCH", "/v1/jobs/history", "GET"),
        ("DELETE", "/v1/materials/alerts", "GET"),
        ("OPTIONS", "/v1/materials/profiles", "GET, POST"),
        ("OPTIONS", f"/v1/printers/{printer_id}", "GET, PATCH"),
        ("PUT", "/v1/materials/mat_nope", "DELETE, GET, PATCH"),
    ):
        status, body, headers = await farm.call(method, path)
        assert (status, headers["Allow"]) == (405, allowed), (method, path)
        if method != "HEAD":
            assert body["error"]["code"] == "method_not_allowed"
    status, body, _ = await farm.call("GET", "/v1/printers/groups/settings")
    assert (status, body["error"]["code"]) == (404, "not_found")


async def test_bodies_are_required(farm: Farm) -> None:
    printer_id = printer_named(farm, "X1C-01")
    for method, path in (
        ("PATCH", f"/v1/printers/{printer_id}"),
        ("PATCH", f"/v1/printers/{printer_id}/settings"),
        ("POST", "/v1/materials"),
    ):
        status, body, _ = await farm.call(method, path)
        assert (status, body["error"]["code"]) == (400, "invalid_request"), path
        assert body["error"]["message"] == "Missing request body"
    # An empty object is a body: nothing to change
    status, _, _ = await farm.call("PATCH", f"/v1/printers/{printer_id}", json={})
    assert status == 200
    for raw in (b"NaN", b'{"name": Infinity}', b"[]"):
        status, _, _ = await farm.call("PATCH", f"/v1/printers/{printer_id}", data=raw)
        assert status == 400, raw


@pytest.mark.parametrize(
    "payload",
    [
        {"name": None},
        {"name": ""},
        {"name": " \t\n"},
        {"name": "x" * 201},
        {"maintenance": None},
        {"group": 5},
    ],
)
async def test_printer_fields_must_be_what_the_document_says(
    farm: Farm, payload: dict[str, Any]
) -> None:
    printer_id = printer_named(farm, "X1C-01")
    status, body, _ = await farm.call("PATCH", f"/v1/printers/{printer_id}", json=payload)
    assert status == 400, payload
    assert body["error"]["details"].startswith(next(iter(payload)))


async def test_text_is_trimmed_of_ascii_white_space_only(farm: Farm) -> None:
    printer_id = printer_named(farm, "X1C-01")
    path = f"/v1/printers/{printer_id}"
    _, body, _ = await farm.call("PATCH", path, json={"name": "  Lab X1C\n", "group": "\xa0"})
    assert (body["data"]["name"], body["data"]["group"]) == ("Lab X1C", "\xa0")


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "PLA", "color": "Red", "hex_code": " #FF0000"},
        {"type": "PLA", "color": "Red", "hex_code": "#FF0000\n"},
        {"type": "PLA", "color": "Red", "remaining_grams": 1e300},
        {"type": "PLA", "color": "Red", "cost_per_kg": -1},
        {"type": "PLA", "color": "Red", "capacity_grams": 10**400},
    ],
)
async def test_material_fields_must_be_what_the_document_says(
    farm: Farm, payload: dict[str, Any]
) -> None:
    status, _, _ = await farm.call("POST", "/v1/materials", json=payload)
    assert status == 400, payload


async def test_a_tiny_capacity_does_not_overflow(farm: Farm) -> None:
    spool = {"type": "PLA", "color": "Red", "remaining_grams": 1e6, "capacity_grams": 5e-324}
    status, body, _ = await farm.call("POST", "/v1/materials", json=spool)
    assert (status, body["data"]["remaining_percent"]) == (201, 100)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example.com/a.gcode",
        "https://",
        "HTTPS://a/b",
        "https://a b/c",
        "https://[::1]/",
    ],
)
async def test_file_urls_are_http_urls_with_a_host(farm: Farm, url: str) -> None:
    status, body, _ = await farm.call("POST", "/v1/jobs", json={"file_url": url})
    assert (status, body["error"]["details"].split(":")[0]) == (400, "file_url"), url


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("status=", 4),
        ("status=idle", 4),
        ("status=idle,offline", 4),
        ("sort=", 4),
        ("sort=-name,model", 4),
        ("page=1&per_page=100", 4),
        ("group=", 4),
    ],
)
async def test_printer_queries_the_document_allows(farm: Farm, query: str, count: int) -> None:
    status, body, _ = await farm.call("GET", f"/v1/printers?{query}")
    assert (status, len(body["data"])) == (200, count), query


@pytest.mark.parametrize(
    "query",
    [
        "status=IDLE",
        "status=idle,",
        "status=%20idle",
        "sort=%2Bname",
        "sort=-%2Bname",
        "sort=name,%20model",
        "page=%2B1",
        "page=1_0",
        "per_page=%D9%A5",
    ],
)
async def test_printer_queries_the_document_refuses(farm: Farm, query: str) -> None:
    status, _, _ = await farm.call("GET", f"/v1/printers?{query}")
    assert status == 400, query


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/materials?low_stock=true", 200),
        ("/v1/materials?low_stock=1", 400),
        ("/v1/materials?low_stock=TRUE", 400),
        ("/v1/analytics/costs?energy_price=0.3", 200),
        ("/v1/analytics/costs?energy_price=3e-1", 200),
        ("/v1/analytics/costs?energy_price=nan", 400),
        ("/v1/analytics/costs?energy_price=inf", 400),
        ("/v1/analytics/costs?energy_price=1e999", 400),
        ("/v1/analytics/costs?energy_price=1e10", 400),
        ("/v1/jobs?created_after=", 200),
        ("/v1/jobs?created_after=2025-02-30", 200),
        ("/v1/jobs?created_before=2025-06-15T15:08:00%2B02:00", 200),
        ("/v1/jobs?created_before=tomorrow", 400),
    ],
)
async def test_other_queries(farm: Farm, path: str, status: int) -> None:
    answer, _, _ = await farm.call("GET", path)
    assert answer == status, path


async def test_idempotency_keys_are_printable_ascii(farm: Farm) -> None:
    body = {"file_url": "https://files.example.com/k.gcode"}
    for key, status in (("key 1", 201), ("k" * 255, 201), ("k" * 256, 400), ("clé", 400)):
        answer, _, _ = await farm.call(
            "POST", "/v1/jobs", json=body, headers={"Idempotency-Key": key}
        )
        assert answer == status, key
