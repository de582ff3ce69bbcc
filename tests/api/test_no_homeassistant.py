"""Prove the client library stands alone: it never imports Home Assistant or the integration."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "custom_components" / "printfarm"
API = PACKAGE / "api"
MODULES = sorted(API.rglob("*.py"))

# Imports `api` as a top-level package from its folder (its parent package is never run and
# its siblings, such as the integration's select.py, never shadow the standard library), then
# every module in it, and reports what got imported.
PROBE = """
import importlib, importlib.util, json, pkgutil, sys
from pathlib import Path
folder = Path(sys.argv[1]) / "api"
spec = importlib.util.spec_from_file_location(
    "api", folder / "__init__.py", submodule_search_locations=[str(folder)]
)
api = importlib.util.module_from_spec(spec)
sys.modules["api"] = api
spec.loader.exec_module(api)
names = [info.name for info in pkgutil.walk_packages(api.__path__, "api.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "modules": names,
    "homeassistant_installed": importlib.util.find_spec("homeassistant") is not None,
    "loaded": sorted(
        name for name in sys.modules
        if name.split(".")[0] in ("homeassistant", "custom_components")
    ),
}))
"""


def _forbidden(source: str, depth: int = 0) -> list[str]:
    """Return the imports that reach Home Assistant or out of the library (`depth` deep)."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > depth + 1:
                found.append(f"{'.' * node.level}{node.module or ''} (outside api)")
                continue
            if node.level == 0 and node.module:
                names = [node.module]
        for name in names:
            top = name.split(".")[0]
            inside = name == "custom_components.printfarm.api" or name.startswith(
                "custom_components.printfarm.api."
            )
            if top == "homeassistant" or (top == "custom_components" and not inside):
                found.append(name)
    return found


def test_library_has_modules() -> None:
    """The check below really looks at the library."""
    names = {str(module.relative_to(API)) for module in MODULES}
    assert {
        "__init__.py",
        "transport/http.py",
        "autoprintfarm/client.py",
        "printago/client.py",
    } <= names
    assert (API / "py.typed").exists()


@pytest.mark.parametrize("module", MODULES, ids=lambda module: str(module.relative_to(API)))
def test_module_imports(module: Path) -> None:
    """No module imports Home Assistant, the integration or anything above the library."""
    depth = len(module.relative_to(API).parts) - 1
    assert _forbidden(module.read_text(encoding="utf-8"), depth) == []


def test_forbidden_imports_are_found() -> None:
    """The import check catches every way out of the library."""
    source = (
        "import homeassistant.core\n"
        "from homeassistant.helpers import aiohttp_client\n"
        "from custom_components.printfarm import DOMAIN\n"
        "from custom_components.printfarm.api.models import Job\n"
        "import custom_components.printfarm.api\n"
        "from .. import DOMAIN\n"
        "from . import models\n"
    )
    assert _forbidden(source) == [
        "homeassistant.core",
        "homeassistant.helpers",
        "custom_components.printfarm",
        ".. (outside api)",
    ]
    assert _forbidden("from .. import models\n", depth=1) == []


def test_import_loads_no_homeassistant() -> None:
    """Importing every module of the library in a fresh interpreter loads no Home Assistant."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE, str(PACKAGE)],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert report["homeassistant_installed"], "the check means nothing without Home Assistant"
    assert {"api.transport.http", "api.autoprintfarm.client", "api.printago.client"} <= set(
        report["modules"]
    )
    assert report["loaded"] == []
