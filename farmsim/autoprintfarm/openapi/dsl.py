"""A small vocabulary for writing JSON schemas of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from farmsim.autoprintfarm.formats import (
    HEX_PATTERN,
    MAX_TEXT,
    TEXT_PATTERN,
    URL_PATTERN,
)

type Schema = dict[str, Any]

NULL: Schema = {"type": "null"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
STR: Schema = {"type": "string"}
TIME: Schema = {"type": "string", "format": "date-time"}
# What request bodies accept: text with a character besides white space, http(s) URLs, colors
TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": TEXT_PATTERN}
URL: Schema = {"type": "string", "pattern": URL_PATTERN}
HEX: Schema = {"type": "string", "pattern": HEX_PATTERN}


def quantity(maximum: float, minimum: float = 0) -> Schema:
    """Return a number schema within bounds."""
    return {"type": "number", "minimum": minimum, "maximum": maximum}


def nullable(schema: Schema) -> Schema:
    """Return a schema that also allows null."""
    if "type" in schema and "enum" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, NULL]}


def ref(name: str) -> Schema:
    """Return a reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Schema) -> Schema:
    """Return an array schema."""
    return {"type": "array", "items": items}


def enum(values: Any) -> Schema:
    """Return a string enum schema."""
    return {"type": "string", "enum": list(values)}


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """Return a closed object schema; every property is required unless optional."""
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


def body(properties: dict[str, Schema], *, required: tuple[str, ...] = ()) -> Schema:
    """Return a request body schema with the given required fields."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def counts(names: Any) -> Schema:
    """Return an object of integer counts."""
    return obj(dict.fromkeys(names, INT))
