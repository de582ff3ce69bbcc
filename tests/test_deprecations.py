"""Tests of the guard that fails a test when printfarm's code uses a deprecated API."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant

from .deprecations import PACKAGE, DeprecationGuard

# A tiny helper that stands for printfarm's own code: compiled under a file name inside the
# package, so Python and Home Assistant attribute its calls to printfarm.
PROBE = """
import datetime

from homeassistant.helpers import frame
from homeassistant.util.unit_conversion import TemperatureConverter


def python_deprecated():
    return datetime.datetime.utcnow()


def home_assistant_deprecated():
    return TemperatureConverter.convert_interval(10, "°C", "°F")


def home_assistant_reported():
    frame.report_usage("calls a probe's deprecated API", breaks_in_ha_version="2099.1")
"""


def _probe(filename: Path, module: str) -> dict[str, Callable[[], Any]]:
    namespace: dict[str, Any] = {"__name__": module}
    exec(compile(PROBE, str(filename), "exec"), namespace)  # noqa: S102
    return namespace


def printfarm_probe() -> dict[str, Callable[[], Any]]:
    """Return the probe's functions, as if they were a module of printfarm."""
    return _probe(PACKAGE / "_deprecation_probe.py", "custom_components.printfarm._probe")


async def test_deprecated_calls_from_printfarm_are_caught(
    hass: HomeAssistant, deprecation_guard: DeprecationGuard
) -> None:
    """Test the guard every test runs under catches each kind of deprecation of printfarm's."""
    probe = printfarm_probe()
    probe["python_deprecated"]()
    assert probe["home_assistant_deprecated"]() == 18.0
    probe["home_assistant_reported"]()

    found = list(deprecation_guard.found)
    # The test passes only because the guard is emptied here.
    deprecation_guard.found.clear()
    assert len(found) == 3, found
    assert found[0].startswith("DeprecationWarning at ")
    assert "_deprecation_probe.py" in found[0]
    assert "utcnow() is deprecated" in found[0]
    assert "The deprecated function convert_interval was called from printfarm." in found[1]
    assert "Detected that custom integration 'printfarm' calls a probe's" in found[2]


def test_deprecations_of_other_code_pass_through(tmp_path: Path) -> None:
    """Test a deprecation warning raised for code outside printfarm is only handed on."""
    outside = _probe(tmp_path / "elsewhere.py", "elsewhere")
    with warnings.catch_warnings(record=True) as handed_on:
        warnings.simplefilter("always")
        with DeprecationGuard() as guard:
            outside["python_deprecated"]()
            printfarm_probe()["python_deprecated"]()
    assert len(guard.found) == 1
    assert "_deprecation_probe.py" in guard.found[0]
    assert [str(w.filename) for w in handed_on] == [str(tmp_path / "elsewhere.py")]
