"""Colour names a person reads, for the hex colours printers and farms report."""

from __future__ import annotations

from typing import Final

# Filament colours as people name them, with a typical shade of each
NAMED_COLORS: Final = (
    ("black", (0x00, 0x00, 0x00)),
    ("white", (0xFF, 0xFF, 0xFF)),
    ("gray", (0x80, 0x80, 0x80)),
    ("silver", (0xC0, 0xC0, 0xC0)),
    ("red", (0xD0, 0x20, 0x20)),
    ("dark red", (0x80, 0x10, 0x10)),
    ("orange", (0xF0, 0x80, 0x20)),
    ("yellow", (0xF5, 0xD0, 0x20)),
    ("gold", (0xC8, 0xA0, 0x30)),
    ("beige", (0xE8, 0xD8, 0xB0)),
    ("brown", (0x80, 0x50, 0x30)),
    ("green", (0x30, 0xA0, 0x40)),
    ("dark green", (0x10, 0x50, 0x20)),
    ("lime", (0xA0, 0xE0, 0x30)),
    ("cyan", (0x30, 0xC0, 0xD0)),
    ("blue", (0x20, 0x50, 0xC0)),
    ("navy", (0x10, 0x20, 0x60)),
    ("purple", (0x80, 0x40, 0xA0)),
    ("pink", (0xF0, 0x90, 0xB0)),
    ("magenta", (0xD0, 0x30, 0x90)),
)
HEX_DIGITS: Final = 6


def color_name(hex_color: str | None) -> str | None:
    """Return the name of the nearest named colour to "#RRGGBB", or None for no colour."""
    text = (hex_color or "").lstrip("#")
    if len(text) < HEX_DIGITS:
        return None
    try:
        red, green, blue = (int(text[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return None

    def distance(shade: tuple[int, int, int]) -> float:
        # Weighted for how the eye tells colours apart (a common low-cost approximation)
        mean = (red + shade[0]) / 2
        dr, dg, db = red - shade[0], green - shade[1], blue - shade[2]
        return (2 + mean / 256) * dr * dr + 4 * dg * dg + (2 + (255 - mean) / 256) * db * db

    return min(NAMED_COLORS, key=lambda named: distance(named[1]))[0]
