"""Tests of the demo harness (devtools): its pieces, and a smoke run of a real Home Assistant.

The smoke test starts `python -m homeassistant` in a subprocess against an in-process farmsim,
onboards it and adds printfarm through the config-flow and subentry-flow REST API, as
`scripts/develop` does; it takes about 20 seconds.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import homeassistant
import pytest

from devtools import dashboard, demo
from devtools.dashboard import LiteralStr, build_dashboard, write_dashboard
from devtools.errors import HarnessError
from devtools.farm_connection import FarmConnection, FarmService
from devtools.farm_operator import FarmOperator
from devtools.harness import DemoOptions, start_demo
from devtools.processes import ManagedProcess, free_port
from devtools.registry import Registry
from farmsim.testing import running_farmsim

from .legs import ON_MIN_LEG

ROOT = Path(__file__).resolve().parent.parent

CONNECTION: dict[str, Any] = {
    "autoprintfarm": {"base_url": "http://127.0.0.1:1/v1", "api_key": "apf_key"},
    "printago": {
        "base_url": "http://127.0.0.1:2",
        "api_key": "pg_key",
        "store_id": "store",
        "realtime": {"url": "ws://127.0.0.1:2/mqtt"},
    },
    "printers": [
        {
            "name": "X1C-01",
            "serial": "00M00A000000001",
            "model": "X1C",
            "host": "127.0.0.1",
            "port": 8883,
            "access_code": "12345678",
            "ca_cert": "",
            "autoprintfarm_id": "prn_1",
            "printago_id": "p1",
        }
    ],
    "admin_url": "http://127.0.0.1:3/admin",
}


def test_connection_file_gives_both_services() -> None:
    """Test both farm services come from the connection file, printers on AutoPrintFarm."""
    farm = FarmConnection.from_json(CONNECTION)
    apf, printago = farm.services()
    assert apf.service == "autoprintfarm"
    assert apf.printers[0].autoprintfarm_id == "prn_1"
    assert apf.printers[0].ca_pem() == ""
    assert apf.answers() == {
        "user": {"next_step_id": "autoprintfarm"},
        "autoprintfarm": {"url": "http://127.0.0.1:1/v1", "api_key": "apf_key"},
    }
    assert printago.printers == ()
    assert printago.answers()["printago"] == {
        "url": "http://127.0.0.1:2",
        "api_key": "pg_key",
        "store_id": "store",
        "realtime_url": "ws://127.0.0.1:2/mqtt",
    }
    assert farm.admin_url == "http://127.0.0.1:3/admin"


def test_options_from_env() -> None:
    """Test the environment picks farmsim or a real farm, the port and the credentials."""
    options = demo.options_from_env({}, root=ROOT)
    assert options.services is None
    assert (options.port, options.printers, options.time_scale) == (8123, 6, 60.0)
    assert options.user.username == "demo"
    assert options.user.password == demo.DEFAULT_PASSWORD
    assert options.fresh
    assert options.dashboard_path == ROOT / "config" / "dashboards" / "printfarm.yaml"

    options = demo.options_from_env(
        {
            "PRINTFARM_SERVICE": "Printago",
            "PRINTFARM_URL": "https://api.printago.io",
            "PRINTFARM_API_KEY": "key",
            "PRINTFARM_STORE_ID": "store",
            "PRINTFARM_DEMO_PORT": "8200",
            "PRINTFARM_DEMO_PASSWORD": "secret",
            "PRINTFARM_DEMO_KEEP_STATE": "1",
        },
        root=ROOT,
    )
    assert options.services == [
        FarmService(
            service="printago", url="https://api.printago.io", api_key="key", store_id="store"
        )
    ]
    assert options.port == 8200
    assert options.user.password == "secret"
    assert not options.fresh
    assert options.dashboard_path == ROOT / "config" / "dashboards" / "local.yaml"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PRINTFARM_SERVICE": "octoprint"}, "must be autoprintfarm or printago"),
        ({"PRINTFARM_SERVICE": "autoprintfarm"}, "PRINTFARM_URL, PRINTFARM_API_KEY"),
        (
            {"PRINTFARM_SERVICE": "printago", "PRINTFARM_URL": "u", "PRINTFARM_API_KEY": "k"},
            "PRINTFARM_STORE_ID",
        ),
        ({"FARMSIM_TIME_SCALE": "fast"}, "not a number"),
    ],
)
def test_options_from_env_errors(environ: dict[str, str], message: str) -> None:
    """Test an incomplete real farm or a bad number is refused with the variable's name."""
    with pytest.raises(ValueError, match=message):
        demo.options_from_env(environ, root=ROOT)


def test_help_names_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    """Test --help documents the environment variables the demo reads."""
    with pytest.raises(SystemExit):
        demo.main(["--help"])
    text = capsys.readouterr().out
    source = (ROOT / "devtools" / "demo.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"((?:PRINTFARM|FARMSIM)_[A-Z_]+)"', source))
    assert read
    for name in read:
        assert name in text


@pytest.mark.skipif(
    not ON_MIN_LEG, reason="the demo runs the minimum leg's Home Assistant (requirements.txt)"
)
def test_demo_requirements_pinned_as_home_assistant_pins_them() -> None:
    """Test requirements_demo.txt pins exactly what the demo's Home Assistant pins."""
    ha_pins = {}
    constraints = Path(homeassistant.__file__).parent / "package_constraints.txt"
    for line in constraints.read_text(encoding="utf-8").splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip()):
            ha_pins[match[1].lower()] = match[2]
    demo_pins = {}
    for line in (ROOT / "requirements_demo.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.strip().split("==")
            demo_pins[name.lower()] = version
    assert "home-assistant-frontend" in demo_pins
    for name, version in demo_pins.items():
        assert ha_pins.get(name) == version, name


def _registry() -> Registry:
    """Return the registry of two farms that list the same printer, as the demo has."""
    devices = []
    entities = []
    for entry, service, suffix in (("e1", "AutoPrintFarm", ""), ("e2", "Printago", "_2")):
        devices += [
            {"id": f"{entry}_farm", "name": "farmsim", "manufacturer": service,
             "config_entries": [entry], "via_device_id": None},
            {"id": f"{entry}_x1c", "name": "X1C-01", "manufacturer": "Bambu Lab",
             "config_entries": [entry], "via_device_id": f"{entry}_farm"},
        ]  # fmt: skip
        printer = [
            ("sensor.x1c_01", "status"),
            ("sensor.x1c_01_progress", "progress"),
            ("sensor.x1c_01_time_remaining", "time_remaining"),
            ("sensor.x1c_01_current_job", "current_job"),
            ("sensor.x1c_01_nozzle_temperature", "nozzle_temperature"),
            ("sensor.x1c_01_bed_temperature", "bed_temperature"),
            ("binary_sensor.x1c_01_online", "online"),
            ("binary_sensor.x1c_01_awaiting_bed_clear", "awaiting_bed_clear"),
            ("button.x1c_01_pause_print", "pause"),
            ("button.x1c_01_resume_print", "resume"),
            ("button.x1c_01_cancel_print", "cancel"),
            ("button.x1c_01_mark_bed_clear", "clear_bed"),
        ]
        entities += [
            {"entity_id": entity_id + suffix, "device_id": f"{entry}_x1c", "translation_key": key,
             "unique_id": f"{entry}_prn_{key}", "original_name": key}
            for entity_id, key in printer
        ]  # fmt: skip
        farm = [
            ("sensor.farmsim_queued_jobs", "jobs_queued", "q"),
            ("sensor.farmsim_active_jobs", "jobs_active", "a"),
            ("sensor.farmsim_printers_printing", "printers_printing", "p"),
            ("sensor.farmsim_tpu_black_shelf_b_remaining", "material_remaining",
             "acc_mat1_material_remaining"),
            ("binary_sensor.farmsim_tpu_black_shelf_b_low_stock", "material_low_stock",
             "acc_mat1_material_low_stock"),
        ]  # fmt: skip
        entities += [
            {"entity_id": entity_id + suffix, "device_id": f"{entry}_farm", "translation_key": key,
             "unique_id": unique, "original_name": "TPU Black Shelf B remaining"}
            for entity_id, key, unique in farm
        ]  # fmt: skip
    return Registry(
        entries=[{"entry_id": "e1", "title": "farmsim"}, {"entry_id": "e2", "title": "Printago"}],
        devices=devices,
        entities=entities,
    )


def _entity_ids(node: Any) -> set[str]:
    """Return every entity id a dashboard mentions, in cards and in templates."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "perform_action":
                found |= _entity_ids(value)
    elif isinstance(node, list):
        for value in node:
            found |= _entity_ids(value)
    elif isinstance(node, str):
        found |= set(re.findall(r"\b(?:sensor|binary_sensor|button)\.[a-z0-9_]+", node))
    return found


def test_dashboard_from_registry(tmp_path: Path) -> None:
    """Test the dashboard shows each farm, its printers, stock and controls by real ids."""
    registry = _registry()
    config = build_dashboard(registry)
    views = config["views"]
    assert [view["path"] for view in views] == ["autoprintfarm", "printago", "temperatures"]
    apf = views[0]
    assert {badge["entity"] for badge in apf["badges"]} == {
        "sensor.farmsim_queued_jobs",
        "sensor.farmsim_active_jobs",
        "sensor.farmsim_printers_printing",
    }
    queue, stock, printer = apf["sections"]
    table = next(card for card in queue["cards"] if card["type"] == "markdown")["content"]
    assert isinstance(table, LiteralStr)
    assert "'sensor.x1c_01_time_remaining'" in table
    warning = next(card for card in stock["cards"] if card["type"] == "conditional")
    assert warning["conditions"][0]["entity"] == "binary_sensor.farmsim_tpu_black_shelf_b_low_stock"
    assert warning["card"]["entity"] == "sensor.farmsim_tpu_black_shelf_b_remaining"
    tiles = {card["entity"]: card for card in printer["cards"] if card["type"] == "tile"}
    assert tiles["sensor.x1c_01"]["name"] == "Status"
    assert tiles["sensor.x1c_01_progress"]["features"][0]["type"] == "bar-gauge"
    cancel = tiles["button.x1c_01_cancel_print"]["tap_action"]
    assert cancel["perform_action"] == "button.press"
    assert "confirmation" in cancel
    assert "button.x1c_01_mark_bed_clear" in tiles
    # The second farm's view uses its own ids; the temperatures show each printer once
    assert "sensor.x1c_01_progress_2" in _entity_ids(views[1])
    assert _entity_ids(views[2]) == {
        "sensor.x1c_01_nozzle_temperature",
        "sensor.x1c_01_bed_temperature",
    }
    known = {entity["entity_id"] for entity in registry.entities}
    assert _entity_ids(config) <= known

    path = tmp_path / "dashboards" / "printfarm.yaml"
    assert write_dashboard(path, config)
    assert not write_dashboard(path, config)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(dashboard.HEADER)
    assert "content: |" in text


class FakeClient:
    """What FarmOperator uses of HomeAssistantClient: states and action calls."""

    def __init__(self, states: dict[str, str]) -> None:
        """Answer with these states."""
        self.state = states
        self.calls: list[tuple[str, Any]] = []

    async def states(self) -> list[dict[str, Any]]:
        """Return the states."""
        return [{"entity_id": key, "state": value} for key, value in self.state.items()]

    async def request(self, method: str, path: str, *, json_body: Any = None) -> Any:
        """Record an action call."""
        assert method == "POST"
        self.calls.append((path, json_body))


async def test_operator_clears_beds_and_tops_up_the_queue() -> None:
    """Test the demo operator presses Mark bed clear after a while and submits jobs."""
    client = FakeClient(
        {
            "binary_sensor.x1c_01_awaiting_bed_clear": "on",
            "button.x1c_01_mark_bed_clear": "unknown",
            "sensor.farmsim_queued_jobs": "1",
        }
    )
    operator = FarmOperator(client, _registry(), "e1", clear_after=0.0, submit_every=3600)  # type: ignore[arg-type]
    await operator.step()
    paths = [path for path, _ in client.calls]
    assert paths == ["/api/services/button/press", "/api/services/printfarm/submit_job"]
    assert client.calls[0][1] == {"entity_id": "button.x1c_01_mark_bed_clear"}
    job = client.calls[1][1]
    assert job["config_entry_id"] == "e1"
    assert "sim_seconds=" in job["file_url"]
    # Another job waits for submit_every; a cleared bed is not pressed again
    client.state["binary_sensor.x1c_01_awaiting_bed_clear"] = "off"
    await operator.step()
    assert len(client.calls) == 2
    assert (operator.presses, operator.submitted) == (1, 1)


async def test_managed_process_is_killed_when_it_ignores_sigterm(tmp_path: Path) -> None:
    """Test stop() escalates to SIGKILL after the grace period."""
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)\n"  # noqa: E501
    process = ManagedProcess(
        "stubborn", [sys.executable, "-c", script], log_path=tmp_path / "stubborn.log"
    )
    await process.start()
    for _ in range(100):
        if "ready" in process.log_tail():
            break
        await asyncio.sleep(0.05)
    assert process.running
    assert await process.stop(grace=0.5) == -9
    assert not process.running
    with pytest.raises(HarnessError, match="stubborn is gone"):
        process.fail("stubborn is gone")


# Home Assistant always sets up its frontend; pointed at an empty development tree, it loads
# without the home-assistant-frontend package (installed for the demo only, not in the tests).
SMOKE_CONFIG = """\
homeassistant:
  name: printfarm smoke test
  unit_system: metric
  time_zone: UTC
  country: DE
frontend:
  development_repo: {frontend}
http:
  server_host: 127.0.0.1
  server_port: !env_var PRINTFARM_DEMO_PORT 8123
api:
config:
onboarding:
"""


@pytest.mark.timeout(150)
async def test_smoke_real_home_assistant(tmp_path: Path) -> None:
    """Test the harness brings up a real Home Assistant with both farms and every printer."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (tmp_path / "frontend" / "hass_frontend").mkdir(parents=True)
    config = SMOKE_CONFIG.format(frontend=tmp_path / "frontend")
    (config_dir / "configuration.yaml").write_text(config, encoding="utf-8")
    (config_dir / "leftover.db").write_text("state of an earlier run", encoding="utf-8")
    async with running_farmsim(printers=2, demo=True, time_scale=30) as sim:
        farm = FarmConnection.from_json(sim.connection)
        options = DemoOptions(
            config_dir=config_dir,
            state_dir=tmp_path / "state",
            port=free_port(),
            services=farm.services(),
            settle_timeout=30.0,
            start_timeout=120.0,
        )
        running = await start_demo(options)
        try:
            assert not (config_dir / "leftover.db").exists()
            assert (config_dir / "custom_components").resolve() == ROOT / "custom_components"
            # A second demo on the same config directory is refused
            with pytest.raises(HarnessError, match="another demo"):
                await start_demo(DemoOptions(config_dir=config_dir, port=free_port(), services=[]))
            registry = running.registry
            assert registry is not None
            assert [e["title"] for e in running.entries] == [e["title"] for e in registry.entries]
            apf_entry = registry.entries[0]["entry_id"]
            assert len(registry.printer_devices(apf_entry)) == 2
            entries = await running.client.request("GET", "/api/config/config_entries/entry")
            assert {e["state"] for e in entries if e["domain"] == "printfarm"} == {"loaded"}
            # Onboarding set up none of the integrations that need the internet
            onboarded = {"google_translate", "met", "radio_browser", "shopping_list"}
            assert not onboarded & {e["domain"] for e in entries}
            assert all(
                registry.entity_id(d["id"], "nozzle_temperature")
                for d in registry.printer_devices(apf_entry)
            )
            # The dashboard names only entities Home Assistant has
            states = {s["entity_id"] for s in await running.client.states()}
            config = build_dashboard(registry)
            assert _entity_ids(config) <= states
            assert "sensor.x1c_01_progress" in _entity_ids(config)
            # Printers' status sensors are exposed to Assist
            exposed = await running.client.ws_call({"type": "homeassistant/expose_entity/list"})
            assert exposed["exposed_entities"]["sensor.x1c_01"]["conversation"] is True
        finally:
            await running.stop()
        assert running.hass.returncode == 0
