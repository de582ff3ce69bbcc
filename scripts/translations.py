"""Write translations/en.json from strings.json, resolving Home Assistant's [%key:...%] references.

Run `.venv/bin/python scripts/translations.py` after changing strings.json; a test checks
that en.json is up to date.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import homeassistant

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "printfarm"
REFERENCE = re.compile(r"\[%key:([a-z0-9_:]+)%\]")


def _lookup(tree: dict[str, Any], path: str) -> str:
    node: Any = tree
    for part in path.split("::"):
        node = node[part]
    if not isinstance(node, str):
        msg = f"{path} is not a string"
        raise TypeError(msg)
    return node


def resolve(strings: Any, own: dict[str, Any], common: dict[str, Any]) -> Any:
    """Return the strings with every reference replaced by the text it names."""
    if isinstance(strings, dict):
        return {key: resolve(value, own, common) for key, value in strings.items()}
    if isinstance(strings, str):

        def replace(match: re.Match[str]) -> str:
            path = match.group(1)
            source = common if path.startswith("common::") else own
            return resolve(_lookup(source, path), own, common)

        return REFERENCE.sub(replace, strings)
    return strings


def build() -> dict[str, Any]:
    """Return the English translations of the integration."""
    own = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))
    core = Path(homeassistant.__file__).parent / "strings.json"
    common = json.loads(core.read_text(encoding="utf-8"))
    result: dict[str, Any] = resolve(own, own, common)
    return result


def main() -> int:
    """Write en.json."""
    target = COMPONENT / "translations" / "en.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
