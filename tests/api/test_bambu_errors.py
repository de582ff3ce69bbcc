"""Tests for Bambu Lab error codes told in words."""

from __future__ import annotations

import pytest

from custom_components.printfarm.api import describe
from custom_components.printfarm.api.bambu.errors import describe_health, wiki_url
from custom_components.printfarm.api.state import HealthMessage


def test_hms_code_in_words() -> None:
    """Test an HMS code gives its module, severity, meaning and wiki page."""
    info = describe("0700_2000_0002_0001", "P1S")
    assert info.module == "ams"
    assert info.severity == "serious"
    assert info.description == "An AMS slot ran out of filament."
    assert info.url == "https://wiki.bambulab.com/en/p1/troubleshooting/hmscode/0700_2000_0002_0001"


@pytest.mark.parametrize(
    ("model", "series"),
    [("X1C", "x1"), ("A1MINI", "a1"), ("H2D", "h2"), ("P2S", "p2s"), (None, "x1"), ("Q9", "x1")],
)
def test_wiki_page_of_each_series(model: str | None, series: str) -> None:
    """Test the wiki page is that of the printer's series (X1's when it is not known)."""
    assert wiki_url("0300_8015", model) == (
        f"https://wiki.bambulab.com/en/{series}/troubleshooting/hmscode/0300_8015"
    )


def test_print_error_and_unknown_codes() -> None:
    """Test a print error has its module but no severity; an unknown code keeps its code."""
    info = describe("0c00_9999", "X1C")
    assert (info.code, info.module, info.severity, info.description) == (
        "0C00_9999",
        "camera",
        None,
        None,
    )
    assert describe("0300_400C").description == "The print was cancelled."
    assert describe("FF00_0000_0004_0000").module is None


@pytest.mark.parametrize("code", ["", "0300", "0300_40", "0300_400G", "1_2_3_4", "0300_400C_"])
def test_not_a_code(code: str) -> None:
    """Test text that is no error code is told as it is, without a module or page."""
    info = describe(code)
    assert (info.module, info.severity, info.url) == (None, None, None)
    assert wiki_url(code) is None


def test_printago_health_keeps_its_own_severity() -> None:
    """Test a print-error-style code reported as a warning keeps the warning's severity."""
    info = describe_health(HealthMessage(code="0300_8013", severity=3))
    assert info.severity == "common"
    assert info.description == "The print was paused by the user."
    assert describe_health(HealthMessage(code="0300_0100_0002_0001", severity=4)).severity == (
        "serious"
    )
