"""The OpenAPI 3.1 document of farmsim's AutoPrintFarm API v1."""

from __future__ import annotations

from typing import Any

from farmsim.autoprintfarm.delivery import EVENT_TYPES, TEST_EVENT
from farmsim.autoprintfarm.envelope import MAX_PER_PAGE
from farmsim.autoprintfarm.formats import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY

from .bodies import REQUEST_BODIES
from .dsl import INT, STR, ref
from .objects import SCHEMAS
from .operations import ERRORS, MP, PATH_PARAMS, RATE_HEADERS, A, J, K, M, P, W, query
from .paths import paths

DESCRIPTION = """\
Manage a 3D print farm: printers, jobs, materials, analytics and webhooks.

* Authenticate with `Authorization: Bearer YOUR_API_KEY`.
* Successful responses are `{"success": true, "data": ...}`; errors are
  `{"success": false, "error": {"code", "message", "details"}}`.
* Every authenticated response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
  `X-RateLimit-Reset` (epoch seconds). Past the hourly budget the API answers 429 with
  `Retry-After`.
* Lists take `page` and `per_page` (max 100) and return a `pagination` block; `sort` takes
  comma-separated fields, `-` for descending.
* Creating POSTs accept `Idempotency-Key`: the same key and body return the original
  response (with `Idempotent-Replayed: true`) for 24 hours; the same key with another body
  is answered 422 `idempotency_key_reused`.
* Webhook deliveries are signed: `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw
  body keyed with the subscription's secret>`, with `X-Webhook-Id` (the event id, the same
  on retries) and `X-Webhook-Timestamp` (epoch seconds). Failed deliveries are retried with
  backoff.
"""


def _components() -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "Page": query("page", {"type": "integer", "minimum": 1, "default": 1}, "Page number"),
        "PerPage": query(
            "per_page",
            {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 20},
            "Items per page",
        ),
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_IDEMPOTENCY_KEY,
                "pattern": IDEMPOTENCY_KEY_PATTERN,
            },
            "description": (
                "Repeat the request safely: the same key and body return the original response"
            ),
        },
    }
    for name, (component, prefix) in PATH_PARAMS.items():
        parameters[component] = {
            "name": name,
            "in": "path",
            "required": True,
            "schema": STR,
            "example": f"{prefix}abc123",
        }
    rate_headers = {
        name: {"description": description, "schema": INT}
        for name, description in zip(
            RATE_HEADERS,
            (
                "Requests allowed per hour",
                "Requests left in this window",
                "Epoch seconds when the window resets",
            ),
            strict=True,
        )
    }
    error_content = {"application/json": {"schema": ref("Error")}}
    responses: dict[str, Any] = {}
    for code, (name, description) in ERRORS.items():
        response: dict[str, Any] = {"description": description, "content": error_content}
        if code not in ("401", "503"):
            response["headers"] = {h: {"$ref": f"#/components/headers/{h}"} for h in RATE_HEADERS}
        if code == "429":
            response["headers"]["Retry-After"] = {"description": "Seconds to wait", "schema": INT}
        responses[name] = response
    return {
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Your API key"}
        },
        "schemas": {**SCHEMAS, **REQUEST_BODIES},
        "parameters": parameters,
        "headers": rate_headers,
        "responses": responses,
    }


def _webhooks() -> dict[str, Any]:
    headers = {
        "X-Webhook-Id": "Event id, the same on every retry",
        "X-Webhook-Event": "Event type",
        "X-Webhook-Timestamp": "Epoch seconds of this attempt",
        "X-Webhook-Signature": (
            "sha256=<hex HMAC-SHA256 of the raw body with the subscription's secret>"
        ),
        "User-Agent": "AutoPrintFarm-Webhook/1.0",
    }
    parameters = [
        {"name": name, "in": "header", "required": True, "schema": STR, "description": description}
        for name, description in headers.items()
    ]
    return {
        event: {
            "post": {
                "summary": f"The {event} event",
                "parameters": parameters,
                "requestBody": {"content": {"application/json": {"schema": ref("Event")}}},
                "responses": {
                    "2XX": {"description": "Delivered; anything else is retried with backoff"}
                },
            }
        }
        for event in (*EVENT_TYPES, TEST_EVENT)
    }


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AutoPrintFarm API (farmsim)",
            "version": "1.0.0",
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in (P, J, M, MP, A, W, K)],
        "paths": paths(),
        "components": _components(),
        "webhooks": _webhooks(),
    }
