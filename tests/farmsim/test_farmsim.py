"""Tests for farmsim as a whole: one world seen through every face, the admin API and the CLI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as mqtt
import pytest
from aiohttp import web
from paho.mqtt.enums import CallbackAPIVersion

from farmsim import FarmSim, SimConfig, cli
from farmsim.cli import build_parser, config_from_args
from farmsim.testing import running_farmsim

from .helpers import wait_until

ROOT = Path(__file__).parent.parent.parent
QUICK = "https://files.example/bracket.gcode.3mf?sim_seconds=600&sim_grams=12&sim_layers=60"


class Reports:
    """A paho client that collects a printer's MQTT reports (merged like a real client)."""

    def __init__(self, printer: dict[str, Any]) -> None:
        """Connect to the printer with its access code, verifying its CA."""
        self.serial = printer["serial"]
        self.merged: dict[str, Any] = {}
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{self.serial}")
        self.client.username_pw_set("bblp", printer["access_code"])
        context = ssl.create_default_context(cafile=printer["ca_cert"])
        context.check_hostname = False
        self.client.tls_set_context(context)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect_async(printer["host"], printer["port"])
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(f"device/{self.serial}/report")
        client.publish(
            f"device/{self.serial}/request",
            json.dumps({"pushing": {"sequence_id": "1", "command": "pushall"}}),
        )

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            report = json.loads(msg.payload)["print"]
        except (ValueError, KeyError):
            return
        with self._lock:
            self.messages.append(report)
            if report.get("command") == "push_status":
                self.merged.update(report)
        self._loop.call_soon_threadsafe(self._changed.set)

    def value(self, key: str) -> Any:
        """Return the latest merged value of a report field."""
        with self._lock:
            return self.merged.get(key)

    async def wait_for(self, key: str, predicate: Any, within: float = 10) -> Any:
        """Wait until a merged field satisfies a predicate."""
        async with asyncio.timeout(within):
            while not predicate(self.value(key)):
                self._changed.clear()
                await self._changed.wait()
        return self.value(key)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Return an HTTP session."""
    async with aiohttp.ClientSession() as session:
        yield session


def apf_headers(sim: FarmSim) -> dict[str, str]:
    """Return AutoPrintFarm headers."""
    return {"Authorization": f"Bearer {sim.connection['autoprintfarm']['api_key']}"}


def printago_headers(sim: FarmSim) -> dict[str, str]:
    """Return Printago headers."""
    conn = sim.connection["printago"]
    return {"authorization": f"ApiKey {conn['api_key']}", "x-printago-storeid": conn["store_id"]}


async def test_connection_file_describes_every_face(farmsim: FarmSim, tmp_path: Path) -> None:
    """Test the connection file has exactly the documented keys and is private."""
    path = tmp_path / "nested" / "farmsim.json"
    farmsim.write_connection_file(path)
    data = json.loads(path.read_text())
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert set(data) >= {"autoprintfarm", "printago", "printers", "admin_url"}
    assert set(data["autoprintfarm"]) >= {"base_url", "api_key", "openapi_url"}
    assert data["autoprintfarm"]["base_url"].endswith("/v1")
    assert set(data["printago"]) >= {"base_url", "api_key", "store_id", "realtime"}
    assert data["printago"]["realtime"]["url"].startswith("ws://127.0.0.1:")
    assert data["printago"]["realtime"]["username"] == data["printago"]["store_id"]
    assert len(data["printers"]) == 3
    for printer in data["printers"]:
        assert set(printer) >= {
            "name",
            "serial",
            "model",
            "host",
            "port",
            "access_code",
            "ca_cert",
            "autoprintfarm_id",
            "printago_id",
        }
        assert printer["host"] == "127.0.0.1"
        assert printer["port"] > 0
        assert Path(printer["ca_cert"]).is_file()
    assert {p["model"] for p in data["printers"]} == {"X1C", "P1S", "A1"}


async def test_one_job_seen_on_every_face(http: aiohttp.ClientSession) -> None:
    """Test a REST job prints on MQTT, signs its webhooks and uses filament, seen everywhere."""
    received: list[tuple[dict[str, str], bytes]] = []
    got_completed = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((dict(request.headers), body))
        if json.loads(body)["type"] == "job.completed":
            got_completed.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async with running_farmsim(printers=3) as sim:
        base = sim.connection["autoprintfarm"]["base_url"]
        headers = apf_headers(sim)
        secret = "a-very-secret-webhook-key"
        async with http.post(
            f"{base}/webhooks",
            headers=headers,
            json={"url": f"http://127.0.0.1:{hook_port}/hook", "events": ["*"], "secret": secret},
        ) as resp:
            assert resp.status == 201

        p1s = next(p for p in sim.connection["printers"] if p["model"] == "P1S")
        reports = Reports(p1s)
        try:
            await reports.wait_for("gcode_state", lambda v: v == "IDLE")
            async with http.get(f"{base}/materials", headers=headers) as resp:
                before = {m["id"]: m["remaining_grams"] for m in (await resp.json())["data"]}
            async with http.post(
                f"{base}/jobs",
                headers={**headers, "Idempotency-Key": "lifecycle-1"},
                json={"file_url": QUICK, "printer_id": p1s["autoprintfarm_id"]},
            ) as resp:
                assert resp.status == 201
                job = (await resp.json())["data"]
            await reports.wait_for("gcode_state", lambda v: v == "PREPARE")
            assert reports.value("subtask_name") == "bracket"

            sim.world.clock.advance(450)
            await reports.wait_for("gcode_state", lambda v: v == "RUNNING")
            percent = await reports.wait_for("mc_percent", lambda v: v and v > 0)
            async with http.get(f"{base}/jobs/{job['id']}", headers=headers) as resp:
                assert (await resp.json())["data"]["status"] == "printing"

            async with http.get(
                f"{sim.connection['printago']['base_url']}/v1/print-jobs",
                headers=printago_headers(sim),
            ) as resp:
                seen = {j["id"]: j for j in await resp.json()}
            assert seen[sim.world.job(job["id"]).printago_id]["status"] == "printing"

            sim.world.clock.advance(700)
            await reports.wait_for("gcode_state", lambda v: v == "FINISH")
            assert reports.value("mc_percent") == 100
            assert percent < 100
            async with http.get(f"{base}/jobs/{job['id']}", headers=headers) as resp:
                done = (await resp.json())["data"]
            assert done["status"] == "completed"
            assert done["consumed_grams"] == pytest.approx(12, abs=0.01)
            async with http.get(f"{base}/materials", headers=headers) as resp:
                after = {m["id"]: m["remaining_grams"] for m in (await resp.json())["data"]}
            used = {mid: before[mid] - after[mid] for mid in before if before[mid] != after[mid]}
            assert len(used) == 1
            assert next(iter(used.values())) == pytest.approx(12, abs=0.01)

            async with asyncio.timeout(10):
                await got_completed.wait()
        finally:
            reports.close()
    await runner.cleanup()

    types = [json.loads(body)["type"] for _, body in received]
    for expected in ("job.created", "job.started", "job.completed"):
        assert expected in types
    for request_headers, body in received:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert request_headers["X-Webhook-Signature"] == f"sha256={digest}"
        assert request_headers["X-Webhook-Id"].startswith("evt_")
        assert request_headers["X-Webhook-Timestamp"].isdigit()


async def test_account_of_the_key(farmsim: FarmSim, http: aiohttp.ClientSession) -> None:
    """Test the key endpoint names a stable account, also after the key is rotated."""
    base = farmsim.connection["autoprintfarm"]["base_url"]
    async with http.get(f"{base}/api-keys/current", headers=apf_headers(farmsim)) as resp:
        first = (await resp.json())["data"]
    assert first["account"]["id"].startswith("acc_")
    assert first["rate_limit"] == 100
    assert "jobs:write" in first["scopes"]
    old = apf_headers(farmsim)
    async with http.post(f"{farmsim.admin_url}/keys/autoprintfarm/rotate") as resp:
        new_key = (await resp.json())["api_key"]
    async with http.get(f"{base}/api-keys/current", headers=old) as resp:
        assert resp.status == 401
    headers = {"Authorization": f"Bearer {new_key}"}
    async with http.get(f"{base}/api-keys/current", headers=headers) as resp:
        second = (await resp.json())["data"]
    assert second["account"] == first["account"]
    assert second["id"] != first["id"]

    printago = farmsim.connection["printago"]
    old_printago = printago_headers(farmsim)
    async with http.post(f"{farmsim.admin_url}/keys/printago/rotate") as resp:
        assert (await resp.json())["api_key"] != printago["api_key"]
    async with http.get(f"{printago['base_url']}/v1/printers", headers=old_printago) as resp:
        assert resp.status == 401
    async with http.post(f"{farmsim.admin_url}/keys/other/rotate") as resp:
        assert resp.status == 404


async def test_admin_state_clock_and_counters(
    farmsim: FarmSim, http: aiohttp.ClientSession
) -> None:
    """Test the admin API shows the world, moves time and counts requests."""
    admin = farmsim.admin_url
    async with http.get(f"{admin}/state") as resp:
        state = await resp.json()
    assert len(state["printers"]) == 3
    start = state["time"]
    async with http.post(f"{admin}/clock", json={"advance": 3600, "time_scale": 2}) as resp:
        clock = await resp.json()
    assert clock["time"] >= start + 3600
    assert clock["time_scale"] == 2
    base = farmsim.connection["autoprintfarm"]["base_url"]
    for _ in range(3):
        async with http.get(f"{base}/printers", headers=apf_headers(farmsim)) as resp:
            assert resp.status == 200
    # Every printer reports on the LAN and in Printago's feed, counted apart
    printers = set(farmsim.world.printers)
    await wait_until(lambda: set(farmsim.ctx.counters.mqtt_published) == printers)
    async with http.get(f"{admin}/counters") as resp:
        counters = await resp.json()
    assert sum(counters["requests"]["autoprintfarm"].values()) == 3
    assert farmsim.connection["autoprintfarm"]["api_key"] not in json.dumps(counters)
    assert set(counters["mqtt_published"]) == set(counters["printago_published"]) == printers
    async with http.post(f"{admin}/counters/reset") as resp:
        assert resp.status == 200
    async with http.get(f"{admin}/counters") as resp:
        assert (await resp.json())["requests"] == {}
    async with http.post(f"{admin}/clock", data="not json") as resp:
        assert resp.status == 400
    async with http.post(f"{admin}/clock", json=[1]) as resp:
        assert resp.status == 400


async def test_admin_faults_switch_at_run_time(
    farmsim: FarmSim, http: aiohttp.ClientSession
) -> None:
    """Test faults go on and off through the admin API and act on the services."""
    admin = farmsim.admin_url
    base = farmsim.connection["autoprintfarm"]["base_url"]
    async with http.patch(f"{admin}/faults/autoprintfarm", json={"error_next": 1}) as resp:
        assert (await resp.json())["autoprintfarm"]["error_next"] == 1
    async with http.get(f"{base}/printers", headers=apf_headers(farmsim)) as resp:
        assert resp.status == 503
    async with http.get(f"{base}/printers", headers=apf_headers(farmsim)) as resp:
        assert resp.status == 200
    async with http.patch(f"{admin}/faults/printago", json={"rate_limit_storm": True}) as resp:
        assert resp.status == 200
    printago = farmsim.connection["printago"]["base_url"]
    async with http.get(f"{printago}/v1/printers", headers=printago_headers(farmsim)) as resp:
        assert resp.status == 429
    async with http.patch(f"{admin}/faults/printago", json={"rate_limit_storm": 1}) as resp:
        assert resp.status == 400
    async with http.patch(f"{admin}/faults/mqtt", json={"nonsense": 1}) as resp:
        assert resp.status == 400
    async with http.patch(f"{admin}/faults/other", json={}) as resp:
        assert resp.status == 404
    async with http.patch(f"{admin}/faults/mqtt", json={"malformed_next": -1}) as resp:
        assert resp.status == 400
    async with http.post(f"{admin}/faults/reset") as resp:
        faults = await resp.json()
    assert faults["printago"]["rate_limit_storm"] is False
    async with http.get(f"{printago}/v1/printers", headers=printago_headers(farmsim)) as resp:
        assert resp.status == 200
    async with http.post(f"{admin}/rate-limits/reset") as resp:
        assert resp.status == 200


async def test_admin_printer_actions(farmsim: FarmSim, http: aiohttp.ClientSession) -> None:
    """Test the admin API changes printers and their brokers."""
    admin = farmsim.admin_url
    printer = farmsim.connection["printers"][1]
    url = f"{admin}/printers/{printer['autoprintfarm_id']}"
    async with http.post(f"{url}/online", json={"online": False}) as resp:
        assert (await resp.json())["status"] == "offline"
    async with http.post(f"{url}/online", json={"online": True}) as resp:
        assert (await resp.json())["status"] == "idle"
    async with http.post(f"{url}/silent", json={"silent": True}) as resp:
        assert (await resp.json())["silent"] is True
    async with http.post(f"{url}/hms", json={"attr": 0x03000100, "code": 0x00010007}) as resp:
        assert (await resp.json())["status"] == "error"
    async with http.post(f"{url}/clear_hms") as resp:
        assert (await resp.json())["status"] == "idle"
    async with http.post(f"{url}/maintenance", json={"maintenance": True}) as resp:
        assert (await resp.json())["status"] == "maintenance"
    async with http.post(f"{url}/maintenance", json={"maintenance": False}) as resp:
        assert resp.status == 200
    async with http.post(f"{url}/fail") as resp:
        assert resp.status == 409
    async with http.post(f"{url}/bed_clear", json={"ready": False}) as resp:
        assert (await resp.json())["status"] == "finished"
    async with http.post(f"{url}/explode") as resp:
        assert resp.status == 404
    async with http.post(f"{admin}/printers/prt_nope/online") as resp:
        assert resp.status == 404
    for action in ("stop", "start", "drop", "refuse", "accept"):
        async with http.post(f"{url}/broker", json={"action": action}) as resp:
            assert resp.status == 200, action
    async with http.post(f"{url}/broker", json={"action": "melt"}) as resp:
        assert resp.status == 400
    for action in ("drop", "refuse", "accept", "stop", "start"):
        async with http.post(f"{admin}/brokers", json={"action": action}) as resp:
            assert resp.status == 200, action
        body = {"action": action, "target": "printago"}
        async with http.post(f"{admin}/brokers", json=body) as resp:
            assert resp.status == 200, action
    async with http.post(f"{admin}/brokers", json={"action": "x", "target": "printago"}) as resp:
        assert resp.status == 400
    async with http.post(f"{admin}/faults/reset") as resp:
        assert resp.status == 200


async def test_printers_come_and_go(farmsim: FarmSim, http: aiohttp.ClientSession) -> None:
    """Test a printer added at run time gets an MQTT endpoint, and can be removed again."""
    admin = farmsim.admin_url
    async with http.post(f"{admin}/printers", json={"model": "x1c", "name": "New one"}) as resp:
        assert resp.status == 201
        added = await resp.json()
    assert added["model"] == "X1C"
    assert added["port"] > 0
    assert any(p["serial"] == added["serial"] for p in farmsim.connection["printers"])
    reports = Reports(added)
    try:
        assert await reports.wait_for("gcode_state", lambda v: v == "IDLE") == "IDLE"
    finally:
        reports.close()
    base = farmsim.connection["autoprintfarm"]["base_url"]
    async with http.get(f"{base}/printers", headers=apf_headers(farmsim)) as resp:
        assert len((await resp.json())["data"]) == 4
    async with http.delete(f"{admin}/printers/{added['autoprintfarm_id']}") as resp:
        assert (await resp.json())["removed"] is True
    assert all(p["serial"] != added["serial"] for p in farmsim.connection["printers"])
    async with http.post(f"{admin}/printers", json={"model": "Z9"}) as resp:
        assert resp.status == 400


def test_cli_parses_every_option() -> None:
    """Test the command line builds the matching configuration."""
    args = build_parser().parse_args(
        [
            "--printers",
            "7",
            "--time-scale",
            "60",
            "--rate-limit",
            "1000",
            "--printago-per-minute",
            "5",
            "--bambu-broker",
            "dedicated",
        ]
    )
    config = config_from_args(args)
    assert config.printers == 7
    assert config.time_scale == 60
    assert config.autoprintfarm_rate_limit == 1000
    assert config.printago_limits == ((5, 60.0), (600, 3600.0))
    assert config.bambu_broker == "dedicated"
    assert config_from_args(build_parser().parse_args([])).bambu_broker == "shared"
    former = build_parser().parse_args(["--bambu-broker", "mosquitto"])
    assert config_from_args(former).bambu_broker == "dedicated"


@pytest.mark.parametrize(("name", "layout"), [("embedded", "shared"), ("mosquitto", "dedicated")])
def test_broker_layouts_by_their_former_names(name: str, layout: str) -> None:
    """Test the former broker names give the layout they stood for; others are refused."""
    assert SimConfig(bambu_broker=name).bambu_broker == layout
    with pytest.raises(ValueError, match="bambu_broker"):
        SimConfig(bambu_broker="OMGSPIDERS")


async def test_cli_runs_until_sigterm(tmp_path: Path) -> None:
    """Test `python -m farmsim` logs one ready line, writes the file and stops on SIGTERM."""
    connection = tmp_path / "farmsim.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "farmsim",
        "--printers",
        "2",
        "--time-scale",
        "60",
        "--connection-file",
        str(connection),
        "--error-rate",
        "0.5",
        cwd=ROOT,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(30):
            line = b""
            while b"ready" not in line:
                line = await process.stderr.readline()
                assert line, "farmsim exited before it was ready"
        data = json.loads(connection.read_text())
        assert len(data["printers"]) == 2
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{data['admin_url']}/faults") as resp,
        ):
            assert (await resp.json())["autoprintfarm"]["error_rate"] == 0.5
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest = await process.stderr.read()
            code = await process.wait()
    assert code == 0, rest.decode()
    assert b"stopping" in rest
    assert not connection.exists()


async def test_cli_run_in_process(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Test the CLI's run loop serves until it gets SIGINT, then cleans up."""
    connection = tmp_path / "sim.json"
    args = build_parser().parse_args(
        ["--printers", "1", "--connection-file", str(connection), "--rate-limit-storm"]
    )
    task = asyncio.create_task(cli.run(args))
    async with asyncio.timeout(20):
        while not connection.exists():  # noqa: ASYNC110 - the file is the readiness signal
            await asyncio.sleep(0.05)
    assert "farmsim ready" in caplog.text
    os.kill(os.getpid(), signal.SIGINT)
    async with asyncio.timeout(20):
        await task
    assert not connection.exists()
    assert "farmsim stopping" in caplog.text


def test_cli_main_configures_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test main parses arguments and hands them to the run loop."""
    seen: list[argparse.Namespace] = []

    async def fake_run(args: argparse.Namespace) -> None:
        seen.append(args)

    def drive(coro: Coroutine[Any, Any, None]) -> None:
        with contextlib.suppress(StopIteration):
            coro.send(None)

    monkeypatch.setattr(cli, "run", fake_run)
    monkeypatch.setattr(cli.asyncio, "run", drive)
    cli.main(["--printers", "4", "--log-level", "debug"])
    assert seen[0].printers == 4
