"""Building blocks of the OpenAPI operations: parameters, envelopes, error responses."""

from __future__ import annotations

from typing import Any

from farmsim.autoprintfarm.envelope import PERIODS
from farmsim.autoprintfarm.formats import TIME_FILTER_PATTERN, list_pattern, portable, sort_pattern

from .dsl import STR, Schema, array, enum, ref

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
ERRORS = {
    "400": ("BadRequest", "Bad Request - Invalid parameters"),
    "401": ("Unauthorized", "Unauthorized - Invalid API key"),
    "403": ("Forbidden", "Forbidden - Insufficient permissions"),
    "404": ("NotFound", "Not Found - Resource doesn't exist"),
    "409": ("Conflict", "Conflict - The object is not in a state that allows this"),
    "422": ("IdempotencyKeyReused", "The Idempotency-Key was used with another request"),
    "429": ("RateLimited", "Too Many Requests - Rate limit exceeded"),
    "500": ("ServerError", "Internal Server Error"),
    "503": ("Unavailable", "Service temporarily unavailable"),
}
ALWAYS = ("400", "401", "403", "429", "500", "503")
PATH_PARAMS = {
    "printer_id": ("PrinterId", "prt_"),
    "job_id": ("JobId", "job_"),
    "material_id": ("MaterialId", "mat_"),
    "profile_id": ("ProfileId", "mpr_"),
    "webhook_id": ("WebhookId", "whk_"),
}


def query(name: str, schema: Schema, description: str) -> dict[str, Any]:
    """Return a query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def statuses(values: Any) -> dict[str, Any]:
    """Return a comma-separated status filter (empty: no filter)."""
    words = tuple(values)
    return query(
        "status",
        {"type": "string", "pattern": list_pattern(words)},
        f"Comma-separated statuses: {', '.join(words)}",
    )


def sort(fields: tuple[str, ...]) -> dict[str, Any]:
    """Return the sort parameter (empty: no sorting)."""
    return query(
        "sort",
        {"type": "string", "pattern": sort_pattern(fields)},
        f"Comma-separated fields, `-` for descending. Fields: {', '.join(fields)}",
    )


PAGE = ({"$ref": "#/components/parameters/Page"}, {"$ref": "#/components/parameters/PerPage"})
PERIOD = query("period", enum(PERIODS), "Time window of the figures")
GROUP = query("group", STR, "Printer group")


def envelope(data: Schema, *, paged: bool = False) -> Schema:
    """Return a success envelope around a data schema."""
    properties: dict[str, Schema] = {
        "success": {"const": True},
        "data": array(data) if paged else data,
    }
    if paged:
        properties["pagination"] = ref("Pagination")
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def op(
    op_id: str,
    summary: str,
    scope: str,
    tag: str,
    data: Schema,
    *,
    path: str = "",
    params: tuple[dict[str, Any], ...] = (),
    body: str | None = None,
    paged: bool = False,
    status: str = "200",
    extra_errors: tuple[str, ...] = (),
    idempotent: bool = False,
    csv: bool = False,
) -> dict[str, Any]:
    """Return one operation."""
    parameters = [
        {"$ref": f"#/components/parameters/{PATH_PARAMS[name][0]}"}
        for name in PATH_PARAMS
        if "{" + name + "}" in path
    ]
    if idempotent:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    parameters.extend(params)
    if paged:
        parameters.extend(PAGE)
    content: dict[str, Any] = {"application/json": {"schema": envelope(data, paged=paged)}}
    if csv:
        content["text/csv"] = {"schema": STR}
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_HEADERS}
    responses: dict[str, Any] = {
        status: {"description": summary, "headers": headers, "content": content}
    }
    codes = set(ALWAYS) | set(extra_errors)
    if "{" in path:
        codes.add("404")
    if idempotent:
        codes.add("422")
    for code in sorted(codes):
        responses[code] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    operation: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "security": [{"bearerAuth": [scope] if scope else []}],
        "x-required-scope": scope,
        "parameters": parameters,
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    return operation


TIME_QUERY = {"type": "string", "pattern": portable(TIME_FILTER_PATTERN)}
TIME_DESCRIPTION = (
    "Epoch seconds, or an ISO-8601 date or date-time (UTC unless it has an offset); "
    "a day past the end of its month rolls over into the next"
)
JOB_FILTERS = (
    query("printer_id", STR, "Jobs of one printer"),
    GROUP,
    query("created_after", TIME_QUERY, TIME_DESCRIPTION),
    query("created_before", TIME_QUERY, TIME_DESCRIPTION),
)
P, J, M, MP, A, W = "Printers", "Jobs", "Materials", "Material profiles", "Analytics", "Webhooks"
K = "API keys"
PR, PW, JR, JW = "printers:read", "printers:write", "jobs:read", "jobs:write"
MR, MW, AR, WW = "materials:read", "materials:write", "analytics:read", "webhooks:write"
