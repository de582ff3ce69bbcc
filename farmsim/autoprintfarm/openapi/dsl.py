"""A small vocabulary for writing JSON schemas of the OpenAPI document."""

from __future__ import annotations

from typing import Any

type Schema = dict[str, Any]

NULL: Schema = {"type": "null"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
STR: Schema = {"type": "string"}
TIME: Schema = {"type": "string", "format": "date-time"}


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
