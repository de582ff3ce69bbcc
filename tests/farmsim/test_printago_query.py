"""Tests for list queries of farmsim's Printago face: filters, sort, paging, meta, search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from farmsim.context import SimConfig
from farmsim.printago import PrintagoServer
from farmsim.printago.common import PrintagoError
from farmsim.printago.query import matches, parse_params, parse_search, run

from .helpers import sim_context

FIELDS = frozenset({"name", "size", "tags", "when", "gone", "flag"})
ITEMS: list[dict[str, object]] = [
    {
        "name": "Alpha",
        "size": 3,
        "tags": ["a", "b"],
        "when": "2025-01-01T00:00:00.000Z",
        "gone": None,
        "flag": True,
    },
    {
        "name": "beta",
        "size": 10,
        "tags": ["b"],
        "when": "2025-06-01T00:00:00.000Z",
        "gone": "x",
        "flag": False,
    },
    {
        "name": "Gamma",
        "size": 7.5,
        "tags": [],
        "when": "2025-03-01T00:00:00.000Z",
        "gone": None,
        "flag": False,
    },
]


def names(params: list[tuple[str, str]]) -> list[object]:
    result = run(parse_params(params, FIELDS), ITEMS)
    assert isinstance(result, list)
    return [item["name"] for item in result]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([("name", "beta")], ["beta"]),
        ([("name.eq", "Beta")], []),
        ([("name.ne", "beta")], ["Alpha", "Gamma"]),
        ([("name.contains", "MM")], ["Gamma"]),
        ([("name.startsWith", "al")], ["Alpha"]),
        ([("name.endsWith", "TA")], ["beta"]),
        ([("size.gt", "3")], ["beta", "Gamma"]),
        ([("size.gte", "3")], ["Alpha", "beta", "Gamma"]),
        ([("size.lt", "7.5")], ["Alpha"]),
        ([("size.lte", "7.5")], ["Alpha", "Gamma"]),
        ([("size.between", "4,10")], ["beta", "Gamma"]),
        ([("size", "10")], ["beta"]),
        ([("size.gt", "many")], []),
        ([("name.in", "Alpha,Gamma")], ["Alpha", "Gamma"]),
        ([("name.notIn", "Alpha,Gamma")], ["beta"]),
        ([("gone.isNull", "true")], ["Alpha", "Gamma"]),
        ([("gone.isNull", "false")], ["beta"]),
        ([("gone", "null")], ["Alpha", "Gamma"]),
        ([("flag", "true")], ["Alpha"]),
        ([("flag", "maybe")], []),
        ([("tags", "b")], ["Alpha", "beta"]),
        ([("tags.contains", "A")], ["Alpha"]),
        ([("when.gte", "2025-03-01T00:00:00Z")], ["beta", "Gamma"]),
        ([("when.lt", "2025-02-01")], ["Alpha"]),
        ([("when.gt", "1740000000000")], ["beta", "Gamma"]),
        ([("when.between", "2025-02-01,2025-12-31")], ["beta", "Gamma"]),
        ([("when.gt", "soon")], []),
        ([("name.gt", "Beta")], ["beta", "Gamma"]),
        ([("size.gt", "3"), ("flag", "false")], ["beta", "Gamma"]),
        ([("sort", "size:desc")], ["beta", "Gamma", "Alpha"]),
        ([("sort", "gone:asc,name")], ["beta", "Alpha", "Gamma"]),
        ([("sort", "gone:desc,name:desc")], ["Gamma", "Alpha", "beta"]),
        ([("sort", "name:desc"), ("limit", "2"), ("offset", "1")], ["beta", "Alpha"]),
        ([("include", "folder"), ("hints", "false")], ["Alpha", "beta", "Gamma"]),
    ],
)
def test_filters(params: list[tuple[str, str]], expected: list[str]) -> None:
    assert names(params) == expected


@pytest.mark.parametrize(
    "params",
    [
        [("unknown", "1")],
        [("name.like", "a")],
        [("size.between", "1")],
        [("limit", "1001")],
        [("limit", "0")],
        [("limit", "ten")],
        [("offset", "-1")],
        [("offset", "1.5")],
        [("sort", "nope:asc")],
        [("sort", "name:sideways")],
        [("fields", "name,nope")],
    ],
)
def test_bad_queries(params: list[tuple[str, str]]) -> None:
    with pytest.raises(PrintagoError) as err:
        parse_params(params, FIELDS)
    assert err.value.status == 400


def test_meta_projection_and_hints() -> None:
    query = parse_params([("meta", "true"), ("limit", "2"), ("fields", "name,size")], FIELDS)
    result = run(query, ITEMS)
    assert isinstance(result, dict)
    assert result["data"] == [{"name": "Alpha", "size": 3}, {"name": "beta", "size": 10}]
    meta = result["meta"]
    assert (meta["total"], meta["count"], meta["offset"], meta["limit"]) == (3, 2, 0, 2)
    assert meta["hasMore"] is True
    assert meta["executionTime"] >= 0
    hinted = run(parse_params([("hints", "1")], FIELDS), ITEMS)
    assert isinstance(hinted, dict)
    assert hinted["hints"] == []
    assert hinted["meta"]["hasMore"] is False


def test_search_body() -> None:
    body: dict[str, Any] = {
        "filter": {
            "or": [
                {"name": {"startsWith": "al"}},
                {"and": [{"size": {"gte": 5}}, {"flag": False}, {"tags": {"in": ["x", "b"]}}]},
            ]
        },
        "sort": "size:asc",
        "limit": 10,
    }
    result = run(parse_search(body, FIELDS), ITEMS)
    assert isinstance(result, dict)
    assert [item["name"] for item in result["data"]] == ["Alpha", "beta"]
    shorthand = run(parse_search({"filter": {"gone": None, "size": 7.5}}, FIELDS), ITEMS)
    assert isinstance(shorthand, dict)
    assert [item["name"] for item in shorthand["data"]] == ["Gamma"]
    between = run(parse_search({"filter": {"size": {"between": [3, 7.5]}}}, FIELDS), ITEMS)
    assert isinstance(between, dict)
    assert between["meta"]["total"] == 2
    flags = run(parse_search({"filter": {"name": {"eq": True}}}, FIELDS), [{"name": "true"}])
    assert isinstance(flags, dict)
    assert flags["meta"]["total"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"filter": []},
        {"filter": {"and": {}}},
        {"filter": {"name": {}}},
        {"filter": {"nope": 1}},
        {"filter": {"name": {"like": "a"}}},
        {"sort": 5},
        {"fields": ["name"]},
        {"limit": 5000},
    ],
)
def test_bad_search_bodies(body: dict[str, Any]) -> None:
    with pytest.raises(PrintagoError) as err:
        parse_search(body, FIELDS)
    assert err.value.status == 400


def test_operators_on_odd_values() -> None:
    assert not matches({"a": 1}, "eq", "1")
    assert not matches(value=True, op="eq", arg=5)
    assert not matches(3, "eq", None)
    assert matches(3, "in", 3)
    assert matches("2025-13-45T00:00:00Z", "gt", "2025-01-01")
    assert not matches(5, "eq", [5])
    assert not matches({"a": 1}, "gt", 1)
    assert not matches("x", "contains", None)
    assert not matches(None, "contains", "x")
    assert not matches(None, "gt", "1")
    assert matches("5", "eq", 5)
    assert not matches(1, "between", "x,y")


@pytest.fixture
async def server() -> AsyncIterator[PrintagoServer]:
    ctx = sim_context(SimConfig(seed=5), printers=4)
    async with PrintagoServer(ctx, realtime=False) as running:
        yield running


async def test_printer_list_over_http(session: aiohttp.ClientSession) -> None:
    async with session.get("/v1/printers", params={"tags": "production", "sort": "name"}) as resp:
        assert resp.status == 200
        assert [p["name"] for p in await resp.json()] == ["P1S-01", "P1S-02", "X1C-01"]
    params = {"name.startsWith": "p1s", "meta": "true", "limit": "1", "offset": "1"}
    async with session.get("/v1/printers", params=params) as resp:
        page = await resp.json()
        assert [p["name"] for p in page["data"]] == ["P1S-02"]
        assert page["meta"]["total"] == 2
        assert page["meta"]["hasMore"] is False
    async with session.get("/v1/printers", params={"colour": "red"}) as resp:
        assert resp.status == 400
        body = await resp.json()
        assert body == {
            "statusCode": 400,
            "message": ["Unknown field: colour"],
            "error": "Bad Request",
        }
    async with session.get("/v1/printers", params={"limit": "1001"}) as resp:
        assert resp.status == 400


async def test_search_over_http(session: aiohttp.ClientSession) -> None:
    body = {"filter": {"or": [{"name": {"eq": "A1-01"}}, {"name": {"endsWith": "-02"}}]}}
    async with session.post("/v1/printers/search", json=body) as resp:
        assert resp.status == 201
        result = await resp.json()
        assert sorted(p["name"] for p in result["data"]) == ["A1-01", "P1S-02"]
        assert result["meta"]["total"] == 2
    async with session.post("/v1/printers/search", data=b"{}") as resp:
        assert resp.status == 400
        assert (await resp.json())["message"] == 'Request body type is not "application/json".'
    bad_json = {"content-type": "application/json"}
    async with session.post("/v1/printers/search", data=b"{nope", headers=bad_json) as resp:
        assert resp.status == 400
    async with session.post("/v1/printers/search", json=[1]) as resp:
        assert resp.status == 400
