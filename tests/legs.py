"""printfarm's test legs (scripts/legs.sh) as the tests see them: their pins, and which runs."""

from __future__ import annotations

import re
from pathlib import Path

from homeassistant.const import __version__ as HA_VERSION  # noqa: N812

ROOT = Path(__file__).resolve().parent.parent
# Each leg's requirements and its constraints (the pip freeze of a fresh install).
LEGS = {
    "min": (ROOT / "requirements" / "min.txt", ROOT / "constraints.txt"),
    "newest": (ROOT / "requirements/newest.txt", ROOT / "requirements/newest-constraints.txt"),
}


def canonical(name: str) -> str:
    """Return a distribution name in its normalized form (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """Return the name==version pins of a requirements file and the files it includes (-r)."""
    found: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= pins(path.parent / line[3:].strip())
        elif match := re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line):
            found[canonical(match[1])] = match[2]
    return found


def running_leg() -> str | None:
    """Return the leg whose Home Assistant is installed, or None for another one."""
    for leg, (requirements, _) in LEGS.items():
        if pins(requirements)["homeassistant"] == HA_VERSION:
            return leg
    return None


# The demo, the benchmark and translations/en.json are made with the minimum leg's Home
# Assistant (requirements.txt, .venv).
ON_MIN_LEG = running_leg() == "min"
