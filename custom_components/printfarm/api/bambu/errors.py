"""Bambu Lab error codes in words: the module and severity a code tells, and what it means.

An HMS code is written `AAAA_AAAA_CCCC_CCCC` (its `attr` and `code` words); a print error
`EEEE_EEEE`. The first byte names the module that raised it, an HMS code's third word its
severity. A few frequent codes are described in words; for every code there is the page
of Bambu Lab's wiki that explains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ..state import HealthMessage

# The module by the first byte of a code
MODULES: Final[Mapping[int, str]] = {
    0x03: "motion_controller",
    0x05: "mainboard",
    0x07: "ams",
    0x08: "toolhead",
    0x0C: "camera",
    0x10: "extruder",
    0x12: "ams_ht",
    0x18: "ams",
}
# HMS severities
SEVERITIES: Final[Mapping[int, str]] = {1: "fatal", 2: "serious", 3: "common", 4: "info"}
SERIOUS: Final = frozenset({"fatal", "serious"})
WIKI: Final = "https://wiki.bambulab.com/en/{series}/troubleshooting/hmscode/{code}"
# The wiki's section for each printer series, by the start of the model's name
SERIES: Final = (("X1", "x1"), ("P1", "p1"), ("A1", "a1"), ("H2", "h2"), ("P2", "p2s"))
CODE_WORDS: Final = (2, 4)  # a print error has two words, an HMS code four

# What some frequent codes mean, in printfarm's own words. The last word of an AMS code
# counts the slot (from 0) and its second word's third digit the unit.
DESCRIPTIONS: Final[Mapping[str, str]] = {
    "0300_400C": "The print was cancelled.",
    "0300_4000": "Homing the Z axis failed.",
    "0300_8000": "The print is paused.",
    "0300_8013": "The print was paused by the user.",
    "0300_0100_0001_0001": "The heatbed heats up abnormally.",
    "0300_0100_0001_0003": "The heatbed temperature is abnormal: the sensor may be faulty.",
    "0300_0D00_0001_0003": "The build plate is not placed properly.",
    "0500_0100_0003_0004": "The storage (SD card) is full.",
    "0500_0300_0001_0001": "The mainboard reports an internal error.",
    "0700_2000_0002_0001": "An AMS slot ran out of filament.",
    "0700_7000_0002_0001": "Feeding filament from the AMS failed.",
    "0700_8006": "The AMS could not feed the filament to the toolhead.",
    "0700_8010": "The AMS assist motor is overloaded.",
    "0C00_0100_0001_0004": "The camera is not working.",
    "0C00_0300_0002_0009": "Spaghetti or a failed first layer may be on the build plate.",
    "1200_8006": "The AMS HT could not feed the filament.",
}


@dataclass(frozen=True, kw_only=True)
class ErrorInfo:
    """An error code told in words."""

    code: str
    module: str | None
    severity: str | None
    description: str | None
    url: str | None


def _words(code: str) -> list[int] | None:
    """Return the hex words of a code, or None if it is not one."""
    parts = code.split("_")
    if len(parts) not in CODE_WORDS or any(len(part) != 4 for part in parts):  # noqa: PLR2004
        return None
    try:
        return [int(part, 16) for part in parts]
    except ValueError:
        return None


def wiki_url(code: str, model: str | None = None) -> str | None:
    """Return the page of Bambu Lab's wiki about a code, for the printer's series."""
    if _words(code) is None:
        return None
    name = (model or "").upper()
    series = next((slug for prefix, slug in SERIES if name.startswith(prefix)), "x1")
    return WIKI.format(series=series, code=code.upper())


def describe(code: str, model: str | None = None) -> ErrorInfo:
    """Return what an HMS code or print error code tells: module, severity, meaning, wiki."""
    words = _words(code)
    if words is None:
        return ErrorInfo(code=code, module=None, severity=None, description=None, url=None)
    module = MODULES.get(words[0] >> 8)
    severity = SEVERITIES.get(words[2]) if len(words) == max(CODE_WORDS) else None
    return ErrorInfo(
        code=code.upper(),
        module=module,
        severity=severity,
        description=DESCRIPTIONS.get(code.upper()),
        url=wiki_url(code, model),
    )


def describe_health(message: HealthMessage, model: str | None = None) -> ErrorInfo:
    """Return a health message told in words; its own severity is kept where the code has none."""
    info = describe(message.code, model)
    if info.severity is None:
        return ErrorInfo(
            code=info.code,
            module=info.module,
            severity=SEVERITIES.get(message.severity),
            description=info.description,
            url=info.url,
        )
    return info
