"""What a print file takes to print, derived from its URL."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

from .models import FileProfile


def file_profile(file_url: str) -> FileProfile:
    """Return what printing a file takes.

    Query parameters `sim_seconds`, `sim_grams`, `sim_layers`, `sim_material` and
    `sim_fail_at` override the values otherwise derived from the URL's hash.
    """
    digest = hashlib.sha256(file_url.encode()).digest()
    seconds = 1800 + int.from_bytes(digest[0:2]) % 5400
    grams = 10 + int.from_bytes(digest[2:4]) % 110
    layers = 100 + int.from_bytes(digest[4:6]) % 400
    query = parse_qs(urlsplit(file_url).query)

    def number(name: str, default: float) -> float:
        try:
            value = float(query[name][0])
        except (KeyError, IndexError, ValueError):
            return default
        return value if value > 0 else default

    fail_at = number("sim_fail_at", -1)
    return FileProfile(
        print_seconds=number("sim_seconds", seconds),
        grams=number("sim_grams", grams),
        layers=max(1, int(number("sim_layers", layers))),
        material=query.get("sim_material", [None])[0],
        fail_at_percent=fail_at if fail_at > 0 else None,
    )


def file_name(file_url: str) -> str:
    """Return the file name without the print-file extensions."""
    name = urlsplit(file_url).path.rsplit("/", 1)[-1] or "print"
    for suffix in (".gcode.3mf", ".3mf", ".gcode", ".stl", ".step"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return name
