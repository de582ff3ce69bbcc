"""The textual formats the AutoPrintFarm API accepts, shared by its checks and its OpenAPI document.

Every pattern is written in the subset of regular expressions that Python's `re` and the
ECMA-262 dialect of JSON Schema read alike (character classes of ASCII characters, groups,
`?`, `*`, `+`, `{n}`, `|`, `^` and `$`), and the server checks a value with `fullmatch` (or
`search`, where the document's pattern is unanchored), so a value is valid for the server
exactly when it is valid for the document.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

# The white space that text fields are trimmed of (no Unicode spaces: they count as text).
WHITESPACE = " \t\n\r\f\v"
MAX_TEXT = 200
# Text fields need one character that is not white space.
TEXT_PATTERN = r"[^ \t\n\r\f\v]"
# An http(s) URL with a host: an authority of RFC 3986 characters (no IP-literal brackets),
# then optionally a path, query or fragment of printable ASCII.
URL_PATTERN = r"^https?://[A-Za-z0-9._~%!$&'()*+,;=:@-]+(?:[/?#][!-~]*)?$"
HEX_PATTERN = r"^#?[0-9A-Fa-f]{6}$"
# Printable ASCII, no white space at either end (a header value as HTTP carries it).
IDEMPOTENCY_KEY_PATTERN = r"^[!-~](?:[ -~]*[!-~])?$"
MAX_IDEMPOTENCY_KEY = 255
# Bounds of quantities, so that the figures derived from them stay finite
MAX_GRAMS = 1_000_000.0
MAX_PRICE = 1_000_000_000.0
MAX_WATTS = 100_000.0
# Query values
INTEGER_PATTERN = r"^-?[0-9]+$"
NUMBER_PATTERN = r"^-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$"
BOOLEAN_VALUES = ("true", "false")
EPOCH_PATTERN = r"-?[0-9]+(?:\.[0-9]+)?"
ISO_PATTERN = (
    r"(?P<year>[0-9]{4})-(?P<month>0[1-9]|1[0-2])-(?P<day>0[1-9]|[12][0-9]|3[01])"
    r"(?:T(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9])"
    r"(?::(?P<second>[0-5][0-9](?:\.[0-9]{1,6})?))?"
    r"(?P<zone>Z|(?P<sign>[-+])(?P<zone_hour>[01][0-9]|2[0-3]):(?P<zone_minute>[0-5][0-9]))?)?"
)
# Python's named groups, which the document leaves out (see `portable`)
TIME_PATTERN = f"^(?:{EPOCH_PATTERN}|{ISO_PATTERN})$"
# A time filter: a time, or empty for none
TIME_FILTER_PATTERN = f"^(?:{EPOCH_PATTERN}|{ISO_PATTERN})?$"

TEXT = re.compile(TEXT_PATTERN)
URL = re.compile(URL_PATTERN)
HEX = re.compile(HEX_PATTERN)
IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
INTEGER = re.compile(INTEGER_PATTERN)
NUMBER = re.compile(NUMBER_PATTERN)
TIME = re.compile(TIME_PATTERN)


def portable(pattern: str) -> str:
    """Return a pattern without Python's group names, as the document states it."""
    return re.sub(r"\?P<\w+>", "", pattern)


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(re.escape(word) for word in words)


def list_pattern(words: Iterable[str]) -> str:
    """Return the pattern of a comma-separated list of words, which may be empty."""
    word = f"(?:{_alternatives(words)})"
    return f"^(?:{word}(?:,{word})*)?$"


def sort_pattern(fields: Iterable[str]) -> str:
    """Return the pattern of a sort: comma-separated fields, each `-`-prefixed for descending."""
    field = f"-?(?:{_alternatives(fields)})"
    return f"^(?:{field}(?:,{field})*)?$"
