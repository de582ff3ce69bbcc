"""Tests that the repository's metadata agrees with itself."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from custom_components.printfarm import DOMAIN

ROOT = Path(__file__).parent.parent
MANIFEST = json.loads((ROOT / "custom_components/printfarm/manifest.json").read_text())


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s#]+)", line.strip()):
            pins[match[1].lower()] = match[2]
    return pins


def test_manifest_has_what_hacs_and_home_assistant_need() -> None:
    """Test the manifest names the integration and pins its requirements."""
    assert MANIFEST["domain"] == DOMAIN
    for key in ("name", "version", "codeowners", "documentation", "issue_tracker", "iot_class"):
        assert MANIFEST[key]
    assert MANIFEST["config_flow"] is True
    assert MANIFEST["integration_type"] == "hub"
    assert all("==" in requirement for requirement in MANIFEST["requirements"])


def test_requirements_agree() -> None:
    """Test the manifest, requirements and constraints pin the same versions."""
    runtime = _pins(ROOT / "requirements.txt")
    locked = _pins(ROOT / "constraints.txt")
    for requirement in MANIFEST["requirements"]:
        name, version = requirement.split("==")
        assert runtime[name.lower()] == version
    for name, version in {**runtime, **_pins(ROOT / "requirements_test.txt")}.items():
        assert locked[name] == version, name
    assert runtime["homeassistant"] == "2026.2.3"
    assert locked["pytest-homeassistant-custom-component"] == "0.13.316"


def test_hacs_minimum_matches_tested_release() -> None:
    """Test hacs.json asks for a Home Assistant no newer than the one tested."""
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["name"]
    minimum = tuple(int(p) for p in hacs["homeassistant"].split("."))
    tested = tuple(int(p) for p in _pins(ROOT / "requirements.txt")["homeassistant"].split("."))
    assert (2026, 2, 0) <= minimum <= tested


def test_python_floor_matches_pyproject() -> None:
    """Test the project asks for the Python our Home Assistant needs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.13.2"
