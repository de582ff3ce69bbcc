"""Tests for decoding pushed JSON payloads."""

from __future__ import annotations

import math

import pytest

from custom_components.printfarm.api.parsing import decode_json


def test_decode_json() -> None:
    """Test JSON is decoded from bytes and text, also what orjson alone refuses."""
    assert decode_json(b'{"print":{"mc_percent":37}}') == {"print": {"mc_percent": 37}}
    assert decode_json('["OMG"]') == ["OMG"]
    assert math.isnan(decode_json(b'{"nozzle_temper":NaN}')["nozzle_temper"])
    assert decode_json(b"[18446744073709551616]") == [2**64]
    for payload in (b"", b"OMGPUPPIES", b'{"print":', b"\xff"):
        with pytest.raises(ValueError, match=r".+"):
            decode_json(payload)
