"""Tests of the integration's quality scale self-assessment (hassfest skips custom integrations)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.printfarm import PLATFORMS
from custom_components.printfarm.const import DOMAIN

COMPONENT = Path(__file__).resolve().parents[2] / "custom_components" / DOMAIN

# The rules of each tier, from Home Assistant's integration quality scale
BRONZE = (
    "action-setup",
    "appropriate-polling",
    "brands",
    "common-modules",
    "config-flow",
    "config-flow-test-coverage",
    "dependency-transparency",
    "docs-actions",
    "docs-conditions",
    "docs-high-level-description",
    "docs-installation-instructions",
    "docs-removal-instructions",
    "docs-triggers",
    "entity-event-setup",
    "entity-unique-id",
    "has-entity-name",
    "runtime-data",
    "test-before-configure",
    "test-before-setup",
    "unique-config-entry",
)
SILVER = (
    "action-exceptions",
    "config-entry-unloading",
    "docs-configuration-parameters",
    "docs-installation-parameters",
    "entity-unavailable",
    "integration-owner",
    "log-when-unavailable",
    "parallel-updates",
    "reauthentication-flow",
    "test-coverage",
)
GOLD = (
    "devices",
    "diagnostics",
    "discovery",
    "discovery-update-info",
    "docs-data-update",
    "docs-examples",
    "docs-known-limitations",
    "docs-supported-devices",
    "docs-supported-functions",
    "docs-troubleshooting",
    "docs-use-cases",
    "dynamic-devices",
    "entity-category",
    "entity-device-class",
    "entity-disabled-by-default",
    "entity-translations",
    "exception-translations",
    "icon-translations",
    "reconfiguration-flow",
    "repair-issues",
    "stale-devices",
)
PLATINUM = ("async-dependency", "inject-websession", "strict-typing")

RULES: dict[str, Any] = yaml.safe_load((COMPONENT / "quality_scale.yaml").read_text("utf-8"))[
    "rules"
]


def status_of(rule: str) -> tuple[str, str | None]:
    """Return the status of a rule and its comment."""
    entry = RULES[rule]
    if isinstance(entry, str):
        return entry, None
    return entry["status"], entry.get("comment")


@pytest.mark.parametrize("rule", BRONZE + SILVER + GOLD)
def test_rule_met(rule: str) -> None:
    """Test every Bronze, Silver and Gold rule is done, or exempt for a stated reason."""
    assert rule in RULES, f"{rule} is missing from quality_scale.yaml"
    status, comment = status_of(rule)
    assert status in ("done", "exempt"), f"{rule} is {status}"
    if status == "exempt":
        assert comment, f"{rule} is exempt without a reason"
        assert comment.strip()


def test_no_unknown_rules() -> None:
    """Test quality_scale.yaml names only rules that exist."""
    assert set(RULES) <= set(BRONZE + SILVER + GOLD + PLATINUM)


def test_manifest_claims_gold() -> None:
    """Test the manifest claims no more than the file shows."""
    manifest = yaml.safe_load((COMPONENT / "manifest.json").read_text("utf-8"))
    assert manifest["quality_scale"] == "gold"


@pytest.mark.parametrize("platform", [str(platform) for platform in PLATFORMS])
def test_parallel_updates(platform: str) -> None:
    """Test every platform limits its parallel updates (parallel-updates)."""
    module = importlib.import_module(f"custom_components.{DOMAIN}.{platform}")
    assert isinstance(module.PARALLEL_UPDATES, int)


async def test_actions_without_entries(hass: HomeAssistant) -> None:
    """Test the actions exist before any farm is set up (action-setup)."""
    assert await async_setup_component(hass, DOMAIN, {})
    assert not hass.config_entries.async_entries(DOMAIN)
    assert hass.services.has_service(DOMAIN, "submit_job")
