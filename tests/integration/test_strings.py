"""Tests that every text and icon the integration uses exists, and en.json is up to date."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import EntityDescription
from homeassistant.setup import async_setup_component

from custom_components.printfarm.const import DOMAIN
from tests.legs import ON_MIN_LEG

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "custom_components" / DOMAIN
PLATFORMS = ("binary_sensor", "button", "event", "light", "select", "sensor")
EXCEPTION_RAISERS = (
    "ConfigEntryAuthFailed",
    "ConfigEntryError",
    "ConfigEntryNotReady",
    "HomeAssistantError",
    "ServiceValidationError",
    "UpdateFailed",
)


def _json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((COMPONENT / name).read_text(encoding="utf-8"))
    return data


STRINGS = _json("strings.json")
ICONS = _json("icons.json")
SERVICES: dict[str, Any] = yaml.safe_load((COMPONENT / "services.yaml").read_text("utf-8"))


def placeholders(text: str) -> set[str]:
    """Return the {placeholders} of a text."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def descriptions(module: ModuleType) -> list[EntityDescription]:
    """Return the entity descriptions a platform module defines."""
    found: list[EntityDescription] = []
    for value in vars(module).values():
        items = value if isinstance(value, tuple | list) else [value]
        # Not isinstance: Home Assistant may hand out a thawed copy of a description class
        found.extend(
            item
            for item in items
            if not isinstance(item, type)
            and all(hasattr(item, name) for name in ("key", "translation_key", "device_class"))
        )
    return found


def translated_descriptions() -> list[tuple[str, EntityDescription]]:
    """Return every entity description with a translation key, with its platform."""
    return [
        (platform, description)
        for platform in PLATFORMS
        for description in descriptions(
            importlib.import_module(f"custom_components.{DOMAIN}.{platform}")
        )
        if description.translation_key
    ]


def calls() -> list[tuple[str, ast.Call]]:
    """Return every call in the integration's modules (the library has no translations)."""
    found = []
    for path in sorted(COMPONENT.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found.extend((path.name, node) for node in ast.walk(tree) if isinstance(node, ast.Call))
    return found


def name_of(call: ast.Call) -> str:
    """Return the name a call is made by."""
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def keywords(call: ast.Call) -> dict[str, ast.expr]:
    """Return the keyword arguments of a call."""
    return {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}


def used_keys(kind: str) -> dict[str, set[str] | None]:
    """Return the translation keys of exceptions or issues the code uses, with placeholders."""
    used: dict[str, set[str] | None] = {}
    for filename, call in calls():
        args = keywords(call)
        if "translation_key" not in args:
            continue
        is_issue = name_of(call) == "async_create_issue"
        if kind == "issues" and not is_issue:
            continue
        if kind == "exceptions" and (is_issue or name_of(call) not in EXCEPTION_RAISERS):
            continue
        key = args["translation_key"]
        assert isinstance(key, ast.Constant), f"{filename}:{call.lineno}: literal key expected"
        given = args.get("translation_placeholders")
        names = (
            {k.value for k in given.keys if isinstance(k, ast.Constant)}
            if isinstance(given, ast.Dict)
            else (set() if given is None else None)
        )
        used[key.value] = names
    return used


def _translations_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("translations", ROOT / "scripts/translations.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def _common_texts(strings: Any, texts: Any) -> Any:
    """Return the texts, those made from a Home Assistant common string replaced by its key."""
    if isinstance(strings, dict) and isinstance(texts, dict):
        return {key: _common_texts(strings.get(key), value) for key, value in texts.items()}
    if isinstance(strings, str) and "[%key:common::" in strings:
        return strings
    return texts


def test_en_json_is_built_from_strings() -> None:
    """Test translations/en.json is what scripts/translations.py makes of strings.json.

    en.json is built with the minimum leg's Home Assistant, whose common strings it copies
    (`[%key:common::...%]`); newer releases word some of those otherwise, so there every text
    of printfarm's own is compared, and every common string only has to resolve.
    """
    script = _translations_script()
    expected = json.dumps(script.build(), indent=2, ensure_ascii=False) + "\n"
    assert "[%key:" not in expected
    shipped = (COMPONENT / "translations" / "en.json").read_text(encoding="utf-8")
    if ON_MIN_LEG:
        assert shipped == expected
    else:
        assert _common_texts(STRINGS, json.loads(shipped)) == _common_texts(
            STRINGS, json.loads(expected)
        )


URL = re.compile(r"https?://|www\.", re.IGNORECASE)


def _texts(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _texts(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _texts(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


@pytest.mark.parametrize(
    "name", ["strings.json", *sorted(p.name for p in (COMPONENT / "translations").glob("*.json"))]
)
def test_no_urls_in_strings(name: str) -> None:
    """Test no text holds a URL, as hassfest requires: addresses go in description placeholders."""
    path = COMPONENT / name if name == "strings.json" else COMPONENT / "translations" / name
    found = [
        f"{key}: {text}"
        for key, text in _texts(json.loads(path.read_text("utf-8")))
        if URL.search(text)
    ]
    assert not found, found


def test_url_check_finds_urls() -> None:
    """Test the URL check sees each form hassfest refuses, and passes placeholders."""
    texts = dict(
        _texts({"a": {"b": "See https://example.com"}, "c": ["http://x", "www.example.com"]})
    )
    assert sorted(key for key, text in texts.items() if URL.search(text)) == ["a.b", "c[0]", "c[1]"]
    assert not URL.search("The address, for example {example_url}")


@pytest.mark.parametrize(
    ("platform", "description"),
    translated_descriptions(),
    ids=lambda value: value if isinstance(value, str) else value.key,
)
def test_entity_strings(platform: str, description: EntityDescription) -> None:
    """Test every entity has a name, and every state it can take a text and an icon."""
    key = str(description.translation_key)
    strings = STRINGS["entity"][platform][key]
    assert strings["name"]
    options = getattr(description, "options", None) or []
    if options:
        assert set(strings["state"]) == set(options)
    event_types = getattr(description, "event_types", None) or []
    if event_types:
        assert set(strings["state_attributes"]["event_type"]["state"]) == set(event_types)
    icons = ICONS["entity"][platform].get(key)
    if getattr(description, "device_class", None) is None:
        # Entities without a device class take their icon from icons.json
        assert icons is not None
        assert icons["default"].startswith("mdi:")
    if icons is not None and "state" in icons and options:
        assert set(icons["state"]) <= set(options)


def test_no_stale_entity_strings() -> None:
    """Test every entity text and icon belongs to an entity description."""
    known = {(platform, str(d.translation_key)) for platform, d in translated_descriptions()}
    texts = {(platform, key) for platform, keys in STRINGS["entity"].items() for key in keys}
    icons = {(platform, key) for platform, keys in ICONS["entity"].items() for key in keys}
    assert texts == known
    assert icons <= known


def test_exception_strings() -> None:
    """Test every exception the code raises has a message with the placeholders it is given."""
    used = used_keys("exceptions")
    assert used
    messages = STRINGS["exceptions"]
    for key, names in used.items():
        assert key in messages, key
        if names is not None:
            assert placeholders(messages[key]["message"]) == names, key
    # No message is left that nothing raises
    assert set(messages) == set(used)


def test_issue_strings() -> None:
    """Test every repair issue the code raises has a title and a description."""
    used = used_keys("issues")
    assert used
    assert set(STRINGS["issues"]) == set(used)
    for key in used:
        assert STRINGS["issues"][key]["title"]
        assert STRINGS["issues"][key]["description"]


def test_service_strings() -> None:
    """Test every action and field in services.yaml has a name, a description and an icon."""
    assert set(STRINGS["services"]) == set(SERVICES)
    assert set(ICONS["services"]) == set(SERVICES)
    for service, spec in SERVICES.items():
        strings = STRINGS["services"][service]
        assert strings["name"]
        assert strings["description"]
        assert ICONS["services"][service]["service"].startswith("mdi:")
        assert set(strings["fields"]) == set(spec.get("fields", {})), service
        for field, field_spec in spec.get("fields", {}).items():
            assert strings["fields"][field]["name"], (service, field)
            assert strings["fields"][field]["description"], (service, field)
            select = field_spec["selector"].get("select", {})
            if key := select.get("translation_key"):
                assert set(STRINGS["selector"][key]["options"]) == set(select["options"])


def test_texts_are_sentences() -> None:
    """Test no text is left empty or with an unresolved reference to a missing string."""
    reference = re.compile(r"\[%key:([a-z0-9_:]+)%\]")

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
            return
        assert isinstance(node, str), path
        assert node.strip(), path
        for ref in reference.findall(node):
            if not ref.startswith("common::"):
                target: Any = STRINGS
                for part in ref.split("::"):
                    target = target[part]

    walk(STRINGS, "strings")


async def test_actions_match_services_yaml(hass: HomeAssistant) -> None:
    """Test the actions registered at setup are those services.yaml describes."""
    assert await async_setup_component(hass, DOMAIN, {})
    assert set(hass.services.async_services_for_domain(DOMAIN)) == set(SERVICES)
