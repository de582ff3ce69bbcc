"""Tests that the repository's metadata agrees with itself, on every test leg."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.metadata import metadata

from custom_components.printfarm import DOMAIN

from .legs import LEGS, ROOT, canonical, pins, running_leg

MANIFEST = json.loads((ROOT / "custom_components/printfarm/manifest.json").read_text())
LEGS_SH = (ROOT / "scripts" / "legs.sh").read_text(encoding="utf-8")


def _legs_sh(name: str) -> str:
    match = re.search(rf'^{name}="([^"]*)"', LEGS_SH, re.MULTILINE)
    assert match, name
    return match[1]


def test_manifest_has_what_hacs_and_home_assistant_need() -> None:
    """Test the manifest names the integration and pins its requirements."""
    assert MANIFEST["domain"] == DOMAIN
    for key in ("name", "version", "codeowners", "documentation", "issue_tracker", "iot_class"):
        assert MANIFEST[key]
    assert MANIFEST["config_flow"] is True
    assert MANIFEST["integration_type"] == "hub"
    assert all("==" in requirement for requirement in MANIFEST["requirements"])


def test_requirements_agree() -> None:
    """Test each leg's constraints pin what its requirements and the manifest pin."""
    shared = pins(ROOT / "requirements_test.txt")
    assert shared
    for leg, (requirements, constraints) in LEGS.items():
        wanted = pins(requirements)
        locked = {canonical(name): version for name, version in pins(constraints).items()}
        # The test tools both legs share are in each, at the same version
        assert shared.items() <= wanted.items(), leg
        for name, version in wanted.items():
            assert locked.get(name) == version, (leg, name)
        for requirement in MANIFEST["requirements"]:
            name, version = requirement.split("==")
            assert wanted[canonical(name)] == version, (leg, name)
    assert pins(ROOT / "requirements.txt").items() <= pins(LEGS["min"][0]).items()
    assert pins(LEGS["min"][0])["homeassistant"] == "2026.2.3"
    assert pins(LEGS["min"][0])["pytest-homeassistant-custom-component"] == "0.13.316"
    versions = [
        tuple(int(part) for part in pins(requirements)["homeassistant"].split("."))
        for requirements, _ in LEGS.values()
    ]
    assert versions == sorted(versions)


def test_hacs_minimum_is_the_tested_minimum() -> None:
    """Test hacs.json asks for the Home Assistant of the minimum leg."""
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["name"]
    assert hacs["homeassistant"] == pins(ROOT / "requirements.txt")["homeassistant"]


def test_python_floor_matches_pyproject_and_home_assistant() -> None:
    """Test the project, scripts/setup and the running Home Assistant agree on Python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={_legs_sh('PY_MIN_FLOOR')}"
    floor = {"min": "PY_MIN_FLOOR", "newest": "PY_NEWEST_FLOOR"}.get(running_leg() or "")
    if floor:
        assert metadata("homeassistant")["Requires-Python"] == f">={_legs_sh(floor)}"
